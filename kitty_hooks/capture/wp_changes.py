"""Lane moves read from work-package files: the `lane` field of a WP file's frontmatter, and
(spec-kitty 1.x) the tasks/<lane>/ folder a WP file sits in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from kitty_hooks.capture.commit_context import (
    APPROVAL_LANES,
    CommitContext,
    PathFacts,
    Skipped,
    path_facts,
    repo_entry,
    review_ref,
    text,
)
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.model.events import LaneChange
from kitty_hooks.model.lanes import canonical_lane, is_known_lane, lane_meant_by

# A WP file is a page of markdown; anything this large or with NUL bytes is not one.
MAX_WP_FILE_BYTES = 1 << 20
# The frontmatter fields capture reads: the lane, the id, and who reviewed a WP that is done.
_WP_FIELDS = ("lane", "work_package_id", "reviewed_by", "review_status")


class _WorkPackageState(NamedTuple):
    lane: str
    fields: dict[str, Any]


def frontmatter_lane_changes(
    changes: list[FileChange],
    blobs: Mapping[str, bytes | None],
    commit: CommitRecord,
    context: CommitContext,
    skipped: list[Skipped],
    *,
    lanes_seen: dict[tuple[str, str], str | None] | None = None,
) -> list[LaneChange]:
    """The moves of WP files' lanes; lanes_seen (a scan's memory) gets the lane each WP file
    gives after the commit (None: it gives none, as 3.x's do)."""
    # Pair the old and new sides by (feature, WP id), not by path: a move between 1.x lane
    # folders is a delete and an add, and so is a rename.
    before: dict[tuple[str, str], _WorkPackageState] = {}
    after: dict[tuple[str, str], tuple[str, _WorkPackageState]] = {}
    # WPs whose old side could not be read: their old lane is unknown, not absent, so the new
    # side is no "new WP" (a commit that repairs broken frontmatter creates nothing).
    unknown_before: set[tuple[str, str]] = set()
    # The new sides first: where none gives a lane (3.x files, a migration that drops `lane:`
    # from thousands) nothing moved, and the old sides are not read at all.
    new_sides: list[tuple[FileChange, PathFacts, _WorkPackageState | None, list[Skipped]]] = []
    for change in changes:
        facts = path_facts(change.path)
        if not facts.is_wp:
            continue
        said: list[Skipped] = []
        state = None
        if change.new_blob:
            state = _read_wp(change.path, blobs.get(change.new_blob), said, side="after")
        new_sides.append((change, facts, state, said))
    moved = any(state is not None for _, _, state, _ in new_sides)
    for change, facts, state, said in new_sides:
        feature = facts.feature
        if change.old_blob and moved:
            old = _read_wp(change.path, blobs.get(change.old_blob), skipped, side="before")
            if old is not None:
                before[(feature, _wp_id(facts, old))] = old
            else:
                unknown_before.add((feature, facts.named_wp_id or facts.stem))
        skipped += said
        if state is not None:
            after[(feature, _wp_id(facts, state))] = (change.path, state)
        elif change.new_blob and lanes_seen is not None:
            lanes_seen[(feature, facts.named_wp_id or facts.stem)] = None
    if lanes_seen is not None:
        for key, (_, state) in after.items():
            lanes_seen[key] = state.lane
    found: list[LaneChange] = []
    for (feature, wp_id), (_, new) in sorted(after.items(), key=lambda item: item[1][0]):
        old = before.get((feature, wp_id))
        if old is not None and old.lane == new.lane:
            continue
        if old is None and (feature, wp_id) in unknown_before:
            continue
        from_lane = old.lane if old is not None else None
        evidence = None
        if new.lane in APPROVAL_LANES:
            review = {
                "reviewer": text(new.fields.get("reviewed_by")) or commit.author_name,
                "verdict": text(new.fields.get("review_status")) or "unspecified",
            }
            evidence = {"repos": [repo_entry(commit, context)], "review": review}
        found.append(
            LaneChange(
                feature_slug=feature,
                wp_id=wp_id,
                from_lane=from_lane,
                to_lane=new.lane,
                actor=commit.author_name or commit.author_email,
                at=commit.author_date,
                execution_mode=context.execution_mode,
                review_ref=review_ref(from_lane, new.lane, commit),
                evidence=evidence,
            )
        )
    return found


def wp_lane(path: str, data: bytes | None) -> str | None:
    """The lane a WP file gives (its frontmatter, or its 1.x lane folder); None when it gives
    none or cannot be read."""
    state = _read_wp(path, data, [], side="before")
    return state.lane if state is not None else None


def wp_file_lane(path: str, data: bytes | None) -> tuple[str, str] | None:
    """(WP id, lane) of a WP file, the id as capture pairs files by; None when it gives no lane."""
    state = _read_wp(path, data, [], side="after")
    return (_wp_id(path_facts(path), state), state.lane) if state is not None else None


def _wp_id(facts: PathFacts, state: _WorkPackageState) -> str:
    declared = text(state.fields.get("work_package_id"))
    return declared or facts.named_wp_id or facts.stem


def _read_wp(
    path: str, data: bytes | None, skipped: list[Skipped], *, side: str
) -> _WorkPackageState | None:
    from kitty_hooks.model.frontmatter import FrontmatterError, read_fields

    where = path if side == "after" else f"{path} (before this commit)"
    if data is None:
        skipped.append(Skipped(where, "could not read the file from git"))
        return None
    if len(data) > MAX_WP_FILE_BYTES or b"\0" in data[:8192]:
        skipped.append(Skipped(where, "binary or too large for a WP file"))
        return None
    legacy = path_facts(path).legacy_lane
    if legacy is None and b"lane" not in data:
        return None  # no lane to read (3.x keeps it in the log): what else is wrong is diagnose's
    try:
        fields = read_fields(data.decode("utf-8-sig"), _WP_FIELDS)
    except UnicodeDecodeError:
        skipped.append(Skipped(where, "not valid UTF-8"))
        return None
    except FrontmatterError as exc:
        if legacy is None:
            skipped.append(Skipped(where, str(exc)))
            return None
        fields = {}  # in a 1.x lane folder the folder is the lane
    lane = legacy if legacy is not None else fields.get("lane")
    if is_known_lane(lane):
        return _WorkPackageState(canonical_lane(lane), fields)
    # 3.x keeps the lane in the log: no `lane:`, or an execution lane (`lane: lane-a`), is no
    # lane change and not worth a word on every commit. A mistyped lane is.
    meant = lane_meant_by(lane)
    if meant is not None:
        skipped.append(Skipped(where, f"lane {lane!r} is not a lane (did you mean {meant}?)"))
    return None
