"""The durable local event queue: one SQLite file per user, with the Lamport clock inside it.

Several git processes write at once (a rebase runs post-commit hooks back to back, two
worktrees commit together), so every write is one ``BEGIN IMMEDIATE`` transaction: the clock
tick, the causation link and the insert commit together or not at all.

The Lamport clock is the entry id: the next value is one above both the highest id in the table
and the high-water mark that ``clock`` keeps when entries are deleted, so no value is handed out
twice. An enqueue then writes three pages (the row, the event_id index, the causation link); a
counter updated on every enqueue (or AUTOINCREMENT's sqlite_sequence) would be a fourth, and the
commit is most of an enqueue's time. It also makes id order the one queue order: commit order,
Lamport order, FIFO.

This module runs on the post-commit path: it imports sqlite3 and the standard library only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar

from kitty_hooks.errors import FatalError
from kitty_hooks.locations import log_line, state_dir, work_marker_path
from kitty_hooks.model.events import causation_key, commit_rewrites, replace_commit_refs

# Not "queue.db" directly under ~/.spec-kitty: that name belongs to the spec-kitty CLI, whose
# table is also called "queue" and whose rows we must never touch. state_dir() is our own folder.
DEFAULT_QUEUE_FILE = "queue.db"
DEFAULT_RETRY_LIMIT = 5
SCHEMA_VERSION = 2
# How long known_events remembers an event delivered, purged or dropped, and how many it keeps
# at most (the oldest go first). Past that a scan over old commits queues a move again and the
# server answers `duplicate`: idempotency is the server's, this table only saves the trip.
KNOWN_EVENTS_DAYS = 90
KNOWN_EVENTS_MAX = 50_000

PENDING = "pending"
FAILED = "failed"
DEAD_LETTER = "dead_letter"
STATUSES = (PENDING, FAILED, DEAD_LETTER)

# SQLite has allowed 32766 host parameters since 3.32; older builds allow 999.
_CHUNK = 500

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

_T = TypeVar("_T")


class Verdict(str, Enum):
    """Why an event left the queue, as known_events remembers it."""

    SUCCESS = "success"  # the server stored it
    DUPLICATE = "duplicate"  # the server had it already
    PURGED = "purged"  # a dead letter removed by `queue purge --dead`
    DROPPED = "dropped"  # removed by `queue drop EVENT_ID`

    @property
    def delivered(self) -> bool:
        return self in (Verdict.SUCCESS, Verdict.DUPLICATE)


# How an envelope is stored: compact, UTF-8 as it is (what the flush sends, untouched).
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class QueueError(FatalError):
    """The queue cannot be read or written; the message says where and what to do."""


class QueueBusy(QueueError):
    """Another process holds the queue's write lock longer than we waited: try again later."""


# NamedTuples, not dataclasses: the post-commit hook opens the queue, and cannot afford
# dataclasses' import (inspect, ast: ~8 ms) nor its per-class code generation.
class QueueEntry(NamedTuple):
    id: int
    event_id: str
    event_type: str
    envelope: dict[str, Any]
    status: str
    retry_count: int
    created_at: str
    last_attempt_at: str | None
    last_error: str | None
    error_category: str | None
    commit_sha: str | None = None
    """The commit capture found the event in (None: queued before schema 2, spooled, or sent by
    another tool); rewritten along with the commit by an amend or rebase."""
    repo: str | None = None
    """The git common dir of that commit's repository."""


class DeliveredEvent(NamedTuple):
    """One line of `kitty-hooks log`: an event the server acknowledged, and when."""

    event_id: str
    event_type: str | None
    verdict: Verdict
    delivered_at: str
    feature_slug: str | None
    wp_id: str | None
    from_lane: str | None
    to_lane: str | None


class OutgoingPage(NamedTuple):
    """The next events to send, as the flusher reads them ahead of the one in flight: parallel
    tuples, the envelopes as the stored JSON's UTF-8 bytes (joined as they are into the body,
    never decoded). Empty when nothing is left to send."""

    ids: tuple[int, ...]
    event_ids: tuple[str, ...]
    event_types: tuple[str, ...]
    data: tuple[bytes, ...]


class EnqueueResult(NamedTuple):
    queued: tuple[str, ...]
    duplicates: tuple[str, ...]


class QueueStats(NamedTuple):
    total_pending: int
    total_failed: int
    total_dead_letter: int
    oldest_created_at: str | None
    retry_distribution: dict[str, int]
    top_event_types: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return self.total_pending + self.total_failed + self.total_dead_letter


