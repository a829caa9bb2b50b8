"""What the queue hands out: its entries and their statuses, verdicts, pages and counts.

NamedTuples, not dataclasses: the post-commit hook opens the queue, and cannot afford
dataclasses' import (inspect, ast: ~8 ms) nor its per-class code generation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from kitty_hooks.model.vocabulary import Vocabulary

# Rejections an entry may have before it becomes a dead letter.
DEFAULT_RETRY_LIMIT = 5


class Status(Vocabulary):
    """Where an entry stands; the value is what the entries table stores and what is printed."""

    PENDING = "pending"  # not sent yet, or sent without an answer
    FAILED = "failed"  # the server rejected it: retried below the retry limit
    DEAD_LETTER = "dead_letter"  # rejected retry-limit times: kept until retried or purged


# Status values in their order (the listing's, and the error message's).
STATUS_VALUES = tuple(status.value for status in Status)


class Verdict(Vocabulary):
    """Why an event left the queue, as known_events remembers it."""

    SUCCESS = "success"  # the server stored it
    DUPLICATE = "duplicate"  # the server had it already
    PURGED = "purged"  # a dead letter removed by `queue purge --dead`
    DROPPED = "dropped"  # removed by `queue drop EVENT_ID`
    SPEC_KITTY = "spec-kitty"  # left to spec-kitty's own sync, which sends the same move

    @property
    def delivered(self) -> bool:
        return self in (Verdict.SUCCESS, Verdict.DUPLICATE)


class QueueEntry(NamedTuple):
    id: int
    event_id: str
    event_type: str
    envelope: dict[str, Any]
    status: str
    """A Status value, as stored (a plain str: renderers print and look it up as such)."""
    retry_count: int
    created_at: str
    last_attempt_at: str | None
    last_error: str | None
    error_category: str | None
    commit_sha: str | None = None
    """The commit capture found the event in (None: queued before schema 2, spooled, or sent by
    another tool); rewritten along with the commit by an amend or rebase."""
    repo: str | None = None
    """The git common dir of that commit's repository."""


class DeliveredEvent(NamedTuple):
    """One line of `kitty-hooks log`: an event the server acknowledged, and when."""

    event_id: str
    event_type: str | None
    verdict: Verdict
    delivered_at: str
    feature_slug: str | None
    wp_id: str | None
    from_lane: str | None
    to_lane: str | None


class OutgoingPage(NamedTuple):
    """The next events to send, as the flusher reads them ahead of the one in flight: parallel
    tuples, the envelopes as the stored JSON's UTF-8 bytes (joined as they are into the body,
    never decoded). Empty when nothing is left to send."""

    ids: tuple[int, ...]
    event_ids: tuple[str, ...]
    event_types: tuple[str, ...]
    data: tuple[bytes, ...]


class QueuedMove(NamedTuple):
    """A lane change still to send, as spec_kitty_sync compares it with spec-kitty's own."""

    event_id: str
    project_uuid: str | None
    feature_slug: str | None
    wp_id: str | None
    from_lane: str | None
    to_lane: str | None
    timestamp: str | None


class EnqueueResult(NamedTuple):
    queued: tuple[str, ...]
    duplicates: tuple[str, ...]


class QueueStats(NamedTuple):
    total_pending: int
    total_failed: int
    total_dead_letter: int
    oldest_created_at: str | None
    retry_distribution: dict[str, int]
    top_event_types: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return self.total_pending + self.total_failed + self.total_dead_letter


# The columns entry_from_row reads, in its order.
ENTRY_COLUMNS = (
    "id, event_id, event_type, data, status, retry_count, created_at, last_attempt_at,"
    " last_error, error_category, commit_sha, repo"
)


def entry_from_row(row: tuple[Any, ...]) -> QueueEntry:
    return QueueEntry(
        id=row[0],
        event_id=row[1],
        event_type=row[2],
        envelope=json.loads(row[3]),
        status=row[4],
        retry_count=row[5],
        created_at=row[6],
        last_attempt_at=row[7],
        last_error=row[8],
        error_category=row[9],
        commit_sha=row[10],
        repo=row[11],
    )


def check_statuses(statuses: Sequence[str] | None) -> list[str] | None:
    if statuses is None:
        return None
    wanted = list(statuses)
    unknown = [status for status in wanted if status not in STATUS_VALUES]
    if unknown:
        raise ValueError(
            f"unknown queue status {unknown[0]!r}: use one of {', '.join(STATUS_VALUES)}"
        )
    return wanted
