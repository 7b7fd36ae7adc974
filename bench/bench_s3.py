"""S3 requests and bytes per ETL run on the S3 store (docs/benchmarks-aws.md).

Runs the pipeline against a moto server on loopback with the real files read from disk, and
counts every S3 request through botocore's event hooks (``tests.helpers.aws.s3_traffic``). A warm
container is one whose temporary directory still holds the copy of the last commit; a cold one
starts with an empty directory. Request counts and bytes do not depend on the machine.

    python -m bench.bench_s3
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.aws import S3Traffic, s3_traffic  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "real"
DATA = ROOT / "src" / "covid_etl" / "data"


def files(day: str | None) -> dict[str, str]:
    if day is None:
        return {"nyt_url": str(DATA / "nyt-us.csv"), "jhu_url": str(DATA / "jhu-combined-us.csv")}
    return {
        "nyt_url": str(REAL / "nyt" / f"us-{day}.csv"),
        "jhu_url": str(REAL / "jhu" / f"time-series-19-covid-combined-US-{day}.csv"),
    }


def run(url: str, day: str | None, tmp: Path, *, cold: bool) -> tuple[str, S3Traffic]:
    from covid_etl.run.pipeline import run_etl
    from covid_etl.settings import Settings

    if cold:  # a new container: nothing cached
        tmp = Path(tempfile.mkdtemp(dir=tmp))
    tempfile.tempdir = str(tmp)
    with s3_traffic() as traffic:
        result = run_etl(Settings(database_url=url, environment="bench", **files(day)))
    run = result.run
    assert run.status.value == "succeeded", run.error
    return f"{run.inserted} inserted, {run.updated} updated, {run.unchanged} unchanged", traffic


def row(label: str, outcome: str, traffic: S3Traffic) -> str:
    gets = ", ".join(
        f"{traffic.count('GetObject', status)} × {status}"
        for status in (200, 304, 404)
        if traffic.count("GetObject", status)
    )
    puts = traffic.count("PutObject")
    return f"| {label} | {outcome} | {gets} | {puts} | {traffic.received:,} | {traffic.sent:,} |"


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
        for bucket in ("full", "daily", "daily-cold"):
            s3.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory() as scratch:
            tmp = Path(scratch)
            lines = [
                "| run | rows | GetObject | PutObject | bytes received | bytes sent |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            full = "s3://full/bench"
            outcome, traffic = run(full, None, tmp, cold=False)
            lines.append(row("initial load, 816 days (no object yet)", outcome, traffic))
            outcome, traffic = run(full, None, tmp, cold=False)
            lines.append(row("no change, warm container", outcome, traffic))
            outcome, traffic = run(full, None, tmp, cold=True)
            lines.append(row("no change, cold container", outcome, traffic))
            daily = "s3://daily/bench"
            run(daily, "2021-06-15", tmp, cold=False)
            outcome, traffic = run(daily, "2021-06-16", tmp, cold=False)
            lines.append(row("daily update 2021-06-15 → 16, warm", outcome, traffic))
            run("s3://daily-cold/bench", "2021-06-15", tmp, cold=False)
            outcome, traffic = run("s3://daily-cold/bench", "2021-06-16", tmp, cold=True)
            lines.append(row("the same update, cold container", outcome, traffic))
            size = s3.head_object(Bucket="full", Key="bench/covid-etl.db")["ContentLength"]
            csv_size = s3.head_object(Bucket="full", Key="bench/acg-covid-data.csv")[
                "ContentLength"
            ]
        print("\n".join(lines))
        print(f"\ncovid-etl.db after the real data's three runs: {size:,} bytes")
        print(f"acg-covid-data.csv (816 rows): {csv_size:,} bytes")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
