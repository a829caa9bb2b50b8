"""Sending batches one request at a time (Sender), and what each answer means for the queue
(Verdicts).

- A 401 refreshes the tokens once and resends the same batch.
- 429/503 waits Retry-After (capped) and resends.
- A 400 blames the events it names.
- A 412 (another sync protocol) and anything else end the flush. The batch's events are stamped
  as attempted and otherwise unchanged.
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime, timezone

from kitty_hooks import contract
from kitty_hooks.contract import Category, EventStatus
from kitty_hooks.deliver import batches, credentials, refresh
from kitty_hooks.deliver.client import (
    AuthRejected,
    BatchRefused,
    BatchResult,
    Client,
    ProtocolMismatch,
    RetryLater,
)
from kitty_hooks.deliver.pipeline import ReadAhead, Settler, still_queued
from kitty_hooks.deliver.settings import FlushSettings
from kitty_hooks.deliver.summary import FlushOutcome, FlushSummary
from kitty_hooks.locations import log_line
from kitty_hooks.queue.entries import OutgoingPage, Status, Verdict
from kitty_hooks.queue.store import EventQueue

RETRY_AFTER_CAP = 60.0
"""The longest Retry-After waited within one flush; a longer one ends the flush."""
BUSY_RETRIES = 3


class Sender:
    def __init__(
        self,
        queue: EventQueue,
        creds: credentials.Credentials,
        settings: FlushSettings,
        *,
        total: int,
    ) -> None:
        self.queue = queue
        self.creds = creds
        self.settings = settings
        self.summary = FlushSummary(FlushOutcome.DONE)
        self.verdicts = Verdicts(self.summary, settings, total=total)

    def run(self) -> FlushSummary:
        # Three threads, one batch each: while batch k is on the wire, batch k+1 is read and
        # gzipped (ReadAhead) and the answer to batch k-1 is written into the queue
        # (Settler). SQLite, zlib and the socket all let go of the GIL. Only one request is
        # in flight at a time: the next goes once the last one's answer is in, so a server
        # that fails stops the flush at the same batch as before.
        with (
            Client(self.creds.server_url, timeout=self.settings.timeout) as client,
            ReadAhead(
                self.queue.path, self.settings, busy_timeout_ms=self.queue.busy_timeout_ms
            ) as prepared,
            Settler(self.queue.path, busy_timeout_ms=self.queue.busy_timeout_ms) as settler,
        ):
            for page, encoded in prepared:
                if not self._send(client, encoded, page, settler):
                    break
        return self._finish()

    def _finish(self) -> FlushSummary:
        stats = self.queue.stats()
        self.summary.left_pending = stats.total_pending + stats.total_failed
        self.summary.categories = dict(self.verdicts.categories)
        return self.summary

    def _send(
        self,
        client: Client,
        encoded: batches.EncodedBatch,
        page: OutgoingPage,
        settler: Settler,
    ) -> bool:
        """Send one batch and hand its answer to the settler; False when the flush must stop."""
        confirmed = still_queued(self.queue, page, encoded, max_bytes=self.settings.batch_bytes)
        if confirmed is None:
            return True  # every event of it was discarded after it was read
        encoded = confirmed
        stop = functools.partial(self._stop, settler, encoded=encoded)
        refreshed = False
        busy = 0
        while True:
            try:
                result = client.send(encoded, self.creds.access)
            except AuthRejected as exc:
                if refreshed:
                    return stop(
                        FlushOutcome.LOGIN_NEEDED,
                        f"{exc}, also after a token refresh: {credentials.LOGIN_HINT}",
                    )
                try:
                    self.creds = refresh.refresh_tokens(
                        self.creds, now=datetime.now(timezone.utc), force=True
                    )
                except refresh.ERRORS as failed:
                    return stop(*refresh.outcome_of(failed))
                if self.creds.server_url != client.server_url:
                    return stop(
                        FlushOutcome.LOGIN_NEEDED,
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
                    self.settings.sleep(exc.retry_after)
                    continue
                return stop(FlushOutcome.RETRY_LATER, str(exc), retry_after=exc.retry_after)
            except ProtocolMismatch as exc:
                # Every batch would meet the same answer: stop, and say so until it changes.
                return stop(FlushOutcome.PROTOCOL_MISMATCH, str(exc))
            except BatchRefused as exc:
                settler.submit(
                    functools.partial(
                        self.verdicts.apply_refusal, exc=exc, encoded=encoded, page=page
                    )
                )
                return True
            settler.submit(functools.partial(self.verdicts.apply_results, result=result, page=page))
            return True

    def _stop(
        self,
        settler: Settler,
        outcome: FlushOutcome,
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


class Verdicts:
    """What an answer means for the queue and the flush's counts: delivered events leave the
    queue (their ids stay known), rejected ones are marked (dead letters at the retry limit),
    events the answer leaves unsettled are stamped as attempted.

    Its methods run in the settler's thread, on the settler's queue connection.
    """

    def __init__(self, summary: FlushSummary, settings: FlushSettings, *, total: int) -> None:
        self.summary = summary
        self.retry_limit = settings.retry_limit
        self.progress = settings.progress
        self.total = total
        self.categories: Counter[str] = Counter()

    def apply_results(self, queue: EventQueue, result: BatchResult, page: OutgoingPage) -> None:
        entry_id = dict(zip(page.event_ids, page.ids, strict=True))
        acknowledged = (
            (
                entry_id[r.event_id],
                Verdict.DUPLICATE if r.status == EventStatus.DUPLICATE else Verdict.SUCCESS,
            )
            for r in result.results
            if r.status in (EventStatus.SUCCESS, EventStatus.DUPLICATE)
        )
        # The flush brings known_events up to date once, after its last page.
        queue.remove_delivered(acknowledged, update_known=False)
        self.summary.synced += sum(1 for r in result.results if r.status == EventStatus.SUCCESS)
        self.summary.duplicates += sum(
            1 for r in result.results if r.status == EventStatus.DUPLICATE
        )
        for rejected in (r for r in result.results if r.status == EventStatus.REJECTED):
            self._reject(
                queue,
                rejected.event_id,
                rejected.error or "rejected",
                rejected.error_category or Category.UNKNOWN,
                page,
            )
        if result.missing:
            self.summary.unknown_fate += len(result.missing)
            queue.mark_attempted(list(result.missing))
            log_line(f"flush: {len(result.missing)} events missing from the answer stay pending")
        self._advance(len(result.results) + len(result.missing))

    def apply_refusal(
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
        if entry is not None and entry.status == Status.DEAD_LETTER:
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

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress(count, self.total)
