"""The examples users copy from the documentation work: every curl request, command, pandas read
and AWS object name of docs/examples.md, and every SQL query of docs/reference/database.md,
against the real app served on loopback and stores loaded from the shipped snapshot."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from click.testing import CliRunner, Result

from covid_etl.cli import app
from covid_etl.publish.original import CSV_NAME, original_files
from covid_etl.run.pipeline import run_etl
from covid_etl.run.replay import replay
from covid_etl.settings import Settings
from covid_etl.store import open_store
from docs_gen.http_reference import openapi_document
from tests.helpers.data import unpack_versions
from tests.helpers.env import ANOMALIES_LOCAL, cli_env, fast_settings
from tests.helpers.loaded import LoadedStores
from tests.helpers.serve import serving

ROOT = Path(__file__).parents[2]
EXAMPLES = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
DATABASE = (ROOT / "docs" / "reference" / "database.md").read_text(encoding="utf-8")
# Where the examples expect `covid-etl serve`: its default address.
BASE = "http://127.0.0.1:8000"
SHIPPED_STATES = str(resources.files("covid_etl") / "data" / "nyt-us-states.csv")
# The day whose NYT versions are replayed before the snapshot run, for the as-of examples.
REPLAYED = dt.date(2020, 11, 3)
# What `covid-etl run --offline` loads: every source, from the snapshot.
OFFLINE_EVERY_SOURCE = (
    {"offline": True, "states_url": SHIPPED_STATES, "anomalies_url": ANOMALIES_LOCAL},
)


class Block(NamedTuple):
    language: str
    code: str


def fenced_blocks(markdown: str) -> list[Block]:
    return [Block(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", markdown, re.S | re.M)]


def blocks(markdown: str, language: str) -> list[str]:
    return [b.code for b in fenced_blocks(markdown) if b.language == language]


# -- the stores and the server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def history_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store given the NYT's versions of REPLAYED, then loaded by an offline run: what a user
    has after `covid-etl replay` of one day and `covid-etl run --offline`."""
    directory = tmp_path_factory.mktemp("examples")
    (directory / "versions").mkdir()
    versions = unpack_versions(directory / "versions", lambda day: day == REPLAYED)
    url = f"sqlite:///{directory / 'covid-etl.db'}"
    settings = fast_settings(url, **OFFLINE_EVERY_SOURCE[0])
    store = open_store(url)
    try:
        replayed = replay(settings, [versions], store)
    finally:
        store.close()
    assert replayed.failed is None and replayed.dates == 1
    assert run_etl(settings).succeeded
    return url


@pytest.fixture(scope="module")
def served(history_url: str) -> Iterator[str]:
    env = cli_env(
        history_url, COVID_ETL_STATES_URL=SHIPPED_STATES, COVID_ETL_ANOMALIES_URL=ANOMALIES_LOCAL
    )
    with serving(env, "--no-schedule") as server:
        yield server.base_url


# -- curl --------------------------------------------------------------------------------------


class Request(NamedTuple):
    method: str
    url: str
    headers: dict[str, str]


# A curl command up to the end of its line, a pipe or the end of a command substitution.
CURL = re.compile(r"\bcurl\b[^|)\n]*")
ASSIGNMENT = re.compile(r"^(\w+)='([^']*)'$", re.M)
OPTIONS_WITH_VALUES = {"-H", "-o", "-w", "-X", "--header", "--output", "--write-out"}


def curl_requests(block: str) -> list[Request]:
    """The requests the block's curl commands send, ``$variables`` assigned in the block
    substituted (``$etag`` is left for the caller: it is the answer of a request before)."""
    variables = dict(ASSIGNMENT.findall(block))
    requests = []
    for command in CURL.findall(block.replace("\\\n", " ")):
        words = [
            re.sub(r"\$(\w+)", lambda m: variables.get(m[1], m[0]), w) for w in shlex.split(command)
        ]
        method, headers, url, i = "GET", {}, "", 1
        while i < len(words):
            word = words[i]
            if word in OPTIONS_WITH_VALUES:
                if word in ("-H", "--header"):
                    name, _, value = words[i + 1].partition(":")
                    headers[name.strip()] = value.strip()
                i += 2
                continue
            if word.startswith("-") and not word.startswith("--") and "I" in word:
                method = "HEAD"
            elif not word.startswith("-"):
                url = word
            i += 1
        requests.append(Request(method, url, headers))
    return requests


def test_examples_page_has_a_curl_example_for_every_endpoint_family() -> None:
    requested = {
        httpx.URL(r.url).path for block in blocks(EXAMPLES, "sh") for r in curl_requests(block)
    }
    served_paths = [
        path for path in openapi_document()["paths"] if path not in ("/healthz", "/metrics")
    ]
    missing = [
        path
        for path in served_paths
        if not any(re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), p) for p in requested)
    ]
    assert missing == []
    assert len(requested) >= 12


def test_every_curl_example_answers_200_or_the_304_it_shows(served: str) -> None:
    """Each request as curl sends it (no compression asked); an ``If-None-Match: $etag`` gets
    the ETag of the block's previous answer and must get 304."""
    answered = 0
    for block in blocks(EXAMPLES, "sh"):
        etag = None
        for request in curl_requests(block):
            assert request.url.startswith(BASE + "/"), request
            headers = {"Accept": "*/*", "Accept-Encoding": "identity", **request.headers}
            revalidating = "If-None-Match" in headers
            if revalidating:
                assert etag is not None, "no answer before to take the ETag of"
                headers["If-None-Match"] = headers["If-None-Match"].replace("$etag", etag)
            url = served + request.url.removeprefix(BASE)
            response = httpx.request(request.method, url, headers=headers, timeout=30)
            expected = 304 if revalidating else 200
            assert response.status_code == expected, (request, response.text[:300])
            etag = response.headers.get("etag")
            answered += 1
    assert answered >= 20


