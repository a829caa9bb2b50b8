"""The lanes a work package moves through, and the one table that maps them to sync lanes.

Nothing else in the package defines lane names or the lane → sync mapping: import from here.

- The seed's 7 lanes keep the seed's table (claimed → doing, canceled → done).
- The lanes spec-kitty added later follow spec-kitty-events' V1 sync table: 2.1.3's `approved`
  → done, 3.x's `in_review` → for_review.
- 3.x's `genesis` is where a new work package comes from: a from-lane only, sent as
  `from_lane: null`.
"""

from __future__ import annotations

from typing import NamedTuple

# Every lane a work package can be in, as spec-kitty writes it (2.0: the first 7; 2.1.3 adds
# approved; 3.x adds in_review).
CANONICAL_LANES: tuple[str, ...] = (
    "planned",
    "claimed",
    "in_progress",
    "for_review",
    "in_review",
    "approved",
    "done",
    "blocked",
    "canceled",
)
LANE_ALIASES: dict[str, str] = {"doing": "in_progress"}
# 3.x's from-lane of a work package's first transition: "it did not exist before".
GENESIS = "genesis"
TERMINAL_LANES: frozenset[str] = frozenset({"done", "canceled"})
SYNC_LANES: tuple[str, ...] = ("planned", "doing", "for_review", "done")

# The one table: lane as written -> the lane the SaaS dashboard knows (None: no lane, new WP).
_SYNC_LANE_OF: dict[str, str | None] = {
    "planned": "planned",
    "claimed": "doing",
    "in_progress": "doing",
    "for_review": "for_review",
    "in_review": "for_review",
    "approved": "done",
    "done": "done",
    "blocked": "doing",
    "canceled": "done",
    GENESIS: None,
}

# Every lane name and alias -> its sync lane, for the hot paths (genesis is no lane: absent).
_SYNC_OF_NAME: dict[str, str] = {
    name: synced
    for name, lane in [*((lane, lane) for lane in CANONICAL_LANES), *LANE_ALIASES.items()]
    if (synced := _SYNC_LANE_OF[lane]) is not None
}

ACCEPTED_LANE_NAMES: tuple[str, ...] = CANONICAL_LANES + tuple(LANE_ALIASES)
# What a log line's from_lane may say: a lane, an alias, or genesis (null is checked apart).
ACCEPTED_FROM_LANE_NAMES: tuple[str, ...] = (*ACCEPTED_LANE_NAMES, GENESIS)


class UnknownLaneError(ValueError):
    """A lane value that is neither a lane nor an accepted alias (nor genesis, on the from side)."""

    def __init__(self, value: object, *, side: str = "to") -> None:
        self.value = value
        names = ACCEPTED_FROM_LANE_NAMES if side == "from" else ACCEPTED_LANE_NAMES
        if value == GENESIS and side == "to":
            message = "genesis is a from-lane only: no work package moves into it"
        else:
            message = f"unknown lane {value!r} (expected one of {', '.join(names)})"
        super().__init__(message)


def is_known_lane(value: object) -> bool:
    """A lane a work package can be in (genesis is not one)."""
    return isinstance(value, str) and (value in CANONICAL_LANES or value in LANE_ALIASES)


def canonical_lane(value: object) -> str:
    """The lane for a lane name or alias; exact spelling, no guessing at case."""
    if isinstance(value, str):
        if value in CANONICAL_LANES:
            return value
        alias_of = LANE_ALIASES.get(value)
        if alias_of is not None:
            return alias_of
    raise UnknownLaneError(value)


def canonical_from_lane(value: object) -> str | None:
    """The from side of a transition: None (and genesis) for a new work package, else a lane."""
    if value is None or value == GENESIS:
        return None
    try:
        return canonical_lane(value)
    except UnknownLaneError:
        raise UnknownLaneError(value, side="from") from None


def sync_lane(value: object) -> str:
    """The 4-lane sync value of a lane name or alias."""
    synced = _SYNC_OF_NAME.get(value) if value.__class__ is str else None
    if synced is None:
        synced = _SYNC_LANE_OF[canonical_lane(value)]  # raises for what is no lane
        assert synced is not None  # only genesis has none, and it is no lane
    return synced


def is_terminal(value: object) -> bool:
    return canonical_lane(value) in TERMINAL_LANES


class SyncTransition(NamedTuple):
    """A lane change as the SaaS sees it: both sides in sync lanes (from is None for a new WP)."""

    from_lane: str | None
    to_lane: str


def collapse_transition(from_lane: str | None, to_lane: str) -> SyncTransition | None:
    """Map a transition to sync lanes; None when it collapses to a no-op.

    in_progress -> blocked is doing -> doing and approved -> done is done -> done: neither is
    sent. A new WP (from None or genesis) is never a no-op. Raises UnknownLaneError for a value
    on either side that is not a lane (and for genesis on the to side).
    """
    to_sync = sync_lane(to_lane)
    from_sync = _SYNC_OF_NAME.get(from_lane) if from_lane.__class__ is str else None
    if from_sync is None:  # the lookup above is the common case; this says what is wrong
        from_canonical = canonical_from_lane(from_lane)
        if from_canonical is None:
            return SyncTransition(None, to_sync)
        from_sync = sync_lane(from_canonical)
    if from_sync == to_sync:
        return None
    return SyncTransition(from_sync, to_sync)


# 3.x keeps a work package's lane in the log; a WP file's `lane:` may then name the execution
# lane (parallel branch) it runs in: `lane-a`, `lane-planning`, or a bare letter.
_EXECUTION_LANE_PREFIX = "lane-"


def is_execution_lane(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith(_EXECUTION_LANE_PREFIX):
        rest = value[len(_EXECUTION_LANE_PREFIX) :]
        return bool(rest) and all(c.isalnum() or c == "-" for c in rest)
    return len(value) == 1 and value.isalpha()


def lane_meant_by(value: object) -> str | None:
    """The lane a mistyped lane value most likely meant ("reviewing" -> in_review), else None."""
    if not isinstance(value, str) or is_execution_lane(value):
        return None
    import difflib

    cleaned = value.strip().lower().replace("-", "_").replace(" ", "_")
    if cleaned in ACCEPTED_LANE_NAMES:
        return canonical_lane(cleaned)
    close = difflib.get_close_matches(cleaned, ACCEPTED_LANE_NAMES, n=1, cutoff=0.6)
    return canonical_lane(close[0]) if close else None