def default_queue_path() -> Path:
    return state_dir() / DEFAULT_QUEUE_FILE


# --- schema ----------------------------------------------------------------------------------
# (schema 2 adds to what _SCHEMA_1 makes: see _migrate_1_to_2)

# entries holds what is still to deliver; its id is the event's Lamport clock. known_events
# remembers the ids of entries delivered or purged, so a backfill scan over old commits does not
# queue them again; causation remembers the last event of each work package for the same reason.
# clock.value is at least every id ever deleted: whatever deletes entries raises it first
# (_DELETING), in the same transaction.
_SCHEMA_1 = (
    """CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'failed', 'dead_letter')),
        retry_count INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_attempt_at TEXT,
        last_error TEXT,
        error_category TEXT,
        causation_key TEXT NOT NULL
    )""",
    "CREATE TABLE known_events (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE causation (
        causation_key TEXT PRIMARY KEY,
        last_event_id TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL CHECK (value >= 0)
    )""",
    "INSERT INTO clock (id, value) VALUES (1, 0)",
)

_READ_CLOCK = "SELECT max(coalesce((SELECT max(id) FROM entries), 0), value) FROM clock"
_DELETING = "UPDATE clock SET value = max(value, coalesce((SELECT max(id) FROM entries), 0))"


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    foreign = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    if foreign:
        # e.g. someone pointed KITTY_HOOKS_HOME at ~/.spec-kitty, whose queue.db is the CLI's.
        raise _NotOurs(", ".join(sorted(foreign)))
    for statement in _SCHEMA_1:
        conn.execute(statement)


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    # Which commit each event came from, so `queue drop --orphaned` can tell the events whose
    # commit a `git reset --hard` threw away: the envelope names it only through a one-way hash
    # (the correlation id), and not at all once an amend rewrote the commit.
    conn.execute("ALTER TABLE entries ADD COLUMN commit_sha TEXT")
    conn.execute("ALTER TABLE entries ADD COLUMN repo TEXT")
    # known_events becomes the delivery log too (`kitty-hooks log`): when, the verdict, what.
    # Rows from before have no verdict; they age out from the day of the migration.
    # detail: [feature_slug, wp_id, from_lane, to_lane] as a JSON array (one json_extract).
    for column in ("known_at TEXT", "verdict TEXT", "event_type TEXT", "detail TEXT"):
        conn.execute(f"ALTER TABLE known_events ADD COLUMN {column}")
    conn.execute("UPDATE known_events SET known_at = ?", (_utc_now(),))
    conn.execute("CREATE INDEX known_events_by_time ON known_events (known_at)")


# _MIGRATIONS[n] takes a database from user_version n to n + 1. Never edit a shipped step: add one.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_0_to_1, _migrate_1_to_2)
assert len(_MIGRATIONS) == SCHEMA_VERSION


class _NotOurs(Exception):
    pass


# --- errors ----------------------------------------------------------------------------------


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


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return _result_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


# --- the queue -------------------------------------------------------------------------------


class EventQueue:
    """The queue file at ``path`` (default: ``default_queue_path()``), opened and ready.

    ``recovered_from`` is the path a corrupt queue file was moved to when this instance had to
    start a new one, else None: the caller should say so in one line.
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

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        self._enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self._check_version(version)
        with self._transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]  # another process may
            self._check_version(version)  # have migrated meanwhile
            try:
                for step in _MIGRATIONS[version:]:
                    step(tx)
            except _NotOurs as exc:
                raise QueueError(
                    f"{self.path} is not a kitty-hooks queue (it holds tables: {exc}); "
                    "move it away or set KITTY_HOOKS_HOME to another folder"
                ) from None
            tx.execute("UPDATE clock SET value = max(value, ?)", (clock_floor,))
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy
        # handler for it: eight hooks creating the queue at once got "database is locked" at
        # once. Wait here as the busy timeout would.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.001
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = _result_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise QueueError(
                f"queue {self.path} was written by a newer kitty-hooks (schema {version}, this "
                f"one knows up to {SCHEMA_VERSION}): upgrade kitty-hooks; the file was left as is"
            )

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

    def _guard(self, action: str, work: Callable[[], _T], *, redo: bool = True) -> _T:
        """Run work, turning SQLite errors into QueueError.

        A corrupt file is moved aside once and the work redone on a new file (opening needs no
        redo: recovery opened the new file). Errors that are not about the file are bugs and
        keep their traceback.
        """
        try:
            return work()
        except sqlite3.Error as exc:
            if not _is_corrupt(exc):
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
        error = self._queue_error(exc, action)
        if error is None:
            raise exc  # anything else is a bug: let it travel with its traceback
        raise error from exc

    def _queue_error(self, exc: sqlite3.Error, action: str) -> QueueError | None:
        where = self.path
        code = _result_code(exc)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            waited = f"{self.busy_timeout_ms / 1000:g}"
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

    def _recover(self, exc: sqlite3.Error) -> None:
        """Move a corrupt queue file aside (with its -wal and -shm) and open a new one."""
        salvaged = self._salvage_clock()
        ours = self.path.exists() and _file_identity(self.path) == self._identity
        # else another process recovered first: the file at self.path is already a new queue.
        aside = _aside_name(self.path) if ours else None
        try:
            if aside is not None:
                # Closing the last connection deletes the -wal and -shm files, even of a file
                # SQLite could not read: copy them first, they may hold the latest commits.
                for suffix in ("-wal", "-shm"):
                    if Path(f"{self.path}{suffix}").exists():
                        import shutil  # only to recover a corrupt queue: not on every hook run

                        shutil.copyfile(f"{self.path}{suffix}", f"{aside}{suffix}")
            self.close()
            if aside is not None:
                self.path.replace(aside)
                # Whatever close() left must go too: a stale WAL would be replayed into the
                # new file.
                for suffix in ("-wal", "-shm"):
                    if Path(f"{self.path}{suffix}").exists():
                        Path(f"{self.path}{suffix}").replace(f"{aside}{suffix}")
        except OSError as move_error:
            raise QueueError(
                f"queue {self.path} is corrupt ({exc}) and could not be moved aside "
                f"({move_error.strerror or move_error}): move or delete it by hand"
            ) from move_error
        if aside is not None:
            self.recovered_from = aside
            log_line(
                f"queue {self.path} was corrupt ({exc}); moved it to {aside} and started a new "
                "one (`kitty-hooks scan` queues again what it held)"
            )
        # The new clock must not hand out values this node used before. What a corrupt file
        # still shows is not to be trusted alone; the wall clock in milliseconds is above any
        # count of events one node can have emitted, and the larger of the two also holds when
        # the wall clock was set back after an earlier recovery.
        self._open(clock_floor=max(salvaged or 0, int(time.time() * 1000)))

    def _salvage_clock(self) -> int | None:
        try:
            (value,) = self._db.execute(_READ_CLOCK).fetchone()
            return int(value)
        except (sqlite3.Error, TypeError, ValueError):
            return None

    # --- writing -----------------------------------------------------------------------------

    def enqueue(
        self,
        envelopes: Sequence[Mapping[str, Any]],
        *,
        commits: Mapping[str, str] | None = None,
        repo: str | None = None,
        encode: Callable[[Any], str] | None = None,
    ) -> EnqueueResult:
        """Queue complete envelopes, in one transaction; the queue sets lamport_clock and
        causation_id. Ids seen before (queued now or ever delivered) are duplicates.

        commits maps event ids to the commit they were found in, repo names that commit's
        repository (its git common dir): what `queue drop --orphaned` needs to know. encode
        writes an envelope as the compact JSON stored (a scan passes a faster one)."""
        return self._guard(
            "queue events",
            lambda: self._enqueue(envelopes, commits or {}, repo, encode or compact_json),
        )

    def _enqueue(
        self,
        envelopes: Sequence[Mapping[str, Any]],
        commits: Mapping[str, str],
        repo: str | None,
        dumps: Callable[[Any], str],
    ) -> EnqueueResult:
        queued: list[str] = []
        duplicates: list[str] = []
        if not envelopes:
            return EnqueueResult((), ())
        for envelope in envelopes:
            event_id = envelope.get("event_id")
            event_type = envelope.get("event_type")
            if not isinstance(event_id, str) or not event_id:
                raise ValueError(f"event_id must be a non-empty string, got {event_id!r}")
            if not isinstance(event_type, str) or not event_type:
                raise ValueError(f"event_type must be a non-empty string, got {event_type!r}")
        with self._transaction() as tx:
            created_at = _utc_now()
            (clock,) = tx.execute(_READ_CLOCK).fetchone()
            # Queued now, or delivered, purged or dropped before: asked in chunks, not one
            # SELECT an event (a scan queues thousands in one transaction).
            seen = self._seen_ids(tx, [e["event_id"] for e in envelopes])
            last_of: dict[str, str | None] = {}
            moved: dict[str, str] = {}
            rows: list[tuple[Any, ...]] = []
            for envelope in envelopes:
                event_id = envelope["event_id"]
                if event_id in seen:
                    duplicates.append(event_id)
                    if commits.get(event_id):
                        # Seen again in another commit (after `reset --soft` and a new commit,
                        # a cherry-pick): name the one found last, or `queue drop --orphaned`
                        # would drop a move that is still in history.
                        tx.execute(
                            "UPDATE entries SET commit_sha = ?, repo = ? WHERE event_id = ?",
                            (commits[event_id], repo, event_id),
                        )
                    continue
                seen.add(event_id)  # twice in one batch: queued once
                key = causation_key(envelope)
                if key not in last_of:
                    row = tx.execute(
                        "SELECT last_event_id FROM causation WHERE causation_key = ?", (key,)
                    ).fetchone()
                    last_of[key] = row[0] if row else None
                clock += 1
                stored = dict(envelope)
                stored["lamport_clock"] = clock
                stored["causation_id"] = last_of[key]
                data = dumps(stored)
                commit = commits.get(event_id)
                rows.append(
                    (
                        clock,
                        event_id,
                        envelope["event_type"],
                        data if data.isascii() else _unicode_text(data),
                        created_at,
                        key,
                        commit,
                        repo if commit else None,
                    )
                )
                last_of[key] = moved[key] = event_id
                queued.append(event_id)
            tx.executemany(
                "INSERT INTO entries (id, event_id, event_type, data, created_at,"
                " causation_key, commit_sha, repo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            tx.executemany(
                "INSERT INTO causation (causation_key, last_event_id) VALUES (?, ?)"
                " ON CONFLICT (causation_key) DO UPDATE SET last_event_id = excluded.last_event_id",
                moved.items(),
            )
            if queued:
                self._mark_work()
        return EnqueueResult(tuple(queued), tuple(duplicates))

    @staticmethod
    def _seen_ids(tx: sqlite3.Connection, event_ids: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        # Each id goes in twice: 400 keeps a chunk under SQLite's oldest limit of 999 variables.
        for start in range(0, len(event_ids), 400):
            chunk = event_ids[start : start + 400]
            marks = ", ".join("?" * len(chunk))
            seen.update(
                row[0]
                for row in tx.execute(
                    f"SELECT event_id FROM entries WHERE event_id IN ({marks})"
                    f" UNION ALL SELECT event_id FROM known_events WHERE event_id IN ({marks})",
                    [*chunk, *chunk],
                )
            )
        return seen

    def replace_commit_refs(self, rewritten: Mapping[str, str]) -> int:
        """Point pending and failed events at the commits an amend or rebase made of theirs
        (model.events.replace_commit_refs says which references). Returns how many entries
        changed."""
        rewrites = commit_rewrites(rewritten)
        if not rewrites:
            return 0
        return self.follow_commit_rewrites(
            rewrites, lambda envelope: replace_commit_refs(envelope, rewrites)
        )

    def follow_commit_rewrites(
        self,
        rewrites: Mapping[str, str],
        transform: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> int:
        """After an amend or rebase, in one transaction: entries found in an old commit of
        rewrites (old sha -> new sha) now name the new one, and transform runs over the
        envelope of every pending and failed entry; what it returns is stored instead (None:
        unchanged). Returns how many envelopes changed."""

        def work() -> int:
            changed = 0
            with self._transaction() as tx:
                # The event now lives in the new commit: the old one is unreachable after the
                # amend, and its events must not read as orphaned.
                tx.executemany(
                    "UPDATE entries SET commit_sha = ? WHERE commit_sha = ?",
                    [(new, old) for old, new in rewrites.items()],
                )
                rows = tx.execute(
                    "SELECT id, data FROM entries WHERE status IN ('pending', 'failed')"
                ).fetchall()
                for row_id, data in rows:
                    rewritten = transform(json.loads(data))
                    if rewritten is not None:
                        tx.execute(
                            "UPDATE entries SET data = ? WHERE id = ?",
                            (compact_json(rewritten), row_id),
                        )
                        changed += 1
            return changed

        return self._guard("rewrite commit refs in the queue", work)

    # --- the work marker ----------------------------------------------------------------------
    # Set inside every write transaction that gives the queue something to send, before it
    # commits; removed only by clear_work_marker, inside a write transaction that finds nothing
    # to send. Both hold the queue's write lock, so a check and a change never interleave, and a
    # writer that dies before its commit leaves the marker and no event: a "yes" too many,
    # which the next flush takes back.

    def _mark_work(self) -> None:
        try:
            self.work_marker.touch()
        except OSError as exc:
            # Without it a push would not see these events: better not to queue them (the
            # hook spools them instead) than to queue them where no flush looks.
            raise QueueError(
                f"cannot write {self.work_marker}: {exc.strerror or exc}; make the folder "
                "writable or set KITTY_HOOKS_HOME to a folder you own"
            ) from exc

    def clear_work_marker(self, *, spooled: Callable[[], bool]) -> bool:
        """Remove the marker when nothing is left to send; True when it stays.

        Pending and failed entries are work (failed ones wait for a retry); dead letters are
        not. A flush calls this under its lock. The spool is written without the queue's lock,
        its file first and the marker after, so the marker goes first here and the spool is
        looked at after that: a file spooled meanwhile is seen here, or its marker comes later.
        """

        def work() -> bool:
            with self._transaction() as tx:
                if tx.execute(
                    "SELECT 1 FROM entries WHERE status IN ('pending', 'failed') LIMIT 1"
                ).fetchone():
                    return True
                try:
                    self.work_marker.unlink(missing_ok=True)
                except OSError:
                    return True
                if spooled():
                    with suppress(OSError):  # the shims look at the spool folder too
                        self.work_marker.touch()
                    return True
                return False

        return self._guard("update the queue", work)

    # --- reading -----------------------------------------------------------------------------

    def list_entries(
        self, *, statuses: Sequence[str] | None = None, limit: int | None = None
    ) -> list[QueueEntry]:
        """Entries oldest first (in commit order, which is also Lamport order)."""
        wanted = _check_statuses(statuses)
        query = f"SELECT {_COLUMNS} FROM entries"
        params: list[Any] = []
        if wanted is not None:
            query += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        query += " ORDER BY id"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        return self._guard("list the queue", lambda: self._entries(query, params))

    def get(self, event_id: str) -> QueueEntry | None:
        """The entry with this event id, or with the only id that starts with it."""

        def work() -> QueueEntry | None:
            found = self._entries(f"SELECT {_COLUMNS} FROM entries WHERE event_id = ?", [event_id])
            if found or not event_id:
                return found[0] if found else None
            matches = self._entries(
                f"SELECT {_COLUMNS} FROM entries WHERE event_id >= ? AND event_id < ?"
                " ORDER BY event_id LIMIT 2",
                [event_id, event_id + "\U0010ffff"],
            )
            if len(matches) > 1:
                raise QueueError(
                    f"{event_id} is the start of several queued event ids: give more characters"
                )
            return matches[0] if matches else None

        return self._guard("read the queue", work)

    def last_event_id_for(self, causation_key: str) -> str | None:
        def work() -> str | None:
            row = self._db.execute(
                "SELECT last_event_id FROM causation WHERE causation_key = ?", (causation_key,)
            ).fetchone()
            return row[0] if row else None

        return self._guard("read the queue", work)

    def lamport_clock(self) -> int:
        """The last Lamport value handed out (0 for a new queue)."""
        return self._guard("read the queue", lambda: self._db.execute(_READ_CLOCK).fetchone()[0])

    def stats(self) -> QueueStats:
        def work() -> QueueStats:
            db = self._db
            counts = dict.fromkeys(STATUSES, 0)
            for status, count in db.execute("SELECT status, count(*) FROM entries GROUP BY status"):
                counts[status] = count
            (oldest,) = db.execute("SELECT min(created_at) FROM entries").fetchone()
            buckets = {"0": 0, "1-2": 0, "3-4": 0, "5+": 0}
            for retries, count in db.execute(
                "SELECT retry_count, count(*) FROM entries GROUP BY retry_count"
            ):
                bucket = (
                    "0"
                    if retries <= 0
                    else "1-2"
                    if retries <= 2
                    else "3-4"
                    if retries <= 4
                    else "5+"
                )
                buckets[bucket] += count
            top = [
                (event_type, count)
                for event_type, count in db.execute(
                    "SELECT event_type, count(*) AS n FROM entries GROUP BY event_type"
                    " ORDER BY n DESC, event_type LIMIT 5"
                )
            ]
            return QueueStats(
                total_pending=counts[PENDING],
                total_failed=counts[FAILED],
                total_dead_letter=counts[DEAD_LETTER],
                oldest_created_at=oldest,
                retry_distribution=buckets,
                top_event_types=top,
            )

        return self._guard("read the queue", work)

    def _entries(self, query: str, params: Sequence[Any]) -> list[QueueEntry]:
        return [_entry(row) for row in self._db.execute(query, params)]

    # --- for the flusher ---------------------------------------------------------------------

    def outgoing_page(
        self, limit: int, *, retry_limit: int = DEFAULT_RETRY_LIMIT, after_id: int = 0
    ) -> OutgoingPage:
        """The next events to send, oldest first: pending ones and failed ones below the limit,
        as parallel tuples, each envelope as the UTF-8 bytes of the JSON stored (exactly what is
        sent: a flush of many events decodes and re-encodes none). after_id pages on: only
        entries with a larger id (the last of the previous page), so a flush that keeps failed
        entries in the queue still moves forward."""

        def work() -> OutgoingPage:
            rows = self._db.execute(
                # CAST: the UTF-8 bytes SQLite holds, without a str made and encoded again.
                "SELECT id, event_id, event_type, CAST(data AS BLOB) FROM entries WHERE id > ?"
                " AND (status = 'pending' OR (status = 'failed' AND retry_count < ?))"
                " ORDER BY id LIMIT ?",
                [after_id, retry_limit, limit],
            ).fetchall()
            if not rows:
                return OutgoingPage((), (), (), ())
            ids, event_ids, event_types, data = zip(*rows, strict=True)
            return OutgoingPage(ids, event_ids, event_types, data)

        return self._guard("read the queue", work)

    def mark_delivered(self, event_ids: Sequence[str], *, duplicates: Sequence[str] = ()) -> int:
        """remove_delivered() by event id (those in duplicates the server had already); their ids
        stay known, with when and the verdict, for `kitty-hooks log`. Returns rows removed."""
        again = set(duplicates)
        wanted = list(dict.fromkeys(event_ids))

        def entry_ids() -> list[tuple[int, str]]:
            found: list[tuple[int, str]] = []
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                found += self._db.execute(
                    f"SELECT id, event_id FROM entries WHERE event_id IN ({marks})", chunk
                ).fetchall()
            return found

        found = self._guard("read the queue", entry_ids)
        return self.remove_delivered(
            (entry_id, Verdict.DUPLICATE if event_id in again else Verdict.SUCCESS)
            for entry_id, event_id in found
        )

    def remove_delivered(self, acknowledged: Iterable[tuple[int, Verdict]]) -> int:
        """Remove delivered entries by id, as the flusher calls it: exactly these entries,
        remembering each with its verdict (success or duplicate) for `kitty-hooks log`.
        Returns rows removed.

        Ids are grouped into runs of consecutive integers of one verdict, and each run goes by
        range (`id BETWEEN first AND last`): a run holds only ids given here, and ids are never
        handed out twice, so a range can touch no other entry, neither one queued while the
        batch was in flight (its id is above every id read) nor a dead letter or a rejected
        event between two delivered ones (its id breaks the run).
        """
        runs = _verdict_runs(sorted(dict(acknowledged).items()))
        if not runs:
            return 0

        def work() -> int:
            removed = 0
            now = _utc_now()
            # Debian's SQLite is built with SECURE_DELETE, which zeroes every freed page and
            # writes it to the WAL: 290 pages for 1,000 delivered events instead of 160. FAST
            # still zeroes what is deleted inside a page; the queue holds what the server
            # was just sent, nothing to hide from the disk.
            self._db.execute("PRAGMA secure_delete=FAST")
            with self._transaction() as tx:
                tx.execute(_DELETING)
                for first, last, verdict in runs:
                    tx.execute(
                        _REMEMBER + " WHERE id BETWEEN ? AND ?", (now, verdict.value, first, last)
                    )
                    removed += tx.execute(
                        "DELETE FROM entries WHERE id BETWEEN ? AND ?", (first, last)
                    ).rowcount
                _prune_known(tx)
            return removed

        return self._guard("remove delivered events from the queue", work)

    def discard_unsent(self, event_ids: Sequence[str]) -> int:
        """Drop events that were never sent and no longer happened (an amend or rebase rewrote
        the move away). Attempted ones may already be on the server: they stay. The ids are not
        remembered as known, and a WP whose last event was dropped starts a new causation chain."""
        return self._guard(
            "drop rewritten events from the queue", lambda: self._discard_unsent(event_ids)
        )

    def mark_attempted(self, event_ids: Sequence[str]) -> int:
        """Stamp last_attempt_at (a network failure is not the event's fault: nothing else)."""
        return self._guard(
            "record a send attempt in the queue",
            lambda: self._in_chunks(
                "UPDATE entries SET last_attempt_at = ? WHERE event_id IN ({})",
                (_utc_now(),),
                event_ids,
            ),
        )

    def mark_rejected(
        self,
        event_id: str,
        error: str,
        category: str,
        *,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
    ) -> QueueEntry | None:
        """The server refused the event: count a retry; at retry_limit it becomes dead_letter."""

        def work() -> QueueEntry | None:
            with self._transaction() as tx:
                tx.execute(
                    "UPDATE entries SET retry_count = retry_count + 1,"
                    " status = CASE WHEN retry_count + 1 >= ? THEN 'dead_letter' ELSE 'failed' END,"
                    " last_error = ?, error_category = ?, last_attempt_at = ? WHERE event_id = ?",
                    (retry_limit, error, category, _utc_now(), event_id),
                )
            found = self._entries(f"SELECT {_COLUMNS} FROM entries WHERE event_id = ?", [event_id])
            return found[0] if found else None

        return self._guard("record a rejection in the queue", work)

    def retry(self, event_ids: Sequence[str] | None = None, *, all_dead: bool = False) -> int:
        """Put failed or dead-letter events back to pending with a fresh retry count."""
        if event_ids is None and not all_dead:
            raise ValueError("retry() needs event ids or all_dead=True")
        reset = (
            "UPDATE entries SET status = 'pending', retry_count = 0, last_error = NULL,"
            " error_category = NULL WHERE status IN ('failed', 'dead_letter')"
        )

        def work() -> int:
            changed = 0
            if all_dead:
                with self._transaction() as tx:
                    changed += tx.execute(reset + " AND status = 'dead_letter'").rowcount
                    if changed:
                        self._mark_work()
            if event_ids:
                changed += self._in_chunks(
                    reset + " AND event_id IN ({})", (), event_ids, adds_work=True
                )
            return changed

        return self._guard("retry events in the queue", work)

    def purge_dead(self) -> int:
        """Delete dead-letter events (their ids stay known, so a scan will not queue them again)."""

        def work() -> int:
            with self._transaction() as tx:
                tx.execute(_DELETING)
                tx.execute(
                    _REMEMBER + " WHERE status = 'dead_letter'", (_utc_now(), Verdict.PURGED.value)
                )
                return tx.execute("DELETE FROM entries WHERE status = 'dead_letter'").rowcount

        return self._guard("purge dead letters from the queue", work)

    def drop(self, event_ids: Sequence[str], *, remember: bool = True) -> list[str]:
        """Remove events of any status, sent or not; returns the ids removed.

        remember: their ids stay known, so a scan does not queue them again (the user said no
        to these); without it they are forgotten, as a move that no longer happened is (its
        commit is gone), and queued again should it happen again. Either way a work package
        whose last event was dropped starts a new causation chain: nothing may point at an
        event the server never got.
        """

        def work() -> list[str]:
            ids = list(dict.fromkeys(event_ids))
            removed: list[str] = []
            with self._transaction() as tx:
                tx.execute(_DELETING)
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    removed += [
                        row[0]
                        for row in tx.execute(
                            f"SELECT event_id FROM entries WHERE event_id IN ({marks})", chunk
                        )
                    ]
                    if remember:
                        tx.execute(
                            _REMEMBER + f" WHERE event_id IN ({marks})",
                            (_utc_now(), Verdict.DROPPED.value, *chunk),
                        )
                    tx.execute(f"DELETE FROM entries WHERE event_id IN ({marks})", chunk)
                    tx.execute(f"DELETE FROM causation WHERE last_event_id IN ({marks})", chunk)
                _prune_known(tx)
            return removed

        return self._guard("drop events from the queue", work)

    def delivered(self, *, limit: int | None = None) -> list[DeliveredEvent]:
        """What the server acknowledged, newest first (as long as known_events keeps it)."""

        def work() -> list[DeliveredEvent]:
            rows = self._db.execute(
                "SELECT event_id, event_type, verdict, known_at, detail FROM known_events"
                " WHERE verdict IN (?, ?) ORDER BY known_at DESC, event_id DESC LIMIT ?",
                (Verdict.SUCCESS.value, Verdict.DUPLICATE.value, -1 if limit is None else limit),
            )
            found = []
            for event_id, event_type, verdict, known_at, detail in rows:
                parts = _detail(detail)
                found.append(
                    DeliveredEvent(event_id, event_type, Verdict(verdict), known_at, *parts)
                )
            return found

        return self._guard("read the delivery log", work)

    def _discard_unsent(self, event_ids: Sequence[str]) -> int:
        ids = list(event_ids)
        removed = 0
        if not ids:
            return 0
        with self._transaction() as tx:
            tx.execute(_DELETING)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                removed += tx.execute(
                    "DELETE FROM entries WHERE status = 'pending' AND last_attempt_at IS NULL"
                    f" AND event_id IN ({marks})",
                    chunk,
                ).rowcount
                tx.execute(f"DELETE FROM causation WHERE last_event_id IN ({marks})", chunk)
        return removed

    def _in_chunks(
        self,
        template: str,
        leading: tuple[Any, ...],
        ids: Sequence[str],
        *,
        adds_work: bool = False,
    ) -> int:
        ids = list(ids)
        if not ids:
            return 0
        changed = 0
        with self._transaction() as tx:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                changed += tx.execute(template.format(marks), (*leading, *chunk)).rowcount
            if adds_work and changed:
                self._mark_work()
        return changed


_COLUMNS = (
    "id, event_id, event_type, data, status, retry_count, created_at, last_attempt_at,"
    " last_error, error_category, commit_sha, repo"
)
# Remember entries (the WHERE clause follows) in known_events: when, why, and what they were.
# One json_extract with several paths parses each envelope once.
_REMEMBER = (
    "INSERT OR REPLACE INTO known_events (event_id, known_at, verdict, event_type, detail)"
    " SELECT event_id, ?, ?, event_type, json_extract(data, '$.payload.feature_slug',"
    " '$.payload.wp_id', '$.payload.from_lane', '$.payload.to_lane') FROM entries"
)


def _prune_known(tx: sqlite3.Connection) -> None:
    """The retention rule of known_events (and so of `kitty-hooks log`): KNOWN_EVENTS_DAYS, and
    at most about KNOWN_EVENTS_MAX rows (rows forgotten at the same instant go together)."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=KNOWN_EVENTS_DAYS)
    tx.execute(
        "DELETE FROM known_events WHERE known_at < ?", (cutoff.isoformat(timespec="microseconds"),)
    )
    tx.execute(
        "DELETE FROM known_events WHERE known_at < (SELECT known_at FROM known_events"
        " ORDER BY known_at DESC LIMIT 1 OFFSET ?)",
        (KNOWN_EVENTS_MAX - 1,),
    )


def _detail(text: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        parts = json.loads(text) if text else None
    except ValueError:
        parts = None
    if not isinstance(parts, list) or len(parts) != 4:
        return (None, None, None, None)
    feature, wp, from_lane, to_lane = (p if isinstance(p, str) else None for p in parts)
    return (feature, wp, from_lane, to_lane)


def _entry(row: tuple[Any, ...]) -> QueueEntry:
    return QueueEntry(
        id=row[0],
        event_id=row[1],
        event_type=row[2],
        envelope=json.loads(row[3]),
        status=row[4],
        retry_count=row[5],
        created_at=row[6],
        last_attempt_at=row[7],
        last_error=row[8],
        error_category=row[9],
        commit_sha=row[10],
        repo=row[11],
    )


def _verdict_runs(pairs: Sequence[tuple[int, Verdict]]) -> list[tuple[int, int, Verdict]]:
    """(id, verdict) pairs sorted by id as (first, last, verdict) runs of consecutive ids."""
    runs: list[tuple[int, int, Verdict]] = []
    for value, verdict in pairs:
        if runs and runs[-1][1] == value - 1 and runs[-1][2] is verdict:
            runs[-1] = (runs[-1][0], value, verdict)
        else:
            runs.append((value, value, verdict))
    return runs


def _unicode_text(text: str) -> str:
    """text, with any lone surrogate replaced by U+FFFD.

    A status log line with "\\ud800" in it reads as a str SQLite cannot store (the insert raised
    UnicodeEncodeError, and the hook lost the lane change) and no server can take either. Read
    liberally, emit strictly: what we queue and send is always valid UTF-8.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _check_statuses(statuses: Sequence[str] | None) -> list[str] | None:
    if statuses is None:
        return None
    wanted = list(statuses)
    unknown = [status for status in wanted if status not in STATUSES]
    if unknown:
        raise ValueError(f"unknown queue status {unknown[0]!r}: use one of {', '.join(STATUSES)}")
    return wanted


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


def _aside_name(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}-{number}")
    return aside


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)
