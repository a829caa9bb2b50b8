"""The post-commit shim records a commit in the journal and captures it detached; whoever reads
the queue drains the journal first. Real git, the real installed shims, the real drainer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitty_hooks.capture import journal
from kitty_hooks.githooks.install import install_hooks
from kitty_hooks.locations import journal_dir, log_path, state_dir
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.entries import QueueEntry
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import PROJECT_ROOT, Repo, captured, drainers_done, next_hook_stderr

F = "kitty-specs/039-cli"
WP = f"{F}/tasks/WP01-x.md"


def wp(lane: str, wp_id: str = "WP01") -> str:
    return f"---\nwork_package_id: {wp_id}\nlane: {lane}\n---\n"


def queued() -> list[QueueEntry]:
    if not default_queue_path().exists():
        return []
    with EventQueue() as queue:
        return sorted(queue.list_entries(), key=lambda e: e.envelope["lamport_clock"])


def moves() -> list[tuple[str, str | None, str]]:
    return [
        (e.envelope["aggregate_id"], e.envelope["payload"]["from_lane"], e.envelope["payload"]["to_lane"])
        for e in queued()
    ]  # fmt: skip


def drainer_starts() -> int:
    log = log_path()
    return log.read_text().count(journal.STARTED) if log.exists() else 0


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "HEAD").stdout.strip()


def commit(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    repo.git("add", "-A")
    done = repo.git("commit", "-q", "-m", "move", *args)
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    repo.write("README.md", "project\n")
    repo.write(WP, wp("planned"))
    repo.commit_all("start")
    install_hooks(repo.path)
    return repo


@pytest.fixture
def no_drainer_starts() -> Iterator[None]:
    """A marker naming a live process (this one): the shims record commits and start nothing."""
    journal_dir().mkdir(parents=True, exist_ok=True)
    marker = journal_dir() / journal.MARKER
    marker.write_text(journal.marker_line(os.getpid()))
    yield
    marker.unlink(missing_ok=True)


# --- record, then capture ---------------------------------------------------------------------


def test_the_shim_records_the_commit_and_a_drain_queues_it_once(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("for_review"))
    assert commit(hooked).stderr == ""
    sha = head(hooked)
    (entry,) = journal.entries()
    assert entry.path.name == f"1-{sha}-{entry.pid}.commit"
    branch = hooked.git("symbolic-ref", "HEAD").stdout.strip()
    assert entry.path.read_text() == f"{hooked.path}\n{branch}\n{hooked.path}/.git\n"
    assert entry.head_ref == branch
    assert entry.seq == 1 and entry.common_dir == f"{hooked.path}/.git"
    assert queued() == []  # nothing captured inside the commit

    assert journal.drain() == 1
    assert journal.entries() == []
    assert moves() == [("WP01", "planned", "for_review")]
    assert queued()[0].commit_sha == sha
    assert journal.drain() == 0
    assert len(queued()) == 1


def test_a_commit_through_the_shims_is_captured_by_the_drainer_it_starts(hooked: Repo) -> None:
    hooked.write(WP, wp("for_review"))
    assert commit(hooked).stderr == ""
    captured()
    assert moves() == [("WP01", "planned", "for_review")]
    drainers_done()  # it may have found the work done by captured() before it
    assert drainer_starts() == 1
    assert journal.entries() == []


def test_an_empty_journal_drains_without_a_lock_file() -> None:
    assert journal.drain() == 0
    journal_dir().mkdir(parents=True)
    (journal_dir() / journal.NOTES).write_text("kitty-hooks: commit 0123456789ab: note\n")
    assert journal.drain() == 0
    assert not (state_dir() / journal.LOCK).exists()


def test_shim_and_python_agree_on_the_journal_folder(
    hooked: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KITTY_HOOKS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home two"))
    journal_dir().mkdir(parents=True)
    (journal_dir() / journal.MARKER).write_text(journal.marker_line(os.getpid()))
    hooked.write(WP, wp("claimed"))
    commit(hooked)
    assert [e.sha for e in journal.entries()] == [head(hooked)]
    (journal_dir() / journal.MARKER).unlink()


# --- a burst of commits -----------------------------------------------------------------------


def test_a_rebase_of_many_moves_starts_few_drainers_and_queues_each_once_in_order(
    hooked: Repo,
) -> None:
    count = 30
    hooked.git("checkout", "-q", "-b", "side")
    for n in range(2, count + 2):
        hooked.write(f"{F}/tasks/WP{n:02d}-x.md", wp("planned", f"WP{n:02d}"))
        hooked.commit_all(f"plan WP{n:02d}")  # --no-verify: no hooks, nothing recorded
    hooked.git("checkout", "-q", "main")
    hooked.write("README.md", "main moved on\n")
    hooked.commit_all("main")

    hooked.git("checkout", "-q", "side")
    rebased = hooked.git("rebase", "-q", "main")
    assert "Traceback" not in rebased.stderr
    captured()
    drainers_done()

    picked = hooked.git("rev-list", "--reverse", "main..side").stdout.split()
    assert len(picked) == count
    entries = queued()
    # Every move once, in commit order: the Lamport clocks follow the picks.
    assert [e.commit_sha for e in entries] == picked
    assert [e.envelope["aggregate_id"] for e in entries] == [
        f"WP{n:02d}" for n in range(2, count + 2)
    ]
    assert 1 <= drainer_starts() <= 5  # one, give or take a drainer that had caught up
    assert journal.entries() == []


def test_an_amend_is_captured_before_the_rewrite_is_followed(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("claimed"))
    commit(hooked)
    hooked.write(WP, wp("for_review"))
    commit(hooked, "--amend")
    # No drainer ran: post-rewrite drained both commits' entries itself, then followed the
    # rewrite, which dropped the move the amend took back.
    assert journal.entries() == []
    assert moves() == [("WP01", "planned", "for_review")]
    assert queued()[0].commit_sha == head(hooked)


# --- crashes and leftovers --------------------------------------------------------------------

_CRASH_AFTER_CAPTURE = """
import os, signal
from kitty_hooks.capture import journal

