"""The kitty-diagnose hook through the real pre-commit framework, offline.

A snapshot of this checkout's working tree (uncommitted changes included) becomes a git repository
that a user repository names in its .pre-commit-config.yaml (`repo: <path>`, `rev: <sha>`).
pre-commit installs a `language: python` hook by creating a virtualenv and running `pip install .`
in its clone; these variables make that work with no network at all:

- PIP_FIND_LINKS=<the session's wheelhouse>, PIP_NO_INDEX=1: pip resolves the dependencies
  (click, jsonschema-rs, ...) and, in its isolated build environment, the build backend
  (hatchling) from wheels repacked from the environment running the tests (tests/wheelhouse.py),
  and never asks an index. The hook's virtualenv sees nothing else: whether the tests run in a
  venv, a virtualenv, `uv run` or the system interpreter, it is built the same way;
- VIRTUALENV_NO_PERIODIC_UPDATE=1: virtualenv seeds pip from its embedded wheels and does not
  start its background update of them.

Every HTTP proxy variable points at a closed port on loopback besides, so anything that tries the
network anyway fails instead of reaching it. The hook environment is built once per test session
under a session PRE_COMMIT_HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitutil import PROJECT_ROOT, Repo, git
from tests.offline import offline_env as base_offline_env

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parent.parent / "examples"
FEATURE = "kitty-specs/039-cli-2x-readiness"
LOG = f"{FEATURE}/status.events.jsonl"
HOOK_ID = "kitty-diagnose"
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.py[cod]", "*.egg-info", ".venv", "build", "dist", ".*_cache"
)


def offline_env(home: Path, pre_commit_home: Path, wheelhouse: Path) -> dict[str, str]:
    """tests.offline's environment, plus what pre-commit and its virtualenvs need offline."""
    env = base_offline_env(home)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Ada Lovelace",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada Lovelace",
        GIT_COMMITTER_EMAIL="ada@example.com",
        PRE_COMMIT_HOME=str(pre_commit_home),
        PRE_COMMIT_COLOR="never",
        # Dependencies and the build backend come from the wheelhouse (PIP_NO_INDEX is set).
        PIP_FIND_LINKS=str(wheelhouse),
        VIRTUALENV_NO_PERIODIC_UPDATE="1",
        VIRTUALENV_OVERRIDE_APP_DATA=str(pre_commit_home.parent / "virtualenv-app-data"),
    )
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True)
class HookSource:
    path: Path
    rev: str

    def config(self, *hook_ids: str) -> str:
        # JSON is YAML: the path is quoted whatever it holds.
        return (
            "repos:\n"
            f"  - repo: {json.dumps(str(self.path))}\n"
            f"    rev: {self.rev}\n"
            "    hooks:\n"
            + "".join(f"      - id: {hook_id}\n" for hook_id in hook_ids or (HOOK_ID,))
        )


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-session") / "pre-commit-home"


@pytest.fixture(scope="session")
def session_env(
    tmp_path_factory: pytest.TempPathFactory, pre_commit_home: Path, wheelhouse: Path
) -> dict[str, str]:
    # Session fixtures run before conftest's function-scoped hermetic_env: they get their own HOME.
    return offline_env(tmp_path_factory.mktemp("pre-commit-home"), pre_commit_home, wheelhouse)


@pytest.fixture(scope="session")
def hook_source(
    tmp_path_factory: pytest.TempPathFactory, session_env: dict[str, str]
) -> HookSource:
    """A git repository holding the project's working tree as it is now, in one commit."""
    snapshot = tmp_path_factory.mktemp("hook-source") / "kitty-hooks"
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        PROJECT_ROOT,
        session_env,
    )
    if listed.returncode != 0:
        # Not a git checkout (an unpacked sdist, say): take the tree without build leftovers.
        shutil.copytree(PROJECT_ROOT, snapshot, symlinks=True, ignore=_NOT_SOURCE)
    for relative in sorted(set(listed.stdout.split("\0")) - {""}):
        source = PROJECT_ROOT / relative
        if not os.path.lexists(source) or source.is_dir():
            continue  # deleted in the working tree, or a submodule
        target = snapshot / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "--no-verify", "-m", "snapshot of the working tree"],
    ):
        _check(run(args, snapshot, session_env))
    rev = _check(run(["git", "rev-parse", "HEAD"], snapshot, session_env)).stdout.strip()
    return HookSource(snapshot, rev)


