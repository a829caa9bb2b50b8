"""Draining the queue to the server: one flusher at a time, FIFO, in gzip batches.

- success and duplicate → removed (the ids stay known).
- rejected → failed with retry_count+1 and the error kept; dead_letter at the limit.
- an event the answer does not mention → stays pending.
- 401 → refresh once and resend the same batch.
- 429/503 → wait Retry-After (capped) and resend.
- other 5xx, timeouts, connection errors and garbage → nothing changes but last_attempt_at.
  A backoff (exponential with jitter, capped) is set, and the next automatic flush respects it.
- 412 (the server speaks another sync protocol) → the same, with a long backoff and an error
  that lasts.

One request is in flight at a time. Around it, a reader thread reads and gzips the next batches,
and a settler thread writes what the last answer meant into the queue (see sender.Sender.run).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kitty_hooks import contract
from kitty_hooks.deliver import credentials, refresh
from kitty_hooks.deliver.backoff import (
    BACKOFF_CAP,
    PROTOCOL_MISMATCH_BACKOFF,
    RETRY_AFTER_MAX,
    FlushRecord,
    FlushState,
    read_state,
    write_state,
)
from kitty_hooks.deliver.client import DEFAULT_TIMEOUT
from kitty_hooks.deliver.sender import Sender
from kitty_hooks.deliver.settings import FlushSettings
from kitty_hooks.deliver.summary import FlushOutcome, FlushSummary
from kitty_hooks.locations import log_exception, log_line, state_dir
from kitty_hooks.queue import spool
from kitty_hooks.queue.entries import DEFAULT_RETRY_LIMIT
from kitty_hooks.queue.store import EventQueue

LOCK_FILE = "flush.lock"
BACKOFF_BASE = 5.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def flush(
    *,
    queue_path: Path | None = None,
    respect_backoff: bool = False,
    lock_timeout: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
    batch_events: int = contract.MAX_BATCH_EVENTS,
    batch_bytes: int = contract.MAX_BATCH_BYTES,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> FlushSummary:
    """Send everything sendable; one flusher at a time (others wait up to lock_timeout).

    The other keywords are the flush's settings (settings.FlushSettings), with their defaults.
    """
    from filelock import FileLock, Timeout

    from kitty_hooks.capture import journal

    journal.drain()  # commits the post-commit shim recorded, captured before anything is sent
    started = _now()
    lock_path = state_dir() / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=lock_timeout):
            summary = _flush_locked(
                FlushSettings(
                    queue_path=queue_path,
                    respect_backoff=respect_backoff,
                    progress=progress,
                    batch_events=batch_events,
                    batch_bytes=batch_bytes,
                    retry_limit=retry_limit,
                    timeout=timeout,
                    sleep=sleep,
                )
            )
    except Timeout:
        return FlushSummary(
            FlushOutcome.BUSY,
            message=f"another flush is running (lock {lock_path}); try again when it ends",
        )
    if spool.has_spooled():  # one directory read; a look inside only when something is there
        summary.still_spooled = spool.spooled_count()[0]
    exposed = credentials.exposure_warning()
    summary.warning = "; ".join(w for w in (summary.warning, exposed) if w) or None
    summary.started_at = started.isoformat(timespec="seconds")
    summary.finished_at = _now().isoformat(timespec="seconds")
    return summary


def _flush_locked(settings: FlushSettings) -> FlushSummary:
    state = read_state()
    if state.distrusted is not None:
        log_line(
            f"flush: ignored a backoff until {state.distrusted.isoformat(timespec='seconds')}: "
            "further ahead than it was set for (the clock went back?)"
        )
    if settings.respect_backoff and state.next_attempt_after and state.next_attempt_after > _now():
        when = state.next_attempt_after.isoformat(timespec="seconds")
        return FlushSummary(
            FlushOutcome.BACKING_OFF,
            message=f"the last attempt failed; the next automatic try is after {when} "
            "(`kitty-hooks sync` tries now)",
        )
    with EventQueue(settings.queue_path) as queue:
        if queue.recovered_from is not None:
            log_line(f"flush: the queue was unreadable and was moved to {queue.recovered_from}")
        spool.drain(queue)  # what a hook could not queue earlier goes first
        _leave_to_spec_kitty(queue, settings.retry_limit)
        stats = queue.stats()
        total = stats.total_pending + stats.total_failed
        if total == 0:
            queue.clear_work_marker(spooled=spool.has_spooled)
            summary = FlushSummary(FlushOutcome.NOTHING_TO_SEND)
            _record(state, summary, success=True)
            return _noting_recovery(summary, queue)
        try:
            creds = refresh.fresh(now=_now())
        except refresh.ERRORS as exc:
            outcome, message = refresh.outcome_of(exc)
            summary = FlushSummary(outcome, left_pending=total, message=message)
            _record(state, summary, success=False, backoff=outcome == FlushOutcome.RETRY_LATER)
            return _noting_recovery(summary, queue)
        sender = Sender(queue, creds, settings, total=total)
        try:
            summary = sender.run()
        except BaseException:
            # What was delivered before the failure is known all the same (without this, only
            # through seen_ids' slower look at the departures, until the next flush).
            with contextlib.suppress(Exception):
                queue.update_known_events()
            raise
        queue.update_known_events()  # once for all the pages sent
        if summary.left_pending == 0:
            queue.clear_work_marker(spooled=spool.has_spooled)
    _record(state, summary, success=summary.outcome == FlushOutcome.DONE)
    return _noting_recovery(summary, queue)


def _leave_to_spec_kitty(queue: EventQueue, retry_limit: int) -> None:
    """Moves spec-kitty's own sync sends too leave the queue unsent (spec_kitty_sync)."""
    from kitty_hooks.deliver import spec_kitty_sync

    try:
        spec_kitty_sync.hand_over(queue, retry_limit=retry_limit)
    except Exception:  # a bug here must not stop the flush: the moves are then sent by us
        log_exception("flush: comparing the queue with spec-kitty's own sync failed")


def _noting_recovery(summary: FlushSummary, queue: EventQueue) -> FlushSummary:
    """summary, warning that the queue file was unreadable and moved aside when it was (the
    events in it are in the moved file, not sent)."""
    if queue.recovered_from is not None:
        summary.warning = (
            f"the queue file was unreadable and was moved to {queue.recovered_from}; "
            "a new one was started"
        )
    return summary


def _record(
    state: FlushState, summary: FlushSummary, *, success: bool, backoff: bool = True
) -> None:
    last = FlushRecord(
        at=_now().isoformat(timespec="seconds"),
        outcome=str(summary.outcome),  # the value, as read_state gives it back
        synced=summary.synced,
        duplicates=summary.duplicates,
        failed=summary.failed,
        left_pending=summary.left_pending,
        message=summary.message,
    )
    if success or not backoff:
        new = FlushState(last=last, consecutive_failures=0, next_attempt_after=None)
    else:
        failures = state.consecutive_failures + 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1))
        delay = random.uniform(delay / 2, delay)  # jitter: many clients do not retry in step
        delay = max(delay, min(summary.retry_after or 0.0, RETRY_AFTER_MAX))
        if summary.outcome == FlushOutcome.PROTOCOL_MISMATCH:
            delay = PROTOCOL_MISMATCH_BACKOFF  # no jitter: nothing changes by itself
        new = FlushState(
            last=last,
            consecutive_failures=failures,
            next_attempt_after=_now() + timedelta(seconds=delay),
            backoff_seconds=delay,
        )
    try:
        write_state(new)
    except OSError as exc:
        log_line(f"flush: cannot write the flush state: {exc}")
