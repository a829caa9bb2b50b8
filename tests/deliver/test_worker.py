"""commit -> queue -> git push -> background worker -> server, through the installed shims."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kitty_hooks.deliver.flush import flush
from kitty_hooks.githooks.install import install_hooks
from kitty_hooks.locations import log_path
from tests.gitutil import Repo, git
from tests.ingest import BATCH_PATH, Fault, IngestServer
from tests.syncutil import queued_entries, write_credentials

F = "kitty-specs/039-cli-2x-readiness"


def wp(lane: str, wp_id: str = "WP01") -> str:
    return f"---\nwork_package_id: {wp_id}\nlane: {lane}\n---\n"


@pytest.fixture
def pushing(repo: Repo, tmp_path: Path) -> Repo:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    install_hooks(repo.path)
    return repo


def move(repo: Repo, lanes: list[str]) -> None:
    for lane in lanes:
        repo.write(f"{F}/tasks/WP01-x.md", wp(lane))
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", f"WP01 {lane}")


def push(repo: Repo) -> float:
    started = time.monotonic()
    done = repo.git("push", "-q", "origin", "main")
    assert "Traceback" not in done.stderr
    return time.monotonic() - started


def wait_for_flushes(count: int, timeout: float = 20.0) -> None:
    """The worker writes one line per flush to the log when it is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path().exists() and log_path().read_text().count("flush after push:") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(
        f"no flush after push in {timeout} s: {log_path().read_text() if log_path().exists() else ''}"
    )


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_push_sends_the_queued_events_in_the_background(pushing: Repo, hermetic_env: Path) -> None:
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        move(pushing, ["planned", "claimed", "for_review"])
        queued = [e.event_id for e in queued_entries()]
        assert len(queued) == 3
        push(pushing)
        wait_for_flushes(1)
        assert server.event_ids() == queued
        assert queued_entries() == []
        assert [e["payload"]["to_lane"] for e in server.events()] == [
            "planned",
            "doing",
            "for_review",
        ]


def test_the_flush_waits_for_the_push_to_finish(
    pushing: Repo, hermetic_env: Path, tmp_path: Path
) -> None:
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nsleep 3\n")
    hook.chmod(0o755)
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        move(pushing, ["planned"])
        running = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=pushing.path)
        time.sleep(1.5)
        assert running.poll() is None, "the push should still be in the remote's pre-receive"
        assert server.requests(BATCH_PATH) == []  # the worker is waiting for the push
        assert running.wait(timeout=30) == 0
        wait_for_flushes(1)
        assert len(server.event_ids()) == 1


def test_push_with_nothing_listening_returns_at_once_and_keeps_events(
    pushing: Repo, hermetic_env: Path
) -> None:
    write_credentials(hermetic_env, closed_port(), {"access": "a", "refresh": "r"})
    move(pushing, ["planned", "claimed"])
    elapsed = push(pushing)
    assert elapsed < 5.0
    wait_for_flushes(1)
    assert len(queued_entries()) == 2
    assert "cannot reach" in log_path().read_text()
    with IngestServer() as server:  # back online: the next flush sends them
        write_credentials(hermetic_env, server.url, server.login())
        assert flush().synced == 2
        assert queued_entries() == []


def test_push_with_a_slow_server_does_not_wait_for_it(pushing: Repo, hermetic_env: Path) -> None:
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        server.faults.push(Fault.delay(30.0))
        move(pushing, ["planned"])
        assert push(pushing) < 5.0  # the server takes 30 s per request; the push does not wait


def test_kitty_hooks_0_starts_no_worker(pushing: Repo, hermetic_env: Path) -> None:
    move(pushing, ["planned"])
    done = subprocess.run(
        ["git", "push", "-q", "origin", "main"], cwd=pushing.path, env={**os.environ, "KITTY_HOOKS": "0"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0
    time.sleep(0.5)
    assert not log_path().exists() or "flush after push" not in log_path().read_text()


def test_status_reports_queue_auth_and_the_server(pushing: Repo, hermetic_env: Path) -> None:
    with IngestServer() as server:
        tokens = server.login()
        write_credentials(hermetic_env, server.url, tokens)
        move(pushing, ["planned"])
        checked = pushing.kitty_hooks("status", "--check", "--format", "json")
        assert checked.returncode == 0, checked.stderr
        report = json.loads(checked.stdout)
        assert report["queue"]["total_pending"] == 1
        assert report["auth"]["state"] == "ok" and report["auth"]["username"] == "ada"
        assert report["check"]["ok"] is True
        text = pushing.kitty_hooks("status").stdout
        assert "Queue: 1 pending, 0 failed, 0 dead letters" in text
        for secret in (tokens["access"], tokens["refresh"]):
            assert secret not in checked.stdout + checked.stderr + text
    down = pushing.kitty_hooks("status", "--check")
    assert down.returncode == 1
    assert "Server: PROBLEM" in down.stdout


def test_a_push_while_backing_off_starts_no_worker(pushing: Repo, hermetic_env: Path) -> None:
    write_credentials(hermetic_env, closed_port(), {"access": "a", "refresh": "r"})
    move(pushing, ["planned"])
    push(pushing)
    wait_for_flushes(1)  # connection refused: the next automatic flush waits
    move(pushing, ["claimed"])
    push(pushing)
    time.sleep(1.0)
    assert log_path().read_text().count("flush after push:") == 1
    assert len(queued_entries()) == 2


def test_status_says_when_it_found_the_queue_unreadable(repo: Repo, hermetic_env: Path) -> None:
    from kitty_hooks.queue.database import default_queue_path

    default_queue_path().parent.mkdir(parents=True, exist_ok=True)
    default_queue_path().write_bytes(b"not a database " * 300)
    done = repo.kitty_hooks("status")
    assert done.returncode == 0, done.stderr
    assert "warning: the queue file was unreadable and was moved to" in done.stdout
    assert "queue.db.corrupt-" in done.stdout
