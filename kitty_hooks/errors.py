"""The one error type whose message is meant for the user."""

from __future__ import annotations


class FatalError(Exception):
    """A sentence for the user: what went wrong, where, and what to do.

    The command line prints it on one line and exits with ``exit_code``; any other exception is
    a bug and gets its traceback written to the log file instead of the terminal.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
