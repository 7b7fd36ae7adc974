from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covid_etl.errors import MissingColumns, ParseError
from covid_etl.sources import csv as parse
from covid_etl.sources.csv import csv_lines, decode_csv, parse_jhu, parse_nyt
from tests.helpers.data import JHU_ALL_COUNTRIES, JHU_CURRENT, NYT_CURRENT, jhu_history

# "Today" for the parser: fixed, after the last date in every fixture.
TODAY = dt.date(2024, 1, 31)
NYT_HEADER = "date,cases,deaths\n"
JHU_HEADER = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"


def test_parse_nyt_real_file_has_1100_sorted_rows() -> None:
    rows = parse_nyt(NYT_CURRENT.read_text(), today=TODAY)
    assert len(rows) == 1100
    assert rows[0].date == dt.date(2020, 1, 21)
    assert rows[-1].date == dt.date(2023, 1, 24)
    assert (rows[-1].cases, rows[-1].deaths) == (101795726, 1111991)


def test_parse_nyt_ignores_extra_columns_and_column_order() -> None:
    rows = parse_nyt("deaths,extra,date,cases\n5,x,2020-03-01,10\n", today=TODAY)
    assert (rows[0].date, rows[0].cases, rows[0].deaths) == (dt.date(2020, 3, 1), 10, 5)


def test_parse_nyt_missing_column_reports_all_missing_and_header() -> None:
    with pytest.raises(MissingColumns) as info:
        parse_nyt("date,total\n2020-01-21,1\n", today=TODAY)
    message = str(info.value)
    assert "NYT CSV is missing required column(s): cases, deaths" in message
    assert "(header was: date,total)" in message


@pytest.mark.parametrize(
    ("line", "column", "value", "problem"),
    [
        ("2020/01/22,1,0", "date", "2020/01/22", "not an ISO"),
        ("2020-02-30,1,0", "date", "2020-02-30", "not an ISO"),
        ("2020-01-22,-5,0", "cases", "-5", "negative"),
        ("2020-01-22,1,abc", "deaths", "abc", "not a non-negative integer"),
        ("2020-01-22,1.5,0", "cases", "1.5", "not a non-negative integer"),
        ("2020-01-22,,0", "cases", "", "not a non-negative integer"),
    ],
)
def test_parse_nyt_bad_cell_names_line_column_value(
    line: str, column: str, value: str, problem: str
) -> None:
    with pytest.raises(ParseError) as info:
        parse_nyt(NYT_HEADER + "2020-01-21,1,0\n" + line + "\n", today=TODAY)
    err = info.value
    assert (err.source, err.line, err.column, err.value) == ("nyt", 3, column, value)
    assert problem in str(err)
    assert str(err).startswith("NYT CSV:")
    assert f"line 3, column '{column}', value {value!r}" in str(err)


def test_parse_nyt_duplicate_date_names_both_lines() -> None:
    with pytest.raises(ParseError) as info:
        parse_nyt(NYT_HEADER + "2020-01-21,1,0\n2020-01-22,1,0\n2020-01-21,2,0\n", today=TODAY)
    assert info.value.line == 4
    assert "duplicate date (first seen on line 2)" in str(info.value)


def test_parse_nyt_short_row_is_an_error_with_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_nyt(NYT_HEADER + "2020-01-21,1\n", today=TODAY)
    assert info.value.line == 2


def test_parse_nyt_header_only_is_an_error() -> None:
    with pytest.raises(ParseError, match="no data rows"):
        parse_nyt(NYT_HEADER, today=TODAY)


def test_parse_nyt_empty_text_is_an_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_nyt("", today=TODAY)


def test_parse_jhu_reconstructed_file_has_816_us_rows() -> None:
    rows = parse_jhu(JHU_CURRENT.read_text(), today=TODAY)
    assert len(rows) == 816
    assert rows[0].date == dt.date(2020, 1, 22)
    assert rows[-1].date == dt.date(2022, 4, 16)


def test_parse_jhu_all_countries_file_keeps_only_us_national_rows() -> None:
    rows = parse_jhu(JHU_ALL_COUNTRIES.read_text(), today=TODAY)
    assert len(rows) == 420
    by_date = {r.date: r.recovered for r in rows}
    assert by_date[dt.date(2020, 12, 13)] == 6298082
    assert by_date[dt.date(2020, 12, 14)] == 0  # nulled later, by the transform


def test_parse_jhu_old_header_with_lat_long_is_accepted() -> None:
    rows = parse_jhu(jhu_history("2020-09-15").read_text(), today=TODAY)
    assert len(rows) == 238


