"""The one place that talks to git.

Plain plumbing through subprocess, not GitPython: these functions run on hook paths, where
GitPython's ~50 ms import alone would blow the budget, and scan and install need nothing more
than the same plumbing (one `git log`, one `cat-file --batch`), so the project does without it.

We keep git's exported environment (GIT_DIR, GIT_INDEX_FILE, ...) when we call git from inside
a hook: during `git commit -a` or `git commit <paths>` the staged content lives in a temporary
index that only GIT_INDEX_FILE names, and that is the content the gate has to check.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from kitty_hooks.errors import FatalError


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        # The same error for a missing working directory as for a missing git.
        if not Path(cwd).is_dir():
            raise FatalError(f"{cwd} is not a directory (it was moved or deleted?)") from exc
        raise FatalError("git is not installed or not on PATH") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FatalError(
            f"git {args[0]} failed in {cwd}: {message[-1] if message else 'no output'}"
        )
    return done.stdout


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
    import os

    saved = {name: os.environ.pop(name) for name in _REPO_LOCAL_ENV if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


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


def changed_paths(root: Path, base: str, target: str) -> list[str]:
    """Paths added, copied or modified between two commits."""
    out = _git(root, "diff", "--name-only", "-z", "--no-renames", "--diff-filter=ACM", base, target)
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def merge_base(root: Path, first: str, second: str) -> str:
    return _git(root, "merge-base", first, second).decode("ascii").strip()


def read_blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """The contents of several objects (e.g. "HEAD:path", ":path" for the index) in one git call.

    None for an object that does not exist (a file new in this commit, no HEAD yet).
    """
    if not specs:
        return []
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    out = _git(
        root,
        "cat-file",
        "--batch",
        stdin="".join(s + "\n" for s in specs).encode("utf-8", "surrogateescape"),
    )
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


# What the pipe to git takes without a reader, anywhere: a request this small is written at
# once. (Linux gives 64 KiB, but only 4 KiB to a user over pipe-user-pages-soft, as Windows
# does; a larger request written before reading could leave git and us waiting on each other.)
_PIPE_BYTES = 4 << 10
# The pipe from git for a long read: Linux's default of 64 KiB made git and us take turns
# (a context switch each 64 KiB) through every version of a 1 MB log: 10% of a scan.
_LONG_READ_PIPE_BYTES = 1 << 20


def stream_blobs(root: Path, specs: list[str]) -> Iterator[bytes | None]:
    """read_blobs for a long scan: each content as git writes it, in order.

    The caller works on one blob while git finds the next (on another core), and holds only
    what it keeps rather than one answer of every version of every log (hundreds of MB). Close
    the iterator to stop early: git is then killed.
    """
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    request = "".join(s + "\n" for s in specs).encode()
    try:
        process = subprocess.Popen(
            ["git", "cat-file", "--batch", "--buffer"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        if not Path(root).is_dir():
            raise FatalError(f"{root} is not a directory (it was moved or deleted?)") from exc
        raise FatalError("git is not installed or not on PATH") from exc
    assert process.stdin is not None and process.stdout is not None
    writer = None
    if len(request) <= _PIPE_BYTES:
        _feed(process.stdin, request)  # fits in the pipe: no thread on the hook path
    else:
        import threading

        _widen_pipe(process.stdout.fileno(), _LONG_READ_PIPE_BYTES)
        # Written while we read: git stops reading requests while its answers wait for us.
        writer = threading.Thread(target=_feed, args=(process.stdin, request), daemon=True)
        writer.start()
    out, err = process.stdout, process.stderr
    assert err is not None
    done = truncated = False
    try:
        for _ in specs:
            header = out.readline().split(b" ")
            if header == [b""]:
                truncated = True  # git stopped answering: its error is below
                break
            if len(header) != 3 or not header[2].rstrip().isdigit():
                yield None  # "<spec> missing" (a file new in this commit), ambiguous...
                continue
            data = out.read(int(header[2]))
            out.read(1)  # the newline after each content
            yield data if header[1] == b"blob" else None
        done = not truncated
    finally:
        if not done:
            process.kill()
        if writer is not None:
            writer.join()
        stderr = err.read()
        for pipe in (process.stdin, out, err):
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
        process.wait()
    if truncated or process.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip().splitlines()
        raise FatalError(
            f"git cat-file failed in {root}: {message[-1] if message else 'no output'}"
        )


def _widen_pipe(fd: int, size: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or over the user's pipe quota: a narrower pipe is only slower


def _feed(pipe: IO[bytes], request: bytes) -> None:
    try:
        pipe.write(request)
        pipe.close()
    except BrokenPipeError:  # git died: its exit code and stderr tell why
        pass


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
        out = _git(
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


class FileChange(NamedTuple):
    """One path a commit added (A), modified (M), deleted (D) or retyped (T), against its first parent."""

    status: str
    path: str
    old_blob: str | None
    new_blob: str | None


class CommitRecord(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    """Strict ISO 8601 with the author's offset; amend and rebase keep it."""
    changes: tuple[FileChange, ...]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


