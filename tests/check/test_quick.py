"""The gate's quick look (check/quick.py) calls a staged change clean only when the careful gate
passes it silently: over real git repositories, the recorded upstream lines appended as they
are or corrupted, plain and not-so-plain WP files, and paths of every kind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kitty_hooks.assets import shim_template, shim_template_id
from kitty_hooks.check.gate import diagnose_staged
from kitty_hooks.check.quick import commit_is_clean
from tests.check.test_verdicts import RECORDED, log_lines
from tests.gitutil import git

HEAD_LINES = [line for line in RECORDED if b'"feature_slug"' in line][:3]
FEATURES = st.sampled_from(["039-x", "040-y", "002 space", "-dash"])
WP_TEXTS = st.sampled_from(
    [
        "---\nwork_package_id: WP01\ntitle: 'a: b'\nlane: planned\ndependencies: []\n---\n# x\n",
        '---\nlane: "for_review"\n---\n',
        "---\nlane: doing  # alias\n---\n",
        "---\nlane: cancelled\n---\n",
        "---\nlane: lane-a\n---\n",
        "---\nlane: shipped\n---\n",
        "---\ntitle: x\n---\n",
        "---\nlane: [planned]\n---\n",
        "---\nlane: done\nsubtasks:\n- T001\n---\n",
        "---\nlane: yes\n---\n",
        "no frontmatter\n",
        "---\nlane: done\n",
        "\ufeff---\nlane: done\n---\n",
    ]
)
WP_PATHS = st.sampled_from(["tasks/WP01-x.md", "tasks/planned/WP01-x.md", "tasks/done/WP02.md"])


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose HEAD has a 2.x log of three recorded lines under kitty-specs/039-x/."""
    root = tmp_path_factory.mktemp("quick") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for setting in (("user.name", "Ada"), ("user.email", "ada@example.com")):
        git(root, "config", *setting)
    (root / "kitty-specs" / "039-x").mkdir(parents=True)
    (root / "kitty-specs" / "039-x" / "status.events.jsonl").write_bytes(
        b"\n".join(HEAD_LINES) + b"\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def _stage(root: Path, files: dict[str, bytes]) -> None:
    git(root, "reset", "-q", "--hard", "HEAD")
    git(root, "clean", "-qfdx")
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git(root, "add", "-A")


def _both(root: Path) -> tuple[bool, Any]:
    previous = os.getcwd()
    os.environ["KITTY_HOOKS_SHIM"] = shim_template_id(shim_template())
    try:
        os.chdir(root)
        quick = commit_is_clean()
    finally:
        os.chdir(previous)
        del os.environ["KITTY_HOOKS_SHIM"]
    return quick, diagnose_staged(root)


@st.composite
def staged_changes(draw: Any) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for _ in range(draw(st.integers(1, 2))):
        feature = draw(FEATURES)
        if draw(st.booleans()):
            appended = b"".join(line + b"\n" for line in draw(st.lists(log_lines(), max_size=3)))
            if feature == "039-x" and draw(st.integers(0, 3)):
                files[f"kitty-specs/{feature}/status.events.jsonl"] = (
                    b"\n".join(HEAD_LINES) + b"\n" + appended
                )
            else:
                files[f"kitty-specs/{feature}/status.events.jsonl"] = appended
        else:
            text = draw(WP_TEXTS).encode()
            files[f"kitty-specs/{feature}/{draw(WP_PATHS)}"] = text
    return files


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=staged_changes())
@example(
    files={
        "kitty-specs/039-x/status.events.jsonl": b"\n".join(HEAD_LINES)
        + b"\n"
        + RECORDED[5]
        + b"\n"
    }
)
def test_what_the_quick_look_calls_clean_the_careful_gate_passes_silently(
    head: Path, files: dict[str, bytes]
) -> None:
    _stage(head, files)
    quick, report = _both(head)
    if quick:
        assert report.problems == [], report.problems
        assert report.exit_code == 0


