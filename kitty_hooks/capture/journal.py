"""The post-commit journal: commits the shim recorded, captured in the background.

A post-commit hook is no gate, so it must not hold git up. Capturing a commit that moves a WP
costs a Python start, imports, git calls and a queue transaction (~50 ms). Recording it costs the
shim one `git rev-parse` and a file written with shell builtins. So the shim writes
`$state/journal/<seq>-<sha>-<shell pid>.commit`: the work tree, HEAD's ref and the repository's
common dir, a line each. Then it starts `python -m kitty_hooks.capture.journal` detached, unless
one is running already.

The drainer captures the entries in commit order. A run of consecutive entries of one work tree
and branch is captured in one call. It deletes each entry only after its capture is in the
queue (or the spool). So a crash captures it again, and capture is idempotent by event id. The
entry files are journal_entries.py's; the drainer marker is journal_marker.py's.

Commit order is <seq>, not a clock. The shim takes one more than the highest seq of the entries
waiting (a glob, no process). git makes the commits of one repository one after the other, so
they are numbered in the order they were made, whatever the wall clock does. Only entries still
waiting need an order among themselves; an empty journal starts again at 1. Entries an older
shim wrote (`<sha>-<pid>.commit`) come first, by modification time.

Everyone who reads the queue calls `drain()` first: post-rewrite, flush, the CLI's queue and
status commands. So the delay never shows as a missing event. `drain()` blocks on the lock while
a drainer works. A hook does not wait: post-rewrite, and a post-commit that would capture in the
foreground, put their work in the journal after what waits there (below). Only when they cannot
do they wait, HOOK_WAIT_SECONDS at most. What a capture would have printed goes to the log and
to `journal/notes`, which the next hook shim prints.

A rewrite while another drain holds the lock becomes an entry of its own,
`<seq>-rewrite-<pid>.commit`: the work tree, the common dir, git's "<old> <new>" lines. It is
followed in its place in commit order. A commit that a later rewrite entry replaced is never
captured. The rewrite then tidies the queue as post-rewrite would have.

At most one drainer works at a time (an exclusive flock). The shim starts one only when the
marker `journal/drainer.pid` names no running drainer. The marker holds the drainer's pid and its
start time (field 22 of /proc/<pid>/stat). So a pid reused by another process, after a drainer
was killed outright, is no drainer.

Why no commit is ever stranded (the lost wakeup):
- A shim writes its entry completely (W), then reads the marker (R).
- A drainer that finds nothing left removes the marker if it names it (M), then looks once more
  (S). It loops (writing the marker again) if it finds a complete entry.
- A drainer the shim started first lingers a moment before M, marker kept, for the next commit
  of a burst.
- R finds no marker, or one naming no running drainer: the shim starts a drainer. Safe.
- R finds the marker naming a live drainer P. P wrote it last (or the shim that started P did,
  and P waits for that write before its first drain). Since then nobody removed it. So P's next
  M comes after R, and its S after that: S comes after W and sees the entry. Safe.
- A marker removed by another drainer, or a marker read half-written, only starts one drainer
  too many. That drainer waits on the lock and finds nothing.
- Where there is no /proc, the marker's pid is checked with kill -0 alone. A drainer killed
  outright whose pid a live process reuses then starts no drainer. Every entry is then captured
  by the next reader of the queue (a push, `status`, `sync`). `kitty-hooks doctor` fails on an
  entry waiting that long.

Nothing recorded is lost to a failure. An entry is removed only when its capture is in the queue
or the spool, or when the note that says how to recover it was written (fsynced). When the queue
cannot be written and the spool cannot either (a full disk), the entry stays for the next drain.
A file that is no entry (a FIFO, a folder, an unreadable file) is moved aside once, with one log
line. Nothing is opened in a way that could block.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from kitty_hooks.capture.journal_entries import (
    ASIDE,
    REWRITE,
    STALE_PARTIAL_SECONDS,
    SUFFIX,
    Entry,
    defer_rewrite,
    elsewhere,
    entries,
    entry_names,
    next_seq,
    record_commit,
    remove,
    work_tree_for,
)
from kitty_hooks.capture.journal_marker import (
    MARKER,
    claim,
    marker_line,
    marker_pid,
    release,
    running_drainer,
    start_time,
)
from kitty_hooks.locations import journal_dir, log_exception, log_line, state_dir
from kitty_hooks.wording import plural

__all__ = [  # what the hooks, the CLI and the tests use, in one place
    "ASIDE",
    "MARKER",
    "REWRITE",
    "STALE_PARTIAL_SECONDS",
    "SUFFIX",
    "Entry",
    "defer_rewrite",
    "drain",
    "drain_unless_busy",
    "entries",
    "marker_line",
    "next_seq",
    "record_commit",
    "running_drainer",
    "start_time",
    "state",
]

NOTES = "notes"
LOCK = "journal.lock"
# How long a drainer the shim started waits for the shim to write its pid into the marker
# (microseconds, in practice: the shim writes it right after starting it).
_MARKER_WAIT_SECONDS = 2.0
# A drainer the shim started stays this long after its last capture, marker kept, for the next
# commit of a burst: a rebase's picks come tens of milliseconds apart, and a drainer that had
# caught up and left would make the next pick start another Python.
LINGER_SECONDS = 0.25
# When more commits arrive while it lingers (a rebase), it lets a few more come before it
# captures them: a run of entries costs one capture call (~1.5 ms of CPU a commit), where one
# entry at a time costs ~7 ms each (benchmarks/bench_drain.py).
GATHER_SECONDS = 0.1
STARTED = "journal: drainer started"


class JournalState(NamedTuple):
    """What doctor and status say about the journal."""

    waiting: int
    oldest_age_seconds: float | None
    drainer_pid: int | None
    """The marker's pid when that process is our drainer, running."""
    notes: list[str]


