"""`kitty-hooks doctor`: is this installation healthy? One check a line: ok, warn or fail.

Read-only, except what opening the queue always does (a corrupt file is moved aside, an older
queue's schema brought up to date, as every command does). A failure is what loses or blocks events: a hook that does not run ours, an
interpreter gone, credentials that cannot be used, a queue that cannot be read. A warning is
what someone should look at: dead letters, a backoff, a shim older than the package.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.cli.doctor_hooks import environment_checks, hook_checks, version_checks
from kitty_hooks.cli.doctor_report import Check, DoctorReport
from kitty_hooks.cli.doctor_state import (
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
    return DoctorReport(tuple(checks))
