"""The YAML frontmatter at the top of a work-package markdown file."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from kitty_hooks.model.frontmatter_lines import (
    NOT_STRINGS as _NOT_STRINGS,
)
from kitty_hooks.model.frontmatter_lines import (
    frontmatter_body,
    lane_line_of,
    plain_fields,
)

# A top-level `key: value` line whose value YAML reads as the same plain string: a word (no
# YAML bool, null or number), or a quoted string with nothing to escape, then maybe a comment.
_SIMPLE_LINE = re.compile(
    r"""^(?P<key>[A-Za-z_][A-Za-z0-9_-]*)[ \t]*:[ \t]+"""
    r"""(?:"(?P<double>[^"\\]*)"|'(?P<single>[^']*)'|(?P<plain>[A-Za-z_][A-Za-z0-9_./-]*))"""
    r"""[ \t]*(?:#.*)?$"""
)


class FrontmatterError(ValueError):
    """Frontmatter that is missing, unclosed, not YAML, or not a mapping."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class Frontmatter(NamedTuple):
    fields: dict[str, Any]
    lane_line: int | None
    """1-based line of the `lane:` key in the file, when there is one."""


def split_frontmatter(text: str) -> tuple[list[str], int]:
    """The frontmatter lines (without the --- fences) and the file line the first one is on."""
    found = frontmatter_body(text)
    if isinstance(found, str):
        raise FrontmatterError(found, line=1)
    return found


def parse_frontmatter(text: str) -> Frontmatter:
    import yaml

    body, first_line = split_frontmatter(text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        fields = yaml.load("\n".join(body), Loader=loader)  # a SafeLoader: no arbitrary objects
    except RecursionError:
        raise FrontmatterError(
            "frontmatter is nested too deeply to be a WP's fields", line=first_line
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= len(body):
            # Noticed only at the end (an unclosed [ or quote): point at where it opened.
            mark = getattr(exc, "context_mark", None) or mark
        line = first_line + min(mark.line, max(len(body) - 1, 0)) if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontmatterError(f"frontmatter is not valid YAML: {problem}", line=line) from exc
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise FrontmatterError(
            f"frontmatter is a YAML {type(fields).__name__}, expected a mapping of fields",
            line=first_line,
        )
    return Frontmatter(fields=fields, lane_line=lane_line_of(body, first_line))


def parse_plain_frontmatter(text: str) -> Frontmatter | None:
    """parse_frontmatter for frontmatter of plain lines only (2.x WP files: `lane: done`,
    `title: '...'`, `dependencies: []`), without PyYAML's import (~10 ms of a gated commit).
    The same Frontmatter as parse_frontmatter; None for anything else, which it then reads.
    FrontmatterError as parse_frontmatter for a missing or unclosed frontmatter."""
    body, first_line = split_frontmatter(text)
    fields = plain_fields(body)
    if fields is None:
        return None
    return Frontmatter(fields=fields, lane_line=lane_line_of(body, first_line))


def read_fields(text: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The frontmatter fields a hook needs (the lane and a few beside it), as cheaply as can be.

    When each key is on one top-level line with a plain string value (`lane: for_review`,
    `lane: "done"`) the lines are read as they are; PyYAML (~10 ms to import, most of a
    hook's budget) is loaded only for anything else. Reading liberally: the rest of the
    frontmatter is not checked here (diagnose does that). FrontmatterError as parse_frontmatter.
    """
    body, _ = split_frontmatter(text)
    found: dict[str, Any] = {}
    for line in body:
        key = line.partition(":")[0].strip()
        if key not in keys:
            continue
        match = _SIMPLE_LINE.match(line)
        if match is None or key in found or match["key"] != key:
            return parse_frontmatter(text).fields  # a value only YAML can say what it is
        value = match["double"] if match["double"] is not None else match["single"]
        if value is None:
            value = match["plain"]
            if value.lower() in _NOT_STRINGS:
                return parse_frontmatter(text).fields
        found[key] = value
    return found
