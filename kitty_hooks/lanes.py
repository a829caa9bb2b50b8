"""The lanes a work package moves through, and the one table that maps them to sync lanes.

Nothing else in the package defines lane names or the 7 → 4 mapping: import from here.
"""

from __future__ import annotations

from dataclasses import dataclass

CANONICAL_LANES: tuple[str, ...] = (
    "planned",
    "claimed",
    "in_progress",
    "for_review",
    "done",
    "blocked",
    "canceled",
)
LANE_ALIASES: dict[str, str] = {"doing": "in_progress"}
TERMINAL_LANES: frozenset[str] = frozenset({"done", "canceled"})
SYNC_LANES: tuple[str, ...] = ("planned", "doing", "for_review", "done")

# The fixed table of DESIGN.md: canonical lane -> the lane the SaaS dashboard knows.
_SYNC_LANE_OF: dict[str, str] = {
    "planned": "planned",
    "claimed": "doing",
    "in_progress": "doing",
    "for_review": "for_review",
    "done": "done",
    "blocked": "doing",
    "canceled": "done",
}

ACCEPTED_LANE_NAMES: tuple[str, ...] = CANONICAL_LANES + tuple(LANE_ALIASES)


class UnknownLaneError(ValueError):
    """A lane value that is neither a canonical lane nor an accepted alias."""

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"unknown lane {value!r} (expected one of {', '.join(ACCEPTED_LANE_NAMES)})"
        )


def is_known_lane(value: object) -> bool:
    return isinstance(value, str) and (value in _SYNC_LANE_OF or value in LANE_ALIASES)


def canonical_lane(value: object) -> str:
    """The canonical lane for a lane name or alias; exact spelling, no guessing at case."""
    if isinstance(value, str):
        if value in _SYNC_LANE_OF:
            return value
        alias_of = LANE_ALIASES.get(value)
        if alias_of is not None:
            return alias_of
    raise UnknownLaneError(value)


def sync_lane(value: object) -> str:
    """The 4-lane sync value of a lane name or alias."""
    return _SYNC_LANE_OF[canonical_lane(value)]


def is_terminal(value: object) -> bool:
    return canonical_lane(value) in TERMINAL_LANES


@dataclass(frozen=True)
class SyncTransition:
    """A lane change as the SaaS sees it: both sides in sync lanes (from is None for a new WP)."""

    from_lane: str | None
    to_lane: str


def collapse_transition(from_lane: str | None, to_lane: str) -> SyncTransition | None:
    """Map a canonical transition to sync lanes; None when it collapses to a no-op.

    in_progress -> blocked is doing -> doing and is not sent. A new WP (from None) is never a
    no-op. Raises UnknownLaneError for a value on either side that is not a lane.
    """
    to_sync = sync_lane(to_lane)
    if from_lane is None:
        return SyncTransition(None, to_sync)
    from_sync = sync_lane(from_lane)
    if from_sync == to_sync:
        return None
    return SyncTransition(from_sync, to_sync)
