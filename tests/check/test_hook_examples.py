"""Acceptance: each hook of the real .pre-commit-hooks.yaml, run by its entry on example trees.

tests/examples/{pass,fail}/<case>/ holds `committed/` (committed first, optional) and `staged/`
(copied over and staged) trees; a failing case names in expect.txt a line its output must hold.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.gitutil import KITTY_HOOKS, PROJECT_ROOT, Repo

EXAMPLES = Path(__file__).parent.parent / "examples"
HOOKS = {
    hook["id"]: hook
    for hook in yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text())
}


def _cases(outcome: str) -> list[str]:
    return sorted(p.name for p in (EXAMPLES / outcome).iterdir() if p.is_dir())


def _run_hook_on_case(repo: Repo, hook_id: str, case_dir: Path) -> subprocess.CompletedProcess[str]:
    hook = HOOKS[hook_id]
    if (case_dir / "committed").is_dir():
        shutil.copytree(case_dir / "committed", repo.path, dirs_exist_ok=True)
        repo.commit_all("before")
    shutil.copytree(case_dir / "staged", repo.path, dirs_exist_ok=True)
    repo.git("add", "-A")
    staged = repo.git("diff", "--cached", "--name-only").stdout.split()
    files = [path for path in staged if re.search(hook["files"], path)]
    assert files, f"{case_dir.name}: no staged file matches the hook's files pattern"
    entry = shlex.split(hook["entry"])
    assert entry[0] == "kitty-hooks"
    return subprocess.run(
        [*KITTY_HOOKS, *entry[1:], *files], cwd=repo.path, capture_output=True, text=True
    )


@pytest.mark.parametrize("case", _cases("pass"))
def test_kitty_diagnose_accepts_example(case: str, repo: Repo) -> None:
    result = _run_hook_on_case(repo, "kitty-diagnose", EXAMPLES / "pass" / case)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", _cases("fail"))
def test_kitty_diagnose_blocks_example(case: str, repo: Repo) -> None:
    case_dir = EXAMPLES / "fail" / case
    result = _run_hook_on_case(repo, "kitty-diagnose", case_dir)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert (case_dir / "expect.txt").read_text(encoding="utf-8").strip() in output
    assert "Traceback" not in output
