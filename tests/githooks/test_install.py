"""`kitty-hooks install` / `uninstall` and the shims they write, run by a real git."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kitty_hooks.cli.hooks_view import report_lines
from kitty_hooks.errors import FatalError
from kitty_hooks.githooks.install import (
    DEFAULT_HOOK_TYPES,
    GATE_RECORD,
    HOOK_IDS,
    SHIM_MARKER,
    InstallReport,
    Outcome,
    install_hooks,
    uninstall_hooks,
)
from kitty_hooks.locations import flush_state_path, log_path, work_marker_path
from kitty_hooks.queue.database import default_queue_path
from tests.gitutil import KITTY_HOOKS, PROJECT_ROOT, SHIM_ENTRY, Repo, as_module_call, captured, git

EXAMPLES = Path(__file__).parent.parent / "examples"
TEMPLATE = PROJECT_ROOT / "hooks" / "shim"
BAD_CASE = EXAMPLES / "fail" / "log-unknown-lane"
BAD_EXPECT = (BAD_CASE / "expect.txt").read_text(encoding="utf-8").strip()
BARE_PATH = "/usr/bin:/bin"
ZERO = "0" * 40


def _outcomes(report: InstallReport) -> dict[str, Outcome]:
    return {item.hook: item.outcome for item in report.outcomes}


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Each file's bytes and mode (a symlink's target and its own mode)."""
    return {
        p.name: (
            os.readlink(p).encode() if p.is_symlink() else p.read_bytes(),
            stat.S_IMODE(p.lstat().st_mode),
        )
        for p in sorted(directory.iterdir())
    }


def _script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


def _recording_legacy(path: Path, record: Path, exit_code: int, *, stdin: bool = False) -> Path:
    """A hook of the user's own: records its arguments (and stdin), exits with exit_code."""
    body = f"printf '%s\\n' \"$*\" > '{record}.args'\n"
    if stdin:
        body += f"cat > '{record}.stdin'\n"
    return _script(path, body + f"exit {exit_code}\n")


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install shims baked with a stand-in interpreter that records how our part was called."""
    record = tmp_path / "ours"
    python = _script(
        tmp_path / "fakebin" / "python",
        f"printf '%s\\n' \"$*\" >> '{record}.args'\ncat >> '{record}.stdin'\n",
    )
    monkeypatch.setattr(sys, "executable", str(python))
    return record


@pytest.fixture
def started(repo: Repo) -> Repo:
    repo.write("README.md", "project\n")
    repo.commit_all("start")
    return repo


def _queue_has_work() -> Path:
    """The default queue's work marker, set: the shims see events waiting to be sent."""
    marker = work_marker_path(default_queue_path())
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return marker


def _backing_off() -> None:
    """A failed flush asked automatic ones to wait, written in a shape the pre-push shim does not
    read for sure (an exponent): it leaves the decision to Python, which reads the refs."""
    flush_state_path().write_text('{"next_attempt_after_epoch": 4.1024448e9}\n')


def _give_work(repo: Repo, hook: str) -> None:
    """Something for each hook to do, so that its shim starts our part."""
    if hook == "pre-commit":
        _stage_bad_event(repo)
    elif hook == "post-commit":
        repo.write("kitty-specs/001-x/tasks/WP01-x.md", "---\nlane: planned\n---\n")
        repo.commit_all("plan")
    elif hook == "post-merge":  # a merge commit that brings a lane change
        repo.git("checkout", "-q", "-b", "side")
        repo.write("kitty-specs/001-x/tasks/WP01-x.md", "---\nlane: planned\n---\n")
        repo.commit_all("plan on side")
        repo.git("checkout", "-q", "main")
        repo.write("NOTES.md", "main\n")
        repo.commit_all("main")
        repo.git("-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-ff", "-m", "merge", "side")
    else:
        _queue_has_work()


def _stage_bad_event(repo: Repo) -> None:
    shutil.copytree(BAD_CASE / "staged", repo.path, dirs_exist_ok=True)
    repo.git("add", "-A")


def _commit(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "-q", "-m", "change"], cwd=cwd, capture_output=True, text=True, env=env
    )


