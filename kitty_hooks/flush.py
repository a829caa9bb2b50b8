"""Draining the queue to the server: one flusher at a time, FIFO, in gzip batches.

success and duplicate → removed (the ids stay known); rejected → failed with retry_count+1 and
the error kept, dead_letter at the limit; an event the answer does not mention stays pending;
401 → refresh once and resend the same batch; 429/503 → wait Retry-After (capped) and resend;
other 5xx, timeouts, connection errors and garbage → nothing changes but last_attempt_at, and a
backoff (exponential with jitter, capped) that the next automatic flush respects.

One request is in flight at a time; around it, a reader thread reads and gzips the next batches
and a settler thread writes what the last answer meant into the queue (see _Sender.run).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from kitty_hooks import contract
from kitty_hooks.deliver import batches, credentials, refresh
from kitty_hooks.deliver.backoff import FlushRecord, FlushState, read_state, write_state
from kitty_hooks.deliver.client import (
    DEFAULT_TIMEOUT,
    AuthRejected,
    BatchRefused,
    BatchResult,
    Client,
    RetryLater,
)
from kitty_hooks.locations import log_line, state_dir
from kitty_hooks.queue import spool
from kitty_hooks.queue.entries import DEFAULT_RETRY_LIMIT, OutgoingPage, Verdict
from kitty_hooks.queue.store import EventQueue

LOCK_FILE = "flush.lock"
PAGE_SIZE = 1000
READ_AHEAD = 2
"""Batches read and gzipped ahead of the one being sent."""
SETTLE_AHEAD = 2
"""Answers that may wait to be written into the queue while the next batch is sent."""
BACKOFF_BASE = 5.0
BACKOFF_CAP = 15 * 60.0
RETRY_AFTER_CAP = 60.0
"""The longest Retry-After waited within one flush; a longer one ends the flush."""
RETRY_AFTER_MAX = 24 * 3600.0
"""The longest Retry-After the next automatic flush honours (the server knows its own load)."""
BUSY_RETRIES = 3


@dataclass
class FlushSummary:
    outcome: str
    """done | nothing-to-send | retry-later | backing-off | login-needed | no-credentials | busy"""
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

    @property
    def ok(self) -> bool:
        return self.outcome in ("done", "nothing-to-send") and self.failed == 0

    @property
    def exit_code(self) -> int:
        """`kitty-hooks sync`: 2 when the credentials cannot be used (an environment error),
        1 when anything failed or stays queued, else 0."""
        if self.outcome == "no-credentials":
            return 2
        return 0 if self.ok and self.left_pending == 0 else 1

    def line(self) -> str:
        text = f"Synced: {self.synced}, Duplicates: {self.duplicates}, Failed: {self.failed}"
        if self.categories:
            reasons = ", ".join(
                f"{name}: {count}" for name, count in sorted(self.categories.items())
            )
            text += f" (reason: {reasons})"
        return text


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
    """Send everything sendable; one flusher at a time (others wait up to lock_timeout)."""
    from filelock import FileLock, Timeout

    from kitty_hooks.capture import journal

    journal.drain()  # commits the post-commit shim recorded, captured before anything is sent
    started = _now()
    lock_path = state_dir() / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=lock_timeout):
            summary = _flush_locked(
                queue_path=queue_path,
                respect_backoff=respect_backoff,
                progress=progress,
                batch_events=batch_events,
                batch_bytes=batch_bytes,
                retry_limit=retry_limit,
                timeout=timeout,
                sleep=sleep,
            )
    except Timeout:
        return FlushSummary(
            "busy", message=f"another flush is running (lock {lock_path}); try again when it ends"
        )
    summary.warning = credentials.exposure_warning()
    summary.started_at = started.isoformat(timespec="seconds")
    summary.finished_at = _now().isoformat(timespec="seconds")
    return summary


def _flush_locked(
    *,
    queue_path: Path | None,
    respect_backoff: bool,
    progress: Callable[[int, int], None] | None,
    batch_events: int,
    batch_bytes: int,
    retry_limit: int,
    timeout: tuple[float, float],
    sleep: Callable[[float], None],
) -> FlushSummary:
    state = read_state()
    if respect_backoff and state.next_attempt_after and state.next_attempt_after > _now():
        when = state.next_attempt_after.isoformat(timespec="seconds")
        return FlushSummary(
            "backing-off",
            message=f"the last attempt failed; the next automatic try is after {when} "
            "(`kitty-hooks sync` tries now)",
        )
    with EventQueue(queue_path) as queue:
        if queue.recovered_from is not None:
            log_line(f"flush: the queue was unreadable and was moved to {queue.recovered_from}")
        spool.drain(queue)  # what a hook could not queue earlier goes first
        stats = queue.stats()
        total = stats.total_pending + stats.total_failed
        if total == 0:
            queue.clear_work_marker(spooled=spool.has_spooled)
            summary = FlushSummary("nothing-to-send")
            _record(state, summary, success=True)
            return summary
        try:
            creds = credentials.load_credentials()
            if refresh.needs_refresh(creds, now=_now()):
                creds = refresh.refresh_tokens(creds, refresh_call(creds.server_url), now=_now())
        except refresh.SessionExpired as exc:
            summary = FlushSummary("login-needed", left_pending=total, message=str(exc))
            _record(state, summary, success=False, backoff=False)
            return summary
        except credentials.CredentialsError as exc:
            summary = FlushSummary("no-credentials", left_pending=total, message=str(exc))
            _record(state, summary, success=False, backoff=False)
            return summary
        except refresh.RefreshFailed as exc:
            summary = FlushSummary(
                "retry-later", left_pending=total, message=f"token refresh failed: {exc}"
            )
            _record(state, summary, success=False)
            return summary
        sender = _Sender(
            queue, creds, batch_events, batch_bytes, retry_limit, timeout, sleep, progress, total
        )
        summary = sender.run()
        if summary.left_pending == 0:
            queue.clear_work_marker(spooled=spool.has_spooled)
    _record(state, summary, success=summary.outcome == "done")
    return summary


def refresh_call(server_url: str) -> Callable[[str, str], refresh.RefreshResponse]:
    def call(url: str, refresh_token: str) -> refresh.RefreshResponse:
        with Client(url or server_url) as client:
            try:
                answer = client.refresh(refresh_token)
            except AuthRejected as exc:
                raise refresh.SessionExpired(
                    "session expired: run `spec-kitty auth login` (queued events are kept)"
                ) from exc
            except RetryLater as exc:
                raise refresh.RefreshFailed(str(exc)) from exc
        return refresh.parse_refresh_response(answer, refresh_token)

    return call


class _Sender:
    def __init__(
        self,
        queue: EventQueue,
        creds: credentials.Credentials,
        batch_events: int,
        batch_bytes: int,
        retry_limit: int,
        timeout: tuple[float, float],
        sleep: Callable[[float], None],
        progress: Callable[[int, int], None] | None,
        total: int,
    ) -> None:
        self.queue = queue
        self.creds = creds
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self.retry_limit = retry_limit
        self.timeout = timeout
        self.sleep = sleep
        self.progress = progress
        self.total = total
        self.summary = FlushSummary("done")
        self.categories: Counter[str] = Counter()

    def run(self) -> FlushSummary:
        # Three threads, one batch each: while batch k is on the wire, batch k+1 is read and
        # gzipped (_ReadAhead) and the answer to batch k-1 is written into the queue
        # (_Settler). SQLite, zlib and the socket all let go of the GIL. Only one request is
        # in flight at a time: the next goes once the last one's answer is in, so a server
        # that fails stops the flush at the same batch as before.
        with (
            Client(self.creds.server_url, timeout=self.timeout) as client,
            _ReadAhead(
                self.queue.path,
                busy_timeout_ms=self.queue.busy_timeout_ms,
                retry_limit=self.retry_limit,
                batch_events=self.batch_events,
                batch_bytes=self.batch_bytes,
            ) as prepared,
            _Settler(self.queue.path, busy_timeout_ms=self.queue.busy_timeout_ms) as settler,
        ):
            for page, encoded in prepared:
                if not self._send(client, encoded, page, settler):
                    break
        return self._finish()

    def _finish(self) -> FlushSummary:
        stats = self.queue.stats()
        self.summary.left_pending = stats.total_pending + stats.total_failed
        self.summary.categories = dict(self.categories)
        return self.summary

    def _send(
        self,
        client: Client,
        encoded: batches.EncodedBatch,
        page: OutgoingPage,
        settler: _Settler,
    ) -> bool:
        """Send one batch and hand its answer to the settler; False when the flush must stop."""
        stop = functools.partial(self._stop, settler, encoded=encoded)
        refreshed = False
        busy = 0
        while True:
            try:
                result = client.send(encoded, self.creds.access)
            except AuthRejected as exc:
                if refreshed:
                    return stop(
                        "login-needed",
                        f"{exc}, also after a token refresh: run `spec-kitty auth login`",
                    )
                try:
                    self.creds = refresh.refresh_tokens(
                        self.creds, refresh_call(self.creds.server_url), now=_now(), force=True
                    )
                except refresh.SessionExpired as expired:
                    return stop("login-needed", str(expired))
                except refresh.RefreshFailed as failed:
                    return stop("retry-later", f"token refresh failed: {failed}")
                if self.creds.server_url != client.server_url:
                    return stop(
                        "login-needed",
                        f"the credentials now name another server ({self.creds.server_url}): "
                        "run `kitty-hooks sync` again to send to it",
                    )
                refreshed = True
                continue
            except RetryLater as exc:
                if (
                    exc.retry_after is not None
                    and exc.retry_after <= RETRY_AFTER_CAP
                    and busy < BUSY_RETRIES
                ):
                    busy += 1
                    self.sleep(exc.retry_after)
                    continue
                return stop("retry-later", str(exc), retry_after=exc.retry_after)
            except BatchRefused as exc:
                settler.submit(
                    functools.partial(self._refused, exc=exc, encoded=encoded, page=page)
                )
                return True
            settler.submit(functools.partial(self._apply, result=result, page=page))
            return True

    # What an answer means for the queue: these run in the settler's thread, on its queue.

    def _apply(self, queue: EventQueue, result: BatchResult, page: OutgoingPage) -> None:
        entry_id = dict(zip(page.event_ids, page.ids, strict=True))
        queue.remove_delivered(
            (
                entry_id[r.event_id],
                Verdict.DUPLICATE if r.status == "duplicate" else Verdict.SUCCESS,
            )
            for r in result.results
            if r.status in ("success", "duplicate")
        )
        self.summary.synced += sum(1 for r in result.results if r.status == "success")
        self.summary.duplicates += sum(1 for r in result.results if r.status == "duplicate")
        for rejected in (r for r in result.results if r.status == "rejected"):
            self._reject(
                queue,
                rejected.event_id,
                rejected.error or "rejected",
                rejected.error_category or "unknown",
                page,
            )
        if result.missing:
            self.summary.unknown_fate += len(result.missing)
            queue.mark_attempted(list(result.missing))
            log_line(f"flush: {len(result.missing)} events missing from the answer stay pending")
        self._advance(len(result.results) + len(result.missing))

    def _refused(
        self,
        queue: EventQueue,
        exc: BatchRefused,
        encoded: batches.EncodedBatch,
        page: OutgoingPage,
    ) -> None:
        # A 400 that names events blames those only; one that names none blames the batch.
        blamed = exc.rejected or dict.fromkeys(encoded.event_ids, str(exc))
        for event_id, error in blamed.items():
            self._reject(
                queue,
                event_id,
                f"{exc}" if error == str(exc) else f"{error} ({exc})",
                contract.categorize(error),
                page,
            )
        innocent = [e for e in encoded.event_ids if e not in blamed]
        if innocent:
            queue.mark_attempted(innocent)
        self._advance(len(encoded.event_ids))

    def _reject(
        self, queue: EventQueue, event_id: str, error: str, category: str, page: OutgoingPage
    ) -> None:
        entry = queue.mark_rejected(event_id, error, category, retry_limit=self.retry_limit)
        self.summary.failed += 1
        self.categories[category] += 1
        if entry is not None and entry.status == "dead_letter":
            self.summary.dead_lettered += 1
        self.summary.failures.append(
            {
                "event_id": event_id,
                "event_type": entry.event_type
                if entry
                else dict(zip(page.event_ids, page.event_types, strict=True)).get(event_id),
                "error": error,
                "error_category": category,
                "retry_count": entry.retry_count if entry else None,
                "status": entry.status if entry else None,
            }
        )

    def _stop(
        self,
        settler: _Settler,
        outcome: str,
        message: str,
        *,
        encoded: batches.EncodedBatch,
        retry_after: float | None = None,
    ) -> bool:
        settler.submit(lambda queue: queue.mark_attempted(list(encoded.event_ids)))
        self.summary.outcome = outcome
        self.summary.message = message
        self.summary.retry_after = retry_after
        return False

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress(count, self.total)


class _Settler:
    """A thread that writes what each answer means into the queue (removes what was
    delivered, counts rejections, stamps attempts), in the order the answers came, while the
    sender puts the next batch on the wire.

    It has its own SQLite connection, opened on first use. At most SETTLE_AHEAD answers wait
    for it. After a write fails, the answers still waiting are dropped (their events stay
    queued and go again, the delivered ones as duplicates) and the error is raised in the
    sender at its next submit, or when the settler closes.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._tasks: SimpleQueue[Callable[[EventQueue], None] | None] = SimpleQueue()
        self._slots = threading.Semaphore(SETTLE_AHEAD)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="kitty-hooks-settle")
        self._thread.daemon = True

    def __enter__(self) -> _Settler:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._tasks.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise_error()

    def submit(self, task: Callable[[EventQueue], None]) -> None:
        self._raise_error()
        self._slots.acquire()
        self._tasks.put(task)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        queue: EventQueue | None = None
        try:
            while (task := self._tasks.get()) is not None:
                try:
                    if self._error is None:
                        if queue is None:
                            queue = EventQueue(self._path, busy_timeout_ms=self._busy_timeout_ms)
                        task(queue)
                except BaseException as exc:  # the sender raises it
                    self._error = exc
                finally:
                    self._slots.release()
        finally:
            if queue is not None:
                queue.close()


