"""The post-commit journal: commits the shim recorded, captured in the background.

A post-commit hook is no gate, so it must not hold git up. Capturing a commit that moves a WP
costs a Python start, imports, git calls and a queue transaction (~50 ms); recording it costs the
shim one `git rev-parse` and a file written with shell builtins. So the shim writes
`$state/journal/<sha>-<shell pid>.commit` (the work tree path and a newline) and starts
`python -m kitty_hooks.capture.journal` detached, unless one is running already. The drainer captures
the entries one at a time in commit order and deletes each only after its capture returned: a
crash captures it again, and capture is idempotent by event id.

Everyone who reads the queue calls `drain()` first (post-rewrite, flush, the CLI's queue and
status commands), so the delay never shows as a missing event; it blocks on the lock while a
drainer works (a hook for HOOK_WAIT_SECONDS at most: git is waiting). What a capture would have printed goes to the log and to `journal/notes`, which
the next hook shim prints.

At most one drainer works at a time (an exclusive flock), and the shim starts one only when the
marker `journal/drainer.pid` names no running process. Why no commit is ever stranded (the
lost wakeup): a shim writes its entry completely (W), then reads the marker (R). A drainer,
when it finds nothing left (a drainer the shim started first lingers a moment, marker kept, for
the next commit of a burst), removes the marker if it names it (M), then looks once more (S),
and loops (writing the marker again) if it finds a complete entry.
- R finds no marker, or one naming a dead process: the shim starts a drainer. Safe.
- R finds the marker naming a live drainer P. P wrote it last (or the shim that started P did,
  and P waits for that write before its first drain), and since then nobody removed it, so P's
  next M comes after R, and its S after that: S comes after W and sees the entry. Safe.
A marker removed by another drainer, or a marker read half-written, only starts one drainer
too many, which waits on the lock and finds nothing. The case the argument does not cover: a
drainer killed outright leaves its marker, and should its pid be reused by a live process, the
shims start no drainer; every entry is still captured by the next reader of the queue (a push,
`status`, `sync`), and `kitty-hooks doctor` fails on an entry waiting that long.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from kitty_hooks.locations import journal_dir, log_exception, log_line, state_dir

SUFFIX = ".commit"
NOTES = "notes"
MARKER = "drainer.pid"
LOCK = "journal.lock"
# An entry still empty, or without its final newline, this long after it was written: the shim
# that wrote it died mid-write (it cannot take longer than a printf).
STALE_PARTIAL_SECONDS = 60.0
# How long a drainer the shim started waits for the shim to write its pid into the marker
# (microseconds, in practice: the shim writes it right after starting it).
_MARKER_WAIT_SECONDS = 2.0
# A drainer the shim started stays this long after its last capture, marker kept, for the next
# commit of a burst: a rebase's picks come tens of milliseconds apart, and a drainer that had
# caught up and left would make the next pick start another Python.
LINGER_SECONDS = 0.25
STARTED = "journal: drainer started"


class Entry(NamedTuple):
    path: Path
    sha: str
    worktree: str | None
    """None: still being written (empty, or no final newline yet)."""
    mtime_ns: int
    pid: int
    head_ref: str | None = None
    """What HEAD named when the commit was made (`refs/heads/<branch>`, or `HEAD` when
    detached): the branch the capture records, whatever is checked out by the time it runs."""


class JournalState(NamedTuple):
    """What doctor and status say about the journal."""

    waiting: int
    oldest_age_seconds: float | None
    drainer_pid: int | None
    """The marker's pid when that process is alive."""
    notes: list[str]


# How long a hook (post-rewrite, a post-commit captured in the foreground) waits for another
# drain to finish before it goes on without it: as long as it waits for a busy queue.
HOOK_WAIT_SECONDS = 1.5


def drain(*, in_hook: bool = False, _failed: set[str] | None = None) -> int:
    """Capture every complete entry, oldest first; how many were captured.

    With no entry (the folder empty or absent) it costs a directory read: no lock, no import.
    An entry it could not capture or remove is not tried again by the same drain (`_failed`).
    in_hook: git is waiting. Another drain is waited for HOOK_WAIT_SECONDS at most (it then
    captures what is left itself), and a busy queue as long as a hook waits for it (the
    capture spools instead), where the command line and the drainer wait longer.
    """
    directory = journal_dir()
    if not _entry_names(directory):
        return 0

    failed = set() if _failed is None else _failed
    try:
        lock = _open_lock()
    except OSError as exc:
        # Every entry waits for a drain that can lock: say so once for each, not in a loop.
        log_line(f"journal: cannot open its lock ({exc}); commits stay recorded, uncaptured")
        failed.update(_entry_names(directory))
        return 0
    try:
        if not _lock(lock, wait=HOOK_WAIT_SECONDS if in_hook else None):
            os.close(lock)
            log_line("journal: another drain is still capturing; this hook went on without it")
            return 0
    except OSError as exc:  # a file system without locks (some NFS): nothing to capture under
        os.close(lock)
        log_line(f"journal: cannot lock {state_dir() / LOCK} ({exc}); commits stay recorded")
        failed.update(_entry_names(directory))
        return 0
    try:
        return _drain_locked(directory, failed, in_hook=in_hook)
    finally:
        os.close(lock)  # releases the flock


