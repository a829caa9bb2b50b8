"""What work-package lane changes a commit holds.

Three sources (DESIGN.md): lines appended to kitty-specs/<feature>/status.events.jsonl, the
`lane` field of a WP file's frontmatter, and (1.x) moves between tasks/<lane>/ folders. Pure
functions over a gitrepo.CommitRecord and the blobs it names: the caller fetches the blobs in
one git call, for one commit (post-commit) or thousands (scan).

A merge commit holds no lane changes of its own: the moves it brings were emitted by the
commits that made them, on their branch, when they were committed (or by `scan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from kitty_hooks.check.validation import common_pattern
from kitty_hooks.gitrepo import CommitRecord, FileChange
from kitty_hooks.model.events import (
    EXECUTION_MODES,
    LaneChange,
    actor_label,
    derive_ulid,
    iso_to_millis,
)
from kitty_hooks.model.lanes import (
    UnknownLaneError,
    canonical_from_lane,
    canonical_lane,
    is_known_lane,
    lane_meant_by,
    sync_lane,
)
from kitty_hooks.model.layout import (
    feature_of,
    is_status_log,
    is_wp_file,
    legacy_lane_of,
    may_hold_lane_changes_at,
    repo_path,
    wp_id_from_name,
)
from kitty_hooks.model.logline import LineError, LineKind, event_id_of, line_kind, parse_line

# A WP file is a page of markdown; anything this large or with NUL bytes is not one.
MAX_WP_FILE_BYTES = 1 << 20
MAX_LOG_BYTES = 64 << 20
# Moves that carry evidence of a review: a canceled WP is done on the board too, but nobody
# approved it.
APPROVAL_LANES = frozenset({"approved", "done"})


# NamedTuple, not dataclass: the post-commit hook cannot afford dataclasses' import (inspect,
# ast: ~8 ms) nor its per-class code generation.
class CommitContext(NamedTuple):
    """What a lane change needs to know beyond the commit itself."""

    execution_mode: str
    branch: str | None
    repo_name: Callable[[], str]
    """Called only for done evidence: it may have to ask git for the origin remote."""
    loads: Callable[[bytes], Any] | None = None
    """A faster JSON parser for log lines (orjson's, for a scan); the hook leaves it out."""


class Skipped(NamedTuple):
    """A file or line that could not be read as a lane change, and why."""

    path: str
    reason: str

    def render(self) -> str:
        return f"{self.path}: {self.reason}"


class _PathFacts(NamedTuple):
    """What detection asks of a path, worked out once per path (a scan meets each in many
    commits)."""

    feature: str
    is_log: bool
    is_wp: bool
    named_wp_id: str
    """The WP id the file name gives ("" when none)."""
    stem: str
    legacy_lane: str | None


@lru_cache(maxsize=1 << 14)
def _facts(name: str) -> _PathFacts:
    path = repo_path(name)
    return _PathFacts(
        feature=feature_of(path) or "",
        is_log=is_status_log(path),
        is_wp=is_wp_file(path),
        named_wp_id=wp_id_from_name(path) or "",
        stem=path.stem,
        legacy_lane=legacy_lane_of(path),
    )


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
        facts = _facts(change.path)
        if facts.is_log:
            folder = facts.feature
            found = _log_changes(change, blobs, commit, context, result.skipped, memory)
            for lane_change in found:
                # Keyed by folder, as WP files are: a 3.x mission_slug may name it otherwise.
                logged.add((folder, lane_change.wp_id))
                result.changes.append(lane_change)
    wp_changes = [c for c in changes if not _covered_by_log(c, logged)]
    for lane_change in _frontmatter_changes(wp_changes, blobs, commit, context, result.skipped):
        # spec-kitty 2.x writes the log line and the frontmatter in one commit: one move,
        # taken from the log line, which has its own event id and the real from-lane.
        if (lane_change.feature_slug, lane_change.wp_id) not in logged:
            result.changes.append(lane_change)
    return result


def _covered_by_log(change: FileChange, logged: set[tuple[str, str]]) -> bool:
    # Not even parsed: most 2.x commits then import no YAML at all.
    facts = _facts(change.path)
    return facts.is_wp and (facts.feature, facts.named_wp_id) in logged


# --- status.events.jsonl ---------------------------------------------------------------------


class LogMemory:
    """What each status log held, remembered from one commit to the next during a scan.

    Keyed by the log's blob id: the old side of a commit is most often the new side of an
    earlier commit of the same range. Without it every commit would split and index the whole
    log again (O(log size) a commit, quadratic over a log that grows line by line); with it an
    appended line costs itself. Only a speed-up: a blob it does not know is indexed afresh.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[str, _LogIndex] = {}


class _LogIndex:
    """The lines of one version of a log, and the event ids they carry (None: not read yet)."""

    __slots__ = ("ids", "lines")

    def __init__(self, lines: set[bytes], ids: set[str] | None) -> None:
        self.lines = lines
        self.ids = ids

    def event_ids(self) -> set[str]:
        if self.ids is None:
            self.ids = {i for i in map(event_id_of, self.lines) if i is not None}
        return self.ids


def _log_changes(
    change: FileChange,
    blobs: Mapping[str, bytes | None],
    commit: CommitRecord,
    context: CommitContext,
    skipped: list[Skipped],
    memory: LogMemory | None = None,
) -> list[LaneChange]:
    """The transitions among the lines a commit added to a log, each line on its own.

    A bad line costs that line (skipped, with why) and nothing else; annotations, envelopes and
    records that 3.x writes beside the transitions are not lane moves and pass quietly. A line
    is new when the log held neither its bytes nor its event id before: a log rewritten
    wholesale (re-serialised, re-keyed feature_slug -> mission_slug by an upgrade) holds the
    same events and moves nothing.
    """
    if change.new_blob is None:
        return []  # the log was deleted: nothing moved
    after = blobs.get(change.new_blob)
    before = blobs.get(change.old_blob) if change.old_blob else b""
    if after is None or before is None:
        skipped.append(Skipped(change.path, "could not read the log from git"))
        return []
    if len(after) > MAX_LOG_BYTES:
        skipped.append(Skipped(change.path, f"log is {len(after):,} bytes, over {MAX_LOG_BYTES:,}"))
        return []
    known = memory._known if memory is not None else {}
    index = known.pop(change.old_blob, None) if change.old_blob else _LogIndex(set(), set())
    appended = after.startswith(before) and (not before or before.endswith(b"\n"))
    if appended:
        # What spec-kitty does: lines added at the end. Only they are looked at.
        tail = after[len(before) :].splitlines()
        candidates = [(-i - 1, raw) for i, raw in enumerate(tail)]  # numbered when needed
        if index is None and len(tail) > _SEARCHES_BEFORE_INDEXING:
            # Many lines at once (a squash merge, a cherry-pick of a long branch): one index of
            # the old log beats searching its bytes once or twice a line.
            index = _LogIndex(set(before.splitlines()), None)
        old_lines = index.lines if index is not None else None
        if old_lines is None and any(raw.strip() and raw in before for raw in tail):
            old_lines = set(before.splitlines())  # an appended copy of an old line, rarely
    else:
        if index is None:
            index = _LogIndex(set(before.splitlines()), None)
        old_lines = index.lines
        candidates = list(enumerate(after.splitlines(), start=1))
    feature = _facts(change.path).feature
    found: list[LaneChange] = []
    new_ids: list[str] = []
    for number, raw in candidates:
        if not raw.strip() or (old_lines is not None and raw in old_lines):
            continue
        try:
            line = parse_line(raw, fast_loads=context.loads)
            event_id = line.get("event_id")
            if isinstance(event_id, str):
                new_ids.append(event_id)
            if line_kind(line) is not LineKind.TRANSITION:
                continue
            if isinstance(event_id, str) and _was_logged(event_id, before, index):
                continue  # the same event, written again
            found.append(_from_log_line(line, feature, commit, context))
        except (LineError, UnknownLaneError) as exc:
            skipped.append(Skipped(_line_at(change.path, number, before), str(exc)))
        except (KeyError, TypeError, ValueError) as exc:
            where = _line_at(change.path, number, before)
            skipped.append(Skipped(where, f"not a lane change ({_reason(exc)})"))
    if memory is not None:
        if appended and index is not None:
            index.lines.update(tail)
            if index.ids is not None:
                index.ids.update(new_ids)
        else:
            index = _LogIndex(set(after.splitlines()), None)
        known[change.new_blob] = index
    return found


# A commit's few appended lines are looked up in the old log by searching its bytes; past this
# many, the old log is indexed once instead.
_SEARCHES_BEFORE_INDEXING = 8


def _line_at(path: str, number: int, before: bytes) -> str:
    """path:line; an appended line is numbered -1, -2... until here (counting costs a split)."""
    if number < 0:
        number = len(before.splitlines()) - number
    return f"{path}:{number}"


def _was_logged(event_id: str, before: bytes, index: _LogIndex | None) -> bool:
    """Whether a line of the log before this commit carries this event id."""
    if index is not None:
        return event_id in index.event_ids()
    # One commit read on its own (the hook): search the bytes rather than parse every line,
    # then parse only the lines that hold the id, if any.
    if f'"{event_id}"'.encode() not in before:
        return False
    return any(
        event_id_of(raw) == event_id for raw in before.splitlines() if event_id.encode() in raw
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]} field"
    return str(exc) or type(exc).__name__


def _from_log_line(
    line: dict[str, Any], feature: str, commit: CommitRecord, context: CommitContext
) -> LaneChange:
    event_id = line["event_id"]
    if not isinstance(event_id, str):
        raise ValueError(f"event_id {event_id!r} is not an event id")
    from_lane = canonical_from_lane(line.get("from_lane"))
    to_lane = canonical_lane(line["to_lane"])
    wp_id = line["wp_id"]
    if not isinstance(wp_id, str) or not wp_id:
        raise ValueError(f"wp_id {wp_id!r} is not a work package id")
    at = line.get("at") if isinstance(line.get("at"), str) else commit.author_date
    force = line.get("force") is True
    evidence = line.get("evidence")
    if to_lane in APPROVAL_LANES:
        review_result = line.get("review_result")
        if evidence is None and isinstance(review_result, dict) and not force:
            # 3.x approves out of in_review by the review_result alone: that is the review.
            evidence = {"review": review_result}
        if isinstance(evidence, dict):
            evidence = _with_commit_repo(evidence, commit, context)
    execution_mode = line.get("execution_mode")
    if execution_mode not in EXECUTION_MODES:
        # 3.x's state rebuild writes "unknown"; the commit's own checkout says which it is.
        execution_mode = context.execution_mode
    reason = line.get("reason")
    return LaneChange(
        feature_slug=_slug(line) or feature,
        wp_id=wp_id,
        from_lane=from_lane,
        to_lane=to_lane,
        actor=actor_label(line.get("actor")) or commit.author_name or commit.author_email,
        at=at,
        force=force,
        reason=reason if isinstance(reason, str) else None,
        execution_mode=execution_mode,
        review_ref=_text(line.get("review_ref")) or _review_ref(from_lane, to_lane, commit),
        evidence=evidence if isinstance(evidence, dict) else None,
        event_id=_sendable_event_id(event_id, at),
    )


def _slug(line: dict[str, Any]) -> str:
    """3.x names the feature mission_slug, 2.x feature_slug."""
    return _text(line.get("mission_slug")) or _text(line.get("feature_slug"))


def _sendable_event_id(event_id: str, at: str) -> str:
    """The log line's own id when it is a ULID we may send as it is, else one derived from it.

    spec-kitty-events reads ULIDs in any case and UUIDs too; the envelope we send carries an
    upper-case ULID. A UUID (or a ULID past the 128-bit range) becomes a ULID derived from it,
    the same every time, so the event stays idempotent.
    """
    upper = event_id.upper()
    if common_pattern("ulid").match(upper):
        return upper
    if not common_pattern("event_id").match(event_id):
        raise ValueError(f"event_id {event_id!r} is not a ULID or UUID")
    try:
        millis = iso_to_millis(at)
    except ValueError:
        millis = 0
    return derive_ulid(max(0, min(millis, (1 << 48) - 1)), "log-line-event-id", event_id.lower())


def _with_commit_repo(
    evidence: dict[str, Any], commit: CommitRecord, context: CommitContext
) -> dict[str, Any]:
    # spec-kitty 2.1.3 writes done evidence without repos (move-task passes a review only); the
    # commit that recorded the move is the repo evidence we can vouch for. Evidence without a
    # review would be rejected by the server forever: name the committer, verdict unspecified,
    # as the frontmatter path does.
    completed = dict(evidence)
    if not completed.get("repos"):
        completed["repos"] = [_repo_entry(commit, context)]
    if not isinstance(completed.get("review"), dict):
        completed["review"] = {"reviewer": commit.author_name, "verdict": "unspecified"}
    return completed


def _repo_entry(commit: CommitRecord, context: CommitContext) -> dict[str, str]:
    return {"repo": context.repo_name(), "branch": context.branch or "HEAD", "commit": commit.sha}


def _review_ref(from_lane: str | None, to_lane: str, commit: CommitRecord) -> str | None:
    """The commit a reviewer checks out: set on entering review, and on a rollback."""
    to_sync = sync_lane(to_lane)
    from_sync = sync_lane(from_lane) if from_lane is not None else None
    if to_sync == "for_review" or (from_sync == "for_review" and to_sync == "doing"):
        return commit.sha
    return None


# --- WP frontmatter and 1.x lane folders -----------------------------------------------------


# The frontmatter fields capture reads: the lane, the id, and who reviewed a WP that is done.
_WP_FIELDS = ("lane", "work_package_id", "reviewed_by", "review_status")


class _WorkPackageState(NamedTuple):
    lane: str
    fields: dict[str, Any]


def _frontmatter_changes(
    changes: list[FileChange],
    blobs: Mapping[str, bytes | None],
    commit: CommitRecord,
    context: CommitContext,
    skipped: list[Skipped],
) -> list[LaneChange]:
    # Pair the old and new sides by (feature, WP id), not by path: a move between 1.x lane
    # folders is a delete and an add, and so is a rename.
    before: dict[tuple[str, str], _WorkPackageState] = {}
    after: dict[tuple[str, str], tuple[str, _WorkPackageState]] = {}
    # WPs whose old side could not be read: their old lane is unknown, not absent, so the new
    # side is no "new WP" (a commit that repairs broken frontmatter creates nothing).
    unknown_before: set[tuple[str, str]] = set()
    for change in changes:
        facts = _facts(change.path)
        if not facts.is_wp:
            continue
        feature = facts.feature
        if change.old_blob:
            state = _read_wp(change.path, blobs.get(change.old_blob), skipped, side="before")
            if state is not None:
                before[(feature, _wp_id(facts, state))] = state
            else:
                unknown_before.add((feature, facts.named_wp_id or facts.stem))
        if change.new_blob:
            state = _read_wp(change.path, blobs.get(change.new_blob), skipped, side="after")
            if state is not None:
                after[(feature, _wp_id(facts, state))] = (change.path, state)
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
                "reviewer": _text(new.fields.get("reviewed_by")) or commit.author_name,
                "verdict": _text(new.fields.get("review_status")) or "unspecified",
            }
            evidence = {"repos": [_repo_entry(commit, context)], "review": review}
        found.append(
            LaneChange(
                feature_slug=feature,
                wp_id=wp_id,
                from_lane=from_lane,
                to_lane=new.lane,
                actor=commit.author_name or commit.author_email,
                at=commit.author_date,
                execution_mode=context.execution_mode,
                review_ref=_review_ref(from_lane, new.lane, commit),
                evidence=evidence,
            )
        )
    return found


def _wp_id(facts: _PathFacts, state: _WorkPackageState) -> str:
    declared = _text(state.fields.get("work_package_id"))
    return declared or facts.named_wp_id or facts.stem


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


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
    legacy = _facts(path).legacy_lane
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
