"""Commits: read one, a range or a list in one git call each; what a rewrite or a lost ref left."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo.command import GitStream, run_git


class FileChange(NamedTuple):
    """One path a commit added (A), modified (M), deleted (D) or retyped (T), against its first parent."""

    status: str
    path: str
    old_blob: str | None
    new_blob: str | None


class CommitRecord(NamedTuple):
    """A commit and its changes under the paths asked, against its first parent. For a merge,
    the paths that differ from another parent only are listed too, unchanged (old blob = new
    blob): what the merge holds there came from that parent."""

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


# %x1e starts a record; %x1f separates the fields that cannot hold it (sha, parents, date) from
# each other and from the author's name, and a NUL (-z's separator too) ends the name and the
# email: the one byte a name or an email cannot hold (git takes any other, \x1e and \x1f too).
_FORMAT = "--format=%x1e%H%x1f%P%x1f%aI%x1f%an%x00%ae"

_NULL_SHA = "0" * 40


def read_commit(cwd: Path, rev: str, *, paths: tuple[str, ...]) -> CommitRecord:
    """A commit's header and the raw changes under `paths` against its first parent.

    Renames are reported as a delete and an add (--no-renames): callers pair files by what
    they are, which also catches a move git would not call a rename. -m: a merge is compared
    with each parent (CommitRecord says how). --always: without it a commit with no change
    under `paths` prints nothing at all, not even its header.
    """
    out = run_git(
        cwd, "diff-tree", "-m", "-r", "-z", "--no-renames", "--root", "--always", "--no-abbrev",
        "--raw", _FORMAT, rev, "--", *paths,
    )  # fmt: skip
    records = list(parse_commits(out))
    if len(records) != 1:
        raise FatalError(f"git diff-tree gave {len(records)} commits for {rev}")
    return records[0]


def start_commits(cwd: Path, revision_range: str, *, paths: tuple[str, ...]) -> GitStream:
    """Start reading every commit of a range that changes `paths`, with those changes;
    commits_oldest_first(stream) parses them as git writes them. The caller can work meanwhile.

    One git call for the whole range. --full-history keeps commits on merged side branches
    that default history simplification would hide. No --reverse: with it git walks the whole
    range before it writes its first commit (a few tenths of a second in a big repository, the
    parsing idle); without it git writes as it walks, and the parsing keeps pace.
    """
    return GitStream(
        cwd, "log", "--full-history", "-m", "--no-renames", "-z", "--raw",
        "--no-abbrev", _FORMAT, revision_range, "--", *paths,
    )  # fmt: skip


def stream_commits(stream: GitStream) -> Iterator[CommitRecord]:
    """The commits of a start_commits call, parsed as git writes them: newest first."""
    return _records(_tokens(stream.blocks()))


def commits_oldest_first(stream: GitStream) -> list[CommitRecord]:
    """The commits of a start_commits call, oldest first, as --reverse would list them."""
    commits = list(stream_commits(stream))
    commits.reverse()
    return commits


def _tokens(blocks: Iterable[bytes]) -> Iterator[str]:
    """The NUL-separated fields of git's -z output, whole, however the blocks cut them (a NUL
    is never inside a UTF-8 character)."""
    pending = b""
    for block in blocks:
        pending += block
        cut = pending.rfind(b"\0")
        if cut >= 0:
            yield from pending[:cut].decode("utf-8", "surrogateescape").split("\0")
            pending = pending[cut + 1 :]
    if pending:
        yield pending.decode("utf-8", "surrogateescape")


def read_commits(cwd: Path, shas: list[str], *, paths: tuple[str, ...]) -> list[CommitRecord]:
    """Several given commits (not their history) with their changes under `paths`, one call
    (a merge against each parent, as read_commit reads it)."""
    if not shas:
        return []
    out = run_git(
        cwd, "log", "--no-walk=unsorted", "-m", "--no-renames", "-z", "--raw", "--no-abbrev", _FORMAT,
        "--stdin", "--", *paths, stdin="".join(f"{sha}\n" for sha in shas).encode("utf-8", "surrogateescape"),
    )  # fmt: skip
    return list(parse_commits(out))


def parse_commits(out: bytes) -> Iterator[CommitRecord]:
    """The commits of one whole -z output of _FORMAT with --raw."""
    return _records(iter(out.decode("utf-8", "surrogateescape").split("\0")))


def _records(tokens: Iterator[str]) -> Iterator[CommitRecord]:
    """Read field by field, in order: a path or an author may hold any byte but NUL, so no
    other byte can be searched for (a path may even start with \x1e)."""
    header: list[str] | None = None
    changes: list[FileChange] = []
    first_parent = -1  # a merge: where its changes against the other parents start
    for token in tokens:
        field = token.lstrip("\n")
        if field.startswith("\x1e"):  # a commit's header: sha, parents, date, name; the email
            new_header = [*field[1:].split("\x1f", 3), next(tokens, "")]
            if header is not None and new_header[0] == header[0]:
                # -m: the same merge again, against its next parent.
                if first_parent < 0:
                    first_parent = len(changes)
                continue
            if header is not None:
                yield _record(header, changes, first_parent)
            header = new_header
            changes = []
            first_parent = -1
        elif field.startswith(":") and header is not None:  # a change, then its path
            _, _, old_sha, new_sha, status = field[1:].split(" ")
            changes.append(
                FileChange(
                    status=status[0],
                    path=next(tokens, ""),
                    old_blob=None if old_sha == _NULL_SHA else old_sha,
                    new_blob=None if new_sha == _NULL_SHA else new_sha,
                )
            )
    if header is not None:
        yield _record(header, changes, first_parent)


def _record(header: list[str], changes: list[FileChange], first_parent: int) -> CommitRecord:
    sha, parents, date, name, email = header
    if first_parent >= 0:
        # What differs from another parent only is as the first parent has it: unchanged.
        own = changes[:first_parent]
        listed = {change.path for change in own}
        for change in changes[first_parent:]:
            if change.path not in listed and change.new_blob is not None:
                own.append(FileChange("M", change.path, change.new_blob, change.new_blob))
                listed.add(change.path)
        changes = own
    return CommitRecord(sha, tuple(parents.split()), name, email, date, tuple(changes))


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

    Asked as `git branch --contains` answers it, whatever the commit dates. `rev-list <shas>
    --not --all` alone is not enough: it stops walking by commit date, so a commit dated ahead
    of the commits a branch added on top of it reads as unreachable. Its mistakes go one way
    only (what it leaves out, a ref reaches), so it gives the candidates, cheaply, in one call;
    each candidate is then asked of the refs with `for-each-ref --contains`, and of any
    detached worktree HEAD with `merge-base --is-ancestor`, which walk by generation, not date.
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
    if not present:
        return gone
    # --stdin reads the commits to start from; the --not after it negates --all only.
    out = run_git(
        cwd, "rev-list", "--stdin", "--not", "--all",
        stdin="".join(f"{s}\n" for s in present).encode(),
    )  # fmt: skip
    walked = set(out.decode("ascii", "replace").split())
    candidates = [sha for sha in present if sha in walked]
    if candidates:
        heads = _detached_heads(cwd)
        gone.update(sha for sha in candidates if not _held(cwd, sha, heads))
    return gone


def path_versions(cwd: Path, path: str, walks: list[list[str]]) -> dict[str, int]:
    """Every content (blob id -> size) `path` has at a commit of the given walks (each a list
    of `git log` revision arguments: tips, `--branches`, `--not X`), in one git call a walk
    and one for the sizes.

    A version is read from each change of the path: what it was before and after, so a
    commit that leaves the path alone still finds the content its parent had. -c adds merges
    whose result is neither side's (a resolved conflict); --full-history keeps the side
    branches default simplification hides.
    """
    ids: set[str] = set()
    for walk in walks:
        out = run_git(
            cwd, "log", "--format=", "--raw", "-c", "--no-abbrev", "--no-renames",
            "--full-history", *walk, "--", path,
        )  # fmt: skip
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith(":"):
                fields = line.split("\t", 1)[0].split()
                ids.update(f for f in fields if len(f) >= 40 and f.strip("0") and _is_hex(f))
    if not ids:
        return {}
    wanted = sorted(ids)
    found = run_git(
        cwd, "cat-file", "--batch-check", stdin="".join(f"{i}\n" for i in wanted).encode()
    )
    sizes = {}
    for line in found.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "blob":
            sizes[fields[0]] = int(fields[2])
    return sizes


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _held(cwd: Path, sha: str, detached_heads: list[str]) -> bool:
    """Whether a ref, or a detached worktree HEAD, reaches commit sha."""
    out = run_git(cwd, "for-each-ref", "--count=1", "--format=%(refname)", "--contains", sha)
    if out.strip():
        return True
    for head in detached_heads:
        try:  # sha is an ancestor of head when it is their merge base
            if run_git(cwd, "merge-base", sha, head).decode("ascii", "replace").strip() == sha:
                return True
        except FatalError:  # no common ancestor at all
            continue
    return False


def _detached_heads(cwd: Path) -> list[str]:
    """The HEADs of the worktrees (the main one too) that name a commit, not a branch."""
    out = run_git(cwd, "worktree", "list", "--porcelain").decode("utf-8", "replace")
    heads = []
    for block in out.split("\n\n"):
        lines = block.splitlines()
        if "detached" in lines:
            heads += [line.split()[1] for line in lines if line.startswith("HEAD ")]
    return heads
