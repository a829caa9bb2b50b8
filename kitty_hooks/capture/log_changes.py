"""Lane moves read from the lines a commit added to kitty-specs/<feature>/status.events.jsonl
(spec-kitty 2.x and 3.x).

A move is a change in spec-kitty's own view of a work package (model.reducer): of the lines a
commit appended, the transitions that sort after the WP's latest transition before the commit.
A line that sorts before it (a data migration restating old moves under new ids) is history.
Each line is read on its own: a bad line is skipped with why. A log rewritten wholesale holds
the same events and moves nothing. A log rewritten otherwise (lines taken out or edited, as by
a `git revert`) settles each WP whose fold it changed: LogMoves.taken_back. LogMemory carries
what each log held from commit to commit in a scan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from kitty_hooks.capture.commit_context import (
    APPROVAL_LANES,
    CommitContext,
    Skipped,
    path_facts,
    repo_entry,
    review_ref,
    text,
)
from kitty_hooks.check.validation import common_pattern
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.model.events import (
    EXECUTION_MODES,
    LaneChange,
    actor_label,
    derive_ulid,
    iso_to_millis,
)
from kitty_hooks.model.lanes import UnknownLaneError
from kitty_hooks.model.logline import (
    MAX_LINE_BYTES,
    LineError,
    LineKind,
    event_id_of,
    has_long_number,
    is_plain_transition,
    line_kind,
    parse_line,
)
from kitty_hooks.model.reducer import (
    Transition,
    WorkPackageLog,
    WorkPackageMoves,
    read_transition,
)

MAX_LOG_BYTES = 64 << 20


class LogMemory:
    """What each status log held, remembered from one commit to the next during a scan.

    Keyed by the log's blob id: the old side of a commit is most often the new side of an
    earlier commit of the same range. Without it every commit would split and index the whole
    log again (O(log size) a commit, quadratic over a log that grows line by line); with it an
    appended line costs itself. Beside it, the lanes WP files gave as the scan went (the view
    of a WP whose log has no transition yet), and the newest index of each feature's log.
    Only a speed-up and a memory: what it does not know is read afresh.
    """

    __slots__ = ("_known", "latest", "wp_lanes")

    def __init__(self) -> None:
        self._known: dict[str, _LogIndex] = {}
        self.latest: dict[str, _LogIndex] = {}
        self.wp_lanes: dict[tuple[str, str], str | None] = {}

    def folds_of(self, blob: str) -> dict[str, WorkPackageLog] | None:
        """Each WP's fold in a version of a log (by blob id) that a commit of the scan left,
        when already read; None otherwise."""
        index = self._known.get(blob)
        return index.wps if index is not None else None


class _LogIndex:
    """One version of a log: its lines, the event ids they carry and, per work package, its
    transitions and fold (read at the first question: every line once)."""

    __slots__ = ("data", "ids", "lines", "wps")

    def __init__(self, lines: set[bytes], ids: set[str] | None, data: bytes) -> None:
        self.lines = lines
        self.ids = ids
        self.data = data
        self.wps: dict[str, WorkPackageLog] | None = None if data else {}

    def event_ids(self) -> set[str]:
        if self.ids is None:
            self.ids = {i for i in map(event_id_of, self.lines) if i is not None}
        return self.ids

    def logs(self, context: CommitContext) -> dict[str, WorkPackageLog]:
        """Each WP's transitions and fold in this version (every line read once, at the first
        question)."""
        if self.wps is None:
            self.read_every_line(context)
            assert self.wps is not None
        return self.wps

    def read_every_line(self, context: CommitContext) -> dict[bytes, Transition]:
        """Read every line now (what logs() then answers from): each line -> the transition it
        holds, for lines that hold one."""
        read: dict[bytes, Transition] = {}
        found: dict[str, list[Transition]] = {}
        for raw in self.data.split(b"\n"):
            transition = _transition(raw, context, default_at="") if raw.strip() else None
            if transition is not None:
                read[raw] = transition
                found.setdefault(transition.wp_id, []).append(transition)
        self.wps = {wp: WorkPackageLog(events) for wp, events in found.items()}
        return read

    def log_of(self, wp_id: str, context: CommitContext) -> WorkPackageLog:
        """The WP's transitions and fold in this version; appending to it makes the next."""
        wps = self.logs(context)
        found = wps.get(wp_id)
        if found is None:
            found = wps[wp_id] = WorkPackageLog()
        return found

    def transitions_of(self, wp_id: str, context: CommitContext) -> list[Transition]:
        return self.log_of(wp_id, context).events


