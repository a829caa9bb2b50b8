"""412 from spec-kitty's newer SaaS: its sync-protocol handshake refuses a batch that does not
advertise its protocol. That is not a busy server: a clear error that lasts, a long backoff,
shown by sync, status and doctor. Against a real server on 127.0.0.1 that answers every batch
as the handshake does."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.contract import BATCH_PATH
from kitty_hooks.deliver.backoff import PROTOCOL_MISMATCH_BACKOFF, read_state
from kitty_hooks.deliver.flush import flush
from tests.syncutil import queue_events, queued_entries, write_credentials

FAST = (2.0, 2.0)
NEWER = "the server speaks a newer sync protocol than this kitty-hooks"
# What spec-kitty-saas's compatibility handshake answers (as spec-kitty-cli 3.2.7's
# delivery/receivers.py reads it: error_code, error_description, sync_protocol.upgrade_guidance).
TOO_OLD = {
    "error_code": "client-too-old",
    "error_description": "client sync protocol is older than the minimum supported",
    "sync_protocol": {"upgrade_guidance": "Upgrade the client to sync protocol 2.0 or newer."},
}


class HandshakeServer:
    """Answers every batch that lacks the sync-protocol header with 412 and `body`; counts."""

    def __init__(self) -> None:
        self.body: Any = TOO_OLD
        self.batches: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == BATCH_PATH:
                    server.batches.append(dict(self.headers))
                gated = "X-SpecKitty-Protocol-Version" not in self.headers
                body = server.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(412 if gated else 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gate(hermetic_env: Path) -> Iterator[HandshakeServer]:
    server = HandshakeServer()
    write_credentials(hermetic_env, server.url, {"access": "A-TOKEN", "refresh": "R-TOKEN"})
    yield server
    server.close()


def kitty_hooks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitty_hooks", *args], capture_output=True, text=True
    )


def test_412_ends_the_flush_with_a_lasting_error_and_a_long_backoff(gate: HandshakeServer) -> None:
    ids = queue_events(250)  # more than one batch: the flush stops at the first
    before = datetime.now(timezone.utc)

    summary = flush(timeout=FAST)

    assert summary.outcome == "protocol-mismatch"
    assert summary.message is not None
    assert summary.message.startswith(NEWER)
    assert "client-too-old" in summary.message
    assert "Upgrade the client to sync protocol 2.0 or newer." in summary.message
    assert "busy" not in summary.message and "try again" not in summary.message
    assert len(gate.batches) == 1, "every batch meets the same answer: one is enough"
    entries = queued_entries()
    assert [e.event_id for e in entries] == ids
    assert all(e.status == "pending" and e.retry_count == 0 for e in entries)
    state = read_state()
    assert state.last is not None and state.last.outcome == "protocol-mismatch"
    assert state.next_attempt_after is not None
    wait = (state.next_attempt_after - before).total_seconds()
    assert PROTOCOL_MISMATCH_BACKOFF - 5 <= wait <= PROTOCOL_MISMATCH_BACKOFF + 60
    assert PROTOCOL_MISMATCH_BACKOFF <= 24 * 3600

    # The next automatic flush (a push) sends nothing, and the error stays what status shows.
    assert flush(timeout=FAST, respect_backoff=True).outcome == "backing-off"
    assert len(gate.batches) == 1
    assert read_state().last.message == summary.message  # type: ignore[union-attr]


def test_sync_status_and_doctor_say_the_server_speaks_a_newer_protocol(
    gate: HandshakeServer,
) -> None:
    queue_events(3)

    synced = kitty_hooks("sync")
    status = kitty_hooks("status")
    doctor = kitty_hooks("doctor")

    assert synced.returncode == 1
    assert NEWER in synced.stderr and "Traceback" not in synced.stderr
    assert "could not take them now" not in synced.stderr  # not a busy server
    assert "Last flush:" in status.stdout and "protocol-mismatch" in status.stdout
    assert NEWER in status.stdout
    (line,) = [x for x in doctor.stdout.splitlines() if x.split()[1:3] == ["flush:", "last:"]]
    assert line.startswith("fail") and NEWER in line
    assert doctor.returncode == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>412 Precondition Failed</html>",
        b"[" * 5000 + b"]" * 5000,
        {"error_code": ["x"], "sync_protocol": "2.0", "error_description": None},
        {"error_description": "line one\nline two\x1b[31m" + "x" * 5000},
    ],
    ids=["html", "nested", "wrong-types", "long-multiline"],
)
def test_any_412_body_gives_one_clear_line(gate: HandshakeServer, body: Any) -> None:
    gate.body = body
    queue_events(2)

    summary = flush(timeout=FAST)

    assert summary.outcome == "protocol-mismatch"
    assert summary.message is not None and summary.message.startswith(NEWER)
    assert "\n" not in summary.message and "\x1b" not in summary.message
    assert len(summary.message) < 500


def test_a_server_older_than_the_client_is_named_so(gate: HandshakeServer) -> None:
    gate.body = {"error_code": "client-too-new", "error_description": "pin the client"}
    queue_events(1)

    summary = flush(timeout=FAST)

    assert summary.outcome == "protocol-mismatch"
    assert (summary.message or "").startswith(
        "the server speaks an older sync protocol than this kitty-hooks"
    )
    assert read_state().next_attempt_after > datetime.now(timezone.utc) + timedelta(hours=11)  # type: ignore[operator]
