"""The journal's entries on disk: their names, reading them without blocking, writing them.

- `<seq>-<sha>-<pid>.commit`: written by the post-commit shim, or by a foreground post-commit
  behind a busy drain. It holds the work tree, what HEAD named and the common git dir, a line
  each.
- `<seq>-rewrite-<pid>.commit`: written by post-rewrite behind a busy drain. It holds the work
  tree, the common dir, then git's "<old> <new>" lines.
- `<sha>-<pid>.commit`: what an older shim wrote (the work tree and the ref).

An entry is complete once the last newline is there. Why <seq>, and how a drain uses them:
kitty_hooks/capture/journal.py.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from kitty_hooks.capture.journal_marker import running_drainer, start_drainer
from kitty_hooks.locations import journal_dir, log_line

SUFFIX = ".commit"
ASIDE = ".aside"
REWRITE = "rewrite"
# An entry still empty, or without its final newline, this long after it was written: the shim
# that wrote it died mid-write (it cannot take longer than a printf).
STALE_PARTIAL_SECONDS = 60.0
# An entry is a work tree path, a ref and a common dir (or a rewrite's list of commits): a few
# KiB at most. Past this it is no entry the shim or post-rewrite wrote.
_MAX_ENTRY_BYTES = 1 << 20


class Entry(NamedTuple):
    path: Path
    sha: str
    """The commit; "" for a rewrite."""
    worktree: str | None
    """None: still being written (empty, or no final newline yet)."""
    mtime_ns: int
    pid: int
    head_ref: str | None = None
    """What HEAD named when the commit was made (`refs/heads/<branch>`, or `HEAD` when
    detached): the branch the capture records, whatever is checked out by the time it runs."""
    seq: int | None = None
    """The commit order the shim gave it; None for an entry an older shim wrote."""
    common_dir: str | None = None
    """The repository's common git dir: its commits outlive the work tree they were made in."""
    rewritten: dict[str, str] | None = None
    """A rewrite post-rewrite left to the drainer: old commit -> new commit."""

    @property
    def order(self) -> tuple[int, int, int, int, str]:
        return (
            0 if self.seq is None else 1,
            self.seq or 0,
            self.mtime_ns,
            self.pid,
            self.path.name,
        )


def entries(directory: Path | None = None, *, tidy: bool = True) -> list[Entry]:
    """The journal's entries in commit order (see the module's docstring).

    Only regular files are read, opened without blocking (a FIFO named like an entry would hold
    the drainer for ever). A file that is no entry the shim writes is removed, and one that
    cannot be read as a file is moved aside, once, with a log line; unless tidy is False
    (doctor only looks).
    """
    directory = journal_dir() if directory is None else directory
    found: list[Entry] = []
    for name in entry_names(directory):
        entry = _read_entry(directory / name, tidy=tidy)
        if entry is not None:
            found.append(entry)
    found.sort(key=lambda e: e.order)
    return found


def _read_entry(path: Path, *, tidy: bool) -> Entry | None:
    from kitty_hooks.model.events import is_lower_hex  # only once there are entries

    name = path.name
    fields = name[: -len(SUFFIX)].split("-")
    if len(fields) == 2:  # an older shim's <sha>-<pid>
        seq_text, (sha, pid) = None, fields
    elif len(fields) == 3:
        seq_text, sha, pid = fields
    else:
        seq_text, sha, pid = None, "", ""
    rewrite = sha == REWRITE and seq_text is not None
    if not (
        _is_number(pid)
        and (seq_text is None or (_is_number(seq_text) and len(seq_text) < 10))
        and (rewrite or (len(sha) in (40, 64) and is_lower_hex(sha)))
    ):
        if tidy:
            _set_aside(path, "is not a name the shim writes", delete=True)
        return None
    try:
        content, mtime_ns = _read_regular(path)
    except FileNotFoundError:
        return None  # captured meanwhile
    except OSError as exc:
        if tidy:
            _set_aside(path, f"cannot be read ({exc.strerror or exc})", delete=False)
        return None
    seq = None if seq_text is None else int(seq_text)
    # Lines, each ending in a newline: until the last newline is there, still being written.
    if not content.endswith(b"\n"):
        return Entry(path, "" if rewrite else sha, None, mtime_ns, int(pid), seq=seq)
    lines = os.fsdecode(content[:-1]).split("\n")
    worktree = lines[0]
    if rewrite:
        rewritten: dict[str, str] = {}
        for line in lines[2:]:
            old, _, new = line.partition(" ")
            if len(old) in (40, 64) and len(new) == len(old) and is_lower_hex(old + new):
                rewritten[old] = new
        good = len(lines) >= 3 and lines[1].startswith("/") and bool(rewritten)
        common, head_ref = (lines[1] if good else None), None
    else:
        rewritten = None
        good = len(lines) <= 3 and (len(lines) < 3 or lines[2].startswith("/"))
        head_ref = lines[1] if len(lines) >= 2 else None
        common = lines[2] if len(lines) == 3 else None
    if not (good and worktree.startswith("/")):
        if tidy:
            _set_aside(path, "does not hold a work tree path", delete=True)
        return None
    return Entry(
        path,
        "" if rewrite else sha,
        worktree,
        mtime_ns,
        int(pid),
        head_ref,
        seq,
        common,
        rewritten,
    )


