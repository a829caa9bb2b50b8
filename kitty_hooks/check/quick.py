"""The pre-commit gate's quick look: a move commit found clean with the fewest imports.

A move commit appends a line or two to a status log, or changes a WP file's `lane:`. The careful
gate (check/gate.py) loads what a full check and its report need (pathlib, subprocess, typing,
the report classes). That is more than Python takes to start. This looks first, with json, os
and the schemas.

It answers only "certainly clean". That is: every staged event file is either a log or a WP
file. A log starts with HEAD's lines, and its new lines are valid transitions under new event
ids. A WP file holds plain frontmatter lines, with a lane spec-kitty writes.

Anything else is left to the careful gate, which then decides and words it: an invalid or
unusual line, a rewrite, a new log, event JSON, YAML beyond plain lines, git failing. So every
verdict and message is the careful gate's. tests/check/test_quick.py holds that: whatever this
calls clean, the careful gate passes silently.
"""

from __future__ import annotations

import _json  # json's C scanner: the json package would import re (~0.6x a bare start)
import os

from kitty_hooks.check import patterns, verdicts
from kitty_hooks.gitrepo.spawn import git_output
from kitty_hooks.model import layout

# The most new lines it judges, and the longest: past them the careful gate is the cheaper one.
_MOST_LINES = 64
_LONGEST_LINE = 64 << 10
_OTHER_KINDS = ("kind", "type", "event_name", "event_type")


class _NotSure(Exception):
    """Something the careful gate must look at."""


def commit_is_clean() -> bool:
    """True when the staged change is certainly clean; False when the careful gate must run."""
    try:
        return _clean()
    except Exception:
        return False


def _clean() -> bool:
    environ = os.environ
    if (
        environ.get("KITTY_HOOKS", "").strip()  # KITTY_HOOKS=0 and friends: run.py decides
        or environ.get("PRE_COMMIT")
        or environ.get("PRE_COMMIT_FROM_REF")
        or environ.get("PRE_COMMIT_TO_REF")
        or environ.get("KITTY_HOOKS_SHIM") != _shim_template_id()  # stale shims: run.py updates
    ):
        return False
    listed = git_output(
        ["diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACM"]
    )
    if listed is None:
        return False
    logs, wps = [], []
    for path in listed.decode("utf-8", "surrogateescape").split("\0"):
        if not path:
            continue
        parts = layout.GitPath(path)
        if "\n" in path or (layout.feature_of(parts) is not None and not _slug_ok(parts)):
            return False
        name = parts.name
        if name == layout.LOG_FILE_NAME:
            logs.append(path)
        elif name.endswith((".events.json", ".event.json")):
            return False
        elif name.endswith(".md") and layout.is_wp_file(parts):
            if layout.legacy_lane_of(parts) is not None:
                return False
            wps.append(path)
    if not logs and not wps:
        return True
    specs = [f"HEAD:{p}" for p in logs] + [f":{p}" for p in logs] + [f":{p}" for p in wps]
    blobs = _read_blobs(specs)
    if blobs is None:
        return False
    count = len(logs)
    try:
        for before, after in zip(blobs[:count], blobs[count : 2 * count], strict=True):
            _check_appended(before, after)
        for data in blobs[2 * count :]:
            _check_wp(data)
    except _NotSure:
        return False
    return True


def _read_blobs(specs: list[str]) -> list[bytes | None] | None:
    out = git_output(
        ["cat-file", "--batch"], "".join(s + "\n" for s in specs).encode("utf-8", "surrogateescape")
    )
    if out is None:
        return None
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split(b" ")
        pos = header_end + 1
        if len(header) != 3 or header[1] != b"blob":
            if header[-1] != b"missing":
                return None
            blobs.append(None)
            continue
        size = int(header[2])
        blobs.append(out[pos : pos + size])
        pos += size + 1
    return blobs


def _check_appended(before: bytes | None, after: bytes | None) -> None:
    if not before or after is None or not before.endswith(b"\n") or not after.startswith(before):
        raise _NotSure  # a new or empty log, a rewrite: the careful gate
    lines = after[len(before) :].split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) > _MOST_LINES:
        raise _NotSure
    judge = _judge("status-log-line.schema.json")
    ids = []
    for raw in lines:
        if len(raw) > _LONGEST_LINE or raw.count(b'"event_id"') != 1:
            raise _NotSure
        event = _loads(raw)
        if not isinstance(event, dict) or "to_lane" not in event:
            raise _NotSure
        if any(kind in event for kind in _OTHER_KINDS) or not judge(event):
            raise _NotSure
        ids.append(event["event_id"])
    # A new line under an event id HEAD has: the careful gate compares them.
    if any(event_id.encode("utf-8", "surrogatepass") in before for event_id in ids):
        raise _NotSure


