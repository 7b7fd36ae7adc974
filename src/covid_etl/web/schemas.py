"""Response shapes, for the OpenAPI document only: the routes render their JSON themselves (from
cached bytes), and the property-based test checks real responses against these models.

The document is the API's data dictionary, so every model and field has a description
(``tests/web/test_openapi_descriptions.py``): a field shared by several models is described
once, in a constant or a mapping here, or in its series' column declaration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from covid_etl.series.registry import NATIONAL, STATES
from covid_etl.series.spec import Series


def record_model(name: str, series: Series, doc: str) -> type[BaseModel]:
    """The model of a series' API records, from the columns its declaration documents; ``doc``
    says what one record is."""
    fields: dict[str, Any] = {}
    for column in series.record_columns:
        kind: Any = str if column.type is dt.date else column.type
        examples = [column.example] if column.example else None
        annotation = kind | None if column.nullable else kind
        fields[column.name] = (annotation, Field(description=column.doc, examples=examples))
    model: type[BaseModel] = create_model(name, __doc__=doc, **fields)
    return model


def column_doc(series: Series, name: str) -> str:
    """The description a series' declaration gives its API column ``name``."""
    return next(c.doc for c in series.record_columns if c.name == name)


# The paging fields of every records page (national, one state's, any declared series').
PAGE_TOTAL = "Rows in the start/end range, before limit and offset."
PAGE_LIMIT = "The limit applied (the range's total when none was given)."
PAGE_OFFSET = "Rows of the range skipped before this page (the offset parameter, 0 by default)."

RecordOut = record_model(
    "RecordOut",
    NATIONAL,
    "One day of the national series: the NYT's cumulative cases and deaths, JHU's cumulative "
    "recoveries, and the daily values and 7-day averages derived from them over the full "
    "stored series (a window or a page never changes a value).",
)


class RecordsPage(BaseModel):
    """One page of the national series, by date (/api/v1/records)."""

    records: list[RecordOut] = Field(  # type: ignore[valid-type]  # built from the declaration
        description="The page's records, in date order: one per NYT date."
    )
    total: int = Field(description=PAGE_TOTAL)
    limit: int = Field(description=PAGE_LIMIT)
    offset: int = Field(description=PAGE_OFFSET)


class Totals(BaseModel):
    """The cumulative figures of the latest record (the day data_through)."""

    cases: int | None = Field(
        description="Cumulative cases (NYT) on data_through; null on an empty store."
    )
    deaths: int | None = Field(
        description="Cumulative deaths (NYT) on data_through; null on an empty store."
    )
    recovered: int | None = Field(
        description="Cumulative recoveries (JHU) on data_through; null when that day has none "
        "(JHU stopped reporting US recoveries on 2020-12-14 and its file ends on 2022-04-16; "
        "recovered_last_reported gives the last figure) and on an empty store."
    )


class DatedValue(BaseModel):
    """The last day with a recovered figure, and that figure."""

    date: str = Field(
        description="The last day whose recovered is not null, YYYY-MM-DD (2020-12-13 on the "
        "shipped files).",
        examples=["2020-12-13"],
    )
    value: int = Field(description="Cumulative recoveries (JHU) on that day.")


