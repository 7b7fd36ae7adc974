"""``python -m tests.helpers.stall_load run ...``: the CLI, with a load that stalls half-way.

The first batch of rows is written inside the load transaction, then a marker line is printed and
the process sleeps, so a test can SIGKILL it at exactly that point: rows written, nothing
committed, writer lock held.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from covid_etl.cli import main
from covid_etl.series.spec import Series
from covid_etl.store.sql import SqlStore

MARKER = "STALLED-AFTER-FIRST-BATCH"

_write_rows = SqlStore._write_rows


def _write_then_stall(
    self: SqlStore, cur: Any, series: Series, run_id: int, rows: Sequence[Any], *, new: bool
) -> None:
    _write_rows(self, cur, series, run_id, rows, new=new)
    print(f"{MARKER} run={run_id} series={series.name} rows={len(rows)}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    SqlStore._write_rows = _write_then_stall  # type: ignore[method-assign]
    sys.argv[0] = "covid-etl"
    main()
