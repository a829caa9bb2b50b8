"""The local peer from the command line: serve (the ingest server) and demo (the whole loop)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kitty_hooks.cli.options import examples


@click.command(
    epilog=examples(
        "KITTY_HOOKS_SERVE_USER=ada:secret kitty-hooks serve --port 8765",
        "kitty-hooks serve --user-file accounts.txt --db events.db",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to keep received events.",
)
@click.option(
    "--user-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Accounts who may log in, one NAME:PASSWORD a line (# comments allowed).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:PASSWORD",
    help="An account who may log in (repeatable). Every local user can read it in the process "
    "list: prefer KITTY_HOOKS_SERVE_USER or --user-file.",
)
def serve(
    host: str, port: int, db_path: Path | None, user_file: Path | None, users: tuple[str, ...]
) -> None:
    """Run the local ingest server: the SaaS batch contract on loopback (for the demo and tests).

    Accounts come from KITTY_HOOKS_SERVE_USER=NAME:PASSWORD, --user-file and --user together;
    at least one is needed. Passwords given with --user show in the process list (ps).
    """
    from kitty_hooks.peer.serve import run_server

    sys.exit(run_server(host, port, db_path, user_flags=users, user_file=user_file))


@click.command(epilog=examples("kitty-hooks demo", "kitty-hooks demo --keep"))
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary directory to look around afterwards (it prints how to).",
)
def demo(keep: bool) -> None:
    """The whole loop in a temporary directory: commits move WPs, a push sends the events."""
    from kitty_hooks.peer.demo import run_demo

    sys.exit(run_demo(keep=keep, say=click.echo))
