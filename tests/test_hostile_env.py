"""Hostile environments (issue 9): a credentials file or a queue file that cannot be used.

Every command answers with one line that names the file and says what to do, exits 2 (an
environment error), and no hook fails git or loses a lane change. Real files, real processes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kitty_hooks.deliver import credentials, refresh
from kitty_hooks.deliver.credentials import CredentialsError, load_credentials
from kitty_hooks.queue import spool
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.store import EventQueue
from tests.capture.test_commits import F, commit, install_hooks, wp
from tests.gitutil import PROJECT_ROOT, Repo
from tests.ingest import IngestServer
from tests.queue.test_store import _run_without_root_powers
from tests.syncutil import credentials_file, queue_events, write_credentials

DEEP = 100_000


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitty_hooks", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=120,
    )


def one_line(text: str) -> str:
    assert "Traceback" not in text and "internal error" not in text, text
    assert text.count("\n") == 1, text
    return text.strip()


# --- case 5: credentials nested 100,000 deep ---------------------------------------------------


DEEP_DOCUMENTS = {
    "array": "a = " + "[" * DEEP + "]" * DEEP + "\n",
    "inline table": "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n",
    "deep but parseable value": (
        '[tokens]\naccess = "a"\nrefresh = "r"\n[server]\nurl = "http://127.0.0.1:1"\n'
        "[expiries]\naccess = " + "[" * 300 + "]" * 300 + "\n"
    ),
}


@pytest.mark.parametrize("text", DEEP_DOCUMENTS.values(), ids=DEEP_DOCUMENTS.keys())
def test_deeply_nested_credentials_are_a_user_error(hermetic_env: Path, text: str) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(
        CredentialsError, match=r"~/\.spec-kitty/credentials .*kitty-hooks login --server URL"
    ):
        load_credentials()


def test_sync_and_status_with_deeply_nested_credentials_say_so_and_exit_2(
    hermetic_env: Path,
) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(DEEP_DOCUMENTS["array"])
    path.chmod(0o600)
    ids = queue_events(2)
    synced = run("sync")
    assert synced.returncode == 2
    assert "Traceback" not in synced.stderr
    assert synced.stderr.splitlines() == [
        "kitty-hooks: 2 events still queued: there are no usable credentials "
        "(~/.spec-kitty/credentials is not valid credentials (values nested too deeply to read): "
        "run `kitty-hooks login --server URL`)",
    ]
    status = run("status")
    assert status.returncode == 2
    auth_line = next(line for line in status.stdout.splitlines() if line.startswith("Auth:"))
    assert "nested too deeply" in auth_line and "kitty-hooks login --server URL" in auth_line
    with EventQueue() as queue:
        assert [e.event_id for e in queue.list_entries()] == ids


def test_the_push_worker_survives_deeply_nested_credentials(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitty_hooks.deliver import worker
    from kitty_hooks.locations import log_path

    monkeypatch.setattr(worker, "UNKNOWN_PUSH_GRACE_SECONDS", 0.0)

    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(DEEP_DOCUMENTS["inline table"])
    ids = queue_events(1)
    assert worker.main(["0"]) == 0  # no push to wait for
    log = log_path().read_text()
    assert "no-credentials" in log and "Traceback" not in log
    with EventQueue() as queue:
        assert [e.event_id for e in queue.list_entries()] == ids


# --- case 7: a credentials file other users can read ------------------------------------------


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


def test_a_world_readable_credentials_file_is_warned_about(
    hermetic_env: Path, server: IngestServer
) -> None:
    path = write_credentials(hermetic_env, server.url, server.login())
    path.chmod(0o644)
    expected = "~/.spec-kitty/credentials is readable or writable by other users (mode 644): run `chmod 600 ~/.spec-kitty/credentials`"
    status = run("status")
    assert status.returncode == 0
    assert f"  warning: {expected}" in status.stdout.splitlines()
    queue_events(1)
    synced = run("sync")
    assert synced.returncode == 0
    assert synced.stderr == f"kitty-hooks: warning: {expected}\n"
    path.chmod(0o600)
    assert run("sync").stderr == ""
    assert "warning" not in run("status").stdout


def test_our_refresh_writes_the_credentials_0600_whatever_they_were(
    hermetic_env: Path, server: IngestServer
) -> None:
    path = write_credentials(hermetic_env, server.url, server.login(), access_expires_in=-60)
    path.chmod(0o644)
    creds = load_credentials()
    refreshed = refresh.refresh_tokens(creds)
    assert refreshed.access != creds.access
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.exposure_warning() is None
    for lock in path.parent.glob("*.lock"):
        assert stat.S_IMODE(lock.stat().st_mode) & 0o077 == 0, lock


# --- case 8: a queue that is not busy but unusable --------------------------------------------


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "gone" / "queue.db")


UNUSABLE = {
    "directory": (_directory, "is a directory, not a database file"),
    "fifo": (_fifo, "is not a regular file"),
    "dangling symlink": (_dangling_symlink, "which does not exist"),
}


@pytest.mark.parametrize(("make", "words"), UNUSABLE.values(), ids=UNUSABLE.keys())
@pytest.mark.parametrize("command", [("status",), ("sync",), ("queue", "list")])
def test_commands_say_what_is_wrong_with_an_unusable_queue(
    make: object, words: str, command: tuple[str, ...]
) -> None:
    path = default_queue_path()
    path.parent.mkdir(parents=True)
    make(path)  # type: ignore[operator]
    done = run(*command)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert str(path) in line and words in line and "move it away" in line


def test_a_queue_replaced_by_a_directory_keeps_the_lane_change_and_says_why(repo: Repo) -> None:
    install_hooks(repo.path)
    repo.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    path = default_queue_path()
    path.parent.mkdir(parents=True)
    path.mkdir()
    result = commit(repo, warns=True)
    line = one_line(result.stderr)
    assert "busy" not in line
    assert f"queue {path} is a directory, not a database file" in line
    assert "1 lane change kept in the spool until the queue can be opened" in line
    (spooled,) = spool.spool_dir().glob("*.json")
    kept = json.loads(spooled.read_text())
    assert [e["aggregate_id"] for e in kept["envelopes"]] == ["WP01"]
    assert list(kept["commits"].values()) == [repo.git("rev-parse", "HEAD").stdout.strip()]
    path.rmdir()  # fixed: the next capture takes the spool in first
    repo.write(f"{F}/tasks/WP01-fix.md", wp("claimed"))
    commit(repo)
    with EventQueue() as queue:
        lanes = [e.envelope["payload"]["to_lane"] for e in queue.list_entries()]
    assert lanes == ["planned", "doing"]


def test_a_file_that_is_not_sqlite_is_moved_aside_and_queue_list_says_so() -> None:
    path = default_queue_path()
    path.parent.mkdir(parents=True)
    path.write_text("these are my notes, not a database\n" * 200)
    done = run("queue", "list")
    assert done.returncode == 0
    assert "the queue file was unreadable and was moved to" in one_line(done.stderr)
    (aside,) = path.parent.glob("queue.db.corrupt-*")
    assert aside.read_text().startswith("these are my notes")


@pytest.mark.parametrize(
    ("command", "stream"), [(("sync",), "stderr"), (("diagnose", "--queue"), "stdout")]
)
def test_sync_and_diagnose_queue_say_when_they_moved_the_queue_aside(
    command: tuple[str, ...], stream: str
) -> None:
    path = default_queue_path()
    path.parent.mkdir(parents=True)
    path.write_text("these are my notes, not a database\n" * 200)
    done = run(*command)
    said = getattr(done, stream)
    assert "the queue file was unreadable and was moved to" in said, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    (aside,) = path.parent.glob("queue.db.corrupt-*")
    assert str(aside) in said


def test_an_unreadable_queue_file_is_named_with_what_to_do() -> None:
    queue_events(1)
    path = default_queue_path()
    path.chmod(0)
    try:
        output = _run_without_root_powers(path)
    finally:
        path.chmod(0o600)
    assert output == (
        f"QueueError: queue {path} is not readable by you: fix its owner or mode (chmod 600 {path})"
    )


def test_a_read_only_queue_file_is_named_with_what_to_do() -> None:
    queue_events(1)
    path = default_queue_path()
    path.chmod(0o400)
    try:
        output = _run_without_root_powers(path)
    finally:
        path.chmod(0o600)
    assert output == f"QueueError: queue {path} is read-only: make it writable (chmod 600 {path})"


def test_a_lone_surrogate_in_an_envelope_is_queued_as_a_replacement_character() -> None:
    from tests.syncutil import envelopes

    event = envelopes(1)[0]
    event["payload"]["actor"] = "ada \ud800 \U0001f431"
    with EventQueue() as queue:
        queue.enqueue([event])
        (entry,) = queue.list_entries()
    assert entry.envelope["payload"]["actor"] == "ada \ufffd \U0001f431"


def test_a_status_log_line_with_a_lone_surrogate_is_captured_not_a_crash(repo: Repo) -> None:
    from kitty_hooks.model.events import derive_ulid
    from tests.capture.test_commits import LOG, log_line

    install_hooks(repo.path)
    line = log_line(derive_ulid(1_763_600_000_000, "s"), None, "planned")
    repo.write(LOG, line.replace('"actor": "claude"', '"actor": "cl\\ud800aude"'))
    commit(repo)  # silent: no "internal error", nothing spooled
    with EventQueue() as queue:
        (entry,) = queue.list_entries()
    assert entry.envelope["payload"]["actor"] == "cl\ufffdaude"
