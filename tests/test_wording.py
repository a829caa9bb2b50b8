"""Counts and ages said the same way in every report (kitty_hooks/wording.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kitty_hooks.wording import age_text, plural


@pytest.mark.parametrize(
    ("count", "said"), [(0, "0 events"), (1, "1 event"), (2, "2 events"), (1234, "1,234 events")]
)
def test_a_count_takes_its_noun_in_the_number_it_needs(count: int, said: str) -> None:
    assert plural(count, "event") == said


def test_an_irregular_plural_is_given_whole() -> None:
    assert plural(1, "file or line", "files or lines") == "1 file or line"
    assert plural(3, "file or line", "files or lines") == "3 files or lines"
    assert plural(2, "try", "tries") == "2 tries"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(None, "-"), (0, "0s"), (45.9, "45s"), (60, "1m"), (3 * 3600 + 5 * 60, "3h 5m"),
     (2 * 86400 + 4 * 3600 + 59, "2d 4h")],
)  # fmt: skip
def test_an_age_is_said_in_its_largest_units(seconds: float | None, said: str) -> None:
    assert age_text(seconds) == said


# `f"{n} file{'s' if n != 1 else ''}"`: a plural written by hand, which forgets the thousands
# separator and reads differently from every other count.
HAND_PLURAL = re.compile(r"""\{\s*['"](s|es)['"] if [^}]*(!= 1|> 1|== 1)""")


def test_no_plural_is_written_by_hand() -> None:
    package = Path(__file__).resolve().parent.parent / "kitty_hooks"
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HAND_PLURAL.search(line)
    ]
    assert found == []
