"""Every business rule in schemas/, with a valid and an invalid case, on both validators."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import jsonschema
import pytest

from kitty_hooks.assets import schema_dir
from kitty_hooks.check import validation

ULID = "01JD3Q9Z6C8W4S0Y2X5V7T1R3N"
EVIDENCE = {
    "repos": [{"repo": "kitty/cli", "branch": "main", "commit": "3f2a9c1"}],
    "review": {"reviewer": "Grace", "verdict": "approved", "reference": "PR#12"},
}
LOG_LINE: dict[str, Any] = {
    "event_id": ULID,
    "feature_slug": "039-cli-2x-readiness",
    "wp_id": "WP01",
    "from_lane": "planned",
    "to_lane": "claimed",
    "at": "2026-11-20T10:00:00.123456+00:00",
    "actor": "ada",
    "force": False,
    "execution_mode": "worktree",
    "reason": None,
    "review_ref": None,
    "evidence": None,
    "policy_metadata": None,
}
ENVELOPE: dict[str, Any] = {
    "event_id": ULID,
    "event_type": "WPStatusChanged",
    "aggregate_id": "WP01",
    "payload": {
        "feature_slug": "039-cli-2x-readiness",
        "wp_id": "WP01",
        "from_lane": "planned",
        "to_lane": "doing",
        "actor": "ada",
        "force": False,
        "reason": None,
        "execution_mode": "direct_repo",
        "review_ref": None,
        "evidence": None,
    },
    "timestamp": "2026-11-20T10:00:00Z",
    "node_id": "b805cd5cee74",
    "lamport_clock": 0,
    "causation_id": None,
    "project_uuid": "63c8d621-4b64-48e2-86fc-56c667068f2f",
    "project_slug": "kitty-cli",
    "correlation_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3P",
    "schema_version": "1.0.0",
    "data_tier": 0,
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of base with the dotted path set (the sentinel DELETE removes it)."""
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return result


DELETE = object()


def _verdicts(schema: str, instance: Any) -> tuple[bool, list[validation.SchemaViolation]]:
    """Our verdict and its explanation, held against python-jsonschema as an independent judge."""
    fast = validation.is_valid(schema, instance)
    explained = validation.explain(schema, instance)
    assert fast == (explained == []), f"decision and explanation disagree on {instance!r}"
    assert fast == _referee(schema).is_valid(instance), f"validators disagree on {instance!r}"
    return fast, explained


@functools.cache
def _referee(schema: str) -> jsonschema.Draft202012Validator:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schemas = validation.load_schemas()
    registry: Registry[Any] = Registry().with_resources(
        (validation.SCHEMA_BASE_URI + name, DRAFT202012.create_resource(contents))
        for name, contents in schemas.items()
    )
    return jsonschema.Draft202012Validator(schemas[schema], registry=registry)


