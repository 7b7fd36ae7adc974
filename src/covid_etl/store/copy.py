"""Move a store's data and run history to another store (``covid-etl db copy``).

Typically SQLite -> PostgreSQL, but any backend that implements
:class:`~covid_etl.store.base.HistoryStore` can be either end. The target must be empty: the copy
keeps run ids (rows and notifications point at them) and the project never deletes rows, so
merging into or overwriting an existing history is not offered. The copy is one transaction on
the target, so a failed copy leaves it empty and can simply be run again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import cast

from covid_etl.errors import ConfigError, EtlError, StoreError, describe
from covid_etl.store import open_store
from covid_etl.store.base import HistoryStore, Store


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a copy moved, with both ends as display (masked) URLs."""

    source: str
    target: str
    runs: int
    records: int
    notifications: int
    states: int = 0


def copy_store(
    source_url: str,
    target_url: str,
    *,
    lock_timeout: float = 60.0,
    after_commit: Callable[[Store], None] | None = None,
) -> CopyReport:
    """Copy every run, row and notification from ``source_url`` into the empty ``target_url``.

    Both writer locks are held for the whole copy, so no run changes either side meanwhile.
    ``after_commit(target)`` runs once the copy is committed and only when it moved national
    rows, still under the locks (the command line publishes the original files with it).
    Raises ConfigError for unusable arguments and StoreError (RunInProgress, StoreUnavailable...)
    when a store refuses.
    """
    if source_url == target_url:
        raise ConfigError("--from and --to name the same database")
    try:
        return _copy(source_url, target_url, lock_timeout, after_commit)
    except EtlError:
        raise
    except Exception as exc:  # a backend's own error: still one sentence, never a traceback
        raise StoreError(f"db copy failed, the target is unchanged: {describe(exc)}") from exc


def _copy(
    source_url: str,
    target_url: str,
    lock_timeout: float,
    after_commit: Callable[[Store], None] | None,
) -> CopyReport:
    with ExitStack() as stack:
        source = _history_store(open_store(source_url), stack)
        target = _history_store(open_store(target_url), stack)
        # The source is only read: an unmigrated one has nothing to copy, and migrating it
        # would write to a database the user asked us to read.
        source_version = source.schema_version()
        if source_version == 0:
            raise StoreError(f"{source.url_for_display} holds no covid-etl data (no schema)")
        target.migrate()
        if source_version > target.schema_version():
            raise StoreError(
                f"{source.url_for_display} has schema version {source_version}, newer than "
                f"this covid-etl knows ({target.schema_version()}); upgrade covid-etl first"
            )
        if source_version < target.schema_version():
            # Its rows lack columns the copy writes (e.g. the run's event id).
            raise StoreError(
                f"{source.url_for_display} has schema version {source_version}, older than this "
                f"covid-etl's {target.schema_version()}: open it once with this version "
                "(e.g. `covid-etl runs`), which upgrades it, then copy it"
            )
        with source.writer_lock(lock_timeout), target.writer_lock(lock_timeout):
            history = source.dump_history()
            target.restore_history(history)
            if after_commit is not None and history.records:
                after_commit(target)
        return CopyReport(
            source=source.url_for_display,
            target=target.url_for_display,
            runs=len(history.runs),
            records=len(history.records),
            notifications=len(history.notifications),
            states=len(history.states),
        )
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def _history_store(store: Store, stack: ExitStack) -> HistoryStore:
    stack.callback(store.close)
    if not (hasattr(store, "dump_history") and hasattr(store, "restore_history")):
        raise ConfigError(f"{store.url_for_display} does not support db copy")
    return cast(HistoryStore, store)
