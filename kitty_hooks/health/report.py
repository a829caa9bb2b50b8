"""What `kitty-hooks doctor` finds: one check a line, ok, warn or fail, and the report of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kitty_hooks.model.vocabulary import Vocabulary


class CheckStatus(Vocabulary):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    area: str
    """hooks | environment | credentials | server | queue | flush | version | senders | board"""
    subject: str
    status: CheckStatus
    message: str


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    def count(self, status: CheckStatus) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(CheckStatus.FAIL) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "summary": {s.value: self.count(s) for s in CheckStatus},
            "checks": [{**asdict(c), "status": c.status.value} for c in self.checks],
        }


CheckAdder = Callable[[str, CheckStatus, str], None]
"""add(subject, status, message): one check of an area."""


def adder(checks: list[Check], area: str) -> CheckAdder:
    def add(subject: str, status: CheckStatus, message: str) -> None:
        checks.append(Check(area, subject, status, message))

    return add
