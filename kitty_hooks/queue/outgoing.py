"""The flusher's side of the queue: the next page to send, and what the server's answer does to
each entry (delivered: removed and recorded as a departure; rejected: a retry counted;
attempted: stamped)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from kitty_hooks.queue.chunks import CHUNK, id_chunks, update_in_chunks
from kitty_hooks.queue.entries import OutgoingPage, Status, Verdict
from kitty_hooks.queue.known_events import depart, update_known
from kitty_hooks.queue.schema import DELETING, utc_now


def outgoing_page(
    db: sqlite3.Connection, limit: int, *, retry_limit: int, after_id: int
) -> OutgoingPage:
    """The next events to send, oldest first: pending ones and failed ones below the limit,
    as parallel tuples, each envelope as the UTF-8 bytes of the JSON stored (exactly what is
    sent: a flush of many events decodes and re-encodes none). after_id pages on: only
    entries with a larger id (the last of the previous page), so a flush that keeps failed
    entries in the queue still moves forward."""
    rows = db.execute(
        # CAST: the UTF-8 bytes SQLite holds, without a str made and encoded again.
        "SELECT id, event_id, event_type, CAST(data AS BLOB) FROM entries WHERE id > ?"
        " AND (status = ? OR (status = ? AND retry_count < ?))"
        " ORDER BY id LIMIT ?",
        [after_id, Status.PENDING.value, Status.FAILED.value, retry_limit, limit],
    ).fetchall()
    if not rows:
        return OutgoingPage((), (), (), ())
    ids, event_ids, event_types, data = zip(*rows, strict=True)
    return OutgoingPage(ids, event_ids, event_types, data)


def entry_ids(db: sqlite3.Connection, event_ids: Sequence[str]) -> list[tuple[int, str]]:
    """(id, event_id) of the entries with these event ids."""
    found: list[tuple[int, str]] = []
    for chunk, marks in id_chunks(event_ids):
        found += db.execute(
            f"SELECT id, event_id FROM entries WHERE event_id IN ({marks})", chunk
        ).fetchall()
    return found


def verdict_runs(acknowledged: Iterable[tuple[int, Verdict]]) -> list[tuple[int, int, Verdict]]:
    """(id, verdict) pairs as (first, last, verdict) runs of consecutive ids, by id.

    Each run goes by range (`id BETWEEN first AND last`): a run holds only ids given here, and
    ids are never handed out twice, so a range can touch no other entry, neither one queued
    while the batch was in flight (its id is above every id read) nor a dead letter or a
    rejected event between two delivered ones (its id breaks the run).
    """
    runs: list[tuple[int, int, Verdict]] = []
    for value, verdict in sorted(dict(acknowledged).items()):
        if runs and runs[-1][1] == value - 1 and runs[-1][2] is verdict:
            runs[-1] = (runs[-1][0], value, verdict)
        else:
            runs.append((value, value, verdict))
    return runs


def free_pages_fast(db: sqlite3.Connection) -> None:
    """Before remove_runs, outside its transaction."""
    # Debian's SQLite is built with SECURE_DELETE, which zeroes every freed page and writes it
    # to the WAL: 290 pages for 1,000 delivered events instead of 160. FAST still zeroes what is
    # deleted inside a page; the queue holds what the server was just sent, nothing to hide
    # from the disk.
    db.execute("PRAGMA secure_delete=FAST")


def remove_runs(
    tx: sqlite3.Connection, runs: Sequence[tuple[int, int, Verdict]], *, update: bool = True
) -> int:
    """Remove the entries of each run by range, recording each as a departure with its run's
    verdict.

    update=False leaves known_events.update_known to the caller: the flusher calls it once at
    its end, not after every page (see known_events)."""
    removed = 0
    now = utc_now()
    tx.execute(DELETING)
    for first, last, verdict in runs:
        depart(tx, "id BETWEEN ? AND ?", (first, last), left_at=now, verdict=verdict)
        removed += tx.execute(
            "DELETE FROM entries WHERE id BETWEEN ? AND ?", (first, last)
        ).rowcount
    if update:
        update_known(tx)
    return removed


def missing(db: sqlite3.Connection, entry_ids: Sequence[int]) -> set[int]:
    """Those of entry_ids no longer in the queue: one count by primary key per 500 ids, and
    a look at which only when some are gone."""
    present = 0
    for start in range(0, len(entry_ids), CHUNK):
        chunk = entry_ids[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        present += db.execute(
            f"SELECT count(*) FROM entries WHERE id IN ({marks})", chunk
        ).fetchone()[0]
    if present == len(entry_ids):
        return set()
    found: set[int] = set()
    for start in range(0, len(entry_ids), CHUNK):
        chunk = entry_ids[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        found.update(
            row[0] for row in db.execute(f"SELECT id FROM entries WHERE id IN ({marks})", chunk)
        )
    return set(entry_ids) - found


def mark_attempted(tx: sqlite3.Connection, event_ids: Sequence[str]) -> int:
    return update_in_chunks(
        tx, "UPDATE entries SET last_attempt_at = ? WHERE event_id IN ({})", (utc_now(),), event_ids
    )


def mark_rejected(
    tx: sqlite3.Connection, event_id: str, error: str, category: str, *, retry_limit: int
) -> None:
    tx.execute(
        "UPDATE entries SET retry_count = retry_count + 1,"
        " status = CASE WHEN retry_count + 1 >= ? THEN ? ELSE ? END,"
        " last_error = ?, error_category = ?, last_attempt_at = ? WHERE event_id = ?",
        (
            retry_limit,
            Status.DEAD_LETTER.value,
            Status.FAILED.value,
            error,
            category,
            utc_now(),
            event_id,
        ),
    )
