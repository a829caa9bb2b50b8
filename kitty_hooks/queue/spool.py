"""Envelopes a hook could not queue (the queue locked or unreadable), kept until it can.

A post-commit hook must not wait long for a busy queue, and must not lose what it found. So it
writes the envelopes to a file in the spool folder instead. The next capture or flush that opens
the queue takes them in first, oldest first, keeping their order.
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


# A claimed file whose claimer cannot be told dead (its pid now another process's, or no way to
# look) is taken up again after this long; one whose claimer is gone, at once.
_STALE_CLAIM_SECONDS = 300


def _spooled_files(directory: Path) -> list[Path]:
    files = list(directory.glob("*.json"))
    now = time.time()
    for claimed in directory.glob("*.claimed-*"):
        with suppress(OSError):
            if _claim_abandoned(claimed, now):
                name = claimed.with_name(claimed.name.split(".claimed-")[0] + ".json")
                os.rename(claimed, name)
                files.append(name)
    return sorted(set(files))


def _claim_abandoned(claimed: Path, now: float) -> bool:
    """Whether the process that claimed this file is gone (killed mid-drain): its pid is in the
    name, and the claim's time in the file's (drain stamps it). A pid that is alive but started
    after the claim is another process that got the number since."""
    claimed_at = claimed.stat().st_mtime
    if now - claimed_at > _STALE_CLAIM_SECONDS:
        return True
    pid_text = claimed.name.rsplit(".claimed-", 1)[1]
    if not pid_text.isdigit() or int(pid_text) <= 0:
        return True  # no claimer could have written that name
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # ours: this process puts it back or finishes it itself
    started = _process_started(pid)
    if started is None:
        return True  # no such process
    return started > claimed_at + 1.0  # the number was reused after the claim


def _process_started(pid: int) -> float | None:
    """When process pid started (epoch seconds, to about a second); None when it does not
    exist; 0.0 when it exists but when it started cannot be told (then it counts as the
    claimer)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OverflowError):
        pass  # another user's: alive all the same
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return None  # killed, not yet reaped by its parent
        ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
        return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    except FileNotFoundError:
        return None if _boot_time() else 0.0  # died just now (or no /proc: cannot tell)
    except (OSError, ValueError, IndexError):
        return 0.0


def _boot_time() -> float:
    """When this machine booted (epoch seconds), from /proc/stat; 0.0 when it cannot be told."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def spooled_count() -> tuple[int, int]:
    """(envelopes, files) still in the spool, claimed ones included; an unreadable file counts
    as a file of none."""
    envelopes = files = 0
    try:
        with os.scandir(spool_dir()) as entries:
            names = [
                e.path for e in entries
                if (e.name.endswith(".json") or ".claimed-" in e.name)
                and not e.name.startswith(".") and e.is_file(follow_symlinks=False)
            ]  # fmt: skip
    except OSError:
        return 0, 0
    for name in names:
        files += 1
        with suppress(OSError, ValueError):
            envelopes += len(_read_spooled(Path(name))[0])
    return envelopes, files


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
