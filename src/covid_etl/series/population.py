"""State population for per-capita figures: the U.S. Census Bureau's Vintage 2019 estimates
shipped with the package (``data/state-population-2019.csv``: ``fips,state,population``).

The file covers the 50 states, DC and Puerto Rico. The NYT states file also has Guam (66), the
Northern Mariana Islands (69) and the U.S. Virgin Islands (78): this vintage has no estimate for
them, so their population is None and their per-capita figures are unknown, never 0.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from typing import NamedTuple

POPULATION_FILE = "state-population-2019.csv"
# Jurisdictions of the NYT file without an estimate in the shipped vintage.
TERRITORIES = {"66": "Guam", "69": "Northern Mariana Islands", "78": "Virgin Islands"}


class Jurisdiction(NamedTuple):
    """A state, DC or territory by FIPS code, with its population when one is known."""

    fips: str
    name: str
    population: int | None


def parse_population(text: str) -> dict[str, Jurisdiction]:
    """``fips -> Jurisdiction`` from the census CSV text, plus the territories (population None)."""
    table = {fips: Jurisdiction(fips, name, None) for fips, name in TERRITORIES.items()}
    for row in csv.DictReader(io.StringIO(text)):
        fips = row["fips"]
        table[fips] = Jurisdiction(fips, row["state"], int(row["population"]))
    return table


@cache
def load_population() -> dict[str, Jurisdiction]:
    """The shipped table, read once per process."""
    from importlib import resources

    text = (resources.files("covid_etl") / "data" / POPULATION_FILE).read_text(encoding="utf-8")
    return parse_population(text)


def population_of(fips: str) -> int | None:
    """The 2019 population of a jurisdiction, or None (a territory, or a fips we do not know)."""
    found = load_population().get(fips)
    return found.population if found is not None else None


__all__ = ["Jurisdiction", "load_population", "parse_population", "population_of"]
