"""The two threads around the one request in flight: ReadAhead reads and gzips the next
batches, Settler writes what the last answers meant into the queue (see sender.Sender.run).

Each has its own SQLite connection (a connection belongs to the thread that opened it); SQLite
steps and zlib let go of the GIL, so their work overlaps the sender's wait for the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from kitty_hooks.deliver import batches
from kitty_hooks.deliver.settings import FlushSettings
from kitty_hooks.queue.entries import OutgoingPage
from kitty_hooks.queue.store import EventQueue

PAGE_SIZE = 1000
READ_AHEAD = 2
"""Batches read and gzipped ahead of the one being sent."""
SETTLE_AHEAD = 2
"""Answers that may wait to be written into the queue while the next batch is sent."""


def still_queued(
    queue: EventQueue,
    page: OutgoingPage,
    encoded: batches.EncodedBatch,
    *,
    max_bytes: int,
) -> batches.EncodedBatch | None:
    """The batch to send now, right before it goes: its entries gone from the queue since
    ReadAhead read them (an amend discarded a move the rewrite took back, `queue drop`) are
    left out, the body made again without them; None when none is left.

    A read by primary key, not a write: stamping each row as attempted here rewrote every
    envelope once more per flush (the flush benchmark took ~1.5x the time)."""
    entry_of = dict(zip(page.event_ids, page.ids, strict=True))
    entry_ids = [entry_of[event_id] for event_id in encoded.event_ids]
    gone = queue.missing(entry_ids)
    if not gone:
        return encoded
    data_of = dict(zip(page.ids, page.data, strict=True))
    kept = [
        (event_id, entry_id)
        for event_id, entry_id in zip(encoded.event_ids, entry_ids, strict=True)
        if entry_id not in gone
    ]
    if not kept:
        return None
    # Fewer events than a body that fitted: one body, in all but freak cases (should gzip
    # split it, the rest stays pending for the next flush).
    return next(
        batches.encode_texts(
            [event_id for event_id, _ in kept],
            [data_of[entry_id] for _, entry_id in kept],
            max_events=len(kept),
            max_bytes=max_bytes,
        )
    )


class Settler:
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

    def __enter__(self) -> Settler:
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


class ReadAhead:
    """A thread that reads the queue page after page and gzips each batch, one or two batches
    ahead of the sender: iterate for (page, batch) pairs, oldest first.

    It has its own SQLite connection (a connection belongs to the thread that opened it) and
    only reads: what the server acknowledged is removed by the Settler's connection. Pages
    move on by id (after the last id read), so nothing is read twice in one flush, and an
    entry the sender has yet to settle is never read again. Closing stops it; a page it read
    but nobody sent changes nothing in the queue.
    """

    _END = object()

    def __init__(self, path: Path, settings: FlushSettings, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._settings = settings
        # One batch waiting, one being made: enough to hide the reading, and memory stays flat.
        self._ready: SimpleQueue[Any] = SimpleQueue()
        self._slots = threading.Semaphore(READ_AHEAD)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="kitty-hooks-read-ahead")
        self._thread.daemon = True

    def __enter__(self) -> ReadAhead:
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
                        PAGE_SIZE, retry_limit=self._settings.retry_limit, after_id=after
                    )
                    if not page.ids:
                        break
                    after = page.ids[-1]
                    for encoded in batches.encode_texts(
                        page.event_ids,
                        page.data,
                        max_events=self._settings.batch_events,
                        max_bytes=self._settings.batch_bytes,
                    ):
                        self._slots.acquire()
                        if self._stopping.is_set():
                            return
                        self._ready.put((page, encoded))
        except BaseException as exc:  # the sender raises it, as if it had read the page itself
            self._ready.put(exc)
            return
        self._ready.put(self._END)
