"""The queue's tables, the steps that bring an older file up to date, and the Lamport clock's SQL.

The clock must never hand out a value twice. It is the entry id. The next value is one above
both the highest id in the table and the high-water mark that ``clock`` keeps when entries are
deleted.

An enqueue then writes three pages: the row, the event_id index, the causation link. A counter
updated on every enqueue (or AUTOINCREMENT's sqlite_sequence) would be a fourth, and the commit
is most of an enqueue's time. It also makes id order the one queue order: commit order, Lamport
order, FIFO.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.queue.errors import QueueError

SCHEMA_VERSION = 5

# (schemas 2 and 3 change what _SCHEMA_1 makes: see _migrate_1_to_2, _migrate_2_to_3)
# entries holds what is still to deliver; its id is the event's Lamport clock. known_events
# remembers the ids of entries delivered or purged, so a backfill scan over old commits does not
# queue them again; causation remembers the last event of each work package for the same reason.
# clock.value is at least every id ever deleted: whatever deletes entries raises it first
# (DELETING), in the same transaction.
# The status literals are entries.Status's values, spelt out: a shipped step is never edited.
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

# The last Lamport value handed out.
READ_CLOCK = "SELECT max(coalesce((SELECT max(id) FROM entries), 0), value) FROM clock"
# The last Lamport value handed out, and the node whose clock it is (schema 4).
READ_NODE_CLOCK = (
    "SELECT max(coalesce((SELECT max(id) FROM entries), 0), value),"
    " (SELECT node_id FROM node WHERE id = 1) FROM clock"
)
# Run before deleting entries, in the same transaction.
DELETING = "UPDATE clock SET value = max(value, coalesce((SELECT max(id) FROM entries), 0))"


def utc_now() -> str:
    """A time as the tables store it."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


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
    conn.execute("UPDATE known_events SET known_at = ?", (utc_now(),))
    conn.execute("CREATE INDEX known_events_by_time ON known_events (known_at)")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    # The delivery log moves out of known_events into departures, a table written in the order
    # events leave (each delivered page appends its rows at the end of the file), and
    # known_events is again the set of ids that left, brought up to date from departures once
    # a flush is done (known_through: every departure up to that id is in known_events or
    # forgotten). Keyed by event id, known_events takes each page's ids at random places:
    # written per page, with the log's columns and an index on the time, it was ~40% of a
    # 100,000-event flush (every page rewrote most of the B-tree's leaves into the WAL).
    conn.execute(
        """CREATE TABLE departures (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            left_at TEXT NOT NULL,
            verdict TEXT,
            event_type TEXT,
            detail TEXT
        )"""
    )
    conn.execute(
        "INSERT INTO departures (event_id, left_at, verdict, event_type, detail)"
        " SELECT event_id, coalesce(known_at, :now), verdict, event_type, detail"
        " FROM known_events ORDER BY coalesce(known_at, :now), event_id",
        {"now": utc_now()},
    )
    conn.execute("DROP TABLE known_events")  # and its index
    conn.execute("CREATE TABLE known_events (event_id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("INSERT OR IGNORE INTO known_events SELECT event_id FROM departures")
    conn.execute(
        """CREATE TABLE known_through (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            departure INTEGER NOT NULL
        )"""
    )
    conn.execute("INSERT INTO known_through SELECT 1, coalesce(max(id), 0) FROM departures")


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    # One node, one clock: the Lamport clock is this file's, so the node id that goes with it
    # is too. Two KITTY_HOOKS_HOMEs of one user each kept a clock under the one node id of
    # host and user, and the server saw the same (node, lamport) pair twice. Entries already
    # queued keep the node id they have; every queue, new or migrated, gets one that no queue
    # ever used (not even the old host:user id, under which any clock may already have gone
    # past this one's).
    conn.execute(
        """CREATE TABLE node (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            node_id TEXT NOT NULL,
            made_at TEXT NOT NULL
        )"""
    )
    conn.execute(
        "INSERT INTO node (id, node_id, made_at) VALUES (1, ?, ?)", (new_node_id(), utc_now())
    )


def new_node_id() -> str:
    """12 hex characters, as spec-kitty's node ids: sha256 of this host, user and 16 random
    bytes drawn for the queue being made. Never the host:user id both tools used before: a
    queue that kept it could repeat pairs another queue's clock already sent."""
    host, user = machine_and_user()
    legacy = hashlib.sha256(f"{host}:{user}".encode()).hexdigest()[:12]
    while True:
        salt = os.urandom(16).hex()
        node = hashlib.sha256(f"{host}:{user}:{salt}".encode()).hexdigest()[:12]
        if node != legacy:
            return node


def machine_and_user() -> tuple[str, str]:
    """This host's name and the user's login, as the spec-kitty CLI names a node by them."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no USER variable and no passwd entry (some containers)
        user = "unknown"
    # os.uname() gives what socket.gethostname() does without importing socket (~2 ms of
    # hook start-up); Windows has no uname.
    if hasattr(os, "uname"):
        return os.uname().nodename, user
    import socket

    return socket.gethostname(), user


def _migrate_4_to_5(conn: sqlite3.Connection) -> None:
    # The lane each WPStatusChanged queued from this machine moved its work package to, by
    # Lamport clock (the entry id), kept after delivery: the board the dashboard draws from our
    # events (`kitty-hooks board`), and what a merge compares with spec-kitty's view. A move
    # that never reaches the server (discarded after a rewrite, dropped, purged) is forgotten
    # with its entry. Events delivered before this step left no lane: only queued ones start it.
    conn.execute(
        """CREATE TABLE lanes_sent (
            causation_key TEXT NOT NULL,
            lamport_clock INTEGER NOT NULL,
            to_lane TEXT NOT NULL,
            PRIMARY KEY (causation_key, lamport_clock)
        ) WITHOUT ROWID"""
    )
    conn.execute(
        "INSERT INTO lanes_sent SELECT causation_key, id, json_extract(data, '$.payload.to_lane')"
        " FROM entries WHERE event_type = 'WPStatusChanged'"
        " AND json_valid(data) AND json_type(data, '$.payload.to_lane') = 'text'"
    )


# _MIGRATIONS[n] takes a database from user_version n to n + 1. Never edit a shipped step: add one.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
    _migrate_3_to_4,
    _migrate_4_to_5,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


class _NotOurs(Exception):
    pass


def is_current(conn: sqlite3.Connection, path: Path) -> bool:
    """True when the file is at SCHEMA_VERSION, False when it needs migrate(); a file from a
    newer kitty-hooks is refused."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return True
    _check_version(version, path)
    return False


def migrate(tx: sqlite3.Connection, path: Path, *, clock_floor: int = 0) -> None:
    """Bring the file up to SCHEMA_VERSION, inside the caller's write transaction; the clock
    starts at clock_floor at least."""
    version = tx.execute("PRAGMA user_version").fetchone()[0]  # another process may
    _check_version(version, path)  # have migrated meanwhile
    try:
        for step in _MIGRATIONS[version:]:
            step(tx)
    except _NotOurs as exc:
        raise QueueError(
            f"{path} is not a kitty-hooks queue (it holds tables: {exc}); "
            "move it away or set KITTY_HOOKS_HOME to another folder"
        ) from None
    tx.execute("UPDATE clock SET value = max(value, ?)", (clock_floor,))
    tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _check_version(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise QueueError(
            f"queue {path} was written by a newer kitty-hooks (schema {version}, this "
            f"one knows up to {SCHEMA_VERSION}): upgrade kitty-hooks; the file was left as is"
        )