def transitions_by_wp(data: bytes, context: CommitContext) -> dict[str, list[Transition]]:
    """Every transition of a log's bytes, per work package, in file order (bad lines left out:
    the gate and capture say what is wrong with them)."""
    index = _LogIndex(set(), None, data)
    index.read_every_line(context)
    return {wp: log.events for wp, log in index.logs(context).items()}


def transitions_in(data: bytes, wp_id: str, context: CommitContext) -> list[Transition]:
    """The transitions of one work package in a log's bytes, in file order. Only lines that
    name the WP in quotes are parsed: a hook reads one WP's few lines of a long log."""
    token = b'"' + wp_id.encode("utf-8", "surrogateescape") + b'"'
    found: list[Transition] = []
    at = data.find(token)
    while at >= 0:  # from one line that names it to the next, never splitting the log
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        if end < 0:
            end = len(data)
        transition = _transition(data[start:end], context, default_at="")
        if transition is not None and transition.wp_id == wp_id:
            found.append(transition)
        at = data.find(token, end)
    return found


def read_line_transition(raw: bytes, context: CommitContext) -> Transition | None:
    """The transition a log line holds, None for any other line (or none that can be read)."""
    return _transition(raw, context, default_at="") if raw.strip() else None


def _plain_transition(raw: bytes, loads: Callable[[bytes], Any] | None) -> dict[str, Any] | None:
    """The common line, fast (a scan reads tens of thousands): one JSON object that is plainly a
    transition, parsed by the fast parser. None for anything else, which parse_line and
    line_kind then read carefully (and word what is wrong)."""
    if loads is None or len(raw) > MAX_LINE_BYTES:
        return None
    try:
        line = loads(raw)
    except ValueError:
        return None
    return line if type(line) is dict and is_plain_transition(line) else None


def _transition(raw: bytes, context: CommitContext, *, default_at: str) -> Transition | None:
    loads = context.loads
    if loads is not None and not has_long_number(raw):
        # The common case at a few microseconds a line (a board reads every line of every log):
        # one JSON object, a plain transition.
        try:
            line = loads(raw)
        except ValueError:
            line = None
        if type(line) is dict and is_plain_transition(line):
            try:
                return read_transition(line, default_at=default_at)
            except (KeyError, TypeError, ValueError):
                return None
    try:
        line = parse_line(raw, fast_loads=loads)
        if line_kind(line) is not LineKind.TRANSITION:
            return None
        return read_transition(line, default_at=default_at)
    except (LineError, KeyError, TypeError, ValueError):
        return None


class LogMoves(NamedTuple):
    """What a commit's change to one log did: per work package, its moves."""

    feature: str
    """The folder: a line's own feature or mission slug is not trusted to name it."""
    moves: list[WorkPackageMoves]
    taken_back: frozenset[str] = frozenset()
    """WPs whose lane the commit changed by taking lines out of the log (a `git revert` of a
    move): their `after` is where the log as the commit left it puts them."""