STRUCTURED_ACTOR = {"role": "implementer", "profile": "python-pro", "tool": "claude", "model": None}
REVIEW = {"reviewer": "Grace", "verdict": "approved", "reference": "PR#12"}
LOG_CASES_VALID = [
    ("plain move", {}),
    ("new WP", {"from_lane": None, "to_lane": "planned"}),
    ("3.x genesis seed", {"from_lane": "genesis", "to_lane": "planned"}),
    ("forced with reason", {"force": True, "reason": "hotfix"}),
    ("done with evidence", {"from_lane": "for_review", "to_lane": "done", "evidence": EVIDENCE}),
    ("done with a review only (2.1.3)", {"to_lane": "done", "evidence": {"review": REVIEW}}),
    ("done with no repos listed", {"to_lane": "done", "evidence": {**EVIDENCE, "repos": []}}),
    (
        "forced done with null evidence (bootstrap)",
        {"to_lane": "done", "force": True, "reason": "x"},
    ),
    (
        "3.x approval from in_review by its review_result",
        {"from_lane": "in_review", "to_lane": "approved", "review_result": REVIEW},
    ),
    ("forced approval without evidence", {"to_lane": "approved", "force": True, "reason": "x"}),
    ("in_review (3.x)", {"from_lane": "for_review", "to_lane": "in_review"}),
    (
        "rollback with review ref",
        {"from_lane": "for_review", "to_lane": "in_progress", "review_ref": "r1"},
    ),
    (
        "rollback with a review result (3.x)",
        {"from_lane": "for_review", "to_lane": "in_progress", "review_result": REVIEW},
    ),
    (
        "forced rollback skips the review guard",
        {"from_lane": "for_review", "to_lane": "in_progress", "force": True, "reason": "x"},
    ),
    ("doing alias", {"to_lane": "doing"}),
    ("Z timestamp", {"at": "2026-11-20T10:00:00Z"}),
    ("unknown extra field", {"something_new": [1, 2]}),
    ("lowercase commit evidence", {"to_lane": "done", "evidence": EVIDENCE}),
    ("lowercase ULID", {"event_id": ULID.lower()}),
    ("hyphenated UUID event id", {"event_id": "0b6c3f1e-8d2a-4c1b-9e7f-2a5d6c8b9e01"}),
    ("bare hex UUID event id", {"event_id": "0b6c3f1e8d2a4c1b9e7f2a5d6c8b9e01"}),
    (
        "3.x mission line",
        {
            "feature_slug": DELETE,
            "mission_slug": "039-cli-2x-readiness",
            "mission_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3P",
            "actor": STRUCTURED_ACTOR,
            "review_result": None,
            "reason_source": None,
        },
    ),
    ("3.x rebuilt execution mode", {"execution_mode": "unknown"}),
]
LOG_CASES_INVALID = [
    ("forced without reason", {"force": True}, "$.reason"),
    ("forced with empty reason", {"force": True, "reason": ""}, "$.reason"),
    ("forced with blank reason", {"force": True, "reason": "   "}, "$.reason"),
    ("done without evidence", {"to_lane": "done"}, "$.evidence"),
    ("approved without evidence", {"to_lane": "approved"}, "$.evidence"),
    (
        "done without review",
        {"to_lane": "done", "evidence": {"repos": EVIDENCE["repos"]}},
        "$.evidence.review",
    ),
    (
        "done without verdict",
        {"to_lane": "done", "evidence": {**EVIDENCE, "review": {"reviewer": "Grace"}}},
        "$.evidence.review.verdict",
    ),
    (
        "rollback without review ref",
        {"from_lane": "for_review", "to_lane": "in_progress"},
        "$.review_ref",
    ),
    ("unknown lane", {"to_lane": "review"}, "$.to_lane"),
    ("genesis is no to-lane", {"to_lane": "genesis"}, "$.to_lane"),
    ("uninitialized is a read sentinel", {"from_lane": "uninitialized"}, "$.from_lane"),
    ("sync lane in log", {"from_lane": "doing_it"}, "$.from_lane"),
    ("short ulid", {"event_id": ULID[:-1]}, "$.event_id"),
    ("ulid with I", {"event_id": ULID[:-1] + "I"}, "$.event_id"),
    ("bad month", {"at": "2026-13-20T10:00:00+00:00"}, "$.at"),
    ("no time zone", {"at": "2026-11-20T10:00:00"}, "$.at"),
    ("execution mode not a name", {"execution_mode": "Work Tree!"}, "$.execution_mode"),
    ("force as string", {"force": "false"}, "$.force"),
    ("empty actor", {"actor": ""}, "$.actor"),
    ("empty structured actor", {"actor": {}}, "$.actor"),
    ("bad wp id", {"wp_id": "01"}, "$.wp_id"),
    ("bad mission slug", {"mission_slug": "002 space"}, "$.mission_slug"),
    ("missing to_lane", {"to_lane": DELETE}, "$.to_lane"),
    ("missing at", {"at": DELETE}, "$.at"),
    ("missing event id", {"event_id": DELETE}, "$.event_id"),
]


@pytest.mark.parametrize(("name", "changes"), LOG_CASES_VALID)
def test_log_line_valid(name: str, changes: dict[str, Any]) -> None:
    line = LOG_LINE
    for path, value in changes.items():
        line = _with(line, path, value)
    assert _verdicts(validation.LOG_LINE_SCHEMA, line) == (True, [])


