"""How install, uninstall and doctor render their results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitty_hooks.cli.terminal import Tone, paint
from kitty_hooks.githooks.install import Outcome, legacy_path
from kitty_hooks.health.report import CheckStatus
from kitty_hooks.views import View
from kitty_hooks.wording import plural

if TYPE_CHECKING:
    from kitty_hooks.githooks.install import InstallReport
    from kitty_hooks.health.report import DoctorReport


def report_lines(report: InstallReport) -> list[str]:
    """What install and uninstall print: the note, then one line per hook."""
    lines = [report.note] if report.note else []
    for item in report.outcomes:
        legacy = legacy_path(item.path).name
        what = {
            Outcome.INSTALLED: f"installed {item.path}",
            Outcome.CHAINED: f"installed {item.path}; the hook that was there runs first, kept as {legacy}",
            Outcome.GUARD_CHAINED: f"installed {item.path}; spec-kitty's commit guard that was "
            f"there runs first, kept as {item.kept_as.name if item.kept_as else legacy}",
            Outcome.ALREADY_INSTALLED: "already installed",
            Outcome.UPDATED: f"updated {item.path}",
            Outcome.REMOVED: f"removed {item.path}",
            Outcome.RESTORED: f"removed; the hook that was there is back from {legacy}",
            Outcome.NOTHING_TO_DO: "not installed, nothing to do",
        }[item.outcome]
        lines.append(f"{item.hook}: {what}")
    return lines


# --- doctor ------------------------------------------------------------------------------------

_CHECK_TONES = {CheckStatus.OK: Tone.OK, CheckStatus.WARN: Tone.WARN, CheckStatus.FAIL: Tone.FAIL}


def _doctor_text(report: DoctorReport, *, quiet: bool = False) -> str:
    """One line per check (-q: warnings and failures only), then the count."""
    lines = []
    for check in report.checks:
        if quiet and check.status is CheckStatus.OK:
            continue
        label = paint(f"{check.status.value:<4}", _CHECK_TONES[check.status])
        lines.append(f"{label}  {check.area}: {check.subject}: {check.message}")
    counts = {status: report.count(status) for status in CheckStatus}
    warnings, failures = counts[CheckStatus.WARN], counts[CheckStatus.FAIL]
    if not quiet or warnings or failures:
        tally = (
            f"{counts[CheckStatus.OK]} ok, {plural(warnings, 'warning')}, "
            f"{plural(failures, 'failure')}"
        )
        worst = CheckStatus.FAIL if failures else CheckStatus.WARN if warnings else CheckStatus.OK
        lines.append(paint(f"doctor: {tally}", _CHECK_TONES[worst]))
    return "\n".join(lines)


def _doctor_document(report: DoctorReport) -> dict[str, Any]:
    return report.as_dict()  # a program gets every check, -q or not


DOCTOR = View(text=_doctor_text, document=_doctor_document)
