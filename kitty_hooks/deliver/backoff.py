"""What the last flush did and when the next automatic one may try: flush-state.json.

Its own small module, because the pre-push hook reads it (to start no worker while backing
off). The hook must not import the flusher's HTTP and SQLite machinery to do so.

A backoff is trusted only as long as it was set for. `backoff_seconds` is stored beside the
instant. An instant further ahead of now than that is ignored: here, in the worker and in the
pre-push shim alike. (A clock stepped back after it was written: a 15-minute backoff then reads
as a month.) No backoff is ever set, or trusted, for longer than RETRY_AFTER_MAX.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.files import write_atomically
from kitty_hooks.locations import flush_state_path

BACKOFF_CAP = 15 * 60.0
"""The longest backoff of our own (exponential with jitter up to it)."""
RETRY_AFTER_MAX = 24 * 3600.0
"""The longest Retry-After the next automatic flush honours (the server knows its own load);
also the longest backoff trusted at all (the worker and the shim hold the same number)."""
SLACK_SECONDS = 2.0
"""How far past its own length a backoff may still read (the instant is stored rounded)."""
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
    backoff_seconds: float | None = None
    """How long the backoff was set for; None in a state an older kitty-hooks wrote (then it is
    trusted for BACKOFF_CAP at most)."""
    distrusted: datetime | None = None
    """A backoff read from the file but further ahead than it was ever set for (the clock went
    back): ignored, next_attempt_after is None; doctor says so."""


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
        length = document.get("backoff_seconds")
        length = float(length) if isinstance(length, (int, float)) and length >= 0 else None
        distrusted = None
        if next_attempt is not None and not trusted(
            next_attempt.timestamp(), length, datetime.now(timezone.utc).timestamp()
        ):
            next_attempt, distrusted = None, next_attempt
        return FlushState(
            last=FlushRecord(**last) if last else None,
            consecutive_failures=int(document.get("consecutive_failures", 0)),
            next_attempt_after=next_attempt,
            backoff_seconds=length,
            distrusted=distrusted,
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return FlushState()


def trusted(after_epoch: float, length: float | None, now_epoch: float) -> bool:
    """Whether a backoff until after_epoch, set for length seconds, may be believed at
    now_epoch: not when it lies further ahead than it was set for, nor past RETRY_AFTER_MAX."""
    longest = min(BACKOFF_CAP if length is None else length, RETRY_AFTER_MAX)
    return after_epoch - now_epoch <= longest + SLACK_SECONDS


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
        # Whole seconds, rounded up, for the shim's integer arithmetic.
        "backoff_seconds": math.ceil(state.backoff_seconds)
        if state.next_attempt_after and state.backoff_seconds is not None
        else None,
    }
    write_atomically(path, json.dumps(document, indent=2).encode("utf-8"))
