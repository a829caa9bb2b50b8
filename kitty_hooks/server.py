"""The local ingest server: the SaaS wire contract (DESIGN.md) on loopback.

It is the peer of the demo, the integration tests and the flush benchmark, so it speaks the
contract as the SaaS does — JWT login and rotating refresh, gzip batches answered event by event
(success / duplicate / rejected by the same schemas the hooks use) — and stores what it accepts
in SQLite, where a restarted server finds it again. Werkzeug routes, waitress serves.

It is a test peer with throwaway passwords, so it listens on loopback unless told otherwise.
"""

from __future__ import annotations

import argparse
import hmac
import json
import math
import os
import re
import secrets
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypedDict

import jwt
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from kitty_hooks import validation
from kitty_hooks.contract import (
    BATCH_PATH,
    EVENTS_PATH,
    HEALTH_PATH,
    REFRESH_PATH,
    TOKEN_PATH,
    EventResult,
    EventStatus,
    binds_to_loopback_only,
)
from kitty_hooks.errors import FatalError
from kitty_hooks.locations import state_dir

DEFAULT_ACCESS_LIFETIME = 15 * 60
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600
MAX_COMPRESSED_BYTES = 8 << 20
# A gzip bomb inflates ~1000:1, so the decompressed size is capped on its own, while inflating.
MAX_DECOMPRESSED_BYTES = 64 << 20
DEFAULT_THREADS = 8

_JWT_ALGORITHM = "HS256"
_READ_CHUNK = 64 << 10


class TokenPair(TypedDict):
    access: str
    refresh: str
    access_lifetime: int
    refresh_lifetime: int


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    event_type: str
    username: str
    received_at: str
    envelope: dict[str, Any]


class _Refused(Exception):
    """A request answered with an error status and a JSON body {"error", "details"?}."""

    def __init__(
        self,
        status: int,
        error: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = dict(headers or {})


def _unauthorized(error: str) -> _Refused:
    return _Refused(
        401,
        error,
        headers={"WWW-Authenticate": 'Bearer realm="kitty-hooks", error="invalid_token"'},
    )


# --- storage ---------------------------------------------------------------------------------

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
    used_at TEXT
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

    def use_refresh(self, jti: str) -> bool:
        """Mark a refresh token used; False when it is unknown or was used already.

        One UPDATE decides, so of two concurrent refreshes with the same token exactly one wins.
        """
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL",
                (now, jti),
            )
            return cursor.rowcount == 1

    def _transaction(self) -> _Transaction:
        return _Transaction(self._lock, self._conn)


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


# --- tokens ----------------------------------------------------------------------------------


