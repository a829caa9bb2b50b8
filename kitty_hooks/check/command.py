"""`kitty-hooks diagnose` without click: which of its four modes the options choose, the report
of that mode, and what the command prints."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from kitty_hooks.check.diagnose import diagnose_paths, discover
from kitty_hooks.check.envelopes import check_envelopes
from kitty_hooks.check.gate import blocked_hint, run_gate
from kitty_hooks.check.reporters import DIAGNOSE
from kitty_hooks.check.results import DiagnoseReport, Problem
from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.locations import hooks_disabled
from kitty_hooks.views import render


class DiagnoseOutput(NamedTuple):
    """What the command prints, in order ((text, to stderr) each), and its exit code."""

    messages: list[tuple[str, bool]]
    exit_code: int


def execute(
    paths: list[Path],
    *,
    staged: bool,
    check_queue: bool,
    output_format: str,
    verbose: bool,
    cwd: Path,
) -> DiagnoseOutput:
    """--queue: the queued events; --staged: what the gate checks; paths: those files; none:
    every event file of the repository (or of cwd, outside one)."""
    messages: list[tuple[str, bool]] = []
    keep_valid = output_format == "json"
    if check_queue:
        report = _queued_events_report()
    elif staged:
        if hooks_disabled():  # KITTY_HOOKS=0 skips the gate under the pre-commit framework too
            return DiagnoseOutput([], 0)
        report = run_gate(cwd, paths or None)
    elif paths:
        report = diagnose_paths(paths, keep_valid=keep_valid)
    else:
        root = _repo_root_or(cwd)
        found = discover(root)
        if not found and output_format == "text":
            messages.append((f"no status logs or WP files found under {root}", False))
        report = diagnose_paths(found, display_root=root, keep_valid=keep_valid)
    output = render(DIAGNOSE, report, output_format, verbose=verbose)
    blocked = staged and output_format == "text" and report.exit_code != 0
    messages.append((output, blocked))
    if blocked:
        messages.append((blocked_hint(report), True))
    return DiagnoseOutput(messages, report.exit_code)


def _queued_events_report() -> DiagnoseReport:
    # Only here does the check wing read the queue: `diagnose --queue` checks what waits in it.
    from kitty_hooks.queue.store import EventQueue

    report = DiagnoseReport()
    with EventQueue() as queue:
        entries = queue.list_entries()
        if queue.recovered_from is not None:
            report.add(
                Problem(
                    str(queue.path),
                    None,
                    (
                        f"the queue file was unreadable and was moved to {queue.recovered_from}; "
                        "a new one was started",
                    ),
                    severity="warning",
                )
            )
        check_envelopes(str(queue.path), [(e.id, e.envelope) for e in entries], report)
    return report


def _repo_root_or(cwd: Path) -> Path:
    try:
        return git_repo.repo_root(cwd)
    except FatalError:
        return cwd
