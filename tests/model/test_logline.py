"""Parsing and sorting the lines of status.events.jsonl: whatever the bytes, one clear answer."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kitty_hooks.model.logline import LineError, LineKind, event_id_of, line_kind, parse_line

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("fast", [None, orjson.loads], ids=["json", "orjson"])
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_an_object_or_a_line_error(fast: object, raw: bytes) -> None:
    try:
        assert isinstance(parse_line(raw, fast_loads=fast), dict)  # type: ignore[arg-type]
    except LineError as exc:
        assert str(exc)


@pytest.mark.parametrize("fast", [None, orjson.loads], ids=["json", "orjson"])
@given(value=st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_a_json_object_reads_back_as_itself(fast: object, value: dict) -> None:
    raw = json.dumps(value).encode()
    huge = [v for v in _leaves(value) if type(v) is int and not -(1 << 63) <= v < 1 << 64]
    if not huge:
        assert parse_line(raw, fast_loads=fast) == value  # type: ignore[arg-type]
    elif fast is None:
        # No event field takes more than 64 bits (orjson reads such a number as a float).
        with pytest.raises(LineError, match="larger than any event field takes"):
            parse_line(raw)


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"lamport_clock": ' + b"1" * 5000 + b"}", "a 5,000-digit number"),
        (b"[" + b"1" * 5000 + b"]", "a 5,000-digit number"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff{}", "not valid UTF-8 (byte 0xff at column 1)"),
        (b"[1, 2]", "is a JSON array, expected one JSON object per line"),
        (b"x" * (1 << 20) + b"x", "over the 1,048,576-byte limit"),
    ],
)
def test_hostile_lines_get_one_clear_error(raw: bytes, message: str) -> None:
    for fast in (None, orjson.loads):
        with pytest.raises(LineError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_line(raw, fast_loads=fast)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (
            {"event_id": "x", "wp_id": "WP01", "from_lane": "planned", "to_lane": "claimed"},
            LineKind.TRANSITION,
        ),
        ({"event_id": "x", "mission_slug": "a", "to_lane": "done"}, LineKind.TRANSITION),
        ({"event_id": "x", "force": True}, LineKind.TRANSITION),
        ({"event_id": "x", "event_type": "MissionCreated", "payload": {}}, LineKind.ENVELOPE),
        ({"event_id": "x", "kind": "annotation", "wp_id": "WP01"}, LineKind.ANNOTATION),
        ({"event_id": "x", "kind": "something-new"}, LineKind.UNKNOWN),
        ({"event_id": "x", "type": "RetrospectiveCaptured"}, LineKind.RECORD),
        ({"event_id": "x", "event_name": "retrospective.captured"}, LineKind.RECORD),
        (
            {"event_id": "x", "type": "Stray", "wp_id": "WP01", "to_lane": "done"},
            LineKind.TRANSITION,
        ),
        ({"event_id": "x"}, LineKind.UNKNOWN),
        ({}, LineKind.UNKNOWN),
    ],
)
def test_each_line_is_told_by_what_it_carries(line: dict, kind: LineKind) -> None:
    assert line_kind(line) is kind


def test_a_retrospective_record_about_one_wp_is_still_a_record() -> None:
    record = {"event_id": "x", "type": "RetrospectiveCaptured", "wp_id": "WP01", "force": False}
    assert line_kind(record) is LineKind.RECORD


@pytest.mark.parametrize("fast", [None, orjson.loads], ids=["json", "orjson"])
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"lamport_clock": 18446744073709551616}', "larger than any event field takes"),
        (b'{"x": NaN}', "holds NaN, which is not JSON"),
        (b'{"x": -Infinity}', "holds -Infinity, which is not JSON"),
    ],
)
def test_what_only_one_parser_would_read_is_refused_by_both(
    fast: object, raw: bytes, message: str
) -> None:
    with pytest.raises(LineError, match=message):
        parse_line(raw, fast_loads=fast)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "event_id"),
    [
        (b'{"event_id": "01JD", "to_lane": "done"}', "01JD"),
        (b'{"a": {"event_id": "NESTED"}, "event_id": "TOP"}', "TOP"),
        (b'{"event_id": "A\\u00e9"}', "A\u00e9"),
        (b'{"event_id": 5}', None),
        (b'{"event_id": "X"', None),
        (b"[1]", None),
    ],
)
def test_a_line_s_event_id_is_its_own(raw: bytes, event_id: str | None) -> None:
    assert event_id_of(raw) == event_id