def _is_number(text: str) -> bool:
    """Digits as the shim's `case` reads them: ASCII only ("²".isdigit() is True, int() fails)."""
    return text.isascii() and text.isdigit()


def _read_regular(path: Path) -> tuple[bytes, int]:
    """A regular file's bytes and modification time; OSError for anything else, without
    blocking on it (a FIFO) or following a link out of the journal."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > _MAX_ENTRY_BYTES:
            raise OSError(0, f"{info.st_size} bytes, far more than an entry holds")
        content = os.read(fd, _MAX_ENTRY_BYTES + 1)
    finally:
        os.close(fd)
    return content, info.st_mtime_ns


# Files set aside already, or that could not be: said once by this process, not at every look.
_reported: set[str] = set()


def _set_aside(path: Path, why: str, *, delete: bool) -> None:
    """A file in the journal that is no entry: removed (a regular file the shim did not write)
    or moved aside as <name>.aside, with one log line; never read again as an entry."""
    if str(path) in _reported:
        return
    _reported.add(str(path))
    if delete and not path.is_symlink() and _is_regular(path):
        if remove(path):
            log_line(f"journal: {path.name} {why}; removed")
        return
    aside = path.with_name(path.name + ASIDE)
    if os.path.lexists(aside):
        aside = aside.with_name(f"{aside.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        log_line(f"journal: {path.name} {why}, and cannot be moved aside ({exc}); skipped")
        return
    log_line(f"journal: {path.name} {why}; moved aside to {aside.name}")


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def entry_names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as listing:
            return [e.name for e in listing if e.name.endswith(SUFFIX)]
    except OSError:  # absent (nothing recorded yet), or not a folder: nothing to drain
        return []


def remove(path: Path) -> bool:
    """Whether path is gone now."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log_line(f"journal: cannot remove {path} ({exc})")
        return False
    return True


def next_seq(names: Iterable[str]) -> int:
    """One more than the highest seq of the entries waiting (the shim's rule, in sh)."""
    highest = 0
    for name in names:
        seq, _, rest = name.partition("-")
        # No leading zero: the shim's arithmetic would read it as octal.
        if "-" in rest and _is_number(seq) and len(seq) < 10 and not seq.startswith("0"):
            highest = max(highest, int(seq))
    return highest + 1


def work_tree_for(entry: Entry) -> tuple[Path, bool] | None:
    """Where to run git for an entry, and whether that is not where the commit was made.

    Its own work tree while it is there. A linked worktree removed at once (`spec-kitty merge`
    commits in one under the temp folder) left its commit in the repository's object store:
    capture it from the main work tree, or another of the repository's."""
    assert entry.worktree is not None
    own = Path(entry.worktree)
    if is_dir(own):
        return own, False
    return elsewhere(entry)


def elsewhere(entry: Entry) -> tuple[Path, bool] | None:
    """Another live work tree of the entry's repository, when the entry names its common dir."""
    if entry.common_dir is None:
        return None
    own = Path(entry.worktree or "")
    for other in _work_trees_of(Path(entry.common_dir)):
        if other != own:
            return other, True
    return None


