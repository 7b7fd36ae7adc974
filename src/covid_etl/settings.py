"""The one settings object. Only entry points call :func:`settings_from_env`; every other function
takes what it needs as arguments, so the core can be driven from tests, the CLI, the web service or
a Lambda handler alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from covid_etl.catalog import JHU, NYT, NYT_ANOMALIES, NYT_STATES, OFF, SOURCES, Source
from covid_etl.errors import ConfigError
from covid_etl.redact import secrets_in_heartbeat_url, secrets_in_url

DEFAULT_DATABASE_URL = "sqlite:///data/covid-etl.db"
SCHEDULE_OFF = "off"


def _doc(text: str, env: str, parse: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """A field's metadata: its description, its environment variable and the parser of that
    variable's text (none for a plain-text setting)."""
    return {"doc": text, "env": env, "parse": parse or str, "typed": parse is not None}


def _parse_words(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


# A day: longer waits are mistakes, and far longer ones overflow the operating system's timers.
MAX_SECONDS = 86_400


def _seconds(*, zero_ok: bool, example: str) -> Callable[[str], float]:
    """Parser of a duration: finite (``nan`` would wait forever), never negative, at most a
    day, and 0 only where it means something (no wait at all)."""
    if zero_ok:
        form = f"a number of seconds from 0 to {MAX_SECONDS} (e.g. {example})"
    else:
        form = f"a number of seconds greater than 0, at most {MAX_SECONDS} (e.g. {example})"

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected {form}") from None
        # Written so that nan, which compares false with everything, fails too.
        if not (0 <= number <= MAX_SECONDS) or (number == 0 and not zero_ok):
            raise ValueError(f"expected {form}")
        return number

    return parse


def _whole_number(*, minimum: int, unit: str, example: str) -> Callable[[str], int]:
    form = f"a whole number of {unit}, {minimum} or more (e.g. {example})"

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected {form}") from None
        if number < minimum:
            raise ValueError(f"expected {form}")
        return number

    return parse


def _parse_port(value: str) -> int:
    form = "expected a port number: a whole number from 1 to 65535"
    try:
        number = int(value)
    except ValueError:
        raise ValueError(form) from None
    if not 1 <= number <= 65535:
        raise ValueError(form)
    return number


def _parse_schedule(value: str) -> str:
    if value.strip().lower() == SCHEDULE_OFF:
        return SCHEDULE_OFF
    try:
        from covid_etl.cron import parse_cron  # only a schedule needs it (start-up of a run)

        parse_cron(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return value.strip()


def _parse_optional_url(value: str) -> str:
    """An optional source's URL, or ``off`` (in any case) to leave it out."""
    return OFF if value.strip().lower() == OFF else value


RUN_AGE_OFF = "off"
_RUN_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
# A year: longer is a typo, and the clock arithmetic stays far from any overflow.
MAX_RUN_AGE_SECONDS = 365 * 86_400


def run_age_seconds(value: str) -> float | None:
    """Seconds of a max-run-age setting (``90m``, ``26h``, ``2d``, ``30s``); None for off."""
    text = value.strip().lower()
    if text == RUN_AGE_OFF:
        return None
    form = "expected a number and a unit s, m, h or d (e.g. 90m, 26h, 2d), or off"
    number, unit = text[:-1].strip(), text[-1:]
    if unit not in _RUN_AGE_UNITS:
        raise ValueError(form)
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(form) from None
    seconds = amount * _RUN_AGE_UNITS[unit]
    # Written so that nan, which compares false with everything, fails too.
    if not (0 < seconds <= MAX_RUN_AGE_SECONDS):
        raise ValueError(f"{form}; more than 0 and at most 365d")
    return seconds


def _parse_run_age(value: str) -> str:
    run_age_seconds(value)
    return value.strip().lower()


def _parse_heartbeat_url(value: str) -> str:
    """An http(s) URL, or empty for no heartbeat."""
    from urllib.parse import urlsplit

    if not value.strip():
        return ""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return value.strip()


def _parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in choices and value.upper() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value.upper() if value.upper() in choices else value.lower()

    return parse


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know. Field metadata carries the documentation and env name."""

    database_url: str = field(
        default=DEFAULT_DATABASE_URL,
        metadata=_doc(
            "Store URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, "
            "`postgresql://user:pass@host:port/db` or `s3://bucket/prefix` (one SQLite database "
            "object, `prefix/covid-etl.db`, plus the derived `prefix/acg-covid-data.csv` and "
            "`prefix/CHANGE_LOG.csv`; the AWS functions add the run's environment to the "
            "prefix).",
            "COVID_ETL_DATABASE_URL",
        ),
    )
    # One field per source of the catalogue (covid_etl.catalog), which holds their defaults,
    # variables and descriptions; test_every_source_has_its_url_setting keeps the two in step.
    nyt_url: str = field(default=NYT.default_url, metadata=_doc(NYT.doc, NYT.env))
    jhu_url: str = field(default=JHU.default_url, metadata=_doc(JHU.doc, JHU.env))
    states_url: str = field(
        default=NYT_STATES.default_url,
        metadata=_doc(NYT_STATES.doc, NYT_STATES.env, _parse_optional_url),
    )
    anomalies_url: str = field(
        default=NYT_ANOMALIES.default_url,
        metadata=_doc(NYT_ANOMALIES.doc, NYT_ANOMALIES.env, _parse_optional_url),
    )
    notify: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Notification channels: Apprise URLs separated by spaces (mailto://, json://, "
            "slack://, ntfy://...). Empty: the summary is printed.",
            "COVID_ETL_NOTIFY",
            _parse_words,
        ),
    )
    environment: str = field(
        default="production",
        metadata=_doc(
            "Label for runs and notifications (e.g. production, testing).",
            "COVID_ETL_ENVIRONMENT",
        ),
    )
    offline: bool = field(
        default=False,
        metadata=_doc(
            "Use the data snapshot shipped with the package instead of downloading.",
            "COVID_ETL_OFFLINE",
            _parse_bool,
        ),
    )
    connect_timeout: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds to wait for a source's TCP/TLS connection (more than 0, at most 86400).",
            "COVID_ETL_CONNECT_TIMEOUT",
            _seconds(zero_ok=False, example="10"),
        ),
    )
    read_timeout: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds to wait for each read from a source (more than 0, at most 86400).",
            "COVID_ETL_READ_TIMEOUT",
            _seconds(zero_ok=False, example="30"),
        ),
    )
    deadline: float = field(
        default=300.0,
        metadata=_doc(
            "Overall seconds allowed for downloading one source: connect, headers, body, "
            "retries and the sleeps between them, however slowly the server sends (more than 0, "
            "at most 86400).",
            "COVID_ETL_DEADLINE",
            _seconds(zero_ok=False, example="300"),
        ),
    )
    max_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata=_doc(
            "Largest accepted source body in bytes (64 MiB by default; a whole number, 1 or "
            "more), counted after gzip/deflate decoding.",
            "COVID_ETL_MAX_BYTES",
            _whole_number(minimum=1, unit="bytes", example="67108864"),
        ),
    )
    retries: int = field(
        default=4,
        metadata=_doc(
            "Retries after a transient download failure (timeout, connection error, 429, 5xx); "
            "a whole number, 0 or more.",
            "COVID_ETL_RETRIES",
            _whole_number(minimum=0, unit="retries", example="4"),
        ),
    )
    retry_backoff: float = field(
        default=1.0,
        metadata=_doc(
            "Base seconds of the exponential backoff between retries (jitter added); 0 to 86400.",
            "COVID_ETL_RETRY_BACKOFF",
            _seconds(zero_ok=True, example="1"),
        ),
    )
    lock_timeout: float = field(
        default=60.0,
        metadata=_doc(
            "Seconds a run waits for another run (or another program holding the SQLite "
            "file's lock) before failing; 0 (fail at once) to 86400.",
            "COVID_ETL_LOCK_TIMEOUT",
            _seconds(zero_ok=True, example="60"),
        ),
    )
    notify_retries: int = field(
        default=2,
        metadata=_doc(
            "Retries of a failing notification channel before it is left pending; a whole "
            "number, 0 or more.",
            "COVID_ETL_NOTIFY_RETRIES",
            _whole_number(minimum=0, unit="retries", example="2"),
        ),
    )
    sns_topic_arn: str = field(
        default="",
        metadata=_doc(
            "AWS only: SNS topic the notify function publishes run notifications to (set by "
            "`template.yaml`).",
            "COVID_ETL_SNS_TOPIC_ARN",
        ),
    )
    s3_revalidate: float = field(
        default=60.0,
        metadata=_doc(
            "AWS API function: seconds its cached copy of the S3 database object is used before "
            "it asks S3 (`If-None-Match`) whether a newer commit exists, so a new commit is "
            "served within this interval (0: on every request).",
            "COVID_ETL_S3_REVALIDATE",
            _seconds(zero_ok=True, example="60"),
        ),
    )
    log_format: str = field(
        default="text",
        metadata=_doc(
            "Log format on stderr: `text` or `json` (also the web server's own lines under "
            "`covid-etl serve`).",
            "COVID_ETL_LOG_FORMAT",
            _parse_choice("text", "json"),
        ),
    )
    log_level: str = field(
        default="WARNING",
        metadata=_doc(
            "Log level: `DEBUG`, `INFO`, `WARNING` or `ERROR`.",
            "COVID_ETL_LOG_LEVEL",
            _parse_choice("DEBUG", "INFO", "WARNING", "ERROR"),
        ),
    )
    schedule: str = field(
        default="0 21 * * *",
        metadata=_doc(
            "When `covid-etl serve` runs the ETL: a five-field cron expression, read in UTC "
            "whatever the machine's time zone (system cron reads local time), or `off`.",
            "COVID_ETL_SCHEDULE",
            _parse_schedule,
        ),
    )
    host: str = field(
        default="127.0.0.1",
        metadata=_doc("Address `covid-etl serve` listens on.", "COVID_ETL_HOST"),
    )
    port: int = field(
        default=8000,
        metadata=_doc(
            "Port `covid-etl serve` listens on (1-65535).", "COVID_ETL_PORT", _parse_port
        ),
    )
    max_run_age: str = field(
        default="26h",
        metadata=_doc(
            "Longest time without a successful run before the deployment counts as stale "
            "(`covid-etl check`, `/healthz`, `serve`'s stale notice): a number and a unit `s`, "
            "`m`, `h` or `d` (`90m`, `26h`, `2d`; more than 0, at most `365d`), or `off`. Old "
            "*data* never makes the deployment stale.",
            "COVID_ETL_MAX_RUN_AGE",
            _parse_run_age,
        ),
    )
    heartbeat_url: str = field(
        default="",
        metadata=_doc(
            "Optional http(s) URL that gets one GET after each successful run (a push monitor "
            "such as healthchecks.io, Cronitor or Uptime Kuma); empty for none. 5 s timeout; a "
            "failure is logged and never fails the run. Its path segments are treated as "
            "secrets.",
            "COVID_ETL_HEARTBEAT_URL",
            _parse_heartbeat_url,
        ),
    )

    def source_url(self, source: Source) -> str:
        """The configured URL of a source (``off`` for a source switched off); a source with no
        setting of its own is always fetched from its default URL."""
        if source.setting is None:
            return source.default_url
        return str(getattr(self, source.setting))

    def source_enabled(self, source: Source) -> bool:
        # In any case, however the settings were made (the environment's are normalised).
        return not (source.optional and self.source_url(source).strip().lower() == OFF)

    def enabled_sources(self) -> tuple[Source, ...]:
        """The catalogue's sources this configuration fetches, in fetch order."""
        return tuple(s for s in SOURCES if self.source_enabled(s))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def max_run_age_seconds(self) -> float | None:
        """``max_run_age`` in seconds; None when staleness checks are off."""
        return run_age_seconds(self.max_run_age)

    def secrets(self) -> list[str]:
        """Strings that must never be shown: passwords and tokens inside configured URLs."""
        found: list[str] = []
        sources = (self.source_url(source) for source in SOURCES)
        for url in (self.database_url, *sources, *self.notify):
            found.extend(secrets_in_url(url))
        if self.heartbeat_url:
            found.extend(secrets_in_heartbeat_url(self.heartbeat_url))
        return found


def check_parsers(settings_class: type) -> None:
    """Refuse, at import, a setting that is not text yet has no parser: its value would
    otherwise be read as text without a word."""
    for f in dataclasses.fields(settings_class):
        if f.type != "str" and not f.metadata["typed"]:
            raise TypeError(f"setting {f.name} ({f.type}) needs a parser in its metadata")


check_parsers(Settings)


def setting_docs() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = " ".join(default) if isinstance(default, tuple) else str(default)
        rows.append((f.metadata["env"], shown, f.metadata["doc"]))
    return rows


def settings_from_env(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Build settings from ``COVID_ETL_*`` variables; explicit overrides (CLI options) win."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = environ.get(f.metadata["env"])
        if raw is None or (raw == "" and f.name not in {"notify"}):
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            # A heartbeat URL's path is its monitor's token: the refusal does not repeat it.
            shown = "" if f.name == "heartbeat_url" else f"={raw!r}"
            raise ConfigError(f"{f.metadata['env']}{shown} is invalid: {exc}") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
