"""The lines of a status.events.jsonl: parsing one, and telling which kind of line it is.

Spec-kitty 2.x writes only lane transitions into the log. 3.x writes other kinds beside them. It
tells them apart by what a line carries, in this order (what its own reader does):

1. `kind: annotation` (runtime-state annotations);
2. other `kind` values (unknown: 3.x refuses them);
3. retrospective records (`type` or `event_name`);
4. envelopes (`event_type` with a `payload`);
5. everything else is a transition.

A line with none of a transition's fields is of a kind nobody knows: worth a warning, never a
block. Used by the gate (diagnose) and by capture (detect).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

# One log line is one small JSON object; a line this long is a mistake, not an event.
MAX_LINE_BYTES = 1 << 20
ANNOTATION_KIND = "annotation"
# A line with a lane on either side moves a work package, whatever else it says; a `type`
# record without (3.x's retrospective records carry `wp_id`, a mission_slug, an actor, force)
# is a record.
_LANE_FIELDS = ("to_lane", "from_lane")
# Any of these makes a line that is no other kind a transition, checked as one: a broken
# transition is an error, not a line of an unknown kind.
_TRANSITION_FIELDS = (
    *_LANE_FIELDS,
    "wp_id",
    "feature_slug",
    "mission_slug",
    "force",
    "actor",
    "execution_mode",
)


class LineKind(Enum):
    TRANSITION = "transition"
    ENVELOPE = "envelope"
    ANNOTATION = "annotation"
    RECORD = "record"
    UNKNOWN = "unknown"


class LineError(ValueError):
    """Text that is not the JSON it should be, in words for a person (line: where, if known)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def parse_line(raw: bytes, *, fast_loads: Callable[[bytes], Any] | None = None) -> dict[str, Any]:
    """One log line as a JSON object; LineError (only) for anything else.

    fast_loads (orjson.loads, for diagnose over whole logs) parses first; what it refuses is
    handed to json, which reads a few things orjson does not (integers past 64 bits, lone
    surrogates) and words syntax errors the way people know. Hooks leave it out: importing
    orjson costs more than the few lines of a commit. Nothing but LineError escapes: not a
    RecursionError from 100,000 nested brackets, not the ValueError of a 5,000-digit number.
    """
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(
            f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one event "
            "(expected one JSON object per line)"
        )
    value: Any = None
    if fast_loads is not None and not has_long_number(raw):
        try:
            value = fast_loads(raw)
        except ValueError:  # orjson.JSONDecodeError is one
            value = _parse_slowly(raw)
    else:
        value = _parse_slowly(raw)
    if not isinstance(value, dict):
        raise LineError(f"is a JSON {json_type(value)}, expected one JSON object per line")
    return value


# Digits to "0", everything else to " ": a run of 20 digits is then a substring to find, which
# costs a line a tenth of what the regular expression [0-9]{20} does.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= code <= 57 else 32 for code in range(256))
_TWENTY_DIGITS = b"0" * 20


def has_long_number(raw: bytes) -> bool:
    """Whether a line may hold an integer past 64 bits: orjson reads one as a float, where the
    parser below refuses it. Such a line goes to that parser straight away."""
    return _TWENTY_DIGITS in raw.translate(_DIGITS_AS_ZEROS)


def _parse_slowly(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    return loads_bounded(text, suffix=" (expected one JSON object per line)")


# No event holds an integer past 64 bits; jsonschema-rs misjudges them (it passes a 5,000-digit
# negative number as >= 0), and Python refuses to even convert one past 4,300 digits.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


class _TooLarge(Exception):
    def __init__(self, digits: str) -> None:
        self.digits = digits


def _bounded_int(digits: str) -> int:
    if len(digits) > 21:
        raise _TooLarge(digits)
    value = int(digits)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _TooLarge(digits)
    return value


# What json.loads(text, parse_int=...) builds anew on every call; a scan parses tens of
# thousands of lines.
class _NotJson(Exception):
    pass


def _no_constant(name: str) -> Any:
    # json reads NaN and Infinity, which no other JSON reader takes: stored, one would make the
    # whole batch body the server gets invalid.
    raise _NotJson(name)


_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_constant=_no_constant)


def loads_bounded(text: str, *, suffix: str = "") -> Any:
    """json.loads that raises only LineError, in words: bad syntax (with where), nesting too deep
    for the interpreter, an integer past 64 bits."""
    try:
        if text.startswith("\ufeff"):  # json.loads' own check, which decode() leaves out
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise LineError(
            f"not valid JSON: {exc.msg} at column {exc.colno}{suffix}", line=exc.lineno
        ) from None
    except RecursionError:
        raise LineError(f"nested too deeply to be an event{suffix}") from None
    except _NotJson as exc:
        raise LineError(f"holds {exc.args[0]}, which is not JSON{suffix}") from None
    except _TooLarge as exc:
        digits = exc.digits.lstrip("-")
        shown = exc.digits if len(digits) <= 24 else f"a {len(digits):,}-digit number"
        raise LineError(
            f"holds the integer {shown}, larger than any event field takes (64 bits){suffix}"
        ) from None


_PLAIN_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"\\]*)"')


def event_id_of(raw: bytes) -> str | None:
    """A line's event id; read off the bytes when it is written plainly and once (no escapes, no
    nested "event_id" to mistake for it, the object closed), else the line is parsed. None for a line that is no
    JSON object or has no string event id."""
    plain = raw.count(b'"event_id"') == 1 and raw.rstrip().endswith(b"}")
    match = _PLAIN_EVENT_ID.search(raw) if plain else None
    if match is not None:
        return match.group(1).decode("utf-8", "replace")
    try:
        event_id = parse_line(raw).get("event_id")
    except LineError:
        return None
    return event_id if isinstance(event_id, str) else None


def line_kind(line: dict[str, Any]) -> LineKind:
    kind = line.get("kind")
    if kind is not None:
        return LineKind.ANNOTATION if kind == ANNOTATION_KIND else LineKind.UNKNOWN
    if _is_retrospective(line.get("event_name")) or (
        isinstance(line.get("type"), str) and not _moves(line)
    ):
        return LineKind.RECORD
    if "event_type" in line:
        return LineKind.ENVELOPE
    if any(name in line for name in _TRANSITION_FIELDS):
        return LineKind.TRANSITION
    return LineKind.UNKNOWN


_OTHER_KINDS = frozenset(("kind", "type", "event_name", "event_type"))


def is_plain_transition(line: dict[str, Any]) -> bool:
    """line_kind(line) is TRANSITION, for the common case, in C: it names a lane to move to and
    none of the keys that make another kind."""
    return "to_lane" in line and line.keys().isdisjoint(_OTHER_KINDS)


def _moves(line: dict[str, Any]) -> bool:
    return any(line.get(name) is not None for name in _LANE_FIELDS)


def _is_retrospective(event_name: Any) -> bool:
    return isinstance(event_name, str) and event_name.startswith("retrospective.")


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number" if isinstance(value, (int, float)) else type(value).__name__
