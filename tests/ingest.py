"""The ingest server for tests: in a thread with programmable faults, or as a process to kill.

with IngestServer() as server:
    tokens = server.login()                      # ada / secret
    server.faults.push(Fault.status(503, retry_after="2"), Fault.crash_after_store())
    ...                                          # run the code under test against server.url
    assert len(server.requests(REFRESH_PATH)) == 1
    assert [e["event_id"] for e in server.events()] == expected
"""

from __future__ import annotations

import gzip
import http
import io
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
import requests
from waitress.channel import ClientDisconnected
from werkzeug.datastructures import EnvironHeaders

from kitty_hooks.contract import BATCH_PATH, EVENTS_PATH, REFRESH_PATH, TOKEN_PATH
from kitty_hooks.peer.app import IngestApp, create_app
from kitty_hooks.peer.bodies import BodyLimits
from kitty_hooks.peer.serve import ListeningServer, listen
from kitty_hooks.peer.store import EventStore
from kitty_hooks.peer.tokens import DEFAULT_ACCESS_LIFETIME, DEFAULT_REFRESH_LIFETIME, TokenPair

__all__ = [
    "BATCH_PATH",
    "EVENTS_PATH",
    "REFRESH_PATH",
    "TOKEN_PATH",
    "Fault",
    "FaultQueue",
    "IngestProcess",
    "IngestServer",
    "RequestRecord",
    "list_events",
    "login",
    "post_batch",
]

USERS = {"ada": "secret"}
TIMEOUT = 10.0

StartResponse = Callable[..., Any]


# --- talking to a server ---------------------------------------------------------------------


def login(url: str, username: str = "ada", password: str = "secret") -> TokenPair:
    response = requests.post(
        url + TOKEN_PATH, json={"username": username, "password": password}, timeout=TIMEOUT
    )
    response.raise_for_status()
    tokens: TokenPair = response.json()
    return tokens


