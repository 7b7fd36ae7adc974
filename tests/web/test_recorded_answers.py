"""The answers of every read endpoint, recorded on the offline snapshot and compared afterwards.

Why: a restructuring of the package must not change what a client receives. Each backend
(SQLite, PostgreSQL, S3 on moto) loads the real snapshot shipped with the package once -- the
national series, the per-state series and the change log of that first run -- and answers the
requests in ``REQUESTS``; status, content type and body must equal the recorded answers in
``tests/fixtures/answers/read-endpoints.json``. There is ONE golden file for all three backends:
they must answer identically.

Only what cannot repeat is blanked before comparing (:func:`normalise`): the times of the run
and of the request, the run's id and values counted from today's date (a data age, the age of
the last success). Everything else is compared byte for byte, after HTTP's own gzip is undone:
the runs' source URLs too, which show a local file by its name alone, so no answer depends on
where the checkout lives. ETag and Date headers are not compared (ETags hash bodies that hold
run times).

Re-recording (only when an answer is meant to change, and only with the code that is meant to
give it)::

    COVID_ETL_RECORD_ANSWERS=1 python -m pytest tests/web/test_recorded_answers.py

The first backend to run writes the file; the others in the same session are compared against
it, so a recording run also shows the backends agree. Review the diff before committing it.

Left out on purpose: the dashboard's static files (``/``, ``/dashboard.js``, the vendored
Swagger UI), which are files shipped as they are rather than data reads, and ``/metrics``,
whose counters and latencies change with every request.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.series.registry import STATES
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from tests.helpers.backends import on_every_backend
from tests.helpers.env import ANOMALIES_LOCAL, fast_settings
from tests.helpers.loaded import LoadedStores, Runs, backend_of

GOLDEN = Path(__file__).parents[1] / "fixtures" / "answers" / "read-endpoints.json"
RECORD = os.environ.get("COVID_ETL_RECORD_ANSWERS", "") == "1"
# The per-state file shipped with the package; offline runs read the snapshot of each source,
# but the states are only loaded when their URL is not "off" (the suite's default).
SHIPPED_STATES = str(resources.files("covid_etl") / "data" / "nyt-us-states.csv")
RUN_ID = "{run_id}"  # stands for the id of the run that loaded the store, in request paths

CSV = {"accept": "text/csv"}
PREFLIGHT = {"origin": "https://example.org", "access-control-request-method": "GET"}


@dataclass(frozen=True, slots=True)
class Ask:
    """One request: method, path with query (``{run_id}`` filled in), extra headers."""

    path: str
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "headers": dict(self.headers)}


def ask(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Ask:
    return Ask(path, tuple(sorted((headers or {}).items())), method)


REQUESTS: tuple[Ask, ...] = (
    # /covid_data: the original design's table, whole.
    ask("/covid_data"),
    # /api/v1/records: whole series, windows, pages, both formats and their negotiation.
    ask("/api/v1/records"),
    ask("/api/v1/records?start=2021-01-01&end=2021-01-31"),
    ask("/api/v1/records?end=2020-02-15"),
    ask("/api/v1/records?start=2022-04-10"),
    ask("/api/v1/records?limit=5&offset=10"),
    ask("/api/v1/records?start=2020-12-10&end=2020-12-20&limit=4&offset=3"),
    ask("/api/v1/records?offset=816"),
    ask("/api/v1/records?start=2030-01-01"),
    ask("/api/v1/records?format=csv"),
    ask("/api/v1/records?format=csv&start=2020-03-01&end=2020-03-31"),
    ask("/api/v1/records?limit=3&offset=300", CSV),
    ask("/api/v1/records?format=json&limit=2", CSV),
    # The days after JHU's last one, which the national series keeps (the NYT is the spine).
    ask("/api/v1/records?start=2022-04-15&end=2022-04-18"),
    ask("/api/v1/records?start=2023-01-20"),
    # How figures settled (here: one run, so every date is first published and never revised).
    ask("/api/v1/revisions?measure=deaths&limit=3"),
    ask("/api/v1/states/06/revisions?limit=3"),
    ask("/api/v1/revisions?format=csv&limit=2"),
    # /api/v1/anomalies: every note, by place and overlapping range, pages, CSV, errors.
    ask("/api/v1/anomalies"),
    ask("/api/v1/anomalies?geoid=USA-39&start=2021-03-07&end=2021-03-10"),
    ask("/api/v1/anomalies?geoid=USA-36998&limit=2&offset=1"),
    ask("/api/v1/anomalies?geoid=USA&format=csv"),
    ask("/api/v1/anomalies?geoid=USA-99"),
    ask("/api/v1/anomalies?geoid=usa"),
    ask("/api/v1/anomalies?start=2021-03-10&end=2021-03-01"),
    ask("/api/v1/anomalies?limit=100001"),
    # Record errors: malformed and impossible dates, an empty window, paging out of range.
    ask("/api/v1/records?start=yesterday"),
    ask("/api/v1/records?start=2021-13-01"),
    ask("/api/v1/records?start=2021-01-011"),
    ask("/api/v1/records?start=2021-02-01&end=2021-01-01"),
    ask("/api/v1/records?limit=0"),
    ask("/api/v1/records?limit=100001"),
    ask("/api/v1/records?limit=ten"),
    ask("/api/v1/records?offset=-1"),
    ask("/api/v1/records?format=xml"),
    # /api/v1/summary, and HEAD (answered by the middleware for every GET route).
    ask("/api/v1/summary"),
    ask("/api/v1/summary", method="HEAD"),
    # /api/v1/runs: the history (secrets masked), its limit, and its errors.
    ask("/api/v1/runs"),
    ask("/api/v1/runs?limit=1"),
    ask("/api/v1/runs?limit=0"),
    ask("/api/v1/runs?limit=1001"),
    # There is no single-run route: the path falls through to the dashboard mount's 404.
    ask(f"/api/v1/runs/{RUN_ID}"),
    # /api/v1/runs/{id}/changes: one run's change log, filtered, paged, as CSV.
    ask(f"/api/v1/runs/{RUN_ID}/changes?limit=5"),
    ask(f"/api/v1/runs/{RUN_ID}/changes?series=national&limit=5&offset=100"),
    ask(f"/api/v1/runs/{RUN_ID}/changes?series=36&format=csv&limit=10&offset=400"),
    ask(f"/api/v1/runs/{RUN_ID}/changes?series=national&offset=1000000"),
    ask("/api/v1/runs/999999/changes"),
    ask("/api/v1/runs/0/changes"),
    ask("/api/v1/runs/first/changes"),
    ask(f"/api/v1/runs/{RUN_ID}/changes?series=usa"),
    # /api/v1/changes: every run's log, by series and date range, paged, both formats.
    ask("/api/v1/changes?limit=10"),
    ask("/api/v1/changes?limit=4&offset=27940"),
    ask("/api/v1/changes?series=national&start=2021-06-01&end=2021-06-07"),
    ask("/api/v1/changes?series=06&start=2021-07-01"),
    ask("/api/v1/changes?series=national&limit=3&offset=2&format=csv"),
    ask("/api/v1/changes?series=72&start=2021-07-05", CSV),
    ask("/api/v1/changes?series=99"),
    ask("/api/v1/changes?series=CA"),
    ask("/api/v1/changes?start=2021-07-08&end=2021-07-01"),
    ask("/api/v1/changes?start=2020-02-30"),
    ask("/api/v1/changes?limit=100001"),
    # /api/v1/states: the latest snapshot, a given day, a day before any data, CSV, errors.
    ask("/api/v1/states"),
    ask("/api/v1/states?date=2021-07-01"),
    ask("/api/v1/states?date=2020-03-15"),
    ask("/api/v1/states?date=2019-12-31"),
    ask("/api/v1/states?format=csv"),
    ask("/api/v1/states?date=2021-01-20", CSV),
    ask("/api/v1/states?date=2021-02-29"),
    ask("/api/v1/states?date=07/01/2021"),
    # /api/v1/states/{fips}/records: a whole state, windows, pages, a territory without a
    # population, CSV, and every way to get the FIPS code wrong.
    ask("/api/v1/states/06/records"),
    ask("/api/v1/states/36/records?start=2021-06-01&end=2021-06-30"),
    ask("/api/v1/states/72/records?limit=5&offset=100"),
    ask("/api/v1/states/66/records?format=csv&start=2021-07-01"),
    ask("/api/v1/states/11/records?limit=3", CSV),
    ask("/api/v1/states/53/records?end=2020-01-25"),
    ask("/api/v1/states/99/records"),
    ask("/api/v1/states/6/records"),
    ask("/api/v1/states/AB/records"),
    ask("/api/v1/states/006/records"),
    ask("/api/v1/states/06/records?start=2021-07-09&end=2021-07-01"),
    ask("/api/v1/states/06/records?offset=1000001"),
    # Liveness, the API's description and its docs page.
    ask("/healthz"),
    ask("/openapi.json"),
    ask("/docs"),
    ask("/docs/init.js"),
    # What is not a read: unknown paths, a write method, a CORS preflight.
    ask("/api/v1/nothing"),
    ask("/api/v2/records"),
    ask("/api/v1/records", method="POST"),
    ask("/api/v1/records", PREFLIGHT, method="OPTIONS"),
)

# -- normalisation ------------------------------------------------------------------------------

# An ISO 8601 date-time (a date alone is data, never blanked): the run's start and end, the
# health check's time, the last success's time.
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
# JSON members whose value cannot repeat, and the value shape each may have; any other shape
# (null, a different type) is left as it is, so it still has to match.
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
VOLATILE_MEMBERS = {
    # The run's id, wherever a response names it (runs, summary, health, change entries).
    "id": _NUMBER,
    "run_id": _NUMBER,
    "last_run_id": _NUMBER,
    "last_success_run_id": _NUMBER,
    # Counted from today's date or the current time; a live run's as-of date is the day it ran.
    "data_age_days": _NUMBER,
    "as_of": r'"\d{4}-\d{2}-\d{2}"',
    "last_success_age_seconds": _NUMBER,
    # /covid_data's original "MM/DD/YYYY, HH:MM:SS" time of the last change (a run's end).
    "last_modified_date": r'"[^"]*"',
}
MEMBER_PATTERNS = [
    (re.compile(f'"{key}":{shape}'), f'"{key}":"<{key}>"')
    for key, shape in VOLATILE_MEMBERS.items()
]
# The change log's CSV starts each row with the run's id.
CSV_RUN_ID = re.compile(r"^\d+,", re.MULTILINE)


def normalise(body: str, content_type: str) -> str:
    """``body`` with run times, run ids and clock-derived values blanked, nothing else."""
    text = ISO_TIME.sub("<time>", body)
    if content_type.startswith("application/json") and text:  # a HEAD answer has no body
        for pattern, blank in MEMBER_PATTERNS:
            text = pattern.sub(blank, text)
        _check_blanked(json.loads(text))
    elif content_type.startswith("text/csv") and text.startswith("run_id,"):
        header, _, rows = text.partition("\n")
        text = header + "\n" + CSV_RUN_ID.sub("<run_id>,", rows)
    return text


def _check_blanked(value: Any) -> None:
    """Walk the normalised JSON: a volatile member still holding a value of its own means the
    patterns above missed it (say, JSON written with spaces), which should fail here, by name,
    rather than as a puzzling difference in a run id."""
    if isinstance(value, dict):
        for key, item in value.items():
            scalar = item is not None and not isinstance(item, dict | list)
            if key in VOLATILE_MEMBERS and scalar and item != f"<{key}>":
                raise AssertionError(f"{key} left unblanked: {item!r}")
            _check_blanked(item)
    elif isinstance(value, list):
        for item in value:
            _check_blanked(item)


# -- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    backend: str
    client: TestClient
    run_id: int


def answer(loaded: Loaded, request: Ask) -> dict[str, Any]:
    """The normalised answer to ``request``: what the golden file records for it."""
    path = request.path.replace(RUN_ID, str(loaded.run_id))
    response = loaded.client.request(request.method, path, headers=dict(request.headers))
    content_type = response.headers.get("content-type")
    # httpx has already undone Content-Encoding: gzip; the bodies are UTF-8 (JSON, CSV, HTML).
    body = normalise(response.content.decode("utf-8"), content_type or "")
    return {
        "request": request.to_json(),
        "status": response.status_code,
        "content_type": content_type,
        # One string per line, so that the CSV bodies diff line by line.
        "body": body.split("\n"),
    }


def all_answers(loaded: Loaded) -> list[dict[str, Any]]:
    answers = []
    for request in REQUESTS:
        first = answer(loaded, request)
        # Asked again: a cached path is then answered by the fast path, not the route, and
        # must send the same thing.
        again = answer(loaded, request)
        assert again == first, f"{loaded.backend}: {request} answered differently when repeated"
        answers.append(first)
    return answers


# -- one store per backend, a copy of one loaded once per session ------------------------------

# The run whose answers are recorded: the offline snapshot, the per-state series on.
STATES_ON: Runs = (
    {"offline": True, "states_url": SHIPPED_STATES, "anomalies_url": ANOMALIES_LOCAL},
)


@pytest.fixture
def loaded(
    database_url: str, loaded_stores: LoadedStores, request: pytest.FixtureRequest
) -> Iterator[Loaded]:
    """``database_url`` after one offline run of the snapshot with the per-state series on, and
    a client over it."""
    url = loaded_stores.copy_into(request, database_url, STATES_ON)
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        store = open_store(url)
        try:
            run = store.last_run()
            states = store.count(STATES)
        finally:
            store.close()
        # The per-state series must be in the store too, or half the answers would be empty.
        assert run is not None and states > 0
        yield Loaded(backend_of(url), client, run.id)


# -- the test -----------------------------------------------------------------------------------

# The backend that wrote the golden file in this session, when recording.
_recorded_by: list[str] = []


@on_every_backend
def test_every_read_endpoint_answers_as_recorded(loaded: Loaded) -> None:
    answers = all_answers(loaded)
    if RECORD and not _recorded_by:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n", "utf-8")
        _recorded_by.append(loaded.backend)
        return
    assert GOLDEN.is_file(), f"{GOLDEN} missing: record it with COVID_ETL_RECORD_ANSWERS=1"
    golden: list[dict[str, Any]] = json.loads(GOLDEN.read_text("utf-8"))
    recorded = [entry["request"] for entry in golden]
    assert recorded == [request.to_json() for request in REQUESTS], (
        "REQUESTS changed since the answers were recorded: record them again"
    )
    differing = [
        _describe(mine, theirs)
        for mine, theirs in zip(answers, golden, strict=True)
        if mine != theirs
    ]
    if differing:
        message = f"{loaded.backend}: {len(differing)} answer(s) differ from {GOLDEN.name}"
        pytest.fail("\n".join([message, *differing]), pytrace=False)


def _describe(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Where one answer departs from the recorded one, short enough to read."""
    request = mine["request"]
    lines = [f"- {request['method']} {request['path']} {request['headers'] or ''}".rstrip()]
    for field in ("status", "content_type"):
        if mine[field] != theirs[field]:
            lines.append(f"    {field}: {mine[field]!r}, recorded {theirs[field]!r}")
    got, want = "\n".join(mine["body"]), "\n".join(theirs["body"])
    if got != want:
        at = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        lines.append(f"    body differs at character {at} (lengths {len(got)}, {len(want)}):")
        lines.append(f"      now:      {got[max(0, at - 60) : at + 60]!r}")
        lines.append(f"      recorded: {want[max(0, at - 60) : at + 60]!r}")
    return "\n".join(lines)
