"""What work-package lane changes a commit holds.

Three sources (DESIGN.md): lines appended to kitty-specs/<feature>/status.events.jsonl
(log_changes), the `lane` field of a WP file's frontmatter, and (1.x) moves between
tasks/<lane>/ folders (wp_changes). Pure functions over a CommitRecord and the blobs it
names: the caller fetches the blobs in one git call, for one commit (post-commit) or thousands
(scan).

A merge commit holds no lane changes of its own: the moves it brings were emitted by the
commits that made them, on their branch, when they were committed (or by `scan`).
"""

from __future__ import annotations

from collections.abc import Mapping

from kitty_hooks.capture.commit_context import CommitContext, Skipped, path_facts
from kitty_hooks.capture.log_changes import LogMemory, log_lane_changes
from kitty_hooks.capture.wp_changes import frontmatter_lane_changes
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.model.events import LaneChange
from kitty_hooks.model.layout import may_hold_lane_changes_at


class DetectedChanges:
    __slots__ = ("changes", "skipped")

    def __init__(self) -> None:
        self.changes: list[LaneChange] = []
        self.skipped: list[Skipped] = []


def relevant_changes(commit: CommitRecord) -> list[FileChange]:
    """The changes of a commit that can hold lane moves (none for a merge)."""
    if commit.is_merge:
        return []
    return [c for c in commit.changes if may_hold_lane_changes_at(c.path)]


def blobs_needed(commit: CommitRecord) -> list[str]:
    """Object ids detect_lane_changes will read for this commit."""
    needed: list[str] = []
    for change in relevant_changes(commit):
        needed += [blob for blob in (change.old_blob, change.new_blob) if blob]
    return needed


def detect_lane_changes(
    commit: CommitRecord,
    blobs: Mapping[str, bytes | None],
    context: CommitContext,
    *,
    memory: LogMemory | None = None,
) -> DetectedChanges:
    """The lane changes of one commit; memory carries what logs held from commit to commit
    when many are read in order (scan)."""
    result = DetectedChanges()
    changes = relevant_changes(commit)
    logged: set[tuple[str, str]] = set()
    for change in changes:
        facts = path_facts(change.path)
        if facts.is_log:
            folder = facts.feature
            found = log_lane_changes(change, blobs, commit, context, result.skipped, memory)
            for lane_change in found:
                # Keyed by folder, as WP files are: a 3.x mission_slug may name it otherwise.
                logged.add((folder, lane_change.wp_id))
                result.changes.append(lane_change)
    wp_changes = [c for c in changes if not _covered_by_log(c, logged)]
    for lane_change in frontmatter_lane_changes(wp_changes, blobs, commit, context, result.skipped):
        # spec-kitty 2.x writes the log line and the frontmatter in one commit: one move,
        # taken from the log line, which has its own event id and the real from-lane.
        if (lane_change.feature_slug, lane_change.wp_id) not in logged:
            result.changes.append(lane_change)
    return result


def _covered_by_log(change: FileChange, logged: set[tuple[str, str]]) -> bool:
    # Not even parsed: most 2.x commits then import no YAML at all.
    facts = path_facts(change.path)
    return facts.is_wp and (facts.feature, facts.named_wp_id) in logged