def _bare_env(**extra: str) -> dict[str, str]:
    if shutil.which("git", path=BARE_PATH) is None:
        pytest.skip(f"no git in {BARE_PATH}")
    if shutil.which("kitty-hooks", path=BARE_PATH) is not None:
        pytest.skip(f"kitty-hooks is installed in {BARE_PATH}")
    return {**os.environ, "PATH": BARE_PATH, **extra}


def test_hooks_holds_one_shim_template_for_every_hook() -> None:
    assert [p.name for p in (PROJECT_ROOT / "hooks").iterdir()] == ["shim"]
    assert subprocess.run(["sh", "-n", TEMPLATE]).returncode == 0
    assert os.access(TEMPLATE, os.X_OK), "a copy made by hand keeps the mode"


def test_the_hook_id_table_is_what_the_shim_and_the_hooks_file_follow() -> None:
    """HOOK_IDS is the one table; the template's `case` and .pre-commit-hooks.yaml spell it out."""
    spelt = re.findall(r"(?m)^([a-z-]+)\) id=([a-z-]*) ;;$", TEMPLATE.read_text(encoding="utf-8"))
    assert dict(spelt) == HOOK_IDS and len(spelt) == len(HOOK_IDS)

    listed = yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {hook["id"]: hook["stages"] for hook in listed} == {
        hook_id: [git_hook] for git_hook, hook_id in HOOK_IDS.items()
    }
    for hook in listed:
        (git_hook,) = hook["stages"]
        entry = shlex.split(hook["entry"])
        if git_hook == "pre-commit":  # the framework hands the gate its files itself
            assert entry[:2] == ["kitty-hooks", "diagnose"]
        else:
            assert entry == ["kitty-hooks", "hook", git_hook]


def test_each_shim_is_the_template_with_its_hook_filled_in(repo: Repo) -> None:
    install_hooks(repo.path)
    template = TEMPLATE.read_text(encoding="utf-8")
    for hook in DEFAULT_HOOK_TYPES:
        shim = (repo.path / ".git" / "hooks" / hook).read_text(encoding="utf-8")
        assert f"\nhook={hook}\n" in shim
        baked = re.sub(r"(?m)^(hook|python|package|template)=.*$", r"\1=X", shim)
        assert baked == re.sub(r"(?m)^(hook|python|package|template)=@.*$", r"\1=X", template)
        assert subprocess.run(["sh", "-n", repo.path / ".git" / "hooks" / hook]).returncode == 0


def test_install_writes_all_four_shims_executable_with_the_marker(repo: Repo) -> None:
    report = install_hooks(repo.path)

    hooks = repo.path / ".git" / "hooks"
    assert report.hooks_dir == hooks
    assert report.note is None
    assert _outcomes(report) == dict.fromkeys(DEFAULT_HOOK_TYPES, Outcome.INSTALLED)
    for hook in DEFAULT_HOOK_TYPES:
        shim = hooks / hook
        assert os.access(shim, os.X_OK)
        text = shim.read_text()
        assert SHIM_MARKER in text.splitlines()
        assert f"python={sys.executable}\n" in text
        assert "@KITTY_HOOKS_" not in text
    assert report_lines(report)[0] == f"pre-commit: installed {hooks / 'pre-commit'}"


def test_second_install_changes_nothing_and_reports_already_installed(repo: Repo) -> None:
    install_hooks(repo.path)
    hooks = repo.path / ".git" / "hooks"
    before = {p.name: p.stat().st_mtime_ns for p in hooks.iterdir()}
    before_content = _snapshot(hooks)

    report = install_hooks(repo.path)

    assert _outcomes(report) == dict.fromkeys(DEFAULT_HOOK_TYPES, Outcome.ALREADY_INSTALLED)
    assert not report.changed
    assert {p.name: p.stat().st_mtime_ns for p in hooks.iterdir()} == before
    assert _snapshot(hooks) == before_content
    assert "pre-push: already installed" in report_lines(report)


