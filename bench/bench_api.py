"""API benchmark: covid-etl serve against Datasette on the same SQLite table, on loopback.

    python bench/bench_api.py [--duration 10] [--connections 50] [--no-browser]

Loads the bundled 816-row snapshot into a fresh SQLite file, starts ``covid-etl serve
--no-schedule`` and ``datasette`` on free 127.0.0.1 ports, and measures each URL with wrk
(Debian's ``wrk``; falls back to an async httpx client when wrk is missing) at the same
concurrency. Then times the dashboard's first drawn chart in headless Chromium. Prints a Markdown
table and writes bench-results/api.json.

Datasette is found as ``$DATASETTE``, on PATH, or installed into /tmp/bench-datasette (a venv of
its own, so its pins never touch the project's environment).
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.serve import free_port, serving  # noqa: E402

DATASETTE_VENV = Path("/tmp/bench-datasette")
# On the 2-core reference machine the server under test gets CPU 0 and the load generator CPU 1,
# so neither steals the other's time slices (unpinned, the p99 mostly measures that contention).
SERVER_CPU = ["taskset", "-c", "0"] if shutil.which("taskset") and os.cpu_count() else []
CLIENT_CPU = ["taskset", "-c", "1"] if SERVER_CPU and (os.cpu_count() or 1) >= 2 else []
CHROMIUM = Path("/usr/bin/chromium")
RECORDS = "covid-etl /api/v1/records (all rows)"
DATASETTE = "datasette /db/records.json?_shape=array&_size=max"
STATES = "covid-etl /api/v1/states"
DATASETTE_STATES = "datasette /db/states.json?date=<last day>&_shape=array&_size=max"
STATE = "covid-etl /api/v1/states/06/records"
DATASETTE_STATE = "datasette /db/states.json?fips=06&_shape=array&_size=max"
# Each covid-etl endpoint next to the Datasette query serving the same rows of the same table.
PAIRS = {RECORDS: DATASETTE, STATES: DATASETTE_STATES, STATE: DATASETTE_STATE}


def load_store(directory: Path) -> tuple[str, Path]:
    from covid_etl.run.pipeline import run_etl
    from covid_etl.settings import Settings

    path = directory / "covid.db"
    url = f"sqlite:///{path}"
    # Offline with the default states URL: the national and the per-state snapshots shipped in
    # the package.
    result = run_etl(Settings(database_url=url, offline=True, environment="bench"))
    assert result.succeeded, result.run.error
    return url, path


def datasette_copy(db: Path) -> Path:
    """The same database for Datasette, under the same name (its URLs use it), plus an index
    on the per-state table's dates: covid-etl keys that table by (fips, date) and serves its
    per-date snapshot from the series it keeps rendered, while Datasette answers ``?date=``
    with SQL, which would otherwise scan the whole table. The index is Datasette's due."""
    copy = db.parent / "datasette" / db.name
    copy.parent.mkdir()
    source, target = sqlite3.connect(db), sqlite3.connect(copy)
    try:
        source.backup(target)
        target.execute("CREATE INDEX states_by_date ON states (date)")
        target.commit()
    finally:
        source.close()
        target.close()
    return copy


def datasette_command() -> list[str]:
    found = os.environ.get("DATASETTE") or shutil.which("datasette")
    if found:
        return [found]
    exe = DATASETTE_VENV / "bin" / "datasette"
    if not exe.exists():
        print("installing datasette into", DATASETTE_VENV, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(DATASETTE_VENV)], check=True)
        pip = [str(DATASETTE_VENV / "bin" / "pip"), "install", "--quiet", "datasette"]
        subprocess.run(pip, check=True)
    return [str(exe)]


