"""What the views print that no command test pins: `queue show`, `log`, scan's JSON, the options
JSON ignores. Every view renders through the one registry of formats (kitty_hooks/views.py)."""

from __future__ import annotations

import json
import re

from kitty_hooks.capture.commit_context import Skipped
from kitty_hooks.capture.commits import CaptureResult
from kitty_hooks.cli.hooks_view import DOCTOR
from kitty_hooks.cli.options import FORMATS
from kitty_hooks.cli.queue_view import DELIVERED, ENTRY
from kitty_hooks.cli.sync_view import CAPTURE
from kitty_hooks.health.report import Check, CheckStatus, DoctorReport
from kitty_hooks.queue.entries import DeliveredEvent, QueueEntry, Verdict
from kitty_hooks.views import RENDERER_BY_FORMAT, render

ENVELOPE = {
    "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R51",
    "event_type": "WPStatusChanged",
    "payload": {"feature_slug": "039-x", "wp_id": "WP01", "actor": "Zoë"},
}
ENTRY_ROW = QueueEntry(
    id=7,
    event_id="01JD3Q9Z6C8W4S0Y2X5V7T1R51",
    event_type="WPStatusChanged",
    envelope=ENVELOPE,
    status="failed",
    retry_count=2,
    created_at="2026-11-20T10:00:00+00:00",
    last_attempt_at=None,
    last_error="HTTP 503",
    error_category="server_error",
    commit_sha="b805cd5cee74aa",
    repo=None,
)


def plain(text: str) -> str:
    """The text as it reaches a pipe: click strips the colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_format_offers_exactly_the_formats_of_the_one_registry() -> None:
    assert list(FORMATS.choices) == list(RENDERER_BY_FORMAT) == ["text", "json"]


def test_queue_show_prints_each_queue_field_then_the_envelope_as_json() -> None:
    assert render(ENTRY, ENTRY_ROW, "text") == (
        "id: 7\n"
        "event_id: 01JD3Q9Z6C8W4S0Y2X5V7T1R51\n"
        "event_type: WPStatusChanged\n"
        "status: failed\n"
        "retry_count: 2\n"
        "created_at: 2026-11-20T10:00:00+00:00\n"
        "last_attempt_at: \n"
        "last_error: HTTP 503\n"
        "error_category: server_error\n"
        "commit_sha: b805cd5cee74aa\n"
        "repo: \n"
        "orphaned: \n"
        "envelope:\n"
        "{\n"
        '  "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R51",\n'
        '  "event_type": "WPStatusChanged",\n'
        '  "payload": {\n'
        '    "feature_slug": "039-x",\n'
        '    "wp_id": "WP01",\n'
        '    "actor": "Zoë"\n'
        "  }\n"
        "}"
    )


def test_queue_show_json_is_the_entry_with_its_envelope_in_utf8() -> None:
    output = render(ENTRY, ENTRY_ROW, "json")
    assert '"actor": "Zoë"' in output
    assert output.startswith('{\n  "id": 7,\n  "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R51",')
    assert json.loads(output) == {
        **ENTRY_ROW._asdict(),
        "orphaned": None,
        "envelope": ENVELOPE,
    }


def test_log_lines_up_each_delivery_newest_first() -> None:
    delivered = [
        DeliveredEvent(
            "01JD3Q9Z6C8W4S0Y2X5V7T1R52", "WPStatusChanged", Verdict.DUPLICATE,
            "2026-11-20T10:05:00+00:00", "039-x", "WP01", "planned", "claimed",
        ),
        DeliveredEvent(
            "01JD3Q9Z6C8W4S0Y2X5V7T1R51", "WPStatusChanged", Verdict.SUCCESS,
            "2026-11-20T10:00:00+00:00", "039-x", "WP01", None, "planned",
        ),
    ]  # fmt: skip
    assert plain(render(DELIVERED, delivered, "text")).splitlines() == [
        # The header is painted bold over its padding, so its last cell keeps it.
        "DELIVERED                  EVENT ID                    VERDICT    EVENT" + " " * 24,
        "2026-11-20T10:05:00+00:00  01JD3Q9Z6C8W4S0Y2X5V7T1R52  duplicate  039-x/WP01 planned -> claimed",
        "2026-11-20T10:00:00+00:00  01JD3Q9Z6C8W4S0Y2X5V7T1R51  success    039-x/WP01 new -> planned",
    ]
    assert render(DELIVERED, [], "text") == "nothing delivered yet (or not within the last 90 days)"
    assert json.loads(render(DELIVERED, delivered, "json"))[0]["verdict"] == "duplicate"


def test_scan_json_escapes_non_ascii_as_it_always_has() -> None:
    result = CaptureResult(commits=2)
    result.skipped.append(Skipped("kitty-specs/039-ü/status.events.jsonl", "line 2: not JSON"))
    output = render(CAPTURE, result, "json")
    assert '"path": "kitty-specs/039-\\u00fc/status.events.jsonl"' in output
    assert json.loads(output)["skipped"] == [
        {"path": "kitty-specs/039-ü/status.events.jsonl", "reason": "line 2: not JSON"}
    ]
    assert render(CAPTURE, result, "text") == (
        "warning: skipped kitty-specs/039-ü/status.events.jsonl: line 2: not JSON\n"
        "scanned 2 commits: 0 lane changes queued, 0 already known, 0 within one sync lane "
        "(not sent), 1 skipped"
    )


def test_json_gets_every_check_whatever_quiet_says() -> None:
    report = DoctorReport(
        (
            Check("hooks", "pre-commit", CheckStatus.OK, "runs kitty-hooks"),
            Check("queue", "dead letters", CheckStatus.WARN, "1 dead letter"),
        )
    )
    assert plain(render(DOCTOR, report, "text", quiet=True)).splitlines() == [
        "warn  queue: dead letters: 1 dead letter",
        "doctor: 1 ok, 1 warning, 0 failures",
    ]
    quiet_json = render(DOCTOR, report, "json", quiet=True)
    assert quiet_json == render(DOCTOR, report, "json")
    assert json.loads(quiet_json)["summary"] == {"ok": 1, "warn": 1, "fail": 0}
    all_ok = DoctorReport((report.checks[0],))
    assert render(DOCTOR, all_ok, "text", quiet=True) == ""