# What each field of a run record means: RunOut shows them all (in the order of
# covid_etl.models.PUBLIC_RUN_FIELDS), RunBrief and HealthRun a few of them.
RUN_DOCS = {
    "id": "The run's id in the run history, assigned in the order runs are recorded.",
    "trigger": "What started the run: manual (covid-etl run, whose --trigger can record "
    "another), schedule (covid-etl serve's schedule, or the AWS stack's EventBridge schedule), "
    "event (an AWS invocation other than the schedule), or replay (one archived daily version "
    "loaded by covid-etl replay).",
    "environment": "The deployment's label (COVID_ETL_ENVIRONMENT, production by default; on "
    "AWS, the invoking event's environment, e.g. testing).",
    "status": "running (not finished), succeeded, failed, or interrupted (its process stopped "
    "before it finished; the next run marks it so).",
    "started_at": "When the run started: ISO 8601 date and time in UTC (+00:00).",
    "finished_at": "When the run ended, ISO 8601 in UTC; for an interrupted run, when the next "
    "run marked it. Null while it is running.",
    "failed_stage": "The stage a failed run stopped in: open, lock, extract, validate, "
    "transform or load. Null unless status is failed.",
    "error": "Why the run failed, or that it was interrupted: one message, secrets masked. "
    "Null for a running or succeeded run.",
    "warnings": "What the run found but loaded anyway, one message each: a cumulative value "
    "that decreases, JHU no longer reporting recoveries, JHU ending before the NYT, the "
    "per-state decreases. Empty when there is nothing to say.",
    "initial_load": "True for the run that loaded an empty store (no national row stored "
    "before it); false for every other run, and for a failed one.",
    "inserted": "National series: dates the run added (rows). 0 for a failed run.",
    "updated": "National series: stored dates whose cases, deaths or recovered the run changed "
    "because a source revised them. 0 for a failed run.",
    "unchanged": "National series: stored dates the run left as they were (all of them when "
    "every source was unchanged since the last load). 0 for a failed run.",
    "removed": "National series: stored dates the run deleted because the sources no longer "
    "have them; 0 unless the removals were accepted (covid-etl run --accept-removals, or a "
    "replayed version, which is the authority for its day).",
    "removed_dates": "The removed dates as ranges, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD; empty "
    "when removed is 0.",
    "data_through": "The national series' latest date after the run, YYYY-MM-DD; for a failed "
    "run, the latest the store still holds. Null when nothing is stored.",
    "as_of": "The day whose data the run loaded, YYYY-MM-DD: a live run's UTC date when it "
    "started, a replayed version's date (trigger replay); null for runs recorded before "
    "schema 8. The as_of parameter of the data endpoints picks runs by it.",
    "states": "What the run did to the per-state series; null when the states source is off "
    "(COVID_ETL_STATES_URL=off) or for runs recorded before the states were added.",
    "sources": "The source files the run read, one entry each, with what was downloaded.",
    "recovered_from": "The id of the failed or interrupted run just before this one, whose "
    "missed changes this run's full comparison with the sources makes good; null when the "
    "previous run succeeded or there was none.",
    "notification_status": "What became of the run's notifications, in words: e.g. delivered "
    "to 2 channel(s), or how many channels are undelivered and retried by the next run, and "
    "why. Null when no channel is configured (COVID_ETL_NOTIFY empty).",
}


class RunBrief(BaseModel):
    """The short form of a run: its outcome and the national series' counts."""

    id: int = Field(description=RUN_DOCS["id"])
    status: str = Field(description=RUN_DOCS["status"])
    trigger: str = Field(description=RUN_DOCS["trigger"])
    started_at: str = Field(description=RUN_DOCS["started_at"])
    finished_at: str | None = Field(description=RUN_DOCS["finished_at"])
    inserted: int = Field(description=RUN_DOCS["inserted"])
    updated: int = Field(description=RUN_DOCS["updated"])
    unchanged: int = Field(description=RUN_DOCS["unchanged"])


class Freshness(BaseModel):
    """How old the data and the last successful run are."""

    data_age_days: int | None = Field(
        description="Days from data_through to today's UTC date (counted from today with as_of "
        "too); null on an empty store."
    )
    last_success_at: str | None = Field(
        description="When the last successful run finished, ISO 8601 in UTC (with as_of: when "
        "the run that answered finished); null before the first success."
    )


class Summary(BaseModel):
    """The national series at a glance (/api/v1/summary): with as_of, as it stood that day."""

    data_through: str | None = Field(
        description="The national series' latest date, YYYY-MM-DD; null on an empty store."
    )
    latest: RecordOut | None = Field(  # type: ignore[valid-type]  # built from the declaration
        description="The record of data_through, as /api/v1/records gives it; null on an "
        "empty store."
    )
    totals: Totals = Field(description="The latest record's cumulative figures.")
    recovered_last_reported: DatedValue | None = Field(
        description="The last day with a recovered figure, and the figure; null if no day has one."
    )
    last_run: RunBrief | None = Field(
        description="The most recent run whatever its outcome (status running while one is "
        "going); with as_of, the run that answered. Null before the first run."
    )
    freshness: Freshness = Field(description="How old the data and the last success are.")


