"""Join the two sources into the national series. Pure.

The rules are the data contract (docs/data-contract.md): the NYT is the spine and authoritative
for cases and deaths, one row per NYT date; JHU gives recovered, null where JHU has no row for the
date or stopped reporting it. Each row keeps whether JHU has its date (``in_jhu``): the original
system's outputs keep its inner join, the dates of both sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from covid_etl.catalog import JHU, NYT
from covid_etl.errors import EmptyJoin, HistoryShrinks
from covid_etl.models import NATIONAL_NAME, Anomaly, JhuRow, NytRow, Record
from covid_etl.ranges import format_ranges
from covid_etl.series.derive import (
    AVERAGES,
    CASES,
    DEATHS,
    NEW_CASES,
    NEW_DEATHS,
    OMITTED,
    date_column,
    day_over_day,
    nyt_figures,
    rounded,
)
from covid_etl.series.spec import Built, Column, Key, Series
from covid_etl.sources.csv import parse_jhu, parse_nyt


@dataclass(frozen=True, slots=True)
class Joined:
    """The joined series and what the run should warn about."""

    records: list[Record]
    warnings: list[str] = field(default_factory=list)


def normalize_recovered(rows: Sequence[JhuRow]) -> tuple[list[JhuRow], dt.date | None]:
    """Null out recovered where JHU stopped reporting it.

    JHU publishes an exact 0 for US recoveries from 2020-12-14 on. A 0 before the first positive
    value is real (no recoveries yet in January 2020); a 0 after it means "not reported".
    Returns the rows and the first date reported as 0 after being positive, if any.
    """
    out: list[JhuRow] = []
    seen_positive = False
    discontinued: dt.date | None = None
    for row in rows:
        value = row.recovered
        if value is not None and value > 0:
            seen_positive = True
        elif value == 0 and seen_positive:
            value = None
            if discontinued is None:
                discontinued = row.date
        out.append(row if value == row.recovered else JhuRow(row.date, value))
    return out, discontinued


def join_sources(nyt: Sequence[NytRow], jhu: Sequence[JhuRow]) -> Joined:
    """One record per NYT date (left join on date), sorted by date, with the contract's
    warnings. Sources that share no date are refused: such a JHU file is not the US series."""
    jhu_rows, discontinued = normalize_recovered(jhu)
    recovered_by_date = {row.date: row.recovered for row in jhu_rows}
    records = [
        Record(row.date, row.cases, row.deaths, recovered_by_date.get(row.date),
               int(row.date in recovered_by_date))
        for row in nyt
    ]  # fmt: skip
    if not any(r.in_jhu for r in records):
        raise EmptyJoin(
            "the sources share no date: "
            f"NYT covers {_span([r.date for r in nyt])}, JHU covers {_span([r.date for r in jhu])}"
        )
    records.sort(key=lambda r: r.date)
    warnings = decrease_warnings(records)
    if discontinued is not None:
        warnings.append(
            f"JHU recovered not reported from {discontinued.isoformat()} "
            "(0 after being positive); stored as null"
        )
    warnings.extend(coverage_warnings(records, jhu_rows))
    return Joined(records=records, warnings=warnings)


def decrease_warnings(records: Sequence[Record]) -> list[str]:
    """One warning per column whose cumulative value falls from one day to the next."""
    warnings = []
    for column in ("cases", "deaths", "recovered"):
        drops = []
        previous: tuple[dt.date, int] | None = None
        for record in records:
            value = getattr(record, column)
            if value is None:
                previous = None
                continue
            if previous is not None and value < previous[1]:
                drops.append(f"{record.date.isoformat()} ({previous[1]} -> {value})")
            previous = (record.date, value)
        if drops:
            shown = "; ".join(drops[:5]) + (
                f"; and {len(drops) - 5} more" if len(drops) > 5 else ""
            )
            warnings.append(f"cumulative {column} decreases on {len(drops)} day(s): {shown}")
    return warnings


def coverage_warnings(records: Sequence[Record], jhu: Sequence[JhuRow]) -> list[str]:
    """JHU ending before the NYT (recovered is null after its last day), and JHU dates the NYT
    lacks (left out: the NYT is the spine), as compact ranges."""
    warnings = []
    last_jhu, last_nyt = max(r.date for r in jhu), records[-1].date
    if last_jhu < last_nyt:
        warnings.append(
            f"JHU ends on {last_jhu.isoformat()}, before the NYT ({last_nyt.isoformat()}): "
            "recovered is null after it"
        )
    nyt_dates = {r.date for r in records}
    only_jhu = sorted(r.date for r in jhu if r.date not in nyt_dates)
    if only_jhu:
        warnings.append(
            f"{len(only_jhu)} JHU date(s) not in the NYT file left out: {format_ranges(only_jhu)}"
        )
    return warnings


def _span(dates: Sequence[dt.date]) -> str:
    return f"{min(dates).isoformat()}..{max(dates).isoformat()}" if dates else "no dates"


def parse_national(texts: Mapping[str, str], today: dt.date) -> tuple[list[NytRow], list[JhuRow]]:
    return parse_nyt(texts[NYT.name], today=today), parse_jhu(texts[JHU.name], today=today)


def build_national(parsed: tuple[list[NytRow], list[JhuRow]]) -> Built:
    joined = join_sources(*parsed)
    return Built(joined.records, joined.warnings)


def national_shrinks(lost: Sequence[Key]) -> HistoryShrinks:
    dates = [day for (day,) in lost]
    return HistoryShrinks(
        f"the new data lacks {len(dates)} date(s) that are already stored "
        f"({format_ranges(dates)}); refusing to load a truncated or shrunken source; "
        "if the source really dropped these dates, accept the removals with "
        "`covid-etl run --accept-removals`"
    )


def derived_rows(records: Sequence[Record], notes: Sequence[Anomaly] = ()) -> list[dict[str, Any]]:
    """One JSON-ready dict per record with the API's columns (``NATIONAL.api_columns``), the
    averages by the NYT's rule with its national notes (geoid ``USA``)."""
    new_cases, new_deaths, cases, deaths = nyt_figures(records, notes)
    new_recovered = day_over_day([r.recovered for r in records])
    return [
        {
            "date": r.date.isoformat(),
            "cases": r.cases,
            "deaths": r.deaths,
            "recovered": r.recovered,
            "new_cases": new_cases[i],
            "new_deaths": new_deaths[i],
            "new_recovered": new_recovered[i],
            "new_cases_7d_avg": rounded(cases.averages[i]),
            "new_deaths_7d_avg": rounded(deaths.averages[i]),
            "new_cases_omitted": cases.left_out[i],
            "new_deaths_omitted": deaths.left_out[i],
        }
        for i, r in enumerate(records)
    ]


