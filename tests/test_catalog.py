"""The catalogue of sources is the one place a source is declared: its URL setting, variable,
label and bundled snapshot all follow from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from covid_etl.catalog import SOURCES, source_label
from covid_etl.errors import ParseError
from covid_etl.settings import Settings
from covid_etl.sources.fetch import snapshot_path

PACKAGE_DATA = Path(__file__).parents[1] / "src" / "covid_etl" / "data"


def test_every_source_has_its_url_setting_with_the_catalogue_default_and_variable() -> None:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for source in SOURCES:
        assert source.setting is not None
        setting = fields[source.setting]
        assert setting.default == source.default_url
        assert setting.metadata["env"] == source.env
        assert setting.metadata["doc"] == source.doc
    url_fields = {name for name in fields if name.endswith("_url") and name not in
                  {"database_url", "heartbeat_url"}}  # fmt: skip
    assert url_fields == {source.setting for source in SOURCES}


def test_every_source_ships_a_snapshot_for_offline_runs() -> None:
    for source in SOURCES:
        assert Path(snapshot_path(source)) == PACKAGE_DATA / source.snapshot
        assert (PACKAGE_DATA / source.snapshot).stat().st_size > 0


def test_fetch_order_and_switching_off_follow_the_catalogue() -> None:
    names = [s.name for s in Settings().enabled_sources()]
    assert names == [s.name for s in SOURCES] == ["nyt", "jhu", "states", "anomalies"]
    assert [s.name for s in Settings(states_url="off").enabled_sources()] == [
        "nyt",
        "jhu",
        "anomalies",
    ]
    off = Settings(states_url="off", anomalies_url="OFF").enabled_sources()
    assert [s.name for s in off] == ["nyt", "jhu"]


def test_secrets_are_looked_for_in_every_source_url() -> None:
    settings = Settings(
        nyt_url="https://a:nyt-secret@host/us.csv",
        jhu_url="https://host/jhu.csv?token=jhu-secret",
        states_url="https://b:states-secret@host/states.csv",
        anomalies_url="https://host/anomalies.csv?key=notes-secret",
    )
    assert {"nyt-secret", "jhu-secret", "states-secret", "notes-secret"} <= set(settings.secrets())


def test_messages_name_sources_by_their_catalogue_label() -> None:
    assert [source_label(s.name) for s in SOURCES] == ["NYT", "JHU", "NYT states", "NYT anomalies"]
    assert str(ParseError("bad", source="states")).startswith("NYT states CSV: bad")
    assert source_label("elsewhere") == "elsewhere"
