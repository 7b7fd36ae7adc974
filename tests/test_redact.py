from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from covid_etl.log import RedactingFilter
from covid_etl.redact import mask_url, redact, secrets_in_url
from covid_etl.settings import Settings
from tests.helpers.data import serve_real
from tests.helpers.env import cli_env
from tests.helpers.servers import SourceServer, WebhookSink


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://etl:s3cr3t@db:5432/covid", "postgresql://etl:***@db:5432/covid"),
        ("mailtos://me:app-pass@gmail.com?to=x@y.z", "mailtos://me:***@gmail.com?to=x@y.z"),
        ("https://host/data.csv?token=abcdef123", "https://host/data.csv?token=***"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://***/***/***"),
        (
            "https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXX12",
            "https://hooks.example.com/services/T000/B000/***",
        ),
        ("sqlite:///data/covid-etl.db", "sqlite:///data/covid-etl.db"),
        ("/plain/path/us.csv", "/plain/path/us.csv"),
    ],
)
def test_mask_url_hides_passwords_and_tokens(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_settings_secrets_cover_every_configured_url() -> None:
    settings = Settings(
        database_url="postgresql://u:dbpass@h/db",
        notify=("mailto://a:mailpass@example.com", "json://hook.example.com/?apikey=k3y-value"),
    )
    assert {"dbpass", "mailpass", "k3y-value"} <= set(settings.secrets())


def test_redacting_filter_scrubs_message_and_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"msg": "connect %s failed", "args": ("postgresql://u:hunter22@h/db",), "url": "hunter22"}
    )
    RedactingFilter(["hunter22"]).filter(record)
    assert record.getMessage() == "connect postgresql://u:***@h/db failed"
    assert record.__dict__["url"] == "***"


def test_redact_masks_longest_secret_first() -> None:
    assert redact("token abc and abcdef", ["abc", "abcdef"]) == "token *** and ***"


def test_secrets_in_url_ignores_plain_paths() -> None:
    assert secrets_in_url("C:/data/us.csv") == []


# -- what is a secret, and what is not ----------------------------------------------------------
# Passwords of every length, secret query values, and the tokens Apprise schemes carry in their
# host and path are hidden; ordinary hosts, paths and file names always show.


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # Short passwords are passwords too.
        ("postgresql://etl:x@db:5432/covid", "postgresql://etl:***@db:5432/covid"),
        ("postgresql://etl:ab@db/covid", "postgresql://etl:***@db/covid"),
        ("mailtos://me:p4@smtp.example.com?to=ops@example.com",
         "mailtos://me:***@smtp.example.com?to=ops@example.com"),
        ("ntfys://me:pw@ntfy.example.com/alerts", "ntfys://me:***@ntfy.example.com/alerts"),
        ("https://u:p@example.org/us.csv", "https://u:***@example.org/us.csv"),
        # An empty password hides nothing; a user name alone is no secret.
        ("postgresql://etl@db/covid", "postgresql://etl@db/covid"),
        # Secret query values, whatever their length; other parameters show.
        ("https://host/us.csv?token=ab", "https://host/us.csv?token=***"),
        ("https://host/us.csv?api_key=k&format=csv", "https://host/us.csv?api_key=***&format=csv"),
        ("https://b.s3.amazonaws.com/us.csv?X-Amz-Credential=AKIA1&X-Amz-Signature=9f&X-Amz-Expires=60",
         "https://b.s3.amazonaws.com/us.csv?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"),
        ("json://hooks.example.com/covid?+Authorization=Bearer%20xyz",
         "json://hooks.example.com/covid?+Authorization=***"),
        ("mailtos://smtp.example.com?user=me&pass=pw&to=a@b.c",
         "mailtos://smtp.example.com?user=me&pass=***&to=a@b.c"),
        ("postgresql://db/covid?sslmode=require&password=pw",
         "postgresql://db/covid?sslmode=require&password=***"),
        ("https://host/x?client_secret=s&access_token=t&sig=g&secret=z",
         "https://host/x?client_secret=***&access_token=***&sig=***&secret=***"),
        # Apprise schemes whose host and path are the tokens: every part is hidden, however short.
        ("slack://A/B/C", "slack://***/***/***"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
         "slack://***/***/***/#general"),
        ("slack://covid-bot@xoxb-1234-5678-abcd/#alerts", "slack://***@***/#alerts"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://***/***"),
        ("discord://avatar@1/t", "discord://***@***/***"),
        ("msteams://TokenA/TokenB/TokenC/", "msteams://***/***/***/"),
        ("tgram://123456789:abcdefg_hijklmnop/12345/", "tgram://***/***/"),
        ("pover://userkey@apptoken", "pover://***@***"),
        # Self-hosted servers: the host shows, the token in the path does not.
        ("gotify://push.example.com/AbCdEf", "gotify://push.example.com/***"),
        ("mmosts://chat.example.com/tok", "mmosts://chat.example.com/***"),
        # Webhook URLs given as https: the id- and token-shaped parts of the path.
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
         "https://hooks.slack.com/services/***/***/***"),
        ("https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
         "https://discord.com/api/webhooks/***/***"),
        # An unknown scheme may be any of Apprise's: hidden whole rather than leaked.
        ("someservice://ab/cd?x=1", "someservice://***/***?x=1"),
    ],
)  # fmt: skip
def test_mask_url_hides_secrets_of_any_length(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        # Long directory and file names are names, not tokens.
        "sqlite:///data/abcdefghij0123456789/covid.db",
        "sqlite:////srv/covidetl2024production/covid-etl.db",
        "sqlite:////srv/hooks/abcdefghij0123456789klm/covid.db",
        "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us.csv",
        "https://raw.githubusercontent.com/datasets/covid-19/master/data/"
        "time-series-19-covid-combined.csv",
        "https://example.org/archive2022snapshot0416/us.csv",
        "https://example.org/services/abcdefghij0123456789/us.csv",
        "http://127.0.0.1:8080/nytimes/covid-19-data/master/us.csv?ref=main&format=csv",
        "postgresql://etl@db.example.com:5432/covid_production_2024",
        "s3://covid-etl-data-123456789012/production",
        "json://hooks.example.com/covid",
        "ntfy://ntfy.sh/my-topic",
        "mailtos://smtp.example.com?to=ops@example.com",
        "/data/abcdefghij0123456789/us.csv",
        "C:/data/abcdefghij0123456789/us.csv",
        "us.csv",
    ],
)
def test_mask_url_shows_ordinary_hosts_paths_and_parameters(url: str) -> None:
    assert mask_url(url) == url
    assert secrets_in_url(url) == []