def die(path):
    os.kill(os.getpid(), signal.SIGKILL)  # the capture returned; the entry is not removed yet

journal.remove = die
journal.drain()
"""


def test_a_drainer_killed_after_capturing_leaves_the_entry_and_the_next_drain_adds_nothing(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_CAPTURE], cwd=PROJECT_ROOT, capture_output=True,
        text=True,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(journal.entries()) == 1
    assert moves() == [("WP01", "planned", "for_review")]
    clock = queued()[0].envelope["lamport_clock"]

    assert journal.drain() == 1
    assert journal.entries() == []
    assert moves() == [("WP01", "planned", "for_review")]
    assert queued()[0].envelope["lamport_clock"] == clock


def test_an_entry_still_being_written_is_left_until_it_is_old(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()
    entry.path.write_text(str(hooked.path))  # no newline yet: the shim is mid-write
    assert journal.drain() == 0
    assert entry.path.exists()
    old = time.time() - journal.STALE_PARTIAL_SECONDS - 5
    os.utime(entry.path, (old, old))  # the clock: a shim that died mid-write, long ago
    assert journal.drain() == 0
    assert not entry.path.exists()
    assert "was never finished; removed" in log_path().read_text()


def test_an_entry_whose_work_tree_is_gone_is_removed_saying_how_to_scan_it(
    hooked: Repo, no_drainer_starts: None, tmp_path: Path
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    sha = head(hooked)
    moved = tmp_path / "moved"
    hooked.path.rename(moved)
    assert journal.drain() == 0
    assert journal.entries() == []
    hint = f"its work tree {hooked.path} is gone; run `kitty-hooks scan {sha}^!` in the repository"
    assert hint in log_path().read_text()
    assert [note for note in journal.state().notes if hint in note]  # the next hook shows it
    assert queued() == []
    # What the note says works: the commit lives on in the repository.
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "scan", f"{sha}^!"],
        cwd=moved,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert moves() == [("WP01", "planned", "for_review")]


def test_the_branch_is_the_one_the_commit_was_made_on_not_the_one_checked_out_later(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.git("checkout", "-q", "-b", "feature")
    hooked.write(WP, wp("done"))
    commit(hooked)
    hooked.git("checkout", "-q", "-")  # back, before the capture runs
    assert journal.drain() == 1
    (entry,) = queued()
    assert entry.envelope["payload"]["evidence"]["repos"][0]["branch"] == "feature"


def test_a_drainer_that_cannot_lock_gives_up_at_once_instead_of_spinning(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (state_dir() / journal.LOCK).mkdir()  # no file to flock: open() fails every time
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks.capture.journal"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    log = log_path().read_text()
    assert log.count("cannot open its lock") == 1
    assert len(journal.entries()) == 1  # kept for a drain that can lock
    (state_dir() / journal.LOCK).rmdir()
    assert journal.drain() == 1
    assert moves() == [("WP01", "planned", "for_review")]


def test_a_file_system_without_locks_keeps_the_commit_recorded_and_raises_nothing(
    hooked: Repo, no_drainer_starts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flock refused (ENOLCK, some NFS mounts): not made real here, so flock is replaced. A
    hook that drains first (post-rewrite, a foreground post-commit) must still do its own work."""
    import errno
    import fcntl

    hooked.write(WP, wp("for_review"))
    commit(hooked)

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    with monkeypatch.context() as patched:
        patched.setattr(fcntl, "flock", no_locks)
        assert journal.drain() == 0
    assert log_path().read_text().count("cannot lock") == 1
    assert len(journal.entries()) == 1  # kept for a drain that can lock
    assert journal.drain() == 1
    assert moves() == [("WP01", "planned", "for_review")]


