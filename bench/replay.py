"""Benchmark the history features: replay the shipped corpus of the NYT's daily versions into a
fresh SQLite store, then read the data as of a day; write docs/benchmarks-history.md.

    python -m bench.replay [--connections 50] [--duration 10] [--no-docs]

Measured: the replay's wall time and peak RSS (its own process, through bench/launcher.py),
seconds per version and how they change with the number of versions already stored (from the
runs' own start and end times), the database's size; then, with ``covid-etl serve`` on
loopback, one state's records as of a day under load (wrk: throughput and latency percentiles),
and a whole-country ``export --states --as-of`` (wall time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .measure import Launcher, byte_compile_package
from .report import MB, machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.serve import serving  # noqa: E402

BIN = Path(sys.executable).parent
VINTAGES = ROOT / "tests" / "fixtures" / "real" / "nyt" / "vintages"
ARCHIVES = (VINTAGES / "us-vintages.tar.xz", VINTAGES / "us-states-vintages.tar.xz")
AS_OF = "2020-11-03"
TARGETS = {"replay_s": 120.0, "replay_rss_mb": 200.0, "p99_ms": 100.0, "export_s": 1.0}


def env_for(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
    env["COVID_ETL_DATABASE_URL"] = f"sqlite:///{db}"
    return env


def per_version_costs(db: Path) -> list[tuple[float, int]]:
    """Each replayed run's duration and the rows of that day's versions (both series), in
    as-of order."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT started_at, finished_at, inserted + updated + unchanged, states FROM runs "
            "WHERE trigger = 'replay' AND status = 'succeeded' ORDER BY as_of"
        ).fetchall()
    finally:
        con.close()
    costs = []
    for start, end, national, states in rows:
        counts = json.loads(states) if states else {}
        day_rows = national + sum(counts.get(k, 0) for k in ("inserted", "updated", "unchanged"))
        seconds = (
            dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
        ).total_seconds()
        costs.append((seconds, day_rows))
    return costs


def per_thousand_rows(costs: list[tuple[float, int]]) -> float:
    """Median milliseconds per 1,000 rows of the day's versions."""
    return statistics.median(1e6 * seconds / max(rows, 1) for seconds, rows in costs)


def wrk(url: str, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"]}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(connections: int, duration: int) -> dict[str, Any]:
    launcher = Launcher()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="covid-etl-replay-bench-") as tmp:
        db = Path(tmp) / "history.db"
        argv = [str(BIN / "covid-etl"), "replay", "--offline", "--json", *map(str, ARCHIVES)]
        sample = launcher.run(argv, env_for(db))
        summary = json.loads(sample.stdout)
        costs = per_version_costs(db)
        seconds = [cost for cost, _ in costs]
        results["replay"] = {
            "wall_s": sample.wall,
            "cpu_s": sample.cpu,
            "rss_mb": sample.rss_kib * 1024 / MB,
            "dates": summary["dates"],
            "versions": summary["versions"],
            "changed": summary["inserted"] + summary["updated"] + summary["removed"],
            "db_mb": db.stat().st_size / MB,
            "per_version_median_s": statistics.median(seconds),
            "day_40_s": statistics.median(seconds[30:50]),
            "day_400_s": statistics.median(seconds[390:410]),
            "day_40_ms_per_k": per_thousand_rows(costs[30:50]),
            "day_400_ms_per_k": per_thousand_rows(costs[390:410]),
            "day_40_rows": statistics.median(rows for _, rows in costs[30:50]),
            "day_400_rows": statistics.median(rows for _, rows in costs[390:410]),
        }
        started = time.perf_counter()
        export = [str(BIN / "covid-etl"), "export", "--states", "--as-of", AS_OF]
        exported = launcher.run(export, env_for(db))
        results["export_as_of"] = {
            "wall_s": exported.wall,
            "rows": exported.stdout.count("\n") - 1,
            "total_s": time.perf_counter() - started,
        }
        if shutil.which("wrk"):
            with serving(env_for(db), "--no-schedule") as served:
                url = f"{served.base_url}/api/v1/states/06/records?as_of={AS_OF}"
                subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=False)
                wrk(url, connections, 2)  # warm-up
                results["as_of_state_records"] = wrk(url, connections, duration)
    launcher.close()
    return results