@pytest.fixture(scope="session")
def hook_python(
    tmp_path_factory: pytest.TempPathFactory,
    hook_source: HookSource,
    session_env: dict[str, str],
    pre_commit_home: Path,
) -> Path:
    """Build the hook's environment once (`pre-commit install-hooks`); its python."""
    primer = tmp_path_factory.mktemp("pre-commit-primer")
    _check(run(["git", "init", "-q", "-b", "main"], primer, session_env))
    (primer / ".pre-commit-config.yaml").write_text(hook_source.config(), encoding="utf-8")
    _check(run([*PRE_COMMIT, "install-hooks"], primer, session_env))
    (python,) = pre_commit_home.glob("repo*/py_env-*/bin/python")
    return python


@pytest.fixture
def env(
    hermetic_env: Path, pre_commit_home: Path, hook_python: Path, wheelhouse: Path
) -> dict[str, str]:
    """This test's HOME, the session's hook environment."""
    del hook_python  # built up front: a test's own git commit never builds it
    return offline_env(hermetic_env, pre_commit_home, wheelhouse)


@pytest.fixture
def user_repo(tmp_path: Path, hook_source: HookSource, env: dict[str, str]) -> Repo:
    """A repository with the hook in its .pre-commit-config.yaml and `pre-commit install`ed."""
    repo = Repo(tmp_path / "user")
    repo.write(".pre-commit-config.yaml", hook_source.config())
    installed = _check(run([*PRE_COMMIT, "install"], repo.path, env))
    assert "pre-commit installed at .git/hooks/pre-commit" in installed.stdout
    repo.git("add", "-A")
    # No event file in this commit: the hook is skipped, the commit goes through.
    committed = commit(repo, env, "add the pre-commit config")
    assert committed.returncode == 0, committed.stdout + committed.stderr
    return repo


