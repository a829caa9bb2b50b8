"""known_events: the ids that left the queue (delivered, purged, dropped), so that a scan over
old commits does not queue them again; for the events the server acknowledged, also the
delivery log that `kitty-hooks log` reads."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

from kitty_hooks.queue.entries import DeliveredEvent, Verdict

# How long known_events remembers an event delivered, purged or dropped, and how many it keeps
# at most (the oldest go first). Past that a scan over old commits queues a move again and the
# server answers `duplicate`: idempotency is the server's, this table only saves the trip.
KNOWN_EVENTS_DAYS = 90
KNOWN_EVENTS_MAX = 50_000

# Remember entries (the WHERE clause follows; parameters: known_at, verdict, then the clause's)
# in known_events: when, why, and what they were. One json_extract with several paths parses
# each envelope once.
REMEMBER = (
    "INSERT OR REPLACE INTO known_events (event_id, known_at, verdict, event_type, detail)"
    " SELECT event_id, ?, ?, event_type, json_extract(data, '$.payload.feature_slug',"
    " '$.payload.wp_id', '$.payload.from_lane', '$.payload.to_lane') FROM entries"
)


def prune_known(tx: sqlite3.Connection) -> None:
    """The retention rule of known_events (and so of `kitty-hooks log`): KNOWN_EVENTS_DAYS, and
    at most about KNOWN_EVENTS_MAX rows (rows forgotten at the same instant go together)."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=KNOWN_EVENTS_DAYS)
    tx.execute(
        "DELETE FROM known_events WHERE known_at < ?", (cutoff.isoformat(timespec="microseconds"),)
    )
    tx.execute(
        "DELETE FROM known_events WHERE known_at < (SELECT known_at FROM known_events"
        " ORDER BY known_at DESC LIMIT 1 OFFSET ?)",
        (KNOWN_EVENTS_MAX - 1,),
    )


def delivered(db: sqlite3.Connection, limit: int | None) -> list[DeliveredEvent]:
    """What the server acknowledged, newest first (as long as known_events keeps it)."""
    rows = db.execute(
        "SELECT event_id, event_type, verdict, known_at, detail FROM known_events"
        " WHERE verdict IN (?, ?) ORDER BY known_at DESC, event_id DESC LIMIT ?",
        (Verdict.SUCCESS.value, Verdict.DUPLICATE.value, -1 if limit is None else limit),
    )
    found = []
    for event_id, event_type, verdict, known_at, detail in rows:
        parts = _detail(detail)
        found.append(DeliveredEvent(event_id, event_type, Verdict(verdict), known_at, *parts))
    return found


def _detail(text: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        parts = json.loads(text) if text else None
    except ValueError:
        parts = None
    if not isinstance(parts, list) or len(parts) != 4:
        return (None, None, None, None)
    feature, wp, from_lane, to_lane = (p if isinstance(p, str) else None for p in parts)
    return (feature, wp, from_lane, to_lane)
