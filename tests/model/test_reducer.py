"""spec-kitty's fold of a log (model/reducer.py), against the tests' own reducer (tests/board.py,
written from spec-kitty's rules) on generated logs: the tight loop a board uses and the
per-transition fold capture uses give the same lanes."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from kitty_hooks.capture.commit_context import CommitContext
from kitty_hooks.capture.log_changes import transitions_by_wp
from kitty_hooks.model.reducer import appended_moves, lane_of, log_lanes
from tests import board

LANES = ["planned", "claimed", "in_progress", "doing", "for_review", "in_review", "approved",
         "done", "blocked", "canceled"]  # fmt: skip
CONTEXT = CommitContext("direct_repo", None, lambda: "", loads=orjson.loads)


@st.composite
def log_line(draw: st.DrawFn) -> str:
    number = draw(st.integers(0, 30))
    fields = {
        "event_id": f"01JD3Q9Z6C8W4S0Y2X5V7T{number:04d}",
        "wp_id": f"WP0{number % 4}",  # an id names one WP, as spec-kitty writes them
        "from_lane": draw(st.sampled_from([None, "genesis", *LANES])),
        "to_lane": draw(st.sampled_from(LANES)),
        "at": f"2026-11-2{draw(st.integers(0, 3))}T10:00:00+00:00",
        "review_ref": draw(st.sampled_from([None, "abc1234"])),
        "force": False,
    }
    kind = draw(st.sampled_from(["transition"] * 6 + ["annotation", "bad lane", "not json"]))
    if kind == "annotation":
        fields["kind"] = "annotation"
    elif kind == "bad lane":
        fields["to_lane"] = "nowhere"
    elif kind == "not json":
        return "{oops"
    return json.dumps(fields)


@given(st.lists(log_line(), max_size=40))
def test_every_fold_of_a_log_gives_spec_kittys_lanes(lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    expected = board.reduce_log(data.decode())
    assert log_lanes(data, orjson.loads) == expected
    per_wp = transitions_by_wp(data, CONTEXT)
    assert {wp: lane_of(events) for wp, events in per_wp.items()} == expected


@given(st.lists(log_line(), max_size=30), st.lists(log_line(), min_size=1, max_size=10))
def test_the_last_move_of_an_append_is_where_the_fold_leaves_the_wp(
    old_lines: list[str], new_lines: list[str]
) -> None:
    old = transitions_by_wp(("\n".join(old_lines) + "\n").encode(), CONTEXT)
    new = transitions_by_wp(("\n".join(new_lines) + "\n").encode(), CONTEXT)
    for wp_id, fresh in new.items():
        found = appended_moves(old.get(wp_id, []), fresh)
        if found is None:
            continue
        after = lane_of([*old.get(wp_id, []), *fresh])
        assert found.after.to_lane == after
        if found.moves:
            # Moves sort after where the WP stood, in order; history sorts before it.
            keys = [m.key for m in found.moves]
            assert keys == sorted(keys)
            if found.before is not None:
                assert keys[0] > found.before.key
