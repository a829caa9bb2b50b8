"""What each git hook does when its shim calls `kitty-hooks hook <name>`.

Reached from kitty_hooks.entry without importing click, because hooks run on every commit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kitty_hooks.errors import FatalError, report_failure
from kitty_hooks.locations import hooks_disabled, log_line

if TYPE_CHECKING:
    from kitty_hooks.capture.commits import CaptureResult


def _pre_commit(args: list[str]) -> int:
    from kitty_hooks.check.gate import blocked_hint, run_gate
    from kitty_hooks.check.reporters import render_text

    del args
    report = run_gate(Path.cwd())
    if report.problems:
        print(render_text(report), file=sys.stderr)
    if report.exit_code != 0:
        print(blocked_hint(report), file=sys.stderr)
    return report.exit_code


def _post_commit(args: list[str]) -> int:
    from kitty_hooks.capture import journal
    from kitty_hooks.capture.commits import capture_commit

    del args
    # Captured now (the pre-commit framework's hook, or a shim that could not record it): the
    # commits recorded before it first, or its move would take an earlier Lamport clock. While
    # another drain holds them, it goes in the journal after them, without git waiting.
    if not journal.drain_unless_busy() and journal.record_commit(Path.cwd()):
        return 0
    journal.drain(in_hook=True)
    _warn_about(capture_commit(Path.cwd()), "post-commit")
    return 0


def _post_merge(args: list[str]) -> int:
    """`git merge` made a commit without post-commit: a merge commit is captured as one is."""
    from kitty_hooks.gitrepo.command import run_git

    try:
        run_git(Path.cwd(), "rev-parse", "-q", "--verify", "HEAD^2")
    except FatalError:
        return 0  # a fast-forward: its commits were captured where they were made
    return _post_commit(args)


def _post_rewrite(args: list[str]) -> int:
    """git passes "amend" or "rebase", and "<old> <new>" lines on stdin."""
    from kitty_hooks.capture import journal
    from kitty_hooks.capture.commits import follow_rewrite
    from kitty_hooks.gitrepo import history as git_history

    rewritten: dict[str, str] = {}
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    for line in stdin.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            rewritten[fields[0]] = fields[1]
    if not rewritten:
        # The pre-commit framework passes only the command, in its environment.
        command = args[0] if args else os.environ.get("PRE_COMMIT_REWRITE_COMMAND", "")
        rewritten = git_history.rewrites_since(Path.cwd(), command)
    # An amend runs post-commit, then post-rewrite: the commit the shim recorded must be
    # captured before its rewrite is followed, or the new commit's moves would be queued after
    # the tidying that was meant to replace the old commit's. While another drain holds the
    # journal (the drainer the amend's post-commit started, another repository's), the old
    # commits may still be in it, uncaptured: the rewrite goes in after them, and is followed
    # in its place, without git waiting. Only when it cannot be recorded does the hook wait.
    if journal.drain_unless_busy() or not rewritten:
        pass  # caught up, or nothing to follow: the busy drain captures the rest
    elif journal.defer_rewrite(Path.cwd(), rewritten):
        return 0
    else:
        journal.drain(in_hook=True)
    if rewritten:
        _warn_about(follow_rewrite(Path.cwd(), rewritten), "post-rewrite")
    return 0


def _warn_about(result: CaptureResult, hook: str) -> None:
    """At most one line on the terminal; the details go to the log."""
    from kitty_hooks.capture.commits import describe

    note = describe(result, hook)
    if note is not None:
        print(f"kitty-hooks: {note}", file=sys.stderr)


def _pre_push(args: list[str]) -> int:
    """Start the flush that runs once the push is over, and return at once."""
    from kitty_hooks.deliver.worker import start_after_push

    del args
    # git writes the refs being pushed to our stdin; read them all so git never sees a
    # broken pipe, though the flush does not need them.
    if sys.stdin is not None and not sys.stdin.isatty():
        sys.stdin.read()
    start_after_push()
    return 0


# The gate may block the commit; every other hook only observes and always exits 0.
HOOKS: dict[str, Callable[[list[str]], int]] = {
    "pre-commit": _pre_commit,
    "post-commit": _post_commit,
    "post-rewrite": _post_rewrite,
    "pre-push": _pre_push,
    "post-merge": _post_merge,
}
GATES = frozenset({"pre-commit"})


def run_hook(name: str, args: list[str]) -> int:
    if hooks_disabled():
        return 0
    code = _guarded(name, args)
    _refresh_shims_if_stale(name)
    return code


def _guarded(name: str, args: list[str]) -> int:
    """The hook's exit code; what fails it is told by errors.report_failure, and fails git only
    when the hook is a gate."""
    hook = HOOKS[name]
    try:
        return hook(args)
    except Exception as exc:
        code = report_failure(
            exc,
            speaker=f"kitty-hooks {name}",
            bug_context=f"hook {name} failed",
            fatal_context=f"hook {name}",
        )
        return code if name in GATES else 0


def _refresh_shims_if_stale(name: str) -> None:
    """After an upgrade of kitty-hooks, rewrite the shims an earlier release installed (found
    when one of them starts Python: it does not say this release's template in
    KITTY_HOOKS_SHIM), so nobody has to remember `kitty-hooks install`. Once per release, work
    tree and hook (a stamp in the state folder): a shim it must leave alone (another
    installation's, a v1 shim) does not pay for the look on every run. Never fails the hook."""
    if os.environ.get("PRE_COMMIT"):  # run by the pre-commit framework: no shim of ours
        return
    try:
        from kitty_hooks.assets import shim_template, shim_template_id

        expected = shim_template_id(shim_template())
        if os.environ.get("KITTY_HOOKS_SHIM") == expected:
            return
        import zlib

        from kitty_hooks.locations import state_dir

        tree = f"{zlib.crc32(os.fsencode(os.getcwd())):08x}"
        stamp = state_dir() / "shims-checked" / f"{tree}-{name}"
        if stamp.is_file() and stamp.read_text(encoding="utf-8", errors="replace") == expected:
            return
        from kitty_hooks.files import write_atomically
        from kitty_hooks.githooks.install import refresh_stale_shims

        try:
            directory, refreshed = refresh_stale_shims(Path.cwd())
        finally:  # looked, whatever came of it: a look that fails is not tried on every run
            with contextlib.suppress(OSError):
                stamp.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(stamp, expected.encode())
    except Exception as exc:  # FatalError (no repository, an unwritable folder) or a bug
        log_line(f"hook {name}: stale shims not updated: {type(exc).__name__}: {exc}")
        return
    if refreshed:
        from kitty_hooks.wording import plural  # only when shims were updated

        print(
            f"kitty-hooks: updated {plural(len(refreshed), 'hook')} ({', '.join(refreshed)}) in"
            f" {directory} to this release's shims",
            file=sys.stderr,
        )
