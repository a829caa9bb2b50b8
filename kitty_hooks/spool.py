"""Envelopes a hook could not queue (the queue locked or unreadable), kept until it can.

A post-commit hook must not wait long for a busy queue and must not lose what it found, so it
writes the envelopes to a file in the spool folder instead; the next capture or flush that
opens the queue takes them in first, oldest first, keeping their order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from kitty_hooks.locations import log_line, state_dir, work_marker_path
from kitty_hooks.queue import default_queue_path


def spool_dir() -> Path:
    return state_dir() / "spool"


def spool(envelopes: Sequence[Mapping[str, Any]]) -> Path:
    """Write envelopes to a new spool file (atomically); OSError when even that fails."""
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    temp = directory / f".{name}.tmp"
    with temp.open("w", encoding="utf-8") as out:
        json.dump(list(envelopes), out, separators=(",", ":"), ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    final = directory / name
    os.replace(temp, final)
    # After the file, not before: a flush removes the marker first and looks at the spool after
    # (EventQueue.clear_work_marker). A hook killed between the two leaves a spool file without
    # it, which the shims count as work all the same.
    with suppress(OSError):
        work_marker_path(default_queue_path()).touch()
    return final


def has_spooled() -> bool:
    """Whether any envelopes wait in the spool."""
    try:
        with os.scandir(spool_dir()) as entries:
            return any(e.name.endswith(".json") and not e.name.startswith(".") for e in entries)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: say yes, the marker stays


def drain(queue: Any) -> int:
    """Move every spooled envelope into an open EventQueue; returns how many were taken in."""
    directory = spool_dir()
    if not directory.is_dir():
        return 0
    taken = 0
    for path in sorted(directory.glob("*.json")):
        try:
            envelopes = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(envelopes, list):
                raise ValueError("not a list of envelopes")
        except (OSError, ValueError) as exc:
            aside = path.with_suffix(".unreadable")
            log_line(f"spool: {path} is unreadable ({exc}); moved to {aside}")
            os.replace(path, aside)
            continue
        queue.enqueue(envelopes)  # a QueueError leaves the file for the next time
        path.unlink()
        taken += len(envelopes)
    return taken
