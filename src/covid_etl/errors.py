"""Every error covid-etl raises on purpose, rooted in one class.

    EtlError
    ├── ConfigError             bad settings or usage (CLI exit code 2)
    ├── SourceError             anything wrong with one upstream source
    │   ├── FetchError          the bytes could not be obtained
    │   │   ├── TransientFetchError   timeout, connection error, 429, 5xx: worth retrying
    │   │   │   └── DeadlineReached   the source's deadline passed: no time left to retry
    │   │   └── TerminalFetchError    other 4xx, empty body, too large: retrying cannot help
    │   └── ParseError          the bytes are not the CSV we expect (line, column, value)
    │       └── MissingColumns  required columns are absent from the header
    ├── DataError               the parsed data breaks the data contract as a whole
    │   ├── EmptyJoin           no date is present in both sources
    │   └── HistoryShrinks      the new data lacks dates that are already stored
    ├── DeliveryError           a notification channel did not accept a message
    ├── RunFailed               (AWS) a run failed; Lambda reports it by this class name
    ├── SmokeFailed             (AWS) a check of the deployed stack's smoke test failed
    ├── StoreError              the database could not be read or written
    │   ├── StoreUnavailable    cannot connect / open the store
    │   │   └── DatabaseCorrupt the database file fails SQLite's integrity check
    │   ├── DatabaseLocked      another program holds the database's own lock past the wait limit
    │   ├── RunInProgress       another run holds the writer lock past the wait limit
    │   └── StoreConflict       another run committed first (S3's conditional write lost)
    ├── DuplicateEvent          this event was already handled by a succeeded run
    └── StageFailed             a stage failed; wraps the cause with stage name and run id

Each class builds one actionable sentence from structured fields, so the same text reaches the
log, the run record, the CLI and the failure notification.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from covid_etl.catalog import source_label

if TYPE_CHECKING:
    from covid_etl.models import RunRecord

# The error recorded on a run found still "running" by the next run: one text on every backend.
INTERRUPTED_ERROR = "the run stopped before finishing (process killed or crashed)"


class EtlError(Exception):
    """Root of every error covid-etl raises deliberately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(EtlError):
    """A setting or command-line option is invalid."""


class SourceError(EtlError):
    """One upstream source could not be used."""

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class FetchError(SourceError):
    """The source's bytes could not be obtained."""


class TransientFetchError(FetchError):
    """A failure that may go away on retry: timeout, connection error, HTTP 429 or 5xx."""

    def __init__(self, message: str, *, source: str, retry_after: float | None = None) -> None:
        super().__init__(message, source=source)
        self.retry_after = retry_after


class DeadlineReached(TransientFetchError):
    """The source's whole download outlasted its deadline; the next run may well succeed."""


class TerminalFetchError(FetchError):
    """A failure that retrying cannot fix: HTTP 4xx, empty body, body over the size limit."""


class ParseError(SourceError):
    """The source is not the CSV we expect; names the line, column and value where known."""

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        self.value = value
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {_quote_value(value)}")
        location = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{source_label(source)} CSV: {problem}{location}", source=source)


class MissingColumns(ParseError):
    """Required columns are missing from the header; all missing ones are reported together."""

    def __init__(self, *, source: str, missing: Iterable[str], header: Iterable[str]) -> None:
        self.missing = sorted(missing)
        self.header = list(header)
        shown = ",".join(self.header)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(
            f"missing required column(s): {', '.join(self.missing)}", source=source, line=1
        )
        # The STYLE of the sentence: "NYT CSV is missing required column(s): deaths (header
        # was: date,cases)" — the header says more than a line number here.
        self.message = (
            f"{source_label(source)} CSV is missing required column(s): "
            f"{', '.join(self.missing)} (header was: {shown})"
        )
        self.args = (self.message,)


class DataError(EtlError):
    """The parsed data as a whole breaks the data contract."""


class EmptyJoin(DataError):
    """No date is present in both sources."""


class HistoryShrinks(DataError):
    """The joined data lacks dates that are already stored; loading it would lose history."""


class StoreError(EtlError):
    """The store could not be opened, read or written."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened."""


class DatabaseCorrupt(StoreUnavailable):
    """The database file fails SQLite's integrity check; nothing is written to it."""


class DatabaseLocked(StoreError):
    """Another program holds the database's own lock for longer than we are willing to wait."""


class RunInProgress(StoreError):
    """Another run holds the writer lock for longer than we are willing to wait."""


class DeliveryError(EtlError):
    """A notification channel did not accept a message."""


class StoreConflict(StoreError):
    """Another run committed first: this run's conditional write lost and wrote nothing."""


class DuplicateEvent(EtlError):
    """A succeeded run already handled this event id; ``run`` is that run.

    Not a StoreError: nothing failed, and the caller answers the repeat delivery with the first
    run's result."""

    def __init__(self, event_id: str, run: RunRecord) -> None:
        super().__init__(f"event {event_id!r} was already handled by run #{run.id}")
        self.event_id = event_id
        self.run = run


class RunFailed(EtlError):
    """A failed AWS run. ``str()`` is the rendered notification's subject, a blank line, then its
    body; ``summary`` is the run summary. Lambda reports the class name as the error type, and the
    notify function recognises it by that name."""

    def __init__(self, subject: str, body: str, summary: dict[str, Any]) -> None:
        super().__init__(f"{subject}\n\n{body}")
        self.summary = summary


class SmokeFailed(EtlError):
    """A check of the smoke test against a deployed stack failed."""


class StageFailed(EtlError):
    """A pipeline stage failed; carries the stage name, the run id and the original error."""

    def __init__(self, stage: str, run_id: int | None, cause: BaseException) -> None:
        self.stage = stage
        self.run_id = run_id
        self.cause = cause
        run = f"run #{run_id}" if run_id is not None else "run"
        super().__init__(f"{run} failed at stage {stage}: {describe(cause)}")


def describe(exc: BaseException) -> str:
    """One sentence for any exception: ours carry their own, others get their type name."""
    if isinstance(exc, EtlError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _quote_value(value: str) -> str:
    if len(value) > 60:
        value = value[:57] + "..."
    return repr(value)
