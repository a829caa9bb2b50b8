"""`kitty-hooks diagnose`: the check wing's validation, from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kitty_hooks.cli.options import examples, format_option


@click.command(
    epilog=examples(
        "kitty-hooks diagnose                       # the whole repository",
        "kitty-hooks diagnose --staged -v           # what the pre-commit gate checks",
    )
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--staged",
    is_flag=True,
    help="Check what is staged for commit, as the pre-commit gate does: "
    "only lines appended to a status log since HEAD, and no existing line changed.",
)
@click.option(
    "--queue",
    "check_queue",
    is_flag=True,
    help="Check the events waiting in the local queue (the line is the queue entry id).",
)
@format_option
@click.option(
    "-v", "--verbose", is_flag=True, help="Show every error of an event, not only the best match."
)
def diagnose(
    paths: tuple[Path, ...], staged: bool, check_queue: bool, output_format: str, verbose: bool
) -> None:
    """Validate status logs, event JSON files and WP frontmatter against the schemas.

    With no PATH, checks every kitty-specs/*/status.events.jsonl and WP file of the repository.
    Exit 0 when all is valid, 1 when anything is invalid, 2 on a usage or I/O error.
    """
    from kitty_hooks.check.command import execute

    if check_queue and (staged or paths):
        raise click.UsageError("--queue checks the queue: give it no PATH and no --staged")
    if check_queue:
        from kitty_hooks.capture import journal

        journal.drain()  # the commits whose capture is still running in the background
    done = execute(
        list(paths),
        staged=staged,
        check_queue=check_queue,
        output_format=output_format,
        verbose=verbose,
        cwd=Path.cwd(),
    )
    for text, to_stderr in done.messages:
        click.echo(text, err=to_stderr)
    sys.exit(done.exit_code)