@contextmanager
def datasette(db: Path) -> Iterator[str]:
    port = free_port()
    command = [*SERVER_CPU, *datasette_command(), "serve", str(db), "-h", "127.0.0.1"]
    command += ["-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/-/versions.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("datasette did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def parse_wrk(output: str) -> dict[str, float]:
    def ms(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def run_wrk(url: str, duration: int, connections: int, encoding: str) -> dict[str, float]:
    # One wrk thread drives 50 connections at a fraction of a core.
    command = [*CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += [*(["-H", f"Accept-Encoding: {encoding}"] if encoding else []), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


async def _httpx_load(url: str, duration: int, connections: int, encoding: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Accept-Encoding": encoding or "identity"}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        end = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code >= 400

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "non_2xx": errors,
    }


def measure(url: str, duration: int, connections: int, encoding: str = "") -> dict[str, Any]:
    httpx.get(url, timeout=30).raise_for_status()  # warm caches; fail loudly on a bad URL
    if shutil.which("wrk"):
        return {**run_wrk(url, duration, connections, encoding), "tool": "wrk"}
    return {**asyncio.run(_httpx_load(url, duration, connections, encoding)), "tool": "httpx"}


def first_chart_ms(base_url: str, loads: int = 5) -> tuple[list[float], list[float]]:
    """Per fresh load: when the charts and when the states map were drawn (ms, page clock)."""
    from playwright.sync_api import sync_playwright

    probe = (
        "new MutationObserver(function (c, o) { var b = document.body; if (!b) return; "
        "if (b.dataset.state === 'ready' && window.__readyAt === undefined) "
        "window.__readyAt = performance.now(); "
        "if (b.dataset.map === 'ready' && window.__mapAt === undefined) "
        "window.__mapAt = performance.now(); "
        "if (window.__readyAt !== undefined && window.__mapAt !== undefined) o.disconnect(); "
        "}).observe(document, {attributes: true, subtree: true, "
        "attributeFilter: ['data-state', 'data-map']});"
    )
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]  # fmt: skip
    times: list[float] = []
    maps: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        for _ in range(loads):
            # A fresh context each time: an empty HTTP cache, as for a first visit.
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.add_init_script(probe)
            page.goto(base_url + "/")
            page.wait_for_function(
                "() => window.__readyAt !== undefined && window.__mapAt !== undefined",
                timeout=15_000,
            )
            times.append(float(page.evaluate("window.__readyAt")))
            maps.append(float(page.evaluate("window.__mapAt")))
            context.close()
        browser.close()
    return times, maps


def states_targets(base_url: str, ds_states: str) -> list[tuple[str, str, str]]:
    """The states endpoints and the Datasette queries for the same rows: the rows of the last
    day (one per jurisdiction) and one state's whole series."""
    snapshot = httpx.get(base_url + "/api/v1/states").json()
    last = snapshot["data_through"]
    assert len(snapshot["states"]) == 55, len(snapshot["states"])
    on_last = ds_states + f"?date={last}&_shape=array&_size=max"
    california = ds_states + "?fips=06&_shape=array&_size=max"
    ours = httpx.get(base_url + "/api/v1/states/06/records").json()["records"]
    assert len(httpx.get(california).json()) == len(ours), "datasette serves other rows"
    assert len(httpx.get(on_last).json()) == 55
    return [
        (STATES, base_url + "/api/v1/states", ""),
        (STATE, base_url + "/api/v1/states/06/records", ""),
        (DATASETTE_STATES, on_last, ""),
        (DATASETTE_STATE, california, ""),
    ]


def timing(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "max": max(times), "runs": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per URL")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "connections": args.connections,
        "duration_s": args.duration,
        "pinned": bool(SERVER_CPU),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url, db = load_store(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
        env["COVID_ETL_DATABASE_URL"] = url
        served_cm = serving(env, "--no-schedule", prefix=SERVER_CPU)
        with served_cm as served, datasette(datasette_copy(db)) as ds:
            records = served.base_url + "/api/v1/records"
            ds_records = ds + f"/{db.stem}/records.json?_shape=array&_size=max"
            # (name, url, Accept-Encoding): identity is the like-for-like comparison (Datasette
            # does not compress); gzip is what browsers and HTTP libraries actually ask for.
            targets = [
                (RECORDS, records, ""),
                ("covid-etl /api/v1/records (all rows, gzip)", records, "gzip"),
                ("covid-etl /api/v1/summary", served.base_url + "/api/v1/summary", ""),
                (DATASETTE, ds_records, ""),
            ]
            rows = len(httpx.get(records).json()["records"])
            ds_rows = len(httpx.get(ds_records).json())
            assert rows == ds_rows == 816, (rows, ds_rows)
            targets += states_targets(served.base_url, ds + f"/{db.stem}/states.json")
            for name, target, encoding in targets:
                print(f"measuring {name} ...", file=sys.stderr)
                results[name] = measure(target, args.duration, args.connections, encoding)
            if not args.no_browser and CHROMIUM.exists():
                times, maps = first_chart_ms(served.base_url)
                results["dashboard first chart ms"] = timing(times)
                results["dashboard map drawn ms"] = timing(maps)
    for ours, theirs in PAIRS.items():
        results[f"{ours} speedup vs datasette"] = results[ours]["rps"] / results[theirs]["rps"]

    print("| endpoint | tool | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---:|---:|---:|---:|")
    for name, value in results.items():
        if isinstance(value, dict) and "rps" in value:
            print(
                f"| {name} | {value['tool']} | {value['rps']:.0f} | {value['p50_ms']:.2f} "
                f"| {value['p99_ms']:.2f} | {value['non_2xx']} |"
            )
    print()
    for ours in PAIRS:
        print(f"{ours} throughput vs Datasette: {results[f'{ours} speedup vs datasette']:.1f}x")
    for name in ("dashboard first chart ms", "dashboard map drawn ms"):
        if name in results:
            got = results[name]
            print(f"{name}: median {got['median']:.0f} ms, max {got['max']:.0f} ms")
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "api.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