class SourceOut(BaseModel):
    """One source file a run read: where from, and what came back."""

    name: str = Field(
        description="Which source: nyt (NYT us.csv), jhu (JHU's combined file), states (NYT "
        "us-states.csv) or anomalies (NYT rolling-averages/anomalies.csv)."
    )
    url: str = Field(
        description="An http(s) URL with passwords and tokens replaced by ***; a local file "
        "(the offline snapshot included) by its file name alone, never its directory."
    )
    status: int | None = Field(
        description="The HTTP status the server answered with: a success such as 200, or 304 "
        "when it answered the conditional request with Not Modified; null for a local file or "
        "a replayed version."
    )
    bytes: int = Field(
        description="Size of the file in bytes (for a 304, the size of the load it matched)."
    )
    sha256: str | None = Field(
        description="SHA-256 of the file, 64 hex digits (for a 304, the matched load's); null "
        "if unknown."
    )
    etag: str | None = Field(
        description="The ETag header the server sent, sent back as If-None-Match by the next "
        "run; null without one (always for a local file)."
    )
    last_modified: str | None = Field(
        description="The Last-Modified header as the server sent it, sent back as "
        "If-Modified-Since by the next run; null without one (always for a local file)."
    )
    not_modified: bool = Field(
        description="True when the server answered 304 Not Modified, so nothing was downloaded."
    )


class StatesCountsOut(BaseModel):
    """What a run did to the per-state series, counted in rows: one per date and FIPS code."""

    inserted: int = Field(description="Rows the run added. 0 for a failed run.")
    updated: int = Field(
        description="Stored rows whose name, cases or deaths the run changed because the source "
        "revised them. 0 for a failed run."
    )
    unchanged: int = Field(description="Stored rows the run left as they were. 0 for a failed run.")
    removed: int = Field(
        description="Stored rows the run deleted because the source no longer has them; 0 "
        "unless the removals were accepted (covid-etl run --accept-removals, or a replay)."
    )
    data_through: str | None = Field(
        description="The latest date of the per-state file the run loaded, YYYY-MM-DD; for a "
        "failed run, the latest the store still holds. Null when nothing is stored."
    )


class RunOut(BaseModel):
    """One run of the pipeline, as the run history records it (covid-etl runs --json)."""

    id: int = Field(description=RUN_DOCS["id"])
    trigger: str = Field(description=RUN_DOCS["trigger"])
    environment: str = Field(description=RUN_DOCS["environment"])
    status: str = Field(description=RUN_DOCS["status"])
    started_at: str = Field(description=RUN_DOCS["started_at"])
    finished_at: str | None = Field(description=RUN_DOCS["finished_at"])
    failed_stage: str | None = Field(description=RUN_DOCS["failed_stage"])
    error: str | None = Field(description=RUN_DOCS["error"])
    warnings: list[str] = Field(description=RUN_DOCS["warnings"])
    initial_load: bool = Field(description=RUN_DOCS["initial_load"])
    inserted: int = Field(description=RUN_DOCS["inserted"])
    updated: int = Field(description=RUN_DOCS["updated"])
    unchanged: int = Field(description=RUN_DOCS["unchanged"])
    removed: int = Field(description=RUN_DOCS["removed"])
    removed_dates: list[str] = Field(description=RUN_DOCS["removed_dates"])
    data_through: str | None = Field(description=RUN_DOCS["data_through"])
    as_of: str | None = Field(description=RUN_DOCS["as_of"])
    states: StatesCountsOut | None = Field(description=RUN_DOCS["states"])
    sources: list[SourceOut] = Field(description=RUN_DOCS["sources"])
    recovered_from: int | None = Field(description=RUN_DOCS["recovered_from"])
    notification_status: str | None = Field(description=RUN_DOCS["notification_status"])


class RunsPage(BaseModel):
    """The run history (/api/v1/runs)."""

    runs: list[RunOut] = Field(
        description="The most recent runs, newest first: as many as the limit parameter asks "
        "(20 by default)."
    )


