"""Check event files against the schemas: `kitty-hooks diagnose` and the pre-commit gate.

Three kinds of file: a feature's status.events.jsonl (one log line per line), JSON files with one
event envelope or a list of them, and work-package markdown files (their frontmatter must parse
and name a known lane). Every problem becomes one line naming file, line, event, field, value
and what was expected; nothing raises out of here for bad content.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NamedTuple

from kitty_hooks.check import validation
from kitty_hooks.check.validation import SchemaViolation, render_value
from kitty_hooks.files import UnreadableFile, read_bounded
from kitty_hooks.model.frontmatter import FrontmatterError, parse_frontmatter
from kitty_hooks.model.lanes import (
    ACCEPTED_LANE_NAMES,
    canonical_lane,
    is_execution_lane,
    is_known_lane,
    lane_meant_by,
)
from kitty_hooks.model.layout import (
    LOG_FILE_NAME,
    SPECS_DIR,
    feature_of,
    is_wp_file,
    legacy_lane_of,
)
from kitty_hooks.model.logline import (
    MAX_LINE_BYTES,
    LineError,
    LineKind,
    is_plain_transition,
    json_type,
    line_kind,
    loads_bounded,
    parse_line,
)

_BOM = b"\xef\xbb\xbf"

Severity = Literal["error", "warning"]


class FileKind(Enum):
    LOG = "status log"
    ENVELOPES = "event JSON"
    WORK_PACKAGE = "work package"


# The most diagnose reads of one file: a real 3.x log of thousands of lines is a few MB.
MAX_FILE_BYTES = {
    FileKind.LOG: 256 << 20,
    FileKind.ENVELOPES: 256 << 20,
    FileKind.WORK_PACKAGE: 1 << 20,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong, as one line for a person."""

    path: str
    line: int | None
    messages: tuple[str, ...]
    event_id: str | None = None
    severity: Severity = "error"

    def render(self, *, verbose: bool = False) -> list[str]:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.event_id is not None:
            where += f": event {self.event_id}"
        prefix = "" if self.severity == "error" else "warning: "
        if verbose or len(self.messages) == 1:
            return [f"{where}: {prefix}{message}" for message in self.messages]
        more = len(self.messages) - 1
        return [f"{where}: {prefix}{self.messages[0]} (+{more} more, -v shows all)"]


class DiagnoseResult(NamedTuple):
    """The verdict on one event (a log line or an envelope)."""

    path: str
    line: int | None
    event_id: str | None
    event_type: str | None
    valid: bool
    errors: tuple[str, ...] = ()