def test_short_password_is_redacted_from_text_only_where_it_stands_as_the_password() -> None:
    url = "postgresql://etl:a@db/covid"
    secrets = secrets_in_url(url)
    assert "a" in secrets
    text = f"connection to {url} failed: password=a rejected; a retry is pending"
    assert redact(text, secrets) == (
        "connection to postgresql://etl:***@db/covid failed: password=*** rejected; "
        "a retry is pending"
    )


def test_short_path_tokens_are_redacted_from_text() -> None:
    url = "slack://A/B/C"
    assert redact(f"sending to {url} failed", secrets_in_url(url)) == (
        "sending to slack://***/***/*** failed"
    )


def test_settings_secrets_include_short_passwords_and_tokens() -> None:
    settings = Settings(
        database_url="postgresql://u:pw@h/db",
        nyt_url="https://host/us.csv?token=t1",
        notify=("discord://1/t",),
    )
    secrets = set(settings.secrets())
    assert {"pw", "t1", "t"} <= secrets
    assert "h" not in secrets and "db" not in secrets and "us.csv" not in secrets


def test_sqlite_path_with_a_long_directory_name_shows_in_cli_output(tmp_path: Path) -> None:
    directory = tmp_path / "covidetl0123456789abcdef"
    url = f"sqlite:///{directory / 'covid.db'}"
    env = cli_env(url)
    result = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run", "--offline"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "runs", "--json"],
        env={**env, "COVID_ETL_LOG_LEVEL": "DEBUG"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "***" not in shown.stdout + shown.stderr
    assert mask_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
        "slack://A/B/C",
        "discord://avatar@4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "mailtos://user:pw@smtp.example.com?to=ops@example.com",
        "ntfys://user:p@ntfy.example.com/topic",
        "tgram://123456789:abcdefg_hijklmnop/12345/",
        "pover://userkey@apptoken",
        "gotify://push.example.com/apptoken123",
        "mmost://chat.example.com/tokenabc",
        "json://user:pw@hooks.example.com/covid",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
    ],
)
def test_mask_url_hides_at_least_what_apprise_itself_hides(url: str) -> None:
    # Apprise's own privacy view (url(privacy=True)) abbreviates each token to "first...last"
    # and stars out passwords; every part it hides must be hidden in ours too.
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    assert plugin is not None
    private = plugin.url(privacy=True)
    hidden = [p for p in _components(url) if f"{p[0]}...{p[-1]}" in private]
    if "****" in private:
        hidden += [p for p in secrets_in_url(url) if p]
    assert hidden, private
    shown = _components(mask_url(url))
    for part in hidden:
        assert part not in shown, (part, mask_url(url), private)


def _components(url: str) -> list[str]:
    return [p for p in re.split(r"[/@?&=#]+", url.split("://", 1)[1]) if p]


def test_a_two_character_password_shows_in_no_output(
    tmp_path: Path, source_server: SourceServer, webhook: WebhookSink
) -> None:
    password = "q7"  # letters no hex digest, date or counter can contain
    urls = serve_real(source_server)
    nyt = urls["nyt_url"].replace("http://", f"http://reader:{password}@")
    env = cli_env(
        f"sqlite:///{tmp_path / 'covid.db'}",
        COVID_ETL_NYT_URL=nyt,
        COVID_ETL_JHU_URL=urls["jhu_url"],
        COVID_ETL_NOTIFY=webhook.url,
        COVID_ETL_LOG_LEVEL="DEBUG",
        COVID_ETL_LOG_FORMAT="json",
    )
    outputs = []
    for args in (["run"], ["run", "--json"], ["runs"], ["runs", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "covid_etl.cli", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    outputs += [str(message) for message in webhook.received]
    assert len(webhook.received) == 2
    shown = "\n".join(outputs)
    assert f":{password}@" not in shown and password not in shown
    assert "reader:***@127.0.0.1" in shown