def _work_trees_of(common_dir: Path) -> list[Path]:
    """The live work trees of a repository, the main one first (`git worktree list`)."""
    from kitty_hooks.errors import FatalError
    from kitty_hooks.gitrepo.command import run_git

    if not is_dir(common_dir):
        return []
    try:
        out = run_git(common_dir, "worktree", "list", "--porcelain")
    except FatalError:
        return []
    found: list[Path] = []
    current: Path | None = None
    for line in [*os.fsdecode(out).splitlines(), ""]:
        if line.startswith("worktree "):
            current = Path(line[len("worktree ") :])
        elif line == "bare":
            current = None
        elif not line and current is not None:
            if is_dir(current):
                found.append(current)
            current = None
    return found


def is_dir(path: Path) -> bool:
    """Whether path is a folder we can reach; False for any error (a name too long for the file
    system, a parent we may not search), where Path.is_dir() raises."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def defer_rewrite(worktree: Path, rewritten: dict[str, str]) -> bool:
    """Leave a rewrite to the drain that holds the lock: an entry after every commit recorded so
    far. False when it could not be written (the hook then follows the rewrite itself)."""
    from kitty_hooks.files import write_atomically
    from kitty_hooks.gitrepo import repo as git_repo

    directory = journal_dir()
    try:
        common = git_repo.common_dir(worktree)
    except Exception as exc:  # FatalError: no repository; the hook says so itself
        log_line(f"journal: rewrite not recorded ({exc})")
        return False
    lines = [str(worktree), str(common), *(f"{old} {new}" for old, new in rewritten.items())]
    name = f"{next_seq(entry_names(directory))}-{REWRITE}-{os.getpid()}{SUFFIX}"
    try:
        write_atomically(directory / name, os.fsencode("\n".join(lines) + "\n"))
    except OSError as exc:
        log_line(f"journal: cannot record the rewrite in {directory} ({exc}); followed now")
        return False
    log_line(f"journal: another drain is busy: rewrite of {len(rewritten)} commits left to it")
    # As the shim does after writing an entry (W, then R in the module's argument): the drain
    # that holds the lock may be one that looks no more (`status`), or a drainer leaving.
    if running_drainer() is None:
        start_drainer()
    return True


def record_commit(worktree: Path) -> bool:
    """Record HEAD in the journal as the post-commit shim does, for a post-commit that would
    capture in the foreground while another drain holds the lock: captured now, its move would
    take a Lamport clock before the commits recorded ahead of it. False when it could not be
    recorded (the hook then captures it itself)."""
    from kitty_hooks.errors import FatalError
    from kitty_hooks.files import write_atomically
    from kitty_hooks.gitrepo.command import run_git

    # The drainer finds the repository from the work tree alone (as the shim checks): not
    # from a GIT_WORK_TREE, or a GIT_DIR of the user's.
    git_dir = os.environ.get("GIT_DIR", "")
    if os.environ.get("GIT_WORK_TREE") or not (
        git_dir in ("", ".git", str(worktree / ".git")) or "/worktrees/" in git_dir
    ):
        return False
    directory = journal_dir()
    try:
        out = run_git(
            worktree, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD", "--git-common-dir"
        )
        sha, ref, common = os.fsdecode(out).splitlines()[:3]
        top = run_git(worktree, "rev-parse", "--show-toplevel")
    except (FatalError, ValueError):
        return False
    common_dir = Path(common) if Path(common).is_absolute() else worktree / common
    lines = [os.fsdecode(top).rstrip("\n"), ref, str(common_dir.resolve())]
    if any("\n" in line for line in lines) or not lines[0].startswith("/"):
        return False
    name = f"{next_seq(entry_names(directory))}-{sha}-{os.getpid()}{SUFFIX}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, os.fsencode("\n".join(lines) + "\n"))
    except OSError as exc:
        log_line(f"journal: cannot record {sha[:12]} in {directory} ({exc}); captured now")
        return False
    if running_drainer() is None:
        start_drainer()
    return True