@pytest.mark.parametrize(
    "files",
    [
        {"kitty-specs/039-x/status.events.jsonl": b"\n".join([*HEAD_LINES, RECORDED[5]]) + b"\n"},
        {"kitty-specs/039-x/tasks/WP01-x.md": b"---\nwork_package_id: WP01\nlane: claimed\n---\n"},
        {"README.md": b"unrelated\n"},
    ],
    ids=["a log line appended", "a WP file's lane", "nothing it checks"],
)
def test_a_plain_move_commit_is_found_clean_without_the_careful_gate(
    head: Path, files: dict[str, bytes]
) -> None:
    _stage(head, files)
    assert _both(head)[0] is True


@pytest.mark.parametrize(
    "files",
    [
        {
            "kitty-specs/039-x/status.events.jsonl": b"\n".join(HEAD_LINES[:2]) + b"\n"
        },  # a line lost
        {"kitty-specs/039-x/status.events.jsonl": b"\n".join([*HEAD_LINES, HEAD_LINES[0]]) + b"\n"},
        {"kitty-specs/039-x/status.events.jsonl": b"\n".join(HEAD_LINES) + b'\n{"to_lane": 1}\n'},
        {"kitty-specs/040-y/status.events.jsonl": RECORDED[5] + b"\n"},  # a new log: checked whole
        {"kitty-specs/039-x/one.event.json": b"{}"},
    ],
    ids=["rewrite", "a HEAD id again", "invalid line", "new log", "event JSON"],
)
def test_anything_else_goes_to_the_careful_gate(head: Path, files: dict[str, bytes]) -> None:
    _stage(head, files)
    assert _both(head)[0] is False


def test_a_stale_shim_or_kitty_hooks_set_goes_to_the_careful_gate(head: Path) -> None:
    _stage(head, {"README.md": b"x\n"})
    os.environ["KITTY_HOOKS"] = "1"
    try:
        assert _both(head)[0] is False
    finally:
        del os.environ["KITTY_HOOKS"]
    previous = os.getcwd()
    os.environ["KITTY_HOOKS_SHIM"] = "0badc0de"
    try:
        os.chdir(head)
        assert commit_is_clean() is False
    finally:
        os.chdir(previous)
        del os.environ["KITTY_HOOKS_SHIM"]


def test_the_lanes_it_takes_are_the_lanes_the_careful_gate_takes() -> None:
    from kitty_hooks.model.lanes import is_known_lane

    schema = json.loads((Path(__file__).parents[2] / "schemas" / "lanes.schema.json").read_text())
    taken = schema["$defs"]["lane_or_alias"]["enum"]
    assert all(is_known_lane(lane) for lane in taken)
    for lane in ("genesis", "uninitialized", "Done", "lane-a", "cancelled"):
        assert lane not in taken


@pytest.mark.parametrize("how", ["git commit -a", "git commit <path>", "git add, then commit"])
def test_through_the_installed_shim_a_bad_line_is_blocked_and_a_good_one_passes(
    tmp_path: Path, how: str
) -> None:
    """The quick look reads what git commits: under `commit -a` or `commit <path>` that is a
    temporary index only GIT_INDEX_FILE names, and a bad line there must not pass as clean."""
    import subprocess

    from kitty_hooks.githooks.install import install_hooks
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    log = "kitty-specs/039-x/status.events.jsonl"
    repo.write(log, b"\n".join(HEAD_LINES) + b"\n")
    repo.commit_all("start")
    install_hooks(repo.path, ["pre-commit"])
    for line, blocked in ((b'{"event_id": "x", "to_lane": "planned"}', True), (RECORDED[5], False)):
        repo.write(log, b"\n".join(HEAD_LINES) + b"\n" + line + b"\n")
        command = ["git", "commit", "-q", "-m", "move"]
        if how == "git commit -a":
            command.append("-a")
        elif how == "git commit <path>":
            command += ["--", log]
        else:
            repo.git("add", log)
        done = subprocess.run(command, cwd=repo.path, capture_output=True, text=True)
        assert (done.returncode != 0) is blocked, done.stderr
        if blocked:
            assert f"{log}:4: event x: " in done.stderr
            repo.git("reset", "-q")
