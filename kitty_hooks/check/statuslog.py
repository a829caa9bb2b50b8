"""Checking a status.events.jsonl: every line parsed, told by kind, and held to its schema.

The common case, a valid transition, takes a few microseconds a line; anything else takes the
careful path that says what is wrong.
"""

from __future__ import annotations

from typing import Any

from kitty_hooks.check import validation
from kitty_hooks.check.eventfiles import BOM, BOM_MESSAGE
from kitty_hooks.check.results import (
    DiagnoseReport,
    DiagnoseResult,
    Problem,
    add_bad_line,
    add_invalid_event,
)
from kitty_hooks.check.validation import render_value
from kitty_hooks.model.logline import (
    MAX_LINE_BYTES,
    LineError,
    LineKind,
    is_plain_transition,
    line_kind,
    parse_line,
)


def check_log(
    label: str, data: bytes, report: DiagnoseReport, *, first_line: int, light: bool | None = None
) -> None:
    """Check a log's lines (or the lines appended at first_line). light: judge them in plain
    Python (check.verdicts) or with orjson and jsonschema-rs; None lets the count decide. The
    report is the same either way."""
    if first_line == 1 and data.startswith(BOM):
        report.add(Problem(label, 1, (BOM_MESSAGE,)))
        data = data[len(BOM) :]
    if first_line == 1 and not data.strip():
        report.add(Problem(label, None, ("empty log: no events to check",), severity="warning"))
        return
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    # A commit's few lines are read and judged without orjson and jsonschema-rs (each costs a
    # hook more to import than Python takes to start); a log's many with both.
    if light is None:
        light = validation.judge_lightly(len(pieces))
    if light:
        from kitty_hooks.check.verdicts import loads
    else:
        import orjson

        loads = orjson.loads
    validators = _Validators(light=light)
    is_valid = validators[LineKind.TRANSITION].is_valid
    keep = report.keep_valid
    valid_lines = 0  # counted here, added to the report once
    for offset, raw in enumerate(pieces):
        # The common case first, at a few microseconds a line: one JSON object, a transition,
        # valid. Anything else (or a kept result) takes the careful path below.
        event = None
        # A longer line is refused unparsed, below. (Not asked here, for speed: whether a line
        # holds an integer past 64 bits, which orjson reads as a float; no field the schemas
        # check takes one, and such a float is judged like any number.)
        if len(raw) <= MAX_LINE_BYTES:
            try:  # noqa: SIM105 - contextlib.suppress costs every line of a big log
                event = loads(raw)
            except ValueError:
                pass
        if type(event) is dict and not keep and is_plain_transition(event) and is_valid(event):
            valid_lines += 1
            continue
        line = first_line + offset
        if not raw.strip():
            report.add(
                Problem(
                    label,
                    line,
                    ("blank line (expected one JSON object per line)",),
                    severity="warning",
                )
            )
            continue
        try:
            event = parse_line(raw, fast_loads=loads)
        except LineError as exc:
            add_bad_line(report, label, line, str(exc))
            continue
        _check_log_line(label, line, event, report, validators)
    report.event_count += valid_lines


# What each kind of log line is checked against, and the name its results carry.
_LOG_SCHEMA_OF = {
    LineKind.TRANSITION: validation.LOG_LINE_SCHEMA,
    LineKind.ENVELOPE: validation.LOG_ENVELOPE_SCHEMA,
    LineKind.ANNOTATION: validation.LOG_RECORD_SCHEMA,
    LineKind.RECORD: validation.LOG_RECORD_SCHEMA,
}


class _Validators(dict):  # type: ignore[type-arg]
    """The validator of each kind of line, made when a line of that kind comes (~10 ms each
    compiled): a 2.x log never needs the envelope or record ones. None for no schema."""

    def __init__(self, *, light: bool) -> None:
        super().__init__()
        self.light = light

    def __missing__(self, kind: LineKind) -> Any:
        schema = _LOG_SCHEMA_OF.get(kind)
        found = validation.validator_for(schema, light=self.light) if schema else None
        self[kind] = found
        return found


def _check_log_line(
    label: str,
    line: int,
    event: dict[str, Any],
    report: DiagnoseReport,
    validators: dict[LineKind, Any],
) -> None:
    event_id = event.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    kind = line_kind(event)
    name = _result_name(kind, event)
    validator = validators[kind]
    if validator is None:
        why = (
            f"kind {render_value(event.get('kind'))}"
            if "kind" in event
            else "no lane fields, event_type, kind or type"
        )
        report.add(
            Problem(
                label,
                line,
                (f"a line of a kind kitty-hooks does not know ({why}): not checked, not captured",),
                event_id=event_id,
                severity="warning",
            )
        )
        report.add_result(DiagnoseResult(label, line, event_id, name, True))
    elif validation.judged_valid(validator, event):
        report.add_result(DiagnoseResult(label, line, event_id, name, True))
    else:
        violations = validation.explain(_LOG_SCHEMA_OF[kind], event)
        add_invalid_event(report, label, line, event_id, name, violations)


def _result_name(kind: LineKind, event: dict[str, Any]) -> str:
    if kind is LineKind.TRANSITION:
        return "StatusTransition"
    if kind is LineKind.ENVELOPE and isinstance(event.get("event_type"), str):
        return event["event_type"]
    if kind is LineKind.RECORD and isinstance(event.get("type"), str):
        return event["type"]
    return kind.value
