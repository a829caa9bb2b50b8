"""Record the pre-commit hook spec-kitty 3.2.7 writes when `agent action implement` creates a lane
worktree (issue 18), as test data for kitty-hooks.

Run by hand, from the repository root, with the Python of a venv that has spec-kitty-cli 3.2.7:

    python tests/upstream/record_hook.py --python /path/to/venv/bin/python

It is not a test and pytest does not collect it. In a temporary repository with a linked lane
worktree (as implement makes one) it calls, in that Python, the very function implement calls
after allocating the worktree: `specify_cli.policy.hook_installer.install_commit_guard(worktree,
repo_root)` (lanes/implement_support.py). It does so three times, over what a team has there:

1. over kitty-hooks' own pre-commit shim (a stand-in with our marker),
2. again, over its own hook of the first call (a second implement),
3. with `core.hooksPath` set to another folder.

and writes into tests/upstream/3.2.7/hooks/:

    pre-commit        the hook of the first call, byte for byte
    pre-commit.json   what each call did: the path written, its mode, whether the file at that
                      path was replaced (a new inode) and whether a `pre-commit.legacy` beside it
                      was touched; the interpreter and install time the hook names.

The interpreter and install time in the hook are those of the recording machine; tests that run
the hook put their own interpreter in its place.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "3.2.7" / "hooks"
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SPEC_KITTY"))},
    "SPEC_KITTY_NO_UPGRADE_CHECK": "1",
    "SPEC_KITTY_NON_INTERACTIVE": "1",
    "SPEC_KITTY_SYNC_DISABLE": "1",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Recorder",
    "GIT_AUTHOR_EMAIL": "recorder@example.com",
    "GIT_COMMITTER_NAME": "Recorder",
    "GIT_COMMITTER_EMAIL": "recorder@example.com",
}
OUR_SHIM = "#!/bin/sh\n# kitty-hooks-shim v2\nexit 0\n"
LEGACY = "#!/bin/sh\n# a user's own hook, chained by kitty-hooks\nexit 0\n"
INSTALL = (
    "import sys; from pathlib import Path;"
    " from specify_cli.policy.hook_installer import install_commit_guard;"
    " print(install_commit_guard(Path(sys.argv[1]), Path(sys.argv[2])))"
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def implement(python: str, worktree: Path, root: Path) -> str:
    return subprocess.run(
        [python, "-c", INSTALL, str(worktree), str(root)],
        env={**ENV, "HOME": str(root.parent / "home")},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def call(python: str, root: Path, worktree: Path, label: str) -> dict[str, object]:
    hooks = root / ".git" / "hooks"
    hook, legacy = hooks / "pre-commit", hooks / "pre-commit.legacy"
    before = hook.stat().st_ino if hook.exists() else None
    legacy_before = legacy.read_bytes() if legacy.exists() else None
    returned = implement(python, worktree, root)
    configured = git(root, "config", "--default", "", "core.hooksPath")
    text = hook.read_text(encoding="utf-8")
    return {
        "call": label,
        "returned": os.path.relpath(returned, root),
        "mode": oct(hook.stat().st_mode & 0o777),
        "replaced": before is not None and hook.stat().st_ino != before,
        "legacy_untouched": legacy_before is None or legacy.read_bytes() == legacy_before,
        "hooks_path": os.path.relpath(configured, root) if configured else None,
        "git_runs": os.path.relpath(root / git(root, "rev-parse", "--git-path", "hooks"), root),
        "lines": text.splitlines()[:4],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="a venv python with spec-kitty-cli 3.2.7")
    args = parser.parse_args()
    version = subprocess.run(
        [args.python, "-c", "import importlib.metadata as m; print(m.version('spec-kitty-cli'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if version != "3.2.7":
        raise SystemExit(f"{args.python} has spec-kitty-cli {version}, not 3.2.7")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        git(root, "commit", "-q", "--allow-empty", "-m", "initial")
        worktree = Path(tmp) / "project-lane-a"
        git(root, "worktree", "add", "-q", "-b", "kitty/mission-demo-lane-a", str(worktree))
        hooks = root / ".git" / "hooks"
        (hooks / "pre-commit").write_text(OUR_SHIM)
        (hooks / "pre-commit").chmod(0o755)
        (hooks / "pre-commit.legacy").write_text(LEGACY)
        (hooks / "pre-commit.legacy").chmod(0o755)
        calls = [call(args.python, root, worktree, "over kitty-hooks' shim")]
        first = (hooks / "pre-commit").read_bytes()
        calls.append(call(args.python, root, worktree, "again, over its own hook"))
        git(root, "config", "core.hooksPath", str(Path(tmp) / "shared-hooks"))
        calls.append(call(args.python, root, worktree, "with core.hooksPath set"))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pre-commit").write_bytes(first)
    (OUT / "pre-commit").chmod(0o700)
    (OUT / "pre-commit.json").write_text(
        json.dumps({"spec_kitty_cli": version, "calls": calls}, indent=2) + "\n"
    )
    print(f"wrote {OUT / 'pre-commit'} and {OUT / 'pre-commit.json'}")


if __name__ == "__main__":
    main()
