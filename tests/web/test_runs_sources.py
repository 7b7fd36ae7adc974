"""What /api/v1/runs shows of a run's sources: never the server's file layout, never a secret.

A run records each source's URL in full (an operator reading the store needs it); the public
answer shows an http(s) URL with its secrets masked and a local file by its file name alone.
The offline snapshot lives inside the installed package (site-packages, or the checkout's src/),
so an offline run is the case every deployment can hit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import covid_etl
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from covid_etl.web.public_runs import public_source_url, without_paths
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT
from tests.helpers.env import fast_settings
from tests.helpers.servers import SourceServer

PACKAGE_DIR = str(Path(covid_etl.__file__).parent)
# A directory name that appears nowhere else, so finding it in an answer can only be a leak.
HIDDEN_DIR = "srv-layout-5e1c9a"
PASSWORD = "pw-Zq81xk"
TOKEN = "tok-9f8e7d6c5b"


def _runs(database_url: str) -> tuple[str, list[dict[str, Any]]]:
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))
    with TestClient(app) as client:
        text = client.get("/api/v1/runs").text
    return text, json.loads(text)["runs"]


def _urls(run: dict[str, Any]) -> dict[str, str]:
    return {source["name"]: source["url"] for source in run["sources"]}


def test_runs_show_local_sources_by_file_name_and_urls_masked(
    loaded_url: str, tmp_path: Path, source_server: SourceServer
) -> None:
    # loaded_url holds one offline run: the snapshot files inside the package. Then a run
    # from copies elsewhere on disk, one named by a path, one by a file:// URL.
    hidden = tmp_path / HIDDEN_DIR / "inputs"
    hidden.mkdir(parents=True)
    nyt_copy = shutil.copy(NYT_CURRENT, hidden / "nyt-copy.csv")
    jhu_copy = shutil.copy(JHU_CURRENT, hidden / "jhu-copy.csv")
    local = run_etl(fast_settings(loaded_url, nyt_url=str(nyt_copy), jhu_url=f"file://{jhu_copy}"))
    assert local.succeeded, local.run.error
    # And a run over http with a password in the authority and a token in the query.
    secret = run_etl(
        fast_settings(
            loaded_url,
            nyt_url=source_server.serve("/us.csv", NYT_CURRENT.read_bytes()).replace(
                "http://", f"http://reader:{PASSWORD}@"
            ),
            jhu_url=source_server.serve(f"/jhu.csv?token={TOKEN}", JHU_CURRENT.read_bytes()),
        )
    )
    assert secret.succeeded, secret.run.error

    text, runs = _runs(loaded_url)
    assert [_urls(run) for run in runs] == [
        {
            "nyt": f"http://reader:***@127.0.0.1:{source_server.port}/us.csv",
            "jhu": f"http://127.0.0.1:{source_server.port}/jhu.csv?token=***",
        },
        {"nyt": "nyt-copy.csv", "jhu": "jhu-copy.csv"},
        {"nyt": "nyt-us.csv", "jhu": "jhu-combined-us.csv", "anomalies": "nyt-anomalies.csv"},
    ]
    for leak in (PACKAGE_DIR, HIDDEN_DIR, str(tmp_path), "file://", PASSWORD, TOKEN):
        assert leak not in text

    # The stored record keeps the full value for the operator.
    store = open_store(loaded_url)
    try:
        stored = {s.name: s.url for s in store.list_runs(limit=3)[1].sources}
    finally:
        store.close()
    assert stored == {"nyt": str(nyt_copy), "jhu": str(jhu_copy)}


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ("/usr/lib/python3/site-packages/covid_etl/data/nyt-us.csv", "nyt-us.csv"),
        ("file:///srv/etl/in/us.csv", "us.csv"),
        ("FILE:///srv/etl/in/us.csv", "us.csv"),
        ("relative/dir/us.csv", "us.csv"),
        ("us.csv", "us.csv"),
        (r"C:\etl\inputs\us.csv", "us.csv"),
        (
            "https://u:secret@example.org/a/us.csv?sig=abc&x=1",
            "https://u:***@example.org/a/us.csv?sig=***&x=1",
        ),
        ("HTTPS://example.org/us.csv", "HTTPS://example.org/us.csv"),
    ],
)
def test_public_source_url_masks_urls_and_keeps_only_file_names(recorded: str, shown: str) -> None:
    assert public_source_url(recorded) == shown


def test_runs_show_a_failed_local_runs_error_without_the_directory(
    database_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / HIDDEN_DIR / "us.csv"
    failed = run_etl(fast_settings(database_url, nyt_url=str(missing), jhu_url=str(JHU_CURRENT)))
    assert not failed.succeeded and str(missing) in (failed.run.error or "")

    text, runs = _runs(database_url)
    assert runs[0]["error"] == "cannot read NYT file us.csv: No such file or directory"
    assert HIDDEN_DIR not in text and str(tmp_path) not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot read NYT file /srv/etl/us.csv: gone", "cannot read NYT file us.csv: gone"),
        ("/srv/etl/us.csv is empty", "us.csv is empty"),
        ("read 'file:///srv/etl/us.csv' (twice)", "read 'us.csv' (twice)"),
        (
            "HTTP 404 from https://example.org/data/us.csv",
            "HTTP 404 from https://example.org/data/us.csv",
        ),
        (
            "decreases on 2 day(s): 2022-03-14 (966361 -> 963926)",
            "decreases on 2 day(s): 2022-03-14 (966361 -> 963926)",
        ),
        ("cases / deaths", "cases / deaths"),
        ("cannot read NYT file some/dir/us.csv: gone", "cannot read NYT file us.csv: gone"),
        ("cannot read NYT file ./in/us.csv: gone", "cannot read NYT file us.csv: gone"),
        ("read '../etl/in/2021-06-16.tar.xz'", "read '2021-06-16.tar.xz'"),
        ("cases/deaths fell", "cases/deaths fell"),
        ("revised 16 rows/day", "revised 16 rows/day"),
    ],
)
def test_without_paths_cuts_paths_to_file_names_only(text: str, shown: str) -> None:
    assert without_paths(text) == shown
