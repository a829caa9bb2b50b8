"""The shims decide first: a hook with nothing to do starts no Python, one with work does.

Every shim here is baked with a stand-in interpreter that records each call (its arguments and
stdin), so a test sees whether Python would have started and how. git is real throughout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitty_hooks.capture import journal
from kitty_hooks.githooks.install import (
    DEFAULT_HOOK_TYPES,
    HOOK_IDS,
    Outcome,
    install_hooks,
    uninstall_hooks,
)
from kitty_hooks.locations import flush_state_path, journal_dir, work_marker_path
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.spool import spool, spool_dir
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import PROJECT_ROOT, Repo, as_module_call, git
from tests.syncutil import envelopes

F = "kitty-specs/039-cli"
WP = f"{F}/tasks/WP01-x.md"
LOG = f"{F}/status.events.jsonl"
# The real interpreter: the recorder fixture puts its stand-in in sys.executable.
PYTHON = sys.executable
V1_SHIM = Path(__file__).parent.parent / "shims" / "kitty-hooks-shim-v1"
# What the post-commit shim starts, detached, for a commit with work (kitty_hooks/capture/journal.py).
DRAINER = "-m kitty_hooks.capture.journal --marked"
TEMPLATE = PROJECT_ROOT / "hooks" / "shim"


def wp(lane: str) -> str:
    return f"---\nwork_package_id: WP01\nlane: {lane}\n---\n"


class Recorder:
    """The interpreter baked into the shims: appends one line per call, then its stdin."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def calls(self, *, wait_for: int = 0) -> list[str]:
        # The pre-push shim starts the worker in the background: it may land a moment later.
        deadline = time.monotonic() + 10
        while True:
            text = self.path.read_text() if self.path.exists() else ""
            calls = [
                as_module_call(line.removeprefix("call: "))
                for line in text.splitlines()
                if line.startswith("call: ")
            ]
            if len(calls) >= wait_for or time.monotonic() > deadline:
                return calls
            time.sleep(0.02)

    def calls_of(self, hook: str) -> list[str]:
        """Python started for this hook (a commit runs several of ours)."""
        return [c for c in self.calls() if c.split()[2:4] == ["hook", hook]]

    def drainers(self, *, wait_for: int = 0) -> list[str]:
        """The journal drainers the post-commit shim started (detached: they may land later)."""
        deadline = time.monotonic() + 10
        while True:
            started = [c for c in self.calls() if c.startswith(DRAINER)]
            if len(started) >= wait_for or time.monotonic() > deadline:
                return started
            time.sleep(0.02)

    def stdin(self) -> str:
        text = self.path.read_text()
        return "".join(line + "\n" for line in text.splitlines() if not line.startswith("call: "))


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    record = tmp_path / "python-calls"
    python = tmp_path / "fakebin" / "python"
    python.parent.mkdir()
    python.write_text(f"#!/bin/sh\nprintf 'call: %s\\n' \"$*\" >> '{record}'\ncat >> '{record}'\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    return Recorder(record)


@pytest.fixture
def hooked(repo: Repo, recorder: Recorder, tmp_path: Path) -> Repo:
    repo.write("README.md", "project\n")
    repo.write(WP, wp("planned"))
    repo.write(".kittify/config.yaml", "project:\n  slug: x\n")
    repo.commit_all("start")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    install_hooks(repo.path)
    return repo


def commit(repo: Repo, *args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "change", *args],
        cwd=repo.path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def push(repo: Repo, env: dict[str, str] | None = None) -> None:
    repo.write("README.md", f"{time.time_ns()}\n")  # something new to push each time
    repo.git("add", "README.md")
    repo.git("commit", "-q", "--no-verify", "-m", "push me")
    done = subprocess.run(
        ["git", "push", "-q", "origin", "main"], cwd=repo.path, capture_output=True, text=True,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def marker() -> Path:
    return work_marker_path(default_queue_path())


# --- post-commit -----------------------------------------------------------------------------


def test_post_commit_touching_nothing_under_kitty_specs_starts_no_python(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.write("README.md", "changed\n")
    hooked.write("docs/kitty-specs.md", "a name that only looks like it\n")
    hooked.git("add", "-A")
    commit(hooked)
    assert recorder.calls() == []


def test_post_commit_of_a_root_commit_without_kitty_specs_starts_no_python(
    repo: Repo, recorder: Recorder
) -> None:
    # (the gate's check needs a HEAD: before the first commit it leaves the answer to Python)
    install_hooks(repo.path, ["post-commit"])
    repo.write("README.md", "first\n")
    repo.git("add", "-A")
    commit(repo)
    assert recorder.calls() == []


def test_post_commit_of_a_root_commit_with_a_wp_starts_python(
    repo: Repo, recorder: Recorder
) -> None:
    install_hooks(repo.path, ["post-commit"])
    repo.write(WP, wp("planned"))
    repo.git("add", "-A")
    commit(repo)
    assert recorder.calls(wait_for=1) == [DRAINER]
    assert [e.sha for e in journal.entries()] == [repo.git("rev-parse", "HEAD").stdout.strip()]


@pytest.mark.parametrize(
    "change",
    [
        {WP: wp("for_review")},  # frontmatter lane
        {LOG: '{"wp_id": "WP01"}\n', WP: wp("claimed")},  # spec-kitty 2.x: log line + frontmatter
        {f"{F}/tasks/done/WP02-y.md": wp("done")},  # a 1.x lane folder
        {".kittify/config.yaml": "project:\n  slug: renamed\n"},
    ],
    ids=["frontmatter", "log-line", "lane-folder", "kittify"],
)
def test_post_commit_touching_kitty_specs_or_kittify_records_it_and_starts_the_drainer(
    hooked: Repo, recorder: Recorder, change: dict[str, str]
) -> None:
    for path, content in change.items():
        hooked.write(path, content)
    hooked.git("add", "-A")
    commit(hooked)
    assert recorder.drainers(wait_for=1) == [DRAINER]
    assert recorder.calls_of("post-commit") == []  # nothing captured while git waits
    (entry,) = journal.entries()
    assert (entry.sha, entry.worktree) == (
        hooked.git("rev-parse", "HEAD").stdout.strip(),
        str(hooked.path),
    )
    assert recorder.stdin() == ""  # detached from git's pipes


def test_post_commit_with_a_drainer_running_starts_none(hooked: Repo, recorder: Recorder) -> None:
    journal_dir().mkdir(parents=True, exist_ok=True)
    # Alive, and named as a drainer's marker names it: this process.
    (journal_dir() / journal.MARKER).write_text(journal.marker_line(os.getpid()))
    for lane in ("claimed", "for_review", "done"):
        hooked.write(WP, wp(lane))
        hooked.git("add", "-A")
        commit(hooked)
    (journal_dir() / journal.MARKER).unlink()
    assert recorder.drainers() == []
    assert len(journal.entries()) == 3


@pytest.mark.parametrize("where", ["relative KITTY_HOOKS_HOME", "GIT_WORK_TREE", "GIT_DIR"])
def test_post_commit_captures_at_once_where_the_journal_cannot_serve(
    hooked: Repo, recorder: Recorder, where: str
) -> None:
    env = dict(os.environ)
    if where == "relative KITTY_HOOKS_HOME":
        env["KITTY_HOOKS_HOME"] = "relative/state"
    elif where == "GIT_WORK_TREE":
        env["GIT_WORK_TREE"] = str(hooked.path)
    else:
        # A GIT_DIR of the user's, relative to a work tree that is not its parent.
        env["GIT_DIR"] = os.path.relpath(hooked.path / ".git", hooked.path / "kitty-specs")
    hooked.write(WP, wp("claimed"))
    hooked.git("add", "-A")
    cwd = hooked.path / "kitty-specs" if where == "GIT_DIR" else hooked.path
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "change"], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert recorder.calls_of("post-commit") == ["-m kitty_hooks hook post-commit"]
    assert recorder.drainers() == []


def test_post_commit_of_a_merge_outside_kitty_specs_starts_no_python(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.git("checkout", "-q", "-b", "side")
    hooked.write("docs.md", "side\n")
    hooked.commit_all("side")
    hooked.git("checkout", "-q", "main")
    hooked.write("README.md", "main\n")
    hooked.commit_all("main")
    recorder.path.unlink(missing_ok=True)
    # A merge commit made by `git commit`: merge without committing.
    hooked.git("merge", "-q", "--no-ff", "--no-commit", "side")
    commit(hooked)
    assert len(hooked.git("rev-parse", "HEAD^2").stdout.strip()) == 40
    assert recorder.calls_of("post-commit") == []
    assert recorder.drainers() == []


def test_post_commit_of_a_merge_that_brings_lane_changes_is_recorded_for_capture(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.git("checkout", "-q", "-b", "side")
    hooked.write(WP, wp("claimed"))
    hooked.commit_all("side moves WP01")
    hooked.git("checkout", "-q", "main")
    hooked.write("README.md", "main\n")
    hooked.commit_all("main")
    # The merge brings WP01's move: capture settles where the merged files leave it.
    hooked.git("merge", "-q", "--no-ff", "--no-commit", "side")
    commit(hooked)
    merge = hooked.git("rev-parse", "HEAD").stdout.strip()
    assert merge in [e.sha for e in journal.entries()] or recorder.drainers()


@pytest.mark.parametrize("skip", ["", "kitty-settle"])
def test_git_merge_records_a_merge_commit_that_brings_lane_changes_unless_skipped(
    hooked: Repo, recorder: Recorder, skip: str
) -> None:
    hooked.git("checkout", "-q", "-b", "side")
    hooked.write(WP, wp("claimed"))
    hooked.commit_all("side moves WP01")
    hooked.git("checkout", "-q", "main")
    hooked.write("README.md", "main\n")
    hooked.commit_all("main")
    drainers = len(recorder.drainers())
    # `git merge` commits the merge itself: post-merge runs, post-commit does not.
    subprocess.run(
        ["git", "merge", "-q", "--no-ff", "-m", "merge side", "side"],
        cwd=hooked.path, env={**os.environ, "SKIP": skip}, check=True,
    )  # fmt: skip
    merge = hooked.git("rev-parse", "HEAD").stdout.strip()
    recorded = merge in [e.sha for e in journal.entries()] or len(recorder.drainers()) > drainers
    assert recorded == (skip == "")


# --- pre-commit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["README.md", f"{F}/meta.json", f"{F}/spec.md", f"{F}/tasks/notes.md", f"{F}/tasks/a/b/WP9.md"],
)
def test_pre_commit_with_nothing_staged_that_the_gate_checks_starts_no_python(
    hooked: Repo, recorder: Recorder, path: str
) -> None:
    hooked.write(path, "not an event file\n")
    hooked.git("add", "-A")
    commit(hooked)
    assert "-m kitty_hooks hook pre-commit" not in recorder.calls()


@pytest.mark.parametrize(
    "path",
    [
        LOG,
        "status.events.jsonl",  # the gate checks a log wherever it is
        f"{F}/x.events.json",
        f"{F}/x.event.json",
        WP,
        f"{F}/tasks/for_review/WP02-y.md",
        "tasks/WP03-z.md",
    ],
)
def test_pre_commit_with_an_event_file_staged_starts_python(
    hooked: Repo, recorder: Recorder, path: str
) -> None:
    hooked.write(path, wp("doing") if path.endswith(".md") else "{}\n")
    hooked.git("add", "-A")
    commit(hooked)
    assert recorder.calls()[0] == "-m kitty_hooks hook pre-commit"


def test_pre_commit_sees_the_temporary_index_of_commit_with_paths_and_of_commit_a(
    hooked: Repo, recorder: Recorder
) -> None:
    # `git commit README.md` commits README.md only, from a temporary index (GIT_INDEX_FILE):
    # the WP staged in the real index is not part of it, so the gate has nothing to check.
    hooked.write(WP, wp("claimed"))
    hooked.git("add", WP)
    hooked.write("README.md", "only this\n")
    commit(hooked, "README.md")
    assert recorder.calls() == []
    # `git commit -a` stages the WP change in its own temporary index: now there is.
    hooked.git("reset", "-q")
    hooked.write(WP, wp("for_review"))
    commit(hooked, "-a")
    assert recorder.calls()[0] == "-m kitty_hooks hook pre-commit"


def test_pre_commit_ignores_a_user_literal_pathspecs_setting(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.write(WP, wp("claimed"))
    hooked.git("add", "-A")
    commit(hooked, env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"})
    assert recorder.calls()[0] == "-m kitty_hooks hook pre-commit"


# --- pre-push --------------------------------------------------------------------------------


def test_pre_push_with_nothing_queued_starts_no_python(hooked: Repo, recorder: Recorder) -> None:
    push(hooked)
    assert recorder.calls() == []


def test_pre_push_with_events_queued_starts_the_worker_without_a_python_in_front(
    hooked: Repo, recorder: Recorder
) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    assert marker().exists()
    push(hooked)
    (call,) = recorder.calls(wait_for=1)
    module, pid = call.rsplit(" ", 1)
    assert module == "-m kitty_hooks.deliver.worker"
    assert int(pid) > 1  # the git that ran the push: the worker waits for it to exit
    assert recorder.stdin() == ""  # detached from git's pipes


def test_pre_push_with_only_a_recorded_commit_starts_the_worker(
    hooked: Repo, recorder: Recorder
) -> None:
    journal_dir().mkdir(parents=True)
    (journal_dir() / f"{'a' * 40}-1.commit").write_text(f"{hooked.path}\n")
    assert not marker().exists()
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


def test_pre_push_shows_the_notes_of_background_captures_once(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.write("README.md", "notes\n")
    hooked.commit_all("push me")  # (its post-commit would show them: they come after it)
    journal_dir().mkdir(parents=True)
    (journal_dir() / journal.NOTES).write_text("kitty-hooks: commit 0123456789ab: a note\n")
    pushed = hooked.git("push", "-q", "origin", "main")
    assert pushed.stderr == "kitty-hooks: commit 0123456789ab: a note\n"
    assert not (journal_dir() / journal.NOTES).exists()
    assert sorted(p.name for p in journal_dir().iterdir()) == []
    assert recorder.calls() == []


def test_pre_push_with_an_unwritable_log_still_pushes(hooked: Repo, recorder: Recorder) -> None:
    # dash exits at once, with 2, when a redirection of `:` fails: that blocked the push.
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    (marker().parent / "kitty-hooks.log").mkdir()
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks hook pre-push origin ")


def test_pre_push_with_a_spooled_change_and_no_marker_starts_the_worker(
    hooked: Repo, recorder: Recorder
) -> None:
    spool(envelopes(1))
    marker().unlink()  # a hook killed between writing the spool file and its marker
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


def _backoff_state(ahead: float, length: int | None) -> None:
    """flush-state.json as deliver.backoff writes it: a backoff `ahead` seconds from now, set
    for `length` seconds (None: the file of an older kitty-hooks, without the length)."""
    lines = [f'  "next_attempt_after_epoch": {time.time() + ahead}']
    if length is not None:
        lines.append(f'  "backoff_seconds": {length}')
    flush_state_path().write_text("{\n" + ",\n".join(lines) + "\n}\n")


@pytest.mark.parametrize(
    ("ahead", "length"),
    [(600, 900), (800, None), (3 * 3600, 4 * 3600), (23 * 3600, 24 * 3600)],
)
def test_pre_push_while_backing_off_starts_nothing_not_even_python(
    hooked: Repo, recorder: Recorder, ahead: float, length: int | None
) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    _backoff_state(ahead, length)
    push(hooked)
    time.sleep(0.2)  # what the shim would have started has started by now
    assert recorder.calls() == []


@pytest.mark.parametrize(
    ("ahead", "length"),
    [
        (30 * 86400, 900),  # 15 minutes set, then the clock went back a month
        (30 * 86400, None),  # the same in an older kitty-hooks' file
        (2 * 3600, 900),
        (25 * 3600, 99999999),  # longer than any Retry-After we honour
        (3 * 86400, 3 * 86400),
    ],
)
def test_pre_push_does_not_trust_a_backoff_further_ahead_than_it_was_set_for(
    hooked: Repo, recorder: Recorder, ahead: float, length: int | None
) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    _backoff_state(ahead, length)
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


def test_pre_push_after_the_backoff_starts_the_worker(hooked: Repo, recorder: Recorder) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    flush_state_path().write_text('{\n  "next_attempt_after_epoch": 1000000000.5\n}\n')
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


@pytest.mark.parametrize("written", ['"soon"', "4.1e9", "[]"])
def test_pre_push_with_a_backoff_it_cannot_read_leaves_the_decision_to_python(
    hooked: Repo, recorder: Recorder, written: str
) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    flush_state_path().write_text(f'{{\n  "next_attempt_after_epoch": {written}\n}}\n')
    push(hooked)
    (call,) = recorder.calls(wait_for=1)
    assert call.startswith("-m kitty_hooks hook pre-push origin ")
    assert recorder.stdin().startswith("refs/heads/main ")


_CRASH_MID_ENQUEUE = """
import os, signal, sys
from kitty_hooks.queue.store import EventQueue
from tests.syncutil import envelopes

queue = EventQueue()
mark = queue._mark_work

def mark_then_die():
    mark()
    os.kill(os.getpid(), signal.SIGKILL)  # after the marker, before the commit

queue._mark_work = mark_then_die
queue.enqueue(envelopes(1))
"""


def test_pre_push_after_a_crash_mid_enqueue_starts_the_worker(
    hooked: Repo, recorder: Recorder
) -> None:
    crashed = subprocess.run(
        [PYTHON, "-c", _CRASH_MID_ENQUEUE], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    with EventQueue() as queue:
        assert queue.stats().total == 0  # the transaction never committed
    push(hooked)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


def test_pre_push_run_by_another_hook_manager_leaves_the_worker_to_python(
    hooked: Repo, recorder: Recorder
) -> None:
    # Our parent is not git: Python looks further up for the git to wait for.
    marker().parent.mkdir(parents=True, exist_ok=True)
    marker().touch()
    done = subprocess.run(
        [hooked.path / ".git" / "hooks" / "pre-push", "origin", "url"],
        cwd=hooked.path, input="refs\n", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert recorder.calls() == ["-m kitty_hooks hook pre-push origin url"]


@pytest.mark.parametrize(
    "where",
    ["KITTY_HOOKS_HOME", "HOME", "empty KITTY_HOOKS_HOME", "KITTY_HOOKS_HOME with a space"],
)
def test_shim_and_python_agree_on_the_marker_path(
    hooked: Repo, recorder: Recorder, tmp_path: Path, where: str
) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "home two")}
    if where == "HOME":
        del env["KITTY_HOOKS_HOME"]
    elif where == "empty KITTY_HOOKS_HOME":
        env["KITTY_HOOKS_HOME"] = ""
    elif where == "KITTY_HOOKS_HOME with a space":
        env["KITTY_HOOKS_HOME"] = str(tmp_path / "state [x] *")
    python_says = subprocess.run(
        [PYTHON, "-c",
         "from kitty_hooks.locations import work_marker_path\n"
         "from kitty_hooks.queue.database import default_queue_path\n"
         "print(work_marker_path(default_queue_path()))"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    push(hooked, env)
    assert recorder.calls() == []
    Path(python_says).parent.mkdir(parents=True, exist_ok=True)
    Path(python_says).touch()
    push(hooked, env)
    assert recorder.calls(wait_for=1)[0].startswith("-m kitty_hooks.deliver.worker ")


def test_a_relative_kitty_hooks_home_is_left_to_python(hooked: Repo, recorder: Recorder) -> None:
    push(hooked, {**os.environ, "KITTY_HOOKS_HOME": "relative/state"})
    assert recorder.calls(wait_for=1) == [
        f"-m kitty_hooks hook pre-push origin {hooked.path.parent / 'remote.git'}"
    ]


# --- post-rewrite ----------------------------------------------------------------------------


def test_amend_touching_nothing_with_nothing_queued_starts_no_python(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.write("README.md", "readme\n")
    hooked.commit_all("docs")
    hooked.git("commit", "-q", "--amend", "--no-verify", "-m", "reworded")
    assert recorder.calls() == []


def test_amend_of_a_wp_move_gives_python_the_rewritten_commits(
    hooked: Repo, recorder: Recorder
) -> None:
    hooked.write(WP, wp("claimed"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--no-verify", "-m", "claim")
    old = hooked.git("rev-parse", "HEAD").stdout.strip()
    hooked.write(WP, wp("for_review"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--amend", "--no-verify", "-m", "review")
    new = hooked.git("rev-parse", "HEAD").stdout.strip()
    assert recorder.calls_of("post-rewrite") == ["-m kitty_hooks hook post-rewrite amend"]
    assert f"{old} {new}\n" in recorder.stdin()


def test_rewrite_with_events_queued_starts_python(hooked: Repo, recorder: Recorder) -> None:
    hooked.write("README.md", "readme\n")
    hooked.commit_all("docs")
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    old = hooked.git("rev-parse", "HEAD").stdout.strip()
    hooked.git("commit", "-q", "--amend", "--no-verify", "-m", "reworded")
    new = hooked.git("rev-parse", "HEAD").stdout.strip()
    assert recorder.calls() == ["-m kitty_hooks hook post-rewrite amend"]
    assert recorder.stdin() == f"{old} {new}\n"


# --- SKIP and KITTY_HOOKS=0 ------------------------------------------------------------------


# The hooks a commit, an amend and a push run (post-merge has its own test: its capture starts
# the drainer as post-commit's does, so this tally could not tell the two apart).
EXERCISED = tuple(hook for hook in DEFAULT_HOOK_TYPES if hook != "post-merge")


def _run_every_hook_with_work(repo: Repo, env: dict[str, str]) -> set[str]:
    """Commit a WP move, amend it, push, all with queued work: which of ours started Python."""
    marker().parent.mkdir(parents=True, exist_ok=True)
    marker().touch()
    repo.write(WP, wp("in_progress"))
    repo.git("add", "-A")
    commit(repo, env=env)  # pre-commit, post-commit
    subprocess.run(
        ["git", "commit", "-q", "--amend", "--no-verify", "-m", "again"], cwd=repo.path, env=env,
        check=True,
    )  # fmt: skip
    push(repo, env)
    time.sleep(0.5)  # a worker the push started has landed by now
    started = {"-m kitty_hooks.deliver.worker": "pre-push", DRAINER: "post-commit"}
    return {
        next((hook for how, hook in started.items() if call.startswith(how)), None)
        or call.split()[3]
        for call in recorder_calls(repo)
    }


def recorder_calls(repo: Repo) -> list[str]:
    return Recorder(repo.path.parent / "python-calls").calls()


@pytest.mark.parametrize(
    ("skip", "skipped"),
    [
        ("", set()),
        ("kitty-emit", {"post-commit"}),
        (" kitty-sync ,\tkitty-rewrite,kitty-emit , kitty-diagnose,", set(EXERCISED)),
        ("kitty-emitter,kitty,KITTY-SYNC,kitty-diagnose kitty-rewrite", set()),
    ],
)
def test_skip_takes_our_hook_ids_as_the_pre_commit_framework_reads_them(
    hooked: Repo, skip: str, skipped: set[str]
) -> None:
    ran = _run_every_hook_with_work(hooked, {**os.environ, "SKIP": skip})
    assert ran == set(EXERCISED) - skipped


def test_kitty_hooks_0_still_skips_all_of_ours(hooked: Repo) -> None:
    assert _run_every_hook_with_work(hooked, {**os.environ, "KITTY_HOOKS": "0"}) == set()


@pytest.mark.parametrize("hook", EXERCISED)
def test_skip_never_skips_the_hook_that_was_there_before(
    hooked: Repo, tmp_path: Path, hook: str
) -> None:
    uninstall_hooks(hooked.path, [hook])
    legacy = hooked.path / ".git" / "hooks" / hook
    legacy.write_text(f"#!/bin/sh\ncat >/dev/null\necho {hook} >> '{tmp_path / 'legacy'}'\n")
    legacy.chmod(0o755)
    install_hooks(hooked.path, [hook])

    ran = _run_every_hook_with_work(hooked, {**os.environ, "SKIP": HOOK_IDS[hook]})

    assert ran == set(EXERCISED) - {hook}
    assert hook in (tmp_path / "legacy").read_text().split()


# --- the template copied by hand ------------------------------------------------------------


def _on_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `kitty-hooks` first on PATH that records its arguments: where a shim whose interpreter
    is a placeholder goes."""
    calls = tmp_path / "kitty-hooks-calls"
    bin_dir = tmp_path / "onpath"
    bin_dir.mkdir()
    (bin_dir / "kitty-hooks").write_text(
        f"#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' \"$*\" >> '{calls}'\n"
    )
    (bin_dir / "kitty-hooks").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, calls


@pytest.mark.parametrize("hook", DEFAULT_HOOK_TYPES)
def test_a_hand_copied_template_runs_as_the_hook_its_file_is_named(
    hooked: Repo, tmp_path: Path, hook: str
) -> None:
    """No `install`: the template copied as it ships, its placeholders left in."""
    quiet = ("-c", "core.hooksPath=/dev/null")
    # Work for every hook: a merge commit that brings a move, a staged WP file, a queued event.
    hooked.git("checkout", "-q", "-b", "side")
    hooked.write(WP, wp("claimed"))
    hooked.git(*quiet, "commit", "-q", "-am", "side")
    hooked.git("checkout", "-q", "main")
    hooked.write("README.md", "main\n")
    hooked.git(*quiet, "commit", "-q", "-am", "main")
    hooked.git(*quiet, "merge", "-q", "--no-ff", "-m", "merge", "side")
    hooked.write(WP, wp("in_progress"))
    hooked.git("add", WP)
    marker().parent.mkdir(parents=True, exist_ok=True)
    marker().touch()
    copy = hooked.path / ".git" / "hooks" / hook
    shutil.copy2(TEMPLATE, copy)
    env, calls = _on_path(tmp_path)
    args = {"pre-push": ["origin", "url"], "post-rewrite": ["amend"]}.get(hook, [])

    ran = subprocess.run(
        [str(copy), *args], cwd=hooked.path, capture_output=True, text=True, input="", env=env
    )

    assert ran.returncode == 0, ran.stderr
    assert calls.read_text().splitlines() == [" ".join(["hook", hook, *args])]
    skipped = subprocess.run(
        [str(copy), *args], cwd=hooked.path, capture_output=True, text=True, input="",
        env={**env, "SKIP": HOOK_IDS[hook]},
    )  # fmt: skip
    assert skipped.returncode == 0 and len(calls.read_text().splitlines()) == 1


def test_a_hand_copied_template_named_for_no_hook_of_ours_says_so_and_runs_the_legacy_one(
    hooked: Repo, tmp_path: Path
) -> None:
    hooks = hooked.path / ".git" / "hooks"
    legacy = hooks / "commit-msg.legacy"
    legacy.write_text(f"#!/bin/sh\necho \"$1\" >> '{tmp_path / 'legacy'}'\nexit 3\n")
    legacy.chmod(0o755)
    shutil.copy2(TEMPLATE, hooks / "commit-msg")
    env, calls = _on_path(tmp_path)

    ran = subprocess.run(
        [str(hooks / "commit-msg"), ".git/COMMIT_EDITMSG"],
        cwd=hooked.path, capture_output=True, text=True, env=env,
    )  # fmt: skip

    *named, last = DEFAULT_HOOK_TYPES
    assert ran.stderr.splitlines() == [
        f"kitty-hooks: no commit-msg hook in kitty-hooks: name this shim {', '.join(named)} or "
        f"{last}, or run `kitty-hooks install`"
    ]
    assert ran.returncode == 3, "the legacy hook's exit code counts"
    assert (tmp_path / "legacy").read_text() == ".git/COMMIT_EDITMSG\n"
    assert not calls.exists()


# --- install and older shims -----------------------------------------------------------------


def _baked_v1(hook: str) -> bytes:
    text = V1_SHIM.read_text().replace("\nhook=pre-commit\n", f"\nhook={hook}\n")
    return text.replace("@KITTY_HOOKS_PYTHON@", sys.executable).encode()


def test_install_upgrades_v1_shims_and_uninstall_still_removes_them(repo: Repo) -> None:
    hooks = repo.path / ".git" / "hooks"
    for hook in DEFAULT_HOOK_TYPES:
        (hooks / hook).write_bytes(_baked_v1(hook))
        (hooks / hook).chmod(0o755)

    report = install_hooks(repo.path)

    assert {o.hook: o.outcome for o in report.outcomes} == dict.fromkeys(
        DEFAULT_HOOK_TYPES, Outcome.UPDATED
    )
    assert "# kitty-hooks-shim v2\n" in (hooks / "pre-push").read_text()
    for hook in DEFAULT_HOOK_TYPES:
        (hooks / hook).write_bytes(_baked_v1(hook))
    removed = uninstall_hooks(repo.path)
    assert {o.outcome for o in removed.outcomes} == {Outcome.REMOVED}


def test_install_marks_a_queue_from_before_the_marker_as_holding_work(repo: Repo) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
    marker().unlink()  # as kitty-hooks before v2 shims left it

    install_hooks(repo.path)

    assert marker().exists()


def test_install_without_a_queue_marks_nothing(repo: Repo) -> None:
    install_hooks(repo.path)
    assert not marker().exists()
    assert not spool_dir().exists()