# How long a hook (post-rewrite, a post-commit captured in the foreground) waits for another
# drain to finish before it goes on without it: as long as it waits for a busy queue.
HOOK_WAIT_SECONDS = 1.5


class _Drained(NamedTuple):
    captured: int
    busy: bool
    """Another drain held the lock longer than the hook waited: entries wait for it."""


def drain(*, in_hook: bool = False, _failed: set[str] | None = None) -> int:
    """Capture every complete entry, in commit order; how many commits were captured.

    With no entry (the folder empty or absent) it costs a directory read: no lock, no import.
    An entry it could not capture or remove is not tried again by the same drain (`_failed`).
    in_hook: git is waiting. Another drain is waited for HOOK_WAIT_SECONDS at most (it then
    captures what is left itself), and a busy queue as long as a hook waits for it (the
    capture spools instead), where the command line and the drainer wait longer.
    """
    return _drain(in_hook=in_hook, failed=set() if _failed is None else _failed).captured


def drain_unless_busy() -> bool:
    """Drain as a hook does, but without waiting for another drain: False when one holds the
    lock (its entries, maybe this repository's, are not captured yet)."""
    return not _drain(in_hook=True, failed=set(), wait=0.0).busy


def _drain(*, in_hook: bool, failed: set[str], wait: float | None = None) -> _Drained:
    directory = journal_dir()
    if not entry_names(directory):
        return _Drained(0, False)

    try:
        lock = _open_lock()
    except OSError as exc:
        # Every entry waits for a drain that can lock: say so once for each, not in a loop.
        log_line(f"journal: cannot open its lock ({exc}); commits stay recorded, uncaptured")
        failed.update(entry_names(directory))
        return _Drained(0, False)
    try:
        if wait is None and in_hook:
            wait = HOOK_WAIT_SECONDS
        if not _lock(lock, wait=wait):
            os.close(lock)
            log_line("journal: another drain is still capturing; this hook went on without it")
            return _Drained(0, True)
    except OSError as exc:  # a file system without locks (some NFS): nothing to capture under
        os.close(lock)
        log_line(f"journal: cannot lock {state_dir() / LOCK} ({exc}); commits stay recorded")
        failed.update(entry_names(directory))
        return _Drained(0, False)
    try:
        return _Drained(_drain_locked(directory, failed, in_hook=in_hook), False)
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


# What became of one entry.
_CAPTURED = "captured"  # in the queue or the spool: remove it
_DONE = "done"  # nothing to capture, or a person was told how to recover it: remove it
_KEPT = "kept"  # not captured, nobody told: keep it for the next drain


# At most this many entries are captured in one call (one git log, one cat-file, one queue
# transaction): a rebase behind a lagging drainer costs a few ms a commit, not a Python start.
_RUN_LIMIT = 500