@pytest.mark.parametrize(
    "old",
    [
        # kitty-hooks 0.1's template, copied into .git/hooks by hand
        "#!/bin/sh\n# kitty-hooks: pre-commit shim (the event gate).\nexec kitty-hooks hook pre-commit\n",
        # ours, baked with an interpreter of another environment
        None,
    ],
)
def test_an_older_shim_of_ours_is_rewritten_not_chained(
    repo: Repo, old: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = repo.path / ".git" / "hooks" / "pre-commit"
    if old is None:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "executable", "/opt/old-venv/bin/python")
            install_hooks(repo.path, ["pre-commit"])
    else:
        _script(shim, old.removeprefix("#!/bin/sh\n"))

    report = install_hooks(repo.path, ["pre-commit"])

    assert _outcomes(report) == {"pre-commit": Outcome.UPDATED}
    assert f"python={sys.executable}\n" in shim.read_text()
    assert not (shim.parent / "pre-commit.legacy").exists()


def test_failing_legacy_pre_commit_still_runs_and_blocks_the_commit(
    started: Repo, tmp_path: Path
) -> None:
    hooks = started.path / ".git" / "hooks"
    _recording_legacy(hooks / "pre-commit", tmp_path / "legacy", 3)

    report = install_hooks(started.path)
    assert _outcomes(report)["pre-commit"] is Outcome.CHAINED
    assert "kept as pre-commit.legacy" in report_lines(report)[0]
    started.write("README.md", "changed\n")
    started.git("add", "README.md")
    result = _commit(started.path)

    assert result.returncode != 0
    assert (tmp_path / "legacy.args").exists()
    assert started.git("status", "--porcelain").stdout.strip() == "M  README.md"


def test_passing_legacy_pre_commit_runs_first_and_our_gate_still_blocks(
    started: Repo, tmp_path: Path
) -> None:
    _recording_legacy(started.path / ".git" / "hooks" / "pre-commit", tmp_path / "legacy", 0)
    install_hooks(started.path)
    _stage_bad_event(started)

    result = _commit(started.path)

    assert result.returncode == 1, result.stderr
    assert BAD_EXPECT in result.stderr
    assert (tmp_path / "legacy.args").read_text() == "\n"


def test_legacy_post_commit_runs_and_the_commit_goes_in(started: Repo, tmp_path: Path) -> None:
    _recording_legacy(started.path / ".git" / "hooks" / "post-commit", tmp_path / "legacy", 1)
    install_hooks(started.path)
    started.write("README.md", "changed\n")
    started.git("add", "README.md")

    result = _commit(started.path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "legacy.args").exists()
    assert started.git("status", "--porcelain").stdout == ""


