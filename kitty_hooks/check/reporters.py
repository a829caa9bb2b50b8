"""The view of a DiagnoseReport: text for a person, a JSON document for a program."""

from __future__ import annotations

from typing import Any

from kitty_hooks.check.results import DiagnoseReport
from kitty_hooks.views import View
from kitty_hooks.wording import plural


def summary_line(report: DiagnoseReport) -> str:
    events = report.event_count
    invalid = report.invalid_count
    warnings = len(report.problems) - report.error_count
    files = len(dict.fromkeys(report.files))
    text = f"checked {plural(files, 'file')}, {plural(events, 'event')}"
    if report.error_count == 0:
        text += ": all valid"
    else:
        found = [plural(invalid, "invalid event")] if invalid else []
        if report.head_lines_deleted:
            found.append(plural(report.head_lines_deleted, "line") + " of HEAD deleted")
        if report.head_lines_changed:
            found.append(plural(report.head_lines_changed, "line") + " of HEAD changed")
        found.append(plural(report.error_count, "problem"))
        text += ": " + ", ".join(found)
    if warnings:
        text += f" ({plural(warnings, 'warning')})"
    return text


def render_text(report: DiagnoseReport, *, verbose: bool = False) -> str:
    lines: list[str] = []
    for problem in report.problems:
        lines.extend(problem.render(verbose=verbose))
    lines.append(summary_line(report))
    return "\n".join(lines)


def diagnose_document(report: DiagnoseReport) -> dict[str, Any]:
    """The JSON report: it always carries every message."""
    invalid = report.invalid_count
    return {
        "valid": report.exit_code == 0,
        "summary": {
            "files": len(dict.fromkeys(report.files)),
            "events": report.event_count,
            "invalid_events": invalid,
            "errors": report.error_count,
            "warnings": len(report.problems) - report.error_count,
        },
        "results": [result._asdict() for result in report.results],
        "problems": [problem._asdict() for problem in report.problems],
    }


DIAGNOSE = View(text=render_text, document=diagnose_document)
