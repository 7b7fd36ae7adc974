"""Parsing and validating NYT us-states.csv, the population table and the derived figures."""

from __future__ import annotations

import datetime as dt

import pytest

from covid_etl.errors import HistoryShrinks, MissingColumns, ParseError
from covid_etl.models import RunRecord, RunStatus, SeriesCounts, StateRecord, Trigger
from covid_etl.notify.render import render
from covid_etl.run.summary import run_summary_json
from covid_etl.series.diff import Changes, diff_series
from covid_etl.series.states import (
    STATES,
    decrease_warnings,
    load_population,
    parse_population,
    per_100k,
)
from covid_etl.sources.nyt_states import parse_states
from tests.helpers.data import POPULATION_REAL, STATES_REAL

TODAY = dt.date(2021, 7, 9)
D1, D2 = dt.date(2021, 7, 1), dt.date(2021, 7, 2)


def diff_states(
    stored: list[StateRecord], incoming: list[StateRecord], *, accept_removals: bool = False
) -> Changes:
    """The per-state diff over ``stored`` as the store would hand it over."""
    fips = sorted({r.fips for r in stored})
    return diff_series(STATES, incoming, fips, lambda f: [r for r in stored if r.fips == f],
                       accept_removals=accept_removals)  # fmt: skip


def parse(text: str, today: dt.date = TODAY) -> list[StateRecord]:
    return parse_states(text, today=today)


def test_real_file_parses_to_27129_rows_of_55_jurisdictions() -> None:
    rows = parse(STATES_REAL.read_text())
    assert len(rows) == 27_129
    assert len({r.fips for r in rows}) == 55
    # In the stored table's key order: by fips, then by date.
    assert rows[0] == StateRecord(dt.date(2020, 3, 13), "01", "Alabama", 6, 0)
    assert [(r.fips, r.date) for r in rows] == sorted((r.fips, r.date) for r in rows)
    assert min(r.date for r in rows) == dt.date(2020, 1, 21)
    # The national series is not the sum of the states (national 33,843,194 on that day).
    assert sum(r.cases for r in rows if r.date == dt.date(2021, 7, 8)) == 33_769_600


def test_columns_are_found_by_name_and_extra_columns_ignored() -> None:
    text = "deaths,extra,fips,date,state,cases\n3,x,06,2021-07-01,California,10\n"
    assert parse(text) == [StateRecord(D1, "06", "California", 10, 3)]


def test_all_missing_columns_are_reported_together() -> None:
    with pytest.raises(MissingColumns) as caught:
        parse("date,state,cases\n2021-07-01,California,1\n")
    assert caught.value.missing == ["deaths", "fips"]
    assert caught.value.message.startswith("NYT states CSV is missing required column(s)")


@pytest.mark.parametrize(
    ("row", "column", "value", "problem"),
    [
        ("2021/07/01,California,06,1,0", "date", "2021/07/01", "not an ISO"),
        ("2021-07-11,California,06,1,0", "date", "2021-07-11", "in the future"),
        ("2021-07-01,California,6,1,0", "fips", "6", "two-digit"),
        ("2021-07-01,California,006,1,0", "fips", "006", "two-digit"),
        ("2021-07-01,California,06,-1,0", "cases", "-1", "negative"),
        ("2021-07-01,California,06,1,1.0", "deaths", "1.0", "non-negative integer"),
        ("2021-07-01,California,06,,0", "cases", "", "non-negative integer"),
        # Digits of other scripts pass str.isdigit() and int(): they are not the contract's.
        ("2021-07-01,California,06,\u0661\u0662,0", "cases", "\u0661\u0662", "integer"),
        ("2021-07-01,California,06,1,\uff13", "deaths", "\uff13", "integer"),
        ("2021-07-01,S\u00e3o Tom\u00e9,72,\u0663,0", "cases", "\u0663", "integer"),
    ],
)
def test_a_bad_value_names_source_line_column_and_value(
    row: str, column: str, value: str, problem: str
) -> None:
    text = f"date,state,fips,cases,deaths\n2021-06-30,California,06,1,0\n{row}\n"
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column, error.value) == (3, column, value)
    assert problem in error.message and error.message.startswith("NYT states CSV: ")


def test_tomorrow_is_allowed_the_day_after_is_not() -> None:
    tomorrow = "date,state,fips,cases,deaths\n2021-07-10,California,06,1,0\n"
    assert parse(tomorrow)[0].date == dt.date(2021, 7, 10)
    with pytest.raises(ParseError, match="future"):
        parse(tomorrow, today=dt.date(2021, 7, 8))


def test_two_rows_for_one_date_and_fips_are_refused() -> None:
    text = (
        "date,state,fips,cases,deaths\n2021-07-01,California,06,1,0\n2021-07-01,California,06,2,0\n"
    )
    with pytest.raises(
        ParseError, match=r"second row for fips 06 on 2021-07-01 \(the first is on line 2\)"
    ):
        parse(text)


def test_a_fips_keeps_one_name() -> None:
    text = "date,state,fips,cases,deaths\n2021-07-01,California,06,1,0\n2021-07-02,Calif.,06,2,0\n"
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert caught.value.line == 3 and caught.value.column == "state"
    assert "named 'California' on line 2 but 'Calif.' here" in caught.value.message