@pytest.fixture
def remote(started: Repo, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    started.git("remote", "add", "origin", str(bare))
    return bare


def test_pre_push_legacy_and_ours_read_the_same_stdin_and_the_push_succeeds(
    started: Repo,
    remote: Path,
    tmp_path: Path,
    fake_python: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hooks = started.path / ".git" / "hooks"
    _recording_legacy(hooks / "pre-push", tmp_path / "legacy", 0, stdin=True)
    install_hooks(started.path)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    _queue_has_work()
    _backing_off()  # our part then runs in Python, which reads the refs

    result = started.git("push", "-q", "origin", "main", check=False)

    assert result.returncode == 0, result.stderr
    head = started.git("rev-parse", "HEAD").stdout.strip()
    pushed = f"refs/heads/main {head} refs/heads/main {ZERO}\n"
    assert (tmp_path / "legacy.stdin").read_text() == pushed
    assert (tmp_path / "legacy.args").read_text() == f"origin {remote}\n"
    assert Path(f"{fake_python}.stdin").read_text() == pushed
    assert as_module_call(Path(f"{fake_python}.args").read_text()) == (
        f"-m kitty_hooks hook pre-push origin {remote}\n"
    )
    assert list(temp.iterdir()) == []  # the copy of stdin is gone
    assert git(remote, "rev-parse", "main").stdout.strip() == head


def test_failing_legacy_pre_push_blocks_the_push_and_skips_ours(
    started: Repo, remote: Path, tmp_path: Path, fake_python: Path
) -> None:
    _recording_legacy(started.path / ".git" / "hooks" / "pre-push", tmp_path / "legacy", 1)
    install_hooks(started.path)

    result = started.git("push", "-q", "origin", "main", check=False)

    assert result.returncode != 0
    assert (tmp_path / "legacy.args").exists()
    assert not Path(f"{fake_python}.args").exists()
    assert git(remote, "rev-parse", "--verify", "-q", "main", check=False).returncode != 0


def test_pre_push_of_ours_alone_never_blocks_the_push(started: Repo, remote: Path) -> None:
    # `kitty-hooks hook pre-push` may fail (today it is not even implemented): the push goes on.
    install_hooks(started.path)

    result = started.git("push", "-q", "origin", "main", check=False)

    assert result.returncode == 0, result.stderr
    assert git(remote, "rev-parse", "main").returncode == 0


def test_post_rewrite_legacy_and_ours_read_the_same_stdin(
    started: Repo, tmp_path: Path, fake_python: Path
) -> None:
    _recording_legacy(
        started.path / ".git" / "hooks" / "post-rewrite", tmp_path / "legacy", 0, stdin=True
    )
    install_hooks(started.path, ["post-rewrite"])
    old = started.git("rev-parse", "HEAD").stdout.strip()
    _queue_has_work()  # queued events may name the amended commit

    started.git("commit", "-q", "--amend", "--no-verify", "-m", "reworded")

    new = started.git("rev-parse", "HEAD").stdout.strip()
    assert (tmp_path / "legacy.stdin").read_text() == f"{old} {new}\n"
    assert (tmp_path / "legacy.args").read_text() == "amend\n"
    assert Path(f"{fake_python}.stdin").read_text() == f"{old} {new}\n"
    args = as_module_call(Path(f"{fake_python}.args").read_text())
    assert args == "-m kitty_hooks hook post-rewrite amend\n"


def test_uninstall_restores_the_previous_hook_byte_for_byte_with_its_mode(
    repo: Repo,
) -> None:
    hooks = repo.path / ".git" / "hooks"
    for sample in hooks.glob("*.sample"):
        sample.unlink()
    hooks.joinpath("pre-commit").write_bytes(b"#!/bin/sh\r\n# mine\r\nexit 0")
    hooks.joinpath("pre-commit").chmod(0o750)
    hooks.joinpath("pre-push").symlink_to("/nonexistent/hook")
    before = _snapshot(hooks)

    install_hooks(repo.path)
    report = uninstall_hooks(repo.path)

    assert _outcomes(report) == {
        "pre-commit": Outcome.RESTORED,
        "post-commit": Outcome.REMOVED,
        "post-merge": Outcome.REMOVED,
        "post-rewrite": Outcome.REMOVED,
        "pre-push": Outcome.RESTORED,
    }
    assert report_lines(report)[0] == (
        "pre-commit: removed; the hook that was there is back from pre-commit.legacy"
    )
    assert _snapshot(hooks) == before
    assert before["pre-commit"] == (b"#!/bin/sh\r\n# mine\r\nexit 0", 0o750)
    assert os.readlink(hooks / "pre-push") == "/nonexistent/hook"


def test_uninstall_with_nothing_of_ours_installed_says_so_and_changes_nothing(
    repo: Repo,
) -> None:
    hooks = repo.path / ".git" / "hooks"
    _script(hooks / "pre-commit", "exit 0\n")
    _script(hooks / "post-commit.legacy", "exit 0\n")
    before = _snapshot(hooks)

    report = uninstall_hooks(repo.path)

    assert _outcomes(report) == dict.fromkeys(DEFAULT_HOOK_TYPES, Outcome.NOTHING_TO_DO)
    assert not report.changed
    assert "pre-commit: not installed, nothing to do" in report_lines(report)
    assert _snapshot(hooks) == before


def test_linked_worktree_installs_into_the_common_dir_and_its_commits_run_the_shim(
    started: Repo, tmp_path: Path
) -> None:
    worktree = tmp_path / "worktree"
    started.git("worktree", "add", "-q", "-b", "side", str(worktree))

    report = install_hooks(worktree)

    assert report.hooks_dir == started.path / ".git" / "hooks"
    assert (started.path / ".git" / "hooks" / "pre-commit").exists()
    shutil.copytree(BAD_CASE / "staged", worktree, dirs_exist_ok=True)
    git(worktree, "add", "-A")
    result = _commit(worktree)
    assert result.returncode == 1
    assert BAD_EXPECT in result.stderr


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path_is_honoured_and_reported(
    started: Repo, tmp_path: Path, where: str
) -> None:
    if where == "relative":
        started.git("config", "core.hooksPath", "tools/githooks")
        expected = started.path / "tools" / "githooks"
    else:
        expected = tmp_path / "shared-hooks"
        started.git("config", "core.hooksPath", str(expected))
    subdir = started.path / "docs"
    subdir.mkdir()

    report = install_hooks(subdir)

    assert report.hooks_dir == expected
    assert report.note == f"core.hooksPath is set: installing into {expected}"
    assert report_lines(report)[0] == report.note
    assert sorted(p.name for p in expected.iterdir()) == sorted([*DEFAULT_HOOK_TYPES, GATE_RECORD])
    assert not (started.path / ".git" / "hooks" / "pre-commit").exists()
    _stage_bad_event(started)
    assert BAD_EXPECT in _commit(started.path).stderr
    uninstalled = uninstall_hooks(started.path)
    assert uninstalled.note == f"core.hooksPath is set: uninstalling from {expected}"
    assert list(expected.iterdir()) == []


def test_with_a_bare_path_the_shim_still_reaches_our_python(started: Repo) -> None:
    install_hooks(started.path)
    _stage_bad_event(started)

    result = _commit(started.path, env=_bare_env())

    assert result.returncode == 1, result.stderr
    assert BAD_EXPECT in result.stderr


def test_kitty_hooks_0_skips_ours_without_python_but_runs_the_legacy_hook(
    started: Repo, tmp_path: Path, fake_python: Path
) -> None:
    hooks = started.path / ".git" / "hooks"
    _recording_legacy(hooks / "pre-commit", tmp_path / "legacy-pre-commit", 0)
    _recording_legacy(hooks / "pre-push", tmp_path / "legacy-pre-push", 0, stdin=True)
    install_hooks(started.path)
    _stage_bad_event(started)

    commit = _commit(started.path, env={**os.environ, "KITTY_HOOKS": "0"})
    push = subprocess.run(
        [hooks / "pre-push", "origin", "url"],
        cwd=started.path,
        input="refs/heads/main\n",
        capture_output=True,
        text=True,
        env={**os.environ, "KITTY_HOOKS": "off"},
    )

    assert commit.returncode == 0, commit.stderr
    assert push.returncode == 0, push.stderr
    assert (tmp_path / "legacy-pre-commit.args").exists()
    assert (tmp_path / "legacy-pre-push.stdin").read_text() == "refs/heads/main\n"
    assert not Path(f"{fake_python}.args").exists()


@pytest.mark.parametrize("hook", DEFAULT_HOOK_TYPES)
def test_shim_with_its_interpreter_gone_and_no_kitty_hooks_on_path_warns_once_and_exits_0(
    started: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "deleted-venv" / "bin" / "python"))
    install_hooks(started.path, [hook])
    _give_work(started, hook)

    result = subprocess.run(
        [started.path / ".git" / "hooks" / hook],
        cwd=started.path,
        input="",
        capture_output=True,
        text=True,
        env=_bare_env(),
    )

    assert result.returncode == 0
    assert result.stdout == ""
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"kitty-hooks: {hook} hook not run: ")