class _ReadAhead:
    """A thread that reads the queue page after page and gzips each batch, one or two batches
    ahead of the sender: iterate for (page, batch) pairs, oldest first.

    It has its own SQLite connection (a connection belongs to the thread that opened it) and
    only reads: what the server acknowledged is removed by the sender's connection. Pages
    move on by id (after the last id read), so nothing is read twice in one flush, and an
    entry the sender has yet to settle is never read again. Closing stops it; a page it read
    but nobody sent changes nothing in the queue.
    """

    _END = object()

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int,
        retry_limit: int,
        batch_events: int,
        batch_bytes: int,
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._retry_limit = retry_limit
        self._batch_events = batch_events
        self._batch_bytes = batch_bytes
        # One batch waiting, one being made: enough to hide the reading, and memory stays flat.
        self._ready: SimpleQueue[Any] = SimpleQueue()
        self._slots = threading.Semaphore(READ_AHEAD)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="kitty-hooks-read-ahead")
        self._thread.daemon = True

    def __enter__(self) -> _ReadAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._slots.release()  # wakes a reader waiting for room
        self._thread.join()

    def __iter__(self) -> Iterator[tuple[OutgoingPage, batches.EncodedBatch]]:
        while True:
            item = self._ready.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            self._slots.release()
            yield item

    def _work(self) -> None:
        try:
            with EventQueue(self._path, busy_timeout_ms=self._busy_timeout_ms) as reader:
                after = 0
                while not self._stopping.is_set():
                    page = reader.outgoing_page(
                        PAGE_SIZE, retry_limit=self._retry_limit, after_id=after
                    )
                    if not page.ids:
                        break
                    after = page.ids[-1]
                    for encoded in batches.encode_texts(
                        page.event_ids,
                        page.data,
                        max_events=self._batch_events,
                        max_bytes=self._batch_bytes,
                    ):
                        self._slots.acquire()
                        if self._stopping.is_set():
                            return
                        self._ready.put((page, encoded))
        except BaseException as exc:  # the sender raises it, as if it had read the page itself
            self._ready.put(exc)
            return
        self._ready.put(self._END)


def _record(
    state: FlushState, summary: FlushSummary, *, success: bool, backoff: bool = True
) -> None:
    last = FlushRecord(
        at=_now().isoformat(timespec="seconds"),
        outcome=summary.outcome,
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
        new = FlushState(
            last=last,
            consecutive_failures=failures,
            next_attempt_after=_now() + timedelta(seconds=delay),
        )
    try:
        write_state(new)
    except OSError as exc:
        log_line(f"flush: cannot write the flush state: {exc}")
