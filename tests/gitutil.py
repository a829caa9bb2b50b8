"""Real git repositories in temp dirs for tests (git itself is never mocked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Run this checkout's code with this interpreter, whatever `kitty-hooks` is on PATH.
KITTY_HOOKS = [sys.executable, "-m", "kitty_hooks"]
# How the installed shims start our entry point: like `-m kitty_hooks`, but without the
# repository being committed on sys.path (see hooks/*). Tests that record the interpreter's
# arguments show it as `-m kitty_hooks`.
SHIM_ENTRY = (
    "-c import sys; sys.path[:] = [p for p in sys.path if p];"
    " from kitty_hooks.entry import main; sys.exit(main())"
)


def as_module_call(recorded: str) -> str:
    return recorded.replace(SHIM_ENTRY, "-m kitty_hooks")


def captured() -> None:
    """Wait until every commit the installed post-commit shims recorded is in the queue.

    The shim captures in the background (kitty_hooks/capture/journal.py); a test that reads the queue
    after committing through the shims drains the journal first, as the CLI does. drain() blocks
    on the lock while a detached drainer works, then captures whatever is left: no sleeping.
    """
    from kitty_hooks.capture import journal

    journal.drain()


def drainers_done(cap_seconds: float = 60.0) -> None:
    """Wait until no drainer the shims started is running (its marker names no live process).

    The shim writes the marker before git returns, and the drainer removes it last."""
    import time

    from kitty_hooks.capture import journal

    deadline = time.monotonic() + cap_seconds
    while journal.running_drainer() is not None and time.monotonic() < deadline:
        time.sleep(0.01)


def next_hook_stderr(repo: Repo) -> str:
    """What the next hook shows: an empty commit through the installed shims (it moves nothing,
    so its post-commit only prints the notes background captures left, kitty_hooks/capture/journal.py)."""
    captured()
    done = subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", "next"],
        cwd=repo.path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stderr


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")

    def write(self, relative: str, content: str | bytes) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        return target

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.path, *args, check=check)

    def commit_all(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def kitty_hooks(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*KITTY_HOOKS, *args], cwd=self.path, capture_output=True, text=True, input=stdin
        )
