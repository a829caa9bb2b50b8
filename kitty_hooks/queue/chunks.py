"""IN lists cut to fit one statement's host parameters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

# SQLite has allowed 32766 host parameters since 3.32; older builds allow 999.
CHUNK = 500


def id_chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[tuple[Sequence[str], str]]:
    """ids in chunks of at most size, each with its placeholders ("?, ?, ?")."""
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        yield chunk, ", ".join("?" * len(chunk))


def update_in_chunks(
    tx: sqlite3.Connection, template: str, leading: tuple[Any, ...], ids: Sequence[str]
) -> int:
    """Run template (its IN list as {}) over ids chunk by chunk, after the leading parameters;
    returns the rows changed."""
    changed = 0
    for chunk, marks in id_chunks(ids):
        changed += tx.execute(template.format(marks), (*leading, *chunk)).rowcount
    return changed
