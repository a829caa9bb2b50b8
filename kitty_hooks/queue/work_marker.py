"""The queue's work marker (queue.db.pending beside the queue file): there may be something to
send. The sh shims look for it to decide, without starting Python, whether a push has work.

It is set inside every write transaction that gives the queue something to send, before it
commits. Only clear() removes it, inside a write transaction that finds nothing to send. Both
hold the queue's write lock, so a check and a change never interleave. A writer that dies
before its commit leaves the marker and no event: a "yes" too many, which the next flush takes
back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from kitty_hooks.queue.entries import Status
from kitty_hooks.queue.errors import QueueError


def mark(marker: Path) -> None:
    try:
        marker.touch()
    except OSError as exc:
        # Without it a push would not see these events: better not to queue them (the
        # hook spools them instead) than to queue them where no flush looks.
        raise QueueError(
            f"cannot write {marker}: {exc.strerror or exc}; make the folder "
            "writable or set KITTY_HOOKS_HOME to a folder you own"
        ) from exc


def clear(tx: sqlite3.Connection, marker: Path, spooled: Callable[[], bool]) -> bool:
    """Remove the marker when nothing is left to send (inside a write transaction); True when
    it stays. See EventQueue.clear_work_marker."""
    if tx.execute(
        "SELECT 1 FROM entries WHERE status IN (?, ?) LIMIT 1",
        (Status.PENDING.value, Status.FAILED.value),
    ).fetchone():
        return True
    try:
        marker.unlink(missing_ok=True)
    except OSError:
        return True
    if spooled():
        with suppress(OSError):  # the shims look at the spool folder too
            marker.touch()
        return True
    return False