# %x1e starts a record; %x1f separates header fields. Author fields can hold any other byte.
_FORMAT = "--format=%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f"
_NULL_SHA = "0" * 40


def read_commit(cwd: Path, rev: str, *, paths: tuple[str, ...]) -> CommitRecord:
    """A commit's header and the raw changes under `paths` against its first parent.

    Renames are reported as a delete and an add (--no-renames): callers pair files by what
    they are, which also catches a move git would not call a rename. A merge commit lists no
    changes (diff-tree shows none without -m). --always: without it a commit with no change
    under `paths` prints nothing at all, not even its header.
    """
    out = _git(
        cwd, "diff-tree", "-r", "-z", "--no-renames", "--root", "--always", "--no-abbrev", "--raw",
        _FORMAT, rev, "--", *paths,
    )  # fmt: skip
    records = list(_parse_records(out))
    if len(records) != 1:
        raise FatalError(f"git diff-tree gave {len(records)} commits for {rev}")
    return records[0]


def iter_commits(
    cwd: Path, revision_range: str, *, paths: tuple[str, ...]
) -> Iterator[CommitRecord]:
    """Every commit of a range (oldest first) that changes `paths`, with those changes.

    One git call for the whole range. --full-history keeps commits on merged side branches
    that default history simplification would hide.
    """
    out = _git(
        cwd, "log", "--reverse", "--full-history", "--no-renames", "-z", "--raw", "--no-abbrev",
        _FORMAT, revision_range, "--", *paths,
    )  # fmt: skip
    yield from _parse_records(out)


def read_commits(cwd: Path, shas: list[str], *, paths: tuple[str, ...]) -> list[CommitRecord]:
    """Several given commits (not their history) with their changes under `paths`, one call."""
    if not shas:
        return []
    out = _git(
        cwd, "log", "--no-walk=unsorted", "--no-renames", "-z", "--raw", "--no-abbrev", _FORMAT,
        "--stdin", "--", *paths, stdin="".join(f"{sha}\n" for sha in shas).encode("utf-8", "surrogateescape"),
    )  # fmt: skip
    return list(_parse_records(out))


def _parse_records(out: bytes) -> Iterator[CommitRecord]:
    text = out.decode("utf-8", "surrogateescape")
    for chunk in text.split("\x1e")[1:]:
        header, _, body = chunk.partition("\0")
        sha, parents, name, email, date = header.split("\x1f")[:5]
        tokens = [t.strip("\n") for t in body.split("\0")]
        changes: list[FileChange] = []
        index = 0
        while index < len(tokens):
            meta = tokens[index]
            if not meta.startswith(":"):
                index += 1
                continue
            _, _, old_sha, new_sha, status = meta[1:].split(" ")
            path = tokens[index + 1]
            changes.append(
                FileChange(
                    status=status[0],
                    path=path,
                    old_blob=None if old_sha == _NULL_SHA else old_sha,
                    new_blob=None if new_sha == _NULL_SHA else new_sha,
                )
            )
            index += 2
        yield CommitRecord(sha, tuple(parents.split()), name, email, date, tuple(changes))