def test_every_json_answer_shown_is_the_answer_of_the_request_before_it(served: str) -> None:
    shown = fenced_blocks(EXAMPLES)
    pairs = [(a, b) for a, b in itertools.pairwise(shown) if b.language == "json"]
    assert pairs, "the page shows an answer"
    for asked, answer in pairs:
        (request,) = curl_requests(asked.code)
        response = httpx.get(served + request.url.removeprefix(BASE), timeout=30)
        assert response.json() == json.loads(answer.code)


def test_revalidation_example_shows_304() -> None:
    (block,) = [b for b in blocks(EXAMPLES, "sh") if "If-None-Match" in b]
    after = EXAMPLES.split(block, 1)[1]
    assert after.lstrip().startswith("```\n\n```text\n304\n```")


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_revalidation_example_prints_304_when_the_shell_runs_it(served: str) -> None:
    (block,) = [b for b in blocks(EXAMPLES, "sh") if "If-None-Match" in b]
    ran = subprocess.run(
        ["bash", "-c", block.replace(BASE, served)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (0, "304\n"), ran.stderr


# -- the command line --------------------------------------------------------------------------


def cli_examples() -> list[str]:
    return [
        line.strip()
        for block in blocks(EXAMPLES, "sh")
        for line in block.splitlines()
        if line.startswith("covid-etl ")
    ]


@pytest.fixture(scope="module")
def cli_results(
    history_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Result]]:
    """Each command-line example run in a directory of its own, on the history store."""
    directory = tmp_path_factory.mktemp("cli")
    runner = CliRunner()
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        for line in cli_examples():
            env = {"COVID_ETL_DATABASE_URL": history_url}
            results[line] = runner.invoke(app, shlex.split(line)[1:], env=env)
    return directory, results


def test_every_command_line_example_succeeds(cli_results: tuple[Path, dict[str, Result]]) -> None:
    directory, results = cli_results
    assert len(results) >= 8
    assert {line.split()[1] for line in results} >= {"export", "runs", "changes", "revisions"}
    for line, result in results.items():
        assert result.exit_code == 0, (line, result.output, result.exception)
        words = shlex.split(line)
        if "-o" in words:
            written = directory / words[words.index("-o") + 1]
            assert written.stat().st_size > 100, line
        else:
            assert len(result.output) > 100, line


# -- pandas ------------------------------------------------------------------------------------

READ_CSV = re.compile(r"read_csv\(\s*\"(?P<source>[^\"]+)\"(?P<args>[^)]*)\)", re.S)
NAME = re.compile(r"\"([A-Za-z_][\w-]*)\"")


def csv_header_and_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_every_pandas_example_names_columns_its_csv_has(
    served: str, history_url: str, cli_results: tuple[Path, dict[str, Result]]
) -> None:
    """pandas is not a dependency: each CSV the examples read is parsed with the csv module,
    and every column an example names must be in one of its block's CSVs (the ones named in
    ``parse_dates``, ``index_col`` and ``dtype`` in the CSV read with them, and dates there
    must parse)."""
    directory, _ = cli_results
    store = open_store(history_url)
    try:
        (directory / CSV_NAME).write_bytes(original_files(store)[CSV_NAME])
    finally:
        store.close()
    python = blocks(EXAMPLES, "python")
    assert len(python) >= 3
    for block in python:
        headers: set[str] = set()
        sources = list(READ_CSV.finditer(block))
        assert sources, block
        for read in sources:
            source = read["source"]
            if source.startswith(BASE):
                response = httpx.get(served + source.removeprefix(BASE), timeout=30)
                assert response.status_code == 200, source
                text = response.text
            else:
                text = (directory / source).read_text(encoding="utf-8")
            header, rows = csv_header_and_rows(text)
            assert rows, source
            named_here = set(NAME.findall(read["args"]))
            assert named_here <= set(header), (source, named_here - set(header))
            for column in re.findall(r"parse_dates=\[\"(\w+)\"\]", read["args"]):
                for row in rows:
                    dt.date.fromisoformat(row[column])
            headers |= set(header)
        named = set(NAME.findall(READ_CSV.sub("", block)))
        assert named <= headers, named - headers


# -- the AWS stack's CSV -----------------------------------------------------------------------


def test_aws_example_reads_the_object_the_stack_publishes() -> None:
    (block,) = [b for b in blocks(EXAMPLES, "sh") if "aws s3 cp" in b]
    stack = re.search(r"--stack-name (\S+)", block)
    output = re.search(r"OutputKey=='(\w+)'", block)
    key = re.search(r"s3://\$bucket/(\S+?)\"", block)
    assert stack and output and key
    samconfig = (ROOT / "samconfig.toml").read_text()
    assert f'stack_name = "{stack[1]}"' in samconfig
    template = (ROOT / "template.yaml").read_text()
    outputs = template.split("\nOutputs:\n", 1)[1]
    assert f"\n  {output[1]}:\n" in "\n" + outputs
    assert key[1] == f"{Settings().environment}/{CSV_NAME}"


# -- SQL on the database page ------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline_path(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A copy of the store one `covid-etl run --offline` loads."""
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("sql"), OFFLINE_EVERY_SOURCE)
    return Path(url.removeprefix("sqlite:///"))


def test_every_sql_example_on_the_database_page_returns_rows(offline_path: Path) -> None:
    queries = blocks(DATABASE, "sql")
    assert len(queries) >= 5
    conn = sqlite3.connect(f"file:{offline_path}?mode=ro", uri=True)
    try:
        for query in queries:
            rows: list[Any] = conn.execute(query).fetchall()
            assert rows, query
    finally:
        conn.close()
