"""What a check finds: a Problem for a person, a DiagnoseResult per event, and the report of both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from kitty_hooks.check.validation import SchemaViolation

Severity = Literal["error", "warning"]


# NamedTuple and a plain class, not dataclasses: the pre-commit gate cannot afford their import
# (inspect, ast: ~7 ms of every gate run), as model.events says for the post-commit hook.
class Problem(NamedTuple):
    """One thing wrong, as one line for a person."""

    path: str
    line: int | None
    messages: tuple[str, ...]
    event_id: str | None = None
    severity: Severity = "error"

    def render(self, *, verbose: bool = False) -> list[str]:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.event_id is not None:
            where += f": event {self.event_id}"
        prefix = "" if self.severity == "error" else "warning: "
        if verbose or len(self.messages) == 1:
            return [f"{where}: {prefix}{message}" for message in self.messages]
        more = len(self.messages) - 1
        return [f"{where}: {prefix}{self.messages[0]} (+{more} more, -v shows all)"]


class DiagnoseResult(NamedTuple):
    """The verdict on one event (a log line or an envelope)."""

    path: str
    line: int | None
    event_id: str | None
    event_type: str | None
    valid: bool
    errors: tuple[str, ...] = ()


class DiagnoseReport:
    """What was checked. Invalid events are always kept in results; valid ones only with
    keep_valid (the JSON report lists every event): a 100,000-line log need not hold 100,000
    objects to say it is valid."""

    def __init__(self, *, keep_valid: bool = True) -> None:
        self.results: list[DiagnoseResult] = []
        self.problems: list[Problem] = []
        self.files: list[str] = []
        self.unreadable: list[str] = []
        self.keep_valid = keep_valid
        self.event_count = 0
        self.invalid_count = 0
        # The gate's append-only check: lines of HEAD a log lost, and the problems saying so.
        self.head_lines_deleted = 0
        self.head_lines_changed = 0
        self.append_only_problems = 0

    def add_result(self, result: DiagnoseResult) -> None:
        self.event_count += 1
        if not result.valid:
            self.invalid_count += 1
            self.results.append(result)
        elif self.keep_valid:
            self.results.append(result)

    @property
    def error_count(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return 2
        return 1 if self.error_count else 0

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)


def add_bad_line(report: DiagnoseReport, label: str, line: int, message: str) -> None:
    """A line or item that is no event at all: a problem, and an invalid result of no type."""
    report.add(Problem(label, line, (message,)))
    report.add_result(DiagnoseResult(label, line, None, None, False, (message,)))


def add_invalid_event(
    report: DiagnoseReport,
    label: str,
    line: int | None,
    event_id: str | None,
    event_type: str | None,
    violations: list[SchemaViolation],
) -> None:
    messages = tuple(v.render() for v in violations) or ("invalid (no further detail)",)
    report.add(Problem(label, line, messages, event_id=event_id or "?"))
    report.add_result(DiagnoseResult(label, line, event_id, event_type, False, messages))
