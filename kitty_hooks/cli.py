"""The click command line: parse, call one function of a module, print. No logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kitty_hooks import __version__
from kitty_hooks.errors import FatalError
from kitty_hooks.locations import hooks_disabled, log_exception

if TYPE_CHECKING:
    from kitty_hooks.queue import EventQueue

FORMATS = click.Choice(["text", "json"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kitty-hooks")
def cli() -> None:
    """Git hooks that turn spec-kitty work-package lane changes into synced events."""


@cli.command()
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
    from kitty_hooks import diagnose as checks
    from kitty_hooks.gate import BLOCKED_HINT, run_gate
    from kitty_hooks.report import REPORTERS

    if check_queue and (staged or paths):
        raise click.UsageError("--queue checks the queue: give it no PATH and no --staged")
    if check_queue:
        from kitty_hooks.queue import EventQueue

        report = checks.DiagnoseReport()
        with EventQueue() as queue:
            entries = queue.list_entries()
            checks.check_envelopes(str(queue.path), [(e.id, e.envelope) for e in entries], report)
    elif staged:
        if hooks_disabled():  # KITTY_HOOKS=0 skips the gate under the pre-commit framework too
            return
        report = run_gate(Path.cwd(), list(paths) or None)
    elif paths:
        report = checks.diagnose_paths(list(paths), keep_valid=output_format == "json")
    else:
        root = _repo_root_or_cwd()
        found = checks.discover(root)
        if not found and output_format == "text":
            click.echo(f"no status logs or WP files found under {root}")
        report = checks.diagnose_paths(found, display_root=root, keep_valid=output_format == "json")
    output = REPORTERS[output_format](report, verbose=verbose)
    blocked = staged and output_format == "text" and report.exit_code != 0
    click.echo(output, err=blocked)
    if blocked:
        click.echo(BLOCKED_HINT, err=True)
    sys.exit(report.exit_code)


def _repo_root_or_cwd() -> Path:
    from kitty_hooks import gitrepo

    try:
        return gitrepo.repo_root(Path.cwd())
    except FatalError:
        return Path.cwd()


_HOOK_TYPES = click.Choice(["pre-commit", "post-commit", "post-rewrite", "pre-push"])
_hook_type_option = click.option(
    "-t",
    "--hook-type",
    "hook_types",
    type=_HOOK_TYPES,
    multiple=True,
    help="Only this hook (repeatable); default: all of them.",
)


@cli.command()
@_hook_type_option
def install(hook_types: tuple[str, ...]) -> None:
    """Install the git hooks in this repository (idempotent; existing hooks are kept and run first)."""
    from kitty_hooks.install import DEFAULT_HOOK_TYPES, install_hooks, report_lines

    report = install_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    click.echo("\n".join(report_lines(report)))


@cli.command()
@_hook_type_option
def uninstall(hook_types: tuple[str, ...]) -> None:
    """Remove the git hooks and put back the ones that were there before."""
    from kitty_hooks.install import DEFAULT_HOOK_TYPES, report_lines, uninstall_hooks

    report = uninstall_hooks(Path.cwd(), hook_types or DEFAULT_HOOK_TYPES)
    click.echo("\n".join(report_lines(report)))


@cli.command()
@click.argument("revision_range")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def scan(revision_range: str, output_format: str) -> None:
    """Backfill: queue the lane changes of past commits in REVISION_RANGE.

    For example `main~200..main`, or `HEAD` for the whole history. Moves already queued or
    delivered are recognised by their event ids and not queued again. Exit 1 when some files
    or lines could not be read as lane changes, or moves were not queued because the server
    would refuse them (a feature folder that is no slug).
    """
    from kitty_hooks.capture import scan as scan_range
    from kitty_hooks.report import render_capture

    if output_format == "text" and sys.stderr.isatty():
        with click.progressbar(length=1, label="scanning", file=sys.stderr) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done)

            result = scan_range(Path.cwd(), revision_range, progress=advance)
    else:
        result = scan_range(Path.cwd(), revision_range)
    click.echo(render_capture(result, output_format))
    sys.exit(1 if result.skipped or result.unsendable else 0)


@cli.group()
def queue() -> None:
    """Look into the local event queue."""


@queue.command("list")
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
    """The queued events, oldest first, with their status, retries and last error."""
    from kitty_hooks.report import render_entries

    with _open_queue() as event_queue:
        entries = event_queue.list_entries(statuses=statuses or None, limit=limit)
    click.echo(render_entries(entries, output_format))


@queue.command("show")
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


@queue.command("retry")
@click.argument("event_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Every dead-letter event.")
def queue_retry(event_ids: tuple[str, ...], all_dead: bool) -> None:
    """Make failed or dead-letter events pending again (retry count back to 0)."""
    if bool(event_ids) == all_dead:
        raise click.UsageError("name EVENT_ID(s) or give --all-dead")
    with _open_queue() as event_queue:
        count = event_queue.retry(list(event_ids) or None, all_dead=all_dead)
    click.echo(f"{count} event{'s' if count != 1 else ''} pending again")


@queue.command("purge")
@click.option("--dead", is_flag=True, required=True, help="Remove the dead-letter events.")
def queue_purge(dead: bool) -> None:
    """Remove dead-letter events for good (their ids stay known, so a scan does not re-queue them)."""
    del dead
    with _open_queue() as event_queue:
        count = event_queue.purge_dead()
    click.echo(f"removed {count} dead-letter event{'s' if count != 1 else ''}")


def _open_queue() -> EventQueue:
    """The queue, saying so on stderr when it had to be moved aside (an empty list would lie)."""
    from kitty_hooks.queue import EventQueue

    event_queue = EventQueue()
    if event_queue.recovered_from is not None:
        click.echo(
            f"kitty-hooks: warning: the queue file was unreadable and was moved to "
            f"{event_queue.recovered_from}; a new one was started",
            err=True,
        )
    return event_queue


@cli.command()
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write every failed event with its error to this JSON file.",
)
def sync(report_path: Path | None) -> None:
    """Send every queued event now, in the foreground (exit 1 when anything failed)."""
    from kitty_hooks.flush import flush, write_report

    if sys.stderr.isatty():
        with click.progressbar(length=1, label="syncing", file=sys.stderr) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done)

            summary = flush(progress=advance)
    else:
        summary = flush()
    if report_path is not None:
        write_report(summary, report_path)
    click.echo(summary.line())
    if summary.warning:
        click.echo(f"kitty-hooks: warning: {summary.warning}", err=True)
    if summary.message:
        click.echo(f"kitty-hooks: {summary.message}", err=True)
    if summary.left_pending:
        click.echo(
            f"{summary.left_pending:,} events still queued (kitty-hooks status shows why)", err=True
        )
    sys.exit(summary.exit_code)


@cli.command()
@click.option("--check", is_flag=True, help="Also probe the server with your own token.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def status(check: bool, output_format: str) -> None:
    """The queue, the last flush, the credentials, and with --check the server."""
    from kitty_hooks.report import render_status
    from kitty_hooks.status import gather_status

    report = gather_status(check=check)
    click.echo(render_status(report, output_format))
    sys.exit(report.exit_code)


@cli.command()
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
    from kitty_hooks.server import main as serve_main

    args = ["--host", host, "--port", str(port)]
    if db_path is not None:
        args += ["--db", str(db_path)]
    if user_file is not None:
        args += ["--user-file", str(user_file)]
    for user in users:
        args += ["--user", user]
    sys.exit(serve_main(args))


@cli.command()
@click.option(
    "--keep", is_flag=True, help="Keep the temporary directory to look around afterwards."
)
def demo(keep: bool) -> None:
    """The whole loop in a temporary directory: commits move WPs, a push sends the events."""
    from kitty_hooks.demo import run_demo

    sys.exit(run_demo(keep=keep, say=click.echo))


@cli.command(
    "hook",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    """Run the work of git hook NAME (what the installed hook scripts call)."""
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