def test_empty_and_header_only_files_are_refused() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse("")
    with pytest.raises(ParseError, match="no data rows"):
        parse("date,state,fips,cases,deaths\n")


def test_decreases_give_one_line_per_state_with_both_columns() -> None:
    rows = [
        StateRecord(D1, "06", "California", 10, 5),
        StateRecord(D2, "06", "California", 8, 4),
        StateRecord(D1, "36", "New York", 1, 1),
        StateRecord(D2, "36", "New York", 2, 1),
    ]
    assert decrease_warnings(rows) == [
        "states: California (06): cumulative cases decrease on 1 day(s): 2021-07-02 (10 -> 8); "
        "deaths decrease on 1 day(s): 2021-07-02 (5 -> 4)"
    ]


def test_diff_counts_inserted_updated_unchanged_by_date_and_fips() -> None:
    old = [StateRecord(D1, "06", "California", 1, 0), StateRecord(D1, "36", "New York", 1, 0)]
    new = [
        StateRecord(D1, "06", "California", 1, 0),
        StateRecord(D1, "36", "New York", 2, 0),
        StateRecord(D2, "06", "California", 3, 0),
    ]
    changes = diff_states(old, new)
    assert (changes.inserted, changes.updated, changes.unchanged) == ([new[2]], [new[1]], 1)


def test_diff_refuses_to_lose_stored_rows_unless_accepted() -> None:
    old = [StateRecord(D1, "06", "California", 1, 0), StateRecord(D2, "06", "California", 1, 0)]
    with pytest.raises(
        HistoryShrinks, match=r"lacks 1 \(date, fips\) row\(s\).*fips 06: 2021-07-02"
    ):
        diff_states(old, old[:1])
    accepted = diff_states(old, old[:1], accept_removals=True)
    assert accepted.removed == [("06", D2)]  # keys in the table's order: (fips, date)


def test_population_has_52_estimates_and_no_estimate_for_three_territories() -> None:
    table = parse_population(POPULATION_REAL.read_text())
    assert load_population() == table
    known = {f: j for f, j in table.items() if j.population is not None}
    assert len(known) == 52
    # The README's check: the 50 states and DC add up to the Vintage 2019 US estimate.
    assert sum(j.population for f, j in known.items() if f != "72") == 328_239_523  # type: ignore[misc]
    assert table["06"].population == 39_512_223
    assert [table[f].population for f in ("66", "69", "78")] == [None, None, None]
    states_fips = {r.split(",")[2] for r in STATES_REAL.read_text().splitlines()[1:]}
    assert states_fips == set(table)


def test_per_100k_is_none_without_a_population_never_zero() -> None:
    assert per_100k(100, 200_000) == 50.0
    assert per_100k(100, None) is None
    assert per_100k(None, 200_000) is None


def _run(states: SeriesCounts | None, status: RunStatus = RunStatus.SUCCEEDED) -> RunRecord:
    now = dt.datetime(2021, 7, 9, tzinfo=dt.UTC)
    return RunRecord(id=3, trigger=Trigger.MANUAL, environment="testing", started_at=now,
                     finished_at=now, status=status, states=states)  # fmt: skip


def test_run_summary_json_has_states_or_null() -> None:
    counts = SeriesCounts(
        inserted=440, updated=2, unchanged=26687, data_through=dt.date(2021, 7, 8)
    )
    assert run_summary_json(_run(counts))["states"] == {
        "inserted": 440, "updated": 2, "unchanged": 26687, "data_through": "2021-07-08"
    }  # fmt: skip
    assert run_summary_json(_run(None))["states"] is None
    assert _run(counts).to_dict()["states"]["removed"] == 0
    assert _run(None).to_dict()["states"] is None


def test_notifications_report_both_series() -> None:
    counts = SeriesCounts(
        inserted=440, updated=2, unchanged=26687, data_through=dt.date(2021, 7, 8)
    )
    body = render(_run(counts), None).body
    assert (
        "\nStates: 442 row(s) changed (440 inserted, 2 updated, 26687 unchanged); data through "
        "2021-07-08.\n" in body
    )
    assert "States" not in render(_run(None), None).body
    failed = render(_run(SeriesCounts(data_through=dt.date(2021, 6, 30)), RunStatus.FAILED), None)
    assert "States and territories unchanged; through 2021-06-30." in failed.body


def test_diff_by_fips_reads_one_jurisdiction_at_a_time_and_finds_a_vanished_one() -> None:
    stored = [StateRecord(D1, "06", "California", 1, 0), StateRecord(D1, "66", "Guam", 1, 0)]
    incoming = [
        StateRecord(D1, "06", "California", 2, 0),
        StateRecord(D2, "06", "California", 3, 0),
    ]
    asked: list[str] = []

    def rows_of(fips: str | None) -> list[StateRecord]:
        assert fips is not None
        asked.append(fips)
        return [r for r in stored if r.fips == fips]

    with pytest.raises(HistoryShrinks, match="fips 66: 2021-07-01"):
        diff_series(STATES, incoming, ["06", "66"], rows_of)
    assert asked == ["06", "66"]
    changes = diff_series(STATES, incoming, ["06", "66"], rows_of, accept_removals=True)
    assert (changes.inserted, changes.updated, changes.unchanged) == (
        [incoming[1]],
        [incoming[0]],
        0,
    )
    assert changes.removed == [("66", D1)]
