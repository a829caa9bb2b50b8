"""What each git hook does when its shim calls `kitty-hooks hook <name>`.

Reached from kitty_hooks.entry without importing click, because hooks run on every commit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from kitty_hooks.errors import FatalError
from kitty_hooks.locations import hooks_disabled, log_exception


def _pre_commit(args: list[str]) -> int:
    from kitty_hooks import gitrepo
    from kitty_hooks.gate import diagnose_staged
    from kitty_hooks.report import render_text

    del args
    report = diagnose_staged(gitrepo.repo_root(Path.cwd()))
    if report.problems:
        print(render_text(report), file=sys.stderr)
    if report.exit_code != 0:
        print(
            "kitty-hooks: commit blocked: fix the event lines above and stage them again "
            "(KITTY_HOOKS=0 or git commit --no-verify skips the check)",
            file=sys.stderr,
        )
    return report.exit_code


# The gate may block the commit; hooks added later that only observe must always exit 0.
HOOKS: dict[str, Callable[[list[str]], int]] = {"pre-commit": _pre_commit}
GATES = frozenset({"pre-commit"})


def run_hook(name: str, args: list[str]) -> int:
    if hooks_disabled():
        return 0
    hook = HOOKS[name]
    try:
        return hook(args)
    except FatalError as exc:
        log_exception(f"hook {name}: {exc}")
        print(f"kitty-hooks {name}: {exc}", file=sys.stderr)
        return exc.exit_code if name in GATES else 0
    except Exception as exc:  # a bug: one line here, the traceback in the log
        log = log_exception(f"hook {name} failed")
        print(
            f"kitty-hooks {name}: internal error ({type(exc).__name__}: {exc}); details in {log}",
            file=sys.stderr,
        )
        return 2 if name in GATES else 0
