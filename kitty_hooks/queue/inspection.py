"""Reading the queue: its entries, one entry, the clock, the causation links, the counts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from kitty_hooks.queue.entries import (
    ENTRY_COLUMNS,
    QueuedMove,
    QueueEntry,
    QueueStats,
    Status,
    check_statuses,
    entry_from_row,
)
from kitty_hooks.queue.errors import QueueError
from kitty_hooks.queue.schema import READ_CLOCK


def select_entries(db: sqlite3.Connection, clauses: str, params: Sequence[Any]) -> list[QueueEntry]:
    """The entries that clauses (WHERE, ORDER BY, LIMIT) pick."""
    query = f"SELECT {ENTRY_COLUMNS} FROM entries{clauses}"
    return [entry_from_row(row) for row in db.execute(query, params)]


def list_query(statuses: Sequence[str] | None, limit: int | None) -> tuple[str, list[Any]]:
    """The clauses and parameters of list_entries (the statuses checked first)."""
    wanted = check_statuses(statuses)
    clauses = ""
    params: list[Any] = []
    if wanted is not None:
        clauses += f" WHERE status IN ({', '.join('?' * len(wanted))})"
        params.extend(wanted)
    clauses += " ORDER BY id"
    if limit is not None:
        clauses += " LIMIT ?"
        params.append(limit)
    return clauses, params


def entry(db: sqlite3.Connection, event_id: str) -> QueueEntry | None:
    found = select_entries(db, " WHERE event_id = ?", [event_id])
    return found[0] if found else None


def get(db: sqlite3.Connection, event_id: str) -> QueueEntry | None:
    exact = entry(db, event_id)
    if exact is not None or not event_id:
        return exact
    matches = select_entries(
        db,
        " WHERE event_id >= ? AND event_id < ? ORDER BY event_id LIMIT 2",
        [event_id, event_id + "\U0010ffff"],
    )
    if len(matches) > 1:
        raise QueueError(
            f"{event_id} is the start of several queued event ids: give more characters"
        )
    return matches[0] if matches else None


def last_event_id_for(db: sqlite3.Connection, causation_key: str) -> str | None:
    row = db.execute(
        "SELECT last_event_id FROM causation WHERE causation_key = ?", (causation_key,)
    ).fetchone()
    return row[0] if row else None


def lamport_clock(db: sqlite3.Connection) -> int:
    return db.execute(READ_CLOCK).fetchone()[0]


def node_id(db: sqlite3.Connection) -> str:
    return db.execute("SELECT node_id FROM node WHERE id = 1").fetchone()[0]


def moves_to_send(db: sqlite3.Connection, retry_limit: int) -> list[QueuedMove]:
    """The WPStatusChanged entries a flush would send, oldest first, the fields that say which
    move each is (one json_extract with several paths reads each envelope once)."""
    rows = db.execute(
        "SELECT event_id, json_extract(data, '$.project_uuid', '$.payload.feature_slug',"
        " '$.payload.wp_id', '$.payload.from_lane', '$.payload.to_lane', '$.timestamp')"
        " FROM entries WHERE event_type = 'WPStatusChanged'"
        " AND (status = ? OR (status = ? AND retry_count < ?)) ORDER BY id",
        (Status.PENDING.value, Status.FAILED.value, retry_limit),
    )
    moves = []
    for event_id, fields in rows:
        try:
            parts = json.loads(fields) if fields else []
        except ValueError:
            parts = []
        if not isinstance(parts, list) or len(parts) != 6:
            parts = [None] * 6
        moves.append(QueuedMove(event_id, *(p if isinstance(p, str) else None for p in parts)))
    return moves


def departed_count(db: sqlite3.Connection, verdict: str) -> int:
    """How many departures (as long as they are kept: known_events) had this verdict."""
    return db.execute("SELECT count(*) FROM departures WHERE verdict = ?", (verdict,)).fetchone()[0]


def stats(db: sqlite3.Connection) -> QueueStats:
    counts = {status.value: 0 for status in Status}
    for status, count in db.execute("SELECT status, count(*) FROM entries GROUP BY status"):
        counts[status] = count
    (oldest,) = db.execute("SELECT min(created_at) FROM entries").fetchone()
    buckets = {"0": 0, "1-2": 0, "3-4": 0, "5+": 0}
    for retries, count in db.execute(
        "SELECT retry_count, count(*) FROM entries GROUP BY retry_count"
    ):
        bucket = "0" if retries <= 0 else "1-2" if retries <= 2 else "3-4" if retries <= 4 else "5+"
        buckets[bucket] += count
    top = [
        (event_type, count)
        for event_type, count in db.execute(
            "SELECT event_type, count(*) AS n FROM entries GROUP BY event_type"
            " ORDER BY n DESC, event_type LIMIT 5"
        )
    ]
    return QueueStats(
        total_pending=counts[Status.PENDING.value],
        total_failed=counts[Status.FAILED.value],
        total_dead_letter=counts[Status.DEAD_LETTER.value],
        oldest_created_at=oldest,
        retry_distribution=buckets,
        top_event_types=top,
    )


def lanes_sent(db: sqlite3.Connection, prefix: str) -> dict[str, str]:
    """Causation key -> the lane its latest WPStatusChanged (by Lamport clock) moved it to, for
    the keys that start with prefix (a project's: "<project_uuid>/")."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
    # SQLite takes a bare column of an aggregate query from the row max() picked.
    rows = db.execute(
        "SELECT causation_key, to_lane, max(lamport_clock) FROM lanes_sent"
        " WHERE causation_key >= ? AND causation_key < ? GROUP BY causation_key",
        (prefix, upper),
    )
    return {key: lane for key, lane, _ in rows}