def log_moves(
    change: FileChange,
    blobs: Mapping[str, bytes | None],
    commit: CommitRecord,
    context: CommitContext,
    skipped: list[Skipped],
    memory: LogMemory | None = None,
) -> LogMoves:
    """The transitions among the lines a commit added to a log, each line on its own, as moves
    of spec-kitty's view.

    A bad line costs that line (skipped, with why) and nothing else; annotations, envelopes and
    records that 3.x writes beside the transitions are not lane moves and pass quietly. A line
    is new when the log held neither its bytes nor its event id before: a log rewritten
    wholesale (re-serialised, re-keyed feature_slug -> mission_slug by an upgrade) holds the
    same events and moves nothing.
    """
    feature = path_facts(change.path).feature
    if change.new_blob is None:
        return LogMoves(feature, [])  # the log was deleted: nothing moved
    after = blobs.get(change.new_blob)
    before = blobs.get(change.old_blob) if change.old_blob else b""
    if after is None or before is None:
        skipped.append(Skipped(change.path, "could not read the log from git"))
        return LogMoves(feature, [])
    if len(after) > MAX_LOG_BYTES:
        skipped.append(Skipped(change.path, f"log is {len(after):,} bytes, over {MAX_LOG_BYTES:,}"))
        return LogMoves(feature, [])
    known = memory._known if memory is not None else {}
    index = known.pop(change.old_blob, None) if change.old_blob else None
    if index is None and not before:
        index = _LogIndex(set(), set(), b"")
    appended = after.startswith(before) and (not before or before.endswith(b"\n"))
    rewritten: _LogIndex | None = None
    read: dict[bytes, Transition] = {}  # a rewritten log's lines, read once
    if appended:
        # What spec-kitty does: lines added at the end. Only they are looked at.
        tail = after[len(before) :].splitlines()
        candidates = [(-i - 1, raw) for i, raw in enumerate(tail)]  # numbered when needed
        if index is None and len(tail) > _SEARCHES_BEFORE_INDEXING:
            # Many lines at once (a squash merge, a cherry-pick of a long branch): one index of
            # the old log beats searching its bytes once or twice a line.
            index = _LogIndex(set(before.splitlines()), None, before)
        old_lines = index.lines if index is not None else None
        if old_lines is None and any(raw.strip() and raw in before for raw in tail):
            old_lines = set(before.splitlines())  # an appended copy of an old line, rarely
    else:
        if index is None:
            index = _LogIndex(set(before.splitlines()), None, before)
        old_lines = index.lines
        candidates = list(enumerate(after.splitlines(), start=1))
        # Rewritten (a revert, a migration that re-serialises every line): the new version is
        # read whole once, for the WPs it folds (taken_back) and for the lines it adds.
        rewritten = _LogIndex(set(after.splitlines()), None, after)
        read = rewritten.read_every_line(context)
    fresh: dict[str, list[Transition]] = {}
    new_ids: list[str] = []
    # The old log's event ids (read at the first question); without an index, its bytes.
    logged = index.ids if index is not None else None
    for number, raw in candidates:
        if not raw or raw.isspace() or (old_lines is not None and raw in old_lines):
            continue
        try:
            transition = read.get(raw)
            if transition is not None:  # read above: a transition line
                new_ids.append(transition.event_id)
                if logged is None:
                    logged = index.event_ids()  # index: made above for a rewritten log
                if transition.event_id in logged:
                    continue  # the same event, written again
                _sendable_event_id(transition.event_id, transition.at)
                fresh.setdefault(transition.wp_id, []).append(transition)
                continue
            line = _plain_transition(raw, context.loads)
            if line is None:  # anything but the common case: read and told apart carefully
                line = parse_line(raw, fast_loads=context.loads)
                is_transition = line_kind(line) is LineKind.TRANSITION
            else:
                is_transition = True
            event_id = line.get("event_id")
            if isinstance(event_id, str):
                new_ids.append(event_id)
            if not is_transition:
                continue
            if isinstance(event_id, str):
                if logged is None and index is not None:
                    logged = index.event_ids()
                if event_id in logged if logged is not None else _was_logged(event_id, before):
                    continue  # the same event, written again
            transition = read_transition(line, default_at="")  # as a read-back orders it
            _sendable_event_id(transition.event_id, transition.at)  # refuse what we cannot send
            fresh.setdefault(transition.wp_id, []).append(transition)
        except (LineError, UnknownLaneError) as exc:
            skipped.append(Skipped(_line_at(change.path, number, before), str(exc)))
        except (KeyError, TypeError, ValueError) as exc:
            where = _line_at(change.path, number, before)
            skipped.append(Skipped(where, f"not a lane change ({_reason(exc)})"))
    moves: dict[str, WorkPackageMoves] = {}
    for wp_id, transitions in fresh.items():
        if index is not None and appended and memory is not None:
            wp_log = index.log_of(wp_id, context)  # this version's, appended to: the next's
        elif index is not None:
            wp_log = WorkPackageLog(index.transitions_of(wp_id, context))
        else:
            wp_log = WorkPackageLog(transitions_in(before, wp_id, context))
        found = wp_log.append(transitions)
        if found is not None:
            moves[wp_id] = found
    taken_back: frozenset[str] = frozenset()
    if not appended:
        assert index is not None and rewritten is not None  # made above for a rewritten log
        taken_back = _taken_back(index, rewritten, moves, context)
        index = rewritten
    if memory is not None:
        if appended and index is not None:
            index.lines.update(tail)
            if index.ids is not None:
                index.ids.update(new_ids)
            index.data = after
        elif index is None:
            index = _LogIndex(set(after.splitlines()), None, after)
        known[change.new_blob] = index
        memory.latest[feature] = index
    return LogMoves(feature, list(moves.values()), taken_back)


