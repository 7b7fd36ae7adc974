"""Run the covid-etl CLI, but pause inside the load transaction after its first batch of rows.

Used by crash-safety tests: they wait for the marker line on stdout, then SIGKILL the process
while the transaction is open and half written.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from covid_etl.cli import main
from covid_etl.store.sql import SqlStore

MARKER = "PAUSED-IN-LOAD"
_original = SqlStore._write_records


def _write_then_pause(self: SqlStore, cur: Any, run_id: int, records: Any) -> None:
    _original(self, cur, run_id, records)
    print(MARKER, flush=True)
    time.sleep(120)


if __name__ == "__main__":
    # Patched only when run as a script: importing MARKER from a test must not patch the tests.
    SqlStore._write_records = _write_then_pause  # type: ignore[method-assign]
    sys.argv[0] = "covid-etl"
    main()
