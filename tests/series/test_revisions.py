"""How figures settled (series/revisions.py), on hand-made change-log entries: each definition of
the module docstring, one test each, and the shares still revised k days later."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from covid_etl.models import ChangeEntry, RunRecord, Trigger
from covid_etl.series.revisions import (
    FIELDS,
    SETTLE_DAYS,
    DateHistory,
    Settled,
    StillRevised,
    as_of_by_run,
    page_of,
    report,
    settle,
    still_revised,
    to_csv,
    window,
)

DAY = dt.date(2021, 3, 1)


def day(n: int) -> dt.date:
    """``n`` days after DAY."""
    return DAY + dt.timedelta(days=n)


# Run id -> as-of date: run r loaded day(10 * (r - 1)); run 9 recorded none.
AS_OF: dict[int, dt.date | None] = {r: day(10 * (r - 1)) for r in range(1, 9)} | {9: None}


def values(cases: int | None, deaths: int | None = 0, **more: Any) -> dict[str, Any]:
    return {"cases": cases, "deaths": deaths, **more}


def inserted(date: dt.date, run: int, cases: int | None, deaths: int | None = 0) -> ChangeEntry:
    return ChangeEntry("national", date, "inserted", None, values(cases, deaths), run)


def updated(date: dt.date, run: int, before: dict[str, Any], after: dict[str, Any]) -> ChangeEntry:
    return ChangeEntry("national", date, "updated", before, after, run)


def removed(date: dt.date, run: int, before: dict[str, Any]) -> ChangeEntry:
    return ChangeEntry("national", date, "removed", before, None, run)


def only(entries: list[ChangeEntry], measure: str = "cases") -> DateHistory:
    settled = settle(entries, AS_OF, measure)
    assert settled.skipped == [] and len(settled.dates) == 1
    return settled.dates[0]


def test_settle_dates_a_first_publication_by_the_inserting_runs_as_of_date_and_value() -> None:
    got = only([inserted(DAY, 3, 100, 7)])
    assert got == DateHistory(DAY, day(20), 100, 100, 0, None, 0)
    assert only([inserted(DAY, 3, 100, 7)], "deaths").first_value == 7


def test_settle_counts_each_run_that_changed_the_value_dated_by_its_as_of_date() -> None:
    got = only(
        [
            inserted(DAY, 1, 100),
            updated(DAY, 2, values(100), values(110)),
            updated(DAY, 4, values(110), values(90)),
        ]
    )
    assert got == DateHistory(DAY, day(0), 100, 90, 2, day(30), 30)


def test_settle_ignores_revisions_of_another_figure() -> None:
    entries = [
        inserted(DAY, 1, 100, 5),
        updated(DAY, 2, values(100, 5, recovered=None), values(100, 5, recovered=40)),
        updated(DAY, 3, values(100, 5), values(100, 6)),  # deaths only
        updated(DAY, 5, values(100, 6, name="Old"), values(100, 6, name="New")),
    ]
    assert only(entries) == DateHistory(DAY, day(0), 100, 100, 0, None, 0)
    assert only(entries, "deaths") == DateHistory(DAY, day(0), 5, 6, 1, day(20), 20)


def test_settle_final_value_is_the_last_entrys_after_value() -> None:
    got = only([inserted(DAY, 1, 100), updated(DAY, 2, values(100), values(120))])
    assert (got.first_value, got.final_value) == (100, 120)


def test_settle_reports_a_removed_date_as_a_revision_to_null() -> None:
    got = only([inserted(DAY, 1, 100), removed(DAY, 3, values(100))])
    assert got == DateHistory(DAY, day(0), 100, None, 1, day(20), 20)


def test_settle_counts_an_insertion_after_a_removal_as_one_more_revision() -> None:
    got = only([inserted(DAY, 1, 100), removed(DAY, 2, values(100)), inserted(DAY, 4, 100)])
    assert got == DateHistory(DAY, day(0), 100, 100, 2, day(30), 30)


def test_settle_skips_dates_first_published_by_a_run_without_an_as_of_date() -> None:
    entries = [
        inserted(day(0), 9, 1),  # run 9 recorded no as-of date
        inserted(day(1), 42, 1),  # run 42 is not among the runs at all
        inserted(day(2), 2, 1),
        updated(day(2), 3, values(1), values(2)),
    ]
    settled = settle(entries, AS_OF, "cases")
    assert settled.skipped == [day(0), day(1)]
    assert [d.date for d in settled.dates] == [day(2)]


def test_settle_skips_dates_whose_first_publication_is_not_in_the_log() -> None:
    # Rows stored before the change log existed: their first entry is a revision.
    settled = settle([updated(DAY, 2, values(1), values(2))], AS_OF, "cases")
    assert settled == Settled([], [DAY])


def test_settle_skips_dates_revised_by_a_run_without_an_as_of_date() -> None:
    entries = [inserted(DAY, 1, 1), updated(DAY, 9, values(1), values(2))]
    assert settle(entries, AS_OF, "cases") == Settled([], [DAY])
    # A run without an as-of date that changed another figure does not matter.
    unchanged = [inserted(DAY, 1, 1), updated(DAY, 9, values(1, 0), values(1, 3))]
    assert only(unchanged).revisions == 0


def test_settle_takes_the_entries_in_any_order_and_sorts_dates() -> None:
    entries = [
        inserted(day(1), 1, 10),
        updated(day(1), 2, values(10), values(11)),
        updated(day(1), 6, values(11), values(12)),
        inserted(day(0), 1, 5),
        inserted(day(5), 3, 50),
    ]
    shuffled = entries[:]
    random.Random(7).shuffle(shuffled)
    settled = settle(shuffled, AS_OF, "cases")
    assert settled == settle(entries, AS_OF, "cases")
    assert [d.date for d in settled.dates] == [day(0), day(1), day(5)]
    assert settled.dates[1] == DateHistory(day(1), day(0), 10, 12, 2, day(50), 50)


def test_settle_counts_a_null_value_as_a_value() -> None:
    got = only([inserted(DAY, 1, 100, None), updated(DAY, 2, values(100, None), values(100, 3))],
               "deaths")  # fmt: skip
    assert got == DateHistory(DAY, day(0), None, 3, 1, day(10), 10)


def histories(*lags: int) -> list[DateHistory]:
    """One date per lag (0: never revised)."""
    return [
        DateHistory(day(i), DAY, 1, 1, int(lag > 0), day(lag) if lag else None, lag)
        for i, lag in enumerate(lags)
    ]


def test_still_revised_counts_dates_whose_lag_is_k_days_or_more() -> None:
    got = still_revised(histories(0, 0, 1, 3, 7, 13, 14, 30, 59, 90))
    assert [(s.days, s.dates) for s in got] == [
        (1, 8), (3, 7), (7, 6), (14, 4), (30, 3), (60, 1), (90, 1),
    ]  # fmt: skip
    assert [s.share for s in got] == [0.8, 0.7, 0.6, 0.4, 0.3, 0.1, 0.1]
    assert [s.days for s in got] == list(SETTLE_DAYS)


def test_still_revised_rounds_shares_to_four_decimals_and_has_none_without_dates() -> None:
    assert still_revised(histories(0, 0, 5), days=(1,)) == [StillRevised(1, 1, 0.3333)]
    assert still_revised([], days=(1, 3)) == [StillRevised(1, 0, None), StillRevised(3, 0, None)]


def test_window_keeps_the_dates_and_the_skipped_dates_of_the_range() -> None:
    settled = Settled(histories(0, 1, 2, 3), [day(1), day(5)])
    got = window(settled, day(1), day(2))
    assert [d.date for d in got.dates] == [day(1), day(2)] and got.skipped == [day(1)]
    assert window(settled) == settled
    assert window(settled, start=day(3)).skipped == [day(5)]


def test_report_pages_the_dates_and_takes_the_shares_over_the_whole_range() -> None:
    settled = Settled(histories(0, 5, 40, 0, 100), [day(9)])
    got = report(settled, "06", "deaths", limit=2, offset=1)
    assert list(got) == [
        "place", "measure", "dates", "settled_after", "total", "skipped", "limit", "offset",
    ]  # fmt: skip
    assert (got["place"], got["measure"], got["total"], got["skipped"]) == ("06", "deaths", 5, 1)
    assert (got["limit"], got["offset"]) == (2, 1)
    assert [d["date"] for d in got["dates"]] == [day(1).isoformat(), day(2).isoformat()]
    assert got["dates"][0] == {
        "date": day(1).isoformat(),
        "first_published": DAY.isoformat(),
        "first_value": 1,
        "final_value": 1,
        "revisions": 1,
        "last_revised": day(5).isoformat(),
        "lag_days": 5,
    }
    assert got["settled_after"][0] == {"days": 1, "still_revised": 3, "share_still_revised": 0.6}
    whole = report(settled, "national", "cases", start=day(3))
    assert (whole["total"], whole["limit"], whole["skipped"]) == (2, 2, 1)
    assert whole["settled_after"][-1]["share_still_revised"] == 0.5


def test_page_of_and_to_csv_write_the_fields_with_null_as_an_empty_cell() -> None:
    dates = histories(0, 3, 7)
    assert page_of(dates, None, 1) == dates[1:] and page_of(dates, 1, 1) == dates[1:2]
    lines = to_csv(dates[:2]).splitlines()
    assert lines[0] == ",".join(FIELDS)
    assert lines[1:] == [
        f"{day(0)},{DAY},1,1,0,,0",
        f"{day(1)},{DAY},1,1,1,{day(3)},3",
    ]


def test_as_of_by_run_maps_each_run_id_to_its_as_of_date() -> None:
    started = dt.datetime(2021, 3, 1, tzinfo=dt.UTC)
    runs = [
        RunRecord(id=4, trigger=Trigger.REPLAY, environment="t", started_at=started, as_of=DAY),
        RunRecord(id=5, trigger=Trigger.MANUAL, environment="t", started_at=started),
    ]
    assert as_of_by_run(runs) == {4: DAY, 5: None}
