"""A merge moves nothing of its own, but it can leave a work package elsewhere than the board.

Two branches move the same WP. Each branch's moves were sent when they were captured, so the
dashboard shows whichever was captured last. After the merge, spec-kitty's view is the union of
both logs, folded by `(at, event_id)`.

The merge may leave a WP in another sync lane than the last move sent for it from this machine.
(For a WP this machine never sent, the lane is compared with the first parent's.) Then one move
settles it. Its id is derived from the merge commit and the lane, so every clone that captures
the same merge sends the same event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple

from kitty_hooks.capture.commit_context import CommitContext, path_facts
from kitty_hooks.capture.detect import log_spec, touched_features
from kitty_hooks.capture.log_changes import LogMemory, settle_event_id, transitions_in
from kitty_hooks.capture.log_changes import read_line_transition as _read
from kitty_hooks.capture.wp_changes import wp_file_lane
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.model.events import LaneChange
from kitty_hooks.model.lanes import sync_lane
from kitty_hooks.model.layout import may_hold_lane_changes_at
from kitty_hooks.model.reducer import WorkPackageLog, lane_of


def merge_changes(commit: CommitRecord) -> list[FileChange]:
    """The logs and WP files a merge holds that differ from one of its parents."""
    if not commit.is_merge:
        return []
    return [c for c in commit.changes if may_hold_lane_changes_at(c.path) and c.new_blob]


def merge_blobs(commit: CommitRecord) -> list[str]:
    needed: list[str] = []
    changes = merge_changes(commit)
    for change in changes:
        needed += [blob for blob in (change.new_blob, change.old_blob) if blob]
    needed += [log_spec(commit, feature) for feature in touched_features(changes)[1]]
    needed += [spec for path in _merged_logs(changes) for spec in _parent_specs(commit, path)]
    return needed


def _merged_logs(changes: list[FileChange]) -> dict[str, str]:
    """Each log the merge's changes name: its path -> its blob in the merge."""
    return {c.path: c.new_blob for c in changes if path_facts(c.path).is_log and c.new_blob}


def _parent_specs(commit: CommitRecord, path: str) -> list[str]:
    """What git cat-file reads for a file as each parent left it, first parent first. Read
    explicitly: which parent a section of `git log -m` compares with is not kept."""
    return [f"{parent}:{path}" for parent in commit.parents]


def settling_moves(
    commit: CommitRecord,
    blobs: Mapping[str, bytes | None],
    context: CommitContext,
    board: Mapping[tuple[str, str], str],
    memory: LogMemory | None = None,
) -> list[LaneChange]:
    """The moves that put each WP the merge touches where spec-kitty's view of the merge puts
    it. board: (feature, WP) -> the sync lane the last move sent for it gave. memory: a scan's,
    where the merged version of a log is most often one a parent's commit left (its folds
    known)."""
    after: dict[tuple[str, str], str] = {}  # spec-kitty's lane at the merge
    before: dict[tuple[str, str], Callable[[], str | None]] = {}  # at the first parent, if asked
    logs: dict[str, _Log] = {}  # each feature's log at the merge
    changes = merge_changes(commit)
    for path, blob in _merged_logs(changes).items():
        feature = path_facts(path).feature
        merged = logs[feature] = _Log(
            blobs.get(blob) or b"", memory.folds_of(blob) if memory is not None else None
        )
        parents = [blobs.get(spec) or b"" for spec in _parent_specs(commit, path)]
        # Only a WP with lines that the merge and a parent do not share can stand elsewhere
        # after the merge: the other parent's lines folded in by time, or (`-s ours`, a
        # resolution that keeps one side's log) a parent's lines the merge leaves out.
        lines = set(merged.data.split(b"\n"))
        differ = set().union(*(lines.symmetric_difference(log.split(b"\n")) for log in parents))
        for wp_id in {t.wp_id for t in map(_read, differ, [context] * len(differ)) if t}:
            lane = merged.lane(wp_id, context)
            if lane is not None:
                after[(feature, wp_id)] = lane
                before[(feature, wp_id)] = _Log(parents[0], None).lane_asked(wp_id, context)
    for feature in touched_features(changes)[1]:
        logs[feature] = _Log(blobs.get(log_spec(commit, feature)) or b"", None)
    for change in changes:
        facts = path_facts(change.path)
        if not facts.is_wp:
            continue
        found = wp_file_lane(change.path, blobs.get(change.new_blob))
        log = logs.get(facts.feature)
        if found is None or (log is not None and log.lane(found[0], context) is not None):
            continue  # no lane, or the log holds this WP: its file is a view
        after[(facts.feature, found[0])] = found[1]
        old = wp_file_lane(change.path, blobs.get(change.old_blob)) if change.old_blob else None
        if old is not None:
            before[(facts.feature, old[0])] = partial(str, old[1])
    moves: list[LaneChange] = []
    for (feature, wp_id), lane in sorted(after.items()):
        shown = board.get((feature, wp_id))
        if shown is None and (feature, wp_id) in before:
            first_parent = before[(feature, wp_id)]()
            shown = sync_lane(first_parent) if first_parent is not None else None
        if shown == sync_lane(lane):
            continue
        move = LaneChange(
            feature_slug=feature,
            wp_id=wp_id,
            from_lane=shown,
            to_lane=lane,
            actor=commit.author_name or commit.author_email,
            at=commit.author_date,
            # Not a reviewed move of anyone's: forced, and says why (no evidence is made up).
            force=True,
            reason=f"merge {commit.sha[:12]} leaves it here: spec-kitty's view of the merged logs",
            execution_mode=context.execution_mode,
        )
        moves.append(move._replace(event_id=settle_event_id(commit, move)))
    return moves


class _Log(NamedTuple):
    """A feature's log as a commit left it: its bytes, and each WP's fold when a scan knows it."""

    data: bytes
    folds: dict[str, WorkPackageLog] | None

    def lane(self, wp_id: str, context: CommitContext) -> str | None:
        """The lane spec-kitty's view gives the WP (None: the log holds no transition of it)."""
        if self.folds is None:
            return lane_of(transitions_in(self.data, wp_id, context))
        wp_log = self.folds.get(wp_id)
        latest = wp_log.latest if wp_log is not None else None
        return latest.to_lane if latest is not None else None

    def lane_asked(self, wp_id: str, context: CommitContext) -> Callable[[], str | None]:
        """lane(), worked out when called: only a WP the board has not seen asks for it."""
        return partial(self.lane, wp_id, context)