class TokenIssuer:
    """JWTs (HS256) with sub, type (access/refresh), jti, iat and exp; refresh tokens rotate."""

    def __init__(
        self,
        store: EventStore,
        users: Mapping[str, str],
        *,
        secret: str,
        access_lifetime: int,
        refresh_lifetime: int,
    ) -> None:
        self._store = store
        self._users = dict(users)
        self._secret = secret
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime

    def login(self, username: str, password: str) -> TokenPair:
        expected = self._users.get(username)
        # Compare even for an unknown user, so the answer takes as long either way.
        matches = hmac.compare_digest(password.encode(), (expected or "\0").encode())
        if expected is None or not matches:
            raise _Refused(401, "invalid username or password")
        return self._issue(username)

    def refresh(self, token: str) -> TokenPair:
        claims = self._decode(token, "refresh")
        if not self._store.use_refresh(claims["jti"]):
            raise _Refused(401, "refresh token already used or revoked: log in again")
        return self._issue(claims["sub"])

    def access_subject(self, token: str) -> str:
        """The username an access token was issued to, or _Refused(401)."""
        return str(self._decode(token, "access")["sub"])

    def _issue(self, username: str) -> TokenPair:
        # exp is whole seconds (PyJWT truncates it), rounded up so a token lives at least its
        # lifetime: a 1-second token issued at x.9 must not be dead 0.1 s later.
        now = time.time()
        access_exp = math.ceil(now) + self.access_lifetime
        refresh_exp = math.ceil(now) + self.refresh_lifetime
        refresh_jti = secrets.token_hex(16)
        self._store.record_refresh(refresh_jti, username, refresh_exp)
        return TokenPair(
            access=self._encode(username, "access", secrets.token_hex(16), now, access_exp),
            refresh=self._encode(username, "refresh", refresh_jti, now, refresh_exp),
            access_lifetime=self.access_lifetime,
            refresh_lifetime=self.refresh_lifetime,
        )

    def _encode(self, username: str, kind: str, jti: str, now: float, exp: int) -> str:
        claims = {"sub": username, "type": kind, "jti": jti, "iat": int(now), "exp": exp}
        return jwt.encode(claims, self._secret, algorithm=_JWT_ALGORITHM)

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[_JWT_ALGORITHM],
                options={"require": ["exp", "sub", "type", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized(f"{kind} token expired") from None
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(f"invalid {kind} token: {exc}") from None
        if claims.get("type") != kind:
            article = "an" if kind == "access" else "a"
            raise _unauthorized(f"not {article} {kind} token (type {claims.get('type')!r})")
        if claims["sub"] not in self._users:
            raise _unauthorized(f"{kind} token of an unknown user")
        return claims


# --- the WSGI application --------------------------------------------------------------------


@dataclass(frozen=True)
class BodyLimits:
    compressed: int = MAX_COMPRESSED_BYTES
    decompressed: int = MAX_DECOMPRESSED_BYTES


class IngestApp:
    """The WSGI application: routes, authentication, batch ingest, listing."""

    def __init__(
        self,
        store: EventStore,
        tokens: TokenIssuer,
        *,
        limits: BodyLimits,
        log: Callable[[str], None] | None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.limits = limits
        self._log = log
        self._urls = Map(
            [
                Rule(TOKEN_PATH, endpoint="token", methods=["POST"]),
                Rule(REFRESH_PATH, endpoint="refresh", methods=["POST"]),
                Rule(BATCH_PATH, endpoint="batch", methods=["POST"]),
                Rule(EVENTS_PATH, endpoint="events", methods=["GET"]),
                Rule(HEALTH_PATH, endpoint="health", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self._dispatch(Request(environ))
        return response(environ, start_response)

    def close(self) -> None:
        self.store.close()

    def _dispatch(self, request: Request) -> Response:
        adapter = self._urls.bind_to_environ(request.environ)
        try:
            endpoint, _ = adapter.match()
            handler: Callable[[Request], Response] = getattr(self, f"_on_{endpoint}")
            return handler(request)
        except RequestRedirect as redirect:
            # Werkzeug would redirect /api/v1/health to /api/v1/health/; the SaaS does not, and
            # a POST that follows a redirect can lose its body, so say what is wrong instead.
            return _json_error(
                404, f"no endpoint at {request.path}", f"did you mean {redirect.new_url}?"
            )
        except MethodNotAllowed as exc:
            allowed = ", ".join(exc.valid_methods or [])
            return _json_error(
                405,
                f"method {request.method} not allowed on {request.path}",
                headers={"Allow": allowed},
            )
        except HTTPException as exc:
            return _json_error(exc.code or 500, exc.description or exc.name)
        except _Refused as refused:
            return _json_error(
                refused.status, refused.error, refused.details, headers=refused.headers
            )
        except Exception:
            self._say(f"{request.method} {request.path}: internal error\n{traceback.format_exc()}")
            return _json_error(500, "internal server error")

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    def _on_health(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    def _on_token(self, request: Request) -> Response:
        body = _small_json_object(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise _Refused(400, 'the body must be {"username": "...", "password": "..."}')
        return _json(200, self.tokens.login(username, password))

    def _on_refresh(self, request: Request) -> Response:
        token = _small_json_object(request).get("refresh")
        if not isinstance(token, str) or not token:
            raise _Refused(400, 'the body must be {"refresh": "<token>"}')
        return _json(200, self.tokens.refresh(token))

    def _on_batch(self, request: Request) -> Response:
        username = self._authenticate(request)
        events = self._read_batch(request)
        results = self._ingest(username, events)
        stored = sum(r.status is EventStatus.SUCCESS for r in results)
        duplicate = sum(r.status is EventStatus.DUPLICATE for r in results)
        rejected = len(results) - stored - duplicate
        self._say(
            f"{username}: batch of {len(results)}: {stored} stored,"
            f" {duplicate} duplicate, {rejected} rejected"
        )
        return _json(200, {"results": [r.to_json() for r in results]})

    def _on_events(self, request: Request) -> Response:
        self._authenticate(request)
        event_type = request.args.get("event_type")
        limit = _natural_arg(request, "limit")
        after_seq = 0
        after = request.args.get("after")
        if after is not None:
            seq = self.store.seq_of(after)
            if seq is None:
                raise _Refused(400, "after: no such event_id", after)
            after_seq = seq
        events = self.store.events(event_type=event_type, after_seq=after_seq, limit=limit)
        return _json(
            200,
            {
                "events": [e.envelope for e in events],
                "count": len(events),
                "total": self.store.count(event_type=event_type),
            },
        )

    def _authenticate(self, request: Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing bearer token (Authorization: Bearer <access>)")
        if not token.isascii():  # a JWT is base64url and dots; PyJWT raises on a surrogate
            raise _unauthorized("invalid access token: not ASCII")
        return self.tokens.access_subject(token.strip())

    def _read_batch(self, request: Request) -> list[Any]:
        if request.mimetype != "application/json":
            raise _Refused(
                400, "Content-Type must be application/json", f"got {request.content_type!r}"
            )
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding != "gzip":
            raise _Refused(
                400,
                "the body must be gzip-compressed (Content-Encoding: gzip)",
                f"got {encoding!r}",
            )
        compressed = _read_capped(request, self.limits.compressed, what="batch")
        data = _gunzip_capped(compressed, self.limits.decompressed)
        body = _parse_json(data)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise _Refused(
                400,
                'the body must be a JSON object with an "events" list',
                f"got {validation.render_value(body)}",
            )
        return body["events"]

    def _ingest(self, username: str, events: Sequence[Any]) -> list[EventResult]:
        results: list[EventResult | None] = [None] * len(events)
        accepted: list[tuple[int, dict[str, Any]]] = []
        for index, event in enumerate(events):
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if not isinstance(event_id, str):
                event_id = None
            problem = _envelope_problem(event)
            if problem is None:
                accepted.append((index, event))
            else:
                results[index] = EventResult(event_id, EventStatus.REJECTED, problem)
        stored = self.store.add(username, [event for _, event in accepted])
        for (index, event), new in zip(accepted, stored, strict=True):
            status = EventStatus.SUCCESS if new else EventStatus.DUPLICATE
            results[index] = EventResult(event["event_id"], status)
        return [r for r in results if r is not None]


def _envelope_problem(event: Any) -> str | None:
    if validation.is_valid(validation.ENVELOPE_SCHEMA, event):
        return None
    if not isinstance(event, dict):
        return f"$: not a JSON object (got {validation.render_value(event)})"
    violations = validation.explain(validation.ENVELOPE_SCHEMA, event)
    # The two validators could disagree on an edge case; the fast one decides, so still reject.
    return violations[0].render() if violations else "$: does not match the event envelope schema"


def _read_capped(request: Request, limit: int, *, what: str = "body") -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise _Refused(400, f"{what} too large", f"{length} bytes; the limit is {limit}")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise _Refused(400, f"{what} too large", f"over {limit} bytes")
    return data


def _gunzip_capped(data: bytes, limit: int) -> bytes:
    """Inflate gzip (one member or several) without ever holding more than limit + 1 bytes."""
    out = bytearray()
    remaining = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header required
            pending = remaining
            while pending and not inflater.eof:
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise _Refused(400, "batch too large", f"over {limit} bytes once decompressed")
                pending = inflater.unconsumed_tail
            if not inflater.eof:
                raise _Refused(400, "the body is not valid gzip", "truncated gzip stream")
            remaining = inflater.unused_data
            if not remaining:
                return bytes(out)
    except zlib.error as exc:
        raise _Refused(400, "the body is not valid gzip", str(exc)) from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which json.dumps writes as Infinity
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


# A \uD800-\uDFFF escape: json.loads turns one without its pair into a lone surrogate, a str
# that cannot be encoded (SQLite, the response, hmac all raise). Looked for in the raw bytes
# first, so a body without one costs a regex scan and nothing more.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _parse_json(data: bytes) -> Any:
    """The JSON document in a request body; _Refused(400) for anything that is not clean JSON.

    Clean: UTF-8, no NaN or Infinity (spelled out or overflowing), no lone surrogate, nested
    less deeply than the interpreter's stack.
    """
    try:
        document = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise _Refused(400, "the body is not JSON", "nested too deeply") from None
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise _Refused(400, "the body is not JSON", str(exc)) from None
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(
                400,
                "the body is not JSON",
                "a \\uD800-\\uDFFF escape without its pair is not a character (RFC 8259, section 8.2)",
            ) from None
    return document


def _small_json_object(request: Request) -> dict[str, Any]:
    body = _parse_json(_read_capped(request, 64 << 10))
    if not isinstance(body, dict):
        raise _Refused(400, "the body must be a JSON object", validation.render_value(body))
    return body


# The largest integer SQLite stores; a larger one raised OverflowError when bound (a 500).
_MAX_NATURAL = 2**63 - 1


def _natural_arg(request: Request, name: str) -> int | None:
    """A query parameter that must be a whole number 0..2**63-1; _Refused(400) otherwise."""
    value = request.args.get(name)
    if value is None:
        return None
    # isdigit() alone also takes "²" and "٣", which int() refuses or reads as another number.
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 19 else None
    if number is None or number > _MAX_NATURAL:
        raise _Refused(400, f"{name} must be a whole number from 0 to {_MAX_NATURAL}", value[:40])
    return number


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, mimetype="application/json", headers=headers)


def _json_error(
    status: int, error: str, details: Any = None, *, headers: Mapping[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error}
    if details is not None:
        body["details"] = details
    return _json(status, body, headers)


def create_app(
    db_path: Path,
    *,
    users: Mapping[str, str],
    access_lifetime: int = DEFAULT_ACCESS_LIFETIME,
    refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME,
    secret: str | None = None,
    limits: BodyLimits | None = None,
    log: Callable[[str], None] | None = None,
) -> IngestApp:
    """The ingest WSGI app on the SQLite file db_path (created if needed); close() it after.

    users maps username to password. Without secret, tokens are signed with a random secret
    kept in the database. log receives one line per batch and each internal error.
    """
    if access_lifetime < 1 or refresh_lifetime < 1:
        raise FatalError("token lifetimes must be at least 1 second")
    store = EventStore(db_path)
    tokens = TokenIssuer(
        store,
        users,
        secret=secret if secret is not None else store.signing_secret(),
        access_lifetime=access_lifetime,
        refresh_lifetime=refresh_lifetime,
    )
    return IngestApp(store, tokens, limits=limits or BodyLimits(), log=log)


# --- serving ---------------------------------------------------------------------------------


class ListeningServer:
    """A waitress server bound to one address: run() blocks until stop() (from any thread)."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._stop_requested = False
        host, port = server.effective_host, int(server.effective_port)
        self.host = host
        self.port = port
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def run(self) -> None:
        """Serve until stop(); a KeyboardInterrupt also stops, after the same orderly shutdown."""
        # Our own loop rather than waitress's run(), which only ends once every socket is
        # closed. Closing them from a stop thunk raced: the loop could run the thunk, closing
        # the trigger's pipe, before the stopping thread had written to that pipe (EBADF, or a
        # byte written into whatever file reused the number).
        adj = self._server.adj
        poll = wasyncore.poll2 if adj.asyncore_use_poll else wasyncore.poll
        try:
            while not self._stop_requested:
                poll(adj.asyncore_loop_timeout, self._server._map)
        finally:
            self._shut_down()

    def stop(self) -> None:
        with self._lock:
            if not self._stop_requested:
                self._stop_requested = True
                self._server.pull_trigger()  # wakes the loop; the trigger is open until run ends

    def _shut_down(self) -> None:
        with self._lock:
            self._stop_requested = True  # no stop() pulls the trigger from now on
        socket_map = self._server._map
        trigger = self._server.trigger
        for dispatcher in list(socket_map.values()):
            if isinstance(dispatcher, HTTPChannel):
                dispatcher.handle_close()  # also wakes a worker waiting to write to it
            elif dispatcher is not trigger:
                wasyncore.dispatcher.close(dispatcher)  # the listening socket, not its trigger
        # Worker threads pull the trigger when they answer: close it only once they are done.
        self._server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(socket_map)


def listen(
    app: Callable[..., Iterable[bytes]],
    host: str,
    port: int,
    *,
    allow_remote: bool = False,
    threads: int = DEFAULT_THREADS,
) -> ListeningServer:
    """Bind app to host:port (0 picks a free port) under waitress; refuse non-loopback hosts."""
    if not allow_remote and not binds_to_loopback_only(host):
        raise FatalError(
            f"refusing to listen on {host}: this is a local test peer with throwaway passwords"
            " and no TLS, so it listens on loopback only (127.0.0.1, ::1, localhost);"
            " allow it explicitly (--allow-remote) if you mean it"
        )
    try:
        # One address: a name like localhost can resolve to both 127.0.0.1 and ::1, and with
        # port 0 waitress would bind each to a different free port.
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
        server = create_server(
            app,
            host=address,
            port=port,
            threads=threads,
            ident="kitty-hooks",
            # Waitress answers bigger bodies itself (413, text); below this, the app's own limit
            # answers 400 in JSON as the contract says.
            max_request_body_size=4 * MAX_COMPRESSED_BYTES,
        )
    except OSError as exc:
        raise FatalError(f"cannot listen on {host}:{port}: {exc}") from exc
    return ListeningServer(server)


class _StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGINT: ListeningServer.run() shuts down in order, then serve() returns."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # One stop is enough: a second signal must not break into the shutdown of the first.
    for other in (signal.SIGTERM, signal.SIGINT):
        signal.signal(other, signal.SIG_IGN)
    raise _StopSignal(signal.Signals(signum).name)


def serve(
    host: str,
    port: int,
    db_path: Path,
    *,
    users: Mapping[str, str],
    access_lifetime: int = DEFAULT_ACCESS_LIFETIME,
    refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME,
    secret: str | None = None,
    allow_remote: bool = False,
    threads: int = DEFAULT_THREADS,
    ready: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or KeyboardInterrupt).

    Once listening, ready(url) is called; by default it prints
    "kitty-hooks serve: listening on <url>" as the first line on stdout, for a parent process
    that started us with port 0. log defaults to one line per batch on stderr.
    """
    if not users:
        raise FatalError(_NO_USERS)
    app = create_app(
        db_path,
        users=users,
        access_lifetime=access_lifetime,
        refresh_lifetime=refresh_lifetime,
        secret=secret,
        log=log or _log_to_stderr,
    )
    try:
        server = listen(app, host, port, allow_remote=allow_remote, threads=threads)
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main_thread:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, _raise_stop)
        try:
            (ready or _print_listening)(server.url)
            server.run()
        except KeyboardInterrupt:
            pass  # SIGTERM/SIGINT: run() has closed the connections and stopped the workers
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        _log_to_stderr("stopped")
    finally:
        app.close()


def _print_listening(url: str) -> None:
    print(f"kitty-hooks serve: listening on {url}", flush=True)


def _log_to_stderr(line: str) -> None:
    print(f"kitty-hooks serve: {line}", file=sys.stderr, flush=True)


def default_db_path() -> Path:
    return state_dir() / "ingest-server.db"


USER_ENV = "KITTY_HOOKS_SERVE_USER"
_NO_USERS = (
    f"no users: set {USER_ENV}=NAME:PASSWORD, or give --user-file PATH (one NAME:PASSWORD a "
    "line) or --user NAME:PASSWORD"
)


def parse_users(texts: Iterable[str], *, source: str = "--user") -> dict[str, str]:
    """{"ada": "secret"} from ["ada:secret"]; FatalError for a malformed one or none at all.

    The message names the source and the entry's position, never its text: it may be a password.
    """
    users: dict[str, str] = {}
    for number, text in enumerate(texts, start=1):
        name, sep, password = text.partition(":")
        if not sep or not name or not password:
            raise FatalError(
                f"{source}: entry {number} is not NAME:PASSWORD (a name, a colon, a password)"
            )
        users[name] = password
    if not users:
        raise FatalError(_NO_USERS)
    return users


def gather_users(
    flags: Sequence[str], user_file: Path | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """Users from --user flags, a --user-file and the KITTY_HOOKS_SERVE_USER variable, together.

    A --user password is in the process list for every local user to read (ps, /proc/*/cmdline);
    the variable and the file are not, so the help recommends them.
    """
    users: dict[str, str] = {}
    env_value = environ.get(USER_ENV, "").strip()
    if env_value:
        users.update(parse_users([env_value], source=USER_ENV))
    if user_file is not None:
        try:
            text = user_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise FatalError(f"--user-file {user_file}: cannot read it ({why})") from None
        lines = [
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
        users.update(parse_users(lines, source=f"--user-file {user_file}"))
    if flags:
        users.update(parse_users(flags))
    if not users:
        raise FatalError(_NO_USERS)
    return users


def _seconds(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kitty_hooks.server",
        description="Run the local ingest server (the SaaS batch contract) until SIGTERM/SIGINT."
        f" Accounts come from {USER_ENV}=NAME:PASSWORD, --user-file and --user (at least one).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--db", type=Path, help=f"SQLite file of the server (default: {default_db_path()})"
    )
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help=f"an account that can log in (repeatable); the password shows in the process list: "
        f"prefer {USER_ENV}=NAME:PASSWORD or --user-file",
    )
    parser.add_argument(
        "--user-file",
        type=Path,
        metavar="PATH",
        help="a file of accounts, one NAME:PASSWORD a line (# comments and blank lines skipped)",
    )
    parser.add_argument("--access-lifetime", type=_seconds, default=DEFAULT_ACCESS_LIFETIME)
    parser.add_argument("--refresh-lifetime", type=_seconds, default=DEFAULT_REFRESH_LIFETIME)
    parser.add_argument("--threads", type=_seconds, default=DEFAULT_THREADS)
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a host that is not loopback"
    )
    args = parser.parse_args(argv)
    try:
        users = gather_users(args.users, args.user_file, os.environ)
        serve(
            args.host,
            args.port,
            args.db or default_db_path(),
            users=users,
            access_lifetime=args.access_lifetime,
            refresh_lifetime=args.refresh_lifetime,
            allow_remote=args.allow_remote,
            threads=args.threads,
        )
    except FatalError as exc:
        _log_to_stderr(str(exc))
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
