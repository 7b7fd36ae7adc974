"""Replay archived daily versions of the NYT's files (``covid-etl replay``): one run per date,
oldest first, each recording that date as its as-of date, so the store holds the data as it
stood on every replayed day (its change log has each revision).

A version is a file named ``us-YYYY-MM-DD.csv`` (the national NYT file) or
``us-states-YYYY-MM-DD.csv`` (per state), the version whose newest row is that date. PATHs are
directories, ``.tar``/``.tar.gz``/``.tar.xz`` archives or single files; archives are unpacked to
a temporary directory first, so a replay holds one day's files in memory, not the archive's.

The archive is the authority: a row a version no longer has is removed (and logged). JHU and
the NYT's notes come from the settings as in any run; replay itself reads no network.
Resumable: dates at or before the store's latest as-of date that were loaded from the same bytes
are skipped; any other version dated at or before it is refused (the store cannot insert history
before its present).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from covid_etl.catalog import NYT, NYT_STATES
from covid_etl.errors import ConfigError
from covid_etl.models import RunRecord, RunStatus, SourceMeta, Trigger
from covid_etl.run.pipeline import RunResult, Version, run_etl
from covid_etl.series.registry import ANOMALIES, NATIONAL, STATES
from covid_etl.series.spec import Series
from covid_etl.settings import Settings
from covid_etl.sources.fetch import Fetched
from covid_etl.store.base import Store

# The file name of a version, and the source it is a version of.
_VERSION = re.compile(r"(us|us-states)-(\d{4}-\d{2}-\d{2})\.csv")
_SOURCE_OF = {"us": NYT.name, "us-states": NYT_STATES.name}
# The series a version of each source feeds.
_SERIES_OF = {NYT.name: NATIONAL, NYT_STATES.name: STATES}
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz")


@dataclass(frozen=True, slots=True)
class Found:
    """One version file: its day, the source it is a version of, and where it is."""

    day: dt.date
    source: str
    path: Path


@dataclass(slots=True)
class Replayed:
    """What a replay did, for its summary."""

    dates: int = 0  # dates loaded by this replay
    skipped: int = 0  # dates already loaded from the same bytes
    versions: int = 0  # version files loaded
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    first: dt.date | None = None
    last: dt.date | None = None
    seconds: float = 0.0
    failed: RunRecord | None = None
    runs: list[int] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.removed

    def to_dict(self) -> dict[str, object]:
        return {
            "status": "failed" if self.failed is not None else "succeeded",
            "dates": self.dates,
            "skipped": self.skipped,
            "versions": self.versions,
            "inserted": self.inserted,
            "updated": self.updated,
            "removed": self.removed,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "seconds": round(self.seconds, 3),
            "error": self.failed.error if self.failed is not None else None,
            "failed_run": self.failed.id if self.failed is not None else None,
        }


def find_versions(paths: Iterable[Path], stack: ExitStack) -> list[Found]:
    """Every version file under ``paths``, sorted by day then source (national first).
    Archives are unpacked into a temporary directory that ``stack`` removes."""
    found: dict[tuple[dt.date, str], Found] = {}
    for path in paths:
        for item in _files_of(path, stack):
            match = _VERSION.fullmatch(item.name)
            if match is None:
                if path.is_file() and not _is_archive(path):
                    raise ConfigError(
                        f"{path}: not a version file (expected us-YYYY-MM-DD.csv or "
                        "us-states-YYYY-MM-DD.csv) nor a .tar, .tar.gz or .tar.xz archive"
                    )
                continue
            try:
                day = dt.date.fromisoformat(match.group(2))
            except ValueError:
                raise ConfigError(f"{item}: {match.group(2)} is not a date") from None
            key = (day, _SOURCE_OF[match.group(1)])
            if key in found and found[key].path.read_bytes() != item.read_bytes():
                raise ConfigError(
                    f"two different versions of {item.name}: {found[key].path} and {item}"
                )
            found.setdefault(key, Found(day, key[1], item))
    return sorted(found.values(), key=lambda f: (f.day, f.source != NYT.name))


def _is_archive(path: Path) -> bool:
    return path.name.endswith(_ARCHIVES)


def _files_of(path: Path, stack: ExitStack) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file())
    elif _is_archive(path):
        target = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="covid-etl-replay-")))
        try:
            with tarfile.open(path) as archive:
                members = [m for m in archive.getmembers() if m.isfile()]
                for member in members:
                    if _VERSION.fullmatch(Path(member.name).name):
                        # Only the version files, each under its own name: nothing the
                        # archive names can land outside the directory.
                        data = archive.extractfile(member)
                        assert data is not None
                        (target / Path(member.name).name).write_bytes(data.read())
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ConfigError(f"cannot read the archive {path}: {exc}") from exc
        yield from sorted(target.iterdir())
    elif path.is_file():
        yield path
    else:
        raise ConfigError(f"{path}: no such file or directory")


def by_day(found: Sequence[Found]) -> list[tuple[dt.date, list[Found]]]:
    days: dict[dt.date, list[Found]] = {}
    for item in found:
        days.setdefault(item.day, []).append(item)
    return sorted(days.items())


def loaded_versions(store: Store) -> dict[dt.date, dict[str, str | None]]:
    """The store's succeeded runs by as-of date: the checksum of each source they loaded."""
    loaded: dict[dt.date, dict[str, str | None]] = {}
    offset = 0
    while runs := store.list_runs(limit=500, offset=offset):
        for run in runs:
            if run.status is RunStatus.SUCCEEDED and run.as_of is not None:
                sums = loaded.setdefault(run.as_of, {})
                for meta in run.sources:
                    sums.setdefault(meta.name, meta.sha256)
        offset += 500
    return loaded


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetched(item: Found, data: bytes) -> Fetched:
    meta = SourceMeta(item.source, str(item.path.name), None, len(data), _sha256(data))
    return Fetched(meta, data)


