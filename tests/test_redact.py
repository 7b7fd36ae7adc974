from __future__ import annotations

import logging

import pytest

from covid_etl.log import RedactingFilter
from covid_etl.redact import mask_url, redact, secrets_in_url
from covid_etl.settings import Settings


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
    assert record.url == "***"


def test_redact_masks_longest_secret_first() -> None:
    assert redact("token abc and abcdef", ["abc", "abcdef"]) == "token *** and ***"


def test_secrets_in_url_ignores_plain_paths() -> None:
    assert secrets_in_url("C:/data/us.csv") == []
