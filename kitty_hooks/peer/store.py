"""The peer's SQLite file: the events it received, the refresh tokens it issued, its JWT secret."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kitty_hooks.errors import FatalError


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    event_type: str
    username: str
    received_at: str
    envelope: dict[str, Any]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    username TEXT NOT NULL,
    received_at TEXT NOT NULL,
    envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (event_type, seq);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at TEXT,
    exchanged_for TEXT
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class EventStore:
    """The server's SQLite file: received events, refresh tokens issued, the signing secret.

    One connection behind a lock: the server is a test peer, and a lock makes "each event_id
    stored once" hold under waitress's worker threads without reasoning about SQLite's. The
    transactions are still BEGIN IMMEDIATE with a busy timeout, for a second process on the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(refresh_tokens)")}
            if "exchanged_for" not in columns:  # a file from before the refresh grace
                self._conn.execute("ALTER TABLE refresh_tokens ADD COLUMN exchanged_for TEXT")
        except sqlite3.Error as exc:
            raise FatalError(f"{self.path}: cannot open the server database ({exc})") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(self, username: str, envelopes: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Store envelopes in one transaction; per envelope, True if new, False if a duplicate."""
        received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        rows = [
            (
                e["event_id"],
                e["event_type"],
                username,
                received_at,
                json.dumps(e, ensure_ascii=False, separators=(",", ":")),
            )
            for e in envelopes
        ]
        stored: list[bool] = []
        with self._transaction() as conn:
            for row in rows:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO events"
                    " (event_id, event_type, username, received_at, envelope)"
                    " VALUES (?, ?, ?, ?, ?)",
                    row,
                )
                stored.append(cursor.rowcount == 1)
        return stored

    def events(
        self, *, event_type: str | None = None, after_seq: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """Stored events in arrival order."""
        sql = "SELECT seq, event_id, event_type, username, received_at, envelope FROM events"
        sql += " WHERE seq > ?"
        params: list[Any] = [after_seq]
        if event_type is not None:
            sql += " AND event_type = ?"
            params.append(event_type)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [StoredEvent(*row[:5], envelope=json.loads(row[5])) for row in rows]

    def count(self, *, event_type: str | None = None) -> int:
        with self._lock:
            if event_type is None:
                row = self._conn.execute("SELECT count(*) FROM events").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT count(*) FROM events WHERE event_type = ?", (event_type,)
                ).fetchone()
        return int(row[0])

    def seq_of(self, event_id: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT seq FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return None if row is None else int(row[0])

    def signing_secret(self) -> str:
        """The JWT secret of this database, made on first use.

        Kept in the file so that a server restarted on it (the kill-and-restart test) still
        accepts the tokens it gave out, as a real SaaS restart would.
        """
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = 'jwt_secret'").fetchone()
            if row is not None:
                return str(row[0])
            secret = secrets.token_hex(32)
            conn.execute("INSERT INTO settings (name, value) VALUES ('jwt_secret', ?)", (secret,))
            return secret

    def record_refresh(self, jti: str, username: str, expires_at: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO refresh_tokens (jti, username, expires_at) VALUES (?, ?, ?)",
                (jti, username, expires_at),
            )

    def exchange_refresh(
        self,
        jti: str,
        username: str,
        plan: Mapping[str, Any],
        *,
        now: float,
        grace_seconds: float,
    ) -> dict[str, Any] | None:
        """Exchange refresh token jti for the pair plan describes (its claims: the successor's
        "refresh_jti" and "refresh_exp" among them), in one transaction; returns the plan the
        pair is to be made from, None when jti may not be exchanged.

        A token is exchanged once. Asked again within grace_seconds of that, while the
        successor it was exchanged for has never been used, the answer is the same pair again
        (the first answer was lost on its way, or two clients sharing the file asked at once):
        the plan stored then. Past that, or once the successor was used, it is refused.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT used_at, exchanged_for FROM refresh_tokens WHERE jti = ?", (jti,)
            ).fetchone()
            if row is None:
                return None
            used_at, exchanged_for = row
            if used_at is not None:
                if exchanged_for is None or now - _epoch(used_at) > grace_seconds:
                    return None
                first: dict[str, Any] = json.loads(exchanged_for)
                successor = conn.execute(
                    "SELECT used_at FROM refresh_tokens WHERE jti = ?", (first["refresh_jti"],)
                ).fetchone()
                if successor is None or successor[0] is not None:
                    return None  # whoever holds the successor has used it: not a lost answer
                return first
            conn.execute(
                "UPDATE refresh_tokens SET used_at = ?, exchanged_for = ? WHERE jti = ?",
                (_stamp(now), json.dumps(dict(plan)), jti),
            )
            conn.execute(
                "INSERT INTO refresh_tokens (jti, username, expires_at) VALUES (?, ?, ?)",
                (plan["refresh_jti"], username, plan["refresh_exp"]),
            )
            return dict(plan)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._lock, self._conn)


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0  # unreadable: long ago


class _Transaction:
    def __init__(self, lock: threading.Lock, conn: sqlite3.Connection) -> None:
        self._lock = lock
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()
