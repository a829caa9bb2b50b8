"""spec-kitty's own view of a work package: the fold of its feature's status log.

spec-kitty 3.x's reducer (`specify_cli/status/reducer.py`) is the truth the dashboard must match:

- It takes the transitions of a feature's log, and keeps the first line of each event id.
- It sorts them by `(at, event_id)` as written, and folds them in that order.
- At an equal `at`, a rollback (back to in_progress out of review) beats a forward move.
- A forward move does not undo a rollback.
- A WP's lane is the `to_lane` of the transition its fold applied last.

Capture asks two things of it: where a WP stood before a commit, and which of the lines the
commit appended change that. Pure: no IO, nothing imported that a hook cannot afford.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from kitty_hooks.model.lanes import (
    CANONICAL_LANES,
    GENESIS,
    LANE_ALIASES,
    canonical_from_lane,
    canonical_lane,
)
from kitty_hooks.model.logline import LineError, parse_line

# Lane as written -> canonical (aliases resolved), for the tight loops below.
_CANONICAL = {**{lane: lane for lane in CANONICAL_LANES}, **LANE_ALIASES}


class Transition(NamedTuple):
    """One transition line of a status log, as the reducer orders and folds it."""

    at: str
    event_id: str
    wp_id: str
    from_lane: str | None
    """Canonical; None for a new work package (null or genesis)."""
    to_lane: str
    rollback: bool
    line: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.at, self.event_id)


def read_transition(line: dict[str, Any], *, default_at: str) -> Transition:
    """A transition line as the reducer sees it. Raises ValueError (UnknownLaneError is one),
    KeyError or TypeError for a line that is no transition it could fold.

    A line without a string `at` is ordered by default_at: spec-kitty would refuse the whole
    log; capture reads on.
    """
    event_id = line["event_id"]
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"event_id {event_id!r} is not an event id")
    wp_id = line["wp_id"]
    if not isinstance(wp_id, str) or not wp_id:
        raise ValueError(f"wp_id {wp_id!r} is not a work package id")
    # The lanes looked up, as canonical_lane and canonical_from_lane do (a scan reads tens of
    # thousands of lines); they say what is wrong with anything else.
    source = line.get("from_lane")
    from_lane = _CANONICAL.get(source) if source.__class__ is str else None
    if from_lane is None and source is not None:
        from_lane = canonical_from_lane(source)
    target = line["to_lane"]
    to_lane = _CANONICAL.get(target) if target.__class__ is str else None
    if to_lane is None:
        to_lane = canonical_lane(target)
    at = line.get("at")
    return Transition(
        at=at if isinstance(at, str) and at else default_at,
        event_id=event_id,
        wp_id=wp_id,
        from_lane=from_lane,
        to_lane=to_lane,
        rollback=to_lane == "in_progress"
        and is_rollback(from_lane, to_lane, line.get("review_ref")),
        line=line,
    )


def is_rollback(from_lane: str | None, to_lane: str, review_ref: Any) -> bool:
    """A reviewer sending work back: in_review -> in_progress, or (2.x) for_review ->
    in_progress with a review reference."""
    if to_lane != "in_progress":
        return False
    return from_lane == "in_review" or (from_lane == "for_review" and review_ref is not None)


def fold(events: Iterable[Transition]) -> list[Transition]:
    """The transitions of one work package that the reducer applies, in the order it applies
    them (the last one sets the lane). Events are deduplicated by id, the first kept."""
    unique: dict[str, Transition] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    applied: list[Transition] = []
    current: Transition | None = None
    for event in sorted(unique.values(), key=_sort_key):
        concurrent = current is not None and current.at == event.at
        if concurrent and current.rollback and not event.rollback:
            continue  # a forward move does not undo a concurrent rollback
        applied.append(event)
        current = event
    return applied


def fold_from(current: Transition | None, ordered: list[Transition]) -> list[Transition]:
    """What fold() applies of events that all sort after current (itself applied), in order."""
    applied: list[Transition] = []
    for event in ordered:
        concurrent = current is not None and current.at == event.at
        if concurrent and current.rollback and not event.rollback:
            continue
        applied.append(event)
        current = event
    return applied


def _sort_key(event: Transition) -> tuple[str, str]:
    return (event.at, event.event_id)


def lane_of(events: Iterable[Transition]) -> str | None:
    """The lane the reducer gives a work package (None: no transitions)."""
    applied = fold(events)
    return applied[-1].to_lane if applied else None


class WorkPackageMoves(NamedTuple):
    """What the lines a commit appended did to one work package's view."""

    wp_id: str
    before: Transition | None
    """The transition that set the lane before the commit (None: the WP had none)."""
    moves: list[Transition]
    """The appended transitions the fold applies after `before`, in (at, event_id) order."""
    after: Transition
    """The transition that sets the lane after the commit."""
    history: list[Transition]
    """Appended transitions that are not moves: they sort before the WP's latest transition, or
    the fold passes them over."""


