"""Synthetic per-state inputs of N times the real NYT us-states.csv, for the growth benchmark.

    python -m bench.states_growth --factor 10 --out us-states-10x.csv

A state FIPS code has two digits, so there cannot be ten times as many jurisdictions: the file
grows along the date axis instead. Copy k of the real rows (same 55 jurisdictions, names and
figures) is shifted k spans of 535 days into the past, so the result has N times the rows, the
real file's shape per day, no date in the future, and one row per (date, fips). At 100x that is
about 2.7 million rows and 95 MB, the size of the NYT county file.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "src" / "covid_etl" / "data" / "nyt-us-states.csv"


def grown(real_text: str, factor: int) -> str:
    """``factor`` copies of the real rows, each earlier copy shifted one span into the past."""
    header, *lines = real_text.strip().splitlines()
    days = sorted({line[:10] for line in lines})
    span = (dt.date.fromisoformat(days[-1]) - dt.date.fromisoformat(days[0])).days + 1
    out = [header]
    for k in range(factor - 1, -1, -1):  # oldest copy first, as the NYT sorts by date
        shift = dt.timedelta(days=k * span)
        shifted = {d: (dt.date.fromisoformat(d) - shift).isoformat() for d in days}
        out.extend(shifted[line[:10]] + line[10:] for line in lines)
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_text(grown(REAL.read_text(), args.factor))


if __name__ == "__main__":
    main()
