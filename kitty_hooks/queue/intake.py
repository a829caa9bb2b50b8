"""Events into the queue: each gets its node id, Lamport clock and causation link, in one transaction
with the insert; an id seen before (queued, or gone out of the queue) is a duplicate.

This module runs on the post-commit path: it imports sqlite3 and the standard library only
(and the pure model).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kitty_hooks.model.events import EVENT_TYPE, causation_key
from kitty_hooks.queue.chunks import id_chunks
from kitty_hooks.queue.entries import EnqueueResult
from kitty_hooks.queue.schema import READ_NODE_CLOCK, utc_now

# How an envelope is stored: compact, UTF-8 as it is (what the flush sends, untouched).
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def check_envelopes(envelopes: Sequence[Mapping[str, Any]]) -> None:
    """Refuse the batch before anything of it is queued when an envelope lacks its id or type."""
    for envelope in envelopes:
        event_id = envelope.get("event_id")
        event_type = envelope.get("event_type")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError(f"event_id must be a non-empty string, got {event_id!r}")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be a non-empty string, got {event_type!r}")


def enqueue(
    tx: sqlite3.Connection,
    envelopes: Sequence[Mapping[str, Any]],
    commits: Mapping[str, str],
    repo: str | None,
    dumps: Callable[[Any], str],
    *,
    mark_work: Callable[[], None],
) -> EnqueueResult:
    """Queue checked envelopes inside the write transaction tx; mark_work runs before it
    commits when something was queued."""
    queued: list[str] = []
    duplicates: list[str] = []
    created_at = utc_now()
    # The node id goes with the clock: both are this queue's (one node, one clock).
    clock, node = tx.execute(READ_NODE_CLOCK).fetchone()
    # Queued now, or delivered, purged or dropped before: asked in chunks, not one
    # SELECT an event (a scan queues thousands in one transaction).
    seen = seen_ids(tx, [e["event_id"] for e in envelopes])
    keys = [causation_key(e) for e in envelopes]
    last_of = last_events(tx, list(dict.fromkeys(keys)))
    moved: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    lanes: list[tuple[str, int, str]] = []
    for envelope, key in zip(envelopes, keys, strict=True):
        event_id = envelope["event_id"]
        if event_id in seen:
            duplicates.append(event_id)
            to_lane = _to_lane(envelope)
            if to_lane is not None:
                # Known from before lanes were kept (or a scan of another clone's history):
                # below every clock, so any move this queue stamped comes after it.
                lanes.append((key, 0, to_lane))
            if commits.get(event_id):
                # Seen again in another commit (after `reset --soft` and a new commit,
                # a cherry-pick): name the one found last, or `queue drop --orphaned`
                # would drop a move that is still in history.
                tx.execute(
                    "UPDATE entries SET commit_sha = ?, repo = ? WHERE event_id = ?",
                    (commits[event_id], repo, event_id),
                )
            continue
        seen.add(event_id)  # twice in one batch: queued once
        clock += 1
        data = dumps(
            {**envelope, "node_id": node, "lamport_clock": clock, "causation_id": last_of[key]}
        )
        commit = commits.get(event_id)
        rows.append(
            (
                clock,
                event_id,
                envelope["event_type"],
                data if data.isascii() else _unicode_text(data),
                created_at,
                key,
                commit,
                repo if commit else None,
            )
        )
        last_of[key] = moved[key] = event_id
        queued.append(event_id)
        to_lane = _to_lane(envelope)
        if to_lane is not None:
            lanes.append((key, clock, to_lane))
    tx.executemany(
        "INSERT INTO entries (id, event_id, event_type, data, created_at,"
        " causation_key, commit_sha, repo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    tx.executemany(
        "INSERT INTO causation (causation_key, last_event_id) VALUES (?, ?)"
        " ON CONFLICT (causation_key) DO UPDATE SET last_event_id = excluded.last_event_id",
        moved.items(),
    )
    tx.executemany("INSERT OR REPLACE INTO lanes_sent VALUES (?, ?, ?)", lanes)
    if queued:
        mark_work()
    return EnqueueResult(tuple(queued), tuple(duplicates))


def _to_lane(envelope: Mapping[str, Any]) -> str | None:
    if envelope["event_type"] != EVENT_TYPE:
        return None
    payload = envelope.get("payload")
    to_lane = payload.get("to_lane") if isinstance(payload, dict) else None
    return to_lane if isinstance(to_lane, str) else None


def last_events(tx: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str | None]:
    """The last event queued for each causation key (None: none yet), asked in chunks."""
    last: dict[str, str | None] = dict.fromkeys(keys)
    for chunk, marks in id_chunks(keys):
        last.update(
            tx.execute(
                "SELECT causation_key, last_event_id FROM causation"
                f" WHERE causation_key IN ({marks})",
                chunk,
            ).fetchall()
        )
    return last


def seen_ids(tx: sqlite3.Connection, event_ids: Sequence[str]) -> set[str]:
    """The ids queued now or known to have left (known_events, and the departures that
    known_events.update_known has yet to add to it: normally none, all of a flush's while it
    runs)."""
    seen: set[str] = set()
    # Each id goes in twice: 400 keeps a chunk under SQLite's oldest limit of 999 variables.
    for chunk, marks in id_chunks(event_ids, 400):
        seen.update(
            row[0]
            for row in tx.execute(
                f"SELECT event_id FROM entries WHERE event_id IN ({marks})"
                f" UNION ALL SELECT event_id FROM known_events WHERE event_id IN ({marks})",
                [*chunk, *chunk],
            )
        )
    (mark, newest) = tx.execute(
        "SELECT departure, (SELECT coalesce(max(id), 0) FROM departures) FROM known_through"
    ).fetchone()
    if newest > mark:
        # Departures have no index by event id: one pass over those above the mark for all
        # the ids at once (an IN list per chunk is a pass each: 0.6 s for a scan's 10,000 ids
        # beside a flush's 100,000 departures).
        wanted = set(event_ids)
        seen.update(
            event_id
            for (event_id,) in tx.execute("SELECT event_id FROM departures WHERE id > ?", (mark,))
            if event_id in wanted
        )
    return seen


def _unicode_text(text: str) -> str:
    """text, with any lone surrogate replaced by U+FFFD.

    A status log line with "\\ud800" in it reads as a str SQLite cannot store (the insert raised
    UnicodeEncodeError, and the hook lost the lane change) and no server can take either. Read
    liberally, emit strictly: what we queue and send is always valid UTF-8.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
