"""The README's 'When things go wrong' table and the catalogue's tests stay in step: every row has its test
(``test_Fnn_…`` in tests/catalogue/), every test its row, in order."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_rows_match_tests():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (F\d{2,3}) \|", section, flags=re.M)
    source = "".join(p.read_text() for p in sorted(Path(__file__).parent.glob("test_*.py")))
    tests = sorted({m.group(1) for m in re.finditer(r"^def test_(F\d{2,3})_", source, re.M)}, key=lambda f: int(f[1:]))
    assert rows == tests and len(rows) >= 130
