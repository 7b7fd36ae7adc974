"""docs/api.md lists /covid_data's 13 columns "in this order": the order the API and the
published CSV really use, so the page cannot drift from them."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from covid_etl.publish.original import CSV_NAME, original_files
from covid_etl.store import open_store

API_PAGE = Path(__file__).parents[2] / "docs" / "api.md"
SECTION = "### `GET /covid_data` (compatibility)"


def documented_columns() -> list[str]:
    """The column names of the table in the /covid_data section, row by row, in page order."""
    text = API_PAGE.read_text("utf-8")
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    section = text[start:end]
    assert "in this order" in section
    columns: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            columns += re.findall(r"`([^`]+)`", first_cell)
    return columns


def test_covid_data_columns_are_documented_in_the_served_order(
    client: TestClient, loaded_url: str
) -> None:
    documented = documented_columns()
    assert len(documented) == 13
    served = client.get("/covid_data").json()["data"]
    assert [list(row) for row in served[:2]] == [documented, documented]
    store = open_store(loaded_url)
    try:
        published = original_files(store)[CSV_NAME].decode()
    finally:
        store.close()
    assert published.split("\n", 1)[0].split(",") == documented