@pytest.mark.parametrize(("name", "changes", "json_path"), LOG_CASES_INVALID)
def test_log_line_invalid(name: str, changes: dict[str, Any], json_path: str) -> None:
    line = LOG_LINE
    for path, value in changes.items():
        line = _with(line, path, value)
    valid, violations = _verdicts(validation.LOG_LINE_SCHEMA, line)
    assert not valid
    assert json_path in {v.json_path for v in violations}, violations


ENVELOPE_CASES_VALID = [
    ("plain", {}),
    ("leading zero in a version, as upstream reads it", {"schema_version": "01.0.0"}),
    ("uppercase UUID", {"project_uuid": "63C8D621-4B64-48E2-86FC-56C667068F2F"}),
    ("braced UUID", {"project_uuid": "{63c8d621-4b64-48e2-86fc-56c667068f2f}"}),
    ("URN UUID", {"project_uuid": "urn:uuid:63c8d621-4b64-48e2-86fc-56c667068f2f"}),
    ("bare hex UUID", {"project_uuid": "63c8d6214b6448e286fc56c667068f2f"}),
    ("tier 4", {"data_tier": 4}),
    ("causation ulid", {"causation_id": ULID}),
    # spec-kitty-events 2.2+ reads UUID event ids, hyphenated or bare (its conformance fixtures
    # event_uuid_hyphenated.json and event_uuid_bare.json), for causation and correlation too.
    ("hyphenated UUID event id", {"event_id": "550e8400-e29b-41d4-a716-446655440000"}),
    ("bare hex UUID event id", {"event_id": "550E8400E29B41D4A716446655440000"}),
    ("lowercase ULID event id", {"event_id": ULID.lower()}),
    ("UUID causation", {"causation_id": "550e8400-e29b-41d4-a716-446655440000"}),
    ("UUID correlation", {"correlation_id": "550e8400e29b41d4a716446655440000"}),
    ("null slug", {"project_slug": None}),
    ("forced sync move", {"payload.force": True, "payload.reason": "why"}),
    ("canceled shows as done, no evidence needed", {"payload.to_lane": "done"}),
    (
        "unknown event type, any payload",
        {
            "event_type": "MissionDossierSnapshotComputed",
            "payload": {"x": 1},
            "aggregate_id": "039-x",
        },
    ),
]
ENVELOPE_CASES_INVALID = [
    ("short semver", {"schema_version": "1.0"}, "$.schema_version"),
    ("prerelease semver", {"schema_version": "1.0.0-beta.1"}, "$.schema_version"),
    ("tier 5", {"data_tier": 5}, "$.data_tier"),
    ("tier -1", {"data_tier": -1}, "$.data_tier"),
    ("tier as string", {"data_tier": "1"}, "$.data_tier"),
    ("negative clock", {"lamport_clock": -1}, "$.lamport_clock"),
    ("fractional clock", {"lamport_clock": 1.5}, "$.lamport_clock"),
    ("bool clock", {"lamport_clock": True}, "$.lamport_clock"),
    ("bad uuid", {"project_uuid": "63c8d621-4b64-48e2-86fc"}, "$.project_uuid"),
    ("bad correlation", {"correlation_id": "x"}, "$.correlation_id"),
    ("UUID one hex digit short", {"event_id": "550e8400e29b41d4a71644665544000"}, "$.event_id"),
    (
        "UUID with hyphens misplaced",
        {"event_id": "550e8400e-29b-41d4-a716-446655440000"},
        "$.event_id",
    ),
    ("braced UUID event id", {"event_id": "{550e8400-e29b-41d4-a716-446655440000}"}, "$.event_id"),
    ("bad causation", {"causation_id": "not-a-ulid-at-all-nope-xyz"}, "$.causation_id"),
    ("missing node", {"node_id": DELETE}, "$.node_id"),
    ("canonical lane in sync payload", {"payload.to_lane": "in_progress"}, "$.payload.to_lane"),
    ("sync no-op", {"payload.from_lane": "doing", "payload.to_lane": "doing"}, "$.payload"),
    ("forced sync move without reason", {"payload.force": True}, "$.payload.reason"),
    (
        "malformed evidence",
        {"payload.to_lane": "done", "payload.evidence": {"repos": []}},
        "$.payload.evidence",
    ),
    ("payload not object", {"payload": []}, "$.payload"),
    ("aggregate not a WP", {"aggregate_id": "feature-x"}, "$.aggregate_id"),
]


