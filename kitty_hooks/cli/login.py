"""`kitty-hooks login`: tokens from the server's token endpoint into the credentials file."""

from __future__ import annotations

import sys

import click

from kitty_hooks.cli.options import examples
from kitty_hooks.errors import FatalError


@click.command(
    epilog=examples(
        "kitty-hooks login --server https://sync.example.com --username ada",
        "printf '%s\\n' \"$PASSWORD\" | kitty-hooks login --username ada --password-stdin",
    )
)
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    help="The sync server (https://, or http:// on loopback). Default: the one logged in to "
    "last, else spec-kitty's own (~/.spec-kitty/config.toml [sync] server_url).",
)
@click.option("--username", help="Asked for when not given.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (for scripts) instead of asking.",
)
def login(server_url: str | None, username: str | None, password_stdin: bool) -> None:
    """Log in to the sync server and write the tokens to ~/.spec-kitty/credentials.

    Works whichever spec-kitty you run (3.x logs in elsewhere and writes no sync tokens there).
    The file is written as spec-kitty 2.1.3 reads it; its other sections (3.x's [tracker.*])
    are kept. The password is never taken on the command line: it is asked for without echo,
    or read from stdin with --password-stdin.
    """
    from kitty_hooks.deliver import login as logic

    url = server_url or logic.known_server()
    if not url:
        raise FatalError(
            "which server? give --server URL (neither the credentials nor spec-kitty's "
            "config.toml name one)"
        )
    if not username:
        if password_stdin or not sys.stdin.isatty():
            raise FatalError("give --username NAME (stdin is not a terminal to ask on)")
        username = click.prompt("Username", err=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise FatalError("--password-stdin: stdin held no password (an empty first line)")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, err=True)
    else:
        raise FatalError("stdin is not a terminal to ask for the password on: use --password-stdin")
    creds = logic.log_in(url, username, password)
    until = creds.refresh_expires.isoformat(timespec="seconds") if creds.refresh_expires else "?"
    click.echo(
        f"Logged in as {creds.username} on {creds.server_url}; tokens in {creds.path} "
        f"(session until {until})."
    )
