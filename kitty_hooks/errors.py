"""The one error type whose message is meant for the user, and the one way failures are told."""

from __future__ import annotations

import sys
from collections.abc import Callable


class FatalError(Exception):
    """A sentence for the user: what went wrong, where, and what to do.

    The command line prints it on one line and exits with ``exit_code``; any other exception is
    a bug and gets its traceback written to the log file instead of the terminal.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


BUG_EXIT_CODE = 2


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def report_failure(
    exc: Exception,
    *,
    speaker: str,
    bug_context: str,
    fatal_context: str | None = None,
    say: Callable[[str], None] = _to_stderr,
) -> int:
    """Tell the user what went wrong in one line; the exit code it calls for.

    The policy of every hook and command: a FatalError is its own sentence (and its exit code);
    anything else is a bug, named in one line, its traceback in the log under ``bug_context``.
    ``speaker`` starts the line (``kitty-hooks``, ``kitty-hooks post-commit``). With
    ``fatal_context``, a FatalError is logged too (a hook's terminal may be gone by then).
    """
    from kitty_hooks.locations import log_exception, log_line

    if isinstance(exc, FatalError):
        if fatal_context is not None:
            log_line(f"{fatal_context}: {exc}")  # a condition to report, not a bug: no traceback
        say(f"{speaker}: {exc}")
        return exc.exit_code
    log = log_exception(bug_context)
    say(f"{speaker}: internal error ({type(exc).__name__}: {exc}); details in {log}")
    return BUG_EXIT_CODE
