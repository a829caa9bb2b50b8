"""Checking event JSON files: one envelope or a JSON array of them, each held to the envelope
schema (the queue's events are checked the same way)."""

from __future__ import annotations

import json
from typing import Any

from kitty_hooks.check import validation
from kitty_hooks.check.eventfiles import decode_whole
from kitty_hooks.check.results import (
    DiagnoseReport,
    DiagnoseResult,
    Problem,
    add_bad_line,
    add_invalid_event,
)
from kitty_hooks.model.logline import LineError, json_type, loads_bounded


def check_envelope_file(label: str, data: bytes, report: DiagnoseReport) -> None:
    text = decode_whole(label, data, report)
    if text is None:
        return
    if not text.strip():
        report.add(
            Problem(
                label, None, ("empty file (expected one event envelope or a JSON array of them)",)
            )
        )
        return
    try:
        events = list(_iter_json_events(text))
    except LineError as exc:
        report.add(Problem(label, exc.line, (str(exc),)))
        return
    check_envelopes(label, events, report)


def check_envelopes(label: str, events: list[tuple[int, Any]], report: DiagnoseReport) -> None:
    """Check (line, envelope) pairs: from a JSON file, or (line = entry id) from the queue."""
    if label not in report.files:
        report.files.append(label)
    judge = validation.validator_for(
        validation.ENVELOPE_SCHEMA, light=validation.judge_lightly(len(events))
    )
    for line, event in events:
        if not isinstance(event, dict):
            add_bad_line(
                report,
                label,
                line,
                f"is a JSON {json_type(event)}, expected an event envelope object",
            )
            continue
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        event_type = event.get("event_type") if isinstance(event.get("event_type"), str) else None
        if validation.judged_valid(judge, event):
            report.add_result(DiagnoseResult(label, line, event_id, event_type, True))
        else:
            violations = validation.explain(validation.ENVELOPE_SCHEMA, event)
            add_invalid_event(report, label, line, event_id, event_type, violations)


def _iter_json_events(text: str) -> Any:
    """(line, value) for one JSON value, or for each item of a top-level array.

    Items are decoded one at a time so that each event's error names the line it starts on.
    LineError for text that is not JSON (or holds what no event can: see loads_bounded).
    """
    whole = loads_bounded(text)  # a malformed file raises here, with where the problem is
    start = len(text) - len(text.lstrip())
    if not isinstance(whole, list):
        yield text.count("\n", 0, start) + 1, whole
        return
    decoder = json.JSONDecoder()
    pos = start + 1
    for value in whole:
        pos = _skip_space(text, pos)
        _, end = decoder.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, value
        pos = _skip_space(text, end)
        if text[pos] == ",":
            pos += 1


def _skip_space(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n":
        pos += 1
    return pos
