"""Synthetic score reports and an applicant roster with known truth, for ``toefl-access match``.

>>> g = generate(reports=1_000, applicants=500, seed=14)
>>> fill_store("sqlite:////tmp/m.db", g.lines)             # doctest: +SKIP
>>> write_roster(Path("/tmp/roster.csv"), g.roster)        # doctest: +SKIP
>>> score(Path("/tmp/matches.csv"), g.truth)["precision"]  # doctest: +SKIP

Everything comes from one ``random.Random(seed)``: the same seed gives byte-identical lines
and roster on every run and machine (nothing depends on set order or ``hash()``).

**Test takers** come from 21 cultures (weighted roughly as TOEFL takers are) with names as
their passports write them: diacritics (Nguyễn, Satō, Müller, Yılmaz), multi-word given names
(María José, Sai Teja), Chinese and Korean given names built from syllables, Spanish and
Portuguese double surnames (García Márquez, da Silva Santos) and German double names
(Müller-Schmidt), about 10 % compound surnames in all; about 15 % have a middle name (a
Vietnamese Thị or Văn, a Russian patronymic, an Arab father's name, another given name).
Births spread over about 26 years (16 to 45 at the test). No two people (test takers or
not) share first name, last name and date of birth (compared without case and diacritics):
about 1 % of takers are made *near twins* of another (same names, born a year apart), and
ordinary namesakes (same names, other birthdates) come from the lists: with 100,000 reports
about 20 % of takers share first and last name with someone else (most among Vietnamese,
Polish, Pakistani names; least among Spanish double surnames and Korean given names).

**Reports**: each taker sits once, about 15 % twice (a retake: another registration number
and test date, the same person); about 10 % of sittings are sent to two institution or
department codes (two reports, one registration number and test date). Test dates run from
2024-01-01 to 2026-09-30, on the 0-120 scale before 2026-01-21 and the 1-6 one from then on.
Lines are the current layout (``scorelink-1600``) and validate without warnings.

**Roster**: about 80 % of rows are real takers (each at most once), the rest people who never
took the test (15 % of them namesakes of a taker: same first and last name, another birth
date and e-mail). Real takers' rows carry noise drawn independently (see :func:`_noisy`):
registration number for 70 % (2 % of those mistyped), case, dropped or German-style
transliterated diacritics, first/last swapped, typos, shortened or re-joined compound
surnames, initials, middle names dropped or moved into the first name, birthdates with
day/month swapped, a digit off or the year off by one, e-mail, country and ID number
present or not. :attr:`Generated.noise` names what was done to each row.

**Truth**: ``(applicant_id, registration_number, test_date)`` for every sitting of every
real taker in the roster.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from random import Random

from toefl_access.formats import layout as layouts
from toefl_access.formats.layout import Field
from toefl_access.formats.textformat import format_value
from toefl_access.mock.names import ASCII_FOLD, DEPARTMENTS, INSTITUTIONS, PROFILES
from toefl_access.mock.parts import SCORE_SETS, score_set

LAYOUT = layouts.CURRENT
ROSTER_COLUMNS = (
    "applicant_id", "first_name", "last_name", "middle_name", "date_of_birth", "email",
    "registration_number", "country", "id_number",
)  # fmt: skip
FIRST_TEST = dt.date(2024, 1, 1)
LAST_TEST = dt.date(2026, 9, 30)
IBT26_FROM = dt.date(2026, 1, 21)
#: The day ages are reckoned on when births are drawn.
AGE_ON = dt.date(2025, 5, 1)
MIN_AGE, MAX_AGE = 16, 45


# -- the cultures ---------------------------------------------------------------------------


def _split(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


Parts = tuple[tuple[str, ...], tuple[str, ...]]
NO_PARTS: Parts = ((), ())


@dataclass(frozen=True)
class Culture:
    """The test takers of one country: names as their passports write them.

    A name comes from the lists of common names (``last``, ``female``, ``male``) with
    probability ``common``, the first ones more often, else from a long tail made of two
    parts (``last_tail``, ``female_tail``, ``male_tail``: a prefix and a suffix, joined as
    Venkata + raman, Reza + pour, Ade + yemi, Han + sen; after a blank or hyphen the suffix
    keeps its capital). Chinese and Korean given names are two ``syllables`` (Korean ones
    hyphenated, or not, with ``hyphen_given``). ``compound`` is how a double surname is made
    (``space``: Spanish and Portuguese, ``hyphen``: German), ``compound_rate`` how often;
    ``middles`` the middle names (female, male; empty: another given name); ``feminine``
    derives a woman's surname from a man's (``slavic``, ``polish``, ``czech``).
    """

    code: str
    name: str
    language: tuple[str, str]
    weight: int
    last: tuple[str, ...]
    female: tuple[str, ...]
    male: tuple[str, ...]
    passport: str
    common: float = 0.6
    last_tail: Parts = NO_PARTS
    female_tail: Parts = NO_PARTS
    male_tail: Parts = NO_PARTS
    compound: str = ""
    compound_rate: float = 0.0
    middle_rate: float = 0.16
    middles: Parts = NO_PARTS
    syllables: tuple[str, ...] = ()
    hyphen_given: bool = False
    feminine: str = ""


def _parts(prefixes: str, suffixes: str) -> Parts:
    """Prefixes and suffixes; a prefix keeps the blank that ends it (``"María "``)."""
    return tuple(s.lstrip() for s in prefixes.split(",") if s.strip()), _split(suffixes)


_SPANISH_LAST = _split(
    "García, Hernández, Martínez, López, González, Pérez, Muñoz, Ramírez, Rodríguez, Sánchez,"
    "Fernández, Gómez, Díaz, Torres, Flores, Rivera, Morales, Jiménez, Ruiz, Vargas, Castillo,"
    "Romero, Álvarez, Mendoza, Gutiérrez, Ortiz, Chávez, Ramos, Núñez, Ibáñez, Herrera, Medina,"
    "Aguilar, Vázquez, Castro, Ortega, Delgado, Rojas, Navarro, Domínguez, Márquez, Peña, Cruz,"
    "Reyes, Molina, Suárez, Guerrero, Cortés, Salazar, Montoya, Cabrera, Campos, Vega, Fuentes,"
    "Carrasco, Caballero, Nieto, Pascual, Herrero, Montero, Lozano, Hidalgo, Giménez, Ibarra,"
    "Santana, Benítez, Acosta, Sandoval, Calderón, Espinoza, Valencia, Zapata, Arango, Cárdenas,"
    "Velásquez, Bermúdez, Quintero, Ospina, Londoño, Restrepo, Echeverría, Villanueva"
)
_SPANISH_FEMALE = _split(
    "María José, Sofía, Ximena, Valentina, Regina, Lucía, Inés, Nuria, Paula, Carmen, Camila,"
    "Daniela, Fernanda, Gabriela, Isabel, Mariana, Andrea, Natalia, Alejandra, Verónica,"
    "María Fernanda, Ana Sofía, Renata, Martina, Elena, Beatriz, Rocío, Pilar, Guadalupe,"
    "Luz María, Claudia, Adriana, Marisol, Lorena, Mónica, Patricia, Silvia, Teresa, Julia,"
    "Abril, Emilia, Jimena, Olga, Irene, Noelia, Aitana, Itziar, Mercedes, Yolanda, Raquel"
)
_SPANISH_MALE = _split(
    "José Luis, Diego, Andrés, Santiago, Emiliano, Álvaro, Íñigo, Sergio, Raúl, Joaquín,"
    "Juan Carlos, Miguel Ángel, Alejandro, Carlos, Javier, Fernando, Luis, Pablo, Jorge, Mateo,"
    "Sebastián, Nicolás, Tomás, Rodrigo, Óscar, Jesús, Francisco, Héctor, Iván, Rubén, Ignacio,"
    "Gonzalo, Marcos, Adrián, Hugo, Martín, Daniel, Manuel, Antonio, Ricardo, Eduardo, Enrique,"
    "Gerardo, Arturo, Ramón, Julián, Felipe, Esteban, Víctor, Agustín"
)
_SPANISH_FEMALE_TAIL = _parts(
    "María , Ana , Luz , Rosa , María , Ana ",
    "José, Fernanda, Guadalupe, Elena, Isabel, Sofía, Paula, Victoria, Carmen, Teresa,"
    "Alejandra, Camila, Lucía, Belén, Pilar, Cristina, Laura, Valeria, Eugenia, Inés",
)
_SPANISH_MALE_TAIL = _parts(
    "José , Juan , Luis , Miguel , Carlos , Jorge , Juan , José ",
    "Luis, Carlos, Manuel, Antonio, Pablo, Ángel, David, Andrés, Eduardo, Alberto, Francisco,"
    "Ignacio, Ramón, Esteban, Javier, Sebastián, Martín, Felipe, Diego, Tomás",
)
_ARAB_FEMALE = _split(
    "Nour, Fatma, Salma, Mariam, Habiba, Aya, Esraa, Yasmin, Rana, Heba, Dina, Mona, Reem, Sara,"
    "Nada, Amira, Asmaa, Doaa, Shahd, Malak, Jana, Lama, Hala, Ghada, Nourhan, Aisha, Layla,"
    "Hana, Rahma, Menna, Yara, Farah, Dalia, Noha, Samar, Hadeel, Ruba, Lina, Basma, Nesma"
)
_ARAB_MALE = _split(
    "Mohamed, Ahmed, Omar, Youssef, Karim, Mahmoud, Mostafa, Ali, Hassan, Hussein, Khaled, Tarek,"
    "Amr, Islam, Abdelrahman, Ibrahim, Ziad, Yassin, Hamza, Adham, Faisal, Saud, Abdullah,"
    "Fahad, Sultan, Marwan, Bilal, Sherif, Hesham, Walid, Sami, Nabil, Majed, Turki, Nawaf,"
    "Osama, Ayman, Hazem, Bassem, Hany"
)
_ARAB_MALE_TAIL = _parts(
    "Abdel, Abdul, Abdel, Mohamed , Ahmed ",
    "rahman, aziz, karim, hamid, latif, fattah, halim, majid, wahab, salam, moneim, hady",
)
_ARAB_NAMES = _split(
    "Rahman, Aziz, Hamid, Karim, Latif, Fattah, Ghani, Moneim, Wahab, Salam, Hady, Razek,"
    "Qader, Malek, Nasser, Halim, Gawad, Maksoud, Meguid, Rahim, Sayed, Masry, Din, Shazly,"
    "Banna, Gohary, Sherif, Naggar, Attar, Sharkawy, Badawy, Tantawy, Hakim, Menshawy, Harbi,"
    "Qahtani, Ghamdi, Zahrani, Otaibi, Dosari, Shehri, Mutairi, Amri, Anazi, Shammari, Subaie,"
    "Malki, Juhani, Rashid, Saud, Faisal, Hamad, Salem, Omari, Yami, Balawi, Sulami, Tamimi"
)
_PATRONYMIC_STEMS = _split(
    "Aleksandrov, Dmitriev, Sergeev, Andreev, Alekseev, Mikhailov, Ivanov, Vladimirov,"
    "Nikolaev, Petrov, Yurev, Viktorov, Olegov, Igorev, Pavlov, Evgenev, Anatolev, Borisov"
)
_YORUBA = _parts(
    "Ade, Olu, Oluwa, Ayo, Ola, Ife, Oye, Ogun, Ako, Bola, Tolu, Fola, Kola, Ade, Olu, Ayo, Omo",
    "yemi, bayo, seun, wale, tunde, dipo, kunle, mide, bukola, sola, dele, nike, lola, dun,"
    "tola, femi, toyin, kanmi, tosin, femi, ranti, jide, lade, gbenga",
)

CULTURES: tuple[Culture, ...] = (
    Culture(
        "CHN", "China", ("CHI", "Chinese"), 20,
        _split("Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Zhou, Xu, Sun, Ma, Zhu, Hu,"
               "Guo, He, Lin, Gao, Luo, Zheng, Liang, Xie, Song, Tang, Han, Feng, Deng, Cao,"
               "Peng, Zeng, Xiao, Tian, Dong, Pan, Yuan, Cai, Jiang, Yu, Lü, Du, Ye, Cheng, Wei,"
               "Su, Lu, Ding, Ren, Shen, Yao, Jin, Fu, Zhong, Fan, Qian, Kong, Bai, Cui, Mao, Qiu"),
        (), (), "E", common=1.0, middle_rate=0.04,
        syllables=_split(
            "An, Bo, Chen, Chun, Fang, Fei, Gang, Hao, Hong, Hui, Jia, Jian, Jie, Jin, Jing, Jun,"
            "Kai, Lan, Lei, Li, Lin, Ling, Mei, Min, Ming, Na, Ning, Peng, Qi, Qiang, Qing, Rui,"
            "Shan, Song, Tao, Tian, Ting, Wei, Wen, Xia, Xiang, Xiao, Xin, Xing, Xue, Yan, Yang,"
            "Yi, Ying, Yong, Yu, Yuan, Yue, Yun, Ze, Zhen, Zhi, Zhong, Zi, Lü, Nü, Bin, Chao,"
            "Dan, Di, Feng, Guang, Han, Heng, Hua, Huan, Jiao, Kang, Kun, Le, Liang, Lu, Meng,"
            "Miao, Nan, Pei, Ping, Qian, Ran, Rong, Ruo, Shu, Si, Tong, Wan, Xi, Xuan, Yao, Ye")),
    Culture(
        "IND", "India", ("HIN", "Hindi"), 15,
        _split("Patel, Sharma, Reddy, Iyer, Singh, Nair, Gupta, Rao, Krishnamurthy,"
               "Venkataraman, Chatterjee, Kumar, Das, Mehta, Shah, Joshi, Desai, Pillai, Menon,"
               "Kulkarni, Agarwal, Banerjee, Mukherjee, Bose, Ghosh, Verma, Mishra, Pandey,"
               "Tiwari, Yadav, Chauhan, Malhotra, Kapoor, Khanna, Bhat, Hegde, Naidu, Chowdhury,"
               "Saxena, Srinivasan, Subramanian, Ramachandran, Thakur, Jain, Goyal, Bansal,"
               "Sinha, Prasad, Dutta, Mohan, Arora, Bhatt, Dubey, Gill, Grewal, Kaur, Sethi,"
               "Trivedi, Dwivedi, Chaturvedi, Pathak, Shukla, Srivastava, Tripathi, Varma"),
        _split("Priya, Ananya, Lakshmi, Divya, Sneha, Kavya, Aishwarya, Pooja, Neha, Shreya,"
               "Deepika, Anjali, Meera, Swati, Nikita, Riya, Isha, Sanjana, Tanvi, Aditi, Bhavana,"
               "Harini, Keerthana, Madhuri, Nandini, Pallavi, Radhika, Shruti, Sowmya, Vaishnavi,"
               "Yamini, Sai Priya, Anusha, Gayatri, Jyothi, Kritika, Manasa, Niharika, Preethi,"
               "Ramya"),
        _split("Arjun, Rahul, Vikram, Siddharth, Karthik, Aditya, Sai Teja, Rohan, Amit, Ankit,"
               "Abhishek, Akash, Varun, Nikhil, Pranav, Harsha, Manish, Naveen, Rajesh, Suresh,"
               "Vivek, Gaurav, Kunal, Pradeep, Sandeep, Srinivas, Venkat, Yash, Dhruv, Ishaan,"
               "Krishna, Mohit, Ravi, Sachin, Tarun, Vishal, Ajay, Deepak, Hemant, Sai Kiran"),
        "K", common=0.45,
        last_tail=_parts(
            "Krishna, Venkata, Rama, Subra, Sri, Gopala, Nara, Siva, Bala, Chandra, Raghu,"
            "Sesha, Lakshmi, Hari, Padma, Surya, Vijaya, Ranga, Sundara, Jaya",
            "murthy, raman, swamy, krishnan, nathan, chari, subramanian, rao, reddy, iah, appa,"
            "sekar, prasad, moorthy, narayanan, samy, kumar, varma"),
        female_tail=_parts(
            "Priy, Anj, Kav, Div, Shre, Sne, Lak, Mee, Nand, Rad, Sw, Pall, Jyot, Anush, Harsh,"
            "Nik, Ish, Tan, Mad, Ram, Sar, Sang, Vai, Yash, Pur, Aksh, Bhav, Charu, Dharan, Ganga",
            "a, ika, ita, ini, ya, ali, eeta, ashree, anya, iya, avi, ima, ani, itha, ikha"),
        male_tail=_parts(
            "Raj, Ram, Hari, Shiv, Dev, Jay, Vijay, Ravi, Sur, Nar, Mahe, Dine, Pra, Har, Kam,"
            "Man, Nav, Pre, Sand, Sat, Sid, Vik, Yog, Gop, Kish, Muk, Ash, Anu, Bal, Chand",
            "esh, endra, an, ant, deep, jit, inder, eev, ish, al, av, kumar, nath, raj, ender")),
    Culture(
        "KOR", "Korea, Republic of", ("KOR", "Korean"), 7,
        _split("Kim, Lee, Park, Choi, Jung, Kang, Cho, Yoon, Jang, Lim, Han, Oh, Seo, Shin,"
               "Kwon, Hwang, Ahn, Song, Yoo, Hong, Jeon, Go, Moon, Yang, Son, Bae, Baek, Heo,"
               "Nam, Noh, Ha, Kwak, Sung, Cha, Joo, Woo, Gu, Min, Ryu, Na, Jin, Ji, Eom, Chae"),
        (), (), "M", common=1.0, hyphen_given=True, middle_rate=0.02,
        syllables=_split(
            "Min, Seo, Ji, Ha, Do, Su, Hye, Jun, Woo, Yeon, Eun, Hyun, Jin, Young, Sung, Ho,"
            "Jae, Soo, Kyung, Na, Ra, Yoon, Bin, Hee, Joon, Won, Chan, Tae, Gyu, Sang, Ye, Da,"
            "Ah, Bo, Chae, Dong, Gun, Han, Hoon, Hwan, In, Jeong, Ju, Kyu, Mi, Myung, Rin, Seok,"
            "Seung, Si, Sol, Sook, Sun, Woong, Yu, Yul, Hyuk, Geon, Beom, Il")),
    Culture(
        "JPN", "Japan", ("JPN", "Japanese"), 5,
        _split("Satō, Suzuki, Takahashi, Tanaka, Itō, Watanabe, Yamamoto, Nakamura, Kobayashi,"
               "Katō, Yoshida, Yamada, Sasaki, Yamaguchi, Matsumoto, Inoue, Kimura, Hayashi,"
               "Shimizu, Yamazaki, Mori, Abe, Ikeda, Hashimoto, Yamashita, Ishikawa, Nakajima,"
               "Maeda, Fujita, Ogawa, Gotō, Okada, Hasegawa, Murakami, Kondō, Ishii, Saitō,"
               "Sakamoto, Endō, Kōno"),
        _split("Yūko, Haruka, Aoi, Sakura, Misaki, Yui, Hina, Mio, Rin, Yuna, Akari, Nanami,"
               "Ayaka, Mai, Emi, Kaori, Megumi, Natsuki, Shiori, Chihiro, Kyōko, Yōko, Asuka,"
               "Momoka, Riko"),
        _split("Ryō, Shōta, Haruto, Kenji, Daiki, Sōta, Yūto, Hiroshi, Takumi, Kaito, Ren, Riku,"
               "Yamato, Kōki, Naoki, Takeshi, Yūsuke, Kazuki, Tatsuya, Shun, Kenta, Yūma, Hayato,"
               "Sho, Tomoya"),
        "T", common=0.45, middle_rate=0.02,
        last_tail=_parts(
            "Yama, Naka, Ta, Ki, Mori, Taka, Matsu, Ishi, Kawa, Fuji, Hira, Oka, Kita, Nishi,"
            "Higashi, Minami, Ō, Ko, Saka, Uchi, Haya, Kuro, Shira, Ao, Hoshi, Tsuchi, Kuma,"
            "Sugi, Ume, Hon",
            "moto, mura, da, ta, kawa, yama, hara, shima, saki, no, uchi, zawa, oka, bayashi,"
            "kubo, guchi, hashi, ishi, tani, naka"),
        female_tail=_parts(
            "Yu, Mi, Sa, Ha, A, Na, Ma, Ka, Chi, Ri, Ai, E, Hi, Ko, Mo, Shi, Yō, Mana",
            "ki, ko, ka, na, mi, ri, e, yo, saki, ho, ne, kari, ho, no"),
        male_tail=_parts(
            "Yū, Hiro, Kazu, Taka, Masa, Nao, Shin, Ken, Dai, Haru, Kō, Shō, Ryō, Yoshi, Toshi,"
            "Aki, Tomo, Tetsu",
            "ki, to, ya, ta, suke, hiro, shi, ma, o, rō, ichi, ji, hei, nori")),
    Culture(
        "VNM", "Viet Nam", ("VIE", "Vietnamese"), 6,
        _split("Nguyễn, Trần, Lê, Phạm, Hoàng, Huỳnh, Phan, Vũ, Võ, Đặng, Bùi, Đỗ, Hồ, Ngô,"
               "Dương, Lý, Đinh, Trương, Lâm, Mai, Tạ, Hà, Cao, Đoàn, Lương, Trịnh, Văn, Châu"),
        _split("Lan, Ngọc Ánh, Thảo, Hương, Phương Linh, Mai, Linh, Trang, Hà, Hạnh, Huyền, Ngân,"
               "Nhung, Quỳnh, Thu, Trinh, Vy, Yến, Ánh, Diệp, Giang, Hiền, Khánh Linh, Minh Anh,"
               "Bảo Ngọc, Thu Trang, Thanh Hằng, My, Nhi, Tâm"),
        _split("Minh, Đức, Quang Huy, Tuấn, Bảo, Anh, Dũng, Hải, Hiếu, Hùng, Khoa, Long, Nam,"
               "Phong, Phúc, Quân, Sơn, Thắng, Thành, Trung, Việt, Vinh, Khánh, Đạt, Hoàng Nam,"
               "Minh Khôi, Gia Huy, Tiến, Toàn, Cường"),
        "C", common=0.4, middle_rate=0.45,
        female_tail=_parts(
            "Ngọc , Thanh , Minh , Thu , Phương , Khánh , Bảo , Gia , Thùy , Kim , Xuân , Mỹ ,"
            "Diệu , Hồng , Lan , Quỳnh , Tú , Cẩm ",
            "Anh, Linh, Hương, Trang, Hà, Mai, Vy, Ngân, Tâm, Thảo, Hân, An, Châu, Nhi, Hằng,"
            "Hoa, Ly, Nga, Uyên, Yến"),
        male_tail=_parts(
            "Minh , Thanh , Quang , Đức , Gia , Hoàng , Hải , Tuấn , Bảo , Văn , Hữu , Công ,"
            "Trọng , Xuân , Anh , Duy , Thế , Đình ",
            "Anh, Huy, Nam, Long, Khôi, Phúc, Dũng, Sơn, Quân, Tú, Hiếu, Khang, Kiên, Lâm, Nhật,"
            "Phong, Tài, Thịnh, Trí, Vũ"),
        middles=(_split("Thị, Thị, Thị, Thị, Ngọc, Thanh, Minh, Xuân"),
                 _split("Văn, Văn, Văn, Văn, Đức, Minh, Hoàng, Thanh"))),
    Culture(
        "BRA", "Brazil", ("POR", "Portuguese"), 5,
        _split("Silva, Santos, Oliveira, Souza, Rodrigues, Ferreira, Alves, Pereira, Lima, Gomes,"
               "Costa, Ribeiro, Martins, Carvalho, Almeida, Lopes, Soares, Fernandes, Vieira,"
               "Barbosa, Rocha, Dias, Nascimento, Andrade, Moreira, Nunes, Marques, Machado,"
               "Mendes, Freitas, Cardoso, Ramos, Gonçalves, Araújo, Conceição, Magalhães,"
               "da Silva, dos Santos, de Souza, Brandão, Teixeira, Cavalcanti, Monteiro, Moura,"
               "Correia, Pinto, Campos, Castro, Azevedo, Batista, Sampaio, Guimarães, Coelho,"
               "Fonseca, Falcão, Siqueira, de Oliveira, da Costa, Peixoto, Bezerra"),
        _split("Ana Júlia, Letícia, Beatriz, Fernanda, Luíza, Maria Eduarda, Camila, Larissa,"
               "Mariana, Gabriela, Juliana, Bruna, Amanda, Isabela, Lívia, Natália, Vitória,"
               "Débora, Patrícia, Raquel, Tainá, Yasmin, Lúcia, Ana Clara, Júlia"),
        _split("João, Luís, Gabriel, Vinícius, Caio, João Pedro, Lucas, Mateus, Rafael, Gustavo,"
               "Felipe, Thiago, Bruno, Rodrigo, Leonardo, Eduardo, Marcelo, André, Fábio, Otávio,"
               "Henrique, Sérgio, Antônio, Cauã, Luiz Felipe"),
        "F", compound="space", compound_rate=0.6,
        female_tail=_parts(
            "Ana , Maria , Ana , Maria , Luíza , Isabela ",
            "Clara, Júlia, Luíza, Beatriz, Vitória, Eduarda, Fernanda, Cecília, Alice, Laura,"
            "Carolina, Letícia, Helena, Sofia, Gabriela"),
        male_tail=_parts(
            "João , Pedro , Luiz , José , Carlos , Paulo , Antônio , João ",
            "Pedro, Gabriel, Miguel, Henrique, Vitor, Lucas, Felipe, Guilherme, Eduardo,"
            "Augusto, Paulo, Ricardo, Marcos, Otávio, Rafael")),
    Culture("MEX", "Mexico", ("SPA", "Spanish"), 4, _SPANISH_LAST, _SPANISH_FEMALE,
            _SPANISH_MALE, "G", compound="space", compound_rate=0.7,
            female_tail=_SPANISH_FEMALE_TAIL, male_tail=_SPANISH_MALE_TAIL),
    Culture("COL", "Colombia", ("SPA", "Spanish"), 2, _SPANISH_LAST, _SPANISH_FEMALE,
            _SPANISH_MALE, "A", compound="space", compound_rate=0.7,
            female_tail=_SPANISH_FEMALE_TAIL, male_tail=_SPANISH_MALE_TAIL),
    Culture("ESP", "Spain", ("SPA", "Spanish"), 3, _SPANISH_LAST, _SPANISH_FEMALE,
            _SPANISH_MALE, "P", compound="space", compound_rate=0.7,
            female_tail=_SPANISH_FEMALE_TAIL, male_tail=_SPANISH_MALE_TAIL),
    Culture(
        "TUR", "Türkiye", ("TUR", "Turkish"), 4,
        _split("Yılmaz, Kaya, Demir, Şahin, Çelik, Öztürk, Aydın, Doğan, Arslan, Kılıç, Yıldız,"
               "Yıldırım, Özdemir, Aslan, Çetin, Kara, Koç, Kurt, Özkan, Şimşek, Polat, Korkmaz,"
               "Özer, Güneş, Erdoğan, Aktaş, Tekin, Bulut, Karaca, Keskin, Ünal, Güler, Uçar,"
               "Başaran, Avcı, Tunç, Çakır, Sarı, Coşkun, Gür"),
        _split("Elif, Zeynep, Gülşen, Ayşe, Büşra, Fatma, Merve, Esra, Özge, Tuğba, Şeyma, Ebru,"
               "Derya, Selin, İrem, Cansu, Dilek, Gizem, Nur, Sevgi, Ceren, Duygu, Hülya, Pınar,"
               "Yağmur, Aslı, Begüm, Damla, Ecem, Eylül, Gamze, Hande, Melike, Nazlı, Öykü,"
               "Sıla, Şule, Tuba, Ümran, Zehra"),
        _split("Mehmet, Emre, Çağrı, Oğuz, Barış, Mustafa, Ahmet, Ali, Hüseyin, Hasan, İbrahim,"
               "Murat, Burak, Serkan, Onur, Uğur, Yusuf, Kerem, Tolga, Gökhan, Emir, Berk, Eren,"
               "Furkan, Ömer, Alper, Batuhan, Cem, Doruk, Ege, Fatih, Halil, İlker, Kaan, Levent,"
               "Mert, Ozan, Selim, Taylan, Volkan"),
        "U", common=0.45,
        last_tail=_parts(
            "Ak, Kara, Öz, Er, Gül, Yıldız, Demir, Ay, Gök, Kaya, Tek, Uz, Şen, Bal, Can, Taş,"
            "Al, Kılıç, Ata, Bay, Çak, Dur, Ekin, Gür, Kor",
            "türk, kaya, taş, han, oğlu, soy, can, er, demir, dağ, el, gün, bay, ay, kan, ok,"
            "tekin, yurt, ses, men")),
    Culture(
        "DEU", "Germany", ("GER", "German"), 3,
        _split("Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz,"
               "Hoffmann, Schäfer, Koch, Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz,"
               "Zimmermann, Braun, Krüger, Hofmann, Hartmann, Lange, Schmitt, Werner, Krause,"
               "Meier, Lehmann, Schmid, Schulze, Maier, Köhler, Herrmann, König, Walter, Groß,"
               "Weiß, Bäcker, Jäger, Fuchs, Möller, Günther"),
        _split("Anna, Lena, Käthe, Sophie, Jana, Lea, Hannah, Leonie, Johanna, Charlotte, Marie,"
               "Julia, Laura, Katharina, Franziska, Mia, Emilia, Clara, Greta, Lisa, Sarah,"
               "Annika, Jasmin, Theresa, Jördis, Antje, Birgit, Carolin, Dörte, Frauke, Gesine,"
               "Heike, Ines, Jutta, Karin, Lotte, Maren, Nele, Svenja, Ute"),
        _split("Jörg, Lukas, Maximilian, Björn, Jürgen, Jonas, Leon, Felix, Paul, Tim, Niklas,"
               "Moritz, Tobias, Florian, Sebastian, Stefan, Matthias, Dominik, Fabian, Jan,"
               "Philipp, Sören, Hans-Peter, Karl-Heinz, Uwe, Andreas, Bernd, Christoph, Dirk,"
               "Frank, Gerd, Holger, Jens, Klaus, Lars, Malte, Nils, Ole, Rüdiger, Torsten"),
        "C", compound="hyphen", compound_rate=0.1,
        last_tail=_parts(
            "Schön, Wein, Berg, Rosen, Lin, Eich, Stein, Holz, Grün, Mühl, Hoch, Bach, Brand,"
            "Feld, Kirch, Neu, Alt, Wald, Sonnen, Lichten, Engel, Hahn, Kling, Lieb, Linden",
            "berg, mann, er, hofer, feld, bach, stein, wald, meier, huber, thal, müller, haus,"
            "inger, brunner, hammer, bauer, kamp")),
    Culture(
        "RUS", "Russian Federation", ("RUS", "Russian"), 3,
        _split("Ivanov, Smirnov, Kuznetsov, Popov, Vasiliev, Petrov, Sokolov, Mikhailov,"
               "Novikov, Fedorov, Morozov, Volkov, Alekseev, Lebedev, Semenov, Egorov, Pavlov,"
               "Kozlov, Stepanov, Nikolaev, Orlov, Andreev, Makarov, Nikitin, Zakharov, Zaitsev,"
               "Soloviev, Borisov, Yakovlev, Grigoriev, Romanov, Vorobiev, Sergeev, Kuzmin,"
               "Frolov, Alexandrov, Dmitriev, Korolev, Gusev, Kiselev, Ilyin, Maksimov, Polyakov,"
               "Sorokin, Vinogradov, Kovalev, Belov, Medvedev, Antonov, Tarasov"),
        _split("Anastasia, Maria, Daria, Anna, Elizaveta, Polina, Ekaterina, Sofia, Alexandra,"
               "Victoria, Ksenia, Arina, Valeria, Yulia, Olga, Natalia, Tatiana, Irina, Svetlana,"
               "Elena, Alina, Kristina, Veronika, Yana, Ulyana, Margarita, Vera, Lyudmila, Galina,"
               "Nadezhda, Oksana, Larisa, Zhanna, Milana, Diana"),
        _split("Alexander, Dmitry, Maxim, Sergey, Andrey, Alexey, Artem, Ilya, Kirill, Mikhail,"
               "Nikita, Matvey, Roman, Egor, Arseny, Ivan, Denis, Evgeny, Daniil, Timofey,"
               "Vladislav, Igor, Vladimir, Pavel, Ruslan, Anton, Boris, Gleb, Konstantin, Leonid,"
               "Oleg, Stanislav, Vadim, Vitaly, Yaroslav"),
        "7", middle_rate=0.4,
        last_tail=_parts(
            "Bel, Cher, Zhuk, Grom, Lis, Kras, Bog, Dub, Kur, Mel, Rus, Tikh, Zhdan, Kalin,"
            "Malin, Lap, Baran, Kotel, Gorb, Shub, Ryb, Golub, Vetr, Syr, Bobr, Zver, Kamen,"
            "Lesn, Polev, Sad",
            "ov, ev, in, sky, enko, ikov, ovich, ets"),
        middles=(tuple(s + "na" for s in _PATRONYMIC_STEMS),
                 tuple(s + "ich" for s in _PATRONYMIC_STEMS)),
        feminine="slavic"),
    Culture(
        "EGY", "Egypt", ("ARA", "Arabic"), 3,
        _split("Hassan, Abdel-Rahman, El-Sayed, Mahmoud, Ibrahim, Mostafa, Ali, Mohamed, Ahmed,"
               "Abdallah, Salem, Saleh, Khalil, Youssef, Farouk, Nasser, Soliman, Hamdy, Fathy,"
               "Ramadan, Abdel-Aziz, Abdel-Hamid, El-Masry, El-Din, Gamal, Ismail, Osman,"
               "Hussein, Mansour, Haddad"),
        _ARAB_FEMALE, _ARAB_MALE, "A", middle_rate=0.3, common=0.5, male_tail=_ARAB_MALE_TAIL,
        last_tail=(_split("Abdel-, El-, Abdel-, El-, Abu "), _ARAB_NAMES),
        middles=(_ARAB_MALE, _ARAB_MALE)),
    Culture(
        "SAU", "Saudi Arabia", ("ARA", "Arabic"), 2,
        _split("Al-Harbi, Al-Qahtani, Al-Ghamdi, Al-Zahrani, Al-Otaibi, Al-Dosari, Al-Shehri,"
               "Al-Mutairi, Al-Amri, Al-Anazi, Al-Shammari, Al-Subaie, Al-Malki, Al-Juhani,"
               "Al-Rashid, Bakr, Al-Saud, Al-Faisal, Al-Hamad, Al-Salem"),
        _ARAB_FEMALE, _ARAB_MALE, "S", middle_rate=0.3, common=0.5, male_tail=_ARAB_MALE_TAIL,
        last_tail=(_split("Al-, Al-, Al-, Bin , Abu "), _ARAB_NAMES),
        middles=(_ARAB_MALE, _ARAB_MALE)),
    Culture(
        "POL", "Poland", ("POL", "Polish"), 2,
        _split("Nowak, Wójcik, Kamiński, Lewandowski, Zieliński, Woźniak, Kowalczyk, Kowalski,"
               "Wiśniewski, Dąbrowski, Szymański, Kozłowski, Jankowski, Mazur, Kwiatkowski,"
               "Krawczyk, Piotrowski, Grabowski, Nowakowski, Pawłowski, Michalski, Król,"
               "Wieczorek, Jabłoński, Wróbel, Majewski, Olszewski, Stępień, Jaworski,"
               "Malinowski, Adamczyk, Dudek, Zając, Wilk, Sikora, Baran, Duda, Lis, Mazurek,"
               "Kubiak"),
        _split("Małgorzata, Agnieszka, Zofia, Katarzyna, Joanna, Anna, Magdalena, Aleksandra,"
               "Natalia, Weronika, Julia, Marta, Ewa, Barbara, Dominika, Paulina, Karolina,"
               "Justyna, Monika, Iwona, Beata, Dorota, Elżbieta, Grażyna, Halina, Jadwiga, Kinga,"
               "Łucja, Oliwia, Urszula"),
        _split("Łukasz, Paweł, Michał, Wojciech, Jakub, Piotr, Krzysztof, Tomasz, Marcin,"
               "Mateusz, Kacper, Szymon, Bartłomiej, Grzegorz, Adam, Jan, Filip, Dawid, Maciej,"
               "Przemysław, Andrzej, Stanisław, Zbigniew, Jerzy, Ryszard, Kamil, Artur, Damian,"
               "Sebastian, Hubert"),
        "E", feminine="polish", common=0.4,
        last_tail=_parts(
            "Wiśniews, Lewandows, Kamińs, Zielińs, Szymańs, Dąbrows, Kozłows, Jankows,"
            "Kwiatkows, Piotrows, Grabows, Pawłows, Wróblews, Jabłońs, Majews, Olszews,"
            "Malinows, Rutkows, Sadows, Wasilews, Kalinows, Sobczyńs, Borkows, Górs, Zawadz,"
            "Brzezińs, Czarnows, Lipińs, Sawic, Wysoc", "ki")),
    Culture(
        "FRA", "France", ("FRE", "French"), 3,
        _split("Martin, Bernard, Lefèvre, Dubois, Moreau, Girard, Fontaine, Thomas, Petit,"
               "Robert, Richard, Durand, Leroy, Simon, Laurent, Michel, David, Bertrand, Roux,"
               "Vincent, Fournier, Morel, Mercier, Dupont, Lambert, Bonnet, François, Legrand,"
               "Garnier, Faure, Rousseau, Blanc, Guérin, Hénault, Chevalier, Gauthier, Perrin,"
               "Clément, Gaillard, Barbier, Arnaud, Brunet, Lemaire, Renaud, Picard, Roche,"
               "Marchand, Lacroix, Benoît, Rivière, Ménard, Lécuyer, Lemoine, Boucher, Carré"),
        _split("Hélène, Chloé, Léa, Amélie, Maëlle, Camille, Manon, Inès, Jade, Louise, Emma, Zoé,"
               "Clémence, Margaux, Océane, Mathilde, Élodie, Aurélie, Céline, Anaïs,"
               "Marie-Claire, Anne-Sophie, Agathe, Bérénice, Capucine, Delphine, Éloïse, Flore,"
               "Gaëlle, Juliette, Laure, Mélanie, Nathalie, Pauline, Solène, Victoire"),
        _split("François, Jérôme, Théo, Noël, Gaëtan, Louis, Hugo, Lucas, Mathis, Nathan,"
               "Clément, Baptiste, Antoine, Julien, Maxime, Romain, Guillaume, Benoît,"
               "Jean-Pierre, Jean-Baptiste, Rémi, Loïc, Étienne, Adrien, Bastien, Cédric,"
               "Damien, Florian, Grégoire, Hervé, Jérémy, Léo, Matthieu, Olivier, Quentin,"
               "Sébastien, Thibault, Valentin, Yann, Xavier"),
        "1", common=0.7,
        last_tail=_parts(
            "Beau, Bon, Bel, Mont, Ro, Du, Le, Fon, Gar, Mar, Ber, Cha, Che, La, Ri, Ville,"
            "Dela, Bois, Lam, Four",
            "champ, court, mont, lieu, ville, rand, nier, det, vin, geot, quet, taine, reau,"
            "lard, bert, cher"),
        female_tail=_parts("Marie-, Anne-, Marie-, Anne-",
                           "Claire, Sophie, Laure, Hélène, Christine, Lise, Charlotte, Cécile"),
        male_tail=_parts("Jean-, Pierre-, Jean-, Paul-",
                         "Pierre, Baptiste, Louis, Marc, Luc, Michel, Yves, François")),
    Culture(
        "NGA", "Nigeria", ("YOR", "Yoruba"), 5,
        _split("Adeyemi, Okafor, Balogun, Eze, Nwosu, Adebayo, Olawale, Okonkwo, Obi, Okeke,"
               "Chukwu, Nwachukwu, Adeleke, Ogunleye, Afolabi, Akinola, Bello, Ibrahim, Musa,"
               "Abubakar, Usman, Yusuf, Oyelaran, Ogundipe, Onyekachi, Anyanwu, Ezeh, Nnamdi,"
               "Akande, Oladipo, Babatunde, Ojo, Ige, Okoro, Uche"),
        _split("Chiamaka, Ngozi, Adaeze, Funmilayo, Temitope, Oluwaseyi, Aisha, Blessing, Chioma,"
               "Ifeoma, Nneka, Yetunde, Folake, Bukola, Amarachi, Kemi, Zainab, Precious, Favour,"
               "Damilola, Ebere, Ijeoma, Kehinde, Mercy, Ngozika, Obiageli, Sade, Taiwo, Uju,"
               "Yewande"),
        _split("Chinedu, Oluwaseun, Emeka, Tunde, Ifeanyi, Chukwuemeka, Obinna, Olumide, Ayodele,"
               "Kelechi, Segun, Femi, Babajide, Uchenna, Abdullahi, Ibrahim, Musa, Tobi, Daniel,"
               "Samuel, Chidi, Ebuka, Gbenga, Ikenna, Kunle, Nnamdi, Onyeka, Rotimi, Tochukwu,"
               "Yakubu"),
        "A", common=0.5, last_tail=_YORUBA, female_tail=_YORUBA, male_tail=_YORUBA),
    Culture(
        "NOR", "Norway", ("NOR", "Norwegian"), 1,
        _split("Hansen, Johansen, Olsen, Larsen, Andersen, Pedersen, Nilsen, Kristiansen, Jensen,"
               "Karlsen, Bjørnstad, Sæther, Ødegård, Løvås, Haugen, Berg, Dahl, Lie, Solberg,"
               "Strand"),
        _split("Åse, Ingrid, Solveig, Sigrid, Nora, Emma, Sofie, Ingeborg, Marte, Kari, Astrid,"
               "Guro, Hedda, Ida, Kjersti, Liv, Maja, Ragnhild, Silje, Tone"),
        _split("Øyvind, Håkon, Lars, Ståle, Ole, Jakob, Magnus, Henrik, Sindre, Bjørn, Anders,"
               "Eirik, Espen, Geir, Jørgen, Kjetil, Torbjørn, Trond, Vegard, Åsmund"),
        "F",
        female_tail=_parts("Anne , Marie , Kari , Inger ",
                           "Marie, Lise, Kristin, Helene, Berit, Sofie, Elisabeth, Karin"),
        male_tail=_parts("Ole , Jon , Per , Nils , Hans ",
                         "Martin, Erik, Kristian, Petter, Andreas, Henrik, Olav, Johan"),
        last_tail=_parts(
            "Hans, Johan, Ol, Lar, Ander, Peder, Nil, Kristian, Jen, Karl, Eri, Jakob, Gunnar,"
            "Halvor, Knut, Sven, Tor, Ivar, Arne, Petter", "sen")),
    Culture(
        "CZE", "Czechia", ("CZE", "Czech"), 2,
        _split("Dvořák, Novák, Svoboda, Černý, Procházka, Kučera, Růžička, Veselý, Horák, Němec,"
               "Pokorný, Marek, Pospíšil, Hájek, Jelínek, Král, Beneš, Fiala, Sedláček, Doležal,"
               "Zeman, Kolář, Navrátil, Čermák, Urban, Vaněk, Blažek, Kříž, Kovář, Bartoš,"
               "Vlček, Polák, Musil, Kopecký, Šimek, Konečný, Malý, Holub, Štěpánek, Kadlec"),
        _split("Tereza, Kateřina, Lucie, Zuzana, Eliška, Anna, Adéla, Karolína, Barbora, Markéta,"
               "Veronika, Michaela, Klára, Petra, Simona, Alena, Božena, Dagmar, Hana, Ivana,"
               "Jana, Lenka, Marie, Radka, Šárka"),
        _split("Jiří, Tomáš, Ondřej, Vojtěch, Jan, Petr, Jakub, Lukáš, Martin, Filip, Matěj,"
               "David, Adam, Vít, Radek, Aleš, Bohumil, Dušan, František, Josef, Karel, Libor,"
               "Miroslav, Pavel, Zdeněk"),
        "4", feminine="czech", common=0.6,
        last_tail=_parts(
            "Hor, Nov, Sed, Kop, Vod, Zahrad, Kos, Mlyn, Pol, Dvor, Hruš, Kováč, Bart, Vojt, Pet,"
            "Mar, Staň, Jir, Tom, Krejč",
            "ák, áček, íček, ec, ník, ský, ka, ek, ovský, ička")),
    Culture(
        "IRN", "Iran, Islamic Republic of", ("PER", "Persian"), 2,
        _split("Mohammadi, Hosseini, Ahmadi, Rezaei, Moradi, Karimi, Jafari, Rahimi, Hashemi,"
               "Mousavi, Kazemi, Ghorbani, Sadeghi, Heidari, Abbasi, Alavi, Asadi, Bagheri,"
               "Ebrahimi, Farahani, Ghasemi, Jalali, Mahmoudi, Najafi, Rostami, Salehi, Shirazi,"
               "Tehrani, Yazdani, Zamani"),
        _split("Fatemeh, Zahra, Maryam, Sara, Narges, Mahsa, Negar, Parisa, Shirin, Leila,"
               "Nazanin, Ladan, Mina, Samira, Yasaman, Golnaz, Azadeh, Roya, Niloufar, Setareh,"
               "Arezoo, Bahar, Elham, Farnaz, Haleh, Mahnaz, Nasrin, Pegah, Sepideh, Taraneh"),
        _split("Mohammad, Ali, Reza, Hossein, Amir, Mehdi, Hamid, Saeed, Mohsen, Arash, Babak,"
               "Dariush, Farhad, Kamran, Majid, Navid, Omid, Pouya, Sina, Amirhossein, Behnam,"
               "Ehsan, Hamed, Kaveh, Masoud, Peyman, Ramin, Shahram, Vahid, Yousef"),
        "Z",
        last_tail=_parts(
            "Ahmad, Hossein, Reza, Karim, Mohammad, Ali, Hassan, Ghasem, Jafar, Akbar, Mahmoud,"
            "Nasser, Abbas, Javad, Kazem, Taghi, Naghi, Rahim, Amir, Heidar",
            "i, zadeh, pour, nejad, far, vand, khani, lou, abadi")),
    Culture(
        "PAK", "Pakistan", ("URD", "Urdu"), 3,
        _split("Khan, Ahmed, Ali, Hussain, Malik, Sheikh, Qureshi, Siddiqui, Butt, Chaudhry,"
               "Raza, Iqbal, Akhtar, Mirza, Shah, Javed, Anwar, Aslam, Baig, Bhatti, Farooq,"
               "Hashmi, Jamil, Kazmi, Mahmood, Nawaz, Rashid, Riaz, Saeed, Zafar, Abbasi, Awan,"
               "Cheema, Gondal, Janjua, Khokhar, Niazi, Rana, Sadiq, Tariq, Afridi, Bajwa,"
               "Durrani, Ghauri, Hayat, Jatoi, Kiani, Lodhi, Memon, Mughal, Paracha, Qazi,"
               "Rajput, Sandhu, Soomro, Tarar, Usmani, Warraich, Yousafzai, Zaidi"),
        _split("Ayesha, Fatima, Hira, Iqra, Maham, Sana, Zainab, Amna, Mehwish, Sadia, Rabia,"
               "Kiran, Saba, Nimra, Aiman, Areeba, Hafsa, Mariam, Noor, Anum, Bushra, Farah,"
               "Huma, Javeria, Laiba, Mahnoor, Nida, Rida, Sidra, Uzma"),
        _split("Muhammad, Ahmed, Ali, Hamza, Usman, Bilal, Hassan, Umar, Abdullah, Zain, Faisal,"
               "Imran, Kashif, Saad, Talha, Waqas, Asad, Danish, Fahad, Haris"),
        "P",
        female_tail=_parts(
            "Syeda , Noor , Ume , Syeda , Bibi ",
            "Fatima, Habiba, Zainab, Ayesha, Kulsoom, Rubab, Amna, Sakina, Hira, Laila"),
        male_tail=_parts(
            "Muhammad , Syed , Abdul , Muhammad ",
            "Ali, Usman, Bilal, Hamza, Umar, Imran, Asad, Haris, Zubair, Tariq, Rehman, Qadir,"
            "Wahab, Basit, Hameed, Rauf, Saleem, Shahid, Adnan, Arslan")),
)  # fmt: skip

_CULTURE_CUM: list[int] = []
for _c in CULTURES:
    _CULTURE_CUM.append((_CULTURE_CUM[-1] if _CULTURE_CUM else 0) + _c.weight)

#: Cities and streets of the cultures that the mock's profiles do not have.
_EXTRA_PLACES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "COL": (("Bogotá", "Medellín", "Cali", "Barranquilla"), ("Carrera 7", "Calle 26"), "######"),
    "RUS": (("Moskva", "Sankt-Peterburg", "Kazan", "Novosibirsk"),
            ("ul. Lenina", "Nevsky prospekt", "ul. Pushkina"), "######"),
    "SAU": (("Riyadh", "Jeddah", "Dammam", "Mecca"), ("King Fahd Road", "Olaya Street"),
            "#####"),
    "IRN": (("Tehran", "Isfahan", "Shiraz", "Mashhad"), ("Valiasr Street", "Enghelab Street"),
            "##########"),
    "PAK": (("Lahore", "Karachi", "Islamabad", "Faisalabad"), ("Mall Road", "Jinnah Avenue"),
            "#####"),
}  # fmt: skip
_PROFILE_OF = {p.country_code: p for p in PROFILES}
_EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "student.example.edu",
)
_OTHER_DOMAINS = ("example.org", "inbox.example.net", "example.edu")
_PLACES = tuple((i, d) for i, _ in INSTITUTIONS for d, _ in DEPARTMENTS)
_PLACE_CUM: list[int] = []
for _i, _wi in INSTITUTIONS:
    for _d, _wd in DEPARTMENTS:
        _PLACE_CUM.append((_PLACE_CUM[-1] if _PLACE_CUM else 0) + _wi * _wd)


# -- text helpers ---------------------------------------------------------------------------

_GERMAN = str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "Ü": "Ue", "Ö": "Oe", "Ä": "Ae",
                         "ß": "ss"})  # fmt: skip
_UMLAUTS = frozenset("üöäÜÖÄß")


@cache
def fold(text: str) -> str:
    """``text`` without diacritics (Nguyễn -> Nguyen, Łukasz -> Lukasz, Groß -> Gross)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def german(text: str) -> str:
    """German-style transliteration: ü -> ue, ö -> oe, ä -> ae, ß -> ss, the rest folded."""
    return fold(text.translate(_GERMAN))