@pytest.mark.parametrize(("name", "changes"), ENVELOPE_CASES_VALID)
def test_envelope_valid(name: str, changes: dict[str, Any]) -> None:
    envelope = ENVELOPE
    for path, value in changes.items():
        envelope = _with(envelope, path, value)
    assert _verdicts(validation.ENVELOPE_SCHEMA, envelope) == (True, [])


@pytest.mark.parametrize(("name", "changes", "json_path"), ENVELOPE_CASES_INVALID)
def test_envelope_invalid(name: str, changes: dict[str, Any], json_path: str) -> None:
    envelope = ENVELOPE
    for path, value in changes.items():
        envelope = _with(envelope, path, value)
    valid, violations = _verdicts(validation.ENVELOPE_SCHEMA, envelope)
    assert not valid
    assert json_path in {v.json_path for v in violations}, violations


def test_transition_payload_takes_every_lane_spec_kitty_writes() -> None:
    payload = {k: v for k, v in LOG_LINE.items() if k not in ("event_id", "at")}
    assert _verdicts(validation.TRANSITION_PAYLOAD_SCHEMA, payload)[0]
    for lane in ("in_review", "doing", "canceled"):
        assert _verdicts(validation.TRANSITION_PAYLOAD_SCHEMA, {**payload, "to_lane": lane})[0]
    approved = {**payload, "to_lane": "approved", "evidence": {"review": REVIEW}}
    assert _verdicts(validation.TRANSITION_PAYLOAD_SCHEMA, approved)[0]
    assert not _verdicts(validation.TRANSITION_PAYLOAD_SCHEMA, {**payload, "to_lane": "review"})[0]
    assert not _verdicts(validation.TRANSITION_PAYLOAD_SCHEMA, {**payload, "to_lane": "done"})[0]


def test_violation_names_field_value_and_expectation() -> None:
    violations = validation.explain(
        validation.LOG_LINE_SCHEMA, {**LOG_LINE, "force": True, "reason": ""}
    )
    assert violations[0].render() == (
        '$.reason: empty (got "", expected a non-empty reason, because force is true)'
    )
    missing = validation.explain(
        validation.LOG_LINE_SCHEMA, {k: v for k, v in LOG_LINE.items() if k != "actor"}
    )
    assert missing[0].render() == (
        "$.actor: missing (got nothing, expected who moved it: a non-empty string, or a "
        "{role, profile, tool, model} object)"
    )


def test_each_missing_field_is_named_once() -> None:
    line = {"event_id": ULID, "wp_id": "WP01", "to_lane": "claimed"}
    rendered = [v.render() for v in validation.explain(validation.LOG_LINE_SCHEMA, line)]
    missing = [r.split(":")[0] for r in rendered if ": missing " in r]
    assert sorted(missing) == ["$.actor", "$.at", "$.execution_mode", "$.force", "$.from_lane"]


def test_a_huge_number_is_described_not_printed() -> None:
    assert validation.render_value(-(10**5000)) == "a 5001-digit number"
    assert validation.render_value([10**5000]) == "a list too large or deep to show"


@pytest.mark.parametrize("path", sorted(schema_dir().glob("*.schema.json")), ids=lambda p: p.name)
def test_every_schema_is_valid_draft_2020_12(path: Any) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == validation.SCHEMA_BASE_URI + path.name
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("schema", [validation.ENVELOPE_SCHEMA, validation.LOG_LINE_SCHEMA])
def test_a_non_object_is_told_so_not_given_the_schema_files_documentation(schema: str) -> None:
    (violation, *_) = validation.explain(schema, [1, 2])
    assert violation.render() == "$: wrong type (got [1, 2], expected a value of type object)"