def test_parse_jhu_quoted_country_with_comma_does_not_shift_columns() -> None:
    text = JHU_HEADER + '2020-01-22,"Korea, South",,1,0,0\n2020-01-22,US,,1,0,0\n'
    rows = parse_jhu(text, today=TODAY)
    assert [(r.date, r.recovered) for r in rows] == [(dt.date(2020, 1, 22), 0)]


def test_parse_jhu_blank_and_none_recovered_are_null() -> None:
    text = JHU_HEADER + "2020-01-22,US,,1,,0\n2020-01-23,US,,1,None,0\n"
    assert [r.recovered for r in parse_jhu(text, today=TODAY)] == [None, None]


def test_parse_jhu_province_rows_are_not_national() -> None:
    text = JHU_HEADER + "2020-01-22,US,Washington,1,0,0\n"
    with pytest.raises(ParseError, match="no US national rows"):
        parse_jhu(text, today=TODAY)


def test_parse_jhu_two_national_rows_for_one_date_is_an_error() -> None:
    text = JHU_HEADER + "2020-01-22,US,,1,0,0\n2020-01-22,US,,2,0,0\n"
    with pytest.raises(ParseError) as info:
        parse_jhu(text, today=TODAY)
    assert info.value.line == 3
    assert "two US national rows for one date" in str(info.value)


def test_parse_jhu_negative_recovered_names_column() -> None:
    with pytest.raises(ParseError) as info:
        parse_jhu(JHU_HEADER + "2020-01-22,US,,1,-3,0\n", today=TODAY)
    assert (info.value.column, info.value.value) == ("Recovered", "-3")
    assert str(info.value).startswith("JHU CSV:")


def test_parse_jhu_without_recovered_column_is_missing_columns() -> None:
    with pytest.raises(MissingColumns, match="Recovered"):
        parse_jhu("Date,Country/Region,Province/State,Confirmed\n2020-01-22,US,,1\n", today=TODAY)


def test_decode_csv_rejects_html_error_page() -> None:
    with pytest.raises(ParseError, match="HTML page, not CSV"):
        decode_csv(b"<!DOCTYPE html><html><body>Rate limited</body></html>", source="nyt")


def test_decode_csv_rejects_html_content_type() -> None:
    with pytest.raises(ParseError, match="text/html"):
        decode_csv(b"date,cases,deaths\n", source="jhu", content_type="text/html; charset=utf-8")


def test_decode_csv_strips_bom_and_reports_invalid_utf8_line() -> None:
    assert decode_csv("\ufeffdate\n".encode(), source="nyt") == "date\n"
    with pytest.raises(ParseError) as info:
        decode_csv(b"date,cases\n2020-01-21,\xff\n", source="nyt")
    assert info.value.line == 2


def test_parse_jhu_reports_true_line_number_deep_in_the_all_countries_file() -> None:
    lines = JHU_ALL_COUNTRIES.read_text().split("\n")
    target = next(i for i, text in enumerate(lines) if text.startswith("2020-06-01,US,,"))
    fields = lines[target].split(",")
    fields[4] = "12x"
    lines[target] = ",".join(fields)
    with pytest.raises(ParseError) as info:
        parse_jhu("\n".join(lines), today=TODAY)
    assert (info.value.line, info.value.column, info.value.value) == (
        target + 1,
        "Recovered",
        "12x",
    )


def test_parse_jhu_quoted_field_spanning_lines_falls_back_to_full_parse() -> None:
    text = (
        JHU_HEADER
        + '2020-01-22,"Korea,\nSouth",,1,0,0\n'
        + "2020-01-22,US,,1,0,0\n"
        + "2020-01-23,US,,2,bad,0\n"
    )
    with pytest.raises(ParseError) as info:
        parse_jhu(text, today=TODAY)
    assert (info.value.line, info.value.value) == (5, "bad")


def test_parse_jhu_accepts_crlf_line_endings() -> None:
    text = (JHU_HEADER + "2020-01-22,US,,1,7,0\n").replace("\n", "\r\n")
    assert [r.recovered for r in parse_jhu(text, today=TODAY)] == [7]


def test_parse_jhu_us_in_other_columns_is_not_a_us_row() -> None:
    text = JHU_HEADER + "2020-01-22,Canada,US border,1,0,0\n2020-01-22,US,,1,3,0\n"
    assert [r.recovered for r in parse_jhu(text, today=TODAY)] == [3]


