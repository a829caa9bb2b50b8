"""The click command line: the group, its global options, and its exit codes.

Each command lives in the module of its group (diagnose, hooks, queue, sync, peer), parses, calls
one function of a module that knows nothing of click, and prints what a *_view module renders.
"""

from __future__ import annotations

import os

import click

from kitty_hooks import __version__
from kitty_hooks.cli.options import Group, examples
from kitty_hooks.errors import report_failure


def _set_color(ctx: click.Context, _param: click.Parameter, value: str) -> None:
    # click strips ANSI codes when ctx.color is False, or is None and the output is no terminal.
    # NO_COLOR (no-color.org): any non-empty value turns colour off unless --color always.
    if value == "always":
        ctx.color = True
    elif value == "never" or os.environ.get("NO_COLOR"):
        ctx.color = False


# Each command's module, imported when the command is asked for.
_COMMANDS = {
    "diagnose": "kitty_hooks.cli.diagnose:diagnose",
    "install": "kitty_hooks.cli.hooks:install",
    "uninstall": "kitty_hooks.cli.hooks:uninstall",
    "doctor": "kitty_hooks.cli.hooks:doctor",
    "scan": "kitty_hooks.cli.sync:scan",
    "board": "kitty_hooks.cli.sync:board",
    "queue": "kitty_hooks.cli.queue:queue",
    "log": "kitty_hooks.cli.queue:log",
    "sync": "kitty_hooks.cli.sync:sync",
    "status": "kitty_hooks.cli.sync:status",
    "login": "kitty_hooks.cli.login:login",
    "serve": "kitty_hooks.cli.peer:serve",
    "demo": "kitty_hooks.cli.peer:demo",
    "hook": "kitty_hooks.cli.hooks:hook",
}


@click.group(
    cls=Group,
    lazy=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog='Shell completion: eval "$(_KITTY_HOOKS_COMPLETE=bash_source kitty-hooks)" (see README).'
    "\n\n"
    + examples("kitty-hooks install && kitty-hooks doctor", "kitty-hooks queue list --format json"),
)
@click.version_option(__version__, prog_name="kitty-hooks")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    expose_value=False,
    is_eager=True,
    callback=_set_color,
    help="Colour the output: auto means on a terminal unless NO_COLOR is set.",
)
def cli() -> None:
    """Git hooks that turn spec-kitty work-package lane changes into synced events.

    Exit codes of every command: 0 all is well, 1 a problem found, 2 a usage or environment error.
    """


def run_cli(args: list[str]) -> int:
    """Run the command line; what fails it is told by errors.report_failure."""
    try:
        return _run_click(args)
    except Exception as exc:
        # The command name only: its arguments may hold a secret (serve --user NAME:PASSWORD).
        command = next((a for a in args if not a.startswith("-")), "")
        return report_failure(
            exc,
            speaker="kitty-hooks",
            bug_context=f"command failed: kitty-hooks {command}",
            say=lambda line: click.echo(line, err=True),
        )


def _run_click(args: list[str]) -> int:
    """click's own endings (its usage errors, an abort, a command's sys.exit) as exit codes."""
    try:
        cli.main(args, prog_name="kitty-hooks", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except click.exceptions.Abort:
        click.echo("kitty-hooks: aborted", err=True)
        return 2
    except click.ClickException as exc:
        exc.show()
        return 2
    return 0
