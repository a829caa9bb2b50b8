"""Colour for a terminal, in the manner of check-jsonschema: green ok, yellow warn, red fail.

Renderers paint with ANSI codes unconditionally; the command line decides whether they reach
the screen (click strips them when the output is not a terminal, under `--color never` or with
NO_COLOR set, see cli/main.py). JSON output is never painted.
"""

from __future__ import annotations

from enum import Enum


class Tone(Enum):
    OK = "32"  # green
    WARN = "33"  # yellow
    FAIL = "31;1"  # bold red
    DIM = "2"
    BOLD = "1"


def paint(text: str, tone: Tone | None) -> str:
    if tone is None or not text:
        return text
    return f"\x1b[{tone.value}m{text}\x1b[0m"
