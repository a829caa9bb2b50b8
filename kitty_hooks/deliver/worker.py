"""The flush that follows a push: started detached by the pre-push hook, run once git is done.

Git has no post-push hook. pre-push starts this worker in a session of its own, with its output
going to the log, and returns at once. The worker waits for the `git push` process to exit.
Then it flushes, respecting the backoff of earlier failures. So a push never waits on the
network, whatever the server does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from kitty_hooks.locations import flush_state_path, log_line, log_path

MAX_WAIT_SECONDS = 30 * 60.0
POLL_SECONDS = 0.05
UNKNOWN_PUSH_GRACE_SECONDS = 5.0
WORKER_LOCK_SECONDS = 30.0


# deliver.backoff's BACKOFF_CAP, RETRY_AFTER_MAX and SLACK_SECONDS (tests pin that they agree).
_OUR_LONGEST_BACKOFF = 15 * 60.0
_LONGEST_BACKOFF = 24 * 3600.0
_SLACK = 2.0


def _backing_off() -> bool:
    """Whether an earlier failure asked automatic flushes to wait: then start no worker.

    Reads two numbers from flush-state.json with json alone; importing deliver.backoff
    (dataclasses, datetime) would cost every push ~12 ms. A backoff further ahead than it was
    set for (the clock went back) is no reason to wait (see deliver.backoff).
    """
    import json

    try:
        document = json.loads(flush_state_path().read_text(encoding="utf-8"))
        after = document["next_attempt_after_epoch"]
        length = document.get("backoff_seconds")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if not isinstance(after, (int, float)) or isinstance(after, bool):
        return False
    if not isinstance(length, (int, float)) or isinstance(length, bool) or length < 0:
        length = _OUR_LONGEST_BACKOFF
    ahead = after - time.time()
    return 0 < ahead <= min(length, _LONGEST_BACKOFF) + _SLACK


def start_after_push() -> int | None:
    """Start the worker for the push this hook belongs to; its pid, None while backing off."""
    if _backing_off():
        return None
    # 0 when no git process is found among our ancestors: the worker then waits a fixed
    # grace period instead of watching the shim's shell, which exits at once.
    push_pid = find_git_ancestor(os.getppid()) or 0
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "kitty_hooks.deliver.worker", str(push_pid)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            cwd="/",
            start_new_session=True,  # not killed with the terminal's process group, no tty
            close_fds=True,
        )
    return child.pid


def find_git_ancestor(pid: int, *, levels: int = 6) -> int | None:
    """The nearest ancestor (pid itself included) that is a git process.

    The shim runs our part under `sh`, and the pre-commit framework adds layers of its own:
    the process to wait for is the git that runs the push, a few levels up.
    """
    for _ in range(levels):
        if pid <= 1:
            return None
        name, parent = _process_info(pid)
        if name is None:
            return None
        if name == "git" or name.startswith("git-"):
            return pid
        pid = parent
    return None


def _process_info(pid: int) -> tuple[str | None, int]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # "pid (comm) state ppid ...": comm may hold spaces or parentheses; split at the last ')'.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        return name, int(stat[stat.rindex(")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(
            ["ps", "-o", "ppid=,comm=", "-p", str(pid)], capture_output=True, text=True, timeout=2
        ).stdout.split(None, 1)
        return Path(out[1].strip()).name, int(out[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None, 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    push_pid = int(argv[0]) if argv else 0
    if push_pid <= 1:
        time.sleep(UNKNOWN_PUSH_GRACE_SECONDS)
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while push_pid > 1 and _alive(push_pid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    try:
        from kitty_hooks.deliver.flush import flush

        # Another flush running will page on through what this push queued; waiting long
        # behind a hung server would only pile workers up (one per push).
        summary = flush(respect_backoff=True, lock_timeout=WORKER_LOCK_SECONDS)
    except Exception as exc:  # the worker has no terminal: everything goes to the log
        from kitty_hooks.locations import log_exception

        log_exception(f"flush after push failed: {type(exc).__name__}: {exc}")
        return 1
    if summary.warning:
        log_line(f"flush after push: warning: {summary.warning}")
    log_line(
        f"flush after push: {summary.outcome}: {summary.line()}"
        + (f" - {summary.message}" if summary.message else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