@cache
def name_key(text: str) -> str:
    """A name compared without case, diacritics, blanks or hyphens."""
    return "".join(c for c in fold(text).casefold() if c.isalnum())


def _fits(text: str, size: int = 30) -> bool:
    return len(text.encode("utf-8")) <= size


def _feminine(last: str, how: str) -> str:
    """A woman's form of a surname (Ivanov -> Ivanova, Kowalski -> Kowalska, Novák ->
    Nováková); ``how`` is the culture's rule."""
    if how == "slavic" and last.endswith(("ov", "ev", "in")):
        return last + "a"
    if how == "slavic" and last.endswith("sky"):
        return last[:-1] + "aya"
    if how == "polish" and last.endswith("ki"):
        return last[:-1] + "a"
    if how == "czech":
        if last.endswith("ý"):
            return last[:-1] + "á"
        if last.endswith("ek"):
            return last[:-2] + "ková"
        if last.endswith("a"):
            return last[:-1] + "ová"
        return last + "ová"
    return last


# -- people ---------------------------------------------------------------------------------


@dataclass
class Person:
    """One person as the reports write them (``last_parts`` holds a compound's parts)."""

    culture: Culture
    female: bool
    first: str
    last: str
    last_parts: tuple[str, ...]
    middle: str
    born: dt.date
    email: str
    id_number: str
    city: str
    street: str
    postal: str
    centre: str
    ibt_centre: str
    labels: list[str] = field(default_factory=list)


