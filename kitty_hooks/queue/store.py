"""The durable local event queue: one SQLite file per user, with the Lamport clock inside it.

EventQueue is the one door to it. The file itself (opening, WAL, the write transaction, errors,
recovery) is database.QueueDatabase. Each operation's SQL lives in a sibling module by job:

- intake: queueing, on every commit that moves a work package;
- outgoing: the flusher's;
- inspection: reading;
- maintenance: retry, purge, drop, history rewrites;
- known_events: what left (the delivery log and the set of ids).

Only intake loads with this module: the post-commit hook needs no other. The rest load on their
first use (the functions at the end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kitty_hooks.queue import intake
from kitty_hooks.queue.database import QueueDatabase
from kitty_hooks.queue.entries import DEFAULT_RETRY_LIMIT, EnqueueResult, Verdict

if TYPE_CHECKING:
    from kitty_hooks.queue.entries import (
        DeliveredEvent,
        OutgoingPage,
        QueuedMove,
        QueueEntry,
        QueueStats,
    )


class EventQueue(QueueDatabase):
    """The queue file at ``path`` (default: ``database.default_queue_path()``), opened and
    ready; see QueueDatabase for ``recovered_from`` and ``work_marker``."""

    # --- writing -----------------------------------------------------------------------------

    def enqueue(
        self,
        envelopes: Sequence[Mapping[str, Any]],
        *,
        commits: Mapping[str, str] | None = None,
        repo: str | None = None,
        encode: Callable[[Any], str] | None = None,
    ) -> EnqueueResult:
        """Queue complete envelopes, in one transaction; the queue sets node_id (its own),
        lamport_clock and causation_id. Ids seen before (queued now or ever delivered) are duplicates.

        commits maps event ids to the commit they were found in, repo names that commit's
        repository (its git common dir): what `queue drop --orphaned` needs to know. encode
        writes an envelope as the compact JSON stored (a scan passes a faster one)."""
        if not envelopes:
            return EnqueueResult((), ())
        intake.check_envelopes(envelopes)
        dumps = encode or intake.compact_json
        return self._write(
            "queue events",
            lambda tx: intake.enqueue(
                tx, envelopes, commits or {}, repo, dumps, mark_work=self._mark_work
            ),
        )

    def follow_commit_rewrites(
        self,
        rewrites: Mapping[str, str],
        transform: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        keep: frozenset[str] = frozenset(),
    ) -> int:
        """After an amend or rebase, in one transaction: entries found in an old commit of
        rewrites (old sha -> new sha) now name the new one, and transform runs over the
        envelope of every pending and failed entry; what it returns is stored instead (None:
        unchanged). Events in keep are left as they are (their move stays in an old commit
        another ref holds). Returns how many envelopes changed."""
        return self._write(
            "rewrite commit refs in the queue",
            lambda tx: _maintenance().follow_commit_rewrites(tx, rewrites, transform, keep),
        )

    def repoint(
        self,
        commits: Mapping[str, str],
        transform: Callable[[str, dict[str, Any]], dict[str, Any] | None],
    ) -> int:
        """Events (event id -> commit) now found in another commit than the one they name: in
        one transaction, each names it, and transform(event_id, envelope) runs over the
        envelope of those pending or failed (None: unchanged). Returns the entries changed."""
        return self._write(
            "point queued events at their commits",
            lambda tx: _maintenance().repoint(tx, commits, transform),
        )

    # --- reading -----------------------------------------------------------------------------

    def list_entries(
        self, *, statuses: Sequence[str] | None = None, limit: int | None = None
    ) -> list[QueueEntry]:
        """Entries oldest first (in commit order, which is also Lamport order); statuses are
        Status values."""
        clauses, params = _inspection().list_query(statuses, limit)
        return self._read(
            "list the queue", lambda db: _inspection().select_entries(db, clauses, params)
        )

    def get(self, event_id: str) -> QueueEntry | None:
        """The entry with this event id, or with the only id that starts with it."""
        return self._read("read the queue", lambda db: _inspection().get(db, event_id))

    def last_event_id_for(self, causation_key: str) -> str | None:
        return self._read(
            "read the queue", lambda db: _inspection().last_event_id_for(db, causation_key)
        )

    def lanes_sent(self, prefix: str = "") -> dict[str, str]:
        """Causation key ("<project>/<feature>/<wp>") -> the sync lane the latest move queued
        or delivered from this machine put that WP in: the board the dashboard draws from us."""
        return self._read("read the queue", lambda db: _inspection().lanes_sent(db, prefix))

    def lamport_clock(self) -> int:
        """The last Lamport value handed out (0 for a new queue)."""
        return self._read("read the queue", _inspection().lamport_clock)

    def node_id(self) -> str:
        """The node the queue's Lamport clock belongs to: what it writes into every envelope
        it takes in."""
        return self._read("read the queue", _inspection().node_id)

    def stats(self) -> QueueStats:
        return self._read("read the queue", _inspection().stats)

    def moves_to_send(self, *, retry_limit: int = DEFAULT_RETRY_LIMIT) -> list[QueuedMove]:
        """The lane changes a flush would send, oldest first (see inspection.moves_to_send)."""
        return self._read("read the queue", lambda db: _inspection().moves_to_send(db, retry_limit))

    def left_to_spec_kitty(self) -> int:
        """How many moves were left to spec-kitty's own sync (while departures keeps them)."""
        return self._read(
            "read the queue",
            lambda db: _inspection().departed_count(db, Verdict.SPEC_KITTY.value),
        )

    def delivered(self, *, limit: int | None = None) -> list[DeliveredEvent]:
        """What the server acknowledged, newest first (as long as departures keeps it)."""
        return self._read("read the delivery log", lambda db: _known_events().delivered(db, limit))

    # --- for the flusher ---------------------------------------------------------------------

    def outgoing_page(
        self, limit: int, *, retry_limit: int = DEFAULT_RETRY_LIMIT, after_id: int = 0
    ) -> OutgoingPage:
        """The next events to send, oldest first: pending ones and failed ones below the limit
        (see outgoing.outgoing_page). after_id pages on: only entries with a larger id."""
        return self._read(
            "read the queue",
            lambda db: _outgoing().outgoing_page(
                db, limit, retry_limit=retry_limit, after_id=after_id
            ),
        )

    def mark_delivered(self, event_ids: Sequence[str], *, duplicates: Sequence[str] = ()) -> int:
        """remove_delivered() by event id (those in duplicates the server had already); their ids
        stay known, with when and the verdict, for `kitty-hooks log`. Returns rows removed."""
        again = set(duplicates)
        wanted = list(dict.fromkeys(event_ids))
        found = self._read("read the queue", lambda db: _outgoing().entry_ids(db, wanted))
        return self.remove_delivered(
            (entry_id, Verdict.DUPLICATE if event_id in again else Verdict.SUCCESS)
            for entry_id, event_id in found
        )

    def remove_delivered(
        self, acknowledged: Iterable[tuple[int, Verdict]], *, update_known: bool = True
    ) -> int:
        """Remove delivered entries by id, as the flusher calls it: exactly these entries
        (outgoing.verdict_runs says how), recording each as a departure with its verdict
        (success or duplicate) for `kitty-hooks log`. Returns rows removed.
        update_known=False: the caller calls update_known_events() once it is done (the
        flusher, after its last page)."""
        runs = _outgoing().verdict_runs(acknowledged)
        if not runs:
            return 0

        def work() -> int:
            _outgoing().free_pages_fast(self._db)
            return self._in_transaction(
                lambda tx: _outgoing().remove_runs(tx, runs, update=update_known)
            )

        return self._guard("remove delivered events from the queue", work)

    def update_known_events(self) -> None:
        """Forget departures past the retention rule and add the ids of the new ones to
        known_events (see known_events.update_known)."""
        self._guard(
            "update the known events",
            lambda: self._in_transaction(_known_events().update_known),
        )

    def missing(self, entry_ids: Sequence[int]) -> set[int]:
        """Those of these entries (by id) no longer in the queue (see outgoing.missing)."""
        ids = list(entry_ids)
        return self._read("read the queue", lambda db: _outgoing().missing(db, ids))

    def mark_attempted(self, event_ids: Sequence[str]) -> int:
        """Stamp last_attempt_at (a network failure is not the event's fault: nothing else)."""
        ids = list(event_ids)
        if not ids:
            return 0
        return self._write(
            "record a send attempt in the queue", lambda tx: _outgoing().mark_attempted(tx, ids)
        )

    def mark_rejected(
        self,
        event_id: str,
        error: str,
        category: str,
        *,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
    ) -> QueueEntry | None:
        """The server refused the event: count a retry; at retry_limit it becomes dead_letter."""

        def work() -> QueueEntry | None:
            self._in_transaction(
                lambda tx: _outgoing().mark_rejected(
                    tx, event_id, error, category, retry_limit=retry_limit
                )
            )
            return _inspection().entry(self._db, event_id)

        return self._guard("record a rejection in the queue", work)

    # --- by hand, and after a rewrite of history ---------------------------------------------

    def retry(self, event_ids: Sequence[str] | None = None, *, all_dead: bool = False) -> int:
        """Put failed or dead-letter events back to pending with a fresh retry count."""
        if event_ids is None and not all_dead:
            raise ValueError("retry() needs event ids or all_dead=True")

        def work() -> int:
            changed = 0
            if all_dead:
                changed += self._in_transaction(
                    lambda tx: _maintenance().retry_dead(tx, mark_work=self._mark_work)
                )
            ids = list(event_ids or ())
            if ids:
                changed += self._in_transaction(
                    lambda tx: _maintenance().retry_ids(tx, ids, mark_work=self._mark_work)
                )
            return changed

        return self._guard("retry events in the queue", work)

    def purge_dead(self) -> int:
        """Delete dead-letter events (their ids stay known, so a scan will not queue them again)."""
        return self._write("purge dead letters from the queue", _maintenance().purge_dead)

    def drop(self, event_ids: Sequence[str], *, remember: bool = True) -> list[str]:
        """Remove events of any status, sent or not; returns the ids removed. remember: their
        ids stay known, so a scan does not queue them again (see maintenance.drop)."""
        return self._write(
            "drop events from the queue",
            lambda tx: _maintenance().drop(tx, event_ids, remember=remember),
        )

    def leave_to_spec_kitty(self, event_ids: Sequence[str]) -> list[str]:
        """Remove moves that spec-kitty's own sync sends (under ids of its own): never sent by
        us, their ids stay known, and they count in left_to_spec_kitty()."""
        return self._write(
            "leave events to spec-kitty's sync",
            lambda tx: _maintenance().drop(
                tx, event_ids, remember=True, verdict=Verdict.SPEC_KITTY
            ),
        )

    def discard_unsent(self, event_ids: Sequence[str]) -> int:
        """Drop events that were never sent and no longer happened (an amend or rebase rewrote
        the move away). Attempted ones may already be on the server: they stay. The ids are not
        remembered as known, and a WP whose last event was dropped starts a new causation chain."""
        ids = list(event_ids)
        if not ids:
            return 0
        return self._write(
            "drop rewritten events from the queue",
            lambda tx: _maintenance().discard_unsent(tx, ids),
        )


# The post-commit hook needs only intake: the other operations load on their first use.


def _inspection() -> ModuleType:
    from kitty_hooks.queue import inspection

    return inspection


def _outgoing() -> ModuleType:
    from kitty_hooks.queue import outgoing

    return outgoing


def _maintenance() -> ModuleType:
    from kitty_hooks.queue import maintenance

    return maintenance


def _known_events() -> ModuleType:
    from kitty_hooks.queue import known_events

    return known_events
