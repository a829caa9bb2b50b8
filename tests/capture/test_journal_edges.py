"""The journal's failure edges (issue 19, 18): a full disk, a rewrite while another drain holds
the lock, a stale marker, files that are no entries, a clock stepped back, a work tree removed
before its commit was captured. Real git, the real installed shims, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitty_hooks.capture import journal
from kitty_hooks.githooks.install import install_hooks
from kitty_hooks.locations import journal_dir, log_path, state_dir
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.entries import QueueEntry
from tests.capture.test_journal import (
    WP,
    F,
    commit,
    drainer_starts,
    head,
    hooked,
    moves,
    no_drainer_starts,
    queued,
    wp,
)
from tests.gitutil import PROJECT_ROOT, Repo, captured, drainers_done

__all__ = ["hooked", "no_drainer_starts"]  # fixtures, used by name


def log() -> str:
    return log_path().read_text() if log_path().exists() else ""


# --- a full disk (19.1) -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The state folder on a 2 MiB tmpfs of its own (mounting needs root, as here in CI)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    monkeypatch.setenv("KITTY_HOOKS_HOME", str(mount / "state"))
    try:
        yield mount
    finally:
        (journal_dir() / journal.MARKER).unlink(missing_ok=True)  # if a test wrote it
        drainers_done()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte; the file that did it."""
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    # And the last partial block, one byte at a time.
    with open(filler, "ab", buffering=0) as out:
        try:
            while True:
                out.write(b"\0")
        except OSError:
            pass
    return filler


def test_a_full_disk_keeps_the_entry_until_the_queue_can_take_it(
    hooked: Repo, small_disk: Path
) -> None:
    journal_dir().mkdir(parents=True)
    (journal_dir() / journal.MARKER).write_text(journal.marker_line(os.getpid()))
    hooked.write(WP, wp("claimed"))
    commit(hooked)
    captured()  # the queue exists, as on any machine that ever captured a move
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()
    filler = fill(small_disk)

    assert journal.drain() == 0
    assert journal.entries() == [entry]  # not captured, and not lost

    filler.unlink()
    assert journal.drain() == 1
    assert journal.entries() == []
    assert moves() == [("WP01", "planned", "doing"), ("WP01", "doing", "for_review")]


def test_a_commit_on_a_full_disk_is_told_at_the_commit(hooked: Repo, small_disk: Path) -> None:
    """No room for the journal's entry either: the shim captures in the foreground, and the
    person committing reads, on the terminal, that the move is not queued and how to queue it."""
    hooked.write(WP, wp("claimed"))
    commit(hooked)
    captured()
    fill(small_disk)
    hooked.write(WP, wp("for_review"))
    hooked.git("add", "-A")
    done = hooked.git("commit", "-q", "-m", "move")
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert "these lane changes are not queued - run `kitty-hooks scan`" in line


_DRAIN_WITHOUT_ROOM = """
import resource, signal
from kitty_hooks.capture import journal

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
print(journal.drain())
"""