def _lock(lock: int, *, wait: float | None) -> bool:
    """Take the drain lock: block while another drain works (then we see all it left), or for
    at most wait seconds; False when that passed."""
    import fcntl

    if wait is None:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _open_lock() -> int:
    path = state_dir() / LOCK
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        # A lock file we may read but not write (left by another user's run): flock needs no
        # write access.
        return os.open(path, os.O_RDONLY)


def _drain_locked(directory: Path, failed: set[str], *, in_hook: bool) -> int:
    captured = 0
    for entry in entries(directory):
        if entry.path.name in failed:
            continue  # failed once in this drain: the next drain tries again, not this one
        if entry.worktree is None:
            if time.time() - entry.mtime_ns / 1e9 > STALE_PARTIAL_SECONDS:
                log_line(f"journal: {entry.path.name} was never finished; removed")
                _remove(entry.path)
            continue
        try:
            done = _capture(entry, in_hook=in_hook)
        except Exception:
            log_exception(
                f"journal: capturing {entry.sha[:12]} in {entry.worktree} failed; "
                "kept for the next drain"
            )
            failed.add(entry.path.name)
            continue
        # Only now: a crash before this captures it again, idempotently. One that cannot be
        # removed is not captured again by this drain (the next one finds it a duplicate).
        if not _remove(entry.path):
            failed.add(entry.path.name)
        captured += done
    return captured


def _capture(entry: Entry, *, in_hook: bool) -> bool:
    """Capture one entry; False when there was nothing left to capture it from."""
    from kitty_hooks.capture.commits import (
        CLI_BUSY_TIMEOUT_MS,
        HOOK_BUSY_TIMEOUT_MS,
        capture_commit,
        describe,
    )
    from kitty_hooks.errors import FatalError
    from kitty_hooks.gitrepo import command as git_command
    from kitty_hooks.gitrepo import repo as git_repo

    assert entry.worktree is not None
    worktree = Path(entry.worktree)
    short = entry.sha[:12]
    # The drainer captures for every repository: git must find each from its work tree, not
    # from the GIT_DIR that the git which ran one of the hooks exported.
    with git_command.without_repo_env():
        # A work tree removed (`git worktree remove`) before its commit was captured: the commit
        # lives on in the repository, where a scan finds it; say how, at the next hook.
        scan_hint = (
            f"not captured: its work tree {worktree} is gone; run `kitty-hooks scan "
            f"{entry.sha}^!` in the repository to queue its lane changes"
        )
        if not worktree.is_dir():
            log_line(f"journal: {short}: {scan_hint}")
            _add_note(short, scan_hint)
            return False
        try:
            # In the background it may wait for a busy queue as long as the command line does;
            # in a hook as long as a hook does (then it spools).
            result = capture_commit(
                worktree,
                rev=entry.sha,
                head_ref=entry.head_ref,
                busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS if in_hook else CLI_BUSY_TIMEOUT_MS,
            )
        except FatalError as exc:
            try:
                git_repo.repo_root(worktree)
            except FatalError:
                log_line(f"journal: {short}: {scan_hint}")
                _add_note(short, scan_hint)
                return False
            # What the hook said of a condition that is not a bug, and then it was done too.
            log_line(f"journal: {short}: {exc}")
            _add_note(short, str(exc))
            return False
    note = describe(result, "post-commit")
    if note is not None:
        log_line(f"journal: {short}: {note}")
        _add_note(short, note)
    return True