def root_commits(cwd: Path) -> list[str]:
    out = _git(cwd, "rev-list", "--max-parents=0", "HEAD")
    return sorted(out.decode("ascii").split())


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
        out = _git(cwd, "rev-parse", "--git-path", "hooks")
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
        # The same error for a missing working directory as for a missing git.
        if not Path(cwd).is_dir():
            raise FatalError(f"{cwd} is not a directory (it was moved or deleted?)") from exc
        raise FatalError("git is not installed or not on PATH") from exc
    if done.returncode == 1:  # git's code for "not set"
        return None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise FatalError(f"git config --get {key} failed in {cwd}: {message or 'no output'}")
    return done.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def rewrites_since(cwd: Path, command: str) -> dict[str, str]:
    """Old -> new commit ids of the amend or rebase that just ran, read back from git.

    For when git's own list is not on stdin: the pre-commit framework runs post-rewrite hooks
    without it. An amend replaced HEAD@{1}; a rebase replaced the commits only ORIG_HEAD has
    with those only HEAD has, paired by author date, email and subject (rebase keeps all
    three; a commit it dropped or reworded has no pair and is left alone).
    """
    if command == "amend":
        out = _git(cwd, "rev-parse", "HEAD@{1}", "HEAD").decode("ascii").split()
        return {out[0]: out[1]} if len(out) == 2 and out[0] != out[1] else {}
    if command != "rebase":
        return {}
    fmt = "--format=%H%x1f%aI%x1f%ae%x1f%s"
    old = _git(cwd, "log", fmt, "ORIG_HEAD", "--not", "HEAD").decode("utf-8", "replace")
    new = _git(cwd, "log", fmt, "HEAD", "--not", "ORIG_HEAD").decode("utf-8", "replace")
    by_key = {}
    for line in new.splitlines():
        sha, *key = line.split("\x1f")
        by_key[tuple(key)] = sha
    rewritten = {}
    for line in old.splitlines():
        sha, *key = line.split("\x1f")
        if tuple(key) in by_key:
            rewritten[sha] = by_key[tuple(key)]
    return rewritten


def unreachable_commits(cwd: Path, shas: list[str]) -> set[str]:
    """Those of shas that no ref reaches (branch, tag, remote-tracking ref, stash, the HEAD of
    any worktree), or that git no longer has at all: what `git reset --hard` or a branch
    deleted leaves behind. The reflog does not count: it only keeps them for a while.

    Two git calls whatever the number: cat-file sorts out the missing ones (rev-list would
    fail on them), then `rev-list <shas> --not --all` walks only the history no ref reaches.
    """
    wanted = sorted({sha for sha in shas if sha and "\n" not in sha})
    if not wanted:
        return set()
    found = _git(cwd, "cat-file", "--batch-check", stdin="".join(f"{s}\n" for s in wanted).encode())
    present = []
    gone = set()
    for sha, line in zip(wanted, found.decode("utf-8", "replace").splitlines(), strict=False):
        fields = line.split()
        if len(fields) == 3 and fields[1] == "commit":
            present.append(sha)
        else:
            gone.add(sha)
    if present:
        # --stdin reads the commits to start from; the --not after it negates --all only.
        out = _git(
            cwd,
            "rev-list",
            "--stdin",
            "--not",
            "--all",
            stdin="".join(f"{s}\n" for s in present).encode(),
        )
        walked = set(out.decode("ascii", "replace").split())
        gone.update(sha for sha in present if sha in walked)
    return gone


def common_dir(cwd: Path) -> Path:
    """The repository's common git dir (what its linked worktrees share), resolved as
    repo_layout resolves it; unlike repo_layout, also before the first commit."""
    try:
        out = _git(cwd, "rev-parse", "--git-common-dir")
    except FatalError as exc:
        raise FatalError(f"{cwd} is not inside a git repository") from exc
    common = Path(out.decode("utf-8", "surrogateescape").rstrip("\n"))
    return (common if common.is_absolute() else Path(cwd) / common).resolve()
