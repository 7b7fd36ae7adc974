"""An independent, deliberately plain computation of the data contract, to check the ETL against.

It shares no code with covid_etl: csv.DictReader, dicts and the rules as written in DESIGN.md.
"""

from __future__ import annotations

import csv
from pathlib import Path


def expected_rows(nyt_path: Path, jhu_path: Path) -> list[tuple[str, int, int, int | None]]:
    with open(nyt_path, newline="") as f:
        nyt = {row["date"]: (int(row["cases"]), int(row["deaths"])) for row in csv.DictReader(f)}
    recovered: dict[str, int | None] = {}
    with open(jhu_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["Country/Region"] == "US" and row["Province/State"] == "":
                value = row["Recovered"]
                recovered[row["Date"]] = None if value in ("", "None") else int(value)
    positive_seen = False
    for day in sorted(recovered):
        value = recovered[day]
        if value is not None and value > 0:
            positive_seen = True
        elif value == 0 and positive_seen:
            recovered[day] = None
    # The NYT is the spine: every NYT date, recovered null where JHU has no row.
    return [(day, nyt[day][0], nyt[day][1], recovered.get(day)) for day in sorted(nyt)]


def expected_original_dates(nyt_path: Path, jhu_path: Path) -> list[str]:
    """The dates of the original system's outputs: its inner join, the dates of both sources."""
    with open(nyt_path, newline="") as f:
        nyt = {row["date"] for row in csv.DictReader(f)}
    with open(jhu_path, newline="") as f:
        jhu = {
            row["Date"]
            for row in csv.DictReader(f)
            if row["Country/Region"] == "US" and row["Province/State"] == ""
        }
    return sorted(nyt & jhu)


def expected_csv(nyt_path: Path, jhu_path: Path) -> str:
    lines = ["date,cases,deaths,recovered"]
    for day, cases, deaths, rec in expected_rows(nyt_path, jhu_path):
        lines.append(f"{day},{cases},{deaths},{'' if rec is None else rec}")
    return "\n".join(lines) + "\n"