def _add_note(short_sha: str, text: str) -> None:
    """One line for the next hook shim to print (it renames the file, prints it, removes it)."""
    try:
        with open(journal_dir() / NOTES, "a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(f"kitty-hooks: commit {short_sha}: {text}\n")
    except OSError:
        pass  # it is in the log


def entries(directory: Path | None = None, *, tidy: bool = True) -> list[Entry]:
    """The journal's entries in commit order.

    By modification time, then by the pid of the shim that wrote it: the clock's resolution is
    a kernel tick (1-10 ms), and a rebase may record two picks within one; pids grow. A file
    that is no entry the shim writes is removed, unless tidy is False (doctor only looks).
    """
    from kitty_hooks.model.events import is_lower_hex  # only once there are entries

    directory = journal_dir() if directory is None else directory
    found: list[Entry] = []
    for name in _entry_names(directory):
        path = directory / name
        sha, _, pid = name[: -len(SUFFIX)].partition("-")
        try:
            with open(path, "rb") as source:
                content = source.read()
            mtime_ns = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            continue  # captured meanwhile
        except OSError as exc:
            log_line(f"journal: cannot read {path} ({exc})")
            continue
        if not (pid.isdigit() and len(sha) in (40, 64) and is_lower_hex(sha)):
            if tidy:
                log_line(f"journal: {name} is not a name the shim writes; removed")
                _remove(path)
            continue
        # "<work tree>\n<HEAD's ref>\n"; until the last newline is there, still being written.
        lines = os.fsdecode(content[:-1]).split("\n") if content.endswith(b"\n") else None
        worktree = lines[0] if lines else None
        if lines is not None and (len(lines) > 2 or not lines[0].startswith("/")):
            if tidy:
                log_line(f"journal: {name} does not hold a work tree path; removed")
                _remove(path)
            continue
        head_ref = lines[1] if lines is not None and len(lines) == 2 else None
        found.append(Entry(path, sha, worktree, mtime_ns, int(pid), head_ref))
    found.sort(key=lambda e: (e.mtime_ns, e.pid, e.path.name))
    return found


def _entry_names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as listing:
            return [e.name for e in listing if e.name.endswith(SUFFIX)]
    except OSError:  # absent (nothing recorded yet), or not a folder: nothing to drain
        return []


def _remove(path: Path) -> bool:
    """Whether path is gone now."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log_line(f"journal: cannot remove {path} ({exc})")
        return False
    return True


def state(now: float | None = None) -> JournalState:
    now = time.time() if now is None else now
    waiting = entries(tidy=False)
    oldest = min((e.mtime_ns for e in waiting), default=None)
    try:
        notes = (journal_dir() / NOTES).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        notes = []
    return JournalState(
        waiting=len(waiting),
        oldest_age_seconds=None if oldest is None else max(0.0, now - oldest / 1e9),
        drainer_pid=running_drainer(),
        notes=notes,
    )


def running_drainer() -> int | None:
    """The pid in the marker, when that process is alive (as the shim's `kill -0` sees it)."""
    pid = _marker_pid(journal_dir() / MARKER)
    if pid is None or pid <= 1:
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # another user's process is no drainer of ours
        return None
    return pid


def _marker_pid(marker: Path) -> int | None:
    try:
        return int(marker.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _claim(marker: Path) -> None:
    temp = marker.with_name(f".{marker.name}.{os.getpid()}")
    try:
        temp.write_text(f"{os.getpid()}\n", encoding="ascii")
        os.replace(temp, marker)
    except OSError as exc:
        log_line(f"journal: cannot write {marker} ({exc}); later commits may start drainers")


def _release(marker: Path) -> None:
    """Remove the marker if it names this process (M in the module's argument)."""
    if _marker_pid(marker) == os.getpid():
        _remove(marker)


def _more_within(seconds: float, failed: set[str]) -> bool:
    """Whether a complete entry not failed in this drain waits, or arrives within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        if any(e.worktree is not None and e.path.name not in failed for e in entries()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """The detached drainer: drain until a last look finds nothing (see the module's argument).

    `--marked`: the shim that started it writes its pid into the marker; wait for that first,
    and linger after the last capture for the next commit of a burst.
    """
    log_line(STARTED)
    marker = journal_dir() / MARKER
    linger = LINGER_SECONDS if "--marked" in argv else 0.0
    if "--marked" in argv:
        deadline = time.monotonic() + _MARKER_WAIT_SECONDS
        while _marker_pid(marker) != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        _claim(marker)
    failed: set[str] = set()
    captured = 0
    try:
        while True:
            captured += drain(_failed=failed)
            if _more_within(linger, failed):
                continue  # the marker still names us: shims started nobody meanwhile
            _release(marker)
            if not _more_within(0.0, failed):
                break
            _claim(marker)
    except Exception:
        log_exception("journal: drainer failed")
        return 1
    finally:
        _release(marker)
    log_line(
        f"journal: drainer done, {captured} commit{'s' if captured != 1 else ''} captured"
        + (f", {len(failed)} kept after a failure" if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
