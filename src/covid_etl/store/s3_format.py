"""How the S3 store's objects are laid out: ``runs.json`` entries and ``records.csv`` rows.

Pure functions between the JSON/CSV documents and the typed records; the protocol around them
(conditional writes, the lease, the commit) is in :mod:`covid_etl.store.s3`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from ..errors import StoreUnavailable
from ..export import write_csv
from ..models import DeliveryStatus, Record, RunRecord, RunStatus, SourceMeta, Stage, Trigger
from .base import NotificationRow, PendingChannel

FORMAT = 1
# How many event ids runs.json remembers for duplicate detection (one run a day: months).
EVENT_MEMORY = 200


def empty_doc() -> dict[str, Any]:
    return {"format": FORMAT, "runs": [], "notifications": []}


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise StoreUnavailable(f"not a JSON object in the S3 store: {exc}") from exc
    if not isinstance(value, dict):
        raise StoreUnavailable("not a JSON object in the S3 store")
    value.setdefault("runs", [])
    value.setdefault("notifications", [])
    return value


def parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def next_id(runs: list[dict[str, Any]]) -> int:
    return max((int(r["id"]) for r in runs), default=0) + 1


def replace_run(doc: dict[str, Any], entry: dict[str, Any]) -> None:
    for index, existing in enumerate(doc["runs"]):
        if existing["id"] == entry["id"]:
            if "event_id" in existing:
                entry["event_id"] = existing["event_id"]
            doc["runs"][index] = entry
            break
    else:
        doc["runs"].append(entry)
    # Bound the duplicate-detection memory; the runs themselves are all kept.
    tagged = [r for r in doc["runs"] if "event_id" in r]
    for old in tagged[:-EVENT_MEMORY]:
        del old["event_id"]


def run_to_dict(run: RunRecord) -> dict[str, Any]:
    return {**run.to_dict(), "pid": run.pid, "host": run.host}


def run_from_dict(d: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=int(d["id"]),
        trigger=Trigger(d["trigger"]),
        environment=d["environment"],
        status=RunStatus(d["status"]),
        started_at=parse_time(d.get("started_at")) or dt.datetime.now(dt.UTC),
        finished_at=parse_time(d["finished_at"]) if d.get("finished_at") else None,
        failed_stage=Stage(d["failed_stage"]) if d.get("failed_stage") else None,
        error=d.get("error"),
        warnings=list(d.get("warnings") or []),
        initial_load=bool(d.get("initial_load")),
        inserted=int(d.get("inserted") or 0),
        updated=int(d.get("updated") or 0),
        unchanged=int(d.get("unchanged") or 0),
        data_through=dt.date.fromisoformat(d["data_through"]) if d.get("data_through") else None,
        sources=[SourceMeta.from_dict(s) for s in d.get("sources") or []],
        recovered_from=d.get("recovered_from"),
        notification_status=d.get("notification_status"),
        pid=d.get("pid"),
        host=d.get("host"),
    )


def notification(note_id: int, run_id: int, channel: PendingChannel, now: str) -> dict[str, Any]:
    return {
        "id": note_id,
        "run_id": run_id,
        "channel_key": channel.key,
        "channel": channel.label,
        "status": str(DeliveryStatus.PENDING),
        "attempts": 0,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def notification_row(n: dict[str, Any]) -> NotificationRow:
    return NotificationRow(
        id=int(n["id"]),
        run_id=int(n["run_id"]),
        channel_key=n["channel_key"],
        channel=n["channel"],
        status=DeliveryStatus(n["status"]),
        attempts=int(n["attempts"]),
        last_error=n.get("last_error"),
        created_at=parse_time(n.get("created_at")) or dt.datetime.now(dt.UTC),
        delivered_at=parse_time(n["delivered_at"]) if n.get("delivered_at") else None,
    )


def records_csv(rows: list[Record]) -> bytes:
    """``date,cases,deaths,recovered``, the export format (recovered empty when null)."""
    out = io.StringIO()
    write_csv(rows, out)
    return out.getvalue().encode()


def parse_records(body: bytes) -> list[Record]:
    reader = csv.reader(io.StringIO(body.decode("utf-8")))
    header = next(reader, None)
    if header != ["date", "cases", "deaths", "recovered"]:
        raise StoreUnavailable(f"records.csv has an unexpected header: {header}")
    rows = [
        Record(dt.date.fromisoformat(d), int(c), int(x), int(r) if r else None)
        for d, c, x, r in reader
    ]
    rows.sort(key=lambda r: r.date)
    return rows