def _taken_back(
    before: _LogIndex,
    after: _LogIndex,
    moves: dict[str, WorkPackageMoves],
    context: CommitContext,
) -> frozenset[str]:
    """WPs that a log rewritten otherwise than by appending leaves in another lane than its
    appended lines alone would (lines taken out: a `git revert`, a hand edit); moves[wp] then
    ends where the rewritten log puts it. A log re-serialised wholesale keeps every WP's fold."""
    had, has = before.logs(context), after.logs(context)
    found: set[str] = set()
    for wp_id in set(had) | set(moves):
        now = has[wp_id].latest if wp_id in has else None
        moved = moves.get(wp_id)
        was = moved.after if moved is not None else had[wp_id].latest
        if now is None or was is None or now.to_lane == was.to_lane:
            continue  # a WP the log no longer holds is left to its file; else unchanged
        found.add(wp_id)
        if moved is not None:
            moves[wp_id] = moved._replace(after=now)
        else:
            moves[wp_id] = WorkPackageMoves(wp_id, was, [], now, [])
    return frozenset(found)


def has_transitions(
    feature: str,
    wp_id: str,
    log: bytes | None,
    context: CommitContext,
    memory: LogMemory | None,
) -> bool:
    """Whether a feature's log (its bytes at the commit, else the scan's newest version of it)
    holds a transition of this work package: then its WP file's lane is a view, not a move."""
    if log is not None:
        return bool(transitions_in(log, wp_id, context))
    index = memory.latest.get(feature) if memory is not None else None
    return index is not None and bool(index.transitions_of(wp_id, context))


# A commit's few appended lines are looked up in the old log by searching its bytes; past this
# many, the old log is indexed once instead.
_SEARCHES_BEFORE_INDEXING = 8


def _line_at(path: str, number: int, before: bytes) -> str:
    """path:line; an appended line is numbered -1, -2... until here (counting costs a split)."""
    if number < 0:
        number = len(before.splitlines()) - number
    return f"{path}:{number}"


def _was_logged(event_id: str, before: bytes) -> bool:
    """Whether a line of the log before this commit carries this event id: for a commit read on
    its own (the hook), the bytes searched rather than every line parsed, then only the lines
    that hold the id parsed, if any."""
    if f'"{event_id}"'.encode() not in before:
        return False
    return any(
        event_id_of(raw) == event_id for raw in before.splitlines() if event_id.encode() in raw
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]} field"
    return str(exc) or type(exc).__name__


def lane_change_of(
    transition: Transition,
    from_lane: str | None,
    feature: str,
    commit: CommitRecord,
    context: CommitContext,
    *,
    settles: bool = False,
) -> LaneChange:
    """The move a log line makes, from the lane the WP stood in before it (spec-kitty's view,
    which a line's own from_lane may not match after a merge), in the feature its folder names.
    settles: the move only says where the fold put the WP; it gets its id from settle_event_id,
    so the line's own id is not read."""
    line = transition.line
    to_lane = transition.to_lane
    at = transition.at
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
        feature_slug=feature,
        wp_id=transition.wp_id,
        from_lane=from_lane,
        to_lane=to_lane,
        actor=actor_label(line.get("actor")) or commit.author_name or commit.author_email,
        at=at,
        force=force,
        reason=reason if isinstance(reason, str) else None,
        execution_mode=execution_mode,
        review_ref=text(line.get("review_ref")) or review_ref(from_lane, to_lane, commit),
        evidence=evidence if isinstance(evidence, dict) else None,
        event_id="" if settles else _sendable_event_id(transition.event_id, at),
    )


def settle_event_id(commit: CommitRecord, change: LaneChange) -> str:
    """The id of a move that settles a WP where the fold put it, derived from the commit and
    the move: every clone that captures the same commit sends the same event."""
    try:
        millis = max(0, min(iso_to_millis(change.at), (1 << 48) - 1))
    except ValueError:
        millis = 0
    return derive_ulid(
        millis, "settle", commit.sha, change.feature_slug, change.wp_id, change.to_lane
    )


@lru_cache(maxsize=1 << 12)
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
        completed["repos"] = [repo_entry(commit, context)]
    if not isinstance(completed.get("review"), dict):
        completed["review"] = {"reviewer": commit.author_name, "verdict": "unspecified"}
    return completed
