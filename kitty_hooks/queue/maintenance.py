"""Changing what is queued by hand or after a rewrite of history: retry, purge, drop, and the
events an amend or rebase changed or took away."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kitty_hooks.queue.chunks import id_chunks, update_in_chunks
from kitty_hooks.queue.entries import Status, Verdict
from kitty_hooks.queue.intake import compact_json
from kitty_hooks.queue.known_events import depart, update_known
from kitty_hooks.queue.schema import DELETING, utc_now

# Back to pending with a fresh retry count (parameters: _RESET_PARAMS, then the clause's).
_RESET = (
    "UPDATE entries SET status = ?, retry_count = 0, last_error = NULL,"
    " error_category = NULL WHERE status IN (?, ?)"
)
_RESET_PARAMS = (Status.PENDING.value, Status.FAILED.value, Status.DEAD_LETTER.value)


def retry_dead(tx: sqlite3.Connection, *, mark_work: Callable[[], None]) -> int:
    changed = tx.execute(_RESET + " AND status = ?", (*_RESET_PARAMS, Status.DEAD_LETTER.value))
    if changed.rowcount:
        mark_work()
    return changed.rowcount


def retry_ids(
    tx: sqlite3.Connection, event_ids: Sequence[str], *, mark_work: Callable[[], None]
) -> int:
    changed = update_in_chunks(tx, _RESET + " AND event_id IN ({})", _RESET_PARAMS, event_ids)
    if changed:
        mark_work()
    return changed


def purge_dead(tx: sqlite3.Connection) -> int:
    tx.execute(DELETING)
    dead = Status.DEAD_LETTER.value
    depart(tx, "status = ?", (dead,), left_at=utc_now(), verdict=Verdict.PURGED)
    forget_lanes(tx, "status = ?", (dead,))
    removed = tx.execute("DELETE FROM entries WHERE status = ?", (dead,)).rowcount
    update_known(tx)
    return removed


def drop(
    tx: sqlite3.Connection,
    event_ids: Sequence[str],
    *,
    remember: bool,
    verdict: Verdict = Verdict.DROPPED,
) -> list[str]:
    """Remove events of any status, sent or not; returns the ids removed.

    remember: their ids stay known, so a scan does not queue them again (the user said no
    to these); without it they are forgotten, as a move that no longer happened is (its
    commit is gone), and queued again should it happen again. Either way a work package
    whose last event was dropped starts a new causation chain: nothing may point at an
    event the server never got.
    """
    removed: list[str] = []
    tx.execute(DELETING)
    for chunk, marks in id_chunks(list(dict.fromkeys(event_ids))):
        removed += [
            row[0]
            for row in tx.execute(
                f"SELECT event_id FROM entries WHERE event_id IN ({marks})", chunk
            )
        ]
        if remember:
            depart(tx, f"event_id IN ({marks})", chunk, left_at=utc_now(), verdict=verdict)
        if verdict is not Verdict.SPEC_KITTY:  # spec-kitty's own sync sends that one
            forget_lanes(tx, f"event_id IN ({marks})", chunk)
        tx.execute(f"DELETE FROM entries WHERE event_id IN ({marks})", chunk)
        tx.execute(f"DELETE FROM causation WHERE last_event_id IN ({marks})", chunk)
    update_known(tx)
    return removed


def discard_unsent(tx: sqlite3.Connection, event_ids: Sequence[str]) -> int:
    removed = 0
    tx.execute(DELETING)
    for chunk, marks in id_chunks(event_ids):
        unsent = f"status = ? AND last_attempt_at IS NULL AND event_id IN ({marks})"
        forget_lanes(tx, unsent, (Status.PENDING.value, *chunk))
        removed += tx.execute(
            "DELETE FROM entries WHERE status = ? AND last_attempt_at IS NULL"
            f" AND event_id IN ({marks})",
            (Status.PENDING.value, *chunk),
        ).rowcount
        tx.execute(f"DELETE FROM causation WHERE last_event_id IN ({marks})", chunk)
    return removed


def forget_lanes(tx: sqlite3.Connection, where: str, params: Sequence[Any]) -> None:
    """Forget the lanes of the entries `where` selects, before they are deleted unsent: the
    dashboard never gets them."""
    tx.execute(
        "DELETE FROM lanes_sent WHERE (causation_key, lamport_clock) IN"
        f" (SELECT causation_key, id FROM entries WHERE {where})",
        params,
    )


def repoint(
    tx: sqlite3.Connection,
    commits: Mapping[str, str],
    transform: Callable[[str, dict[str, Any]], dict[str, Any] | None],
) -> int:
    """See EventQueue.repoint."""
    changed = 0
    for event_id, sha in commits.items():
        row = tx.execute(
            "SELECT id, data, status FROM entries WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is None:
            continue
        tx.execute("UPDATE entries SET commit_sha = ? WHERE id = ?", (sha, row[0]))
        changed += 1
        if row[2] in (Status.PENDING.value, Status.FAILED.value):
            rewritten = transform(event_id, json.loads(row[1]))
            if rewritten is not None:
                tx.execute(
                    "UPDATE entries SET data = ? WHERE id = ?", (compact_json(rewritten), row[0])
                )
    return changed


def follow_commit_rewrites(
    tx: sqlite3.Connection,
    rewrites: Mapping[str, str],
    transform: Callable[[dict[str, Any]], dict[str, Any] | None],
    keep: frozenset[str] = frozenset(),
) -> int:
    """See EventQueue.follow_commit_rewrites."""
    changed = 0
    # The event now lives in the new commit: the old one is unreachable after the amend,
    # and its events must not read as orphaned. Not those in keep: their move is not in the
    # new commit, and another ref still holds the old one.
    for old, new in rewrites.items():
        if not keep:
            tx.execute("UPDATE entries SET commit_sha = ? WHERE commit_sha = ?", (new, old))
            continue
        moved = [
            (new, row_id)
            for row_id, event_id in tx.execute(
                "SELECT id, event_id FROM entries WHERE commit_sha = ?", (old,)
            )
            if event_id not in keep
        ]
        tx.executemany("UPDATE entries SET commit_sha = ? WHERE id = ?", moved)
    rows = tx.execute(
        "SELECT id, data, event_id FROM entries WHERE status IN (?, ?)",
        (Status.PENDING.value, Status.FAILED.value),
    ).fetchall()
    for row_id, data, event_id in rows:
        if event_id in keep:
            continue
        rewritten = transform(json.loads(data))
        if rewritten is not None:
            tx.execute(
                "UPDATE entries SET data = ? WHERE id = ?", (compact_json(rewritten), row_id)
            )
            changed += 1
    return changed
