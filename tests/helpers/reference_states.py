"""An independent, deliberately plain computation of the per-state contract, to check the ETL
against. It shares no code with covid_etl: csv.DictReader, dicts and the rules as written in
docs/data-contract.md ("States")."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

Row = tuple[str, str, str, int, int]  # date, fips, state, cases, deaths


def expected_state_rows(path: Path) -> list[Row]:
    """Every row as published, sorted by date then fips (the export's order)."""
    with open(path, newline="") as f:
        rows = [
            (r["date"], r["fips"], r["state"], int(r["cases"]), int(r["deaths"]))
            for r in csv.DictReader(f)
        ]
    keys = [(r[0], r[1]) for r in rows]
    assert len(set(keys)) == len(keys), "the reference expects one row per (date, fips)"
    return sorted(rows, key=lambda r: (r[0], r[1]))


def expected_states_csv(path: Path) -> str:
    lines = ["date,fips,state,cases,deaths"]
    lines += [f"{d},{fips},{name},{c},{x}" for d, fips, name, c, x in expected_state_rows(path)]
    return "\n".join(lines) + "\n"


def decreasing_states(path: Path) -> dict[str, tuple[int, int]]:
    """Per state name: how many day-over-day decreases of cases and of deaths it has."""
    series: dict[str, list[Row]] = {}
    for row in expected_state_rows(path):
        series.setdefault(row[2], []).append(row)
    found = {}
    for name, rows in series.items():
        cases = sum(1 for a, b in itertools.pairwise(rows) if b[3] < a[3])
        deaths = sum(1 for a, b in itertools.pairwise(rows) if b[4] < a[4])
        if cases or deaths:
            found[name] = (cases, deaths)
    return found
