"""What git says of a repository: its top, layout, hooks folder, config, staged and changed paths."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo.command import git_not_started, run_git


def repo_root(cwd: Path) -> Path:
    """The top of the work tree that holds cwd."""
    try:
        out = run_git(cwd, "rev-parse", "--show-toplevel")
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git work tree") from exc
    return Path(out.decode("utf-8").strip())


def staged_paths(root: Path) -> list[str]:
    """Paths (relative to root) added, copied, modified or renamed in the index against HEAD."""
    out = run_git(
        root, "diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACM"
    )
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def changed_paths(root: Path, base: str, target: str) -> list[str]:
    """Paths added, copied or modified between two commits."""
    out = run_git(
        root, "diff", "--name-only", "-z", "--no-renames", "--diff-filter=ACM", base, target
    )
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def merge_base(root: Path, first: str, second: str) -> str:
    return run_git(root, "merge-base", first, second).decode("ascii").strip()


# NamedTuple, not dataclass: the post-commit hook cannot afford dataclasses' import (inspect,
# ast: ~8 ms) nor its per-class code generation.
class RepoLayout(NamedTuple):
    top: Path
    git_dir: Path
    common_dir: Path
    branch: str | None
    """The checked-out branch, None on a detached HEAD."""

    @property
    def is_linked_worktree(self) -> bool:
        return self.git_dir != self.common_dir


def repo_layout(cwd: Path) -> RepoLayout:
    """Work tree top, git dir, common dir and branch, in one git call."""
    try:
        out = run_git(
            cwd,
            "rev-parse",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
            "--symbolic-full-name",
            "HEAD",
        )
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git work tree") from exc
    top, git_dir, common_dir, head = (
        out.decode("utf-8", "surrogateescape").splitlines() + [""] * 4
    )[:4]
    common = Path(common_dir)
    if not common.is_absolute():
        common = Path(cwd) / common
    branch = head.removeprefix("refs/heads/") if head.startswith("refs/heads/") else None
    return RepoLayout(Path(top), Path(git_dir).resolve(), common.resolve(), branch)


def remote_url(cwd: Path, name: str = "origin") -> str | None:
    """The remote's URL, None when there is none or git cannot say (it only names a repo)."""
    try:
        return config_get(cwd, f"remote.{name}.url") or None
    except FatalError:
        return None


def hooks_dir(cwd: Path) -> Path:
    """The directory git runs hooks from when working in cwd (it may not exist yet).

    `--git-path hooks` knows where that is: core.hooksPath when set (a relative one is relative to
    the work tree, so each linked worktree has its own), else the common dir's hooks, which linked
    worktrees share. Its answer is relative to cwd.
    """
    try:
        out = run_git(cwd, "rev-parse", "--git-path", "hooks")
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git repository") from exc
    return (cwd / out.decode("utf-8", "surrogateescape").rstrip("\n")).resolve()


def config_get(cwd: Path, key: str) -> str | None:
    """The value git sees for a config key from cwd, or None when it is not set."""
    try:
        done = subprocess.run(
            ["git", "config", "--get", key], cwd=cwd, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise git_not_started(cwd, exc) from exc
    if done.returncode == 1:  # git's code for "not set"
        return None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise FatalError(f"git config --get {key} failed in {cwd}: {message or 'no output'}")
    return done.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def common_dir(cwd: Path) -> Path:
    """The repository's common git dir (what its linked worktrees share), resolved as
    repo_layout resolves it; unlike repo_layout, also before the first commit."""
    try:
        out = run_git(cwd, "rev-parse", "--git-common-dir")
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git repository") from exc
    common = Path(out.decode("utf-8", "surrogateescape").rstrip("\n"))
    return (common if common.is_absolute() else Path(cwd) / common).resolve()
