"""What the views print that no command test pins whole: `queue show`, `log`, `status`, `board`,
scan's JSON, and the options JSON ignores. Every view renders through the one registry of
formats (kitty_hooks/views.py)."""

from __future__ import annotations

import json
import re

from kitty_hooks.capture.board import Board, BoardRow
from kitty_hooks.capture.commit_context import Skipped
from kitty_hooks.capture.commits import CaptureResult
from kitty_hooks.cli.hooks_view import DOCTOR
from kitty_hooks.cli.options import FORMATS
from kitty_hooks.cli.queue_view import DELIVERED, ENTRY
from kitty_hooks.cli.sync_view import BOARD, CAPTURE, STATUS
from kitty_hooks.deliver.backoff import FlushRecord
from kitty_hooks.health.report import Check, CheckStatus, DoctorReport
from kitty_hooks.health.status import AuthHealth, AuthState, ServerCheck, StatusReport
from kitty_hooks.queue.entries import DeliveredEvent, QueueEntry, QueueStats, Verdict
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


def test_status_says_the_queue_the_last_flush_the_credentials_and_the_server() -> None:
    report = StatusReport(
        queue_path="/home/ada/.spec-kitty/kitty-hooks/queue.db",
        queue_recovered_from=None,
        queue=QueueStats(
            total_pending=1_200,
            total_failed=1,
            total_dead_letter=1,
            oldest_created_at="2026-11-20T10:00:00+00:00",
            retry_distribution={"0": 1_200, "1-2": 2},
            top_event_types=[("WPStatusChanged", 1_202)],
        ),
        oldest_event_age_seconds=3 * 3600 + 5 * 60,
        last_flush=FlushRecord(
            "2026-11-20T12:00:00+00:00", "retry-later", 0, 0, 0, 1_202, "HTTP 503"
        ),
        next_attempt_after="2026-11-20T12:05:00+00:00",
        auth=AuthHealth(
            AuthState.OK, "credentials valid", "ada", "https://sync.example.com",
            "2026-11-20T12:15:00+00:00", "2026-11-27T12:00:00+00:00",
        ),
        check=ServerCheck(False, 503, "https://sync.example.com: HTTP 503"),
        notes=["a note from a background capture"],
        left_to_spec_kitty=2,
    )  # fmt: skip
    assert plain(render(STATUS, report, "text")).splitlines() == [
        "Queue: 1,200 pending, 1 failed, 1 dead letter (oldest 3h 5m old)",
        "  file: /home/ada/.spec-kitty/kitty-hooks/queue.db",
        "  retries: 0: 1200, 1-2: 2",
        "  event types: WPStatusChanged 1202",
        "  2 moves left to spec-kitty's own sync (it sends them itself, under its own ids)",
        "Notes from background captures (the next hook shows them too):",
        "  a note from a background capture",
        "Last flush: 2026-11-20T12:00:00+00:00, retry-later: Synced: 0, Duplicates: 0, Failed: 0",
        "  HTTP 503",
        "  backing off: the next automatic flush tries after 2026-11-20T12:05:00+00:00",
        "Auth: ok, ada on https://sync.example.com: credentials valid",
        "  access token until 2026-11-20T12:15:00+00:00, refresh token until "
        "2026-11-27T12:00:00+00:00",
        "Server: PROBLEM: https://sync.example.com: HTTP 503",
    ]
    document = json.loads(render(STATUS, report, "json"))
    assert document["queue"]["oldest_event_age_seconds"] == 11_100
    assert "oldest_event_age_seconds" not in document


def test_board_marks_each_wp_and_says_what_to_run() -> None:
    board = Board(
        "0123456789abcdef",
        "63c8d621-4b64-48e2-86fc-56c667068f2f",
        [
            BoardRow("039-x", "WP01", "in_progress", "log", "doing"),
            BoardRow("039-x", "WP02", "for_review", "frontmatter", None),
            BoardRow("040-gone", "WP01", None, "", "done"),
        ],
    )
    assert plain(render(BOARD, board, "text")).splitlines() == [
        "  039-x WP01     spec-kitty: in_progress (doing) [log]; dashboard: doing  ok",
        "  039-x WP02     spec-kitty: for_review [frontmatter]; dashboard: nothing sent from this "
        "machine  DIFFERS",
        "  040-gone WP01  not at 0123456789ab; dashboard: done",
        "2 work packages at 0123456789ab: 1 not as spec-kitty shows them; 1 more on the dashboard "
        "that are not at this revision",
        "  run `kitty-hooks scan HEAD` to send what is missing; `kitty-hooks sync` to deliver it",
    ]