@dataclass
class Sitting:
    registration: str
    test_date: dt.date
    places: list[tuple[str, str]]


class _People:
    """Draws people; no two share (first, last, date of birth) compared by :func:`name_key`."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.seen: dict[tuple[str, str, dt.date], int] = {}
        self.emails: dict[str, int] = {}
        self.ids: dict[str, int] = {}
        self.names: Counter[tuple[str, str]] = Counter()

    def skewed(self, pool: Sequence[str], power: float = 1.5) -> str:
        """One of ``pool``, the first ones more often (family names are not uniform)."""
        return pool[int(len(pool) * self.rng.random() ** power)]

    def name(self, c: Culture, common: Sequence[str], tail: Parts, power: float) -> str:
        """A common name (the first ones more often) or, if ``tail``, one of the long tail."""
        prefixes, suffixes = tail
        if prefixes and self.rng.random() >= c.common:
            a, b = self.rng.choice(prefixes), self.rng.choice(suffixes)
            return a + b if a.endswith((" ", "-")) else a + b.lower()
        return self.skewed(common, power)

    def given(self, c: Culture, female: bool) -> str:
        rng = self.rng
        if c.syllables:
            a = self.skewed(c.syllables, 1.2)
            if c.hyphen_given or rng.random() < 0.8:
                b = rng.choice(c.syllables)
                if c.hyphen_given:
                    return f"{a}-{b.lower()}" if rng.random() < 0.6 else a + b.lower()
                return a + b.lower()
            return a
        if female:
            return self.name(c, c.female, c.female_tail, 1.15)
        return self.name(c, c.male, c.male_tail, 1.15)

    def surname(self, c: Culture, female: bool) -> tuple[str, tuple[str, ...]]:
        rng = self.rng
        one = self.name(c, c.last, c.last_tail, 1.3)
        if c.compound and rng.random() < c.compound_rate:
            for _ in range(10):
                two = self.name(c, c.last, c.last_tail, 1.2)
                if name_key(two) == name_key(one) or two[0].islower():
                    continue
                joined = f"{one} {two}" if c.compound == "space" else f"{one}-{two}"
                if _fits(joined):
                    return joined, (one, two)
        last = _feminine(one, c.feminine) if female else one
        return last, (last,)

    def birth(self) -> dt.date:
        age = self.rng.triangular(MIN_AGE + 1.5, MAX_AGE - 1.5, 23.0)
        born = AGE_ON - dt.timedelta(days=int(age * 365.25))
        return born

    def unique_birth(self, first: str, last: str, want: dt.date | None = None) -> dt.date:
        key = (name_key(first), name_key(last))
        born = want or self.birth()
        while (*key, born) in self.seen:
            born = self.birth()
        return born

    def email(self, first: str, last: str, born: dt.date) -> str:
        rng = self.rng
        a, b = name_key(first.split()[0]), name_key(last.split()[-1])
        while True:
            style = rng.random()
            if style < 0.5:
                handle = f"{a}.{b}{rng.randint(1, 999)}"
            elif style < 0.75:
                handle = f"{a[:1]}{b}{born.year % 100:02d}{rng.randint(0, 99)}"
            else:
                handle = f"{b}.{a}{rng.randint(1, 9999)}"
            address = f"{handle}@{rng.choice(_EMAIL_DOMAINS)}"
            if address not in self.emails and len(address) <= 75:
                self.emails[address] = 1
                return address

    def id_number(self, c: Culture) -> str:
        while True:
            number = f"{c.passport}{self.rng.randrange(10**8):08d}"
            if number not in self.ids:
                self.ids[number] = 1
                return number

    def new(self, *, like: Person | None = None, born: dt.date | None = None) -> Person:
        """A new person; ``like`` copies another's culture, sex and names (a namesake)."""
        rng = self.rng
        if like is not None:
            c, female = like.culture, like.female
            first, last, parts = like.first, like.last, like.last_parts
            middle = like.middle if rng.random() < 0.5 else ""
        else:
            at = rng.random() * _CULTURE_CUM[-1]
            c = CULTURES[next(i for i, cum in enumerate(_CULTURE_CUM) if at < cum)]
            female = rng.random() < 0.5
            first = self.given(c, female)
            last, parts = self.surname(c, female)
            middle = ""
            if rng.random() < c.middle_rate:
                pool = c.middles[0 if female else 1]
                for _ in range(5):
                    middle = rng.choice(pool) if pool else self.given(c, female)
                    same = name_key(middle.split()[0]) == name_key(first.split()[0])
                    if not same and _fits(middle):
                        break
                else:
                    middle = ""
        born = self.unique_birth(first, last, born)
        self.seen[(name_key(first), name_key(last), born)] = 1
        self.names[(name_key(first), name_key(last))] += 1
        profile = _PROFILE_OF.get(c.code)
        if profile is not None:
            city = rng.choice(profile.cities)[0]
            street, postal = rng.choice(profile.streets), profile.postal
        else:
            cities, streets, postal = _EXTRA_PLACES[c.code]
            city, street = rng.choice(cities), rng.choice(streets)
        home = rng.random() < 0.25
        code = rng.randint(10_000, 99_999)
        return Person(
            culture=c, female=female, first=first, last=last, last_parts=parts, middle=middle,
            born=born, email=self.email(first, last, born), id_number=self.id_number(c),
            city=city, street=f"{street} {rng.randint(1, 240)}",
            postal="".join(rng.choice("0123456789") if ch == "#" else ch for ch in postal),
            centre="HOME" if home else str(code),
            ibt_centre="HOME EDITION" if home else f"STN{code}{rng.choice('ABC')}",
        )  # fmt: skip