def test_a_drain_that_can_write_no_byte_keeps_the_entry(
    hooked: Repo, no_drainer_starts: None
) -> None:
    """The same without root: no file may grow (RLIMIT_FSIZE), neither the queue, nor the spool,
    nor the note that would say so."""
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()
    done = subprocess.run(
        [sys.executable, "-c", _DRAIN_WITHOUT_ROOM], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0\n"
    assert "Traceback" not in done.stderr
    assert journal.entries() == [entry]
    assert queued() == []
    assert journal.drain() == 1
    assert moves() == [("WP01", "planned", "for_review")]


def test_a_capture_that_cannot_queue_says_so_once_and_keeps_the_entry(
    hooked: Repo, no_drainer_starts: None
) -> None:
    """Room for the note, but not for the queue (a folder where the file should be) nor the spool
    (a file where its folder should be): the entry stays, the note is written once."""
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    default_queue_path().mkdir(parents=True)
    (state_dir() / "spool").write_text("not a folder\n")
    assert journal.drain() == 0
    assert journal.drain() == 0
    assert len(journal.entries()) == 1
    (note,) = journal.state().notes
    assert "not captured yet" in note and "kept for the next commit, push" in note
    default_queue_path().rmdir()
    assert journal.drain() == 1
    assert moves() == [("WP01", "planned", "for_review")]


# --- a rewrite while another drain holds the lock (19.3) -------------------------------------

_HOLD_THE_LOCK = """
import fcntl, os, sys
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_amending_four_times_behind_a_busy_drain_queues_none_of_the_amended_away_moves(
    hooked: Repo, no_drainer_starts: None
) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(state_dir() / journal.LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        hooked.write(WP, wp("claimed"))
        commit(hooked)
        for lane in ("doing", "for_review", "approved", "done"):
            hooked.write(WP, wp(lane))
            commit(hooked, "--amend")
        assert log().count("rewrite of 1 commits left to it") == 4
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    captured()
    assert moves() == [("WP01", "planned", "done")]
    assert queued()[0].commit_sha == head(hooked)
    assert journal.entries() == []


def test_a_post_commit_in_the_foreground_behind_a_busy_drain_keeps_commit_order(
    hooked: Repo, no_drainer_starts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-commit framework's kitty-emit runs `kitty-hooks hook post-commit` with no shim:
    while another drain holds the commits recorded before, it records its own after them."""
    hooked.write(WP, wp("doing"))
    commit(hooked)  # recorded by the shim, not captured
    state_dir().mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(state_dir() / journal.LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        hooked.write(WP, wp("for_review"))
        with monkeypatch.context() as patched:
            patched.setenv("KITTY_HOOKS", "0")  # no shim of ours: as under the framework
            commit(hooked)
        started = time.monotonic()
        done = hooked.kitty_hooks("hook", "post-commit")
        assert done.returncode == 0 and done.stderr == ""
        assert time.monotonic() - started < journal.HOOK_WAIT_SECONDS  # git did not wait
        assert [e.sha for e in journal.entries()][-1] == head(hooked)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    captured()
    assert moves() == [("WP01", "planned", "doing"), ("WP01", "doing", "for_review")]


def test_an_autosquash_behind_a_busy_drain_queues_only_the_squashed_commits(
    hooked: Repo, no_drainer_starts: None
) -> None:
    pairs = 20
    base = head(hooked)
    state_dir().mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(state_dir() / journal.LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for n in range(2, pairs + 2):
            path = f"{F}/tasks/WP{n:02d}-x.md"
            hooked.write(path, wp("doing", f"WP{n:02d}"))
            hooked.git("add", "-A")
            hooked.git("commit", "-q", "--no-verify", "-m", f"start WP{n:02d}")
        for n in range(2, pairs + 2):
            path = f"{F}/tasks/WP{n:02d}-x.md"
            hooked.write(path, wp("for_review", f"WP{n:02d}"))
            hooked.git("add", "-A")
            hooked.git("commit", "-q", "--no-verify", "-m", f"fixup! start WP{n:02d}")
        squashed = subprocess.run(
            ["git", "rebase", "-q", "-i", "--autosquash", base], cwd=hooked.path,
            env={**os.environ, "GIT_SEQUENCE_EDITOR": "true"}, capture_output=True, text=True,
        )  # fmt: skip
        assert squashed.returncode == 0, squashed.stderr
        assert "Traceback" not in squashed.stderr
        assert "rewrite of 40 commits left to it" in log()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    captured()
    picked = hooked.git("rev-list", "--reverse", f"{base}..HEAD").stdout.split()
    assert len(picked) == pairs
    entries = queued()
    assert [(e.envelope["aggregate_id"], e.envelope["payload"]["to_lane"]) for e in entries] == [
        (f"WP{n:02d}", "for_review") for n in range(2, pairs + 2)
    ]
    assert [e.commit_sha for e in entries] == picked
    # The 40 commits squashed away were never even queued for a moment: no clock went to them.
    clocks = [e.envelope["lamport_clock"] for e in entries]
    assert clocks == list(range(1, pairs + 1))
    assert journal.entries() == []


# --- a marker naming another process (19.7) ----------------------------------------------------


@pytest.mark.parametrize("marker", ["{pid}\n", "{pid} 1\n"], ids=["old-marker", "wrong-start"])
def test_a_marker_naming_a_live_process_that_is_no_drainer_is_taken_over(
    hooked: Repo, marker: str
) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        journal_dir().mkdir(parents=True, exist_ok=True)
        (journal_dir() / journal.MARKER).write_text(marker.format(pid=stranger.pid))
        assert journal.running_drainer() is None
        _a_move_is_captured_by_the_one_drainer_the_shim_starts(hooked)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_drainer_that_exited_but_is_not_yet_reaped_is_no_running_drainer(hooked: Repo) -> None:
    # A container's init may reap a detached drainer a second or two after it exits; until
    # then kill -0 still answers for its pid. Neither the shim nor Python waits on it.
    exited = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while _state(exited.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(exited.pid) == "Z"
        journal_dir().mkdir(parents=True, exist_ok=True)
        started = journal.start_time(exited.pid)
        (journal_dir() / journal.MARKER).write_text(f"{exited.pid} {started}\n")
        assert journal.running_drainer() is None
        _a_move_is_captured_by_the_one_drainer_the_shim_starts(hooked)
    finally:
        exited.wait()


def _a_move_is_captured_by_the_one_drainer_the_shim_starts(hooked: Repo) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    deadline = time.monotonic() + 60
    while journal.entries() and time.monotonic() < deadline:
        time.sleep(0.02)  # the drainer the shim started, not a drain of ours
    assert journal.entries() == []
    drainers_done()
    assert drainer_starts() == 1
    assert moves() == [("WP01", "planned", "for_review")]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()[0]


def test_a_marker_naming_a_running_drainer_starts_no_other(
    hooked: Repo, no_drainer_starts: None
) -> None:
    assert journal.running_drainer() == os.getpid()
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert drainer_starts() == 0
    assert len(journal.entries()) == 1


# --- files that are no entries (19.9, 19.10) ---------------------------------------------------


def test_a_fifo_named_like_an_entry_is_moved_aside_without_blocking(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()
    fifo = journal_dir() / f"1-{'a' * 40}-1.commit"
    os.mkfifo(fifo)
    # doctor only looks (it sets nothing aside): it must not hang on it either.
    looked = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "doctor"], cwd=hooked.path, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in looked.stderr
    assert "1 commit recorded" in looked.stdout
    assert os.path.lexists(fifo)
    done = subprocess.run(
        [sys.executable, "-c", "from kitty_hooks.capture import journal; print(journal.drain())"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout == "1\n", done.stderr
    assert not os.path.lexists(fifo)
    assert (journal_dir() / (fifo.name + journal.ASIDE)).exists()
    assert log().count(f"{fifo.name} cannot be read (not a regular file); moved aside") == 1
    assert moves() == [("WP01", "planned", "for_review")]
    assert not entry.path.exists()


def test_a_folder_named_like_an_entry_is_moved_aside_once_not_logged_at_every_drain(
    hooked: Repo, no_drainer_starts: None
) -> None:
    folder = journal_dir() / f"2-{'b' * 40}-2.commit"
    folder.mkdir(parents=True)
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    for _ in range(3):
        journal.drain()
    assert log().count("moved aside") == 1
    assert (journal_dir() / (folder.name + journal.ASIDE)).is_dir()
    assert moves() == [("WP01", "planned", "for_review")]


def test_an_entry_whose_work_tree_cannot_be_stated_raises_nothing(
    hooked: Repo, no_drainer_starts: None
) -> None:
    """A path too long for the file system (ENAMETOOLONG), which Path.is_dir() raises for. With
    the repository's common dir recorded, its commit is captured from the repository."""
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    (entry,) = journal.entries()
    too_long = "/" + "x" * 5000
    entry.path.write_text(f"{too_long}\n{entry.head_ref}\n{entry.common_dir}\n")
    assert journal.drain() == 1
    assert "Traceback" not in log()
    assert moves() == [("WP01", "planned", "for_review")]
    assert queued()[0].envelope["payload"]["execution_mode"] == "worktree"

    # An older shim's entry says no common dir: nowhere to capture it from, said once.
    sha = head(hooked)
    old = journal_dir() / f"{sha}-77.commit"
    old.write_text(f"{too_long}\nrefs/heads/main\n")
    assert journal.drain() == 0
    assert not old.exists()
    assert "Traceback" not in log()
    (note,) = journal.state().notes
    assert f"run `kitty-hooks scan {sha}^!` in the repository" in note


_NAME_PARTS = st.one_of(
    st.sampled_from(["1", "12", "²", "٣", "rewrite", "a" * 40, "b" * 64, "A" * 40, "", "9" * 12]),
    st.text(alphabet="0123456789abcdef-", max_size=70),
    st.text(max_size=20).filter(lambda t: "/" not in t and "\0" not in t),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.tuples(
            st.lists(_NAME_PARTS, min_size=1, max_size=4),
            st.one_of(
                st.binary(max_size=300),
                st.lists(st.text(max_size=60), max_size=6).map(
                    lambda lines: "".join(f"{line}\n" for line in lines).encode("utf-8", "replace")
                ),
            ),
        ),
        max_size=6,
    )
)
def test_any_file_in_the_journal_is_read_or_set_aside_without_raising(
    files: list[tuple[list[str], bytes]],
) -> None:
    directory = journal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for parts, content in files:
        name = "-".join(parts) + journal.SUFFIX
        if len(os.fsencode(name)) < 250:
            (directory / name).write_bytes(content)
    for entry in journal.entries():  # never raises; what it returns is well-formed
        assert entry.sha == "" or len(entry.sha) in (40, 64)
        assert entry.worktree is None or entry.worktree.startswith("/")
        assert entry.seq is None or entry.seq >= 0
    assert journal.next_seq(os.listdir(directory)) >= 1


# --- commit order, whatever the clock (19.11) --------------------------------------------------


def test_entries_are_captured_in_commit_order_though_the_clock_stepped_back(
    hooked: Repo, no_drainer_starts: None
) -> None:
    for lane in ("doing", "for_review", "done"):
        hooked.write(WP, wp(lane))
        commit(hooked)
    recorded = journal.entries()
    assert [e.seq for e in recorded] == [1, 2, 3]
    # The wall clock stepped back between the commits: each entry older than the one before.
    for age, entry in enumerate(recorded):
        stamp = time.time() - 3600 * (age + 1)
        os.utime(entry.path, (stamp, stamp))
    assert journal.drain() == 3
    assert moves() == [
        ("WP01", "planned", "doing"),
        ("WP01", "doing", "for_review"),
        ("WP01", "for_review", "done"),
    ]


def test_entries_an_older_shim_wrote_are_read_and_come_first(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("doing"))
    commit(hooked)
    (entry,) = journal.entries()
    # As the previous shim named and filled it: <sha>-<pid>.commit, the work tree and the ref.
    older = entry.path.with_name(f"{entry.sha}-{entry.pid}.commit")
    older.write_text(f"{hooked.path}\n{entry.head_ref}\n")
    entry.path.unlink()
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert [e.seq for e in journal.entries()] == [None, 1]
    assert journal.drain() == 2
    assert moves() == [("WP01", "planned", "doing"), ("WP01", "doing", "for_review")]


def test_the_shim_numbers_after_the_highest_entry_waiting_whatever_else_is_there(
    hooked: Repo, no_drainer_starts: None
) -> None:
    # A leading zero (the shell's arithmetic would read 09 as octal, and fail), a digit that
    # is not ASCII: neither counts. An entry still being written does.
    for name in (f"09-{'c' * 40}-1.commit", "²-rewrite-1.commit"):
        (journal_dir() / name).write_text("junk")
    (journal_dir() / f"5-{'e' * 40}-1.commit").write_text("")
    expected = journal.next_seq(os.listdir(journal_dir()))
    assert expected == 6
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    assert [e.seq for e in journal.entries(tidy=False) if e.sha == head(hooked)] == [expected]


def test_python_numbers_entries_as_the_shim_does() -> None:
    """The shim's rule, in sh, and Python's (a deferred rewrite) agree."""
    names = [f"7-{'a' * 40}-1.commit", f"{'b' * 40}-2.commit", "12-rewrite-3.commit", "x.commit"]
    assert journal.next_seq(names) == 13
    assert journal.next_seq([*names, f"099-{'c' * 40}-4.commit"]) == 13  # no octal surprises
    assert journal.next_seq([]) == 1


# --- capture needs no work tree (18.2) ---------------------------------------------------------


def test_a_commit_in_a_worktree_removed_before_its_capture_is_captured(
    hooked: Repo, no_drainer_starts: None, tmp_path: Path
) -> None:
    lane = tmp_path / "merge-tmp"
    hooked.git("worktree", "add", "-q", "-b", "lane-a", str(lane))
    (lane / WP).write_text(wp("done"))
    made = subprocess.run(
        ["git", "commit", "-q", "-am", "merge WP01"], cwd=lane, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=lane, capture_output=True, text=True, check=True
    ).stdout.strip()
    hooked.git("worktree", "remove", str(lane))
    assert not lane.exists()

    assert journal.drain() == 1
    assert "is gone" not in log()
    assert journal.state().notes == []
    (entry,) = queued()
    assert entry.commit_sha == sha
    assert (entry.envelope["payload"]["from_lane"], entry.envelope["payload"]["to_lane"]) == (
        "planned",
        "done",
    )
    assert entry.envelope["payload"]["execution_mode"] == "worktree"
    assert entry.envelope["payload"]["evidence"]["repos"][0]["branch"] == "lane-a"


def test_a_commit_in_a_removed_worktree_of_a_bare_repository_is_captured(
    tmp_path: Path, no_drainer_starts: None
) -> None:
    seed = Repo(tmp_path / "seed")
    seed.write(WP, wp("planned"))
    seed.commit_all("start")
    bare = tmp_path / "project.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed.path), str(bare)], check=True)
    keep, lane = tmp_path / "keep", tmp_path / "lane"
    for tree, branch in ((keep, "keep"), (lane, "lane-b")):
        subprocess.run(
            ["git", "worktree", "add", "-q", "-b", branch, str(tree)], cwd=bare, check=True
        )
    install_hooks(keep)
    (lane / WP).write_text(wp("for_review"))
    subprocess.run(["git", "commit", "-q", "-am", "move"], cwd=lane, check=True)
    subprocess.run(["git", "worktree", "remove", str(lane)], cwd=bare, check=True)
    assert journal.drain() == 1
    assert moves() == [("WP01", "planned", "for_review")]


# --- a backlog is captured in runs (issue 21) ---------------------------------------------------


def test_a_backlog_is_captured_together_each_commit_with_its_own_config(
    hooked: Repo, no_drainer_starts: None
) -> None:
    config = ".kittify/config.yaml"
    uuid = "63c8d621-4b64-48e2-86fc-56c667068f2f"
    for slug, lane in (("first", "doing"), ("first", "for_review"), ("second", "done")):
        hooked.write(config, f"project:\n  uuid: {uuid}\n  slug: {slug}\n")
        hooked.write(WP, wp(lane))
        commit(hooked)
    assert len(journal.entries()) == 3
    assert journal.drain() == 3
    assert [(e.envelope["payload"]["to_lane"], e.envelope["project_slug"]) for e in queued()] == [
        ("doing", "first"),
        ("for_review", "first"),
        ("done", "second"),
    ]
    assert "one by one" not in log()


def test_a_commit_that_cannot_be_read_holds_up_none_of_the_others_in_its_run(
    hooked: Repo, no_drainer_starts: None
) -> None:
    hooked.write(WP, wp("doing"))
    commit(hooked)
    (first,) = journal.entries()
    hooked.write(WP, wp("for_review"))
    commit(hooked)
    # Between them, an entry for a commit the repository does not have (gc'd, say).
    missing = "0123456789abcdef" * 2 + "01234567"
    lost = journal_dir() / f"{first.seq}-{missing}-{first.pid + 1}.commit"
    lost.write_text(first.path.read_text())
    assert journal.drain() == 2
    assert moves() == [("WP01", "planned", "doing"), ("WP01", "doing", "for_review")]
    assert "capturing them one by one" in log()
    (note,) = journal.state().notes
    assert note.startswith(f"kitty-hooks: commit {missing[:12]}: ")
    assert journal.entries() == []


# --- all of it at once, seeded -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 19, 31])
def test_random_moves_amends_busy_drains_and_clock_steps_queue_exactly_the_history(
    hooked: Repo, no_drainer_starts: None, tmp_path: Path, seed: int
) -> None:
    """Commits and amends through the shims, while another drain holds the lock or not, with the
    entries' clocks stepped back at random: afterwards the queue holds exactly the moves of the
    history HEAD reaches (what a scan of it finds), in commit order, and nothing amended away."""
    import random

    chance = random.Random(seed)
    lanes = ("claimed", "doing", "for_review", "done", "planned")
    wps = {f"WP0{n}": "planned" for n in range(1, 4)}
    base = head(hooked)  # made before the hooks were installed: not ours to capture
    for wp_id in wps:
        hooked.write(f"{F}/tasks/{wp_id}-x.md", wp("planned", wp_id))
    commit(hooked)
    holder: subprocess.Popen[str] | None = None
    try:
        for _ in range(60):
            op = chance.choice(("move", "move", "amend", "busy", "clock", "drain"))
            if op == "busy":
                if holder is None:
                    holder = subprocess.Popen(
                        [sys.executable, "-c", _HOLD_THE_LOCK, str(state_dir() / journal.LOCK)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    )  # fmt: skip
                    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
                else:
                    assert holder.stdin is not None
                    holder.stdin.close()
                    holder.wait()
                    holder = None
            elif op == "clock":
                for entry in journal.entries(tidy=False):
                    stamp = time.time() - chance.uniform(0, 86_400)
                    os.utime(entry.path, (stamp, stamp))
            elif op == "drain":
                if holder is None:
                    journal.drain()
            else:
                wp_id = chance.choice(sorted(wps))
                lane = chance.choice([lane for lane in lanes if lane != wps[wp_id]])
                wps[wp_id] = lane
                hooked.write(f"{F}/tasks/{wp_id}-x.md", wp(lane, wp_id))
                commit(hooked, *(["--amend", "--allow-empty"] if op == "amend" else []))
    finally:
        if holder is not None:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait()
    captured()
    assert journal.entries() == []

    # What the history HEAD reaches holds, found by a scan into a queue of its own.
    other = tmp_path / "scan-home"
    env = {**os.environ, "KITTY_HOOKS_HOME": str(other)}
    scanned = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "scan", f"{base}..HEAD"], cwd=hooked.path, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert scanned.returncode == 0, scanned.stderr
    from kitty_hooks.queue.store import EventQueue

    with EventQueue(other / "queue.db") as queue:
        history = sorted(queue.list_entries(), key=lambda e: e.envelope["lamport_clock"])

    def moves_of(found: list[QueueEntry]) -> list[tuple[str, str, str, str]]:
        return [
            (e.commit_sha or "", e.envelope["aggregate_id"], str(e.envelope["payload"]["from_lane"]),
             e.envelope["payload"]["to_lane"])
            for e in found
        ]  # fmt: skip

    # Each move once; and each WP's moves in the order history made them (moves of one amended
    # commit may keep the clocks they took before the amend, ahead of what the amend added).
    assert sorted(moves_of(queued())) == sorted(moves_of(history))
    for wp_id in wps:
        assert [m for m in moves_of(queued()) if m[1] == wp_id] == [
            m for m in moves_of(history) if m[1] == wp_id
        ]
