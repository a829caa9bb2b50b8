"""Turn commits into queued events: the post-commit hook, the post-rewrite hook and `scan`.

Git is read in a fixed number of calls however large the commit or the range (diff-tree or
log for the changes, one cat-file for every blob), and the queue is opened only when there is
something to queue: most commits touch no kitty-specs file and cost one git call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kitty_hooks import gitrepo
from kitty_hooks.layout import PROJECT_CONFIG, SPECS_DIR, may_hold_lane_changes

if TYPE_CHECKING:
    from kitty_hooks.detect import Skipped
    from kitty_hooks.events import Envelope, Identity, LaneChange

_PATHS = (SPECS_DIR,)
# Bounds what one cat-file answer holds in memory during a long scan.
_BLOBS_PER_READ = 2000
_COMMITS_PER_ENQUEUE = 500


@dataclass
class CaptureResult:
    commits: int = 0
    queued: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    no_ops: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    recovered_from: Path | None = None


def capture_commit(
    cwd: Path, rev: str = "HEAD", *, queue_path: Path | None = None
) -> CaptureResult:
    """Queue the lane changes of one commit (what the post-commit hook does)."""
    commit = gitrepo.read_commit(cwd, rev, paths=_PATHS)
    return _capture(cwd, [commit], queue_path=queue_path, execution_mode=None)


def capture_commits(cwd: Path, shas: list[str], *, queue_path: Path | None = None) -> CaptureResult:
    """Queue the lane changes of the given commits (post-rewrite: the rewritten ones)."""
    commits = gitrepo.read_commits(cwd, shas, paths=_PATHS)
    return _capture(cwd, commits, queue_path=queue_path, execution_mode=None)


def scan(
    cwd: Path,
    revision_range: str,
    *,
    queue_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CaptureResult:
    """Backfill: queue the lane changes of every commit in a range, oldest first.

    Idempotent with what is queued or was delivered: event ids are derived from the changes,
    so commits seen before only add duplicates. A past commit's worktree is unknown, so moves
    not taken from a log line are recorded as direct_repo.
    """
    commits = list(gitrepo.iter_commits(cwd, revision_range, paths=_PATHS))
    return _capture(
        cwd, commits, queue_path=queue_path, execution_mode="direct_repo", progress=progress
    )


def rewrite_commit_refs(
    cwd: Path, rewritten: Mapping[str, str], *, queue_path: Path | None = None
) -> tuple[int, CaptureResult]:
    """After amend or rebase: point queued events at the new commits, and capture those.

    Event ids do not depend on the commit id, so a rewritten move keeps its id; only the
    review_ref and evidence that name the old commit change. A move that exists only in the
    new commits (a conflict resolved differently) is queued as usual.
    """
    from kitty_hooks.queue import EventQueue

    with EventQueue(queue_path) as queue:
        changed = queue.replace_commit_refs(rewritten)
    captured = capture_commits(cwd, list(dict.fromkeys(rewritten.values())), queue_path=queue_path)
    return changed, captured


def _capture(
    cwd: Path,
    commits: list[gitrepo.CommitRecord],
    *,
    queue_path: Path | None,
    execution_mode: str | None,
    progress: Callable[[int, int], None] | None = None,
) -> CaptureResult:
    result = CaptureResult(commits=len(commits))
    # Most commits touch no WP file: decide that before importing detection (hook start-up).
    moving = [c for c in commits if _may_move(c)]
    if progress is not None:
        progress(len(commits) - len(moving), len(commits))
    if not moving:
        return result
    from kitty_hooks.detect import CommitContext, Skipped, blobs_needed, detect_lane_changes
    from kitty_hooks.identity import project_identity, repo_name

    layout = gitrepo.repo_layout(cwd)
    origin = gitrepo.remote_url(layout.top)
    (config,) = gitrepo.read_blobs(layout.top, [f"HEAD:{PROJECT_CONFIG}"])
    identity = project_identity(layout, config, origin)
    context = CommitContext(
        execution_mode=execution_mode
        or ("worktree" if layout.is_linked_worktree else "direct_repo"),
        branch=layout.branch,
        repo_name=repo_name(layout, origin),
    )
    for chunk in _chunks(moving, _COMMITS_PER_ENQUEUE):
        blobs = _read_blobs(layout.top, [b for c in chunk for b in blobs_needed(c)])
        envelopes: list[Envelope] = []
        for commit in chunk:
            detected = detect_lane_changes(commit, blobs, context)
            result.skipped += [
                Skipped(f"{commit.sha[:12]} {s.path}", s.reason) for s in detected.skipped
            ]
            built = _envelopes(commit, detected.changes, identity)
            result.no_ops += len(detected.changes) - len(built)
            envelopes += built
        if envelopes:
            _enqueue(envelopes, queue_path, result)
        if progress is not None:
            progress(len(chunk), len(commits))
    return result


def _may_move(commit: gitrepo.CommitRecord) -> bool:
    return not commit.is_merge and any(
        may_hold_lane_changes(PurePosixPath(c.path)) for c in commit.changes
    )


def _read_blobs(top: Path, ids: list[str]) -> dict[str, bytes | None]:
    unique = list(dict.fromkeys(ids))
    blobs: dict[str, bytes | None] = {}
    for part in _chunks(unique, _BLOBS_PER_READ):
        blobs.update(zip(part, gitrepo.read_blobs(top, part), strict=True))
    return blobs


def _envelopes(
    commit: gitrepo.CommitRecord, changes: Iterable[LaneChange], identity: Identity
) -> list[Envelope]:
    from kitty_hooks.events import build_status_envelope, derive_ulid, iso_to_millis

    correlation_id = derive_ulid(iso_to_millis(commit.author_date), "commit", commit.sha)
    built: list[Envelope] = []
    for change in changes:
        envelope = build_status_envelope(
            change,
            identity=identity,
            lamport_clock=0,  # the queue ticks the clock as it stores the event
            correlation_id=correlation_id,
        )
        if envelope is not None:
            built.append(envelope)
    return built


def _enqueue(envelopes: list[Envelope], queue_path: Path | None, result: CaptureResult) -> None:
    from kitty_hooks.queue import EventQueue

    with EventQueue(queue_path) as queue:
        outcome = queue.enqueue(envelopes)
        result.recovered_from = result.recovered_from or queue.recovered_from
    result.queued += outcome.queued
    result.duplicates += outcome.duplicates


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
