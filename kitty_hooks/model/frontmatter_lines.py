"""A WP file's frontmatter as lines: where it is, and the fields of plain lines.

No typing, no PyYAML: the pre-commit gate's quick look (check/quick.py) reads a plain WP file
with this alone; model.frontmatter builds on it for everything else.
"""

from __future__ import annotations

import re

LANE_KEY = re.compile(r"^lane\s*:")
# What YAML 1.1 (PyYAML) reads as a bool or null rather than a string.
NOT_STRINGS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])

# A frontmatter line whose YAML meaning is plain to see: `key: word`, `key: "text"`,
# `key: 'text'` or `key: []`, in printable ASCII, spaces (YAML takes no tab there), a comment
# only after a space (`done#x` is one plain scalar).
_PLAIN_LINE = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_-]*): +"""
    r"""(?:"(?P<double>[ !#-\[\]-~]*)"|'(?P<single>[ -&(-~]*)'|(?P<plain>[A-Za-z_][A-Za-z0-9_./-]*)"""
    r"""|(?P<empty>\[\]))(?: +#[ -~]*)? *"""
)
_BLANK_OR_COMMENT = re.compile(r" *(?:#[ -~]*)?")


def frontmatter_body(text: str) -> tuple[list[str], int] | str:
    """The frontmatter lines (without the --- fences) and the file line the first one is on;
    what is wrong, in words, when there is none."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return "no YAML frontmatter (expected the file to start with a '---' line)"
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return lines[1:index], 2
    return "frontmatter is not closed (expected a '---' line after the fields)"


def plain_fields(body: list[str]) -> dict[str, object] | None:
    """The fields, as PyYAML reads them, when every line is plain (or blank, or a comment);
    None otherwise."""
    fields: dict[str, object] = {}
    for line in body:
        match = _PLAIN_LINE.fullmatch(line)
        if match is None:
            if _BLANK_OR_COMMENT.fullmatch(line) is not None:
                continue
            return None
        key = match["key"]
        if key in fields or key.lower() in NOT_STRINGS:
            return None  # a repeated key, or one YAML reads as a bool or null
        if match["empty"] is not None:
            fields[key] = []
        elif match["plain"] is not None:
            if match["plain"].lower() in NOT_STRINGS:
                return None
            fields[key] = match["plain"]
        else:
            fields[key] = match["double"] if match["double"] is not None else match["single"]
    return fields


def lane_line_of(body: list[str], first_line: int) -> int | None:
    """The file line of the `lane:` key, when there is one."""
    return next((first_line + i for i, line in enumerate(body) if LANE_KEY.match(line)), None)
