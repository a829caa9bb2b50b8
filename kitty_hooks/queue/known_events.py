"""What left the queue (delivered, purged, dropped), and the ids a scan must not queue again.

Two tables:

- departures: the delivery log that `kitty-hooks log` reads.
- known_events: the set of their ids, so that a scan over old commits does not queue them again.

departures is written as events leave, at the end of the file. That is cheap: the rows of a page
land on a few new pages.

known_events is keyed by event id, so it takes a page's ids at random places. update_known
brings it up to date in one pass: after a flush's last page, after a purge or a drop.
known_through says how far: every departure up to that id is in it, or forgotten. Until then
intake.seen_ids looks at the departures above the mark too, so an id is known the moment it
leaves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from kitty_hooks.queue.entries import DeliveredEvent, Verdict

# How long an event that left is remembered, and how many at most (the oldest go first). Past
# that a scan over old commits queues a move again and the server answers `duplicate`:
# idempotency is the server's, this table only saves the trip.
KNOWN_EVENTS_DAYS = 90
KNOWN_EVENTS_MAX = 50_000


def depart(
    tx: sqlite3.Connection, where: str, params: Sequence[object], *, left_at: str, verdict: Verdict
) -> None:
    """Record the entries that match where (a WHERE clause, its params) as departures: when,
    why, and what they were, in queue order. One json_extract with several paths parses each
    envelope once; detail is [feature_slug, wp_id, from_lane, to_lane]."""
    tx.execute(
        "INSERT INTO departures (event_id, left_at, verdict, event_type, detail)"
        " SELECT event_id, ?, ?, event_type, json_extract(data, '$.payload.feature_slug',"
        " '$.payload.wp_id', '$.payload.from_lane', '$.payload.to_lane') FROM entries"
        f" WHERE {where} ORDER BY id",
        (left_at, verdict.value, *params),
    )


def update_known(tx: sqlite3.Connection) -> None:
    """Apply the retention rule (KNOWN_EVENTS_DAYS, at most KNOWN_EVENTS_MAX departures, the
    oldest first), then add the ids of the departures recorded since the last call to
    known_events, in one sorted pass."""
    (through,) = tx.execute("SELECT departure FROM known_through").fetchone()
    forget = _last_to_forget(tx)
    if forget:
        # An id forgotten with its departure (those up to the mark are in known_events),
        # unless it left again later (queued again once forgotten, say).
        tx.execute(
            "DELETE FROM known_events WHERE event_id IN"
            " (SELECT event_id FROM departures WHERE id <= ?)"
            " AND event_id NOT IN (SELECT event_id FROM departures WHERE id > ?)",
            (min(forget, through), forget),
        )
        tx.execute("DELETE FROM departures WHERE id <= ?", (forget,))
    tx.execute(
        "INSERT OR IGNORE INTO known_events SELECT event_id FROM departures WHERE id > ?"
        " ORDER BY event_id",
        (through,),
    )
    # The highest id left (0 once all are forgotten: a new row's id is then 1 again).
    tx.execute("UPDATE known_through SET departure = (SELECT coalesce(max(id), 0) FROM departures)")


def _last_to_forget(tx: sqlite3.Connection) -> int:
    """The highest departure id past the retention rule, 0 for none. Departures are in the
    order events left: the old ones are at the start, up to the first one young enough."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=KNOWN_EVENTS_DAYS)
    (newest,) = tx.execute("SELECT coalesce(max(id), 0) FROM departures").fetchone()
    (young,) = tx.execute(
        "SELECT coalesce((SELECT id FROM departures WHERE left_at >= ? ORDER BY id LIMIT 1), ?)",
        (cutoff.isoformat(timespec="microseconds"), newest + 1),
    ).fetchone()
    return max(newest - KNOWN_EVENTS_MAX, young - 1, 0)


def delivered(db: sqlite3.Connection, limit: int | None) -> list[DeliveredEvent]:
    """What the server acknowledged, newest first (as long as departures keeps it)."""
    rows = db.execute(
        "SELECT event_id, event_type, verdict, left_at, detail FROM departures"
        " WHERE verdict IN (?, ?) ORDER BY id DESC LIMIT ?",
        (Verdict.SUCCESS.value, Verdict.DUPLICATE.value, -1 if limit is None else limit),
    )
    found = []
    for event_id, event_type, verdict, left_at, detail in rows:
        parts = _detail(detail)
        found.append(DeliveredEvent(event_id, event_type, Verdict(verdict), left_at, *parts))
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
