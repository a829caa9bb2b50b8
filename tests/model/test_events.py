from __future__ import annotations

import pytest
from ulid import ULID

from kitty_hooks.check import validation
from kitty_hooks.model.events import (
    Identity,
    LaneChange,
    build_status_envelope,
    derive_ulid,
    encode_ulid,
    iso_to_millis,
    new_ulid,
)
from kitty_hooks.model.lanes import UnknownLaneError

IDENTITY = Identity(
    project_uuid="63c8d621-4b64-48e2-86fc-56c667068f2f",
    project_slug="kitty-cli",
    node_id="b805cd5cee74",
)
EVIDENCE = {
    "repos": [{"repo": "kitty/cli", "branch": "main", "commit": "3f2a9c1"}],
    "review": {"reviewer": "Grace", "verdict": "approved"},
}


def _change(**overrides: object) -> LaneChange:
    fields: dict[str, object] = {
        "feature_slug": "039-cli-2x-readiness",
        "wp_id": "WP01",
        "from_lane": "planned",
        "to_lane": "claimed",
        "actor": "ada",
        "at": "2026-11-20T10:00:00+00:00",
    }
    fields.update(overrides)
    return LaneChange(**fields)  # type: ignore[arg-type]


def _envelope(change: LaneChange, **kw: object) -> dict:
    envelope = build_status_envelope(
        change, identity=IDENTITY, lamport_clock=3, correlation_id=new_ulid(), **kw
    )
    assert envelope is not None
    return dict(envelope)


def test_envelope_has_all_thirteen_fields_and_validates() -> None:
    envelope = _envelope(_change())
    assert set(envelope) == {
        "event_id", "event_type", "aggregate_id", "payload", "timestamp", "node_id", "lamport_clock",
        "causation_id", "project_uuid", "project_slug", "correlation_id", "schema_version", "data_tier",
    }  # fmt: skip
    assert envelope["event_type"] == "WPStatusChanged"
    assert envelope["aggregate_id"] == "WP01"
    assert envelope["schema_version"] == "1.0.0"
    assert validation.explain(validation.ENVELOPE_SCHEMA, envelope) == []
    assert validation.is_valid(validation.ENVELOPE_SCHEMA, envelope)


def test_what_we_emit_carries_an_upper_case_ulid_though_we_read_uuids_too() -> None:
    """The envelope schema reads UUID ids (spec-kitty-events 2.2+ does); we emit ULIDs only
    (a log line's UUID becomes a derived ULID: tests/capture)."""
    for change in (_change(), _change(from_lane="claimed", to_lane="for_review")):
        assert validation.common_pattern("ulid").match(_envelope(change)["event_id"])


def test_payload_carries_sync_lanes() -> None:
    payload = _envelope(_change(from_lane="claimed", to_lane="for_review", review_ref="abc1234"))[
        "payload"
    ]
    assert (payload["from_lane"], payload["to_lane"]) == ("doing", "for_review")
    assert payload["review_ref"] == "abc1234"


def test_done_with_evidence_and_forced_cancel_validate() -> None:
    done = _envelope(_change(from_lane="for_review", to_lane="done", evidence=EVIDENCE))
    canceled = _envelope(_change(to_lane="canceled", force=True, reason="superseded"))
    for envelope in (done, canceled):
        assert validation.is_valid(validation.ENVELOPE_SCHEMA, envelope), validation.explain(
            validation.ENVELOPE_SCHEMA, envelope
        )
    assert canceled["payload"]["to_lane"] == "done"


def test_a_transition_that_collapses_builds_no_envelope() -> None:
    change = _change(from_lane="in_progress", to_lane="blocked")
    assert (
        build_status_envelope(change, identity=IDENTITY, lamport_clock=1, correlation_id=new_ulid())
        is None
    )


def test_alias_and_unknown_lanes() -> None:
    assert _envelope(_change(from_lane="planned", to_lane="doing"))["payload"]["to_lane"] == "doing"
    with pytest.raises(UnknownLaneError):
        _envelope(_change(to_lane="shipped"))


def test_event_id_is_deterministic_for_the_same_change() -> None:
    first = _envelope(_change())["event_id"]
    again = _envelope(_change())["event_id"]
    other_wp = _envelope(_change(wp_id="WP02"))["event_id"]
    other_project = build_status_envelope(
        _change(),
        identity=Identity("0b6c3f1e-8d2a-4c1b-9e7f-2a5d6c8b9e01", None, "n"),
        lamport_clock=1,
        correlation_id=new_ulid(),
    )
    assert first == again
    assert first != other_wp
    assert other_project is not None and other_project["event_id"] != first


def test_a_log_line_keeps_its_own_event_id() -> None:
    assert (
        _envelope(_change(event_id="01JD3Q9Z6C8W4S0Y2X5V7T1R3N"))["event_id"]
        == "01JD3Q9Z6C8W4S0Y2X5V7T1R3N"
    )


def test_stdlib_ulid_encoding_agrees_with_python_ulid() -> None:
    for _ in range(200):
        ulid = ULID()
        assert encode_ulid(bytes(ulid)) == str(ulid)
    assert encode_ulid(b"\x00" * 16) == "0" * 26
    assert encode_ulid(b"\xff" * 16) == "7" + "Z" * 25


def test_derived_ulid_is_a_real_ulid_with_the_given_time() -> None:
    millis = iso_to_millis("2026-11-20T10:00:00.250+00:00")
    derived = derive_ulid(millis, "a", "b")
    assert derived == derive_ulid(millis, "a", "b")
    assert derived != derive_ulid(millis, "a", "c")
    assert derived != derive_ulid(millis, "a\x1fb")  # parts are not simply concatenated
    parsed = ULID.from_str(derived)
    assert str(parsed) == derived
    assert parsed.milliseconds == millis
    with pytest.raises(ValueError):
        derive_ulid(-1, "x")


def test_new_ulid_comes_from_python_ulid() -> None:
    assert str(ULID.from_str(new_ulid())) != new_ulid()


def test_a_moves_timestamp_is_its_own_time_in_utc_to_the_millisecond() -> None:
    from kitty_hooks.model.events import move_timestamp

    commit_time = "2026-01-01T12:00:00+01:00"
    assert move_timestamp("2026-11-29T18:48:26.534040+00:00", commit_time) == (
        "2026-11-29T18:48:26.534+00:00"
    )
    assert move_timestamp("2026-11-29T18:48:26Z", commit_time) == "2026-11-29T18:48:26.000+00:00"
    assert move_timestamp("2026-11-29T20:48:26.500+02:00", commit_time) == (
        "2026-11-29T18:48:26.500+00:00"
    )
    # Not a time (the 30th of February, words): the commit's time, in UTC.
    for bad in ("2026-02-30T18:48:26.534040+00:00", "yesterday", ""):
        assert move_timestamp(bad, commit_time) == "2026-01-01T11:00:00.000+00:00"
