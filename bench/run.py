"""Benchmark covid-etl's core run against a pandas baseline; write docs/benchmarks.md.

    python -m bench.run [--repeat N] [--json] [--no-docs] [--strict]

``BENCH_REPEAT`` sets the default number of repetitions (5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .measure import Launcher, Sample, Series, byte_compile_package
from .report import machine, markdown, phase_medians, targets
from .server import FileHost

ROOT = Path(__file__).resolve().parent.parent
NYT_FILE = ROOT / "src" / "covid_etl" / "data" / "nyt-us.csv"
JHU_FILE = ROOT / "tests" / "fixtures" / "real" / "jhu" / "time-series-19-covid-combined.csv"
EXPECTED_ROWS = 420
EXPECTED_THROUGH = "2021-03-16"
BIN = Path(sys.executable).parent
PYTHON = sys.executable

CASES = {
    "etl_initial": "covid-etl initial load",
    "etl_rerun": "covid-etl no-change re-run",
    "pd_initial": "pandas baseline, initial load",
    "pd_rerun": "pandas baseline, re-run",
    "py_startup": "`python -c pass` (interpreter start-up)",
    "etl_version": "`covid-etl --version` (start-up and CLI imports)",
    "pd_import": '`python -c "import pandas"`',
}


class Check(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Check(message)


def etl_env(db: Path, host: FileHost) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
    env.update(
        COVID_ETL_DATABASE_URL=f"sqlite:///{db}",
        COVID_ETL_NYT_URL=host.url("/nyt/us.csv"),
        COVID_ETL_JHU_URL=host.url("/jhu/time-series-19-covid-combined.csv"),
        # The national job only; the per-state series has its own benchmark (bench/states.py).
        COVID_ETL_STATES_URL="off",
        COVID_ETL_ANOMALIES_URL="off",  # the baseline has no notes either
    )
    return env


def table_rows(db: Path) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT date, cases, deaths, recovered FROM records ORDER BY date"
        ).fetchall()
    finally:
        con.close()


class Bench:
    """One repetition of every case, with the checks that make the numbers mean something."""

    def __init__(self, host: FileHost, workdir: Path, launcher: Launcher) -> None:
        self.host = host
        self.run = launcher.run
        self.workdir = workdir
        self.counter = 0
        self.pandas_phases: dict[str, list[dict[str, float]]] = {"initial": [], "rerun": []}

    def fresh(self, stem: str) -> Path:
        self.counter += 1
        return self.workdir / f"{stem}-{self.counter}.db"

    def covid_etl(self) -> tuple[Sample, Sample, Path]:
        db = self.fresh("covid-etl")
        env = etl_env(db, self.host)
        argv = [str(BIN / "covid-etl"), "run", "--json"]
        first = self.run(argv, env)
        out = json.loads(first.stdout)
        expect(out["status"] == "succeeded", f"initial load failed: {out}")
        expect(out["initial_load"] and out["inserted"] == EXPECTED_ROWS, f"initial load: {out}")
        expect(out["data_through"] == EXPECTED_THROUGH, f"initial load: {out}")
        ok, not_modified = self.host.count(200), self.host.count(304)
        second = self.run(argv, env)
        out = json.loads(second.stdout)
        expect(out["status"] == "succeeded", f"re-run failed: {out}")
        expect(
            (out["inserted"], out["updated"], out["unchanged"]) == (0, 0, EXPECTED_ROWS),
            f"re-run changed rows: {out}",
        )
        expect(
            (self.host.count(200) - ok, self.host.count(304) - not_modified) == (0, 2),
            "the re-run was not answered with two 304s",
        )
        return first, second, db

    def pandas(self) -> tuple[Sample, Sample, Path]:
        db = self.fresh("pandas")
        argv = [
            PYTHON,
            str(ROOT / "bench" / "pandas_baseline.py"),
            "--db",
            str(db),
            "--nyt-url",
            self.host.url("/nyt/us.csv"),
            "--jhu-url",
            self.host.url("/jhu/time-series-19-covid-combined.csv"),
        ]
        first = self.run(argv)
        out = json.loads(first.stdout)
        expect(out["inserted"] == EXPECTED_ROWS, f"pandas initial load: {out}")
        expect(out["data_through"] == EXPECTED_THROUGH, f"pandas initial load: {out}")
        self.pandas_phases["initial"].append(out["phases"])
        second = self.run(argv)
        out = json.loads(second.stdout)
        expect(
            (out["inserted"], out["updated"], out["unchanged"]) == (0, 0, EXPECTED_ROWS),
            f"pandas re-run changed rows: {out}",
        )
        self.pandas_phases["rerun"].append(out["phases"])
        return first, second, db

    def repetition(self) -> dict[str, Sample]:
        etl_first, etl_second, etl_db = self.covid_etl()
        pd_first, pd_second, pd_db = self.pandas()
        ours, theirs = table_rows(etl_db), table_rows(pd_db)
        expect(len(ours) == EXPECTED_ROWS, f"covid-etl stored {len(ours)} rows")
        if ours != theirs:
            diffs = [(a, b) for a, b in zip(ours, theirs, strict=False) if a != b][:5]
            raise Check(
                f"covid-etl and pandas tables differ ({len(ours)} vs {len(theirs)}): {diffs}"
            )
        for db in (etl_db, pd_db):
            for path in db.parent.glob(db.name + "*"):
                path.unlink()
        return {
            "etl_initial": etl_first,
            "etl_rerun": etl_second,
            "pd_initial": pd_first,
            "pd_rerun": pd_second,
            "py_startup": self.run([PYTHON, "-c", "pass"]),
            "etl_version": self.run([str(BIN / "covid-etl"), "--version"]),
            "pd_import": self.run([PYTHON, "-c", "import pandas"]),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("BENCH_REPEAT") or 5),
        help="measured repetitions per case (default: $BENCH_REPEAT or 5)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs page")
    parser.add_argument("--results", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    files = {
        "/nyt/us.csv": NYT_FILE.read_bytes(),
        "/jhu/time-series-19-covid-combined.csv": JHU_FILE.read_bytes(),
    }
    series = {key: Series(key, label) for key, label in CASES.items()}
    byte_compile_package()
    with (
        Launcher() as launcher,
        FileHost(files) as host,
        tempfile.TemporaryDirectory(prefix="covid-etl-bench-") as tmp,
    ):
        bench = Bench(host, Path(tmp), launcher)
        say("warm-up round (not counted)")
        bench.repetition()
        bench.pandas_phases = {"initial": [], "rerun": []}
        for i in range(args.repeat):
            say(f"repetition {i + 1}/{args.repeat}")
            for key, sample in bench.repetition().items():
                series[key].samples.append(sample)

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    checks = targets(series)
    phases = (
        phase_medians(bench.pandas_phases["initial"]),
        phase_medians(bench.pandas_phases["rerun"]),
    )
    text = markdown(series, checks, phases, info, args.repeat, when)
    document = {
        "measured_at": when,
        "repeat": args.repeat,
        "machine": info,
        "cases": {key: s.to_json() for key, s in series.items()},
        "targets": [
            {
                "name": t.name,
                "value": round(t.value, 4),
                "limit": t.limit,
                "unit": t.unit,
                "passed": t.passed,
            }
            for t in checks
        ],
        "pandas_phases_median_s": {"initial": phases[0], "rerun": phases[1]},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (args.results / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        args.docs.parent.mkdir(parents=True, exist_ok=True)
        args.docs.write_text(text, encoding="utf-8")
        say(f"wrote {args.docs.relative_to(ROOT) if args.docs.is_relative_to(ROOT) else args.docs}")
    print(json.dumps(document, indent=2) if args.json else text)
    return 1 if args.strict and not all(t.passed for t in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