def test_gate_with_its_interpreter_gone_lets_the_commit_in_unchecked(
    started: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "deleted-venv" / "bin" / "python"))
    install_hooks(started.path, ["pre-commit"])
    _stage_bad_event(started)

    result = _commit(started.path, env=_bare_env())

    assert result.returncode == 0
    assert "pre-commit hook not run" in result.stderr


def test_shim_with_its_interpreter_gone_falls_back_to_kitty_hooks_on_path(
    started: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "deleted-venv" / "bin" / "python"))
    install_hooks(started.path, ["post-commit"])
    bin_dir = tmp_path / "bin"
    _script(bin_dir / "kitty-hooks", f"printf '%s\\n' \"$*\" > '{tmp_path}/called'\n")

    started.write("kitty-specs/001-x/tasks/WP01-x.md", "---\nlane: planned\n---\n")
    started.git("add", "-A")
    result = _commit(started.path, env=_bare_env(PATH=f"{bin_dir}:{BARE_PATH}"))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "called").read_text() == "hook post-commit\n"


def test_refuses_when_the_hook_is_foreign_and_a_legacy_hook_exists(repo: Repo) -> None:
    hooks = repo.path / ".git" / "hooks"
    _script(hooks / "pre-push", "exit 0\n")
    _script(hooks / "pre-push.legacy", "exit 0\n")
    before = _snapshot(hooks)

    with pytest.raises(FatalError, match=r"pre-push\.legacy already exists"):
        install_hooks(repo.path)

    assert _snapshot(hooks) == before  # not even the other hooks were installed