# -- report lines ---------------------------------------------------------------------------


class _Lines:
    """Renders report lines from cached pieces: a template per score set, a head and a tail
    per person, the identity and the test date per report."""

    HOLE = dt.date(1900, 1, 1)

    def __init__(self) -> None:
        lay = layouts.builtin(LAYOUT)
        self.length = lay.record_length
        self.fields: dict[str, Field] = {f.name: f for f in lay.fields}
        self.templates: dict[tuple[bool, int], bytes] = {}
        f = self.fields
        self.head = (f["last_name"].start - 1, f["gender"].end)
        self.tail = (f["email"].start - 1, f["security_id_country"].end)
        assert f["test_date"].start - 1 == self.head[1]
        assert f["test_center_code"].start == f["test_date"].end + 1
        assert f["times_taken"].start == f["interpretive_info_year"].end + 1

    def render(self, values: dict[str, object]) -> bytearray:
        buf = bytearray(b" " * self.length)
        for name, value in values.items():
            f = self.fields[name]
            data = format_value(f, value).encode("utf-8")
            if len(data) > f.size:
                raise AssertionError(f"matchgen bug: {name} {data!r} exceeds {f.size} bytes")
            buf[f.start - 1 : f.start - 1 + len(data)] = data
        return buf

    def template(self, new_scale: bool, index: int) -> bytes:
        key = (new_scale, index)
        found = self.templates.get(key)
        if found is None:
            values = score_set(new_scale, index).values(
                rpdt=False, prior=False, test=self.HOLE, earlier=None
            )
            found = self.templates[key] = bytes(self.render(dict(values)))
        return found

    def person(self, p: Person) -> tuple[bytes, bytes]:
        c = p.culture
        buf = self.render({
            "last_name": p.last, "first_name": p.first, "middle_name": p.middle or None,
            "address_line1": p.street, "city": p.city, "country_code": c.code,
            "country_name": c.name, "postal_code": p.postal, "native_country_code": c.code,
            "native_country_name": c.name, "native_language_code": c.language[0],
            "native_language_name": c.language[1], "date_of_birth": p.born,
            "gender": "2" if p.female else "1", "email": p.email,
            "ibt_test_center_code": p.ibt_centre, "test_center_country": c.name,
            "security_id_type": "Passport", "security_id_number": p.id_number,
            "security_id_country": c.code,
        })  # fmt: skip
        return bytes(buf[self.head[0] : self.head[1]]), bytes(buf[self.tail[0] : self.tail[1]])

    def line(
        self, template: bytes, head: bytes, tail: bytes, place: tuple[str, str],
        registration: str, test_date: dt.date, times: int, centre: str,
    ) -> bytes:  # fmt: skip
        buf = bytearray(template)
        inst, dept = place
        buf[0:42] = f"{inst:<9}{dept:<17}{registration:<16}".encode("ascii")
        h0, h1 = self.head
        buf[h0:h1] = head
        when = test_date.strftime("%Y%m%d").encode("ascii")
        buf[h1 : h1 + 13] = when + f"{centre:<5}".encode("ascii")
        year = self.fields["interpretive_info_year"].start - 1
        buf[year : year + 5] = f"{test_date.year}{times}".encode("ascii")
        t0, t1 = self.tail
        buf[t0:t1] = tail
        return bytes(buf).replace(self.HOLE.strftime("%Y%m%d").encode("ascii"), when)


