"""S3 requests and bytes per ETL run on the S3 store (docs/benchmarks-aws.md).

Runs the pipeline against a moto server on loopback with the real files read from disk, and
counts every S3 request through botocore's event hooks (``tests.helpers.aws.s3_traffic``). The
runs load what the stack loads with template.yaml's defaults: the national series, the per-state
series and the NYT's notes. A warm container is one whose temporary directory still holds the
copy of the last commit; a cold one starts with an empty directory. Request counts and bytes do
not depend on the machine.

    python -m bench.bench_s3
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.aws import S3Traffic, s3_traffic  # noqa: E402
from tests.helpers.data import unpack_versions  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "real"
DATA = ROOT / "src" / "covid_etl" / "data"
# The daily update measured: two consecutive daily versions of the NYT's files.
DAYS = ("2021-06-15", "2021-06-16")


def snapshot() -> dict[str, str]:
    """The shipped snapshot of every source the stack fetches by default."""
    return {
        "nyt_url": str(DATA / "nyt-us.csv"),
        "jhu_url": str(DATA / "jhu-combined-us.csv"),
        "states_url": str(DATA / "nyt-us-states.csv"),
        "anomalies_url": str(DATA / "nyt-anomalies.csv"),
    }


def daily(day: str, versions: Path) -> dict[str, str]:
    """The files as they stood on ``day``; the notes (one snapshot) are the same every day."""
    return {
        "nyt_url": str(REAL / "nyt" / f"us-{day}.csv"),
        "jhu_url": str(REAL / "jhu" / f"time-series-19-covid-combined-US-{day}.csv"),
        "states_url": str(versions / f"us-states-{day}.csv"),
        "anomalies_url": str(DATA / "nyt-anomalies.csv"),
    }


def run(url: str, files: dict[str, str], tmp: Path, *, cold: bool) -> tuple[str, S3Traffic]:
    from covid_etl.run.pipeline import run_etl
    from covid_etl.series.anomalies import ANOMALIES_NAME
    from covid_etl.settings import Settings

    if cold:  # a new container: nothing cached
        tmp = Path(tempfile.mkdtemp(dir=tmp))
    tempfile.tempdir = str(tmp)
    with s3_traffic() as traffic:
        result = run_etl(Settings(database_url=url, environment="bench").replace(**files))
    done = result.run
    assert done.status.value == "succeeded", done.error
    counts = [("national", done.inserted, done.updated, done.unchanged)]
    for name, series in (("states", done.states), ("notes", done.counts(ANOMALIES_NAME))):
        if series is not None:
            counts.append((name, series.inserted, series.updated, series.unchanged))
    outcome = "; ".join(f"{n} {i:,} / {u:,} / {c:,}" for n, i, u, c in counts)
    return outcome, traffic


def row(label: str, outcome: str, traffic: S3Traffic) -> str:
    gets = ", ".join(
        f"{traffic.count('GetObject', status)} × {status}"
        for status in (200, 304, 404)
        if traffic.count("GetObject", status)
    )
    puts = traffic.count("PutObject")
    return f"| {label} | {outcome} | {gets} | {puts} | {traffic.received:,} | {traffic.sent:,} |"


def object_size(s3: Any, bucket: str, name: str) -> int:
    return int(s3.head_object(Bucket=bucket, Key=f"bench/{name}")["ContentLength"])


def main() -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        os.environ[name] = value
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        s3 = boto3.client("s3")
        for bucket in ("full", "daily", "daily-cold", "national"):
            s3.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory() as scratch:
            tmp = Path(scratch)
            versions = unpack_versions(
                Path(tempfile.mkdtemp(dir=tmp)), lambda day: day.isoformat() in DAYS
            )
            lines = [
                "| run | rows new / revised / unchanged | GetObject | PutObject "
                "| bytes received | bytes sent |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            full = "s3://full/bench"
            outcome, traffic = run(full, snapshot(), tmp, cold=False)
            lines.append(row("initial load of the snapshot (no object yet)", outcome, traffic))
            size_first = object_size(s3, "full", "covid-etl.db")
            outcome, traffic = run(full, snapshot(), tmp, cold=False)
            lines.append(row("no change, warm container", outcome, traffic))
            outcome, traffic = run(full, snapshot(), tmp, cold=True)
            lines.append(row("no change, cold container", outcome, traffic))
            before, after = (daily(day, versions) for day in DAYS)
            run("s3://daily/bench", before, tmp, cold=False)
            outcome, traffic = run("s3://daily/bench", after, tmp, cold=False)
            lines.append(row(f"daily update {DAYS[0]} → {DAYS[1][-2:]}, warm", outcome, traffic))
            run("s3://daily-cold/bench", before, tmp, cold=False)
            outcome, traffic = run("s3://daily-cold/bench", after, tmp, cold=True)
            lines.append(row("the same update, cold container", outcome, traffic))
            # For comparison only: the national series alone (StatesUrl and AnomaliesUrl off).
            national = {**snapshot(), "states_url": "off", "anomalies_url": "off"}
            run("s3://national/bench", national, tmp, cold=False)
            size_national = object_size(s3, "national", "covid-etl.db")
            size_three = object_size(s3, "full", "covid-etl.db")
            csv_size = object_size(s3, "full", "acg-covid-data.csv")
            log_size = object_size(s3, "full", "CHANGE_LOG.csv")
        print("\n".join(lines))
        print(f"\ncovid-etl.db after the initial load of the snapshot: {size_first:,} bytes")
        print(f"covid-etl.db after the snapshot's three runs: {size_three:,} bytes")
        print(f"covid-etl.db, national series only, after one run: {size_national:,} bytes")
        print(f"acg-covid-data.csv: {csv_size:,} bytes; CHANGE_LOG.csv: {log_size:,} bytes")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