class ChangeOut(BaseModel):
    """One entry of the change log: a row a run inserted, revised or removed, with its values
    before and after (docs: the data contract's change log)."""

    run_id: int = Field(description="The run that made the change.")
    as_of: str | None = Field(
        description="That run's as-of date, YYYY-MM-DD: the day the changed value was published "
        "(a replayed version's date); null for runs recorded before schema 8."
    )
    series: str = Field(
        description="national, a state's two-digit FIPS code, or an NYT note's "
        "anomalies:GEOID:TYPE."
    )
    date: str = Field(description="The changed day (a note's first day), YYYY-MM-DD.")
    kind: str = Field(
        description="inserted (a new row), updated (a stored row whose values changed) or "
        "removed (a row deleted with --accept-removals or by a replay, or a note the NYT "
        "dropped)."
    )
    before: dict[str, Any] | None = Field(
        description="The row's values before the run: cases, deaths and recovered for the "
        "national series; name, cases and deaths for a state; end_date, county, state, the two "
        "flags and description for a note. Null for inserted."
    )
    after: dict[str, Any] | None = Field(
        description="The values the run wrote, the same keys as before; null for removed."
    )


class ChangesPage(BaseModel):
    """One page of the change log (/api/v1/changes, /api/v1/runs/{run_id}/changes)."""

    changes: list[ChangeOut] = Field(
        description="The page's entries, sorted by series, then date, then run."
    )
    total: int = Field(description="Entries matching the filter, before limit and offset.")
    limit: int = Field(description="The limit applied (the total when none was given).")
    offset: int = Field(description="Entries skipped before the page (the offset parameter).")


class AnomalyOut(BaseModel):
    """One of the NYT's notes on anomalous days, its fields named and ordered as the NYT's
    columns (rolling-averages/anomalies.csv)."""

    date: str = Field(description="The note's first day, YYYY-MM-DD.", examples=["2020-04-09"])
    end_date: str | None = Field(
        description="The last day of a note on a range of days, YYYY-MM-DD; null for one day.",
        examples=["2021-03-08"],
    )
    county: str | None = Field(
        description="The county's name, for a county note; null otherwise.",
        examples=["New York City"],
    )
    state: str | None = Field(
        description="The state's name, for a state or county note; null for the nation.",
        examples=["Wyoming"],
    )
    geoid: str = Field(
        description="The place: USA (the nation), USA-SS (a state, two-digit FIPS code) or "
        "USA-SSCCC (a county; the NYT's own codes such as USA-36998 for New York City "
        "included).",
        examples=["USA-56"],
    )
    type: str = Field(description="The measure: cases, deaths or both.", examples=["cases"])
    omit_from_rolling_average: bool = Field(
        description="Whether the 7-day averages leave the note's days out (the NYT's yes; "
        "false where it leaves the column empty)."
    )
    omit_from_rolling_average_on_subgeographies: bool = Field(
        description="Whether the averages of the places within (a state's counties) leave "
        "those days out too."
    )
    description: str | None = Field(
        description="The NYT's explanation as published; null where it gives none."
    )


class AnomaliesPage(BaseModel):
    """One page of the NYT's notes on anomalous days (/api/v1/anomalies)."""

    anomalies: list[AnomalyOut] = Field(
        description="One page of the notes, by date, then geoid and type."
    )
    total: int = Field(description="Notes matching geoid, start and end, before limit and offset.")
    limit: int = Field(description="The limit applied (the total when none was given).")
    offset: int = Field(description="Notes skipped before the page.")