_HOLD_THE_LOCK = """
import fcntl, os, sys, time
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_hook_waits_for_another_drain_only_so_long_then_goes_on(
    hooked: Repo, no_drainer_starts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another drain holding the lock (a long rebase's, say): post-rewrite and a foreground
    post-commit give it journal.HOOK_WAIT_SECONDS, not as long as it takes; the command line
    and the drainer wait for it (and then see all it left)."""
    monkeypatch.setattr(journal, "HOOK_WAIT_SECONDS", 0.3)
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    state_dir().mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(state_dir() / journal.LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        assert journal.drain(in_hook=True) == 0
        assert time.monotonic() - started >= 0.3  # it waited; it returned while the lock is held
        assert "another drain is still capturing" in log_path().read_text()
        assert len(journal.entries()) == 1  # left for the drain that holds the lock
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    assert journal.drain(in_hook=True) == 1
    assert moves() == [("WP01", "planned", "for_review")]


def test_a_commit_captured_in_the_foreground_waits_for_the_ones_recorded_before_it(
    hooked: Repo, no_drainer_starts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shim falls back to capturing at once (a GIT_WORK_TREE it does not model): the commit
    recorded before it is captured first, so the Lamport clocks keep the order of the moves."""
    hooked.write(WP, wp("claimed"))
    commit(hooked)  # recorded, not captured: the marker says a drainer runs
    assert len(journal.entries()) == 1
    monkeypatch.setenv("GIT_WORK_TREE", str(hooked.path))
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert journal.entries() == []
    assert moves() == [("WP01", "planned", "doing"), ("WP01", "doing", "for_review")]


def test_an_entry_of_another_repository_is_captured_whatever_git_dir_says(
    hooked: Repo, no_drainer_starts: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    other = Repo(tmp_path / "other")
    other.write("README.md", "other\n")
    other.commit_all("other")
    # As in a post-rewrite hook of a linked worktree of another repository.
    monkeypatch.setenv("GIT_DIR", str(other.path / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other.path / ".git" / "index"))
    assert journal.drain() == 1
    assert os.environ["GIT_DIR"] == str(other.path / ".git")  # given back
    assert moves() == [("WP01", "planned", "for_review")]


# --- what the hook used to print --------------------------------------------------------------


def test_a_capture_note_is_shown_by_the_next_hook_and_by_status(hooked: Repo) -> None:
    hooked.write("kitty-specs/002 space/tasks/WP01-x.md", wp("planned"))
    assert commit(hooked, "--no-verify").stderr == ""  # the commit itself says nothing
    captured()
    sha = head(hooked)
    status = hooked.kitty_hooks("status")
    assert f"kitty-hooks: commit {sha[:12]}: not queued: feature '002 space'" in status.stdout

    shown = next_hook_stderr(hooked)
    assert shown.startswith(f"kitty-hooks: commit {sha[:12]}: not queued: feature '002 space'")
    assert shown.count("\n") == 1
    assert next_hook_stderr(hooked) == ""  # shown once
    assert "not queued" in log_path().read_text()


# --- the pre-push shim and the fallbacks ------------------------------------------------------


def test_a_push_with_only_a_recorded_commit_flushes_it(
    hooked: Repo, no_drainer_starts: None, tmp_path: Path
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert not (default_queue_path().with_name("queue.db.pending")).exists()
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    hooked.git("remote", "add", "origin", str(bare))
    pushed = hooked.git("push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    # The shim counted the entry as work and started the flush worker, which drains first.
    captured()
    deadline = time.monotonic() + 60
    while "flush after push" not in log_path().read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "flush after push" in log_path().read_text()
    assert moves() == [("WP01", "planned", "for_review")]


def test_without_a_usable_journal_folder_the_shim_captures_at_once(hooked: Repo) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    journal_dir().write_text("a file where the folder should be\n")
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert moves() == [("WP01", "planned", "for_review")]  # no drain: captured in the commit
    assert drainer_starts() == 0


def test_kitty_hooks_0_records_nothing(hooked: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITTY_HOOKS", "0")
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert journal.entries() == []
    assert drainer_starts() == 0


def test_doctor_fails_on_a_commit_waiting_long_with_no_drainer(
    hooked: Repo, no_drainer_starts: None
) -> None:
    from kitty_hooks.health.doctor import run_doctor
    from kitty_hooks.health.report import CheckStatus

    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()

    def journal_checks() -> dict[str, tuple[CheckStatus, str]]:
        report = run_doctor(hooked.path)
        return {c.subject: (c.status, c.message) for c in report.checks if c.area == "journal"}

    status, message = journal_checks()["commits"]
    assert status is CheckStatus.OK and "1 commit recorded" in message  # a drainer "runs"
    (journal_dir() / journal.MARKER).unlink()
    old = time.time() - 11 * 60
    os.utime(entry.path, (old, old))  # the clock: recorded eleven minutes ago
    status, message = journal_checks()["commits"]
    assert status is CheckStatus.FAIL and "no capture is running" in message
    captured()
    assert journal_checks()["commits"][0] is CheckStatus.OK
    assert moves() == [("WP01", "planned", "for_review")]
