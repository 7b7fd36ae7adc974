"""The job of ``covid-etl run`` with the per-state series on, written the way one would with
pandas: the national job of ``pandas_baseline.py``, then NYT ``us-states.csv``: read_csv,
validate the same contract (ISO dates not after tomorrow, non-negative integer counts, two-digit
fips, one row per (date, fips), one name per fips, decreases counted per state), diff against the
stored table by (date, fips) and write the inserted and updated rows with to_sql, with what a run
of covid-etl writes besides: a change-log entry per written row (values before and after as
JSON), in tables declared like covid-etl's (the same keys, indexes and checks; no run records).

    python bench/pandas_states.py --db out.db --nyt-url URL --jhu-url URL --states-url URL

Prints one JSON object: the national and per-state counts and the seconds of each phase.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402

import pandas as pd  # noqa: E402
import pandas_baseline as national  # noqa: E402  # the sibling script, on sys.path[0]

_IMPORTED = time.perf_counter()

TABLE = "states"
COLUMNS = ["date", "fips", "state", "cases", "deaths"]


def read_states(url: str) -> pd.DataFrame:
    # Everything as text first: validation must see the values as written.
    return pd.read_csv(url, usecols=COLUMNS, dtype=str, keep_default_na=False)


def validate(frame: pd.DataFrame, today: dt.date) -> tuple[pd.DataFrame, int]:
    """The contract; raises ValueError naming the first bad line. Returns typed rows and the
    number of states with a decreasing cumulative value."""

    def refuse(mask: pd.Series, what: str) -> None:
        if mask.any():
            first = int(mask.to_numpy().argmax())
            raise ValueError(f"line {first + 2}: {what}")

    refuse(~frame["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}"), "date is not ISO")
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    refuse(dates > pd.Timestamp(today + dt.timedelta(days=1)), "date in the future")
    refuse(~frame["fips"].str.fullmatch(r"\d{2}"), "fips is not two digits")
    for column in ("cases", "deaths"):
        refuse(~frame[column].str.fullmatch(r"\d+"), f"{column} is not a non-negative integer")
    refuse(frame.duplicated(["date", "fips"]), "second row for one (date, fips)")
    names = frame.groupby("fips")["state"].nunique()
    if (names > 1).any():
        raise ValueError(f"fips {names[names > 1].index[0]} has more than one name")
    typed = frame.astype({"cases": "int64", "deaths": "int64"}).sort_values(["fips", "date"])
    falls = typed.groupby("fips")[["cases", "deaths"]].diff() < 0
    decreasing = int(falls.any(axis=1).groupby(typed["fips"]).any().sum())
    return typed, decreasing


def read_stored(con: sqlite3.Connection) -> pd.DataFrame:
    exists = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).fetchone()
    if not exists:
        return pd.DataFrame({c: pd.Series(dtype=str) for c in COLUMNS}).astype(
            {"cases": "int64", "deaths": "int64"}
        )
    return pd.read_sql_query(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}", con)


def diff(incoming: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    both = incoming.merge(
        stored, on=["date", "fips"], how="left", suffixes=("", "_old"), indicator=True
    )
    inserted = both["_merge"] == "left_only"
    changed = (
        (both["state"] != both["state_old"])
        | (both["cases"] != both["cases_old"])
        | (both["deaths"] != both["deaths_old"])
    )
    updated = ~inserted & changed
    return both[inserted.to_numpy()], both[updated.to_numpy()]


# covid-etl's states and changes tables (store/sqlite.py, schema 7), without the runs table
# they reference: the run is the constant RUN.
SCHEMA = (
    f"""CREATE TABLE {TABLE} (
        date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
        fips TEXT NOT NULL CHECK (fips GLOB '[0-9][0-9]'),
        state TEXT NOT NULL,
        cases INTEGER NOT NULL CHECK (cases >= 0),
        deaths INTEGER NOT NULL CHECK (deaths >= 0),
        PRIMARY KEY (fips, date)
    ) WITHOUT ROWID""",
    """CREATE TABLE changes (
        run_id INTEGER NOT NULL,
        series TEXT NOT NULL,
        date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
        kind TEXT NOT NULL CHECK (kind = 'inserted' OR kind = 'updated' OR kind = 'removed'),
        old_values TEXT,
        new_values TEXT,
        PRIMARY KEY (run_id, series, date)
    ) WITHOUT ROWID""",
    "CREATE INDEX changes_by_series ON changes (series, date)",
)
RUN = 1


def values_json(frame: pd.DataFrame, suffix: str = "") -> pd.Series:
    """``{"name":…,"cases":…,"deaths":…}`` per row, built column-wise (names JSON-escaped)."""
    name = frame["state" + suffix].str.replace("\\", "\\\\", regex=False)
    name = name.str.replace('"', '\\"', regex=False)
    cases = frame["cases" + suffix].astype("int64").astype(str)
    deaths = frame["deaths" + suffix].astype("int64").astype(str)
    return '{"name":"' + name + '","cases":' + cases + ',"deaths":' + deaths + "}"


def change_entries(inserted: pd.DataFrame, updated: pd.DataFrame) -> pd.DataFrame:
    """The change log's rows for the written rows: inserted (values after) and updated (before
    and after; ``updated`` carries the stored values as ``*_old`` columns)."""
    parts = [
        pd.DataFrame({
            "run_id": RUN, "series": rows["fips"], "date": rows["date"], "kind": kind,
            "old_values": values_json(rows, "_old") if kind == "updated" else None,
            "new_values": values_json(rows),
        })
        for kind, rows in (("inserted", inserted), ("updated", updated))
        if len(rows)
    ]  # fmt: skip
    return pd.concat(parts) if parts else pd.DataFrame()


def load(con: sqlite3.Connection, inserted: pd.DataFrame, updated: pd.DataFrame) -> None:
    with con:
        exists = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        if not exists:
            for statement in SCHEMA:
                con.execute(statement)
        if len(updated):
            con.executemany(
                f"DELETE FROM {TABLE} WHERE date = ? AND fips = ?",
                list(zip(updated["date"], updated["fips"], strict=True)),
            )
        changes = pd.concat([inserted, updated])[COLUMNS]
        if len(changes):
            changes.to_sql(TABLE, con, if_exists="append", index=False, chunksize=50_000)
            entries = change_entries(inserted, updated)
            entries.to_sql("changes", con, if_exists="append", index=False, chunksize=50_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--nyt-url", required=True)
    parser.add_argument("--jhu-url", required=True)
    parser.add_argument("--states-url", required=True)
    args = parser.parse_args()
    phases = national.Phases(_IMPORTED - _STARTED)
    lap = phases.lap

    nyt, jhu = national.extract(args.nyt_url, args.jhu_url)
    joined = national.transform(nyt, jhu)
    lap("national: read_csv + join")
    frame = read_states(args.states_url)
    lap("states: download + read_csv")
    typed, decreasing = validate(frame, dt.datetime.now(dt.UTC).date())
    lap("states: validate")
    con = sqlite3.connect(args.db)
    try:
        n_inserted, n_updated = national.diff(joined, national.read_stored(con))
        stored = read_stored(con)
        lap("read stored tables")
        inserted, updated = diff(typed, stored)
        lap("states: diff")
        national.load(con, n_inserted, n_updated)
        load(con, inserted, updated)
        lap("write")
    finally:
        con.close()
    print(
        json.dumps(
            {
                "inserted": len(n_inserted),
                "states": {
                    "rows": len(typed),
                    "inserted": len(inserted),
                    "updated": len(updated),
                    "unchanged": len(typed) - len(inserted) - len(updated),
                    "data_through": typed["date"].max(),
                    "decreasing_states": decreasing,
                },
                "phases": phases.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
