"""One way to render any result as text or as JSON.

A `View` pairs the two sides of one kind of result. `text` is what a person reads; it may take
options, such as quiet or verbose. `document` is what a program parses; it always holds
everything, so it takes none. `RENDERER_BY_FORMAT` is the one registry of formats, and
`--format` offers its keys.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable


# A NamedTuple, not a dataclass: the pre-commit gate renders its report through this module,
# and cannot afford the import of dataclasses (check/results.py says why).
class View(NamedTuple):
    """How one kind of result is shown."""

    text: Callable[..., str]
    document: Callable[[Any], Any]
    ascii_only: bool = False
    """Escape non-ASCII in the JSON. Only scan's JSON does; the others keep UTF-8 as it is."""


def _as_text(view: View, result: Any, options: dict[str, Any]) -> str:
    return view.text(result, **options)


def _as_json(view: View, result: Any, options: dict[str, Any]) -> str:
    del options  # a program gets every field, whatever -q or -v say
    return json.dumps(view.document(result), indent=2, ensure_ascii=view.ascii_only)


RENDERER_BY_FORMAT: dict[str, Callable[[View, Any, dict[str, Any]], str]] = {
    "text": _as_text,
    "json": _as_json,
}


def render(view: View, result: Any, output_format: str, **options: Any) -> str:
    """The result in the format a user chose: `render(STATUS, report, "json")`."""
    return RENDERER_BY_FORMAT[output_format](view, result, options)
