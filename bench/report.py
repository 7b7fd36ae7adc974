"""Turn benchmark results into the Markdown of docs/benchmarks.md and a JSON document."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass
from importlib import metadata

from .measure import Series

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.unit == "×" else self.value < self.limit

    def shown(self, number: float) -> str:
        return f"{number:.2f}×" if self.unit == "×" else f"{number:.1f} MB"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("covid-etl", "click", "httpx", "pandas", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def targets(series: dict[str, Series]) -> list[Target]:
    def ratio(ours: str, theirs: str) -> float:
        return series[ours].stat("wall", "median") / series[theirs].stat("wall", "median")

    peak = max(series[k].stat("rss_kib", "max") for k in ("etl_initial", "etl_rerun"))
    return [
        Target(
            "initial load, wall time vs pandas (median)",
            ratio("etl_initial", "pd_initial"),
            0.5,
            "×",
        ),
        Target(
            "no-change re-run, wall time vs pandas (median)",
            ratio("etl_rerun", "pd_rerun"),
            0.5,
            "×",
        ),
        Target("covid-etl peak RSS (max of all runs)", peak * 1024 / MB, 100, "MB"),
    ]


def phase_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    names = list(runs[0]) if runs else []
    return {name: statistics.median(r[name] for r in runs) for name in names}


def results_table(series: dict[str, Series]) -> str:
    lines = [
        "| Case | Wall median | Wall min | CPU median | CPU min | Peak RSS median | Peak RSS max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in series.values():
        lines.append(
            f"| {s.label} "
            f"| {s.stat('wall', 'median') * 1000:.0f} ms | {s.stat('wall', 'min') * 1000:.0f} ms "
            f"| {s.stat('cpu', 'median') * 1000:.0f} ms | {s.stat('cpu', 'min') * 1000:.0f} ms "
            f"| {s.stat('rss_kib', 'median') * 1024 / MB:.1f} MB "
            f"| {s.stat('rss_kib', 'max') * 1024 / MB:.1f} MB |"
        )
    return "\n".join(lines)


def targets_table(checks: list[Target]) -> str:
    lines = ["| Target | Measured | Limit | Result |", "|---|---:|---:|---|"]
    for t in checks:
        limit = ("≤ " if t.unit == "×" else "< ") + t.shown(t.limit)
        lines.append(
            f"| {t.name} | {t.shown(t.value)} | {limit} | {'PASS' if t.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def phases_table(
    initial: dict[str, float], rerun: dict[str, float], walls: tuple[float, float]
) -> str:
    lines = ["| Phase (inside the process) | Initial load | Re-run |", "|---|---:|---:|"]
    for name in initial:
        lines.append(
            f"| {name} | {initial[name] * 1000:.0f} ms | {rerun.get(name, 0.0) * 1000:.0f} ms |"
        )
    rest = [
        wall - sum(phases.values()) for wall, phases in zip(walls, (initial, rerun), strict=True)
    ]
    lines.append(
        "| outside the timed phases: interpreter start-up, process exit (median wall time "
        f"minus the phases) | {rest[0] * 1000:.0f} ms | {rest[1] * 1000:.0f} ms |"
    )
    return "\n".join(lines)


def ratios_text(series: dict[str, Series]) -> str:
    parts = []
    for ours, theirs, what in (
        ("etl_initial", "pd_initial", "initial load"),
        ("etl_rerun", "pd_rerun", "no-change re-run"),
    ):
        wall = series[ours].stat("wall", "median") / series[theirs].stat("wall", "median")
        best = series[ours].stat("wall", "min") / series[theirs].stat("wall", "min")
        cpu = series[ours].stat("cpu", "median") / series[theirs].stat("cpu", "median")
        parts.append(
            f"- {what}: covid-etl / pandas = **{wall:.2f}×** wall time, medians "
            f"({best:.2f}× best runs; {cpu:.2f}× CPU time, medians)"
        )
    return "\n".join(parts)


def markdown(
    series: dict[str, Series],
    checks: list[Target],
    phases: tuple[dict[str, float], dict[str, float]],
    info: dict[str, str],
    repeat: int,
    when: str,
) -> str:
    walls = (series["pd_initial"].stat("wall", "median"), series["pd_rerun"].stat("wall", "median"))
    return f"""# Benchmarks

