"""The git hooks from the command line: install, uninstall, doctor, and hook (what the shims call)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kitty_hooks.cli.options import examples, format_option, quiet_option
from kitty_hooks.errors import FatalError
from kitty_hooks.githooks.install import HOOK_IDS

_hook_type_option = click.option(
    "-t",
    "--hook-type",
    "hook_types",
    type=click.Choice(list(HOOK_IDS)),
    multiple=True,
    help="Only this hook (repeatable); default: all of them.",
)


@click.command(
    epilog=examples("kitty-hooks install", "kitty-hooks install -t post-commit -t pre-push")
)
@_hook_type_option
@quiet_option
def install(hook_types: tuple[str, ...], quiet: bool) -> None:
    """Install the git hooks in this repository (idempotent; existing hooks are kept and run first)."""
    from kitty_hooks.cli.hooks_view import report_lines
    from kitty_hooks.githooks.install import DEFAULT_HOOK_TYPES, install_hooks

    report = install_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    if not quiet:
        click.echo("\n".join(report_lines(report)))


@click.command(epilog=examples("kitty-hooks uninstall", "kitty-hooks uninstall -t pre-push"))
@_hook_type_option
@quiet_option
def uninstall(hook_types: tuple[str, ...], quiet: bool) -> None:
    """Remove the git hooks and put back the ones that were there before."""
    from kitty_hooks.cli.hooks_view import report_lines
    from kitty_hooks.githooks.install import DEFAULT_HOOK_TYPES, uninstall_hooks

    report = uninstall_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    if not quiet:
        click.echo("\n".join(report_lines(report)))


@click.command(
    epilog=examples(
        "kitty-hooks doctor",
        "kitty-hooks doctor --check --format json   # also ask the server with your token",
    )
)
@click.option("--check", is_flag=True, help="Also probe the server with your own token.")
@format_option
@quiet_option
def doctor(check: bool, output_format: str, quiet: bool) -> None:
    """Is the installation healthy? Hooks, PATH, credentials, queue, last flush, versions.

    One line per check: ok, warn or fail. Exit 1 when any check fails.
    """
    from kitty_hooks.cli.hooks_view import DOCTOR
    from kitty_hooks.health.doctor import run_doctor
    from kitty_hooks.views import render

    report = run_doctor(Path.cwd(), check_server=check)
    output = render(DOCTOR, report, output_format, quiet=quiet)
    if output:
        click.echo(output)
    sys.exit(report.exit_code)


@click.command(
    "hook",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="Run the work of git hook NAME (what the installed hook scripts call).\n\n"
    f"NAME is one of: {', '.join(HOOK_IDS)}. ARGS are what git passes the hook.",
    epilog=examples(
        "kitty-hooks hook post-commit             # capture HEAD's lane changes by hand",
        "KITTY_HOOKS=0 git commit ...             # every hook of ours does nothing",
    ),
)
@click.argument("name", metavar="NAME")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    # entry.main runs a hook it knows before click is even imported; this command is what
    # gives `hook` its --help and the error for a NAME that is no hook of ours.
    from kitty_hooks.githooks.run import HOOKS, run_hook

    if name not in HOOKS:
        raise FatalError(f"no such hook: {name} (kitty-hooks has: {', '.join(sorted(HOOKS))})")
    sys.exit(run_hook(name, list(args)))
