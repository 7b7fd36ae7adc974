"""The same job as ``covid-etl run``, written the way one would with pandas, for comparison.

Download both CSVs, keep the US national JHU rows, null recovered where JHU reports 0 after a
positive value, inner-join on date, diff against what the SQLite table already holds and write the
inserted and updated rows. No run history, locking, retries or notifications: this is the baseline
the ETL's overhead is measured against, not a competitor.

    python bench/pandas_baseline.py --db out.db --nyt-url URL --jhu-url URL

Prints one JSON object: the row counts and the seconds spent in each phase.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402

import pandas as pd  # noqa: E402

_IMPORTED = time.perf_counter()

TABLE = "records"
COLUMNS = ["date", "cases", "deaths", "recovered"]


def extract(nyt_url: str, jhu_url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    nyt = pd.read_csv(nyt_url, usecols=["date", "cases", "deaths"], dtype={"date": str})
    jhu = pd.read_csv(
        jhu_url,
        usecols=["Date", "Country/Region", "Province/State", "Recovered"],
        dtype={"Date": str, "Recovered": "Int64"},
    )
    return nyt, jhu


def transform(nyt: pd.DataFrame, jhu: pd.DataFrame) -> pd.DataFrame:
    us = jhu[(jhu["Country/Region"] == "US") & jhu["Province/State"].isna()]
    us = us[["Date", "Recovered"]].rename(columns={"Date": "date", "Recovered": "recovered"})
    us = us.sort_values("date")
    # An exact 0 after the first positive value means "no longer reported", not zero recoveries.
    positive_before = (us["recovered"] > 0).fillna(False).cummax()
    us["recovered"] = us["recovered"].mask((us["recovered"] == 0) & positive_before)
    joined = nyt.merge(us, on="date", how="inner").sort_values("date", ignore_index=True)
    return joined[COLUMNS]


def read_stored(con: sqlite3.Connection) -> pd.DataFrame:
    exists = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).fetchone()
    if not exists:
        return pd.DataFrame({c: pd.Series(dtype="Int64") for c in COLUMNS}).astype({"date": str})
    return pd.read_sql_query(
        f"SELECT {', '.join(COLUMNS)} FROM {TABLE}",
        con,
        dtype={"cases": "Int64", "deaths": "Int64", "recovered": "Int64"},
    )


def diff(incoming: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    both = incoming.merge(stored, on="date", how="left", suffixes=("", "_old"), indicator=True)
    inserted = both["_merge"] == "left_only"
    changed = pd.Series(False, index=both.index)
    for column in ("cases", "deaths", "recovered"):
        new, old = both[column].astype("Int64"), both[f"{column}_old"]
        changed |= (new != old).fillna(new.isna() != old.isna())
    updated = ~inserted & changed
    return incoming[inserted.to_numpy()], incoming[updated.to_numpy()]


def load(con: sqlite3.Connection, inserted: pd.DataFrame, updated: pd.DataFrame) -> None:
    with con:
        if len(updated):
            con.executemany(f"DELETE FROM {TABLE} WHERE date = ?", [(d,) for d in updated["date"]])
        changes = pd.concat([inserted, updated])
        if len(changes):
            changes.to_sql(TABLE, con, if_exists="append", index=False)


class Phases:
    """Seconds per named phase of the job, each from the end of the one before; the first is
    the import of pandas."""

    def __init__(self, import_seconds: float) -> None:
        self.seconds: dict[str, float] = {"import pandas": import_seconds}
        self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._mark
        self._mark = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLite file (created if missing)")
    parser.add_argument("--nyt-url", required=True)
    parser.add_argument("--jhu-url", required=True)
    args = parser.parse_args()

    phases = Phases(_IMPORTED - _STARTED)
    lap = phases.lap

    nyt, jhu = extract(args.nyt_url, args.jhu_url)
    lap("download + read_csv")
    joined = transform(nyt, jhu)
    lap("filter + join")
    con = sqlite3.connect(args.db)
    try:
        stored = read_stored(con)
        lap("read stored table")
        inserted, updated = diff(joined, stored)
        lap("diff")
        load(con, inserted, updated)
        lap("write")
    finally:
        con.close()
    summary = {
        "rows": len(joined),
        "inserted": len(inserted),
        "updated": len(updated),
        "unchanged": len(joined) - len(inserted) - len(updated),
        "data_through": joined["date"].iloc[-1],
        "phases": phases.seconds,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
