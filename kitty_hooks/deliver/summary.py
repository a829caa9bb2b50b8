"""What one flush did: how it ended, what it counted, and the line `kitty-hooks sync` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kitty_hooks.model.vocabulary import Vocabulary


class FlushOutcome(Vocabulary):
    """How a flush ended: the word `sync` and the worker's log line print, and the value
    flush-state.json stores (and `status` and `doctor` read back as a plain str)."""

    DONE = "done"
    NOTHING_TO_SEND = "nothing-to-send"
    RETRY_LATER = "retry-later"
    BACKING_OFF = "backing-off"
    LOGIN_NEEDED = "login-needed"
    NO_CREDENTIALS = "no-credentials"
    BUSY = "busy"
    PROTOCOL_MISMATCH = "protocol-mismatch"
    """412: the server speaks another sync protocol; the next automatic try waits long."""


@dataclass
class FlushSummary:
    outcome: FlushOutcome
    synced: int = 0
    duplicates: int = 0
    failed: int = 0
    dead_lettered: int = 0
    left_pending: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    started_at: str = ""
    finished_at: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    """What the server asked to wait (Retry-After) when it was too long to wait in this flush."""
    warning: str | None = None
    """Worth a line even when all went well: the credentials file is open to other users."""
    unknown_fate: int = 0
    """Sent, but missing from the server's answer: kept pending."""
    still_spooled: int = 0
    """Lane changes left in the spool after the flush (a live process holds them, or the queue
    would not take them): not in the queue, so not sent either."""

    @property
    def ok(self) -> bool:
        return (
            self.outcome in (FlushOutcome.DONE, FlushOutcome.NOTHING_TO_SEND) and self.failed == 0
        )

    @property
    def exit_code(self) -> int:
        """`kitty-hooks sync`: 2 when the credentials cannot be used (an environment error),
        1 when anything failed or stays queued or spooled, else 0."""
        if self.outcome == FlushOutcome.NO_CREDENTIALS:
            return 2
        return 0 if self.ok and self.left_pending == 0 and self.still_spooled == 0 else 1

    def line(self) -> str:
        text = f"Synced: {self.synced}, Duplicates: {self.duplicates}, Failed: {self.failed}"
        if self.categories:
            reasons = ", ".join(
                f"{name}: {count}" for name, count in sorted(self.categories.items())
            )
            text += f" (reason: {reasons})"
        return text