def report(results: dict[str, Any], connections: int) -> str:
    r, e = results["replay"], results["export_as_of"]
    checks = [
        ("replay of the whole corpus at most 2 minutes", r["wall_s"] <= TARGETS["replay_s"],
         f"{r['wall_s']:.1f} s"),
        ("replay peak RSS under 200 MB", r["rss_mb"] < TARGETS["replay_rss_mb"],
         f"{r['rss_mb']:.0f} MB"),
        ("a version's cost per row does not grow with the versions stored (day 400 within 1.5x "
         "of day 40)", r["day_400_ms_per_k"] <= 1.5 * r["day_40_ms_per_k"],
         f"{r['day_40_ms_per_k']:.1f} ms per 1,000 rows at day 40, "
         f"{r['day_400_ms_per_k']:.1f} at day 400"),
        ("whole-country as-of export under 1 s", e["wall_s"] < TARGETS["export_s"],
         f"{e['wall_s']:.2f} s"),
    ]  # fmt: skip
    served = results.get("as_of_state_records")
    if served is not None:
        name = f"one state's as-of records: p99 under 100 ms at {connections} connections"
        checks.append((name, served["p99_ms"] < TARGETS["p99_ms"], f"{served['p99_ms']:.1f} ms"))
    lines = [
        "# Benchmarks: history (replay and as-of)",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `make bench-replay`; written "
        "by `python -m bench.replay`. Do not edit by hand.",
        "",
        "Machine: {nproc} CPU(s), {cpu}; {python}.".format(**machine()),
        "",
        "The shipped corpus (`tests/fixtures/real/nyt/vintages/`: 450 daily versions of `us.csv`, "
        "470 of `us-states.csv`) replayed into an empty SQLite store with `covid-etl replay "
        "--offline`, one process measured through `bench/launcher.py`; seconds per version from "
        "the runs' own start and end times.",
        "",
        "## Targets",
        "",
        *(f"- {'met' if ok else 'MISSED'}: {name}: {value}" for name, ok, value in checks),
        "",
        "## Replay",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| dates (runs) | {r['dates']} |",
        f"| version files | {r['versions']} |",
        f"| rows changed (inserted, updated, removed) | {r['changed']:,} |",
        f"| wall time | {r['wall_s']:.1f} s |",
        f"| CPU time | {r['cpu_s']:.1f} s |",
        f"| peak RSS | {r['rss_mb']:.0f} MB |",
        f"| seconds per version, median | {r['per_version_median_s'] * 1000:.0f} ms |",
        f"| per version around day 40 (runs 31..50; {r['day_40_rows']:,.0f} rows a day) | "
        f"{r['day_40_s'] * 1000:.0f} ms, {r['day_40_ms_per_k']:.1f} ms per 1,000 rows |",
        f"| per version around day 400 (runs 391..410; {r['day_400_rows']:,.0f} rows a day) | "
        f"{r['day_400_s'] * 1000:.0f} ms, {r['day_400_ms_per_k']:.1f} ms per 1,000 rows |",
        f"| database after the replay | {r['db_mb']:.1f} MB |",
        "",
        "A version's cost follows the size of that day's files (the per-state file grows from "
        "about 1,000 to 27,000 rows over the corpus), not the number of versions already "
        "stored: per row of the day's files it is about the same at day 400 as at day 40. A run "
        "compares the day's rows with the stored ones, one jurisdiction at a time, and writes "
        "only what changed; the change log grows, but a run only appends to it.",
        "",
        "## As of a day",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| `covid-etl export --states --as-of {AS_OF}` ({e['rows']:,} rows) | "
        f"{e['wall_s']:.2f} s |",
    ]
    if served is not None:
        lines += [
            f"| `/api/v1/states/06/records?as_of={AS_OF}`, {connections} connections: requests/s "
            f"| {served['rps']:,.0f} |",
            f"| the same: p50 / p99 latency | {served['p50_ms']:.1f} / {served['p99_ms']:.1f} ms |",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks-history.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    byte_compile_package()
    results = measure(args.connections, args.duration)
    text = report(results, args.connections)
    print(text)
    if not args.no_docs:
        args.docs.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