# -- the roster's noise ---------------------------------------------------------------------


def _typo(rng: Random, text: str) -> str:
    """One letter inserted, deleted, substituted, or two neighbours transposed."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if not letters:
        return text
    for _ in range(20):
        op = rng.random()
        i = rng.choice(letters)
        if op < 0.25:
            out = text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i:]
        elif op < 0.5 and len(letters) >= 4:
            out = text[:i] + text[i + 1 :]
        elif op < 0.75:
            out = text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :]
        elif i + 1 < len(text) and text[i + 1].isalpha():
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            continue
        if i == 0 and out[:1].islower() and text[:1].isupper():
            out = out[:1].upper() + out[1:]
        if out != text and name_key(out) != name_key(text):
            return out
    return text


def _valid(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _dob(rng: Random, born: dt.date) -> tuple[dt.date, str]:
    """The date of birth as the applicant typed it, and the noise label ('' when exact)."""
    u = rng.random()
    if u < 0.88:
        return born, ""
    if u < 0.93:
        if born.day <= 12 and born.month != born.day:
            return dt.date(born.year, born.day, born.month), "dob_daymonth"
        return born, ""
    if u < 0.98:
        digits = list(born.strftime("%Y%m%d"))
        for _ in range(50):
            pos = rng.choice((2, 3, 4, 5, 6, 7))  # not the century
            new = list(digits)
            new[pos] = rng.choice([d for d in "0123456789" if d != digits[pos]])
            text = "".join(new)
            day = _valid(int(text[:4]), int(text[4:6]), int(text[6:]))
            if day is not None and MIN_AGE - 2 <= (AGE_ON - day).days / 365.25 <= MAX_AGE + 10:
                return day, "dob_digit"
        return born, ""
    year = born.year + rng.choice((-1, 1))
    return _valid(year, born.month, born.day) or dt.date(year, born.month, 28), "dob_year"


def _noisy(rng: Random, p: Person, sittings: list[Sitting]) -> tuple[dict[str, str], list[str]]:
    """A real taker's roster row (without applicant_id) and the noise labels applied."""
    labels: list[str] = []
    first, last, middle = p.first, p.last, p.middle
    if len(p.last_parts) > 1:
        if rng.random() < 0.5:
            if rng.random() < 0.5:
                last, kind = p.last_parts[0], "compound_first_part"
            else:
                sep = " " if "-" in last else "-"
                last, kind = sep.join(p.last_parts), "compound_joined"
            labels.append(kind)
        else:
            labels.append("compound_kept")
    if middle:
        u = rng.random()
        if u < 0.5:
            middle = ""
            labels.append("middle_dropped")
        elif u < 0.6:
            first, middle = f"{first} {middle}", ""
            labels.append("middle_in_first")
        else:
            labels.append("middle_kept")
    if rng.random() < 0.02:
        first = first[0] + ("." if rng.random() < 0.5 else "")
        labels.append("initial")
    if rng.random() < 0.08:
        if rng.random() < 0.5 and len(first) > 2:
            first = _typo(rng, first)
            labels.append("typo_first")
        else:
            last = _typo(rng, last)
            labels.append("typo_last")
    if rng.random() < 0.07:
        first, last = last, first
        labels.append("swap")
    names = (first, last, middle)
    if not all(n.isascii() for n in names):
        u = rng.random()
        if u < 0.4:
            names = (fold(first), fold(last), fold(middle))
            labels.append("no_diacritics")
        elif u < 0.5:
            umlauts = any(c in _UMLAUTS for n in names for c in n)
            names = (german(first), german(last), german(middle))
            labels.append("translit_de" if umlauts else "no_diacritics")
        else:
            labels.append("diacritics_kept")
    if rng.random() < 0.25:
        upper = rng.random() < 0.5
        names = tuple(n.upper() if upper else n.lower() for n in names)  # type: ignore[assignment]
        labels.append("case_upper" if upper else "case_lower")
    first, last, middle = names
    born, kind = _dob(rng, p.born)
    if kind:
        labels.append(kind)
    reg = ""
    if rng.random() < 0.7:
        reg = rng.choice(sittings).registration
        if rng.random() < 0.02:
            pos = rng.randrange(4, 16)
            reg = (
                reg[:pos] + rng.choice([d for d in "0123456789" if d != reg[pos]]) + reg[pos + 1 :]
            )
            labels.append("reg_typo")
        else:
            labels.append("reg")
    else:
        labels.append("no_reg")
    row = _common(rng, p, labels)
    row.update(first_name=first, last_name=last, middle_name=middle,
               date_of_birth=born.isoformat(), registration_number=reg)  # fmt: skip
    if len(sittings) > 1:
        labels.append("retake")
    if any(len(s.places) > 1 for s in sittings):
        labels.append("two_places")
    return row, labels


