"""docs/faults.md names tests; each must exist, so the table cannot drift from the suite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_named_in_the_fault_table_exists() -> None:
    doc = (ROOT / "docs" / "faults.md").read_text()
    refs = re.findall(r"([\w/]+\.py)::(\w+)", doc)
    assert len(refs) > 30
    sources = {p: p.read_text() for p in (ROOT / "tests").rglob("test_*.py")}
    for file, name in refs:
        matches = [src for p, src in sources.items() if str(p).endswith(file)]
        assert matches, f"docs/faults.md names {file}, which does not exist"
        assert any(re.search(rf"def {name}\(", src) for src in matches), \
            f"docs/faults.md names {file}::{name}, which does not exist"
    for file in set(re.findall(r"`(tests/[\w/]+\.py)`", doc)):
        assert (ROOT / file).is_file(), file