def _drain_locked(directory: Path, failed: set[str], *, in_hook: bool) -> int:
    waiting = entries(directory)
    # A commit a later rewrite entry replaced: the rewrite's own commits carry what it kept.
    replaced_later: list[frozenset[str]] = []
    replaced: set[str] = set()
    for entry in reversed(waiting):
        replaced_later.append(frozenset(replaced))
        if entry.rewritten:
            replaced.update(old for old, new in entry.rewritten.items() if old != new)
    replaced_later.reverse()
    captured = 0
    run: list[Entry] = []  # consecutive commit entries of one work tree and branch

    def capture_run() -> None:
        nonlocal captured
        if run:
            captured += _capture_run(run, failed, in_hook=in_hook)
            run.clear()

    for entry, superseded in zip(waiting, replaced_later, strict=True):
        if entry.path.name in failed:
            continue  # failed once in this drain: the next drain tries again, not this one
        if entry.worktree is None:
            if time.time() - entry.mtime_ns / 1e9 > STALE_PARTIAL_SECONDS:
                log_line(f"journal: {entry.path.name} was never finished; removed")
                remove(entry.path)
            continue
        if entry.rewritten is None and entry.sha in superseded:
            log_line(
                f"journal: {entry.sha[:12]} was rewritten (amend, rebase) before it was "
                "captured: the commits that replaced it are captured instead"
            )
            _settle(entry, _DONE, failed)
        elif entry.rewritten is None:
            if run and (_run_key(run[0]) != _run_key(entry) or len(run) >= _RUN_LIMIT):
                capture_run()
            run.append(entry)
        else:
            capture_run()  # the commits before the rewrite first
            _settle(entry, _attempt(entry, _follow, entry, superseded), failed)
    capture_run()
    return captured


def _run_key(entry: Entry) -> tuple[str | None, str | None, str | None]:
    return entry.worktree, entry.head_ref, entry.common_dir


def _attempt(entry: Entry, capture: Callable[..., str], *args: Any, **kwargs: Any) -> str | None:
    """What capture(*args, **kwargs) made of an entry; None after an unexpected error (logged,
    with its traceback)."""
    try:
        return capture(*args, **kwargs)
    except Exception:
        log_exception(f"journal: capturing {entry.path.name} failed; kept for the next drain")
        return None


def _settle(entry: Entry, outcome: str | None, failed: set[str]) -> bool:
    """Remove an entry whose capture is done; whether it was captured."""
    if outcome is None or outcome == _KEPT:
        failed.add(entry.path.name)
        return False
    # Only now: a crash before this captures it again, idempotently. One that cannot be removed
    # is not captured again by this drain (the next one finds it a duplicate).
    if not remove(entry.path):
        failed.add(entry.path.name)
    return outcome == _CAPTURED


def _capture_run(run: list[Entry], failed: set[str], *, in_hook: bool) -> int:
    """Capture consecutive commit entries of one work tree and branch in one call; each on its
    own when that fails (so that one commit's problem is said of it, and holds up no other)."""
    if len(run) > 1:
        outcome = _attempt(run[0], _capture_together, run, in_hook=in_hook)
        if outcome is not None and outcome != _RETRY_ONE_BY_ONE:
            return sum(_settle(entry, outcome, failed) for entry in run)
    return sum(
        _settle(entry, _attempt(entry, _capture, entry, in_hook=in_hook), failed) for entry in run
    )


_RETRY_ONE_BY_ONE = "one by one"


def _capture_together(run: list[Entry], *, in_hook: bool) -> str:
    from kitty_hooks.capture.commits import (
        CLI_BUSY_TIMEOUT_MS,
        HOOK_BUSY_TIMEOUT_MS,
        NotQueued,
        capture_commits,
        describe,
    )
    from kitty_hooks.errors import FatalError
    from kitty_hooks.gitrepo import command as git_command

    label = f"{run[0].sha[:12]}..{run[-1].sha[:12]}"
    with git_command.without_repo_env():
        where = work_tree_for(run[0])
        if where is None:
            return _RETRY_ONE_BY_ONE  # each says how to recover it
        cwd, made_elsewhere = where
        try:
            result = capture_commits(
                cwd,
                [entry.sha for entry in run],
                head_ref=run[0].head_ref,
                busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS if in_hook else CLI_BUSY_TIMEOUT_MS,
                execution_mode="worktree" if made_elsewhere else None,
            )
        except NotQueued as exc:
            problem = (
                f"not captured yet: {exc.queue_problem}, and the spool could not be written "
                f"either ({exc.spool_problem}); kept for the next commit, push or "
                "`kitty-hooks status`"
            )
            log_line(f"journal: {label}: {problem}")
            _add_note(run[0].sha[:12], problem, once=True)
            return _KEPT
        except FatalError as exc:
            log_line(f"journal: {label}: {exc}; capturing them one by one")
            return _RETRY_ONE_BY_ONE
    note = describe(result, "post-commit")
    if note is not None:
        log_line(f"journal: {label}: {note}")
        _add_note(label, note)
    return _CAPTURED


