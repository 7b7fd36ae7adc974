"""The NYT's anomaly notes (``rolling-averages/anomalies.csv``) as a series: one row per note,
keyed by (geoid, type, date), stored in the same transaction as the other series.

The notes say why a day's figure looks wrong and whether the NYT's 7-day averages leave that day
out; :mod:`covid_etl.series.derive` applies them. They are a curated list, not history: a note
the NYT drops is removed and recorded in the change log like any change, with no
``--accept-removals`` (the parser refuses a file without notes, so a broken download cannot
empty the list).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from covid_etl.catalog import NYT_ANOMALIES
from covid_etl.models import Anomaly
from covid_etl.series.spec import Built, Column, Series
from covid_etl.sources.anomalies import parse_anomalies

ANOMALIES_NAME = "anomalies"


def parse_notes(texts: Mapping[str, str], today: dt.date) -> list[Anomaly]:
    return parse_anomalies(texts[NYT_ANOMALIES.name], today=today)


def build_notes(notes: list[Anomaly]) -> Built:
    return Built(notes)


def notes_by_place(notes: Sequence[Anomaly]) -> dict[str, list[Anomaly]]:
    """The notes of each geoid, in the order given."""
    by_place: dict[str, list[Anomaly]] = {}
    for note in notes:
        by_place.setdefault(note.geoid, []).append(note)
    return by_place


_FLAG = "``yes`` or empty (null)"
ANOMALIES = Series(
    name=ANOMALIES_NAME,
    table="anomalies",
    row=Anomaly,
    columns=(
        Column("date", dt.date, "The day the note is about (its first day)."),
        Column("geoid", str, "The place: USA, USA-SS (a state) or USA-SSCCC (a county)."),
        Column("type", str, "The measure: cases, deaths or both."),
        Column("end_date", dt.date, "The note's last day, for a range; null for one day.", True),
        Column("county", str, "The county's name, for a county note.", True),
        Column("state", str, "The state's name, for a state or county note.", True),
        Column(
            "omit_from_rolling_average",
            str,
            f"Whether the NYT's 7-day averages leave the day(s) out: {_FLAG}.",
            True,
        ),
        Column(
            "omit_from_rolling_average_on_subgeographies",
            str,
            f"Whether the counties' averages leave the day(s) out too: {_FLAG}.",
            True,
        ),
        Column("description", str, "The NYT's explanation; may be empty (null).", True),
    ),
    partition="geoid",
    subkey=("type",),
    sources=(NYT_ANOMALIES,),
    parse=parse_notes,
    build=build_notes,
    shrinks=None,
    log_prefix="anomalies:",
)

__all__ = ["ANOMALIES", "ANOMALIES_NAME", "notes_by_place"]
