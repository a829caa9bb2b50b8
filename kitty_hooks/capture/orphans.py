"""Orphaned events: queued from a commit that no ref reaches any more.

`git reset --hard HEAD~1` after a commit throws the commit away, but its lane changes stay
queued and a push would send moves that no longer happened. Capture records each event's commit
and repository (queue schema 2), so the queue can be held against the repository it came from;
events from other repositories, or queued before schema 2 or through the spool, name no commit
here and are never judged orphaned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import history as git_history
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.queue.entries import QueueEntry, Status
from kitty_hooks.queue.store import EventQueue


@dataclass(frozen=True)
class QueueListing:
    """`queue list`: the entries, and which of them are orphaned in the repository at hand."""

    entries: list[QueueEntry]
    orphaned: frozenset[str]
    """Event ids whose commit is gone from this repository."""
    judged: frozenset[str]
    """Event ids whose commit could be looked for here (captured in this repository)."""
    recovered_from: Path | None = None


@dataclass(frozen=True)
class DropResult:
    dropped: list[QueueEntry]
    not_found: list[str]


def orphaned_ids(cwd: Path, entries: Sequence[QueueEntry]) -> tuple[frozenset[str], frozenset[str]]:
    """(orphaned, judged) event ids among entries, for the repository holding cwd."""
    try:
        here = str(git_repo.common_dir(cwd))
    except FatalError:  # not in a repository: nothing can be judged
        return frozenset(), frozenset()
    ours = [e for e in entries if e.commit_sha and e.repo == here]
    if not ours:
        return frozenset(), frozenset()
    gone = git_history.unreachable_commits(cwd, [e.commit_sha or "" for e in ours])
    return (
        frozenset(e.event_id for e in ours if e.commit_sha in gone),
        frozenset(e.event_id for e in ours),
    )


def list_queue(
    cwd: Path,
    *,
    statuses: Sequence[str] | None = None,
    limit: int | None = None,
    queue_path: Path | None = None,
) -> QueueListing:
    with EventQueue(queue_path) as queue:
        entries = queue.list_entries(statuses=statuses, limit=limit)
        recovered = queue.recovered_from
    orphaned, judged = orphaned_ids(cwd, entries)
    return QueueListing(entries, orphaned, judged, recovered)


def drop_orphaned(
    cwd: Path,
    *,
    confirm: Callable[[list[QueueEntry]], bool],
    queue_path: Path | None = None,
) -> DropResult:
    """Drop the pending and failed events whose commit is gone (dead letters are for `queue
    purge --dead`), once confirm says yes to the list. Their ids are forgotten: should the move
    be made again (the commit cherry-picked back from the reflog), it is queued again."""
    git_repo.repo_root(cwd)  # outside a repository: say so, rather than find nothing
    with EventQueue(queue_path) as queue:
        entries = [e for e in queue.list_entries() if e.status != Status.DEAD_LETTER]
        orphaned, _ = orphaned_ids(cwd, entries)
        doomed = [e for e in entries if e.event_id in orphaned]
        if not doomed or not confirm(doomed):
            return DropResult([], [])
        removed = set(queue.drop([e.event_id for e in doomed], remember=False))
    return DropResult([e for e in doomed if e.event_id in removed], [])


def drop_events(event_ids: Sequence[str], *, queue_path: Path | None = None) -> DropResult:
    """Drop the named events (a unique prefix is enough), whatever their status; their ids stay
    known, so a scan does not queue them again."""
    with EventQueue(queue_path) as queue:
        named: dict[str, QueueEntry] = {}
        missing = []
        for event_id in event_ids:
            entry = queue.get(event_id)
            if entry is None:
                missing.append(event_id)
            else:
                named[entry.event_id] = entry
        removed = set(queue.drop(list(named), remember=True))
    return DropResult([e for e in named.values() if e.event_id in removed], missing)
