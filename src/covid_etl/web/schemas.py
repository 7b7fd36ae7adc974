"""Response shapes, for the OpenAPI document only: the routes render their JSON themselves (from
cached bytes), and the property-based test checks real responses against these models."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from covid_etl.series.registry import NATIONAL, STATES
from covid_etl.series.spec import Series


def record_model(name: str, series: Series) -> type[BaseModel]:
    """The model of a series' API records, from the columns its declaration documents."""
    fields: dict[str, Any] = {}
    for column in series.record_columns:
        kind: Any = str if column.type is dt.date else column.type
        examples = [column.example] if column.example else None
        annotation = kind | None if column.nullable else kind
        fields[column.name] = (annotation, Field(description=column.doc, examples=examples))
    model: type[BaseModel] = create_model(name, **fields)
    return model


RecordOut = record_model("RecordOut", NATIONAL)


class RecordsPage(BaseModel):
    records: list[RecordOut]  # type: ignore[valid-type]  # built from the declaration
    total: int = Field(description="Rows in the start/end range, before limit and offset.")
    limit: int = Field(description="The limit applied (the range's total when none was given).")
    offset: int


class Totals(BaseModel):
    cases: int | None
    deaths: int | None
    recovered: int | None


class DatedValue(BaseModel):
    date: str
    value: int


class RunBrief(BaseModel):
    id: int
    status: str
    trigger: str
    started_at: str
    finished_at: str | None
    inserted: int
    updated: int
    unchanged: int


class Freshness(BaseModel):
    data_age_days: int | None = Field(description="Days between data_through and today (UTC).")
    last_success_at: str | None = Field(description="When the last successful run finished.")


class Summary(BaseModel):
    data_through: str | None
    latest: RecordOut | None  # type: ignore[valid-type]  # built from the declaration
    totals: Totals
    recovered_last_reported: DatedValue | None
    last_run: RunBrief | None
    freshness: Freshness


class SourceOut(BaseModel):
    name: str
    url: str = Field(description="Masked: passwords and tokens replaced by ***.")
    status: int | None
    bytes: int
    sha256: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool


class StatesCountsOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    removed: int
    data_through: str | None


class RunOut(BaseModel):
    id: int
    trigger: str
    environment: str
    status: str
    started_at: str
    finished_at: str | None
    failed_stage: str | None
    error: str | None
    warnings: list[str]
    initial_load: bool
    inserted: int
    updated: int
    unchanged: int
    removed: int
    removed_dates: list[str]
    data_through: str | None
    as_of: str | None = Field(
        description=(
            "The day whose data the run loaded, YYYY-MM-DD: a live run's UTC date, a replayed "
            "version's date (trigger replay); null for runs recorded before schema 8."
        )
    )
    states: StatesCountsOut | None = Field(
        description="What the run did to the per-state series; null when that source is off."
    )
    sources: list[SourceOut]
    recovered_from: int | None
    notification_status: str | None


class RunsPage(BaseModel):
    runs: list[RunOut]


class ChangeOut(BaseModel):
    run_id: int = Field(description="The run that made the change.")
    as_of: str | None = Field(
        description="That run's as-of date, YYYY-MM-DD: the day the changed value was published "
        "(a replayed version's date); null for runs recorded before schema 8."
    )
    series: str = Field(
        description="national, a state's two-digit FIPS code, or an NYT note's "
        "anomalies:GEOID:TYPE."
    )
    date: str = Field(description="The changed day, YYYY-MM-DD.")
    kind: str = Field(description="inserted, updated or removed (--accept-removals).")
    before: dict[str, Any] | None = Field(
        description="The row's values before the run (cases, deaths, recovered; a state's "
        "name, cases, deaths); null for inserted."
    )
    after: dict[str, Any] | None = Field(description="The values after; null for removed.")


class ChangesPage(BaseModel):
    changes: list[ChangeOut]
    total: int = Field(description="Entries matching the filter, before limit and offset.")
    limit: int = Field(description="The limit applied (the total when none was given).")
    offset: int


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
    anomalies: list[AnomalyOut] = Field(
        description="One page of the notes, by date, then geoid and type."
    )
    total: int = Field(description="Notes matching geoid, start and end, before limit and offset.")
    limit: int = Field(description="The limit applied (the total when none was given).")
    offset: int = Field(description="Notes skipped before the page.")


class LegacyRow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    date: str
    cases: int
    deaths: int
    recoveries: int = Field(description="0 where not reported, as the original served it.")
    date_diff: int = Field(alias="date-diff")
    month: str = Field(description="English month name, e.g. January.")
    day_of_week: str
    cases_diff: int = Field(alias="cases-diff")
    cases_log: float = Field(alias="cases-log")
    deaths_diff: int = Field(alias="deaths-diff")
    deaths_log: float = Field(alias="deaths-log")
    recoveries_diff: int = Field(alias="recoveries-diff")
    recoveries_log: float = Field(alias="recoveries-log")


class LegacyData(BaseModel):
    data: list[LegacyRow]
    last_modified_date: str | None = Field(
        description="When the stored data last changed, %m/%d/%Y, %H:%M:%S (UTC); "
        "null while nothing is stored."
    )


class HealthRun(BaseModel):
    id: int
    status: str = Field(description="running, succeeded, failed or interrupted.")
    finished_at: str | None


class Health(BaseModel):
    status: str = Field(description="Always ok: the store answered.")
    data_through: str | None = Field(description="Latest stored date; null while empty.")
    last_run: HealthRun | None = Field(description="The latest run; null before the first.")
    scheduler: dict[str, Any]
    stale: bool = Field(description="No run succeeded within COVID_ETL_MAX_RUN_AGE.")
    freshness: dict[str, Any] = Field(
        description="The facts of `covid-etl check --json`: last success, its age, last run."
    )


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorBody(BaseModel):
    error: ErrorDetail


StateRecordOut = record_model("StateRecordOut", STATES)


class StateRecordsPage(BaseModel):
    fips: str = Field(description="Two-digit FIPS code.", examples=["06"])
    name: str
    population: int | None = Field(description="Census 2019 estimate; null when unknown.")
    records: list[StateRecordOut]  # type: ignore[valid-type]  # built from the declaration
    total: int = Field(description="Rows in the start/end range, before limit and offset.")
    limit: int = Field(description="The limit applied (the range's total when none was given).")
    offset: int


class StateSnapshotOut(BaseModel):
    fips: str = Field(description="Two-digit FIPS code.", examples=["06"])
    name: str
    population: int | None = Field(description="Census 2019 estimate; null when unknown.")
    date: str | None = Field(description="The row's day; null if none yet on the chosen date.")
    cases: int | None
    deaths: int | None
    new_cases_7d_avg: float | None
    new_deaths_7d_avg: float | None
    cases_per_100k: float | None
    deaths_per_100k: float | None
    new_cases_7d_avg_per_100k: float | None
    new_deaths_7d_avg_per_100k: float | None


class StatesSnapshot(BaseModel):
    date: str | None = Field(description="The date asked for; null for each one's latest row.")
    data_from: str | None = Field(description="First date of the per-state series.")
    data_through: str | None = Field(
        description="Latest date of the per-state series (it can differ from the national one)."
    )
    states: list[StateSnapshotOut]


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
