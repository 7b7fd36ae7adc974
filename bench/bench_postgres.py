"""Time ``covid-etl run --json`` on SQLite and on PostgreSQL with the same input, in one go.

The real NYT file and the real all-countries JHU file are served from a loopback HTTP host (with
ETags, like raw.githubusercontent.com). For each backend the script times

* an initial load, each repetition into a fresh, empty database, and
* a no-change re-run against the loaded database (both sources answer 304 Not Modified),

as separate ``covid-etl`` processes, and reports the median wall time and the peak resident set
size of each process (from ``wait4``'s rusage, through the small launcher of
``bench/measure.py``, so that no child inherits this process's size). The package is
byte-compiled first, as an installed wheel is. Wall time includes interpreter start-up, which is
what a cron job or a CI step pays.

    python bench/bench_postgres.py                       # print the table
    python bench/bench_postgres.py --write docs/benchmarks-postgres.md

PostgreSQL comes from COVID_ETL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/
postgres); a throwaway database is created per initial load and dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the loopback host lives with the test helpers

from tests.helpers import postgres as pg  # noqa: E402
from tests.helpers.servers import SourceServer, running  # noqa: E402

from bench.measure import Launcher, byte_compile_package  # noqa: E402

NYT = ROOT / "src" / "covid_etl" / "data" / "nyt-us.csv"
JHU = ROOT / "tests" / "fixtures" / "real" / "jhu" / "time-series-19-covid-combined.csv"


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss_kib: int
    summary: dict[str, object]


@dataclass(frozen=True)
class Result:
    backend: str
    scenario: str
    samples: list[Sample]

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def median_rss_mib(self) -> float:
        return statistics.median(s.peak_rss_kib for s in self.samples) / 1024


def run_cli(launcher: Launcher, database_url: str, sources: dict[str, str]) -> Sample:
    """One ``covid-etl run --json`` process: its wall time, its own peak RSS, its JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
    env.update(
        COVID_ETL_DATABASE_URL=database_url,
        COVID_ETL_NYT_URL=sources["nyt_url"],
        COVID_ETL_JHU_URL=sources["jhu_url"],
        COVID_ETL_STATES_URL="off",  # the national job, as in bench/run.py
        COVID_ETL_ANOMALIES_URL="off",
    )
    # Through the small launcher: a child forked from this process would report at least this
    # process's peak RSS as its own.
    child = launcher.run([str(Path(sys.executable).parent / "covid-etl"), "run", "--json"], env)
    return Sample(child.wall, child.rss_kib, json.loads(child.stdout))


@contextmanager
def sqlite_databases(workdir: Path) -> Iterator[Callable[[], str]]:
    counter = iter(range(1_000_000))
    yield lambda: f"sqlite:///{workdir / f'bench-{next(counter)}.db'}"


@contextmanager
def postgres_databases(server: str) -> Iterator[Callable[[], str]]:
    with ExitStack() as stack:
        yield lambda: stack.enter_context(pg.throwaway_database(server))


def bench_backend(
    launcher: Launcher,
    backend: str,
    new_database: Callable[[], str],
    sources: dict[str, str],
    repeat: int,
) -> list[Result]:
    loads, reruns = [], []
    url = ""
    for _ in range(repeat):
        url = new_database()
        sample = run_cli(launcher, url, sources)
        assert sample.summary["initial_load"] and sample.summary["inserted"], sample.summary
        loads.append(sample)
    for _ in range(repeat):
        sample = run_cli(launcher, url, sources)
        assert (sample.summary["inserted"], sample.summary["updated"]) == (0, 0), sample.summary
        reruns.append(sample)
    return [Result(backend, "initial load", loads), Result(backend, "no-change re-run", reruns)]


def run_benchmark(repeat: int = 5, postgres_url: str | None = None) -> tuple[list[Result], str]:
    """Both backends, same input; returns the results and a description of the machine."""
    server_url = postgres_url or pg.server_url()
    reason = pg.unreachable_reason(server_url)
    if reason is not None:
        raise SystemExit(f"no PostgreSQL server at {server_url}: {reason}")
    results: list[Result] = []
    byte_compile_package()  # as an installed wheel is; see docs/benchmarks.md
    with (
        Launcher() as launcher,
        running(SourceServer()) as host,
        tempfile.TemporaryDirectory(prefix="covid-etl-bench-") as tmp,
    ):
        sources = {
            "nyt_url": host.serve("/nytimes/covid-19-data/master/us.csv", NYT.read_bytes()),
            "jhu_url": host.serve(
                "/datasets/covid-19/master/data/time-series-19-covid-combined.csv",
                JHU.read_bytes(),
            ),
        }
        with sqlite_databases(Path(tmp)) as new_sqlite:
            results += bench_backend(launcher, "SQLite", new_sqlite, sources, repeat)
        with postgres_databases(server_url) as new_postgres:
            results += bench_backend(launcher, "PostgreSQL", new_postgres, sources, repeat)
    return results, machine(server_url)


def machine(server_url: str) -> str:
    import psycopg

    with psycopg.connect(server_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    server = row[0] if row else "?"
    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {server} on loopback, psycopg {psycopg.__version__}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)"
    )


def table(results: list[Result]) -> str:
    lines = [
        "| backend | scenario | rows inserted | median wall (s) | min-max (s) | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        times = [s.seconds for s in r.samples]
        lines.append(
            f"| {r.backend} | {r.scenario} | {r.samples[0].summary['inserted']} | "
            f"{r.median_seconds:.3f} | {min(times):.3f}-{max(times):.3f} | "
            f"{r.median_rss_mib:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per scenario (median)")
    parser.add_argument("--postgres-url", help="server to use (a maintenance database on it)")
    parser.add_argument("--write", type=Path, help="also write the figures to this Markdown file")
    args = parser.parse_args()
    results, where = run_benchmark(args.repeat, args.postgres_url)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"{table(results)}\n\nMeasured {when}: {args.repeat} runs per row; {where}.\n"
    print(report, end="")
    if args.write:
        write_report(args.write, report)


def write_report(path: Path, figures: str) -> None:
    """Replace the generated block between the markers, keep the prose around it."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = path.read_text() if path.exists() else f"{start}\n{end}\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{figures}{end}{tail}")


if __name__ == "__main__":
    main()
