"""The one place that talks to git.

Plain plumbing through subprocess (no GitPython here): these functions run on hook paths, where
GitPython's ~50 ms import alone would blow the budget.

We keep git's exported environment (GIT_DIR, GIT_INDEX_FILE, ...) when we call git from inside
a hook: during `git commit -a` or `git commit <paths>` the staged content lives in a temporary
index that only GIT_INDEX_FILE names, and that is the content the gate has to check.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kitty_hooks.errors import FatalError


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise FatalError("git is not installed or not on PATH") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FatalError(
            f"git {args[0]} failed in {cwd}: {message[-1] if message else 'no output'}"
        )
    return done.stdout


def repo_root(cwd: Path) -> Path:
    """The top of the work tree that holds cwd."""
    try:
        out = _git(cwd, "rev-parse", "--show-toplevel")
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git work tree") from exc
    return Path(out.decode("utf-8").strip())


def staged_paths(root: Path) -> list[str]:
    """Paths (relative to root) added, copied, modified or renamed in the index against HEAD."""
    out = _git(root, "diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACM")
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def read_blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """The contents of several objects (e.g. "HEAD:path", ":path" for the index) in one git call.

    None for an object that does not exist (a file new in this commit, no HEAD yet).
    """
    if not specs:
        return []
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    out = _git(root, "cat-file", "--batch", stdin="".join(s + "\n" for s in specs).encode())
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split(b" ")
        pos = header_end + 1
        if header[-1] == b"missing" or len(header) != 3:
            blobs.append(None)
            continue
        size = int(header[2])
        blobs.append(out[pos : pos + size] if header[1] == b"blob" else None)
        pos += size + 1
    return blobs