class LegacyRow(BaseModel):
    """One row of the original design's table, by the original's rules: no null anywhere."""

    model_config = ConfigDict(populate_by_name=True)

    date: str = Field(
        description="Day, YYYY-MM-DD: only the dates both sources have, the original's inner "
        "join (2020-01-22 .. 2022-04-16 on the shipped files)."
    )
    cases: int = Field(description="Cumulative cases (NYT), as stored.")
    deaths: int = Field(description="Cumulative deaths (NYT), as stored.")
    recoveries: int = Field(
        description="Cumulative recoveries (JHU), 0 where not reported (every day from "
        "2020-12-14), as the original served it."
    )
    date_diff: int = Field(
        alias="date-diff",
        description="Days since the previous row (1 throughout the shipped files); 0 on the "
        "first row.",
    )
    month: str = Field(description="English month name, e.g. January.")
    day_of_week: str = Field(description="English day name, Monday to Sunday.")
    cases_diff: int = Field(
        alias="cases-diff", description="cases minus the previous row's; 0 on the first row."
    )
    cases_log: float = Field(
        alias="cases-log", description="Natural logarithm of cases when above 0, else 0."
    )
    deaths_diff: int = Field(
        alias="deaths-diff", description="deaths minus the previous row's; 0 on the first row."
    )
    deaths_log: float = Field(
        alias="deaths-log", description="Natural logarithm of deaths when above 0, else 0."
    )
    recoveries_diff: int = Field(
        alias="recoveries-diff",
        description="recoveries minus the previous row's; 0 on the first row. -6298082 on "
        "2020-12-14, where unreported recoveries become 0, as the original served it.",
    )
    recoveries_log: float = Field(
        alias="recoveries-log", description="Natural logarithm of recoveries when above 0, else 0."
    )


class LegacyData(BaseModel):
    """The original design's table (/covid_data), kept for its front-end; the corrected series
    is /api/v1/records."""

    data: list[LegacyRow] = Field(description="The rows, in date order.")
    last_modified_date: str | None = Field(
        description="When the stored data last changed (the end of the latest succeeded run "
        "that inserted, updated or removed rows), %m/%d/%Y, %H:%M:%S in UTC, the original's "
        "format; null while nothing is stored."
    )


class HealthRun(BaseModel):
    """The latest run, in three fields."""

    id: int = Field(description=RUN_DOCS["id"])
    status: str = Field(description=RUN_DOCS["status"])
    finished_at: str | None = Field(description=RUN_DOCS["finished_at"])


class HealthScheduler(BaseModel):
    """This process's schedule of ETL runs; without one, only enabled (false)."""

    enabled: bool = Field(
        description="Whether this process runs the ETL on a schedule (covid-etl serve without "
        "--no-schedule); false for the API alone, as on AWS."
    )
    schedule: str | None = Field(
        None,
        description="The five-field cron expression and its time zone, e.g. `0 21 * * * (UTC)`. "
        "Only when enabled.",
    )
    next_run_at: str | None = Field(
        None,
        description="When the next scheduled run starts, ISO 8601 in UTC; null until the "
        "first is planned. Only when enabled.",
    )
    running: bool | None = Field(
        None, description="Whether a scheduled run is going now. Only when enabled."
    )
    fired: int | None = Field(
        None,
        description="Scheduled runs started since the process started, a catch-up run "
        "included. Only when enabled.",
    )
    skipped: int | None = Field(
        None,
        description="Scheduled times skipped since the process started, because a run was "
        "still going here or another process held the writer lock. Only when enabled.",
    )


class HealthFreshness(BaseModel):
    """The facts covid-etl check --json prints, at the time of the request."""

    stale: bool = Field(description="The same as the top-level stale.")
    checked_at: str = Field(description="When the facts were read, ISO 8601 in UTC.")
    max_run_age_seconds: float | None = Field(
        description="COVID_ETL_MAX_RUN_AGE in seconds (93600.0 for the default, 26h); null when "
        "the staleness checks are off."
    )
    last_success_run_id: int | None = Field(
        description="The id of the last succeeded run; null before the first success."
    )
    last_success_at: str | None = Field(
        description="When that run finished, ISO 8601 in UTC; null before the first success."
    )
    last_success_age_seconds: float | None = Field(
        description="Seconds from last_success_at to checked_at, to the millisecond; null "
        "before the first success."
    )
    last_run_id: int | None = Field(
        description="The id of the latest run, whatever its outcome; null before the first."
    )
    last_run_status: str | None = Field(
        description="Its status: running, succeeded, failed or interrupted; null before the "
        "first run."
    )
    data_through: str | None = Field(
        description="The national series' latest stored date, YYYY-MM-DD; null while empty."
    )
    data_age_days: int | None = Field(
        description="Days from data_through to checked_at's UTC date: reported, never a reason "
        "to be stale (the sources are frozen archives). Null while empty."
    )


