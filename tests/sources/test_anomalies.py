"""The NYT's anomaly notes contract (docs/data-contract.md, "Anomaly notes"), rule by rule, on the
real file and on one-line changes of it: each failure names the source, line, column and value."""

from __future__ import annotations

import datetime as dt

import pytest

from covid_etl.errors import ParseError
from covid_etl.models import Anomaly
from covid_etl.sources.anomalies import parse_anomalies
from tests.helpers.data import ANOMALIES_CURRENT

TODAY = dt.date(2026, 1, 1)
HEADER = (
    "date,end_date,county,state,geoid,type,omit_from_rolling_average,"
    "omit_from_rolling_average_on_subgeographies,description"
)
WYOMING = (
    "2020-04-09,,,Wyoming,USA-56,cases,yes,,Wyoming began reporting probable cases and deaths."
)


def parse(*lines: str) -> list[Anomaly]:
    return parse_anomalies("\n".join((HEADER, *lines)) + "\n", today=TODAY)


def test_the_real_file_parses_into_615_notes_by_place() -> None:
    notes = parse_anomalies(ANOMALIES_CURRENT.read_text(), today=TODAY)
    assert len(notes) == 615
    assert sum(n.geoid == "USA" for n in notes) == 23
    assert sum(len(n.geoid) == 6 for n in notes) == 280
    assert sum(len(n.geoid) == 9 for n in notes) == 312
    assert sum(n.end_date is not None for n in notes) == 58
    assert sum(n.description is None for n in notes) == 7
    assert notes == sorted(notes, key=lambda n: (n.geoid, n.type, n.date))


def test_a_note_keeps_its_published_values_and_empty_ones_are_null() -> None:
    (note,) = parse(WYOMING)
    assert note == Anomaly(
        dt.date(2020, 4, 9), "USA-56", "cases", None, None, "Wyoming", "yes", None,
        "Wyoming began reporting probable cases and deaths.",
    )  # fmt: skip


def test_columns_are_found_by_name_and_extra_ones_ignored() -> None:
    reordered = "type,geoid,date,extra,end_date,county,state,description," + (
        "omit_from_rolling_average_on_subgeographies,omit_from_rolling_average"
    )
    text = f"{reordered}\ncases,USA-56,2020-04-09,x,,,Wyoming,Why.,,yes\n"
    (note,) = parse_anomalies(text, today=TODAY)
    assert (note.geoid, note.type, note.omit_from_rolling_average) == ("USA-56", "cases", "yes")


BROKEN = {
    "bad date": (WYOMING.replace("2020-04-09", "2020-4-9"), "date", "2020-4-9", "not an ISO"),
    "future date": (WYOMING.replace("2020-04-09", "2030-01-01"), "date", "2030-01-01", "future"),
    "bad end_date": (WYOMING.replace(",,,Wyoming", ",04/10/2020,,Wyoming"), "end_date",
                     "04/10/2020", "not an ISO"),
    "end before date": (WYOMING.replace(",,,Wyoming", ",2020-04-08,,Wyoming"), "end_date",
                        "2020-04-08", "end_date is before date"),
    "bad geoid": (WYOMING.replace("USA-56", "US-56"), "geoid", "US-56", "geoid is not"),
    "three-digit geoid": (WYOMING.replace("USA-56", "USA-560"), "geoid", "USA-560", "geoid"),
    "bad type": (WYOMING.replace(",cases,", ",hospital,"), "type", "hospital", "type is not"),
    "bad flag": (WYOMING.replace(",yes,,", ",Yes,,"), "omit_from_rolling_average", "Yes",
                 "flag is not yes or empty"),
    "bad sub flag": (WYOMING.replace(",yes,,", ",yes,no,"),
                     "omit_from_rolling_average_on_subgeographies", "no", "flag"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_rule_names_the_line_column_and_value(case: str) -> None:
    line, column, value, problem = BROKEN[case]
    with pytest.raises(ParseError) as caught:
        parse(WYOMING.replace("Wyoming began", "First"), line)
    error = caught.value
    assert (error.source, error.line, error.column, error.value) == ("anomalies", 3, column, value)
    assert problem in str(error)
    assert str(error).startswith("NYT anomalies CSV: ")


def test_a_second_note_for_one_place_measure_and_day_is_refused() -> None:
    with pytest.raises(
        ParseError, match=r"a second note for USA-56, cases on 2020-04-09 \(first on line 2\)"
    ):
        parse(WYOMING, WYOMING.replace("Wyoming began", "Again"))
    # The same day and place with another measure is another note (the real file has one).
    assert len(parse(WYOMING, WYOMING.replace(",cases,", ",deaths,"))) == 2


def test_missing_columns_are_named_together() -> None:
    text = "date,geoid,type\n2020-04-09,USA-56,cases\n"
    with pytest.raises(ParseError, match="end_date") as caught:
        parse_anomalies(text, today=TODAY)
    assert "description" in str(caught.value)


def test_a_file_without_notes_is_refused() -> None:
    with pytest.raises(ParseError, match="no notes after the header"):
        parse_anomalies(HEADER + "\n", today=TODAY)
    with pytest.raises(ParseError, match="empty"):
        parse_anomalies("", today=TODAY)


def test_an_empty_description_is_allowed() -> None:
    (note,) = parse(WYOMING.replace("Wyoming began reporting probable cases and deaths.", ""))
    assert note.description is None
