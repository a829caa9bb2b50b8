"""Serving the ingest app under waitress until SIGTERM/SIGINT: `kitty-hooks serve`.

It is a test peer with throwaway passwords, so it listens on loopback unless told otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from kitty_hooks.contract import binds_to_loopback_only
from kitty_hooks.errors import FatalError
from kitty_hooks.locations import state_dir
from kitty_hooks.peer.accounts import NO_USERS, gather_users
from kitty_hooks.peer.app import create_app
from kitty_hooks.peer.bodies import MAX_COMPRESSED_BYTES
from kitty_hooks.peer.tokens import DEFAULT_ACCESS_LIFETIME, DEFAULT_REFRESH_LIFETIME

DEFAULT_THREADS = 8


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
        raise FatalError(NO_USERS)
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


def run_server(
    host: str,
    port: int,
    db_path: Path | None,
    *,
    user_flags: Sequence[str],
    user_file: Path | None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`kitty-hooks serve`: gather the accounts and serve until SIGTERM/SIGINT; the exit code.

    What goes wrong (no users, a host that is not loopback, a port in use) is one line on
    stderr, "kitty-hooks serve: <why>", and the FatalError's exit code.
    """
    try:
        users = gather_users(user_flags, user_file, os.environ if environ is None else environ)
        serve(host, port, db_path or default_db_path(), users=users)
    except FatalError as exc:
        _log_to_stderr(str(exc))
        return exc.exit_code
    return 0