def _common(rng: Random, p: Person, labels: list[str]) -> dict[str, str]:
    """E-mail, country and ID number as an applicant gives them."""
    email = ""
    if rng.random() < 0.6:
        if rng.random() < 0.75:
            email = p.email
            labels.append("email_same")
        else:
            a, b = name_key(p.first.split()[0]), name_key(p.last.split()[-1])
            email = f"{a}{b}{rng.randint(1, 99)}@{rng.choice(_OTHER_DOMAINS)}"
            labels.append("email_other")
    country = ""
    if rng.random() < 0.5:
        if rng.random() < 0.5:
            country = p.culture.code
            labels.append("country_code")
        else:
            country = p.culture.name
            labels.append("country_name")
    id_number = ""
    if rng.random() < 0.1:
        id_number = p.id_number
        if rng.random() < 0.3:
            id_number = f"{id_number[:1]} {id_number[1:5]} {id_number[5:]}"
        if rng.random() < 0.2:
            id_number = id_number.lower()
        labels.append("id_number")
    return {"email": email, "country": country, "id_number": id_number}


def _fresh_row(rng: Random, p: Person, labels: list[str]) -> dict[str, str]:
    """The roster row of someone who never took the test (light noise: case, diacritics)."""
    first, last, middle = p.first, p.last, p.middle
    if middle and rng.random() < 0.5:
        middle = ""
    names = (first, last, middle)
    if not all(n.isascii() for n in names) and rng.random() < 0.4:
        names = (fold(first), fold(last), fold(middle))
    if rng.random() < 0.25:
        upper = rng.random() < 0.5
        names = tuple(n.upper() if upper else n.lower() for n in names)  # type: ignore[assignment]
    row = _common(rng, p, labels)
    row.update(first_name=names[0], last_name=names[1], middle_name=names[2],
               date_of_birth=p.born.isoformat(), registration_number="")  # fmt: skip
    return row