class Health(BaseModel):
    """The liveness probe's answer (/healthz): the store answered."""

    status: str = Field(description="Always ok: the store answered.")
    data_through: str | None = Field(
        description="The national series' latest stored date, YYYY-MM-DD; null while empty."
    )
    last_run: HealthRun | None = Field(description="The latest run; null before the first.")
    scheduler: HealthScheduler = Field(description="This process's schedule of ETL runs.")
    stale: bool = Field(
        description="True when no run succeeded within COVID_ETL_MAX_RUN_AGE (26h by default), "
        "or none ever did; always false with the checks off. Reported only: the answer is "
        "200 either way."
    )
    freshness: HealthFreshness = Field(
        description="The facts of covid-etl check --json: the last success, its age, the last "
        "run, the data's age."
    )


class ErrorParameter(BaseModel):
    """What was wrong with one parameter of the request."""

    parameter: str = Field(description="The parameter's name, e.g. start.")
    message: str = Field(description="What is wrong with it.")
    value: str | int | float | None = Field(
        None, description="The value received, when there was one."
    )


class ErrorDetail(BaseModel):
    """An error: what went wrong, for people and for programs."""

    status: int = Field(description="The HTTP status code, repeated.")
    code: str = Field(
        description="What kind of error, for programs: invalid_parameter (422), not_found "
        "(404), no_history (404: as_of before the store's history), method_not_allowed (405), "
        "internal_error (500), unavailable (503), and for the rarer statuses bad_request (400) "
        "or not_acceptable (406)."
    )
    message: str = Field(
        description="What went wrong, for people; always internal server error for a 500."
    )
    details: list[ErrorParameter] = Field(
        description="One entry per invalid parameter of a 422; empty for other errors."
    )


class ErrorBody(BaseModel):
    """The one shape of every error the API sends, from a bad parameter to a server fault."""

    error: ErrorDetail = Field(description="The error.")


StateRecordOut = record_model(
    "StateRecordOut",
    STATES,
    "One day of one jurisdiction's series: the NYT's cumulative cases and deaths, the daily "
    "values and 7-day averages derived from them over its full stored series (with the NYT's "
    "notes on that state), and per-100k figures from its Census 2019 population estimate.",
)

# The fields that say which jurisdiction a states answer is about.
FIPS_DOC = "Two-digit FIPS code of the state, DC or territory, e.g. 06 (California)."
NAME_DOC = "The jurisdiction's name as the NYT spells it (on its latest row)."
POPULATION_DOC = (
    "The U.S. Census Bureau's Vintage 2019 population estimate (people), shipped with the "
    "package; null for Guam (66), the Northern Mariana Islands (69) and the U.S. Virgin "
    "Islands (78), which it does not cover."
)


def _snapshot_doc(name: str) -> str:
    """A snapshot figure means what the per-state records' column of that name means."""
    return column_doc(STATES, name) + " Also null when date is null (no row yet)."


class StateRecordsPage(BaseModel):
    """One page of one jurisdiction's series, by date (/api/v1/states/{fips}/records)."""

    fips: str = Field(description=FIPS_DOC, examples=["06"])
    name: str = Field(description=NAME_DOC, examples=["California"])
    population: int | None = Field(description=POPULATION_DOC)
    records: list[StateRecordOut] = Field(  # type: ignore[valid-type]  # from the declaration
        description="The page's records, in date order: one per date the NYT reports for the "
        "jurisdiction."
    )
    total: int = Field(description=PAGE_TOTAL)
    limit: int = Field(description=PAGE_LIMIT)
    offset: int = Field(description=PAGE_OFFSET)


