"""The real data files the tests use, and serving them from a loopback host."""

from __future__ import annotations

import datetime as dt
import tarfile
from collections.abc import Callable
from pathlib import Path

from tests.helpers.servers import SourceServer

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = FIXTURES / "real"
PACKAGE_DATA = Path(__file__).parents[2] / "src" / "covid_etl" / "data"
NYT_CURRENT = PACKAGE_DATA / "nyt-us.csv"
JHU_CURRENT = PACKAGE_DATA / "jhu-combined-us.csv"
JHU_ALL_COUNTRIES = REAL / "jhu" / "time-series-19-covid-combined.csv"
# The real NYT us-states.csv (27,129 rows, 2020-01-21..2021-07-08) and the census estimates.
STATES_REAL = FIXTURES / "states" / "us-states.csv"
POPULATION_REAL = FIXTURES / "states" / "state-population-2019.csv"
# The NYT's anomaly notes (the shipped snapshot) and its own rolling averages of the same vintage
# (2021-07-08) as STATES_REAL and NYT_2021_07_08, the national file of that day.
ANOMALIES_CURRENT = PACKAGE_DATA / "nyt-anomalies.csv"
ROLLING = REAL / "nyt" / "rolling-averages"
NYT_2021_07_08 = REAL / "nyt" / "us-2021-07-08.csv"
# The NYT's daily versions: 450 of us.csv, 470 of us-states.csv (docs/history.md).
VINTAGES = (REAL / "nyt" / "vintages" / "us-vintages.tar.xz",
            REAL / "nyt" / "vintages" / "us-states-vintages.tar.xz")  # fmt: skip


def version_day(name: str) -> dt.date:
    """The day of a version file (``us-2020-04-14.csv``, ``us-states-2020-04-14.csv``)."""
    return dt.date.fromisoformat(name.removesuffix(".csv")[-10:])


def unpack_versions(target: Path, keep: Callable[[dt.date], bool]) -> Path:
    """The version files whose day ``keep`` accepts, unpacked from both archives into
    ``target``, each under its own name."""
    for archive in VINTAGES:
        with tarfile.open(archive) as opened:
            for member in opened.getmembers():
                name = Path(member.name).name
                if member.isfile() and keep(version_day(name)):
                    data = opened.extractfile(member)
                    assert data is not None
                    (target / name).write_bytes(data.read())
    return target


def nyt_history(day: str) -> Path:
    return REAL / "nyt" / f"us-{day}.csv"


def jhu_history(day: str) -> Path:
    return REAL / "jhu" / f"time-series-19-covid-combined-US-{day}.csv"


def serve_real(
    server: SourceServer, nyt: Path = NYT_CURRENT, jhu: Path = JHU_CURRENT
) -> dict[str, str]:
    """Serve the two sources from the loopback host; return their URLs as settings overrides."""
    return {
        "nyt_url": server.serve("/nytimes/covid-19-data/master/us.csv", nyt.read_bytes()),
        "jhu_url": server.serve(
            "/datasets/covid-19/master/data/time-series-19-covid-combined.csv", jhu.read_bytes()
        ),
    }
