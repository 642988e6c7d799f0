"""Made-up people and places for the mock population: names as test takers write them.

Every value fits its ScoreLink field in UTF-8 bytes (names 30, cities 30, address lines 55,
country names 40). Nobody here is a real person; e-mails use the reserved example domains.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    """The people of one country: names, places, language and ID formats."""

    weight: int
    country_code: str
    country_name: str
    language_code: str
    language_name: str
    cities: tuple[tuple[str, str], ...]  # (city, state code or "")
    streets: tuple[str, ...]
    number_first: bool  # "12 Main Street" rather than "Hauptstraße 12"
    postal: str  # '#' is a digit
    last_names: tuple[str, ...]
    female: tuple[str, ...]
    male: tuple[str, ...]
    passport_prefix: str


PROFILES: tuple[Profile, ...] = (
    Profile(22, "CHN", "China", "CHI", "Chinese", (
        ("Beijing", "BJ"), ("Shanghai", "SH"), ("Chengdu", "SC"), ("Wuhan", "HB"),
        ("Hangzhou", "ZJ"), ("Guangzhou", "GD")),
        ("Zhongshan Road", "Renmin Road", "Jiefang Avenue", "Xueyuan Road"), True, "######",
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Lü",
         "Xu", "Sun", "Ma"),
        ("Xinyi", "Yuxuan", "Jing", "Mei", "Nüying", "Zihan", "Yutong", "Xiaoling"),
        ("Hao", "Yichen", "Zhiwei", "Jun", "Haoran", "Tianyu", "Lüsheng", "Bowen"), "E"),
    Profile(20, "IND", "India", "HIN", "Hindi", (
        ("Hyderabad", "TS"), ("Bengaluru", "KA"), ("Chennai", "TN"), ("Pune", "MH"),
        ("New Delhi", "DL"), ("Mumbai", "MH")),
        ("MG Road", "Station Road", "Nehru Nagar", "Gandhi Street"), True, "######",
        ("Patel", "Sharma", "Reddy", "Iyer", "Singh", "Nair", "Gupta", "Rao", "Krishnamurthy",
         "Venkataraman", "Chatterjee"),
        ("Priya", "Ananya", "Lakshmi", "Divya", "Sneha", "Kavya", "Aishwarya"),
        ("Arjun", "Rahul", "Vikram", "Siddharth", "Karthik", "Aditya", "Sai Teja"), "K"),
    Profile(7, "KOR", "Korea, Republic of", "KOR", "Korean", (
        ("Seoul", ""), ("Busan", ""), ("Incheon", ""), ("Daejeon", "")),
        ("Teheran-ro", "Sejong-daero", "Gangnam-daero"), False, "#####",
        ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Yoon", "Jang"),
        ("Ji-woo", "Seo-yeon", "Min-ji", "Ha-eun", "Su-bin"),
        ("Min-jun", "Seo-jun", "Do-hyun", "Ji-ho", "Joon-young"), "M"),
    Profile(6, "JPN", "Japan", "JPN", "Japanese", (
        ("Tōkyō", ""), ("Ōsaka", ""), ("Kyōto", ""), ("Sapporo", ""), ("Fukuoka", "")),
        ("Chūō-dōri", "Meiji-dōri", "Sakura-machi"), False, "###-####",
        ("Satō", "Suzuki", "Takahashi", "Tanaka", "Itō", "Watanabe", "Yamamoto", "Kōno"),
        ("Yūko", "Haruka", "Aoi", "Sakura", "Misaki"),
        ("Ryō", "Shōta", "Haruto", "Kenji", "Daiki"), "T"),
    Profile(6, "VNM", "Viet Nam", "VIE", "Vietnamese", (
        ("Hà Nội", ""), ("Thành phố Hồ Chí Minh", ""), ("Đà Nẵng", ""), ("Huế", "")),
        ("Đường Lê Lợi", "Phố Huế", "Đường Trần Hưng Đạo"), True, "######",
        ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đặng", "Bùi"),
        ("Lan", "Ngọc Ánh", "Thảo", "Hương", "Phương Linh"),
        ("Minh", "Đức", "Quang Huy", "Tuấn", "Bảo"), "C"),
    Profile(5, "BRA", "Brazil", "POR", "Portuguese", (
        ("São Paulo", "SP"), ("Rio de Janeiro", "RJ"), ("Belo Horizonte", "MG"),
        ("Curitiba", "PR"), ("Florianópolis", "SC")),
        ("Rua das Flores", "Avenida Paulista", "Rua São João", "Travessa Conceição"), False,
        "#####-###",
        ("Silva", "Santos", "Oliveira", "Conceição", "Araújo", "Gonçalves", "Pereira",
         "Magalhães"),
        ("Ana Júlia", "Letícia", "Beatriz", "Fernanda", "Luíza"),
        ("João", "Luís", "Gabriel", "Vinícius", "Caio"), "F"),
    Profile(4, "MEX", "Mexico", "SPA", "Spanish", (
        ("Ciudad de México", "CMX"), ("Guadalajara", "JAL"), ("Monterrey", "NL"),
        ("Puebla", "PUE")),
        ("Avenida Juárez", "Calle Hidalgo", "Paseo de la Reforma"), False, "#####",
        ("García", "Hernández", "Martínez", "López", "González", "Pérez", "Muñoz", "Ramírez"),
        ("María José", "Sofía", "Ximena", "Valentina", "Regina"),
        ("José Luis", "Diego", "Andrés", "Santiago", "Emiliano"), "G"),
    Profile(4, "TUR", "Türkiye", "TUR", "Turkish", (
        ("İstanbul", ""), ("Ankara", ""), ("İzmir", ""), ("Bursa", ""), ("Eskişehir", "")),
        ("Atatürk Caddesi", "İstiklal Caddesi", "Cumhuriyet Sokağı"), False, "#####",
        ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Aydın", "Doğan"),
        ("Elif", "Zeynep", "Gülşen", "Ayşe", "Büşra"),
        ("Mehmet", "Emre", "Çağrı", "Oğuz", "Barış"), "U"),
    Profile(3, "DEU", "Germany", "GER", "German", (
        ("München", "BY"), ("Köln", "NW"), ("Berlin", "BE"), ("Düsseldorf", "NW"),
        ("Würzburg", "BY")),
        ("Hauptstraße", "Bahnhofstraße", "Schloßallee", "Gartenweg"), False, "#####",
        ("Müller", "Schmidt", "Schröder", "Groß", "Weiß", "Krüger", "Hoffmann", "Bäcker"),
        ("Anna", "Lena", "Käthe", "Sophie", "Jana"),
        ("Jörg", "Lukas", "Maximilian", "Björn", "Jürgen"), "C"),
    Profile(3, "POL", "Poland", "POL", "Polish", (
        ("Warszawa", ""), ("Kraków", ""), ("Łódź", ""), ("Wrocław", ""), ("Gdańsk", "")),
        ("ul. Piękna", "ul. Marszałkowska", "ul. Długa"), False, "##-###",
        ("Nowak", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Woźniak", "Kowalczyk"),
        ("Małgorzata", "Agnieszka", "Zofia", "Katarzyna", "Joanna"),
        ("Łukasz", "Paweł", "Michał", "Wojciech", "Jakub"), "E"),
    Profile(3, "FRA", "France", "FRE", "French", (
        ("Paris", ""), ("Lyon", ""), ("Nîmes", ""), ("Orléans", ""), ("Besançon", "")),
        ("rue de la République", "avenue Jean-Jaurès", "rue des Écoles"), True, "#####",
        ("Martin", "Bernard", "Lefèvre", "Dubois", "Moreau", "Girard", "Fontaine"),
        ("Hélène", "Chloé", "Léa", "Amélie", "Maëlle"),
        ("François", "Jérôme", "Théo", "Noël", "Gaëtan"), "1"),
    Profile(4, "EGY", "Egypt", "ARA", "Arabic", (
        ("Cairo", ""), ("Alexandria", ""), ("Giza", ""), ("Mansoura", "")),
        ("El Tahrir Street", "Port Said Street", "El Nasr Road"), True, "#####",
        ("Hassan", "Abdel-Rahman", "El-Sayed", "Mahmoud", "Ibrahim", "Mostafa"),
        ("Nour", "Fatma", "Salma", "Mariam", "Habiba"),
        ("Mohamed", "Ahmed", "Omar", "Youssef", "Karim"), "A"),
    Profile(5, "NGA", "Nigeria", "YOR", "Yoruba", (
        ("Lagos", "LA"), ("Ibadan", "OY"), ("Abuja", "FC"), ("Enugu", "EN")),
        ("Allen Avenue", "Awolowo Road", "Ogui Road", "Adeola Odeku Street"), True, "######",
        ("Adeyemi", "Okafor", "Balogun", "Eze", "Nwosu", "Adebayo", "Olawale"),
        ("Chiamaka", "Ngozi", "Adaeze", "Funmilayo", "Temitope"),
        ("Chinedu", "Oluwaseun", "Emeka", "Tunde", "Ifeanyi"), "A"),
    Profile(1, "NOR", "Norway", "NOR", "Norwegian", (
        ("Oslo", ""), ("Bergen", ""), ("Tromsø", ""), ("Trondheim", "")),
        ("Storgata", "Kirkeveien", "Bjørnstjerne Bjørnsons gate"), False, "####",
        ("Hansen", "Johansen", "Bjørnstad", "Sæther", "Ødegård", "Løvås"),
        ("Åse", "Ingrid", "Solveig", "Sigrid"),
        ("Øyvind", "Håkon", "Lars", "Ståle"), "F"),
    Profile(2, "CZE", "Czechia", "CZE", "Czech", (
        ("Praha", ""), ("Brno", ""), ("Plzeň", ""), ("Ostrava", ""), ("České Budějovice", "")),
        ("Národní", "Husova", "Karlova"), False, "### ##",
        ("Dvořák", "Novák", "Svoboda", "Černý", "Procházka", "Kučera", "Růžička"),
        ("Tereza", "Kateřina", "Lucie", "Zuzana"),
        ("Jiří", "Tomáš", "Ondřej", "Vojtěch"), "4"),
    Profile(3, "ESP", "Spain", "SPA", "Spanish", (
        ("Madrid", ""), ("Barcelona", ""), ("Málaga", ""), ("A Coruña", ""), ("Cádiz", "")),
        ("Calle de Alcalá", "Gran Vía", "Calle Mayor", "Avinguda Diagonal"), False, "#####",
        ("Fernández", "Núñez", "Ibáñez", "Rodríguez", "Sánchez", "Martín", "Gómez"),
        ("Lucía", "Inés", "Nuria", "Paula", "Carmen"),
        ("Álvaro", "Íñigo", "Sergio", "Raúl", "Joaquín"), "P"),
)  # fmt: skip

#: (institution code, weight): the DI codes an integration covers.
INSTITUTIONS = (("4704", 5), ("5820", 3), ("3211", 2), ("9187", 1))
#: (department code, weight): 99 is "graduate school, undecided" in practice.
DEPARTMENTS = (("99", 5), ("00", 3), ("42", 2), ("78", 2), ("13", 1))

EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

#: Letters NFKD does not take apart.
ASCII_FOLD = str.maketrans({
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D", "ı": "i",
    "æ": "ae", "Æ": "AE",
})  # fmt: skip