def post_batch(
    url: str, access: str, events: Sequence[Any], *, timeout: float = TIMEOUT
) -> requests.Response:
    """POST events as the contract says: gzip JSON with a bearer token."""
    return requests.post(
        url + BATCH_PATH,
        data=gzip.compress(json.dumps({"events": list(events)}).encode()),
        headers={
            "Authorization": f"Bearer {access}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=timeout,
    )


def list_events(url: str, access: str, **params: str | int) -> list[dict[str, Any]]:
    response = requests.get(
        url + EVENTS_PATH,
        params=params,
        headers={"Authorization": f"Bearer {access}"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


# --- faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What the next request to `path` (None: any path) meets instead of a plain answer, once."""

    kind: str
    path: str | None = BATCH_PATH
    code: int = 200
    retry_after: str | None = None
    payload: bytes = b""
    seconds: float = 0.0
    count: int = 0
    release: threading.Event | None = None

    @classmethod
    def status(
        cls, code: int, *, retry_after: str | None = None, path: str | None = BATCH_PATH
    ) -> Fault:
        """Answer code with {"error": ...} (and Retry-After) without reaching the app."""
        return cls("status", path, code=code, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float, *, path: str | None = BATCH_PATH) -> Fault:
        """A slow server: wait, then process normally (the client may have given up by then:
        what it sent is stored all the same). Stopping the server cuts the wait short."""
        return cls("delay", path, seconds=seconds)

    @classmethod
    def hold(cls, release: threading.Event, *, path: str | None = BATCH_PATH) -> Fault:
        """Hold the request until `release` is set (or the server stops), then process it
        normally: a server slow for exactly as long as a test needs."""
        return cls("hold", path, release=release)

    @classmethod
    def body(cls, data: bytes, *, status: int = 200, path: str | None = BATCH_PATH) -> Fault:
        """Answer status with data as a JSON response, without reaching the app."""
        return cls("body", path, code=status, payload=data)

    @classmethod
    def drop_results(cls, count: int, *, path: str | None = BATCH_PATH) -> Fault:
        """Process and store the batch, but leave the last `count` results out of the answer."""
        return cls("drop_results", path, count=count)

    @classmethod
    def crash_after_store(cls, *, path: str | None = BATCH_PATH) -> Fault:
        """Process and store the batch, then close the connection without any response."""
        return cls("crash_after_store", path)

    def matches(self, path: str) -> bool:
        return self.path is None or self.path == path


class FaultQueue:
    """Faults waiting for their request, in the order pushed; each is used once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def push(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path):
                    return self._faults.pop(index)
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. status None: the connection was closed unanswered."""

    method: str
    path: str
    status: int | None
    headers: dict[str, str]  # the Authorization value is reduced to its scheme
    event_count: int | None  # events in a batch body that could be read, else None
    token_jti: str | None  # the bearer token's jti claim: tells tokens apart without them
    fault: str | None  # the kind of fault applied, if any


class FaultInjector:
    """WSGI middleware: applies queued faults and logs every request."""

    def __init__(self, app: Callable[..., Iterable[bytes]], stopping: threading.Event) -> None:
        self.app = app
        self.faults = FaultQueue()
        self._stopping = stopping
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        # The app reads the body again from here.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        path = environ.get("PATH_INFO", "")
        fault = self.faults.take(path)
        kind = fault.kind if fault else None

        def record(status: int | None) -> None:
            entry = RequestRecord(
                method=environ["REQUEST_METHOD"],
                path=path,
                status=status,
                headers=_redacted_headers(environ),
                event_count=_event_count(body) if path == BATCH_PATH else None,
                token_jti=_token_jti(environ),
                fault=kind,
            )
            with self._lock:
                self._log.append(entry)

        if fault is None or fault.kind == "delay":
            if fault is not None:
                self._stopping.wait(fault.seconds)
            return self._pass(environ, start_response, record)
        if fault.kind == "hold":
            assert fault.release is not None
            while not (fault.release.wait(0.05) or self._stopping.is_set()):
                pass
            return self._pass(environ, start_response, record)
        if fault.kind == "status":
            payload = json.dumps({"error": f"injected fault: HTTP {fault.code}"}).encode()
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            if fault.code == 401:
                headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
            record(fault.code)
            return _respond(start_response, fault.code, payload, headers)
        if fault.kind == "body":
            record(fault.code)
            return _respond(start_response, fault.code, fault.payload, [])
        status, headers, payload = self._buffered(environ)
        if fault.kind == "crash_after_store":
            record(None)
            # Raised before any byte is written, waitress closes the connection unanswered:
            # to the client, a server that died after storing the batch.
            raise ClientDisconnected("injected fault: crash after store")
        code = int(status.split()[0])
        if code == 200:
            answer = json.loads(payload)
            answer["results"] = answer["results"][: max(0, len(answer["results"]) - fault.count)]
            payload = json.dumps(answer).encode()
        record(code)
        kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
        return _respond(start_response, code, payload, kept)

    def _pass(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        record: Callable[[int | None], None],
    ) -> Iterable[bytes]:
        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            record(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        return self.app(environ, capture)

    def _buffered(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        chunks = self.app(environ, capture)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return started[0], started[1], payload


def _respond(
    start_response: StartResponse, code: int, payload: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    try:
        reason = http.HTTPStatus(code).phrase
    except ValueError:
        reason = "Injected"
    start_response(
        f"{code} {reason}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            *headers,
        ],
    )
    return [payload]


def _redacted_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = dict(EnvironHeaders(environ))
    if "Authorization" in headers:
        scheme = headers["Authorization"].partition(" ")[0]
        headers["Authorization"] = f"{scheme} <redacted>"
    return headers


def _token_jti(environ: Mapping[str, Any]) -> str | None:
    scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        jti = jwt.decode(token.strip(), options={"verify_signature": False}).get("jti")
    except jwt.InvalidTokenError:
        return None
    return jti if isinstance(jti, str) else None


def _event_count(body: bytes) -> int | None:
    try:
        data = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(body, 16 << 20)
        events = json.loads(data)["events"]
    except (zlib.error, ValueError, TypeError, KeyError, RecursionError):
        return None
    return len(events) if isinstance(events, list) else None


# --- a server in a thread --------------------------------------------------------------------


class IngestServer:
    """create_app() under waitress in a background thread, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        users: Mapping[str, str] = USERS,
        access_lifetime: int = DEFAULT_ACCESS_LIFETIME,
        refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME,
        secret: str | None = None,
        limits: BodyLimits | None = None,
    ) -> None:
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._temp = tempfile.TemporaryDirectory(prefix="kitty-ingest-")
            db_path = Path(self._temp.name) / "server.db"
        self.db_path = db_path
        self._stopping = threading.Event()
        self.app: IngestApp = create_app(
            db_path,
            users=users,
            access_lifetime=access_lifetime,
            refresh_lifetime=refresh_lifetime,
            secret=secret,
            limits=limits,
        )
        self._injector = FaultInjector(self.app, self._stopping)
        self.faults = self._injector.faults
        self._server: ListeningServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> IngestServer:
        self._server = listen(self._injector, "127.0.0.1", 0)
        self.url = self._server.url
        self._thread = threading.Thread(target=self._server.run, name="ingest-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.app.close()
        if self._temp is not None:
            self._temp.cleanup()

    @property
    def store(self) -> EventStore:
        return self.app.store

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """The requests received so far (optionally to one path), in the order answered."""
        return self._injector.requests(path)

    def events(self, *, event_type: str | None = None) -> list[dict[str, Any]]:
        """The envelopes stored, in arrival order."""
        return [e.envelope for e in self.app.store.events(event_type=event_type)]

    def event_ids(self) -> list[str]:
        return [e.event_id for e in self.app.store.events()]

    def login(self, username: str = "ada", password: str = "secret") -> TokenPair:
        return login(self.url, username, password)


# --- a server in a process -------------------------------------------------------------------


class IngestProcess:
    """`kitty-hooks serve` as a child process: kill it, restart it on the same port."""

    def __init__(
        self,
        db_path: Path,
        *,
        users: Mapping[str, str] = USERS,
        log_path: Path | None = None,
    ) -> None:
        self.db_path = db_path
        self.log_path = log_path or db_path.with_name(db_path.name + ".log")
        self._args = ["--db", str(db_path)]
        for name, password in users.items():
            self._args += ["--user", f"{name}:{password}"]
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> IngestProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running:
            self.kill()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, timeout: float = 15.0) -> IngestProcess:
        """Start the server (on the port of the previous run, if any) and wait for its URL."""
        if self.running:
            raise RuntimeError("the ingest server is already running")
        command = [sys.executable, "-m", "kitty_hooks", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                command + self._args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
            )
        self._process = process
        line = _first_line(process, timeout)
        prefix = "kitty-hooks serve: listening on "
        if not line.startswith(prefix):
            self.kill()
            raise RuntimeError(
                f"the ingest server did not start ({line!r}):\n{self.log_text()[-2000:]}"
            )
        self.url = line[len(prefix) :].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash or an OOM kill."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=TIMEOUT)
            self._close_stdout()

    def terminate(self, *, timeout: float = TIMEOUT) -> int:
        """SIGTERM, and the exit code once it has stopped."""
        if self._process is None:
            raise RuntimeError("the ingest server was never started")
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        code = self._process.wait(timeout=timeout)
        self._close_stdout()
        return code

    def restart(self) -> IngestProcess:
        """Kill if still running, then start again on the same port and database."""
        self.kill()
        return self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def login(self, username: str = "ada", password: str = "secret") -> TokenPair:
        return login(self.url, username, password)

    def events(self, **params: str | int) -> list[dict[str, Any]]:
        return list_events(self.url, self.login()["access"], **params)

    def _close_stdout(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The child's first stdout line, without blocking past timeout if it never comes."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
