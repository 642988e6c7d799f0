"""Build the golden files from the tests' own generator (tests/gen.py), deterministically.

    .venv/bin/python tests/golden/make_golden.py      # rewrites the files next to this one

Inputs, each with the exact output the library must produce (written from the generator's
values, not by the library):

=============================  =========================================================
scorelink-1600.txt             current layout, LF; 0-120, 1-6 and both scales, MyBest,
                               rPDT and Essentials values; names in ASCII, UTF-8 and
                               Latin-1; every third line trimmed of its trailing blanks
scorelink-1600-crlf.txt        current layout with a UTF-8 BOM, CRLF, blank lines, trimmed
                               lines and no newline after the last line
scorelink-900.txt              legacy layout, CRLF, UTF-8 and Latin-1 names
scorelink-1600.json            the reports of scorelink-1600.txt as ``{"data": [...]}``:
                               keys in every accepted spelling, some numbers as strings,
                               unknown keys (kept in ``_extra``)
*.jsonl                        ``toefl-access parse FILE`` for each input
scorelink-1600.csv             ``toefl-access parse scorelink-1600.txt --to csv``
scorelink-1600-crlf.out.txt    ``toefl-access parse scorelink-1600-crlf.txt --to text``
=============================  =========================================================
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import gen  # noqa: E402

SEED = 20260121


def _mix(g: gen.Gen, layout: str, n: int) -> list[gen.Report]:
    """``n`` reports cycling through every scale and encoding, options at random."""
    scales = gen.SCALES if layout == gen.CURRENT else ("0-120",)
    return [
        g.report(layout, scale=scales[i % len(scales)], encoding=gen.ENCODINGS[i % 4])
        for i in range(n)
    ]


def reports() -> dict[str, list[gen.Report]]:
    """The generated reports of each input file, in file order."""
    g = gen.Gen(SEED)
    main = _mix(g, gen.CURRENT, 16)
    main[1] = g.report(gen.CURRENT, scale="0-120", mybest=True, rpdt=True, encoding="latin-1")
    main[2] = g.report(gen.CURRENT, scale="1-6", mybest=True, encoding="utf-8")
    main[3] = g.report(gen.CURRENT, scale="both", essentials=True, encoding="mixed")
    return {
        "scorelink-1600.txt": main,
        "scorelink-1600-crlf.txt": _mix(g, gen.CURRENT, 6),
        "scorelink-900.txt": _mix(g, gen.LEGACY, 8),
        "scorelink-1600.json": main,
    }


# The line number of each record in each input file.
LINES = {
    "scorelink-1600.txt": list(range(1, 17)),
    # line 2 is empty, and the blank last line is not a record
    "scorelink-1600-crlf.txt": [1, 3, 4, 5, 6, 7],
    "scorelink-900.txt": list(range(1, 9)),
    "scorelink-1600.json": list(range(1, 17)),
}


def build() -> dict[str, bytes]:
    """Every golden file, by name."""
    rs = reports()
    files: dict[str, bytes] = {}

    main = rs["scorelink-1600.txt"]
    lines = [r.line(trim=i % 3 == 2) for i, r in enumerate(main)]
    files["scorelink-1600.txt"] = gen.file_bytes(lines)
    files["scorelink-1600.jsonl"] = gen.expected_jsonl(main, LINES["scorelink-1600.txt"])
    files["scorelink-1600.csv"] = gen.expected_csv(main, LINES["scorelink-1600.txt"])

    crlf = rs["scorelink-1600-crlf.txt"]
    lines = [r.line(trim=i % 2 == 0) for i, r in enumerate(crlf)]
    files["scorelink-1600-crlf.txt"] = gen.file_bytes(
        lines, crlf=True, bom=True, blank_lines=True, final_newline=False
    )
    files["scorelink-1600-crlf.jsonl"] = gen.expected_jsonl(crlf, LINES["scorelink-1600-crlf.txt"])
    files["scorelink-1600-crlf.out.txt"] = b"".join(r.line() + b"\n" for r in crlf)

    legacy = rs["scorelink-900.txt"]
    files["scorelink-900.txt"] = gen.file_bytes([r.line() for r in legacy], crlf=True)
    files["scorelink-900.jsonl"] = gen.expected_jsonl(legacy, LINES["scorelink-900.txt"])

    rng = random.Random(SEED)
    objects, extras = [], []
    for i, r in enumerate(main):
        extra = {"ScoreReportId": f"SR-{i:04d}", "flags": ["x"]} if i % 4 == 0 else {}
        objects.append(r.json_object(keys="mixed", strings=i % 2 == 1, nulls=i % 3 == 0,
                                      extra=extra, rng=rng))
        extras.append(extra)
    files["scorelink-1600.json"] = gen.json_bytes(objects)
    files["scorelink-1600.json.jsonl"] = gen.expected_jsonl(
        main, LINES["scorelink-1600.json"], extras=extras
    )
    return files


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"{len(data):>8} bytes  {name}")


if __name__ == "__main__":
    main()
