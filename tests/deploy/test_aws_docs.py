"""The AWS pages quote what the stack really does: the size of the database object it stores and
the parameters it takes.

The size is measured here: the ETL function's own code (``run_invocation``) runs once with the
environment template.yaml gives the function by default, reading the shipped snapshot
(``COVID_ETL_OFFLINE``), into an S3 store on moto. Each page quotes the size in one sentence of a
fixed shape, ``the database object `covid-etl.db` is N bytes``, which is what is checked.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import test_template as tt

pytest.importorskip("moto")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Every page that quotes the size of the database object.
QUOTING_PAGES = ("benchmarks-aws.md", "deploy-aws.md", "write-up.md")
SIZE_SENTENCE = re.compile(
    r"the database object `covid-etl\.db` is \**([0-9][0-9,]*)\** bytes", re.I
)
TOLERANCE = 0.10  # the quoted size may be this far off the measured one, either way
BUCKET = "covid-etl-docs-check"


def quoted_sizes(text: str) -> list[int]:
    """Every size the text quotes in the fixed sentence (line breaks inside it allowed)."""
    flat = " ".join(text.split())
    return [int(found.replace(",", "")) for found in SIZE_SENTENCE.findall(flat)]


def size_mismatches(text: str, measured: int) -> list[str]:
    """Why the text's quoted size disagrees with ``measured``; empty when it agrees."""
    sizes = quoted_sizes(text)
    if not sizes:
        return ["no sentence 'the database object `covid-etl.db` is N bytes'"]
    return [
        f"quotes {size:,} bytes; measured {measured:,} (more than {TOLERANCE:.0%} apart)"
        for size in sizes
        if abs(size - measured) > TOLERANCE * measured
    ]


def function_environment(template: dict[str, Any]) -> dict[str, str]:
    """The ETL function's environment with every parameter at its default. Values that are not
    a parameter (the store's bucket, the topic) are left out: the test sets the store."""
    parameters = template["Parameters"]
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"]["EtlFunction"]["Properties"]["Environment"]["Variables"],
    }
    env: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif isinstance(value, dict) and value.get("Ref") in parameters:
            env[name] = str(parameters[value["Ref"]].get("Default", ""))
    return env


@pytest.fixture(scope="module")
def measured_size(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Bytes of ``production/covid-etl.db`` after one default run of the stack's ETL function."""
    import boto3
    from moto import mock_aws

    from covid_etl.aws.etl import run_invocation
    from covid_etl.aws.events import parse_invocation
    from tests.helpers.aws import fake_credentials

    env = function_environment(tt._load_template())
    # What the pages describe: the defaults load the per-state series and the notes.
    assert env["COVID_ETL_STATES_URL"] != "off" and env["COVID_ETL_ANOMALIES_URL"] != "off"
    env.update(COVID_ETL_DATABASE_URL=f"s3://{BUCKET}", COVID_ETL_OFFLINE="1")
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        fake_credentials(mp)
        # The store's local copy (Lambda's /tmp) goes to this test's own directory.
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("lambda-tmp")))
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        invocation = parse_invocation({"environment": "production", "trigger": "schedule"}, None)
        summary = run_invocation(invocation, env)
        assert (summary["inserted"], summary["states"]["inserted"]) == (1100, 27129)
        assert summary["anomalies"]["added"] == 615
        head = s3.head_object(Bucket=BUCKET, Key="production/covid-etl.db")
    return int(head["ContentLength"])


@pytest.mark.parametrize("page", QUOTING_PAGES)
def test_page_quotes_the_measured_database_object_size(page: str, measured_size: int) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert size_mismatches(text, measured_size) == [], page


def test_size_check_refuses_a_national_only_figure(measured_size: int) -> None:
    # The figure the pages quoted when the benchmarks left the per-state series out.
    stale = "Loaded so, the database object\n`covid-etl.db` is **61,440** bytes."
    assert quoted_sizes(stale) == [61440]
    assert size_mismatches(stale, measured_size) != []
    assert size_mismatches("The database object is 61,440 bytes.", measured_size) != []
    exact = f"the database object `covid-etl.db` is {measured_size:,} bytes"
    assert size_mismatches(exact, measured_size) == []


def parameter_table(text: str) -> dict[str, str]:
    """The guide's parameter table: each parameter's name and its Default cell."""
    section = text.split("\n## Parameters\n", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)
    return {name: default.strip() for name, default in rows}


def test_deploy_guide_lists_every_parameter_with_its_default() -> None:
    parameters = tt._load_template()["Parameters"]
    table = parameter_table((DOCS / "deploy-aws.md").read_text(encoding="utf-8"))
    assert list(table) == list(parameters)
    for name, parameter in parameters.items():
        default = str(parameter.get("Default", ""))
        assert table[name] == (f"`{default}`" if default else "empty"), name
