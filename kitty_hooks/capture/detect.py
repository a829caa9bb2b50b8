"""What work-package lane changes a commit holds: the moves of spec-kitty's own view.

Three sources (DESIGN.md):

- lines appended to kitty-specs/<feature>/status.events.jsonl (log_changes);
- the `lane` field of a WP file's frontmatter (wp_changes);
- (1.x) moves between tasks/<lane>/ folders (wp_changes).

A WP that has transitions in its feature's log is where the log's fold puts it (model.reducer).
Its WP file's lane is then a view, never a move. A WP's first appearance is its creation (from no
lane).

These are pure functions over a CommitRecord and the blobs it names. The caller fetches the
blobs in one git call, for one commit (post-commit) or thousands (scan).

A merge commit holds no lane changes of its own. The moves it brings were emitted by the commits
that made them, on their branch. capture.merges settles what the union changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from kitty_hooks.capture.commit_context import CommitContext, Skipped, path_facts
from kitty_hooks.capture.log_changes import (
    LogMemory,
    has_transitions,
    lane_change_of,
    log_moves,
    settle_event_id,
)
from kitty_hooks.capture.wp_changes import frontmatter_lane_changes, wp_lane
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.model.events import LaneChange
from kitty_hooks.model.layout import LOG_FILE_NAME, SPECS_DIR, may_hold_lane_changes_at
from kitty_hooks.model.reducer import Transition


class DetectedChanges:
    __slots__ = ("changes", "history", "skipped")

    def __init__(self) -> None:
        self.changes: list[LaneChange] = []
        self.skipped: list[Skipped] = []
        # Appended transitions that are not moves: they restate what the log already held.
        self.history: list[Skipped] = []


def relevant_changes(commit: CommitRecord) -> list[FileChange]:
    """The changes of a commit that can hold lane moves (none for a merge)."""
    if commit.is_merge:
        return []
    return [c for c in commit.changes if may_hold_lane_changes_at(c.path)]


def log_path_of(feature: str) -> str:
    return f"{SPECS_DIR}/{feature}/{LOG_FILE_NAME}"


def log_spec(commit: CommitRecord, feature: str) -> str:
    """What git cat-file reads for a feature's log as the commit left it."""
    return f"{commit.sha}:{log_path_of(feature)}"


def touched_features(changes: list[FileChange]) -> tuple[list[str], list[str]]:
    """The features whose log the changes touch, and those whose WP files only (their log as
    the commit left it says whether those WPs' lanes are moves or views)."""
    logs: dict[str, None] = {}
    wp_files: dict[str, None] = {}
    for change in changes:
        facts = path_facts(change.path)
        if facts.is_log:
            logs[facts.feature] = None
        elif facts.is_wp:
            wp_files[facts.feature] = None
    return list(logs), [f for f in wp_files if f not in logs]


def blobs_needed(
    commit: CommitRecord,
    *,
    logs_known: Iterable[str] = (),
    changes: list[FileChange] | None = None,
) -> tuple[list[str], list[str]]:
    """Object ids (and rev:path specs) detect_lane_changes will read for this commit, and the
    features whose log it changes.

    logs_known: features whose log a scan has already read (its newest version stands in for
    the log at this commit). changes: relevant_changes(commit), when already worked out."""
    changes = relevant_changes(commit) if changes is None else changes
    needed = [blob for change in changes for blob in (change.old_blob, change.new_blob) if blob]
    logged, unlogged = touched_features(changes)
    if unlogged:
        known = logs_known if isinstance(logs_known, (set, frozenset)) else set(logs_known)
        needed += [log_spec(commit, f) for f in unlogged if f not in known]
    return needed, logged


