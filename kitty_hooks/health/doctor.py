"""`kitty-hooks doctor`: is this installation healthy? One check a line: ok, warn or fail.

Read-only, except what opening the queue always does (a corrupt file is moved aside, an older
queue's schema brought up to date, as every command does). A failure is what loses or blocks events: a hook that does not run ours, an
interpreter gone, credentials that cannot be used, a queue that cannot be read. A warning is
what someone should look at: dead letters, a backoff, a shim older than the package.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.health.hook_checks import environment_checks, hook_checks, version_checks
from kitty_hooks.health.report import Check, CheckStatus, DoctorReport
from kitty_hooks.health.state_checks import (
    credential_checks,
    flush_checks,
    journal_checks,
    queue_checks,
    sender_checks,
)


def run_doctor(cwd: Path, *, check_server: bool = False) -> DoctorReport:
    now = datetime.now(timezone.utc)
    checks: list[Check] = []
    states = hook_checks(cwd, checks)
    environment_checks(states, checks)
    version_checks(states, checks)
    credential_checks(now, check_server, checks)
    queue_checks(cwd, now, checks)
    journal_checks(now, checks)
    flush_checks(checks)
    sender_checks(cwd, checks)
    board_checks(cwd, checks)
    return DoctorReport(tuple(checks))


def board_checks(cwd: Path, checks: list[Check]) -> None:
    """Does the dashboard (what this machine sent) show what spec-kitty shows at HEAD?"""
    from kitty_hooks.capture.board import read_board
    from kitty_hooks.errors import FatalError
    from kitty_hooks.queue.errors import QueueError
    from kitty_hooks.wording import plural

    try:
        board = read_board(cwd)
    except (FatalError, QueueError):
        return  # not in a repository, no commit yet, or the queue check above says why
    total = len(board.rows) - len(board.elsewhere)
    if not total:
        return
    wrong = len(board.disagreements)
    if wrong:
        message = (
            f"{wrong:,} of {plural(total, 'work package')} at HEAD not on the dashboard as "
            "spec-kitty shows them: `kitty-hooks board` lists them"
        )
        checks.append(Check("board", "lanes", CheckStatus.WARN, message))
    else:
        message = f"{plural(total, 'work package')} at HEAD, each as spec-kitty shows it"
        checks.append(Check("board", "lanes", CheckStatus.OK, message))