def _capture(entry: Entry, *, in_hook: bool) -> str:
    """Capture one commit entry; what became of it."""
    from kitty_hooks.capture.commits import (
        CLI_BUSY_TIMEOUT_MS,
        HOOK_BUSY_TIMEOUT_MS,
        NotQueued,
        capture_commit,
        describe,
    )
    from kitty_hooks.errors import FatalError
    from kitty_hooks.gitrepo import command as git_command
    from kitty_hooks.gitrepo import repo as git_repo

    short = entry.sha[:12]
    # The drainer captures for every repository: git must find each from its work tree, not
    # from the GIT_DIR that the git which ran one of the hooks exported.
    with git_command.without_repo_env():
        where = work_tree_for(entry)
        while True:
            if where is None:
                # The work tree is gone and the repository with it (or the entry does not say
                # where that is): nothing to run git in. A scan from the repository queues it.
                hint = (
                    f"not captured: its work tree {entry.worktree} is gone; run `kitty-hooks "
                    f"scan {entry.sha}^!` in the repository to queue its lane changes"
                )
                log_line(f"journal: {short}: {hint}")
                return _DONE if _add_note(short, hint) else _KEPT
            cwd, made_elsewhere = where
            try:
                # In the background it may wait for a busy queue as long as the command line
                # does; in a hook as long as a hook does (then it spools).
                result = capture_commit(
                    cwd,
                    rev=entry.sha,
                    head_ref=entry.head_ref,
                    busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS if in_hook else CLI_BUSY_TIMEOUT_MS,
                    execution_mode="worktree" if made_elsewhere else None,
                )
                break
            except NotQueued as exc:
                # Neither the queue nor the spool took it (a full disk, say): the entry is the
                # one copy left, so it stays, and the next drain tries again.
                problem = (
                    f"not captured yet: {exc.queue_problem}, and the spool could not be written "
                    f"either ({exc.spool_problem}); kept for the next commit, push or "
                    "`kitty-hooks status`"
                )
                log_line(f"journal: {short}: {problem}")
                _add_note(short, problem, once=True)
                return _KEPT
            except FatalError as exc:
                if not made_elsewhere:
                    try:
                        git_repo.repo_root(cwd)
                    except FatalError:
                        # Its folder is there but no repository any more: the repository's
                        # other work trees still have the commit.
                        where = elsewhere(entry)
                        continue
                # What the hook said of a condition that is not a bug (a commit git no longer
                # has, say); kept until that line is where the next hook shows it.
                log_line(f"journal: {short}: {exc}")
                return _DONE if _add_note(short, str(exc)) else _KEPT
    note = describe(result, "post-commit")
    if note is not None:
        log_line(f"journal: {short}: {note}")
        _add_note(short, note)
    return _CAPTURED


def _follow(entry: Entry, superseded: frozenset[str]) -> str:
    """Follow a rewrite post-rewrite left to the drainer, in its place in commit order."""
    from kitty_hooks.capture.commits import describe, follow_rewrite
    from kitty_hooks.errors import FatalError
    from kitty_hooks.gitrepo import command as git_command

    assert entry.rewritten is not None
    with git_command.without_repo_env():
        where = work_tree_for(entry)
        if where is None:
            log_line(
                f"journal: {entry.path.name}: the repository of work tree {entry.worktree} is "
                "gone; its rewrite is not followed"
            )
            return _DONE
        try:
            result = follow_rewrite(where[0], entry.rewritten, superseded=superseded)
        except FatalError as exc:
            log_line(f"journal: {entry.path.name}: {exc}")
            return _DONE if _add_note("rewrite", str(exc)) else _KEPT
    note = describe(result, "post-rewrite")
    if note is not None:
        log_line(f"journal: {entry.path.name}: {note}")
        _add_note("rewrite", note)
    return _CAPTURED


_NOTE_HEAD = "kitty-hooks: commit"
# The notes the next hook prints: a few lines; past this they are not searched for a repeat.
_MAX_NOTES_BYTES = 1 << 20


def _add_note(short_sha: str, text: str, *, once: bool = False) -> bool:
    """One line for the next hook shim to print (it renames the file, prints it, removes it);
    whether it is on disk. once: not again while the same line waits there."""
    line = f"{_NOTE_HEAD} {short_sha}: {text}\n"
    path = journal_dir() / NOTES
    try:
        if once:
            try:
                with open(path, encoding="utf-8", errors="replace") as notes:
                    if line in notes.read(_MAX_NOTES_BYTES):
                        return True
            except FileNotFoundError:
                pass
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())  # on a full disk the write may only fail here
    except OSError:
        return False  # it is in the log, if the log could be written
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
        while marker_pid(marker) != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        claim(marker)
    failed: set[str] = set()
    captured = 0
    try:
        while True:
            captured += drain(_failed=failed)
            if _more_within(linger, failed):
                # The marker still names us: shims started nobody meanwhile.
                time.sleep(GATHER_SECONDS)
                continue
            release(marker)
            if not _more_within(0.0, failed):
                break
            claim(marker)
    except Exception:
        log_exception("journal: drainer failed")
        return 1
    finally:
        release(marker)
    log_line(
        f"journal: drainer done, {plural(captured, 'commit')} captured"
        + (f", {len(failed)} kept after a failure" if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