class StateSnapshotOut(BaseModel):
    """One jurisdiction on the snapshot's date: its latest row on or before that day."""

    fips: str = Field(description=FIPS_DOC, examples=["06"])
    name: str = Field(description=NAME_DOC, examples=["California"])
    population: int | None = Field(description=POPULATION_DOC)
    date: str | None = Field(
        description="The day of the row shown, YYYY-MM-DD: the jurisdiction's latest on or "
        "before the date asked for (its latest without one); null when it has no row by then."
    )
    cases: int | None = Field(description=_snapshot_doc("cases"))
    deaths: int | None = Field(description=_snapshot_doc("deaths"))
    new_cases_7d_avg: float | None = Field(description=_snapshot_doc("new_cases_7d_avg"))
    new_deaths_7d_avg: float | None = Field(description=_snapshot_doc("new_deaths_7d_avg"))
    cases_per_100k: float | None = Field(description=_snapshot_doc("cases_per_100k"))
    deaths_per_100k: float | None = Field(description=_snapshot_doc("deaths_per_100k"))
    new_cases_7d_avg_per_100k: float | None = Field(
        description=_snapshot_doc("new_cases_7d_avg_per_100k")
    )
    new_deaths_7d_avg_per_100k: float | None = Field(
        description=_snapshot_doc("new_deaths_7d_avg_per_100k")
    )


class StatesSnapshot(BaseModel):
    """Every jurisdiction of the per-state series on one date (/api/v1/states)."""

    date: str | None = Field(
        description="The date asked for, YYYY-MM-DD; null without one (each jurisdiction's "
        "latest row)."
    )
    data_from: str | None = Field(
        description="First date of the per-state series, YYYY-MM-DD (with as_of, of the series "
        "as it stood then); null when nothing is stored."
    )
    data_through: str | None = Field(
        description="Latest date of the per-state series, YYYY-MM-DD (with as_of, of the series "
        "as it stood then); it can differ from the national series' (2021-07-08 against "
        "2023-01-24 on the shipped files). Null when nothing is stored."
    )
    states: list[StateSnapshotOut] = Field(
        description="One entry per jurisdiction (55 on the shipped files), by FIPS code; empty "
        "when nothing is stored (the states source off)."
    )


class DateRevisionsOut(BaseModel):
    """How one date's figure settled (docs/api.md, "How figures settled")."""

    date: str = Field(description="The day the figure is for, YYYY-MM-DD.", examples=["2020-12-01"])
    first_published: str = Field(
        description="The as-of date of the run that first stored the day, YYYY-MM-DD."
    )
    first_value: int | None = Field(description="The measure's value as first published.")
    final_value: int | None = Field(
        description="The value stored now; null when the day was removed."
    )
    revisions: int = Field(
        description="Runs that changed the measure's value after its first publication (a "
        "removal, and an insertion again after one, count too)."
    )
    last_revised: str | None = Field(
        description="The as-of date of the last revision, YYYY-MM-DD; null if never revised."
    )
    lag_days: int = Field(
        description="Days from first_published to last_revised; 0 if never revised."
    )


class StillRevisedOut(BaseModel):
    """How many dates were still revised some days after their first publication."""

    days: int = Field(description="k: days after first publication.", examples=[7])
    still_revised: int = Field(description="Dates whose lag_days is k or more.")
    share_still_revised: float | None = Field(
        description="still_revised over total, rounded to 4 decimals; null without dates."
    )


class RevisionsPage(BaseModel):
    """How one place's figures of one measure settled after their first publication
    (/api/v1/revisions, /api/v1/states/{fips}/revisions)."""

    place: str = Field(
        description="national, or the state's two-digit FIPS code.", examples=["national", "06"]
    )
    measure: str = Field(description="cases or deaths.", examples=["cases"])
    dates: list[DateRevisionsOut] = Field(description="One page of the dates, in date order.")
    settled_after: list[StillRevisedOut] = Field(
        description="For k = 1, 3, 7, 14, 30, 60 and 90 days: the dates of the start/end range "
        "(all of them, not just the page) still revised k or more days after first publication."
    )
    total: int = Field(description="Dates in the start/end range, before limit and offset.")
    skipped: int = Field(
        description="Dates of the range left out: first published by a run that recorded no "
        "as-of date (runs before schema 8) or before the change log held them."
    )
    limit: int = Field(description="The limit applied (the range's total when none was given).")
    offset: int = Field(description="Dates skipped before the page.")