NATION = "USA"  # the NYT's geoid of the nation


NATIONAL = Series(
    name=NATIONAL_NAME,
    table="records",
    row=Record,
    columns=(
        Column("date", dt.date, "Day, YYYY-MM-DD."),
        Column("cases", int, "Cumulative cases (NYT)."),
        Column("deaths", int, "Cumulative deaths (NYT)."),
        Column("recovered", int, "Cumulative recoveries (JHU); null where not reported.", True),
        Column("in_jhu", int, "1 where JHU has a row for the date, else 0.", internal=True),
    ),
    partition=None,
    sources=(NYT, JHU),
    parse=parse_national,
    build=build_national,
    shrinks=national_shrinks,
    derive=derived_rows,
    place=lambda _partition: NATION,
    api_columns=(
        date_column("2020-01-21"),
        CASES,
        DEATHS,
        Column(
            "recovered",
            int,
            "Cumulative recoveries (JHU); null where JHU has no row for the date (the NYT's "
            "first day, 2020-01-21, and every day after JHU's last, 2022-04-16) or does not "
            "report it (from 2020-12-14, when JHU stopped reporting US recoveries).",
            True,
        ),
        NEW_CASES,
        NEW_DEATHS,
        Column(
            "new_recovered",
            int,
            "recovered minus the previous day's; null on the first day and wherever either "
            "day's recovered is null.",
            True,
        ),
        *AVERAGES,
        *OMITTED,
    ),
)
