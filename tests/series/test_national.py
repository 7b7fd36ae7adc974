from __future__ import annotations

import datetime as dt

import pytest

from covid_etl.errors import EmptyJoin, HistoryShrinks
from covid_etl.models import JhuRow, NytRow, Record
from covid_etl.ranges import format_ranges
from covid_etl.series.diff import Changes, diff_series
from covid_etl.series.national import NATIONAL, join_sources, normalize_recovered
from covid_etl.sources.csv import parse_jhu, parse_nyt
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, REAL
from tests.helpers.reference import expected_rows
from tests.sources.test_csv import TODAY

D = dt.date


def test_join_real_data_matches_independent_reference() -> None:
    joined = join_sources(
        parse_nyt(NYT_CURRENT.read_text(), today=TODAY),
        parse_jhu(JHU_CURRENT.read_text(), today=TODAY),
    )
    got = [(r.date.isoformat(), r.cases, r.deaths, r.recovered) for r in joined.records]
    assert got == expected_rows(NYT_CURRENT, JHU_CURRENT)
    assert len(got) == 1100
    # 489 dates of JHU with recovered unreported, 2020-01-21 and the 283 days after JHU ends.
    assert sum(1 for r in joined.records if r.recovered is None) == 489 + 1 + 283
    assert [r.date.isoformat() for r in joined.records if not r.in_jhu] == [
        "2020-01-21",
        *(d for d, *_ in expected_rows(NYT_CURRENT, JHU_CURRENT) if d > "2022-04-16"),
    ]
    assert "JHU recovered not reported from 2020-12-14" in "\n".join(joined.warnings)


def test_join_real_data_warns_per_contract() -> None:
    joined = join_sources(
        parse_nyt(NYT_CURRENT.read_text(), today=TODAY),
        parse_jhu(JHU_CURRENT.read_text(), today=TODAY),
    )
    text = "\n".join(joined.warnings)
    assert (
        "cumulative cases decreases on 3 day(s): 2021-06-04 (33336811 -> 33312812); "
        "2022-10-08 (96429284 -> 96422344); 2023-01-01 (100462184 -> 100447989)"
    ) in text
    assert (
        "cumulative deaths decreases on 2 day(s): 2022-03-14 (966361 -> 963926); "
        "2022-10-08 (1058206 -> 1058156)"
    ) in text
    assert "JHU recovered not reported from 2020-12-14" in text
    assert "JHU ends on 2022-04-16, before the NYT (2023-01-24): recovered is null after it" in text
    assert "join dropped" not in text  # the NYT is the spine: no NYT date is dropped


def test_join_all_countries_file_matches_reference() -> None:
    jhu_all = REAL / "jhu" / "time-series-19-covid-combined.csv"
    joined = join_sources(
        parse_nyt(NYT_CURRENT.read_text(), today=TODAY), parse_jhu(jhu_all.read_text(), today=TODAY)
    )
    got = [(r.date.isoformat(), r.cases, r.deaths, r.recovered) for r in joined.records]
    assert got == expected_rows(NYT_CURRENT, jhu_all)
    assert len(got) == 1100 and sum(r.in_jhu for r in joined.records) == 420


def test_normalize_recovered_keeps_leading_zeros_and_nulls_zero_after_positive() -> None:
    rows = [JhuRow(D(2020, 1, 22), 0), JhuRow(D(2020, 1, 23), 5), JhuRow(D(2020, 1, 24), 0)]
    out, discontinued = normalize_recovered(rows)
    assert [r.recovered for r in out] == [0, 5, None]
    assert discontinued == D(2020, 1, 24)


def test_join_without_common_dates_raises_empty_join() -> None:
    with pytest.raises(EmptyJoin, match="share no date"):
        join_sources([NytRow(D(2020, 1, 21), 1, 0)], [JhuRow(D(2021, 1, 1), 0)])


def diff_records(
    stored: dict[dt.date, Record], incoming: list[Record], *, accept_removals: bool = False
) -> Changes:
    rows = list(stored.values())
    partitions = [None] if rows else []
    return diff_series(NATIONAL, incoming, partitions, lambda _: rows,
                       accept_removals=accept_removals)  # fmt: skip


def test_diff_counts_revised_rows_as_updated() -> None:
    stored = {D(2020, 1, 22): Record(D(2020, 1, 22), 1, 0, 0)}
    incoming = [Record(D(2020, 1, 22), 2, 0, 0), Record(D(2020, 1, 23), 3, 0, None)]
    changes = diff_records(stored, incoming)
    assert [r.date for r in changes.updated] == [D(2020, 1, 22)]
    assert [r.date for r in changes.inserted] == [D(2020, 1, 23)]
    assert changes.unchanged == 0


def test_diff_null_to_value_is_an_update() -> None:
    stored = {D(2020, 1, 22): Record(D(2020, 1, 22), 1, 0, None)}
    changes = diff_records(stored, [Record(D(2020, 1, 22), 1, 0, 0)])
    assert len(changes.updated) == 1


def test_diff_refuses_incoming_data_lacking_stored_dates() -> None:
    stored = {d: Record(d, 1, 0, 0) for d in (D(2020, 1, 22), D(2020, 1, 23), D(2020, 1, 24))}
    with pytest.raises(HistoryShrinks, match=r"lacks 2 date\(s\).*2020-01-23\.\.2020-01-24"):
        diff_records(stored, [Record(D(2020, 1, 22), 1, 0, 0)])


def test_format_ranges_collapses_consecutive_days_and_limits_output() -> None:
    days = [D(2020, 1, 1), D(2020, 1, 2), D(2020, 1, 5)]
    assert format_ranges(days) == "2020-01-01..2020-01-02, 2020-01-05"
    many = [D(2020, 1, d) for d in range(1, 30, 2)]
    assert format_ranges(many, limit=2).endswith("and 13 more range(s)")
