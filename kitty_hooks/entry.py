"""The `kitty-hooks` console script.

`kitty-hooks hook <name>` is what git runs on every commit and push, so it is dispatched here
before click (~20 ms of imports) is loaded; everything else goes to the click command line.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["hook", "pre-commit"]:
        # A move commit's gate, found clean before anything heavy is imported (check/quick.py);
        # anything it is not sure of goes on to the careful gate below.
        from kitty_hooks.check.quick import commit_is_clean

        if commit_is_clean():
            return 0
    if len(args) >= 2 and args[0] == "hook":
        from kitty_hooks.githooks.run import HOOKS, run_hook

        if args[1] in HOOKS:
            return run_hook(args[1], args[2:])
    from kitty_hooks.cli.main import run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
