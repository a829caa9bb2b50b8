"""Running git: one call, its errors in our words, and the environment a hook hands it.

Plain plumbing through subprocess, not GitPython. These functions run on hook paths, where
GitPython's ~50 ms import alone would blow the budget. scan and install need nothing more than
the same plumbing (one `git log`, one `cat-file --batch`). So the project does without it.

We keep git's exported environment (GIT_DIR, GIT_INDEX_FILE, ...) when we call git from inside
a hook. During `git commit -a` or `git commit <paths>`, the staged content lives in a temporary
index that only GIT_INDEX_FILE names. That is the content the gate has to check.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from kitty_hooks.errors import FatalError


def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise git_not_started(cwd, exc) from exc
    if done.returncode != 0:
        raise git_failed(cwd, args, done.stderr)
    return done.stdout


class GitStream:
    """One git command, started at once, its output read block by block as git writes it
    (blocks()): the caller works while git does. Leaving the with-block before the end kills
    git. POSIX only, as the shims and the journal's flock are: selectors on pipes."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.cwd = cwd
        self.args = args
        self._process = start_git(cwd, *args, stdin=subprocess.DEVNULL)
        assert self._process.stdout is not None
        # Room for what git writes while the caller is busy elsewhere (its imports, say): git
        # blocks on a full pipe.
        widen_pipe(self._process.stdout.fileno())

    def blocks(self) -> Iterator[bytes]:
        """git's output as it comes; FatalError, in our words, once git has failed."""
        import selectors

        process = self._process
        assert process.stdout is not None and process.stderr is not None
        errors: list[bytes] = []
        with selectors.DefaultSelector() as pipes:  # stderr read too: git never waits on it
            pipes.register(process.stdout, selectors.EVENT_READ)
            pipes.register(process.stderr, selectors.EVENT_READ)
            while pipes.get_map():
                for key, _ in pipes.select():
                    block = os.read(key.fd, 1 << 16)
                    if not block:
                        pipes.unregister(key.fileobj)
                    elif key.fileobj is process.stdout:
                        yield block
                    else:
                        errors.append(block)
        if process.wait() != 0:
            raise git_failed(self.cwd, self.args, b"".join(errors))

    def __enter__(self) -> GitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()


def start_git(cwd: Path, *args: str, stdin: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """`git <args>` started in cwd, its output and errors on pipes, for a caller that reads
    it as it comes (GitStream, blobs.stream_blobs)."""
    try:
        return subprocess.Popen(
            ["git", *args], cwd=cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError as exc:
        raise git_not_started(cwd, exc) from exc


def git_not_started(cwd: Path, exc: FileNotFoundError) -> FatalError:
    """What to say when git could not be started in cwd."""
    # The same error for a missing working directory as for a missing git.
    if not Path(cwd).is_dir():
        return FatalError(f"{cwd} is not a directory (it was moved or deleted?)")
    return FatalError("git is not installed or not on PATH")


def git_failed(cwd: Path, args: tuple[str, ...], stderr: bytes) -> FatalError:
    """What to say when `git <args>` failed in cwd: its last line of stderr."""
    message = stderr.decode("utf-8", "replace").strip().splitlines()
    return FatalError(f"git {args[0]} failed in {cwd}: {message[-1] if message else 'no output'}")


# What `git rev-parse --local-env-vars` lists: the repository a git process exported to its hooks
# (GIT_DIR in a linked worktree, GIT_INDEX_FILE, `git -c` settings...). Right for a hook asking
# about its own repository; wrong for the journal's drainer, which a hook in one repository may
# start and which then captures commits of others (a GIT_DIR kept would read the wrong one).
_REPO_LOCAL_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
)


@contextlib.contextmanager
def without_repo_env() -> Iterator[None]:
    """Run git calls as a fresh process in the work tree would: repository found from cwd."""

    saved = {name: os.environ.pop(name) for name in _REPO_LOCAL_ENV if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# What a long read's pipe from git holds (Linux's default: 64 KiB).
LONG_READ_PIPE_BYTES = 1 << 20


def widen_pipe(fd: int, size: int = LONG_READ_PIPE_BYTES) -> None:
    """Let the pipe hold size bytes, where the system allows it."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or over the user's pipe quota: a narrower pipe is only slower
