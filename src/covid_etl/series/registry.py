"""The series covid-etl keeps, in the order a run builds, diffs and writes them."""

from __future__ import annotations

from covid_etl.series.anomalies import ANOMALIES
from covid_etl.series.national import NATIONAL
from covid_etl.series.spec import Series
from covid_etl.series.states import STATES

# The notes last: the other series never read them while loading (only the API's derived
# figures do), and all are written in one transaction.
SERIES: tuple[Series, ...] = (NATIONAL, STATES, ANOMALIES)

# The version of the rules that build the series from the sources. Bump it when a rule changes
# what a series holds for the same bytes: the next run then rebuilds every series even though
# no source changed (an upgrade must not wait for an upstream that is frozen). 1: the NYT is the
# national spine, with the NYT's notes (schema 8); runs recorded before have none.
RULES = 1

__all__ = ["ANOMALIES", "NATIONAL", "RULES", "SERIES", "STATES"]
