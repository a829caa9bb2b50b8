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
from kitty_hooks.queue.database import default_queue_path


def spool_dir() -> Path:
    return state_dir() / "spool"


def spool(
    envelopes: Sequence[Mapping[str, Any]],
    *,
    commits: Mapping[str, str] | None = None,
    repo: str | None = None,
) -> Path:
    """Write envelopes to a new spool file (atomically); OSError when even that fails.

    With them, the commit each was found in and its repository, as the queue would have
    recorded them (what `queue drop --orphaned` judges by)."""
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    ids = {e.get("event_id") for e in envelopes}
    document = {
        "envelopes": list(envelopes),
        "commits": {k: v for k, v in (commits or {}).items() if k in ids},
        "repo": repo,
    }
    from kitty_hooks.files import write_atomically  # a busy queue only: not on every hook

    final = directory / name
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    write_atomically(final, text.encode("utf-8"))
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
            # A claimed file counts: its drainer may have died before taking it in.
            return any(
                (e.name.endswith(".json") or ".claimed-" in e.name) and not e.name.startswith(".")
                for e in entries
            )
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: say yes, the marker stays


def drain(queue: Any) -> int:
    """Move every spooled envelope into an open EventQueue; returns how many were taken in.

    Two processes may drain at once (two worktrees committing, a commit during a flush): each
    file is claimed first by renaming it, so exactly one of them takes it in; the other finds it
    gone and moves on. A QueueError puts the claimed file back for the next time.
    """
    directory = spool_dir()
    if not directory.is_dir():
        return 0
    taken = 0
    for path in _spooled_files(directory):
        claimed = path.with_name(f"{path.stem}.claimed-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another process claimed it
        with suppress(OSError):
            os.utime(claimed)  # the claim's age, not the file's: see _spooled_files
        try:
            envelopes, commits, repo = _read_spooled(claimed)
        except (OSError, ValueError) as exc:
            aside = path.with_suffix(".unreadable")
            log_line(f"spool: {path} is unreadable ({exc}); moved to {aside}")
            with suppress(OSError):
                os.replace(claimed, aside)
            continue
        try:
            queue.enqueue(envelopes, commits=commits, repo=repo)
        except BaseException:
            with suppress(OSError):
                os.replace(claimed, path)  # for the next capture or flush
            raise
        with suppress(FileNotFoundError):
            claimed.unlink()
        taken += len(envelopes)
    return taken


# A claimed file whose drainer died (killed mid-drain) is taken up again after this long.
_STALE_CLAIM_SECONDS = 300


def _spooled_files(directory: Path) -> list[Path]:
    files = list(directory.glob("*.json"))
    now = time.time()
    for claimed in directory.glob("*.claimed-*"):
        with suppress(OSError):
            if now - claimed.stat().st_mtime > _STALE_CLAIM_SECONDS:
                name = claimed.with_name(claimed.name.split(".claimed-")[0] + ".json")
                os.rename(claimed, name)
                files.append(name)
    return sorted(set(files))


def _read_spooled(path: Path) -> tuple[list[dict[str, Any]], dict[str, str], str | None]:
    """A spool file's envelopes, commits and repository; a bare list is an older spool file."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, list):
        document = {"envelopes": document}
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not all(
        isinstance(e, dict) and isinstance(e.get("event_id"), str) for e in envelopes
    ):
        raise ValueError("not a list of envelopes")
    commits = document.get("commits")
    commits = {
        k: v for k, v in (commits if isinstance(commits, dict) else {}).items()
        if isinstance(k, str) and isinstance(v, str)
    }  # fmt: skip
    repo = document.get("repo")
    return envelopes, commits, repo if isinstance(repo, str) else None
