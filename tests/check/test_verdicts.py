"""The gate's light path (check.verdicts: plain-Python verdicts and JSON reading) gives what the
compiled path (jsonschema-rs, orjson) gives: the same verdict on every event and the same words
for every failure, over the lines spec-kitty really writes and corrupted copies of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kitty_hooks.check import validation, verdicts
from kitty_hooks.check.results import DiagnoseReport
from kitty_hooks.check.statuslog import check_log

UPSTREAM = Path(__file__).parent.parent / "upstream"
RECORDED = [
    line
    for log in sorted(UPSTREAM.rglob("status.events.jsonl"))
    for line in log.read_bytes().splitlines()
    if line.strip()
]
SCHEMAS = [
    validation.LOG_LINE_SCHEMA,
    validation.LOG_ENVELOPE_SCHEMA,
    validation.LOG_RECORD_SCHEMA,
    validation.ENVELOPE_SCHEMA,
    validation.TRANSITION_PAYLOAD_SCHEMA,
]

# Values that sit on the edges where Python and jsonschema-rs could judge apart: bool against
# 0/1, integral floats, 64-bit limits, white space Python's \s takes and Rust's does not, a
# newline before the end that Python's $ lets through, case in ids, lanes and aliases.
EDGES = st.sampled_from(
    [
        None, True, False, 0, 1, -1, 1.0, 1.5, 4, 5, 4.0, -0.0, 2**63 - 1, 2**64 - 1, -(2**63),
        "", " ", "\x1c", "\x1f", "\u00a0", "\u3000", "\u200b", "x", "x\n", "\nx",
        "1.0.0", "1.0.0\n", "01.0.0", "1.0", "WP01", "WP01\n", "wp01", "WP", "039-x", "-039",
        "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z\n", "2026-11-20T10:00:00",
        "01JD3Q9Z6C8W4S0Y2X5V7T1R3N", "01jd3q9z6c8w4s0y2x5v7t1r3n", "81JD3Q9Z6C8W4S0Y2X5V7T1R3N",
        "550e8400-e29b-41d4-a716-446655440000", "550e8400e29b41d4a716446655440000",
        "planned", "claimed", "in_progress", "doing", "for_review", "in_review", "approved",
        "done", "blocked", "canceled", "genesis", "uninitialized", "worktree", "direct_repo",
        "unknown", "Planned", "abc1234", "ABC", "WPStatusChanged", "wPStatus",
        [], [None], ["x"], {}, {"reviewer": "x", "verdict": "ok"},
        {"repos": [], "review": {"reviewer": "x", "verdict": "y"}},
        {"name": "x"}, {"role": "implementer"},
    ]
)  # fmt: skip
JSON_VALUES = st.recursive(
    EDGES | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(
    [
        "event_id", "at", "wp_id", "from_lane", "to_lane", "actor", "force", "reason",
        "execution_mode", "review_ref", "evidence", "feature_slug", "mission_slug", "mission_id",
        "review_result", "kind", "type", "event_type", "payload", "timestamp", "node_id",
        "lamport_clock", "causation_id", "correlation_id", "project_uuid", "project_slug",
        "schema_version", "data_tier", "aggregate_id", "policy_metadata", "event_name",
    ]
)  # fmt: skip


def _corrupt(event: Any, draw: Any) -> Any:
    """The event with a few fields set to edge values or removed, at the top or one level down."""
    event = copy.deepcopy(event)
    for _ in range(draw(st.integers(1, 3))):
        target = event
        nested = [k for k, v in event.items() if isinstance(v, dict)]
        if nested and draw(st.booleans()):
            target = event[draw(st.sampled_from(nested))]
        name = draw(NAMES | st.sampled_from(sorted(target) or ["x"]))
        if name in target and draw(st.integers(0, 4)) == 0:
            del target[name]
        else:
            target[name] = copy.deepcopy(draw(JSON_VALUES))
    return event


@st.composite
def corrupted_events(draw: Any) -> Any:
    event = orjson.loads(draw(st.sampled_from(RECORDED)))
    return _corrupt(event, draw) if draw(st.integers(0, 5)) else event


@given(event=corrupted_events())
def test_every_schema_gives_the_same_verdict_in_python_as_in_jsonschema_rs(event: Any) -> None:
    compiler = verdicts.Compiler(validation.load_schemas())
    for schema in SCHEMAS:
        expected = validation.is_valid(schema, event)
        assert compiler.check_of(schema)(event) is expected, (schema, event)


def test_every_recorded_upstream_line_is_judged_alike() -> None:
    compiler = verdicts.Compiler(validation.load_schemas())
    checks = {schema: compiler.check_of(schema) for schema in SCHEMAS}
    for line in RECORDED:
        event = orjson.loads(line)
        for schema in SCHEMAS:
            assert checks[schema](event) is validation.is_valid(schema, event), (schema, line)


# Bytes that break JSON or sit where json and orjson read apart.
BREAKS = st.sampled_from(
    [
        b"", b"{", b"}", b",", b'"', b"\\", b"\n", b"\xff", b"\xef\xbb\xbf", b"\x00", b" ",
        b'"\\ud800"', b'"\\ud83d\\ude00"', b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400",
        b"18446744073709551616", b"-9223372036854775809", b"9" * 30, b"1.0", b"-0",
        b"[" * 1100 + b"]" * 1100, b"[" * 990 + b"]" * 990, b"true", b"null",
    ]
)  # fmt: skip


@st.composite
def log_lines(draw: Any) -> bytes:
    """A recorded line as it was, re-serialised after corruption, or with bytes spliced in."""
    how = draw(st.integers(0, 3))
    if how == 0:
        return draw(st.sampled_from(RECORDED))
    if how == 1:
        return json.dumps(draw(corrupted_events())).encode()
    line = draw(st.sampled_from(RECORDED))
    at = draw(st.integers(0, len(line)))
    cut = draw(st.integers(0, 3))
    return line[:at] + draw(BREAKS) + line[at + cut :]


def _report(data: bytes, *, light: bool, first_line: int) -> tuple[Any, ...]:
    report = DiagnoseReport()
    check_log("kitty-specs/x/status.events.jsonl", data, report, first_line=first_line, light=light)
    return (
        [p._asdict() for p in report.problems],
        [r._asdict() for r in report.results],
        report.event_count,
        report.invalid_count,
    )


@given(lines=st.lists(log_lines(), min_size=1, max_size=5), first_line=st.sampled_from([1, 7]))
@example(
    lines=[b'{"event_id": "x", "to_lane": "planned", "n": 18446744073709551616}'], first_line=1
)
@example(lines=[b'{"to_lane": "x", "s": "\\ud800"}'], first_line=1)
def test_the_light_path_reports_every_line_as_the_compiled_path_does(
    lines: list[bytes], first_line: int
) -> None:
    data = b"\n".join(lines) + b"\n"
    assert _report(data, light=True, first_line=first_line) == _report(
        data, light=False, first_line=first_line
    )


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_schema_is_judged_in_python_not_handed_back(schema: str) -> None:
    """A schema keyword the light path does not know would silently load jsonschema-rs on
    every gated commit: this says which."""
    verdicts.Compiler(validation.load_schemas()).check_of(schema)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[0-9]+$", "12\n", False),  # Python's $ takes a final newline; Rust's does not
        ("\\S", "\x1c", True),  # a separator: no white space in Rust, white space in Python
        ("\\S", "\u3000", False),
        ("^(urn:)?[{]*x$", "{{x", True),
    ],
)
def test_patterns_match_as_jsonschema_rs_matches(pattern: str, text: str, matches: bool) -> None:
    import re

    import jsonschema_rs

    assert jsonschema_rs.is_valid({"pattern": pattern}, text) is matches
    assert (re.search(verdicts.ecma_pattern(pattern), text) is not None) is matches


def test_a_pattern_whose_meaning_may_differ_is_handed_back() -> None:
    for pattern in ("^a.b$", "\\d+", "\\w", "[\\s]"):
        with pytest.raises(verdicts.Unsupported):
            verdicts.ecma_pattern(pattern)


# --- WP frontmatter: plain lines read without PyYAML ---------------------------------------

PLAIN_PIECES = st.sampled_from(
    [
        "lane: done", "lane: \"for_review\"", "lane: 'planned'", "lane: doing  # moved",
        "lane:  claimed", "lane: done#x", "lane : done", "lane:\tdone", "lane: ", "lane:",
        "title: 'a: b'", "title: \"a: b\"", "title: 'it''s'", "title: \"a\\tb\"", "title: a b",
        "dependencies: []", "dependencies: [WP01]", "dependencies:", "- WP01", "  - x",
        "work_package_id: WP01", "yes: 1", "on: x", "key: yes", "key: No", "key: null",
        "key: ~", "key: 12", "key: 1e3", "key: 0x1F", "key: 2026-01-01", "key: .inf",
        "key: y", "key: _x", "key: a/b.c-d", "key: \"\"", "key: ''", "key: 'x' # c",
        "key: \"x\"#c", "# a comment", "   ", "", "  # indented", "lane: done", "Lane: x",
        "key: caf\u00e9", "key: 'caf\u00e9'", "key: \"\x01\"", "key: '\x7f'", "%YAML 1.1",
        "key: &a x", "key: *a", "key: !!str 1", "key: [", "key: {}", "key: |",
    ]
)  # fmt: skip


@given(lines=st.lists(PLAIN_PIECES, max_size=6))
@example(lines=["lane: done", "lane: planned"])
def test_plain_frontmatter_reads_as_pyyaml_reads_it(lines: list[str]) -> None:
    from kitty_hooks.model.frontmatter import (
        FrontmatterError,
        parse_frontmatter,
        parse_plain_frontmatter,
    )

    text = "---\n" + "\n".join(lines) + "\n---\n# body\n"
    plain = parse_plain_frontmatter(text)
    if plain is None:
        return  # PyYAML reads it
    try:
        expected = parse_frontmatter(text)
    except FrontmatterError as exc:
        pytest.fail(f"read plainly as {plain}, but PyYAML refuses it: {exc}")
    assert plain == expected


# --- the schemas' patterns without re -----------------------------------------------------


def _schema_patterns() -> list[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.add(value)
                elif key not in ("properties", "$defs") or isinstance(value, dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(validation.load_schemas())
    return sorted(found)


PATTERNS = _schema_patterns()
PATTERN_TEXT = st.text(
    alphabet=st.sampled_from("0179aAfFzZ-_.:+TZIOU{}urnid \t\n\x1c\u3000\u00e9\u0660")
    | st.characters(codec="utf-8"),  # no lone surrogates: no JSON text holds one
    max_size=70,
)


@st.composite
def near_matches(draw: Any) -> str:
    """Values the schemas accept, then cut, doubled or with a character changed."""
    text = draw(
        st.sampled_from(
            [
                "01JD3Q9Z6C8W4S0Y2X5V7T1R3N", "550e8400-e29b-41d4-a716-446655440000",
                "550e8400e29b41d4a716446655440000", "urn:uuid:{550e8400-e29b-41d4-a716-446655440000}",
                "2026-11-20T10:00:00.123+05:30", "2026-11-20T23:59:59Z", "1.0.0", "WP01",
                "WP12a.b-c", "039-cli", "WPStatusChanged", "abc1234", "direct_repo", "x",
            ]
        )
    )  # fmt: skip
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(PATTERN_TEXT) + text[at + draw(st.integers(0, 2)) :]
    return text


@given(text=near_matches() | PATTERN_TEXT)
@example(text="\x85")  # NEL: white space to Python's re, not to jsonschema-rs
@example(text="\ufeff")  # BOM: white space to jsonschema-rs, not to Python's re
def test_every_schema_pattern_matches_without_re_as_with_re_and_jsonschema_rs(text: str) -> None:
    import re

    import jsonschema_rs

    from kitty_hooks.check import patterns

    for pattern in PATTERNS:
        expected = jsonschema_rs.is_valid({"pattern": pattern}, text)
        assert (re.search(verdicts.ecma_pattern(pattern), text) is not None) is expected
        assert patterns.compile_pattern(pattern)(text) is expected, (pattern, text)


def test_every_schema_pattern_is_matched_without_re() -> None:
    from kitty_hooks.check import patterns

    assert len(PATTERNS) >= 10
    for pattern in PATTERNS:
        patterns.compile_pattern(pattern)


@pytest.mark.parametrize("pattern", ["a.b", "\\d", "(?:x)", "a*?", "[\\s]", "a{x}", "[]a]", "(a"])
def test_a_construct_the_matcher_does_not_take_is_handed_to_re(pattern: str) -> None:
    from kitty_hooks.check import patterns

    with pytest.raises(patterns.Unsupported):
        patterns.compile_pattern(pattern)