# -- the whole thing ------------------------------------------------------------------------


@dataclass
class Generated:
    """Reports, a roster and the truth (see the module docstring)."""

    #: ScoreLink lines of the current layout, one per report.
    lines: list[bytes]
    #: Roster rows with the columns of :data:`ROSTER_COLUMNS` ('' when absent).
    roster: list[dict[str, str]]
    #: ``(applicant_id, registration_number, test_date)`` of every true pair.
    truth: set[tuple[str, str, dt.date]]
    #: By applicant_id: what was done to the row (``never_took``, ``namesake``, ``swap``...).
    noise: dict[str, list[str]] = field(default_factory=dict)
    #: Counts that describe the population.
    stats: dict[str, int] = field(default_factory=dict)


def _test_range(born: dt.date) -> tuple[dt.date, dt.date]:
    def birthday(years: int) -> dt.date:
        return _valid(born.year + years, born.month, born.day) or dt.date(
            born.year + years, born.month, 28
        )

    return max(FIRST_TEST, birthday(MIN_AGE)), min(LAST_TEST, birthday(MAX_AGE) - dt.timedelta(1))


def _day(rng: Random, low: dt.date, high: dt.date) -> dt.date:
    return low + dt.timedelta(days=rng.randrange((high - low).days + 1))


def generate(*, reports: int, applicants: int, seed: int = 14) -> Generated:
    """``reports`` report lines and a roster of ``applicants`` rows, with the truth."""
    rng = Random(seed)
    people = _People(rng)
    lines_of = _Lines()
    regs: dict[str, int] = {}
    takers: list[tuple[Person, list[Sitting]]] = []
    stats: Counter[str] = Counter()
    out: list[bytes] = []

    def registration() -> str:
        while True:
            reg = f"0000{rng.randrange(10**12):012d}"
            if reg not in regs:
                regs[reg] = 1
                return reg

    def place(other: tuple[str, str] | None = None) -> tuple[str, str]:
        while True:
            at = rng.random() * _PLACE_CUM[-1]
            chosen = _PLACES[next(i for i, cum in enumerate(_PLACE_CUM) if at < cum)]
            if chosen != other:
                return chosen

    while len(out) < reports:
        if takers and rng.random() < 0.01:  # a near twin: same names, born a year apart
            like = rng.choice(takers)[0]
            year = like.born.year + rng.choice((-1, 1))
            born = _valid(year, like.born.month, like.born.day) or dt.date(year, 2, 28)
            person = people.new(like=like, born=born)
            person.labels.append("near_twin")
            like.labels.append("near_twin")
            stats["near_twins"] += 1
        else:
            person = people.new()
        low, high = _test_range(person.born)
        if low > high:
            continue  # cannot happen with the birth range drawn, but never a bad date
        head, tail = lines_of.person(person)
        count = 2 if rng.random() < 0.15 and (high - low).days > 30 else 1
        sittings: list[Sitting] = []
        dates: list[dt.date] = []
        while len(dates) < count:
            day = _day(rng, low, high)
            if all(abs((day - d).days) >= 14 for d in dates):
                dates.append(day)
        dates.sort()
        for times, day in enumerate(dates, start=1):
            first_place = place()
            places = [first_place]
            if rng.random() < 0.1:
                places.append(place(first_place))
            room = reports - len(out)
            if room <= 0:
                break
            places = places[:room]
            sitting = Sitting(registration(), day, places)
            sittings.append(sitting)
            new_scale = day >= IBT26_FROM
            template = lines_of.template(new_scale, rng.randrange(SCORE_SETS))
            for where in places:
                out.append(lines_of.line(template, head, tail, where, sitting.registration, day,
                                         times, person.centre))  # fmt: skip
            stats["sittings"] += 1
            stats["two_places"] += len(places) > 1
        takers.append((person, sittings))
        stats["retakes"] += len(sittings) > 1
    order = list(range(len(out)))
    rng.shuffle(order)
    lines = [out[i] for i in order]

    # the roster: real takers (each at most once) and people who never took the test
    real_count = min(len(takers), round(applicants * 0.8))
    chosen = rng.sample(range(len(takers)), real_count)
    fresh_count = applicants - real_count
    rows: list[tuple[dict[str, str], list[str], Person, list[Sitting]]] = []
    for i in chosen:
        person, sittings = takers[i]
        row, labels = _noisy(rng, person, sittings)
        rows.append((row, labels + person.labels, person, sittings))
    for _ in range(fresh_count):
        labels = ["never_took"]
        if rng.random() < 0.15 and takers:
            person = people.new(like=rng.choice(takers)[0])
            labels.append("namesake")
            stats["fresh_namesakes"] += 1
        else:
            person = people.new()
        rows.append((_fresh_row(rng, person, labels), labels, person, []))
    rng.shuffle(rows)
    roster: list[dict[str, str]] = []
    truth: set[tuple[str, str, dt.date]] = set()
    noise: dict[str, list[str]] = {}
    for n, (row, labels, person, sittings) in enumerate(rows, start=1):
        applicant = f"A{n:07d}"
        roster.append({"applicant_id": applicant, **{k: row[k] for k in ROSTER_COLUMNS[1:]}})
        for s in sittings:
            truth.add((applicant, s.registration, s.test_date))
        if people.names[(name_key(person.first), name_key(person.last))] > 1:
            labels.append("shared_name")  # someone else (taker or not) has the same names
        noise[applicant] = sorted(labels)
    stats.update(
        reports=len(lines), takers=len(takers), applicants=len(roster), real_applicants=real_count,
        never_took=fresh_count, true_pairs=len(truth),
        compound_surnames=sum(len(p.last_parts) > 1 for p, _ in takers),
        middle_names=sum(bool(p.middle) for p, _ in takers),
        shared_names=sum(people.names[(name_key(p.first), name_key(p.last))] > 1
                         for p, _ in takers),
    )  # fmt: skip
    return Generated(lines=lines, roster=roster, truth=truth, noise=noise, stats=dict(stats))