def test_parse_nyt_accepts_tomorrow_and_refuses_the_day_after() -> None:
    """A source in another time zone may already be on tomorrow; later than that is an error."""
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    rows = parse_nyt(NYT_HEADER + f"2020-01-21,1,0\n{tomorrow},2,0\n", today=TODAY)
    assert rows[-1].date == TODAY + dt.timedelta(days=1)
    day_after = (TODAY + dt.timedelta(days=2)).isoformat()
    with pytest.raises(ParseError) as info:
        parse_nyt(NYT_HEADER + f"2020-01-21,1,0\n{day_after},2,0\n", today=TODAY)
    err = info.value
    assert (err.source, err.line, err.column, err.value) == ("nyt", 3, "date", day_after)
    assert str(err) == (
        "NYT CSV: date is in the future: after 2024-02-01, today (UTC) plus one day "
        "(line 3, column 'date', value '2024-02-02')"
    )


def test_parse_jhu_future_date_on_a_us_row_names_line_column_value() -> None:
    text = JHU_HEADER + "2020-01-22,US,,1,0,0\n2099-01-01,Canada,,1,0,0\n2099-01-01,US,,1,0,0\n"
    with pytest.raises(ParseError) as info:
        parse_jhu(text, today=TODAY)
    err = info.value
    assert (err.source, err.line, err.column, err.value) == ("jhu", 4, "Date", "2099-01-01")
    assert "date is in the future" in str(err)


def test_check_not_future_is_reusable_for_any_source() -> None:
    from covid_etl.sources.csv import check_not_future

    assert check_not_future(TODAY, today=TODAY, source="x", line=2, column="d") == TODAY
    with pytest.raises(ParseError, match=r"^x CSV: date is in the future.*line 9, column 'd'"):
        check_not_future(dt.date(2099, 1, 1), today=TODAY, source="x", line=9, column="d")


def test_parse_nyt_huge_field_names_source_and_line() -> None:
    text = NYT_HEADER + "2020-01-21,1,0\n2020-01-22," + "9" * 10_000_000 + ",0\n"
    with pytest.raises(ParseError) as info:
        parse_nyt(text, today=TODAY)
    assert (info.value.source, info.value.line) == ("nyt", 3)
    assert str(info.value).startswith("NYT CSV: a field is longer than the limit of 131072")


@pytest.mark.parametrize("quoted", [False, True])
def test_parse_jhu_huge_field_names_source_and_line(quoted: bool) -> None:
    # A quoted field spanning lines sends the parser down its slow path; both must say where.
    spanning = '2020-01-21,"Ca\nnada",,1,0,0\n' if quoted else ""
    text = JHU_HEADER + spanning + "2020-01-22,US,," + "9" * 10_000_000 + ",0,0\n"
    with pytest.raises(ParseError) as info:
        parse_jhu(text, today=TODAY)
    assert (info.value.source, info.value.line) == ("jhu", 4 if quoted else 2)
    assert str(info.value).startswith("JHU CSV: a field is longer than the limit of 131072")


def test_parse_nyt_nul_byte_in_a_count_names_line_column_value() -> None:
    with pytest.raises(ParseError) as info:
        parse_nyt(NYT_HEADER + "2020-01-21,1\x002,0\n", today=TODAY)
    err = info.value
    assert (err.line, err.column, err.value) == (2, "cases", "1\x002")
    assert "count is not a non-negative integer" in str(err)


# -- reading lines in slices ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet='ab,"\n\r\x0c\u2028é', max_size=60),
    slice_size=st.integers(min_value=1, max_value=8),
)
def test_csv_lines_reads_what_stringio_reads(text: str, slice_size: int) -> None:
    """Slices of a few characters cut after a newline, against StringIO over the whole text:
    the same lines (CR, CRLF and LF endings, a CRLF next to a cut, characters that
    str.splitlines would split on) and so the same csv rows and line numbers."""
    original = parse.LINE_SLICE
    parse.LINE_SLICE = slice_size
    try:
        lines = list(csv_lines(text))
    finally:
        parse.LINE_SLICE = original
    assert lines == list(io.StringIO(text, newline=""))
    assert "".join(lines) == text


def test_csv_lines_on_the_real_states_file_gives_the_same_rows_and_line_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.helpers.data import STATES_REAL

    monkeypatch.setattr(parse, "LINE_SLICE", 4096)  # about 240 slices
    text = STATES_REAL.read_text()
    ours, theirs = csv.reader(csv_lines(text)), csv.reader(io.StringIO(text, newline=""))
    for row in theirs:
        assert next(ours) == row and ours.line_num == theirs.line_num
    assert next(ours, None) is None
