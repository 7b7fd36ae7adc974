"""The run record's one dict form: every field named once, a lossless round trip, and the fields
only the store keeps left out of what the API and the CLI show."""

from __future__ import annotations

import dataclasses
import datetime as dt

from covid_etl.models import (
    PRIVATE_RUN_FIELDS,
    PUBLIC_RUN_FIELDS,
    RUN_FIELDS,
    UNSTORED_RUN_FIELDS,
    RunRecord,
    RunStatus,
    SeriesCounts,
    SourceMeta,
    Stage,
    Trigger,
)


def full_run() -> RunRecord:
    """A run with every field away from its default."""
    return RunRecord(
        id=7,
        trigger=Trigger.EVENT,
        environment="testing",
        started_at=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        status=RunStatus.FAILED,
        finished_at=dt.datetime(2024, 5, 1, 12, 1, tzinfo=dt.UTC),
        failed_stage=Stage.VALIDATE,
        error="NYT CSV: bad date (line 3)",
        warnings=["cases decreased on 2021-06-04"],
        initial_load=True,
        inserted=3,
        updated=2,
        unchanged=1,
        data_through=dt.date(2022, 4, 16),
        sources=[SourceMeta("nyt", "https://example.invalid/us.csv", 200, 10, "ab", '"e"')],
        recovered_from=6,
        notification_status="delivered",
        pid=4242,
        host="worker-1",
        removed=4,
        removed_dates=["2021-01-01..2021-01-04"],
        event_id="evt-1",
    )


def test_run_fields_name_every_field_of_the_run_record_once() -> None:
    named = RUN_FIELDS + UNSTORED_RUN_FIELDS
    assert sorted(named) == sorted(f.name for f in dataclasses.fields(RunRecord))
    assert len(set(named)) == len(named)


def test_other_series_counts_are_shown_by_name_and_today_s_shape_is_unchanged() -> None:
    run = full_run()
    assert "series" not in run.to_dict() and "regions" not in run.to_dict()
    run.set_counts("regions", SeriesCounts(inserted=3, data_through=dt.date(2021, 1, 2)))
    shown = run.to_dict()
    assert shown["regions"] == {
        "inserted": 3, "updated": 0, "unchanged": 0, "removed": 0, "data_through": "2021-01-02"
    }  # fmt: skip
    assert list(shown)[: len(PUBLIC_RUN_FIELDS)] == list(PUBLIC_RUN_FIELDS)
    run.set_counts("national", SeriesCounts(1, 2, 3, 0, dt.date(2021, 1, 3)))
    assert (run.inserted, run.updated, run.unchanged, run.data_through) == (
        1, 2, 3, dt.date(2021, 1, 3)
    )  # fmt: skip
    assert run.counts("regions") == SeriesCounts(inserted=3, data_through=dt.date(2021, 1, 2))


def test_run_record_round_trips_through_its_full_dict() -> None:
    run = full_run()
    assert RunRecord.from_dict(run.to_dict(RUN_FIELDS)) == run


def test_run_record_public_dict_leaves_out_process_and_event() -> None:
    shown = full_run().to_dict()
    assert not set(shown) & set(PRIVATE_RUN_FIELDS)
    assert shown["started_at"] == "2024-05-01T12:00:00+00:00"
    assert shown["data_through"] == "2022-04-16"
    assert shown["failed_stage"] == "validate"
    assert shown["sources"][0]["etag"] == '"e"'


def test_run_record_from_dict_takes_native_dates_and_fills_defaults() -> None:
    started = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    run = RunRecord.from_dict(
        {"id": 1, "trigger": "manual", "environment": "e", "status": "running",
         "started_at": started, "data_through": dt.date(2022, 4, 16), "failed_stage": ""}
    )  # fmt: skip
    assert (run.started_at, run.data_through, run.failed_stage) == (
        started,
        dt.date(2022, 4, 16),
        None,
    )
    assert run.warnings == [] and run.pid is None and run.removed == 0