class WorkPackageLog:
    """One work package's transitions in a log, and the one its fold applied last: appending
    to it folds on from there (a scan appends a line at a time to logs of thousands)."""

    __slots__ = ("events", "ids", "latest")

    def __init__(self, events: Iterable[Transition] = ()) -> None:
        self.events = list(events)
        self.ids = {event.event_id for event in self.events}
        applied = fold(self.events)
        self.latest = applied[-1] if applied else None

    def append(self, new: Iterable[Transition]) -> WorkPackageMoves | None:
        """Take in transitions appended to the log (ids it holds, and repeats, are dropped);
        their moves, or None when nothing new came."""
        fresh: list[Transition] = []
        for event in new:
            if event.event_id not in self.ids:
                self.ids.add(event.event_id)
                fresh.append(event)
        if not fresh:
            return None
        before = self.latest
        if len(fresh) == 1 and (before is None or fresh[0].key > before.key):
            # The common case: one line appended after the WP's latest transition.
            event = fresh[0]
            self.events.append(event)
            if (
                before is not None
                and before.at == event.at
                and before.rollback
                and not event.rollback
            ):
                return WorkPackageMoves(event.wp_id, before, [], before, [event])
            self.latest = event
            return WorkPackageMoves(event.wp_id, before, [event], event, [])
        ordered = sorted(fresh, key=_sort_key) if len(fresh) > 1 else fresh
        if before is None or ordered[0].key > before.key:
            # The common case, lines appended after the WP's latest: the fold goes on from it.
            moves = fold_from(before, ordered)
            after = moves[-1] if moves else before
        else:
            applied = fold([*self.events, *fresh])
            fresh_ids = {event.event_id for event in fresh}
            moves = [
                event
                for event in applied
                if event.event_id in fresh_ids and (before is None or event.key > before.key)
            ]
            after = applied[-1]
        self.events += fresh
        self.latest = after
        moved = {event.event_id for event in moves}
        history = [event for event in fresh if event.event_id not in moved]
        assert after is not None  # fresh is not empty: something was applied
        return WorkPackageMoves(fresh[0].wp_id, before, moves, after, history)


def appended_moves(old: list[Transition], new: list[Transition]) -> WorkPackageMoves | None:
    """The moves of one work package when `new` transitions are appended to a log that held
    `old` (ids already in `old`, and repeats within `new`, are dropped). None when nothing
    new was appended."""
    return WorkPackageLog(old).append(new)


_NOT_TRANSITIONS = frozenset(("kind", "type", "event_name", "event_type"))


def log_lanes(data: bytes, loads: Callable[[bytes], Any]) -> dict[str, str]:
    """WP id -> lane: fold() over every transition of a log's bytes, in one tight loop (a board
    reads every line of every log). Lines that are not plain transitions with string fields
    and known lanes are left out, as read_transition leaves them out. The same lanes as
    lane_of over read_transition's transitions (a property test holds the two together)."""
    per_wp: dict[str, list[tuple[str, str, str, bool]]] = {}
    seen: set[str] = set()
    canonical = _CANONICAL
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            line = loads(raw)
        except ValueError:
            try:  # what the standard parser alone reads (a lone surrogate), as parse_line does
                line = parse_line(raw)
            except LineError:
                continue
        if type(line) is not dict or "to_lane" not in line or not _NOT_TRANSITIONS.isdisjoint(line):
            continue
        event_id, wp_id, at = line.get("event_id"), line.get("wp_id"), line.get("at")
        if type(at) is not str or not at:
            at = ""  # as read_transition orders it for a board: first
        to_lane = canonical.get(line["to_lane"]) if isinstance(line["to_lane"], str) else None
        source = line.get("from_lane")
        if source is not None and source != GENESIS:
            source = canonical.get(source) if isinstance(source, str) else None
            if source is None:
                continue  # an unknown from-lane: no transition read_transition takes
        if (
            to_lane is None
            or type(event_id) is not str
            or not event_id
            or type(wp_id) is not str
            or not wp_id
            or event_id in seen
        ):
            continue
        seen.add(event_id)
        rollback = to_lane == "in_progress" and (
            source == "in_review" or (source == "for_review" and line.get("review_ref") is not None)
        )
        per_wp.setdefault(wp_id, []).append((at, event_id, to_lane, rollback))
    lanes: dict[str, str] = {}
    for wp_id, events in per_wp.items():
        events.sort()
        current = events[0]
        for event in events[1:]:
            if event[0] == current[0] and current[3] and not event[3]:
                continue  # a forward move does not undo a concurrent rollback
            current = event
        lanes[wp_id] = current[2]
    return lanes
