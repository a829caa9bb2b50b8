"""The queue's SQLite file, opened and kept usable: WAL mode, migrated on open, one write
transaction at a time, SQLite's errors turned into QueueError, a corrupt file moved aside.

Several git processes write at once: a rebase runs post-commit hooks back to back, two
worktrees commit together. So every write is one ``BEGIN IMMEDIATE`` transaction. The clock
tick, the causation link and the insert commit together or not at all.

This module runs on the post-commit path: it imports sqlite3 and the standard library only.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn, TypeVar

from kitty_hooks.locations import log_line, state_dir, work_marker_path
from kitty_hooks.queue import schema, work_marker
from kitty_hooks.queue.errors import QueueError, is_busy, is_corrupt, queue_error

# Not "queue.db" directly under ~/.spec-kitty: that name belongs to the spec-kitty CLI, whose
# table is also called "queue" and whose rows we must never touch. state_dir() is our own folder.
DEFAULT_QUEUE_FILE = "queue.db"

_T = TypeVar("_T")
_Q = TypeVar("_Q", bound="QueueDatabase")


def default_queue_path() -> Path:
    return state_dir() / DEFAULT_QUEUE_FILE


class QueueDatabase:
    """The queue file at ``path`` (default: ``default_queue_path()``), opened and ready.

    ``recovered_from`` is the path a corrupt queue file was moved to when this instance had to
    start a new one, else None: the caller should say so in one line. ``work_marker`` is the
    file the sh shims look at (see work_marker).
    """

    def __init__(self, path: Path | None = None, *, busy_timeout_ms: int = 10_000) -> None:
        if busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms must be >= 0, got {busy_timeout_ms}")
        self.path = Path(path) if path is not None else default_queue_path()
        self.busy_timeout_ms = busy_timeout_ms
        self.recovered_from: Path | None = None
        self.work_marker = work_marker_path(self.path)
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        try:
            self._guard("open the queue", self._open, redo=False)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self: _Q) -> _Q:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _mark_work(self) -> None:
        work_marker.mark(self.work_marker)

    def clear_work_marker(self, *, spooled: Callable[[], bool]) -> bool:
        """Remove the work marker when nothing is left to send; True when it stays.

        Pending and failed entries are work (failed ones wait for a retry); dead letters are
        not. A flush calls this under its lock. The spool is written without the queue's lock,
        its file first and the marker after, so the marker goes first here and the spool is
        looked at after that: a file spooled meanwhile is seen here, or its marker comes later.
        """
        return self._write(
            "update the queue", lambda tx: work_marker.clear(tx, self.work_marker, spooled)
        )

    def _open(self, *, clock_floor: int = 0) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(
                f"cannot create the queue folder {self.path.parent}: {exc.strerror or exc}; "
                "make it writable or set KITTY_HOOKS_HOME to a folder you own"
            ) from exc
        # isolation_level=None: no implicit transactions; we say BEGIN IMMEDIATE ourselves, so
        # a writer takes the write lock before reading (a deferred transaction that upgrades
        # from read to write gets SQLITE_BUSY at once in WAL mode, without waiting).
        conn = sqlite3.connect(
            str(self.path), timeout=self.busy_timeout_ms / 1000, isolation_level=None
        )
        self._conn = conn
        # Which file this is, so recovery does not move aside a new queue another process made.
        self._identity = _file_identity(self.path)
        # WAL lets readers (queue list, status) run beside a writer. synchronous=NORMAL is safe
        # in WAL mode: a commit is appended to the WAL and fsynced at the next checkpoint, never
        # half applied. A killed process loses nothing (its WAL frames are in the OS cache); a
        # power cut can only roll back whole commits made since the last checkpoint, and the
        # last connection to close (a hook's, as it exits) checkpoints, so a hook's events are
        # on disk once it is done. FULL would add an fsync to every commit.
        _enable_wal(conn, self.busy_timeout_ms)
        conn.execute("PRAGMA synchronous=NORMAL")
        if schema.is_current(conn, self.path):
            return
        with self._transaction() as tx:
            schema.migrate(tx, self.path, clock_floor=clock_floor)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"queue {self.path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._db
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself after some errors (disk full, I/O); roll back the rest.
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _in_transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._transaction() as tx:
            return work(tx)

    def _read(self, action: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """work on the connection, guarded (action says what it does, for the error)."""
        return self._guard(action, lambda: work(self._db))

    def _write(self, action: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """work in one write transaction, guarded."""
        return self._guard(action, lambda: self._in_transaction(work))

    def _guard(self, action: str, work: Callable[[], _T], *, redo: bool = True) -> _T:
        """Run work, turning SQLite errors into QueueError.

        A corrupt file is moved aside once and the work redone on a new file (opening needs no
        redo: recovery opened the new file). Errors that are not about the file are bugs and
        keep their traceback.
        """
        try:
            return work()
        except sqlite3.Error as exc:
            if not is_corrupt(exc):
                self._raise_queue_error(exc, action)
            first = exc
        try:
            self._recover(first)
            if not redo:
                return None  # type: ignore[return-value]
            return work()
        except sqlite3.Error as exc:
            self._raise_queue_error(exc, action)

    def _raise_queue_error(self, exc: sqlite3.Error, action: str) -> NoReturn:
        error = queue_error(exc, action, self.path, busy_timeout_ms=self.busy_timeout_ms)
        if error is None:
            raise exc  # anything else is a bug: let it travel with its traceback
        raise error from exc

    def _recover(self, exc: sqlite3.Error) -> None:
        """Move a corrupt queue file aside (with its -wal and -shm) and open a new one."""
        salvaged = self._salvage_clock()
        if self.path.exists() and _file_identity(self.path) == self._identity:
            self.recovered_from = _move_aside(self.path, exc, close=self.close)
        else:  # another process recovered first: the file at self.path is already a new queue
            self.close()
        # The new clock must not hand out values this node used before. What a corrupt file
        # still shows is not to be trusted alone; the wall clock in milliseconds is above any
        # count of events one node can have emitted, and the larger of the two also holds when
        # the wall clock was set back after an earlier recovery.
        self._open(clock_floor=max(salvaged or 0, int(time.time() * 1000)))

    def _salvage_clock(self) -> int | None:
        try:
            (value,) = self._db.execute(schema.READ_CLOCK).fetchone()
            return int(value)
        except (sqlite3.Error, TypeError, ValueError):
            return None


def _enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy
    # handler for it: eight hooks creating the queue at once got "database is locked" at
    # once. Wait here as the busy timeout would.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _move_aside(path: Path, exc: sqlite3.Error, *, close: Callable[[], None]) -> Path:
    """Move the corrupt file at path (and its -wal and -shm) to a new name, closing the
    connection on it at the right moment; returns the new name."""
    aside = _aside_name(path)
    try:
        # Closing the last connection deletes the -wal and -shm files, even of a file
        # SQLite could not read: copy them first, they may hold the latest commits.
        for suffix in ("-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                import shutil  # only to recover a corrupt queue: not on every hook run

                shutil.copyfile(f"{path}{suffix}", f"{aside}{suffix}")
        close()
        path.replace(aside)
        # Whatever close() left must go too: a stale WAL would be replayed into the new file.
        for suffix in ("-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                Path(f"{path}{suffix}").replace(f"{aside}{suffix}")
    except OSError as move_error:
        raise QueueError(
            f"queue {path} is corrupt ({exc}) and could not be moved aside "
            f"({move_error.strerror or move_error}): move or delete it by hand"
        ) from move_error
    log_line(
        f"queue {path} was corrupt ({exc}); moved it to {aside} and started a new "
        "one (`kitty-hooks scan` queues again what it held)"
    )
    return aside


def _aside_name(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}-{number}")
    return aside


def _utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)
