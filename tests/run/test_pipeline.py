"""End to end through the pipeline with real data served from a loopback host."""

from __future__ import annotations

import io
from pathlib import Path

from covid_etl.models import RunStatus, Stage, Trigger
from covid_etl.publish.export import write_csv
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.data import (
    JHU_ALL_COUNTRIES,
    JHU_CURRENT,
    NYT_CURRENT,
    jhu_history,
    nyt_history,
    serve_real,
)
from tests.helpers.env import fast_settings
from tests.helpers.reference import expected_csv
from tests.helpers.servers import Response, SourceServer


def exported(database_url: str) -> str:
    store = open_store(database_url)
    try:
        out = io.StringIO()
        write_csv(registry.NATIONAL, store.rows(registry.NATIONAL), out)
        return out.getvalue()
    finally:
        store.close()


def test_real_data_initial_load_then_rerun_changes_nothing(
    database_url: str, source_server: SourceServer
) -> None:
    settings = fast_settings(database_url, **serve_real(source_server))
    first = run_etl(settings).run
    assert first.status is RunStatus.SUCCEEDED
    assert first.initial_load
    assert (first.inserted, first.updated, first.unchanged) == (1100, 0, 0)
    assert first.data_through is not None and first.data_through.isoformat() == "2023-01-24"
    assert exported(database_url) == expected_csv(NYT_CURRENT, JHU_CURRENT)

    second = run_etl(settings).run
    assert second.status is RunStatus.SUCCEEDED
    assert not second.initial_load
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 1100)
    assert second.warnings == first.warnings
    # The re-run asked conditionally and both sources answered 304 Not Modified.
    assert all(s.not_modified and s.status == 304 for s in second.sources)
    assert exported(database_url) == expected_csv(NYT_CURRENT, JHU_CURRENT)


def test_real_revisions_2021_06_15_to_16_insert_1_update_16(
    database_url: str, source_server: SourceServer
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(database_url, **day1)).run.inserted == 512
    day2 = serve_real(source_server, nyt_history("2021-06-16"), jhu_history("2021-06-16"))
    run = run_etl(fast_settings(database_url, **day2)).run
    assert (run.inserted, run.updated, run.unchanged) == (1, 16, 496)
    assert exported(database_url) == expected_csv(
        nyt_history("2021-06-16"), jhu_history("2021-06-16")
    )


def test_real_revisions_2020_12_13_to_14_new_row_has_null_recovered(
    database_url: str, source_server: SourceServer
) -> None:
    day1 = serve_real(source_server, nyt_history("2020-12-13"), jhu_history("2020-12-13"))
    run_etl(fast_settings(database_url, **day1))
    day2 = serve_real(source_server, nyt_history("2020-12-14"), jhu_history("2020-12-14"))
    run = run_etl(fast_settings(database_url, **day2)).run
    assert (run.inserted, run.updated) == (1, 0)
    store = open_store(database_url)
    latest = store.rows(registry.NATIONAL)[-1]
    store.close()
    assert latest.date.isoformat() == "2020-12-14"
    assert latest.recovered is None
    assert any("not reported from 2020-12-14" in w for w in run.warnings)


def test_all_countries_jhu_file_parses_and_joins(
    database_url: str, source_server: SourceServer
) -> None:
    settings = fast_settings(database_url, **serve_real(source_server, jhu=JHU_ALL_COUNTRIES))
    run = run_etl(settings).run
    assert run.status is RunStatus.SUCCEEDED
    assert run.inserted == 1100  # every NYT date; JHU (to 2021-03-16) gives recovered
    assert exported(database_url) == expected_csv(NYT_CURRENT, JHU_ALL_COUNTRIES)


def test_one_source_changed_other_not_modified_refetches_both(
    database_url: str, source_server: SourceServer
) -> None:
    urls = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    run_etl(fast_settings(database_url, **urls))
    # Only NYT changes; JHU would answer 304, but the join needs its body.
    source_server.serve(
        "/nytimes/covid-19-data/master/us.csv", nyt_history("2021-06-16").read_bytes()
    )
    run = run_etl(fast_settings(database_url, **urls)).run
    assert run.status is RunStatus.SUCCEEDED
    assert (run.inserted, run.updated) == (1, 16)  # the NYT is the spine: 06-16 is in, JHU or not


def test_run_after_failure_reports_recovery(database_url: str, source_server: SourceServer) -> None:
    urls = serve_real(source_server)
    source_server.script("/nytimes/covid-19-data/master/us.csv", [Response(404, b"nope")])
    failed = run_etl(fast_settings(database_url, **urls)).run
    assert failed.status is RunStatus.FAILED
    assert failed.failed_stage is Stage.EXTRACT
    ok = run_etl(fast_settings(database_url, **urls)).run
    assert ok.status is RunStatus.SUCCEEDED
    assert ok.recovered_from == failed.id
    assert ok.initial_load and ok.inserted == 1100


def test_offline_run_uses_bundled_snapshot(database_url: str) -> None:
    run = run_etl(fast_settings(database_url, offline=True), trigger=Trigger.SCHEDULE).run
    assert run.status is RunStatus.SUCCEEDED
    assert run.inserted == 1100
    assert run.trigger is Trigger.SCHEDULE
    assert all(Path(s.url).name in {"nyt-us.csv", "jhu-combined-us.csv"} for s in run.sources)


def test_unusable_store_fails_without_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_etl(fast_settings(f"sqlite:///{blocker}/db.sqlite", offline=True))
    assert result.run.status is RunStatus.FAILED
    assert result.run.failed_stage is Stage.OPEN
    assert result.run.error and "cannot open SQLite database" in result.run.error
