"""A closed set of words: an enum whose members equal, and print as, the words they stand for."""

from __future__ import annotations

from enum import Enum


class Vocabulary(str, Enum):
    """The base of every enum whose values are printed, stored or sent as they are.

    A member is equal to its word ("pending" == Status.PENDING), so it is stored and compared as
    that word. And it prints as that word: Python 3.11 formats a str-mixin member as
    "Status.PENDING" in f-strings where 3.10 printed "pending"; a summary line, a log line or a
    stored category must read the same on both.
    """

    def __str__(self) -> str:
        return str.__str__(self)
