"""The click command line: parse, call one function of a module, print. No logic lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kitty_hooks import __version__
from kitty_hooks.errors import FatalError
from kitty_hooks.install import HOOK_IDS
from kitty_hooks.locations import log_exception

if TYPE_CHECKING:
    from kitty_hooks.queue.store import EventQueue

FORMATS = click.Choice(["text", "json"])


def _examples(*lines: str) -> str:
    """An epilog that click prints as it is (\\b stops it from rewrapping the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


class _Group(click.Group):
    """Lists every command with its whole first sentence: click cuts them at 45 characters
    with `...`, which hid what half the commands do."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _set_color(ctx: click.Context, _param: click.Parameter, value: str) -> None:
    # click strips ANSI codes when ctx.color is False, or is None and the output is no terminal.
    # NO_COLOR (no-color.org): any non-empty value turns colour off unless --color always.
    if value == "always":
        ctx.color = True
    elif value == "never" or os.environ.get("NO_COLOR"):
        ctx.color = False


_quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Print only problems (nothing when all is well)."
)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog='Shell completion: eval "$(_KITTY_HOOKS_COMPLETE=bash_source kitty-hooks)" (see README).'
    "\n\n"
    + _examples(
        "kitty-hooks install && kitty-hooks doctor", "kitty-hooks queue list --format json"
    ),
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


@cli.command(
    epilog=_examples(
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
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
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


def _repo_root_or_cwd() -> Path:
    from kitty_hooks import gitrepo

    try:
        return gitrepo.repo_root(Path.cwd())
    except FatalError:
        return Path.cwd()


_HOOK_TYPES = click.Choice(list(HOOK_IDS))
_hook_type_option = click.option(
    "-t",
    "--hook-type",
    "hook_types",
    type=_HOOK_TYPES,
    multiple=True,
    help="Only this hook (repeatable); default: all of them.",
)


@cli.command(
    epilog=_examples("kitty-hooks install", "kitty-hooks install -t post-commit -t pre-push")
)
@_hook_type_option
@_quiet_option
def install(hook_types: tuple[str, ...], quiet: bool) -> None:
    """Install the git hooks in this repository (idempotent; existing hooks are kept and run first)."""
    from kitty_hooks.install import DEFAULT_HOOK_TYPES, install_hooks, report_lines

    report = install_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    if not quiet:
        click.echo("\n".join(report_lines(report)))


@cli.command(epilog=_examples("kitty-hooks uninstall", "kitty-hooks uninstall -t pre-push"))
@_hook_type_option
@_quiet_option
def uninstall(hook_types: tuple[str, ...], quiet: bool) -> None:
    """Remove the git hooks and put back the ones that were there before."""
    from kitty_hooks.install import DEFAULT_HOOK_TYPES, report_lines, uninstall_hooks

    report = uninstall_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    if not quiet:
        click.echo("\n".join(report_lines(report)))


@cli.command(
    epilog=_examples(
        "kitty-hooks doctor",
        "kitty-hooks doctor --check --format json   # also ask the server with your token",
    )
)
@click.option("--check", is_flag=True, help="Also probe the server with your own token.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
@_quiet_option
def doctor(check: bool, output_format: str, quiet: bool) -> None:
    """Is the installation healthy? Hooks, PATH, credentials, queue, last flush, versions.

    One line per check: ok, warn or fail. Exit 1 when any check fails.
    """
    from kitty_hooks.doctor import run_doctor
    from kitty_hooks.report import render_doctor

    report = run_doctor(Path.cwd(), check_server=check)
    output = render_doctor(report, output_format, quiet=quiet)
    if output:
        click.echo(output)
    sys.exit(report.exit_code)


@cli.command(
    epilog=_examples("kitty-hooks scan main~200..main", "kitty-hooks scan HEAD --format json")
)
@click.argument("revision_range")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
@_quiet_option
def scan(revision_range: str, output_format: str, quiet: bool) -> None:
    """Backfill: queue the lane changes of past commits in REVISION_RANGE.

    For example `main~200..main`, or `HEAD` for the whole history. Moves already queued or
    delivered are recognised by their event ids and not queued again. Exit 1 when some files
    or lines could not be read as lane changes, or moves were not queued because the server
    would refuse them (a feature folder that is no slug).
    """
    from kitty_hooks.capture.commits import scan as scan_range
    from kitty_hooks.report import render_capture

    if output_format == "text" and not quiet and sys.stderr.isatty():
        with click.progressbar(length=1, label="scanning", file=sys.stderr) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done)

            result = scan_range(Path.cwd(), revision_range, progress=advance)
    else:
        result = scan_range(Path.cwd(), revision_range)
    if not quiet or result.skipped or result.unsendable or output_format == "json":
        click.echo(render_capture(result, output_format))
    sys.exit(1 if result.skipped or result.unsendable else 0)


@cli.group(
    cls=_Group,
    epilog=_examples("kitty-hooks queue list", "kitty-hooks queue drop --orphaned --yes"),
)
def queue() -> None:
    """Look into the local event queue, and fix what is in it."""
    from kitty_hooks.capture import journal

    journal.drain()  # what the post-commit shim recorded is in the queue before we look


@queue.command(
    "list",
    epilog=_examples(
        "kitty-hooks queue list --status failed --status dead_letter",
        "kitty-hooks queue list --format json",
    ),
)
@click.option(
    "--status",
    "statuses",
    type=click.Choice(["pending", "failed", "dead_letter"]),
    multiple=True,
    help="Only entries with this status (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def queue_list(statuses: tuple[str, ...], limit: int | None, output_format: str) -> None:
    """The queued events, oldest first: status, retries, commit, last error.

    An event whose commit no ref of this repository reaches any more (after a `git reset
    --hard`, say) is marked orphaned.
    """
    from kitty_hooks.capture.orphans import list_queue
    from kitty_hooks.report import render_entries

    listing = list_queue(Path.cwd(), statuses=statuses or None, limit=limit)
    _warn_recovered(listing.recovered_from)
    click.echo(render_entries(listing, output_format))


@queue.command(
    "show",
    epilog=_examples(
        "kitty-hooks queue show 01JD3Q9Z   # a unique start of the id is enough",
        "kitty-hooks queue show 01JD3Q9Z6C8W4S0Y2X5V7T1R51 --format json",
    ),
)
@click.argument("event_id")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def queue_show(event_id: str, output_format: str) -> None:
    """One queued event: its queue fields and the whole envelope."""
    from kitty_hooks.report import render_entry

    with _open_queue() as event_queue:
        entry = event_queue.get(event_id)
    if entry is None:
        raise FatalError(
            f"no event {event_id} in the queue (kitty-hooks queue list shows them)", exit_code=1
        )
    click.echo(render_entry(entry, output_format))


@queue.command(
    "retry",
    epilog=_examples(
        "kitty-hooks queue retry 01JD3Q9Z6C8W4S0Y2X5V7T1R51", "kitty-hooks queue retry --all-dead"
    ),
)
@click.argument("event_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Every dead-letter event.")
def queue_retry(event_ids: tuple[str, ...], all_dead: bool) -> None:
    """Make failed or dead-letter events pending again (retry count back to 0)."""
    if bool(event_ids) == all_dead:
        raise click.UsageError("name EVENT_ID(s) or give --all-dead")
    with _open_queue() as event_queue:
        count = event_queue.retry(list(event_ids) or None, all_dead=all_dead)
    click.echo(f"{count} event{'s' if count != 1 else ''} pending again")


@queue.command("purge", epilog=_examples("kitty-hooks queue purge --dead"))
@click.option("--dead", is_flag=True, required=True, help="Remove the dead-letter events.")
def queue_purge(dead: bool) -> None:
    """Remove dead-letter events for good (their ids stay known, so a scan does not re-queue them)."""
    del dead
    with _open_queue() as event_queue:
        count = event_queue.purge_dead()
    click.echo(f"removed {count} dead-letter event{'s' if count != 1 else ''}")


@queue.command(
    "drop",
    epilog=_examples(
        "kitty-hooks queue drop 01JD3Q9Z6C8W4S0Y2X5V7T1R51",
        "kitty-hooks queue drop --orphaned --yes   # after a git reset --hard",
    ),
)
@click.argument("event_ids", nargs=-1)
@click.option(
    "--orphaned",
    is_flag=True,
    help="The pending and failed events whose commit no ref of this repository reaches.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before dropping orphaned events.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def queue_drop(event_ids: tuple[str, ...], orphaned: bool, yes: bool, output_format: str) -> None:
    """Remove pending or failed events so they are never sent.

    Named events stay known (a scan does not queue them again). Orphaned ones are forgotten:
    made again, the move is queued again. Exit 1 when a named event is not in the queue.
    """
    from kitty_hooks.capture.orphans import drop_events, drop_orphaned
    from kitty_hooks.queue.entries import QueueEntry
    from kitty_hooks.report import render_drop

    if bool(event_ids) == orphaned:
        raise click.UsageError("name EVENT_ID(s) or give --orphaned")
    if orphaned and not yes and not sys.stdin.isatty():
        raise click.UsageError("--orphaned asks before it drops: give --yes when not on a terminal")

    def confirm(doomed: list[QueueEntry]) -> bool:
        if yes:
            return True
        from kitty_hooks.capture.orphans import QueueListing
        from kitty_hooks.report import render_entries

        ids = frozenset(e.event_id for e in doomed)
        click.echo(render_entries(QueueListing(doomed, ids, ids), "text"))
        return click.confirm(f"Drop these {len(doomed)} events?", default=False)

    result = drop_orphaned(Path.cwd(), confirm=confirm) if orphaned else drop_events(event_ids)
    click.echo(render_drop(result, output_format))
    sys.exit(1 if result.not_found else 0)


def _warn_recovered(recovered_from: Path | None) -> None:
    if recovered_from is not None:
        click.echo(
            f"kitty-hooks: warning: the queue file was unreadable and was moved to "
            f"{recovered_from}; a new one was started",
            err=True,
        )


def _open_queue() -> EventQueue:
    """The queue, saying so on stderr when it had to be moved aside (an empty list would lie)."""
    from kitty_hooks.queue.store import EventQueue

    event_queue = EventQueue()
    _warn_recovered(event_queue.recovered_from)
    return event_queue


@cli.command(
    epilog=_examples("kitty-hooks log --limit 20", "kitty-hooks log --format json"),
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def log(limit: int, output_format: str) -> None:
    """What was delivered, newest first: when, and the server's verdict (success, duplicate).

    Kept for 90 days, at most 50,000 events (see docs/hooks.md).
    """
    from kitty_hooks.report import render_delivered

    with _open_queue() as event_queue:
        delivered = event_queue.delivered(limit=limit)
    click.echo(render_delivered(delivered, output_format))


@cli.command(
    epilog=_examples("kitty-hooks sync", "kitty-hooks sync --format json -q > sync.json"),
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the JSON summary, every failed event with its error, to this file.",
)
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
@_quiet_option
@click.option("-v", "--verbose", is_flag=True, help="List every failed event with its error.")
def sync(report_path: Path | None, output_format: str, quiet: bool, verbose: bool) -> None:
    """Send every queued event now, in the foreground.

    Exit 0 when everything was sent, 1 when anything failed or is still queued (it says why),
    2 when the credentials cannot be used.
    """
    from kitty_hooks.flush import flush
    from kitty_hooks.report import render_sync, sync_notes

    if report_path is not None and not report_path.resolve().parent.is_dir():
        # Said before the flush, not after it has sent everything.
        raise click.BadParameter(
            f"{report_path}: no such directory to write the report in", param_hint="--report"
        )
    if output_format == "text" and not quiet and sys.stderr.isatty():
        with click.progressbar(length=1, label="syncing", file=sys.stderr) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done)

            summary = flush(progress=advance)
    else:
        summary = flush()
    if report_path is not None:
        try:
            report_path.write_text(render_sync(summary, "json") + "\n", encoding="utf-8")
        except OSError as exc:
            click.echo(
                f"kitty-hooks: could not write the report to {report_path}: "
                f"{exc.strerror or exc} (the sync itself is done)",
                err=True,
            )
    if output_format == "json":
        click.echo(render_sync(summary, "json"))
    elif not quiet or summary.exit_code != 0:
        click.echo(render_sync(summary, "text", verbose=verbose))
    for note in sync_notes(summary):
        click.echo(f"kitty-hooks: {note}", err=True)
    sys.exit(summary.exit_code)


@cli.command(epilog=_examples("kitty-hooks status", "kitty-hooks status --check --format json"))
@click.option("--check", is_flag=True, help="Also probe the server with your own token.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def status(check: bool, output_format: str) -> None:
    """The queue, the last flush, the credentials, and with --check the server."""
    from kitty_hooks.report import render_status
    from kitty_hooks.status import gather_status

    report = gather_status(check=check)
    click.echo(render_status(report, output_format))
    sys.exit(report.exit_code)


@cli.command(
    epilog=_examples(
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


@cli.command(epilog=_examples("kitty-hooks demo", "kitty-hooks demo --keep"))
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary directory to look around afterwards (it prints how to).",
)
def demo(keep: bool) -> None:
    """The whole loop in a temporary directory: commits move WPs, a push sends the events."""
    from kitty_hooks.peer.demo import run_demo

    sys.exit(run_demo(keep=keep, say=click.echo))


@cli.command(
    "hook",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="Run the work of git hook NAME (what the installed hook scripts call).\n\n"
    f"NAME is one of: {', '.join(HOOK_IDS)}. ARGS are what git passes the hook.",
    epilog=_examples(
        "kitty-hooks hook post-commit             # capture HEAD's lane changes by hand",
        "KITTY_HOOKS=0 git commit ...             # every hook of ours does nothing",
    ),
)
@click.argument("name", metavar="NAME")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    from kitty_hooks.githooks import HOOKS, run_hook

    if name not in HOOKS:
        raise FatalError(f"no such hook: {name} (kitty-hooks has: {', '.join(sorted(HOOKS))})")
    sys.exit(run_hook(name, list(args)))


def run_cli(args: list[str]) -> int:
    """Run the command line; FatalError becomes one line, anything else is logged as a bug."""
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
    except FatalError as exc:
        click.echo(f"kitty-hooks: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        # The command name only: its arguments may hold a secret (serve --user NAME:PASSWORD).
        command = next((a for a in args if not a.startswith("-")), "")
        log = log_exception(f"command failed: kitty-hooks {command}")
        click.echo(
            f"kitty-hooks: internal error ({type(exc).__name__}: {exc}); details in {log}", err=True
        )
        return 2
    return 0
