"""Where kitty-hooks keeps its own files, and the log that takes what a hook cannot print."""

from __future__ import annotations

import os
from pathlib import Path

# Our files live in a folder of their own under the spec-kitty directory, so that nothing of
# ours can collide with the spec-kitty CLI's own queue.db or clock.json beside it.
_STATE_DIR_ENV = "KITTY_HOOKS_HOME"
_LOG_LIMIT_BYTES = 1 << 20


def spec_kitty_dir() -> Path:
    return Path.home() / ".spec-kitty"


def state_dir() -> Path:
    override = os.environ.get(_STATE_DIR_ENV)
    return Path(override) if override else spec_kitty_dir() / "kitty-hooks"


def work_marker_path(queue_path: Path) -> Path:
    """The file beside a queue that says it may hold events to send.

    The hook shims test for it (the default queue's) before they start Python at all: absent, a
    push has nothing to flush. queue/work_marker.py sets it, a flush that finds nothing left removes it.
    """
    return queue_path.with_name(f"{queue_path.name}.pending")


def flush_state_path() -> Path:
    """flush-state.json: deliver/backoff.py writes it; the pre-push hook peeks at its backoff."""
    return state_dir() / "flush-state.json"


def journal_dir() -> Path:
    """Where the post-commit shim records commits for the detached capture (kitty_hooks/capture/journal.py).

    The shim computes the same path from its `state=` line; tests/capture/test_journal.py pins that."""
    return state_dir() / "journal"


def log_path() -> Path:
    return state_dir() / "kitty-hooks.log"


def hooks_disabled() -> bool:
    """KITTY_HOOKS=0 (or false/no/off) turns every hook into a no-op."""
    return os.environ.get("KITTY_HOOKS", "").strip().lower() in ("0", "false", "no", "off")


def log_line(message: str) -> Path:
    """Append a timestamped entry to the log; never raises (the log is the last resort)."""
    from datetime import datetime, timezone

    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > _LOG_LIMIT_BYTES:
            path.replace(path.with_suffix(".log.1"))
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # backslashreplace: a message may quote a file name that is not UTF-8.
        with path.open("a", encoding="utf-8", errors="backslashreplace") as log:
            log.write(f"{stamp} [pid {os.getpid()}] {message.rstrip()}\n")
    except OSError:
        pass
    return path


def log_exception(context: str) -> Path:
    """Log the exception being handled, with its traceback, under a one-line context."""
    import traceback  # only on the error path: it pulls in linecache and tokenize

    return log_line(f"{context}\n{traceback.format_exc()}")