def replay(
    settings: Settings,
    paths: Sequence[Path],
    store: Store,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Replayed:
    """Load every version under ``paths`` into ``store``, one run per date, oldest first.
    ``progress(done, total, changed)`` after each date; ``announce`` gets one-line notes (how
    many dates were skipped). Raises ConfigError for unusable paths or a version that would
    insert history before the store's present; a run that fails stops the replay."""
    started = time.perf_counter()
    # A replay notifies nobody and pings no heartbeat: it is history, not today's run.
    quiet = settings.replace(notify=(), heartbeat_url="")
    done = Replayed()
    with ExitStack() as stack:
        days = by_day(find_versions(paths, stack))
        if not days:
            raise ConfigError(
                "no version files found (us-YYYY-MM-DD.csv, us-states-YYYY-MM-DD.csv)"
            )
        store.migrate()
        loaded = loaded_versions(store)
        present = max(loaded, default=None)
        todo: list[tuple[dt.date, list[Found]]] = []
        for day, items in days:
            if present is None or day > present:
                todo.append((day, items))
                continue
            for item in items:
                data = item.path.read_bytes()
                if loaded.get(day, {}).get(item.source) != _sha256(data):
                    raise ConfigError(
                        f"{item.path.name} is dated {day.isoformat()}, at or before the store's "
                        f"latest as-of date {present.isoformat()}, and was not loaded from these "
                        "bytes: the store cannot insert history before its present (replay into "
                        "a new store, or only versions after that date)"
                    )
            done.skipped += 1
        if done.skipped and present is not None and announce is not None:
            announce(
                f"skipping {done.skipped} date(s) already loaded (through {present.isoformat()})"
            )
        notes_pending = quiet.source_enabled(ANOMALIES.sources[0])
        for index, (day, items) in enumerate(todo):
            files = {item.source: _fetched(item, item.path.read_bytes()) for item in items}
            series: list[Series] = [_SERIES_OF[source] for source in files]
            series.sort(key=lambda s: s is not NATIONAL)  # the national series first
            if notes_pending:
                series.append(ANOMALIES)  # once per replay: the notes are not versioned
            result = run_etl(
                quiet,
                trigger=Trigger.REPLAY,
                store=store,
                accept_removals=True,
                series=series,
                version=Version(day, files),
            )
            _count(done, result, len(files))
            if not result.succeeded:
                done.failed = result.run
                break
            notes_pending = False
            if progress is not None:
                progress(index + 1, len(todo), done.changed)
    done.seconds = time.perf_counter() - started
    return done


def _count(done: Replayed, result: RunResult, files: int) -> None:
    run = result.run
    done.runs.append(run.id)
    if not result.succeeded:
        return
    done.dates += 1
    done.versions += files
    done.first = done.first or run.as_of
    done.last = run.as_of
    done.inserted += run.inserted + (run.states.inserted if run.states else 0)
    done.updated += run.updated + (run.states.updated if run.states else 0)
    done.removed += run.removed + (run.states.removed if run.states else 0)


__all__ = ["Found", "Replayed", "find_versions", "replay"]