How long does one `covid-etl run` take, and how does it compare with the same job written
plainly in pandas? This page is generated by `make bench-etl` (part of `make bench`;
`bench/run.py`); edit the generator, not the page.

## What is measured

Both sources are served from a loopback HTTP server in the benchmark process, with strong ETags
(`If-None-Match` → `304 Not Modified`), the way the real raw-file host serves them:

- NYT `us.csv`: `src/covid_etl/data/nyt-us.csv` (1,100 rows);
- JHU combined time series, all countries:
  `tests/fixtures/real/jhu/time-series-19-covid-combined.csv` (115k rows, 4.2 MB; it ends on
  2021-03-16, so the joined table has 420 rows).

Each case is a whole process, timed from spawn to exit, so interpreter start-up and imports count:

- **covid-etl initial load**: `covid-etl run --json` (the installed console script) into a new,
  empty SQLite file, sources and database given by `COVID_ETL_NYT_URL`, `COVID_ETL_JHU_URL` and
  `COVID_ETL_DATABASE_URL`.
- **covid-etl no-change re-run**: the same command again on that database; it sends
  `If-None-Match`, gets two 304s and writes no rows (the harness checks both).
- **pandas baseline**: `bench/pandas_baseline.py`, the same job written the obvious way with
  pandas: `read_csv(url)` for both files, filter the US national JHU rows, null recovered when it
  is 0 after a positive value, inner merge on date, read the stored table, diff, `to_sql` the
  inserted and updated rows. Its re-run downloads and compares everything again (it has no
  conditional requests). It keeps no run history, takes no lock, checks far less and uses
  SQLite's default journal instead of WAL with `synchronous = FULL`. After every initial load the
  harness checks that both databases hold the same 420 rows.
- For scale: interpreter start-up (`python -c pass`), `covid-etl --version` (start-up plus the
  CLI's imports) and `python -c "import pandas"`.

Before measuring, the harness byte-compiles the `covid_etl` package where it is installed, as
`pip install` does for a wheel (pandas and every other dependency arrive compiled). An editable
install is otherwise compiled on first import, and never when `PYTHONDONTWRITEBYTECODE` is set:
each run would then compile our modules from source, about 15 ms that no installed copy pays.

Wall time is `time.perf_counter()` around the child; CPU time is the child's user + system time
and peak RSS its `ru_maxrss`, both from `os.wait4`. The children are spawned by a small launcher
process (`bench/launcher.py`), because on Linux a child's `ru_maxrss` also counts the peak of the
process it was forked from. After one warm-up round that is not counted, every case runs
{repeat} times, the cases interleaved; the table gives the median and the best (min) run. On a
shared or busy machine timings vary by tens of percent: compare medians from one run of the
harness, not numbers from different runs, and look at the best-run ratio too (other load on the
machine only ever adds time).

## How to reproduce

    make bench-etl               # creates .venv with the bench extra (pandas) if needed
    BENCH_REPEAT=10 make bench-etl  # more repetitions
    .venv/bin/python -m bench.run --json --no-docs   # JSON on stdout, page left alone

Every run also writes its JSON to `bench-results/` (not committed). `--strict` makes the command
fail when a target is missed.

## Machine

- CPUs (`nproc`): {info["nproc"]} × {info["cpu"]}
- Python: {info["python"]} on {info["os"]}
- Packages: {info["packages"]}
- Measured: {when}, {repeat} repetitions

## Results

{results_table(series)}

{ratios_text(series)}

## Targets

{targets_table(checks)}

The no-change re-run's limit was 0.35× while covid-etl skipped two start-up costs with
shortcuts: it stubbed out httpx's own command-line module and built the TLS context only for
https sources, through a custom transport that also switched off proxy support. Both are gone:
sources are fetched through `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` and with custom CA bundles,
as httpx does by default, and the limit is 0.5×. Correct networking wins over milliseconds.

## Where the pandas baseline spends its time

Medians of the phases the baseline times itself with `time.perf_counter()`. The last row is
what the process spends outside them; with numpy and pandas loaded, tearing the interpreter down
at exit is a visible part of it.

{phases_table(*phases, walls)}
"""
