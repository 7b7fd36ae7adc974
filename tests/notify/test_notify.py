"""Notifications through real channels on loopback: SMTP (aiosmtpd) and a json:// webhook."""

from __future__ import annotations

from pathlib import Path

from covid_etl.models import DeliveryStatus, RunStatus
from covid_etl.notify.channels import channel_key
from covid_etl.notify.digest import fold_warnings
from covid_etl.notify.render import RULE
from covid_etl.run.pipeline import run_etl
from covid_etl.store import open_store
from tests.helpers.data import STATES_REAL, jhu_history, nyt_history, serve_real
from tests.helpers.env import fast_settings
from tests.helpers.servers import Response, SmtpSink, SourceServer, WebhookSink

NYT_PATH = "/nytimes/covid-19-data/master/us.csv"


def test_smtp_receives_success_email_with_counts_and_figures(
    database_url: str, source_server: SourceServer, smtp: SmtpSink
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    run_etl(fast_settings(database_url, **day1))
    day2 = serve_real(source_server, nyt_history("2021-06-16"), jhu_history("2021-06-16"))
    run = run_etl(fast_settings(database_url, notify=(smtp.mailto(),), **day2)).run

    assert run.status is RunStatus.SUCCEEDED
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.recipients == ["ops@example.com"]
    assert mail.subject == (
        f"[covid-etl testing] Succeeded (update) run #{run.id}: 17 row(s) changed, "
        "data through 2021-06-16"
    )
    body = mail.body
    lines = body.splitlines()
    assert lines[0] == (
        f"Run #{run.id} succeeded (update, testing): 17 row(s) changed (1 inserted, 16 updated, "
        "496 unchanged). Data through 2021-06-16."
    )
    assert lines[1].startswith("Latest figures (2021-06-16): cases 33,")
    assert f"Run: #{run.id} (manual), incremental update" in body
    assert "Environment: testing" in body
    # No per-state series here: the national warnings are listed once, nothing below a rule.
    assert f"\nWarnings ({len(run.warnings)}):\n" in body and "2021-06-04" in body
    assert all(body.count(warning) == 1 for warning in run.warnings)
    assert RULE not in body
    assert "secret-pass" not in body
    assert run.notification_status == "delivered to 1 channel(s)"


def test_smtp_receives_failure_email_with_reason(
    database_url: str, source_server: SourceServer, smtp: SmtpSink
) -> None:
    urls = serve_real(source_server)
    run_etl(fast_settings(database_url, **urls))
    source_server.serve(NYT_PATH, b"date,cases,deaths\n2020-01-21,1,0\n2020-13-01,1,0\n")
    run = run_etl(fast_settings(database_url, notify=(smtp.mailto(),), **urls)).run

    assert run.status is RunStatus.FAILED
    mail = smtp.messages[-1]
    assert mail.subject == f"[covid-etl testing] FAILED at stage validate (run #{run.id})"
    assert (
        "Error: NYT CSV: date is not an ISO YYYY-MM-DD date "
        "(line 3, column 'date', value '2020-13-01')" in mail.body
    )
    assert f"Run: #{run.id} (manual)" in mail.body
    assert "Database unchanged; data still through 2023-01-24." in mail.body


def test_webhook_receives_success_and_recovery_note(
    database_url: str, source_server: SourceServer, webhook: WebhookSink
) -> None:
    urls = serve_real(source_server)
    source_server.script(NYT_PATH, [Response(404, b"gone")])
    failed = run_etl(fast_settings(database_url, notify=(webhook.url,), **urls)).run
    ok = run_etl(fast_settings(database_url, notify=(webhook.url,), **urls)).run

    assert [m["title"].split("]")[1].split()[0] for m in webhook.received] == [
        "FAILED",
        "Succeeded",
    ]
    success = webhook.received[1]
    assert success["title"] == (
        f"[covid-etl testing] Succeeded (initial load) run #{ok.id}: 1100 row(s) changed, "
        "data through 2023-01-24"
    )
    assert f"Recovered from failed run #{failed.id}." in success["message"]
    assert ok.recovered_from == failed.id


def test_dead_channel_does_not_fail_run_and_next_run_delivers(
    database_url: str, source_server: SourceServer, webhook: WebhookSink
) -> None:
    urls = serve_real(source_server)
    webhook.fail = True
    first = run_etl(fast_settings(database_url, notify=(webhook.url,), **urls)).run
    assert first.status is RunStatus.SUCCEEDED
    assert first.notification_status is not None
    assert "1 channel(s) undelivered" in first.notification_status
    store = open_store(database_url)
    pending = store.pending_notifications()
    assert [(n.run_id, n.status, n.attempts) for n in pending] == [
        (first.id, DeliveryStatus.PENDING, 2)
    ]
    assert pending[0].channel_key == channel_key(webhook.url)

    webhook.fail = False
    second = run_etl(fast_settings(database_url, notify=(webhook.url,), **urls)).run
    titles = [m["title"] for m in webhook.received]
    assert len(titles) == 2
    assert "initial load" in titles[0] and "1100 row(s)" in titles[0]
    assert f"run #{second.id}: 0 row(s) changed" in titles[1]
    assert store.pending_notifications() == []
    assert store.get_run(first.id).notification_status == "delivered to 1 channel(s)"  # type: ignore[union-attr]
    assert second.notification_status == "delivered to 1 channel(s)"
    store.close()


def test_unreachable_smtp_server_is_recorded_not_raised(
    database_url: str, source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    dead = "mailto://etl:pw@127.0.0.1:9?from=a@example.com&to=b@example.com&mode=insecure"
    run = run_etl(fast_settings(database_url, notify=(dead,), **urls)).run
    assert run.status is RunStatus.SUCCEEDED
    assert run.notification_status and "undelivered" in run.notification_status
    assert "pw@" not in run.notification_status


def test_message_opens_with_the_run_and_lists_the_per_state_warnings_below_a_rule(
    tmp_path: Path, source_server: SourceServer, webhook: WebhookSink
) -> None:
    # SQLite only: the layout of the message does not depend on the backend.
    urls = serve_real(source_server)
    database = f"sqlite:///{tmp_path / 'covid.db'}"
    settings = fast_settings(database, notify=(webhook.url,), states_url=str(STATES_REAL), **urls)
    run = run_etl(settings).run

    [message] = webhook.received
    assert message["title"] == (
        f"[covid-etl testing] Succeeded (initial load) run #{run.id}: 1100 row(s) changed, "
        "data through 2023-01-24"
    )
    top, rule, bottom = message["message"].partition(f"\n{RULE}\n")
    assert rule, "the per-state warnings in full are set apart by a rule"
    lines = top.splitlines()
    assert lines[:2] == [
        f"Run #{run.id} succeeded (initial load, testing): 1100 row(s) changed (1100 inserted, "
        "0 updated, 0 unchanged). Data through 2023-01-24.",
        "States: 27129 row(s) changed (27129 inserted, 0 updated, 0 unchanged); data through "
        "2021-07-08.",
    ]
    national = [w for w in run.warnings if not w.startswith("states: ")]
    per_state = [w for w in run.warnings if w.startswith("states: ")]
    assert (len(national), len(per_state)) == (5, 43)
    heading = lines.index(
        "Warnings (48; the 43 per-state ones are summed up here and listed in full at the end):"
    )
    summary = fold_warnings(run.warnings).summary
    assert lines[heading + 1 : heading + 8] == [f"  - {w}" for w in [*national, *summary]]
    assert summary[0].startswith("states: cumulative values decrease 189 times in 43 place(s)")
    assert not any(w in top for w in per_state)
    # Every warning the run recorded is in the message once: nothing is lost by the summary.
    assert bottom.splitlines() == [
        "Per-state warnings in full (43):",
        *(f"  - {w}" for w in per_state),
    ]
