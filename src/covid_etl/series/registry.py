"""The series covid-etl keeps, in the order a run builds, diffs and writes them."""

from __future__ import annotations

from covid_etl.series.national import NATIONAL
from covid_etl.series.spec import Series
from covid_etl.series.states import STATES

SERIES: tuple[Series, ...] = (NATIONAL, STATES)

__all__ = ["NATIONAL", "SERIES", "STATES"]
