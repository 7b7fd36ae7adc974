"""tests/fixtures/real/UPSTREAM-README.md names exactly the files of its folder, and only files
that exist, with their true SHA-256 sums: the provenance page cannot go stale again.

Its conventions: a path in backticks is a file of the folder, or of the repository when it starts
with src/, tests/ or docs/; a path may hold a * to name many files; an upstream file is written
owner/repository:path, never in backticks.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
FOLDER = ROOT / "tests" / "fixtures" / "real"
README = FOLDER / "UPSTREAM-README.md"
REPOSITORY_PREFIXES = ("src/", "tests/", "docs/")
# A backticked span that names a file: no spaces, no "owner/repo:path" colon, a file suffix.
FILE_NAME = re.compile(r"^[^\s:]+\.(?:csv|md|py|json|tar\.xz|tar\.gz)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _resolve(name: str) -> Path:
    return ROOT / name if name.startswith(REPOSITORY_PREFIXES) else FOLDER / name


def named_files(text: str) -> tuple[list[str], set[Path]]:
    """The backticked file names that match nothing, and the files the others name."""
    missing: list[str] = []
    found: set[Path] = set()
    for span in _spans(text):
        if not FILE_NAME.match(span):
            continue
        path = _resolve(span)
        matches = sorted(path.parent.glob(path.name)) if "*" in span else [path]
        matches = [m for m in matches if m.is_file()]
        if matches:
            found.update(m.resolve() for m in matches)
        else:
            missing.append(span)
    return missing, found


def test_named_fixture_files_exist() -> None:
    missing, _ = named_files(README.read_text("utf-8"))
    assert missing == []


def test_every_fixture_file_is_named() -> None:
    _, found = named_files(README.read_text("utf-8"))
    files = {p.resolve() for p in FOLDER.rglob("*") if p.is_file() and p != README}
    assert sorted(str(p.relative_to(FOLDER)) for p in files - found) == []


def test_relative_links_lead_to_files() -> None:
    links = re.findall(r"\]\(([^)#\s]+)", README.read_text("utf-8"))
    relative = [link for link in links if "://" not in link]
    assert relative, "the page links to the data contract"
    assert [link for link in relative if not (FOLDER / link).is_file()] == []


def test_table_sha256_sums_are_the_files() -> None:
    checked = 0
    for line in README.read_text("utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if not cells:
            continue
        names = [s for s in _spans(cells[0]) if FILE_NAME.match(s)]
        sums = [s for s in _spans(line) if SHA256.match(s)]
        if names and sums:
            assert hashlib.sha256(_resolve(names[0]).read_bytes()).hexdigest() == sums[0], names
            checked += 1
    assert checked == len(list(p for p in FOLDER.rglob("*") if p.is_file() and p != README))


def test_named_files_rejects_what_does_not_exist() -> None:
    text = "`nyt/us.csv`, `jhu/history/*.csv`, `nyt/us-2021-06-1*.csv`, `src/covid_etl/cron.py`"
    missing, found = named_files(text)
    assert missing == ["nyt/us.csv", "jhu/history/*.csv"]
    assert {p.name for p in found} == {"us-2021-06-15.csv", "us-2021-06-16.csv", "cron.py"}
