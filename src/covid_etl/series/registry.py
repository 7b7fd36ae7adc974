"""The series covid-etl keeps, in the order a run builds, diffs and writes them."""

from __future__ import annotations

from covid_etl.series.anomalies import ANOMALIES
from covid_etl.series.national import NATIONAL
from covid_etl.series.spec import Series
from covid_etl.series.states import STATES

# The notes last: the other series never read them while loading (only the API's derived
# figures do), and all are written in one transaction.
SERIES: tuple[Series, ...] = (NATIONAL, STATES, ANOMALIES)

__all__ = ["ANOMALIES", "NATIONAL", "SERIES", "STATES"]