# -- files and the store --------------------------------------------------------------------


def write_roster(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8") -> None:
    """The roster as CSV with a header (CRLF, as spreadsheets write it). In an encoding that
    cannot write a value (Latin-1 and a Vietnamese name) that value is written folded to
    ASCII, as a system limited to that encoding would have it."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(ROSTER_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    for row in rows:
        out = {}
        for k in ROSTER_COLUMNS:
            v = row.get(k, "")
            try:
                v.encode(encoding)
            except UnicodeEncodeError:
                v = fold(v).encode("ascii", "replace").decode("ascii")
            out[k] = v
        w.writerow(out)
    path.write_bytes(buf.getvalue().encode(encoding))


def fill_store(
    url: str, lines: list[bytes], *, sensitive: str = "hash", key_file: str | None = None,
    window: int = 10_000,
) -> None:  # fmt: skip
    """Write the report lines into the store at ``url`` through the sync's own path
    (:func:`~toefl_access.sync.preparing.prepare_answer` with the ``sensitive`` mode, then
    ``Store.write_window``), ``window`` lines per window, one day apart."""
    from toefl_access.formats.sensitive import protector_for
    from toefl_access.store import WindowCounts, open_store
    from toefl_access.sync.preparing import prepare_answer

    utc = dt.UTC
    start = dt.datetime(2026, 10, 1, tzinfo=utc)
    with open_store(url) as store:
        protector, _ = protector_for(store, sensitive, key_file=key_file)
        run = store.begin_run(started_at=dt.datetime.now(utc), params={"matchgen": True})
        total = WindowCounts()
        windows = 0
        nbytes = 0
        for i in range(0, len(lines), window):
            body = b"\n".join(lines[i : i + window]) + b"\n"
            ready = prepare_answer(body, "text", protector=protector)
            at = start + dt.timedelta(days=windows)
            counts = store.write_window(
                run_id=run, start=at, end=at + dt.timedelta(days=1), fmt="text",
                body=ready.body, sha256=ready.sha256 or hashlib.sha256(body).hexdigest(),
                status=200, incoming=ready.items, parse=ready.parse,
                parse_many=ready.parse_many, received_at=dt.datetime.now(utc),
            )  # fmt: skip
            total = total + counts
            windows += 1
            nbytes += len(body)
        store.finish_run(
            run, finished_at=dt.datetime.now(utc), windows_done=windows, windows_failed=0,
            counts=total, nbytes=nbytes, statuses={200: windows}, error=None, exit_code=0,
        )  # fmt: skip


# -- scoring a matcher's output -------------------------------------------------------------

MATCH_DECISIONS = ("match", "confirmed")
#: The key of :func:`breakdown`'s counters that counts pairs rather than a noise label.
PAIRS = "(pairs)"


def _cell(text: str | None) -> str:
    """A CSV cell without blanks, a spreadsheet's ``="0123"`` or a leading apostrophe."""
    text = (text or "").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'")


def _day_of(text: str) -> dt.date:
    text = _cell(text)
    return (
        dt.date.fromisoformat(text[:10])
        if "-" in text
        else dt.datetime.strptime(text, "%Y%m%d").date()
    )


def read_matches(path: Path) -> list[tuple[str, str, dt.date, str, str, str]]:
    """``(applicant_id, registration_number, test_date, institution, department, decision)``
    of every row of a ``matches.csv``."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            out.append((
                _cell(row["applicant_id"]), _cell(row["registration_number"]),
                _day_of(row["test_date"]), _cell(row.get("institution_code")),
                _cell(row.get("department_code")), _cell(row["decision"]).lower(),
            ))  # fmt: skip
    return out


def score(matches_csv: Path, truth: set[tuple[str, str, dt.date]]) -> dict[str, float | int]:
    """The benchmark's figures for a ``matches.csv`` against the truth, on distinct
    ``(applicant_id, registration_number, test_date)`` pairs.

    ``precision``: true pairs among the pairs at ``match`` (or ``confirmed``);
    ``recall_any``: true pairs found at ``match`` or ``review``, of all true pairs;
    ``recall_match``: at ``match`` alone; ``multi_match_reports``: reports (registration,
    test date, institution, department) with more than one applicant at ``match`` (must be
    0); ``multi_match_pairs``: the same per (registration, test date). Fractions are 0..1.
    """
    rows = read_matches(matches_csv)
    matched: set[tuple[str, str, dt.date]] = set()
    anywhere: set[tuple[str, str, dt.date]] = set()
    per_report: dict[tuple[str, dt.date, str, str], set[str]] = {}
    per_sitting: dict[tuple[str, dt.date], set[str]] = {}
    rows_match = rows_review = rows_other = 0
    for applicant, reg, day, inst, dept, decision in rows:
        pair = (applicant, reg, day)
        if decision in MATCH_DECISIONS:
            rows_match += 1
            matched.add(pair)
            per_report.setdefault((reg, day, inst, dept), set()).add(applicant)
            per_sitting.setdefault((reg, day), set()).add(applicant)
        elif decision == "review":
            rows_review += 1
        else:
            rows_other += 1
            continue
        anywhere.add(pair)
    true_match = len(matched & truth)
    found = len(anywhere & truth)
    review_pairs = anywhere - matched
    return {
        "precision": true_match / len(matched) if matched else 0.0,
        "recall_any": found / len(truth) if truth else 0.0,
        "recall_match": true_match / len(truth) if truth else 0.0,
        "true_pairs": len(truth),
        "pairs_match": len(matched),
        "pairs_review": len(review_pairs),
        "true_at_match": true_match,
        "true_at_review": len(review_pairs & truth),
        "false_match": len(matched) - true_match,
        "missed": len(truth) - found,
        "rows_match": rows_match,
        "rows_review": rows_review,
        "rows_other": rows_other,
        "multi_match_reports": sum(len(a) > 1 for a in per_report.values()),
        "multi_match_pairs": sum(len(a) > 1 for a in per_sitting.values()),
    }


def breakdown(
    matches_csv: Path, truth: set[tuple[str, str, dt.date]], noise: dict[str, list[str]]
) -> dict[str, Counter[str]]:
    """Noise labels counted over true pairs (``all``), true pairs not found (``missed``),
    true pairs at ``review`` only (``review_only``) and false pairs at ``match``
    (``false_match``, labelled by the applicant's row); :data:`PAIRS` counts the pairs."""
    matched: set[tuple[str, str, dt.date]] = set()
    anywhere: set[tuple[str, str, dt.date]] = set()
    for applicant, reg, day, _, _, decision in read_matches(matches_csv):
        if decision in MATCH_DECISIONS:
            matched.add((applicant, reg, day))
        if decision in (*MATCH_DECISIONS, "review"):
            anywhere.add((applicant, reg, day))
    out: dict[str, Counter[str]] = {
        "all": Counter(), "missed": Counter(), "review_only": Counter(), "false_match": Counter()
    }  # fmt: skip
    for pair in sorted(truth):
        labels = [PAIRS, *noise.get(pair[0], [])]
        out["all"].update(labels)
        if pair not in anywhere:
            out["missed"].update(labels)
        elif pair not in matched:
            out["review_only"].update(labels)
    for pair in sorted(matched - truth):
        out["false_match"].update([PAIRS, *noise.get(pair[0], ["unknown_applicant"])])
    return out
