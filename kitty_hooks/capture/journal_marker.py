"""The journal's drainer marker, `journal/drainer.pid`: which drainer runs, and starting one.

It holds the drainer's pid and its start time (field 22 of /proc/<pid>/stat, which the shim
reads with shell builtins too). A drainer killed outright leaves its marker, and its pid may
name another process by now, which is no drainer. Why the marker is written when it is:
kitty_hooks/capture/journal.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kitty_hooks.locations import journal_dir, log_line, state_dir

MARKER = "drainer.pid"


def running_drainer() -> int | None:
    """The pid in the marker, when that process is alive and is the one the marker meant (the
    shim's test, in sh: kill -0, and the start time /proc gives)."""
    pid, started = read_marker(journal_dir() / MARKER)
    if pid is None or pid <= 1:
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # another user's process is no drainer of ours
        return None
    except OverflowError:
        return None
    fields = _stat_fields(pid)
    if fields and fields[0] == b"Z":
        # Exited, not yet reaped: a drainer's parent is init, which some containers' init
        # reaps only every second or two. It drains nothing more.
        return None
    now = _start_time_of(fields)
    if now is not None and now != started:
        return None  # the pid names another process now: a drainer killed outright left it
    return pid


def start_time(pid: int) -> str | None:
    """When the process started (field 22 of /proc/<pid>/stat, clock ticks since boot), as the
    shim reads it; None without /proc."""
    return _start_time_of(_stat_fields(pid))


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat from the third (the state) on; None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as source:
            line = source.read(4096)
    except OSError:
        return None
    # The command name (field 2) may hold blanks and parentheses: what follows its last ") ".
    return line.rpartition(b") ")[2].split()


def _start_time_of(fields: list[bytes] | None) -> str | None:
    return fields[19].decode("ascii", "replace") if fields and len(fields) > 19 else None


def marker_line(pid: int) -> str:
    """What the marker holds for a drainer: its pid and its start time."""
    return f"{pid} {start_time(pid) or ''}\n"


def read_marker(marker: Path) -> tuple[int | None, str]:
    try:
        fields = marker.read_text(encoding="ascii").split()
        return int(fields[0]), (fields[1] if len(fields) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None, ""


def marker_pid(marker: Path) -> int | None:
    return read_marker(marker)[0]


def claim(marker: Path) -> None:
    temp = marker.with_name(f".{marker.name}.{os.getpid()}")
    try:
        temp.write_text(marker_line(os.getpid()), encoding="ascii")
        os.replace(temp, marker)
    except OSError as exc:
        log_line(f"journal: cannot write {marker} ({exc}); later commits may start drainers")


def release(marker: Path) -> None:
    """Remove the marker if it names this process (M in kitty_hooks/capture/journal.py's argument)."""
    if marker_pid(marker) == os.getpid():
        try:
            marker.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log_line(f"journal: cannot remove {marker} ({exc})")


def start_drainer() -> None:
    """A detached drainer, as the post-commit shim starts it (it writes its own marker)."""
    import subprocess

    try:
        with open(state_dir() / "kitty-hooks.log", "ab") as output:
            subprocess.Popen(
                [sys.executable, "-m", "kitty_hooks.capture.journal"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd="/",
                env={**os.environ, "PYTHONSAFEPATH": "1"},
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        log_line(f"journal: cannot start a drainer ({exc}); the next reader of the queue drains")
