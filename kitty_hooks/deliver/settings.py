"""How one flush runs: the settings `flush` takes, as one value for every part below it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FlushSettings:
    """The settings of one flush. `flush.flush` holds their defaults."""

    queue_path: Path | None
    """The queue file; None for the default one."""
    respect_backoff: bool
    """Skip the flush while the last failure's backoff runs (the worker after a push)."""
    progress: Callable[[int, int], None] | None
    """Told (events settled by an answer, events to send) after each batch."""
    batch_events: int
    batch_bytes: int
    """The most events, and gzip bytes, in one request (the contract's limits by default)."""
    retry_limit: int
    """Rejections before an event is a dead letter."""
    timeout: tuple[float, float]
    """Connect and read timeouts of each batch request, in seconds."""
    sleep: Callable[[float], None]
    """How a Retry-After is waited (a test passes a clock of its own)."""
