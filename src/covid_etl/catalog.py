"""The catalogue of upstream sources: each declared once, in the order a run fetches them.

Everything else asks this module about a source: the settings take their URL fields' defaults,
variable names and descriptions from it, error messages their labels, offline runs their bundled
snapshot files, :meth:`covid_etl.settings.Settings.secrets` the URLs to mask, and the pipeline the
fetch order. Pure data: it imports nothing of covid_etl.
"""

from __future__ import annotations

from typing import NamedTuple

# A source whose URL setting has this value (in any case) is switched off.
OFF = "off"


class Source(NamedTuple):
    """One upstream file."""

    name: str  # its key in run records, messages and the change log's sources
    label: str  # how messages name it: "NYT CSV is missing required column(s) ..."
    setting: str | None  # the Settings field that holds its URL (None: always the default)
    env: str  # that field's environment variable
    default_url: str
    snapshot: str  # the bundled copy an offline run reads (src/covid_etl/data/)
    doc: str  # the setting's description
    optional: bool = False  # may be switched off with ``off``


NYT = Source(
    "nyt",
    "NYT",
    "nyt_url",
    "COVID_ETL_NYT_URL",
    "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us.csv",
    "nyt-us.csv",
    "NYT us.csv: an http(s) URL or a local file path.",
)
JHU = Source(
    "jhu",
    "JHU",
    "jhu_url",
    "COVID_ETL_JHU_URL",
    "https://raw.githubusercontent.com/datasets/covid-19/master/data/"
    "time-series-19-covid-combined.csv",
    "jhu-combined-us.csv",
    "JHU combined time series (datasets/covid-19): an http(s) URL or a local file path.",
)
NYT_STATES = Source(
    "states",
    "NYT states",
    "states_url",
    "COVID_ETL_STATES_URL",
    "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us-states.csv",
    "nyt-us-states.csv",
    "NYT us-states.csv (per-state series): an http(s) URL, a local file path, or `off` to load "
    "the national series only. Fetched like the other sources (timeouts, deadline, retries, "
    "size cap, checksum, conditional requests).",
    optional=True,
)
NYT_ANOMALIES = Source(
    "anomalies",
    "NYT anomalies",
    "anomalies_url",
    "COVID_ETL_ANOMALIES_URL",
    "https://raw.githubusercontent.com/nytimes/covid-19-data/master/rolling-averages/anomalies.csv",
    "nyt-anomalies.csv",
    "NYT rolling-averages/anomalies.csv (the NYT's notes on anomalous days, and which days its "
    "7-day averages leave out): an http(s) URL, a local file path, or `off` (the averages then "
    "leave out negative days only). Fetched like the other sources.",
    optional=True,
)
# Every source, in fetch order.
SOURCES: tuple[Source, ...] = (NYT, JHU, NYT_STATES, NYT_ANOMALIES)
BY_NAME = {source.name: source for source in SOURCES}


def source_label(name: str) -> str:
    """How messages name a source ("nyt" -> "NYT"); an unknown name stands for itself."""
    found = BY_NAME.get(name)
    return found.label if found is not None else name


__all__ = [
    "BY_NAME",
    "JHU",
    "NYT",
    "NYT_ANOMALIES",
    "NYT_STATES",
    "OFF",
    "SOURCES",
    "Source",
    "source_label",
]
