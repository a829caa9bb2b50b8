"""What goes wrong with the queue file, said to the user: SQLite's result codes turned into a
QueueError that names the file and what to do."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from kitty_hooks.errors import FatalError

# Primary result codes (extended codes keep them in the low byte).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


class QueueError(FatalError):
    """The queue cannot be read or written; the message says where and what to do."""


class QueueBusy(QueueError):
    """Another process holds the queue's write lock longer than we waited: try again later."""


def _result_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return int(code) & 0xFF
    # Python 3.10 has only the message.
    message = str(exc).lower()
    for needle, value in (
        ("database is locked", _SQLITE_BUSY),
        ("table is locked", _SQLITE_LOCKED),
        ("readonly database", _SQLITE_READONLY),
        ("disk i/o error", _SQLITE_IOERR),
        ("malformed", _SQLITE_CORRUPT),
        ("or disk is full", _SQLITE_FULL),
        ("unable to open database", _SQLITE_CANTOPEN),
        ("not a database", _SQLITE_NOTADB),
        ("permission denied", _SQLITE_PERM),
    ):
        if needle in message:
            return value
    return None


def is_corrupt(exc: sqlite3.Error) -> bool:
    return _result_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def is_busy(exc: sqlite3.Error) -> bool:
    return _result_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)


def queue_error(
    exc: sqlite3.Error, action: str, where: Path, *, busy_timeout_ms: int
) -> QueueError | None:
    """The QueueError that says what went wrong doing action on the queue file where; None for
    an error that is not about the file (a bug: let it travel with its traceback)."""
    code = _result_code(exc)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        waited = f"{busy_timeout_ms / 1000:g}"
        return QueueBusy(
            f"queue {where} is locked by another process (waited {waited} s): try again"
        )
    if code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN, _SQLITE_IOERR):
        # SQLite says "unable to open database file" or "disk I/O error" for a directory,
        # a FIFO, a dangling symlink or a file we may not read alike: the path says which.
        problem = path_problem(where)
        if problem is not None:
            return QueueError(problem)
    if code == _SQLITE_FULL:
        return QueueError(
            f"disk full: cannot {action} ({where}): free some space and try again; "
            "nothing already queued was lost"
        )
    if code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
        return QueueError(
            f"cannot {action} ({where}: {exc}): make the file and its folder writable, "
            "or set KITTY_HOOKS_HOME to a folder you own"
        )
    if code == _SQLITE_IOERR:
        return QueueError(
            f"I/O error: cannot {action} ({where}: {exc}): check the disk; "
            "nothing already queued was lost"
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return QueueError(
            f"queue {where} is still unreadable after moving the corrupt file aside ({exc}): "
            "remove it by hand"
        )
    return None


def path_problem(path: Path) -> str | None:
    """What makes the queue file at ``path`` unusable, as a sentence that says what to do;
    None when the path itself shows nothing wrong (then SQLite's own words are the best)."""
    fix = "move it away (kitty-hooks starts a new queue there) or set KITTY_HOOKS_HOME"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"queue {path} is a symlink to {os.readlink(path)}, which does not exist: {fix}"
        folder = path.parent
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            return (
                f"the queue folder {folder} is not writable: make it writable or set "
                "KITTY_HOOKS_HOME to a folder you own"
            )
        return None
    except OSError as exc:
        return f"queue {path} cannot be reached ({exc.strerror}): {fix}"
    if stat.S_ISDIR(mode):
        return f"queue {path} is a directory, not a database file: {fix}"
    if not stat.S_ISREG(mode):
        return f"queue {path} is not a regular file (a FIFO, socket or device): {fix}"
    if not os.access(path, os.R_OK):
        return f"queue {path} is not readable by you: fix its owner or mode (chmod 600 {path})"
    if not os.access(path, os.W_OK):
        return f"queue {path} is read-only: make it writable (chmod 600 {path})"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        # WAL mode keeps queue.db-wal and queue.db-shm beside the file.
        return (
            f"the queue folder {path.parent} is not writable (SQLite keeps its journal beside "
            f"{path.name}): make it writable or set KITTY_HOOKS_HOME to a folder you own"
        )
    return None