@dataclass
class DiagnoseReport:
    """What was checked. Invalid events are always kept in results; valid ones only with
    keep_valid (the JSON report lists every event): a 100,000-line log need not hold 100,000
    objects to say it is valid."""

    results: list[DiagnoseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    keep_valid: bool = True
    event_count: int = 0
    invalid_count: int = 0

    def add_result(self, result: DiagnoseResult) -> None:
        self.event_count += 1
        if not result.valid:
            self.invalid_count += 1
            self.results.append(result)
        elif self.keep_valid:
            self.results.append(result)

    @property
    def error_count(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return 2
        return 1 if self.error_count else 0

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)


def classify(path: PurePosixPath, *, explicit: bool) -> FileKind | None:
    """What kind of event file a path is; None for a file diagnose does not check.

    Named explicitly, any .jsonl is a log and any .json holds envelopes. Found by discovery or
    in the index, only status.events.jsonl, *.events.json / *.event.json and WP files count, so
    that an unrelated meta.json is left alone.
    """
    name = path.name
    if name == LOG_FILE_NAME or (explicit and name.endswith(".jsonl")):
        return FileKind.LOG
    if name.endswith((".events.json", ".event.json")) or (explicit and name.endswith(".json")):
        return FileKind.ENVELOPES
    if name.endswith(".md") and (explicit or is_wp_file(path)):
        return FileKind.WORK_PACKAGE
    return None


# --- diagnose over the work tree -------------------------------------------------------------


def discover(root: Path) -> list[Path]:
    """Every status log and WP file under root's kitty-specs/ (or under root itself)."""
    specs = root / SPECS_DIR if (root / SPECS_DIR).is_dir() else root
    found = [p for p in specs.rglob(LOG_FILE_NAME) if p.is_file()]
    found += [
        p
        for p in specs.rglob("WP*.md")
        if p.is_file() and is_wp_file(PurePosixPath(p.relative_to(root).as_posix()))
    ]
    found += [p for p in specs.rglob("*.json") if classify(PurePosixPath(p.name), explicit=False)]
    return sorted(set(found))


def diagnose_paths(
    paths: list[Path], *, display_root: Path | None = None, keep_valid: bool = True
) -> DiagnoseReport:
    """Check files as they are on disk (directories are searched for event files)."""
    report = DiagnoseReport(keep_valid=keep_valid)
    for path in paths:
        if path.is_dir():
            inside = discover(path)
            if not inside:
                report.unreadable.append(str(path))
                report.add(
                    Problem(
                        str(path),
                        None,
                        ("is a directory with no event logs, event JSON or WP files in it",),
                    )
                )
            for found in inside:
                _check_file_on_disk(found, report, explicit=False, display_root=display_root)
            continue
        _check_file_on_disk(path, report, explicit=True, display_root=display_root)
    return report


def _display(path: Path, display_root: Path | None) -> str:
    if display_root is not None:
        try:
            return path.resolve().relative_to(display_root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _check_file_on_disk(
    path: Path, report: DiagnoseReport, *, explicit: bool, display_root: Path | None
) -> None:
    label = _display(path, display_root)
    kind = classify(PurePosixPath(path.as_posix()), explicit=explicit)
    if kind is None and os.path.lexists(path):
        message = (
            "not a file diagnose checks (expected a .jsonl status log, a .json event file "
            "or a WP .md file)"
        )
    else:
        try:
            data = read_bounded(path, limit=MAX_FILE_BYTES[kind] if kind else 0)
        except UnreadableFile as exc:
            message = str(exc)
        else:
            assert kind is not None  # an existing path of no kind was refused above
            check_content(
                kind,
                label,
                data,
                report,
                legacy_lane=legacy_lane_of(PurePosixPath(path.as_posix())),
            )
            return
    report.unreadable.append(label)
    report.add(Problem(label, None, (message,)))


def check_content(
    kind: FileKind,
    label: str,
    data: bytes,
    report: DiagnoseReport,
    *,
    legacy_lane: str | None = None,
    first_line: int = 1,
) -> None:
    """Check one file's bytes (for a log, possibly only the part appended at first_line)."""
    report.files.append(label)
    if kind is not FileKind.ENVELOPES:
        _check_feature_folder(label, report)
    if kind is FileKind.LOG:
        _check_log(label, data, report, first_line=first_line)
    elif kind is FileKind.ENVELOPES:
        _check_envelope_file(label, data, report)
    else:
        _check_wp_file(label, data, report, legacy_lane=legacy_lane)


def _check_feature_folder(label: str, report: DiagnoseReport) -> None:
    """Capture names a feature by its folder: one the server refuses makes every event dead."""
    feature = feature_of(PurePosixPath(label))
    if feature is None or validation.common_pattern("feature_slug").match(feature):
        return
    report.add(
        Problem(
            label,
            None,
            (
                f"feature folder {feature!r} is not a valid feature slug (letters, digits, '.', "
                "'_' and '-', starting with a letter or digit): the server refuses its events; "
                "rename the folder",
            ),
        )
    )


# --- status.events.jsonl ---------------------------------------------------------------------


def _check_log(label: str, data: bytes, report: DiagnoseReport, *, first_line: int) -> None:
    if first_line == 1 and data.startswith(_BOM):
        report.add(
            Problem(
                label,
                1,
                ("starts with a UTF-8 byte order mark (BOM): save it as UTF-8 without one",),
            )
        )
        data = data[len(_BOM) :]
    if first_line == 1 and not data.strip():
        report.add(Problem(label, None, ("empty log: no events to check",), severity="warning"))
        return
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    import orjson  # ~20 ms to import: worth it for a log, not for a hook's few lines

    loads = orjson.loads
    validators = _Validators()
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
            _bad_line(report, label, line, str(exc))
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
    """The compiled validator of each kind of line, compiled when a line of that kind comes
    (~10 ms each): a 2.x log never needs the envelope or record ones. None for no schema."""

    def __missing__(self, kind: LineKind) -> Any:
        schema = _LOG_SCHEMA_OF.get(kind)
        self[kind] = compiled = validation.validator(schema) if schema else None
        return compiled


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
    elif validator.is_valid(event):
        report.add_result(DiagnoseResult(label, line, event_id, name, True))
    else:
        violations = validation.explain(_LOG_SCHEMA_OF[kind], event)
        _invalid_event(report, label, line, event_id, name, violations)


def _result_name(kind: LineKind, event: dict[str, Any]) -> str:
    if kind is LineKind.TRANSITION:
        return "StatusTransition"
    if kind is LineKind.ENVELOPE and isinstance(event.get("event_type"), str):
        return event["event_type"]
    if kind is LineKind.RECORD and isinstance(event.get("type"), str):
        return event["type"]
    return kind.value


def _bad_line(report: DiagnoseReport, label: str, line: int, message: str) -> None:
    report.add(Problem(label, line, (message,)))
    report.add_result(DiagnoseResult(label, line, None, None, False, (message,)))


def _invalid_event(
    report: DiagnoseReport,
    label: str,
    line: int | None,
    event_id: str | None,
    event_type: str | None,
    violations: list[SchemaViolation],
) -> None:
    messages = tuple(v.render() for v in violations) or ("invalid (no further detail)",)
    report.add(Problem(label, line, messages, event_id=event_id or "?"))
    report.add_result(DiagnoseResult(label, line, event_id, event_type, False, messages))


# --- event JSON files ------------------------------------------------------------------------


def _decode_whole(label: str, data: bytes, report: DiagnoseReport) -> str | None:
    if data.startswith(_BOM):
        report.add(
            Problem(
                label,
                1,
                ("starts with a UTF-8 byte order mark (BOM): save it as UTF-8 without one",),
            )
        )
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        report.add(
            Problem(
                label, line, (f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})",)
            )
        )
        return None


def _check_envelope_file(label: str, data: bytes, report: DiagnoseReport) -> None:
    text = _decode_whole(label, data, report)
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
    for line, event in events:
        if not isinstance(event, dict):
            _bad_line(
                report,
                label,
                line,
                f"is a JSON {json_type(event)}, expected an event envelope object",
            )
            continue
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        event_type = event.get("event_type") if isinstance(event.get("event_type"), str) else None
        if validation.is_valid(validation.ENVELOPE_SCHEMA, event):
            report.add_result(DiagnoseResult(label, line, event_id, event_type, True))
        else:
            violations = validation.explain(validation.ENVELOPE_SCHEMA, event)
            _invalid_event(report, label, line, event_id, event_type, violations)


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


# --- work-package markdown -------------------------------------------------------------------


def _check_wp_file(
    label: str, data: bytes, report: DiagnoseReport, *, legacy_lane: str | None
) -> None:
    text = _decode_whole(label, data, report)
    if text is None:
        return
    try:
        frontmatter = parse_frontmatter(text)
    except FrontmatterError as exc:
        # In a 1.x lane folder the folder is the lane (capture reads it so): a file there
        # with no frontmatter, or broken frontmatter, still says where its WP is.
        severity: Severity = "warning" if legacy_lane is not None else "error"
        report.add(Problem(label, exc.line, (str(exc),), severity=severity))
        return
    lane = frontmatter.fields.get("lane")
    # 3.x keeps the lane in the log: a WP file without `lane:` is normal, and its `lane:` may
    # name an execution lane (lane-a). Only a value that looks meant as a status lane and is
    # none is an error; anything else is a warning.
    if lane is None or is_execution_lane(lane):
        return
    if not is_known_lane(lane):
        meant = lane_meant_by(lane)
        expected = f"one of {', '.join(ACCEPTED_LANE_NAMES)}"
        if not isinstance(lane, str):
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (f"lane: unknown lane (got {render_value(lane)}, expected {expected})",),
                )
            )
        elif meant is not None:
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (
                        f"lane: unknown lane (got {render_value(lane)}, expected {expected}; "
                        f"did you mean {meant}?)",
                    ),
                )
            )
        else:
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (
                        f"lane: {render_value(lane)} is not a lane spec-kitty writes (expected "
                        f"{expected}, or an execution lane like lane-a); capture ignores it",
                    ),
                    severity="warning",
                )
            )
        return
    if legacy_lane is not None and canonical_lane(lane) != canonical_lane(legacy_lane):
        report.add(
            Problem(
                label,
                frontmatter.lane_line,
                (
                    f"lane: frontmatter says {lane!r} but the file is in the {legacy_lane}/ lane folder",
                ),
                severity="warning",
            )
        )
