"""Commits: read one, a range or a list in one git call each; what a rewrite or a lost ref left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo.command import run_git


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
    out = run_git(
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
    out = run_git(
        cwd, "log", "--reverse", "--full-history", "--no-renames", "-z", "--raw", "--no-abbrev",
        _FORMAT, revision_range, "--", *paths,
    )  # fmt: skip
    yield from _parse_records(out)


def read_commits(cwd: Path, shas: list[str], *, paths: tuple[str, ...]) -> list[CommitRecord]:
    """Several given commits (not their history) with their changes under `paths`, one call."""
    if not shas:
        return []
    out = run_git(
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
    out = run_git(cwd, "rev-list", "--max-parents=0", "HEAD")
    return sorted(out.decode("ascii").split())


def rewrites_since(cwd: Path, command: str) -> dict[str, str]:
    """Old -> new commit ids of the amend or rebase that just ran, read back from git.

    For when git's own list is not on stdin: the pre-commit framework runs post-rewrite hooks
    without it. An amend replaced HEAD@{1}; a rebase replaced the commits only ORIG_HEAD has
    with those only HEAD has, paired by author date, email and subject (rebase keeps all
    three; a commit it dropped or reworded has no pair and is left alone).
    """
    if command == "amend":
        out = run_git(cwd, "rev-parse", "HEAD@{1}", "HEAD").decode("ascii").split()
        return {out[0]: out[1]} if len(out) == 2 and out[0] != out[1] else {}
    if command != "rebase":
        return {}
    fmt = "--format=%H%x1f%aI%x1f%ae%x1f%s"
    old = run_git(cwd, "log", fmt, "ORIG_HEAD", "--not", "HEAD").decode("utf-8", "replace")
    new = run_git(cwd, "log", fmt, "HEAD", "--not", "ORIG_HEAD").decode("utf-8", "replace")
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
    found = run_git(
        cwd, "cat-file", "--batch-check", stdin="".join(f"{s}\n" for s in wanted).encode()
    )
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
        out = run_git(
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
