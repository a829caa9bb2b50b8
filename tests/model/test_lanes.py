from __future__ import annotations

import json

import pytest

from kitty_hooks.assets import schema_dir
from kitty_hooks.model import lanes
from kitty_hooks.model.lanes import (
    SyncTransition,
    UnknownLaneError,
    canonical_lane,
    collapse_transition,
)

SYNC_OF = {
    "planned": "planned",
    "claimed": "doing",
    "in_progress": "doing",
    "for_review": "for_review",
    "done": "done",
    "blocked": "doing",
    "canceled": "done",
    # spec-kitty-events' V1 sync table for the lanes spec-kitty added later.
    "in_review": "for_review",
    "approved": "done",
}


@pytest.mark.parametrize(("lane", "sync"), sorted(SYNC_OF.items()))
def test_every_canonical_lane_maps_to_its_sync_lane(lane: str, sync: str) -> None:
    assert canonical_lane(lane) == lane
    assert lanes.sync_lane(lane) == sync


def test_doing_is_an_alias_of_in_progress() -> None:
    assert canonical_lane("doing") == "in_progress"
    assert lanes.sync_lane("doing") == "doing"
    assert lanes.is_known_lane("doing")


@pytest.mark.parametrize(
    "value",
    ["", "Done", "DOING", " planned", "cancelled", "review", "uninitialized", None, 3, ["done"]],
)
def test_unknown_values_are_refused_with_the_accepted_names(value: object) -> None:
    assert not lanes.is_known_lane(value)
    with pytest.raises(UnknownLaneError) as caught:
        canonical_lane(value)
    assert (
        "expected one of planned, claimed, in_progress, for_review, in_review, approved, done, "
        "blocked, canceled, doing" in str(caught.value)
    )
    with pytest.raises(UnknownLaneError):
        collapse_transition("planned", value)  # type: ignore[arg-type]
    if value is not None:  # None on the from side is a new work package
        with pytest.raises(UnknownLaneError):
            collapse_transition(value, "planned")  # type: ignore[arg-type]


def test_terminal_lanes_are_done_and_canceled() -> None:
    assert {lane for lane in lanes.CANONICAL_LANES if lanes.is_terminal(lane)} == {
        "done",
        "canceled",
    }


@pytest.mark.parametrize("from_lane", [*lanes.CANONICAL_LANES, "doing"])
@pytest.mark.parametrize("to_lane", [*lanes.CANONICAL_LANES, "doing"])
def test_collapse_is_none_exactly_when_both_sides_share_a_sync_lane(
    from_lane: str, to_lane: str
) -> None:
    result = collapse_transition(from_lane, to_lane)
    from_sync, to_sync = lanes.sync_lane(from_lane), lanes.sync_lane(to_lane)
    if from_sync == to_sync:
        assert result is None
    else:
        assert result == SyncTransition(from_sync, to_sync)


def test_in_progress_to_blocked_is_a_no_op() -> None:
    assert collapse_transition("in_progress", "blocked") is None


@pytest.mark.parametrize("to_lane", lanes.CANONICAL_LANES)
def test_a_new_work_package_is_never_a_no_op(to_lane: str) -> None:
    assert collapse_transition(None, to_lane) == SyncTransition(None, SYNC_OF[to_lane])


def test_schema_lane_enums_match_the_lane_table() -> None:
    defs = json.loads((schema_dir() / "lanes.schema.json").read_text())["$defs"]
    assert defs["canonical_lane"]["enum"] == list(lanes.CANONICAL_LANES)
    assert defs["lane_or_alias"]["enum"] == list(lanes.ACCEPTED_LANE_NAMES)
    assert defs["from_lane"]["enum"] == [*lanes.ACCEPTED_FROM_LANE_NAMES, None]
    assert defs["sync_lane"]["enum"] == list(lanes.SYNC_LANES)
    assert set(SYNC_OF.values()) == set(lanes.SYNC_LANES)
    assert set(SYNC_OF) == set(lanes.CANONICAL_LANES)


def test_genesis_is_a_new_work_package_and_never_a_to_lane() -> None:
    assert collapse_transition("genesis", "planned") == SyncTransition(None, "planned")
    assert lanes.canonical_from_lane("genesis") is None
    assert not lanes.is_known_lane("genesis")
    with pytest.raises(UnknownLaneError, match="genesis is a from-lane only"):
        collapse_transition("planned", "genesis")


def test_approved_to_done_and_review_hand_offs_collapse_to_nothing_new() -> None:
    assert collapse_transition("approved", "done") is None
    assert collapse_transition("for_review", "in_review") is None
    assert collapse_transition("in_review", "approved") == SyncTransition("for_review", "done")


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        ("reviewing", "in_review"),
        ("cancelled", "canceled"),
        ("Done", "done"),
        ("for-review", "for_review"),
    ],
)
def test_a_mistyped_lane_is_recognised(value: str, meant: str) -> None:
    assert lanes.lane_meant_by(value) == meant


@pytest.mark.parametrize("value", ["a", "lane-a", "lane-planning"])
def test_3x_execution_lanes_are_no_mistyped_lanes(value: str) -> None:
    assert lanes.is_execution_lane(value)
    assert lanes.lane_meant_by(value) is None
