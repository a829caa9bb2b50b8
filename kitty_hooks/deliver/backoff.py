"""What the last flush did and when the next automatic one may try: flush-state.json.

Its own small module because the pre-push hook reads it (to start no worker while backing
off) and must not import the flusher's HTTP and SQLite machinery to do so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.files import write_atomically
from kitty_hooks.locations import flush_state_path

PROTOCOL_MISMATCH_BACKOFF = 12 * 3600.0
"""After a 412 (the server speaks another sync protocol), the next automatic flush waits this
long: only an upgrade changes the answer, and `kitty-hooks sync` tries at once. Under the 24 h
beyond which a stored backoff is not trusted."""


@dataclass(frozen=True)
class FlushRecord:
    """What one flush did, as `status` shows it."""

    at: str
    outcome: str
    """A FlushOutcome value (deliver.summary), stored and read back as a plain str."""
    synced: int
    duplicates: int
    failed: int
    left_pending: int
    message: str | None


@dataclass(frozen=True)
class FlushState:
    """What the last flush did, and when the next automatic one may try again."""

    last: FlushRecord | None = None
    consecutive_failures: int = 0
    next_attempt_after: datetime | None = None


def state_path() -> Path:
    return flush_state_path()


def read_state() -> FlushState:
    """The saved state; anything unreadable or out of shape reads as a fresh start."""
    try:
        document = json.loads(state_path().read_text(encoding="utf-8"))
        last = document.get("last")
        after = document.get("next_attempt_after")
        next_attempt = datetime.fromisoformat(after) if after else None
        if next_attempt is not None and next_attempt.tzinfo is None:
            next_attempt = next_attempt.replace(tzinfo=timezone.utc)
        return FlushState(
            last=FlushRecord(**last) if last else None,
            consecutive_failures=int(document.get("consecutive_failures", 0)),
            next_attempt_after=next_attempt,
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return FlushState()


def write_state(state: FlushState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "last": asdict(state.last) if state.last else None,
        "consecutive_failures": state.consecutive_failures,
        "next_attempt_after": state.next_attempt_after.isoformat(timespec="seconds")
        if state.next_attempt_after
        else None,
        # The same instant as seconds since the epoch, for the pre-push hook's cheap look.
        "next_attempt_after_epoch": state.next_attempt_after.timestamp()
        if state.next_attempt_after
        else None,
    }
    write_atomically(path, json.dumps(document, indent=2).encode("utf-8"))