def detect_lane_changes(
    commit: CommitRecord,
    blobs: Mapping[str, bytes | None],
    context: CommitContext,
    *,
    memory: LogMemory | None = None,
    lane_at_parent: Callable[[str, str], str | None] | None = None,
    changes: list[FileChange] | None = None,
) -> DetectedChanges:
    """The lane changes of one commit; memory carries what logs held from commit to commit
    when many are read in order (scan). lane_at_parent(feature, wp) asks git for the lane a WP
    file gave at the first parent, for a WP whose first transition the commit logs (the hook;
    a scan remembers)."""
    result = DetectedChanges()
    changes = relevant_changes(commit) if changes is None else changes
    logged: set[tuple[str, str]] = set()
    for change in changes:
        facts = path_facts(change.path)
        if not facts.is_log:
            continue
        found = log_moves(change, blobs, commit, context, result.skipped, memory)
        feature = found.feature
        for wp in found.moves:
            # Keyed by folder, as WP files are: a 3.x mission_slug may name it otherwise.
            logged.add((feature, wp.wp_id))
            if wp.before is not None:
                lane = wp.before.to_lane
            else:
                lane = _lane_before(feature, wp.wp_id, changes, blobs, memory, lane_at_parent)
            for move in wp.moves:
                if lane == move.to_lane:
                    result.history.append(_history(commit, change.path, move, "restates its lane"))
                    continue
                result.changes.append(lane_change_of(move, lane, feature, commit, context))
                lane = move.to_lane
            if lane != wp.after.to_lane:
                # The fold settled elsewhere than the last move (an earlier line that wins at an
                # equal time; lines taken out of the log): say where it is now.
                settle = lane_change_of(wp.after, lane, feature, commit, context, settles=True)
                if wp.wp_id in found.taken_back:
                    # The commit moved it, at its own time: forced, and says why.
                    settle = settle._replace(
                        at=commit.author_date,
                        force=True,
                        reason=f"{commit.sha[:12]} took log lines out: spec-kitty's view of the"
                        " log it left",
                        evidence=None,
                    )
                result.changes.append(settle._replace(event_id=settle_event_id(commit, settle)))
            for move in wp.history:
                reason = f"sorts before its latest transition ({wp.before.at if wp.before else ''})"
                result.history.append(_history(commit, change.path, move, reason))
    wp_changes = [c for c in changes if not _covered_by_log(c, logged)]
    if not any(path_facts(c.path).is_wp for c in wp_changes):
        return result
    logs_after = {
        path_facts(c.path).feature: blobs.get(c.new_blob) if c.new_blob else b""
        for c in changes
        if path_facts(c.path).is_log
    }
    for feature in touched_features(changes)[1]:
        spec = log_spec(commit, feature)
        if spec in blobs:
            logs_after[feature] = blobs[spec] or b""
    lanes = memory.wp_lanes if memory is not None else None
    for lane_change in frontmatter_lane_changes(
        wp_changes, blobs, commit, context, result.skipped, lanes_seen=lanes
    ):
        key = (lane_change.feature_slug, lane_change.wp_id)
        if key in logged or has_transitions(
            key[0], key[1], logs_after.get(key[0]), context, memory
        ):
            continue  # the log holds this WP: its file's lane is a view of it
        result.changes.append(lane_change)
    return result


def _lane_before(
    feature: str,
    wp_id: str,
    changes: list[FileChange],
    blobs: Mapping[str, bytes | None],
    memory: LogMemory | None,
    lane_at_parent: Callable[[str, str], str | None] | None,
) -> str | None:
    """Where a WP whose log had no transition stood before the commit: the lane its WP file
    gave (spec-kitty 2.1.3 bootstraps the log from it). None: the WP is new."""
    if memory is not None and (feature, wp_id) in memory.wp_lanes:
        return memory.wp_lanes[(feature, wp_id)]  # a scan saw the file as the parent left it
    for change in changes:
        facts = path_facts(change.path)
        if facts.is_wp and facts.feature == feature and facts.named_wp_id == wp_id:
            if change.old_blob is None:
                return None  # the file is new in this commit: so is the WP
            return wp_lane(change.path, blobs.get(change.old_blob))
    if lane_at_parent is not None:
        return lane_at_parent(feature, wp_id)
    return None


def _history(commit: CommitRecord, path: str, move: Transition, reason: str) -> Skipped:
    where = f"{commit.sha[:12]} {path} {move.wp_id} {move.event_id}"
    return Skipped(where, f"{move.from_lane or 'new'} -> {move.to_lane} at {move.at} {reason}")


def _covered_by_log(change: FileChange, logged: set[tuple[str, str]]) -> bool:
    # Not even parsed: most 2.x commits then import no YAML at all.
    facts = path_facts(change.path)
    return facts.is_wp and (facts.feature, facts.named_wp_id) in logged