def test_refuses_a_legacy_hook_that_git_does_not_run(repo: Repo) -> None:
    _script(repo.path / ".git" / "hooks" / "post-commit.legacy", "exit 0\n")

    with pytest.raises(FatalError, match="exists but post-commit does not"):
        install_hooks(repo.path)


def test_refuses_to_chain_the_pre_commit_frameworks_own_hook(repo: Repo) -> None:
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo.path,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr

    with pytest.raises(FatalError, match="belongs to the pre-commit framework"):
        install_hooks(repo.path)
    report = install_hooks(repo.path, ["post-commit", "pre-push"])

    assert _outcomes(report) == {"post-commit": Outcome.INSTALLED, "pre-push": Outcome.INSTALLED}


def test_refuses_a_hook_type_it_does_not_have(repo: Repo) -> None:
    with pytest.raises(FatalError, match="no commit-msg hook; it installs pre-commit, "):
        install_hooks(repo.path, ["pre-commit", "commit-msg"])
    assert not (repo.path / ".git" / "hooks" / "pre-commit").exists()


def test_outside_a_repository_is_a_fatal_error(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="not inside a git repository"):
        install_hooks(tmp_path)


def test_a_kitty_hooks_folder_in_the_repository_never_runs_instead_of_ours(repo: Repo) -> None:
    """`python -m kitty_hooks` from the work tree would import the repository's own folder
    first (PYTHONSAFEPATH stops that only from Python 3.11): the shims must not."""
    repo.write("kitty_hooks/__init__.py", "raise SystemExit('the repository ran its own code')\n")
    repo.write("kitty_hooks/__main__.py", "raise SystemExit('the repository ran its own code')\n")
    install_hooks(repo.path)
    repo.write("kitty-specs/039-x/tasks/WP01-x.md", "---\nlane: planned\n---\n")
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", "x", check=False)
    assert "the repository ran its own code" not in result.stderr + result.stdout
    assert result.returncode == 0, result.stderr
    shim = (repo.path / ".git" / "hooks" / "post-commit").read_text()
    assert SHIM_ENTRY.removeprefix("-c ") in shim


def test_the_shim_runs_ours_with_pythonsafepath_set_too(repo: Repo) -> None:
    """With PYTHONSAFEPATH, -c adds no '' to sys.path: nothing else may be taken out."""
    install_hooks(repo.path)
    repo.write("kitty-specs/039-x/tasks/WP01-x.md", "---\nlane: planned\n---\n")
    repo.git("add", "-A")
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "x"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    from kitty_hooks.queue.store import EventQueue

    captured()  # the drainer the shim started ran under PYTHONSAFEPATH too
    assert "Traceback" not in log_path().read_text()
    with EventQueue() as queue:
        assert [e.envelope["payload"]["wp_id"] for e in queue.list_entries()] == ["WP01"]


def test_a_fifo_where_a_hook_goes_is_never_opened_to_wait_on(repo: Repo) -> None:
    """Opening a FIFO for reading waits for a writer: install, doctor and uninstall would hang."""
    hook = repo.path / ".git" / "hooks" / "pre-commit"
    os.mkfifo(hook)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*KITTY_HOOKS, *args], cwd=repo.path, capture_output=True, text=True, timeout=30
        )

    doctor = run("doctor")
    assert "hooks: pre-commit: " in doctor.stdout and "another tool's hook" in doctor.stdout
    assert run("install").returncode == 0
    assert stat.S_ISFIFO(os.lstat(hook.with_name("pre-commit.legacy")).st_mode)
    assert run("uninstall").returncode == 0
    assert stat.S_ISFIFO(os.lstat(hook).st_mode)