def _check_wp(data: bytes | None) -> None:
    from kitty_hooks.model.frontmatter_lines import frontmatter_body, plain_fields  # re: WPs only

    if data is None or data.startswith(b"\xef\xbb\xbf"):
        raise _NotSure
    found = frontmatter_body(data.decode("utf-8"))  # UnicodeDecodeError: not sure either
    fields = None if isinstance(found, str) else plain_fields(found[0])
    if fields is None:
        raise _NotSure
    lane = fields.get("lane")
    if (
        lane is not None
        and lane not in _schema("lanes.schema.json")["$defs"]["lane_or_alias"]["enum"]
    ):
        raise _NotSure


def _slug_ok(parts: layout.GitPath) -> bool:
    # As check.diagnose asks it of a feature folder (validation.common_pattern: re's match,
    # whose $ also takes a final newline: no path here has one).
    pattern = _schema("common.schema.json")["$defs"]["feature_slug"]["pattern"]
    if not pattern.startswith("^"):
        raise _NotSure  # re's match anchors where a search would not
    try:
        return patterns.compile_pattern(pattern)(parts.parts[1])
    except (patterns.Unsupported, patterns.TooHard) as exc:
        raise _NotSure from exc


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _int(digits: str) -> int:
    value = int(digits) if len(digits) <= 21 else _INT_MAX + 1
    if not _INT_MIN <= value <= _INT_MAX:
        raise _NotSure
    return value


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotSure
    return value


def _constant(name: str) -> object:
    raise _NotSure


class _Reading:
    """What json's C scanner asks of its decoder: how to read numbers and constants."""

    def __init__(self, parse_int: object, parse_float: object, parse_constant: object) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_int = parse_int
        self.parse_float = parse_float
        self.parse_constant = parse_constant


# The scanner json.loads uses, with json's own defaults (schema files), and as check.verdicts
# reads a line (a number past 64 bits or a double, NaN: not for here).
_SCAN_PLAIN = _json.make_scanner(_Reading(int, float, _constant))
_SCAN_LINE = _json.make_scanner(_Reading(_int, _float, _constant))
_WHITE = " \t\n\r"  # what json skips around a value


def _decode(scan: object, text: str) -> object:
    """JSONDecoder.decode, for text that decodes cleanly; _NotSure for anything else."""
    start = len(text) - len(text.lstrip(_WHITE))
    try:
        value, end = scan(text, start)  # type: ignore[operator]
    except StopIteration as exc:
        raise _NotSure from exc
    if text[end:].strip(_WHITE):
        raise _NotSure
    return value


def _loads(raw: bytes) -> object:
    """The line as the careful gate reads it, for plain JSON only: a surrogate escape, NaN, a
    number past 64 bits or a double, bytes that are not UTF-8 are not for here."""
    at = raw.find(b"\\u")
    while at >= 0:
        if raw[at + 2 : at + 3] in (b"d", b"D") and raw[at + 3 : at + 4] in b"89abcdefABCDEF":
            raise _NotSure  # a surrogate: json reads a lone one, orjson refuses it
        at = raw.find(b"\\u", at + 2)
    try:
        return _decode(_SCAN_LINE, raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _NotSure from exc


def _asset_dir(name: str) -> str:
    # Where kitty_hooks.assets finds it (a wheel's _assets/, or the top of a source checkout).
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(package, "_assets", name), os.path.join(package, "..", name)):
        if os.path.isdir(candidate):
            return candidate
    raise _NotSure


class _Schemas(dict):  # type: ignore[type-arg]
    """The schema files, each read when first asked for (a log line needs four of eight)."""

    def __missing__(self, name: str) -> object:
        if "/" in name or not name.endswith(".schema.json"):
            raise KeyError(name)
        try:
            with open(os.path.join(_asset_dir("schemas"), name), "rb") as file:
                schema = _decode(_SCAN_PLAIN, file.read().decode("utf-8"))
        except (OSError, ValueError, _NotSure) as exc:
            raise KeyError(name) from exc
        self[name] = schema
        return schema


_SCHEMAS = _Schemas()
_COMPILER = verdicts.Compiler(_SCHEMAS)


def _schema(name: str) -> dict:  # type: ignore[type-arg]
    return _SCHEMAS[name]


def _judge(name: str) -> object:
    try:
        return _COMPILER.check_of(name)
    except verdicts.Unsupported as exc:
        raise _NotSure from exc


def _shim_template_id() -> str:
    # What kitty_hooks.assets.shim_template_id says of this release's shim template.
    import zlib

    try:
        with open(os.path.join(_asset_dir("hooks"), "shim"), "rb") as file:
            return f"{zlib.crc32(file.read()):08x}"
    except OSError:
        return ""
