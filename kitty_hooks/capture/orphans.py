"""Orphaned events: queued from a commit that no ref reaches any more, for a move no ref holds.

`git reset --hard HEAD~1` after a commit throws the commit away. But its lane changes stay
queued, and a push would send moves that no longer happened. Capture records each event's
commit and repository (queue schema 2), so the queue can be held against the repository it came
from. Some events name no commit here and are never judged orphaned: events from other
repositories, events queued before schema 2, and events of a spool file an older kitty-hooks
wrote.

The commit an event names is only where it was last seen. A rebase that was aborted captured its
picks (the same moves, the same ids) and named them. A cherry-pick or a merge's temporary
worktree made the move in another commit. So an event whose commit is gone is orphaned only when
no ref holds its move either. That is: no commit any ref reaches makes a move with the same
event id (a log line's own id, or the id derived from the same change). An event that a ref
still holds is pointed at that commit instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def orphaned_ids(
    cwd: Path,
    entries: Sequence[QueueEntry],
    *,
    queue_path: Path | None = None,
    repoint: bool = False,
) -> tuple[frozenset[str], frozenset[str]]:
    """(orphaned, judged) event ids among entries, for the repository holding cwd.

    Those whose commit is gone but whose move a ref holds are not orphaned. With ``repoint``,
    the queue (at queue_path) is pointed at the commit that holds them, as far as it can be
    written now; without it (doctor), the queue is only read."""
    orphaned, judged, _ = _judge(cwd, entries, queue_path, repoint=repoint)
    return orphaned, judged


def _judge(
    cwd: Path, entries: Sequence[QueueEntry], queue_path: Path | None, *, repoint: bool = False
) -> tuple[frozenset[str], frozenset[str], dict[str, str]]:
    """orphaned_ids, and the events whose move another commit holds (event id -> commit)."""
    try:
        here = str(git_repo.common_dir(cwd))
    except FatalError:  # not in a repository: nothing can be judged
        return frozenset(), frozenset(), {}
    ours = [e for e in entries if e.commit_sha and e.repo == here]
    if not ours:
        return frozenset(), frozenset(), {}
    gone = git_history.unreachable_commits(cwd, [e.commit_sha or "" for e in ours])
    candidates = [e for e in ours if e.commit_sha in gone]
    held = moves_held(cwd, candidates) if candidates else {}
    if held and repoint:
        _repoint(
            {
                e.event_id: (e.commit_sha or "", held[e.event_id])
                for e in candidates
                if e.event_id in held
            },
            queue_path,
        )
    return (
        frozenset(e.event_id for e in candidates if e.event_id not in held),
        frozenset(e.event_id for e in ours),
        held,
    )


def moves_held(cwd: Path, entries: Sequence[QueueEntry]) -> dict[str, str]:
    """Event id -> a commit some ref reaches that makes that very move, for those of entries
    that any does (capture.commits.moves_on_refs)."""
    from kitty_hooks.capture.commits import moves_on_refs

    return moves_on_refs(
        cwd,
        (e.event_id for e in entries),
        (
            payload.get("feature_slug") if isinstance(payload, dict) else None
            for payload in (e.envelope.get("payload") for e in entries)
        ),
    )


def _repoint(moves: dict[str, tuple[str, str]], queue_path: Path | None) -> None:
    """Point queued events at the commit that holds their move now (old, new per event id):
    commit_sha, and the review ref and evidence that named the old commit. Best effort: a busy
    or unreadable queue changes nothing here, and the next look does it again."""
    from kitty_hooks.model.events import commit_rewrites, replace_commit_refs
    from kitty_hooks.queue.errors import QueueError

    def transform(event_id: str, envelope: dict[str, Any]) -> dict[str, Any] | None:
        old, new = moves[event_id]
        return replace_commit_refs(envelope, commit_rewrites({old: new}))

    try:
        with EventQueue(queue_path) as queue:
            queue.repoint({event_id: new for event_id, (_, new) in moves.items()}, transform)
    except QueueError:
        pass


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
    orphaned, judged, repointed = _judge(cwd, entries, queue_path, repoint=True)
    if repointed:
        entries = [e._replace(commit_sha=repointed.get(e.event_id, e.commit_sha)) for e in entries]
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
        orphaned, _ = orphaned_ids(cwd, entries, queue_path=queue_path, repoint=True)
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