def commit(
    repo: Repo, env: dict[str, str], message: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`git commit` with the installed hook running (no --no-verify)."""
    return run(["git", "commit", *extra, "-m", message], repo.path, env)


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "HEAD").stdout.strip()


def example_log(case: str, tree: str) -> bytes:
    outcome = "pass" if (EXAMPLES / "pass" / case).is_dir() else "fail"
    return (EXAMPLES / outcome / case / tree / LOG).read_bytes()


def expected_line(case: str) -> str:
    return (EXAMPLES / "fail" / case / "expect.txt").read_text(encoding="utf-8").strip()


def commit_through_hook(repo: Repo, env: dict[str, str], relative: str, content: bytes) -> str:
    repo.write(relative, content)
    repo.git("add", relative)
    result = commit(repo, env, f"write {relative}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "kitty-hooks event gate" in output and "Passed" in output, output
    return head(repo)


def assert_blocked(
    result: subprocess.CompletedProcess[str], repo: Repo, before: str, expected: str
) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert head(repo) == before, "the commit went through"
    assert "kitty-hooks event gate" in output and "Failed" in output, output
    assert f"- hook id: {HOOK_ID}" in output and "- exit code: 1" in output, output
    assert expected in output, output
    assert "Traceback" not in output and "internal error" not in output, output
    return output


def test_hook_environment_runs_an_installed_copy(hook_python: Path, pre_commit_home: Path) -> None:
    """pip really installed the snapshot into the hook's virtualenv (offline), with its schemas."""
    probe = (
        "import kitty_hooks, kitty_hooks.assets as a\n"
        "print(kitty_hooks.__file__)\n"
        "print(a.schema_dir())\n"
    )
    result = subprocess.run(
        [str(hook_python), "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    package_file, schemas = (Path(line) for line in result.stdout.splitlines())
    env_dir = hook_python.parent.parent
    assert package_file.is_relative_to(env_dir), package_file
    assert schemas == package_file.parent / "_assets" / "schemas"
    assert not package_file.resolve().is_relative_to(PROJECT_ROOT.resolve())
    assert (hook_python.parent / "kitty-hooks").is_file()


def test_commit_appending_malformed_line_is_blocked(user_repo: Repo, env: dict[str, str]) -> None:
    case = "log-appended-bad-line"
    before = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    bad = example_log(case, "staged")
    user_repo.write(LOG, bad)
    user_repo.git("add", LOG)

    output = assert_blocked(
        commit(user_repo, env, "bad event"), user_repo, before, expected_line(case)
    )
    # The error names the file, the line, the event and the field.
    assert f"{LOG}:3: event 01JD3Q9Z6C8W4S0Y2X5V7T1R12: $.force:" in output
    # pre-commit put the user's work back: still staged, still in the working tree.
    assert (user_repo.path / LOG).read_bytes() == bad
    assert user_repo.git("diff", "--cached", "--name-only").stdout.split() == [LOG]


def test_commit_appending_valid_line_goes_through(user_repo: Repo, env: dict[str, str]) -> None:
    case = "log-appended"
    first = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    appended = example_log(case, "staged")
    second = commit_through_hook(user_repo, env, LOG, appended)

    assert second != first
    assert user_repo.git("rev-parse", f"{second}~1").stdout.strip() == first
    assert user_repo.git("show", f"HEAD:{LOG}").stdout.encode() == appended


def test_commit_modifying_committed_line_is_blocked(user_repo: Repo, env: dict[str, str]) -> None:
    case = "log-line-modified"
    before = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    user_repo.write(LOG, example_log(case, "staged"))
    user_repo.git("add", LOG)

    output = assert_blocked(
        commit(user_repo, env, "rewrite history"), user_repo, before, expected_line(case)
    )
    assert "append-only" in output


def test_commit_all_checks_the_temporary_index(user_repo: Repo, env: dict[str, str]) -> None:
    """`git commit -a` stages into a temporary index that only GIT_INDEX_FILE names."""
    case = "log-appended-bad-line"
    before = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    user_repo.write(LOG, example_log(case, "staged"))  # changed in the work tree, not staged

    assert_blocked(
        commit(user_repo, env, "bad event", "-a"), user_repo, before, expected_line(case)
    )


def test_unstaged_malformed_line_does_not_block_a_valid_commit(
    user_repo: Repo, env: dict[str, str]
) -> None:
    """The gate checks what is committed: a bad line left unstaged is not part of the commit."""
    committed = example_log("log-appended", "committed")
    valid = example_log("log-appended", "staged")
    before = commit_through_hook(user_repo, env, LOG, committed)
    user_repo.write(LOG, valid)
    user_repo.git("add", LOG)
    bad_line = example_log("log-appended-bad-line", "staged").splitlines(keepends=True)[-1]
    user_repo.write(LOG, valid + bad_line)

    result = commit(user_repo, env, "valid event, bad one left unstaged")
    assert result.returncode == 0, result.stdout + result.stderr
    assert head(user_repo) != before
    assert user_repo.git("show", f"HEAD:{LOG}").stdout.encode() == valid
    assert (user_repo.path / LOG).read_bytes() == valid + bad_line


@pytest.mark.parametrize("case", ["wp-unknown-lane", "wp-broken-frontmatter"])
def test_pre_commit_run_files_on_invalid_wp_frontmatter_fails(
    case: str, user_repo: Repo, env: dict[str, str]
) -> None:
    staged = EXAMPLES / "fail" / case / "staged"
    shutil.copytree(staged, user_repo.path, dirs_exist_ok=True)
    (wp_file,) = (p.relative_to(staged).as_posix() for p in staged.rglob("*.md"))
    user_repo.git("add", wp_file)

    result = run([*PRE_COMMIT, "run", HOOK_ID, "--files", wp_file], user_repo.path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Failed" in output and expected_line(case) in output, output


def test_pre_commit_run_files_on_valid_wp_frontmatter_passes(
    user_repo: Repo, env: dict[str, str]
) -> None:
    staged = EXAMPLES / "pass" / "wp-frontmatter" / "staged"
    shutil.copytree(staged, user_repo.path, dirs_exist_ok=True)
    (wp_file,) = (p.relative_to(staged).as_posix() for p in staged.rglob("*.md"))
    user_repo.git("add", wp_file)

    result = run([*PRE_COMMIT, "run", HOOK_ID, "--files", wp_file], user_repo.path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_run_all_files_finds_a_committed_bad_line(user_repo: Repo, env: dict[str, str]) -> None:
    """`pre-commit run --all-files` (hosted pre-commit CI) stages nothing: each file is whole."""
    case = "log-appended-bad-line"
    user_repo.write(LOG, example_log(case, "staged"))
    user_repo.git("add", LOG)
    user_repo.git("commit", "-q", "--no-verify", "-m", "bad event, gate skipped")

    result = run([*PRE_COMMIT, "run", HOOK_ID, "--all-files"], user_repo.path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert expected_line(case) in output, output

    valid = example_log(case, "committed")
    user_repo.write(LOG, valid)
    user_repo.git("commit", "-q", "--no-verify", "-am", "fixed by hand")
    result = run([*PRE_COMMIT, "run", HOOK_ID, "--all-files"], user_repo.path, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_3x_mission_commits_through_the_framework(user_repo: Repo, env: dict[str, str]) -> None:
    """What spec-kitty 3.2.7 wrote (tests/upstream): its logs and WP files with no lane pass."""
    mission = PROJECT_ROOT / "tests" / "upstream" / "3.2.7" / "project" / "kitty-specs"
    shutil.copytree(mission, user_repo.path / "kitty-specs")
    user_repo.git("add", "-A")
    result = commit(user_repo, env, "spec-kitty's mission")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "kitty-hooks event gate" in output and "Passed" in output, output


def test_run_from_ref_to_ref_checks_commits_that_skipped_the_gate(
    user_repo: Repo, env: dict[str, str]
) -> None:
    """CI and pre-push run `pre-commit run --from-ref A --to-ref B`: the change is A...B."""
    case = "log-appended-bad-line"
    base = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    user_repo.write(LOG, example_log(case, "staged"))
    user_repo.git("add", LOG)
    user_repo.git("commit", "-q", "--no-verify", "-m", "bad event, gate skipped")

    result = run(
        [*PRE_COMMIT, "run", HOOK_ID, "--from-ref", base, "--to-ref", "HEAD"], user_repo.path, env
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert expected_line(case) in output, output


def test_kitty_hooks_0_skips_the_framework_hook(user_repo: Repo, env: dict[str, str]) -> None:
    case = "log-appended-bad-line"
    before = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    user_repo.write(LOG, example_log(case, "staged"))
    user_repo.git("add", LOG)

    result = commit(user_repo, {**env, "KITTY_HOOKS": "0"}, "gate off")
    assert result.returncode == 0, result.stdout + result.stderr
    assert head(user_repo) != before


def test_run_files_checks_a_file_not_yet_added(user_repo: Repo, env: dict[str, str]) -> None:
    """`pre-commit run --files X` on an untracked file checks it instead of passing it unseen."""
    staged = EXAMPLES / "fail" / "wp-unknown-lane" / "staged"
    shutil.copytree(staged, user_repo.path, dirs_exist_ok=True)
    (wp_file,) = (p.relative_to(staged).as_posix() for p in staged.rglob("*.md"))

    result = run([*PRE_COMMIT, "run", HOOK_ID, "--files", wp_file], user_repo.path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert expected_line("wp-unknown-lane") in output, output


def test_kitty_emit_queues_the_commits_lane_change_and_kitty_rewrite_follows_an_amend(
    tmp_path: Path, hook_source: HookSource, env: dict[str, str]
) -> None:
    from kitty_hooks.queue.store import EventQueue

    repo = Repo(tmp_path / "emit")
    repo.write(
        ".pre-commit-config.yaml", hook_source.config(HOOK_ID, "kitty-emit", "kitty-rewrite")
    )
    _check(
        run(
            [*PRE_COMMIT, "install", "-t", "pre-commit", "-t", "post-commit", "-t", "post-rewrite"],
            repo.path,
            env,
        )
    )
    repo.write(
        f"{FEATURE}/tasks/WP01-fix.md", "---\nwork_package_id: WP01\nlane: for_review\n---\n"
    )
    repo.git("add", "-A")
    _check(commit(repo, env, "WP01 to review"))
    queue_file = Path(env["KITTY_HOOKS_HOME"]) / "queue.db"
    with EventQueue(queue_file) as queue:
        (entry,) = queue.list_entries()
    payload = entry.envelope["payload"]
    assert (payload["wp_id"], payload["from_lane"], payload["to_lane"]) == (
        "WP01",
        None,
        "for_review",
    )
    assert payload["review_ref"] == head(repo)

    repo.write("notes.txt", "forgot this\n")
    repo.git("add", "-A")
    _check(commit(repo, env, "WP01 to review", "--amend"))
    with EventQueue(queue_file) as queue:
        (entry,) = queue.list_entries()
    assert entry.envelope["payload"]["review_ref"] == head(repo)


def test_kitty_sync_sends_the_queue_after_a_push(
    tmp_path: Path, hook_source: HookSource, env: dict[str, str]
) -> None:
    from tests.ingest import IngestServer
    from tests.syncutil import queued_entries, write_credentials

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = Repo(tmp_path / "sync")
    repo.git("remote", "add", "origin", str(remote))
    repo.write(".pre-commit-config.yaml", hook_source.config("kitty-emit", "kitty-sync"))
    _check(run([*PRE_COMMIT, "install", "-t", "post-commit", "-t", "pre-push"], repo.path, env))
    with IngestServer() as server:
        write_credentials(Path(env["HOME"]), server.url, server.login())
        repo.write(
            f"{FEATURE}/tasks/WP01-fix.md", "---\nwork_package_id: WP01\nlane: planned\n---\n"
        )
        repo.git("add", "-A")
        _check(commit(repo, env, "plan WP01"))
        _check(run(["git", "push", "-q", "origin", "main"], repo.path, env))
        deadline = time.monotonic() + 20
        while not server.event_ids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.event_ids()) == 1
        assert env["KITTY_HOOKS_HOME"] == os.environ["KITTY_HOOKS_HOME"]  # the same queue
        deadline = time.monotonic() + 10
        while queued_entries() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queued_entries() == []


def test_snapshot_is_the_working_tree(hook_source: HookSource) -> None:
    """What pre-commit installed is this checkout as it is now, uncommitted changes included."""
    for relative in (".pre-commit-hooks.yaml", "pyproject.toml", "kitty_hooks/check/gate.py"):
        assert (hook_source.path / relative).read_bytes() == (PROJECT_ROOT / relative).read_bytes()
    assert not git(hook_source.path, "status", "--porcelain").stdout


def test_after_spec_kitty_replaces_the_frameworks_script_doctors_advice_puts_it_back(
    user_repo: Repo, env: dict[str, str], tmp_path: Path
) -> None:
    """spec-kitty 3.2.7's implement writes its commit guard over the framework's pre-commit
    script. doctor advises `pre-commit install -t pre-commit`, not a switch to our shims, and
    that command is enough: the framework's script is back and runs the guard first."""
    from tests.guardutil import Guard

    guard = Guard(tmp_path)
    written = guard.implement(user_repo)
    doctor = run([sys.executable, "-m", "kitty_hooks", "doctor"], user_repo.path, env)
    (line,) = [x for x in doctor.stdout.splitlines() if "hooks: pre-commit:" in x]
    assert line.startswith("fail"), doctor.stdout
    assert "spec-kitty's commit guard" in line and "`pre-commit install -t pre-commit`" in line
    assert "kitty-hooks install" not in line

    _check(run([*PRE_COMMIT, "install", "-t", "pre-commit"], user_repo.path, env))

    assert (user_repo.path / ".git" / "hooks" / "pre-commit.legacy").read_bytes() == written
    case = "log-appended-bad-line"
    before = commit_through_hook(user_repo, env, LOG, example_log(case, "committed"))
    assert guard.runs() == 1
    user_repo.write(LOG, example_log(case, "staged"))
    user_repo.git("add", LOG)
    assert_blocked(commit(user_repo, env, "bad event"), user_repo, before, expected_line(case))
    assert guard.runs() == 2, "the guard ran first, then the framework's kitty-diagnose"
    again = run([sys.executable, "-m", "kitty_hooks", "doctor"], user_repo.path, env)
    (line,) = [x for x in again.stdout.splitlines() if "hooks: pre-commit:" in x]
    assert line.startswith("ok") and "the pre-commit framework runs kitty-diagnose" in line
