"""Getting events out and looking at how that goes: sync, status, scan (the backfill) and board."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import click

from kitty_hooks.cli.options import examples, format_option, quiet_option

_Result = TypeVar("_Result")


def _with_progress(label: str, work: Callable[..., _Result], *, shown: bool) -> _Result:
    """Run work, with a progress bar on stderr when shown (work takes progress=(done, total))."""
    if not shown:
        return work()
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:

        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done)

        return work(progress=advance)


@click.command(
    epilog=examples("kitty-hooks scan main~200..main", "kitty-hooks scan HEAD --format json")
)
@click.argument("revision_range")
@format_option
@quiet_option
def scan(revision_range: str, output_format: str, quiet: bool) -> None:
    """Backfill: queue the lane changes of past commits in REVISION_RANGE.

    For example `main~200..main`, or `HEAD` for the whole history. Moves already queued or
    delivered are recognised by their event ids and not queued again. Exit 1 when some files
    or lines could not be read as lane changes, or moves were not queued because the server
    would refuse them (a feature folder that is no slug).
    """
    from kitty_hooks.capture.commits import scan as scan_range
    from kitty_hooks.cli.sync_view import CAPTURE
    from kitty_hooks.views import render

    shown = output_format == "text" and not quiet and sys.stderr.isatty()
    result = _with_progress(
        "scanning", partial(scan_range, Path.cwd(), revision_range), shown=shown
    )
    if not quiet or result.skipped or result.unsendable or output_format == "json":
        click.echo(render(CAPTURE, result, output_format))
    sys.exit(1 if result.skipped or result.unsendable else 0)


@click.command(
    epilog=examples(
        "kitty-hooks board", "kitty-hooks board --feature 039-cli-2x-readiness --format json"
    )
)
@click.option("--feature", metavar="SLUG", help="Only the work packages of this feature folder.")
@click.option("--rev", "revision", default="HEAD", show_default=True, help="The revision to read.")
@format_option
@quiet_option
def board(feature: str | None, revision: str, output_format: str, quiet: bool) -> None:
    """Is the dashboard right? Each work package where spec-kitty puts it beside where our events do.

    spec-kitty's side: its own rules at the revision (a WP's log folded as its reducer folds
    it, else its WP file's lane). The dashboard's side: the latest move queued or delivered
    from this machine. Exit 1 when any work package differs (or was never sent).
    """
    from kitty_hooks.capture.board import read_board
    from kitty_hooks.cli.sync_view import BOARD
    from kitty_hooks.views import render

    result = read_board(Path.cwd(), revision, feature=feature)
    if not quiet or result.disagreements or output_format == "json":
        click.echo(render(BOARD, result, output_format))
    sys.exit(1 if result.disagreements else 0)


@click.command(
    epilog=examples("kitty-hooks sync", "kitty-hooks sync --format json -q > sync.json"),
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the JSON summary, every failed event with its error, to this file.",
)
@format_option
@quiet_option
@click.option("-v", "--verbose", is_flag=True, help="List every failed event with its error.")
def sync(report_path: Path | None, output_format: str, quiet: bool, verbose: bool) -> None:
    """Send every queued event now, in the foreground.

    Exit 0 when everything was sent, 1 when anything failed or is still queued (it says why),
    2 when the credentials cannot be used.
    """
    from kitty_hooks.cli.sync_view import SYNC, sync_notes
    from kitty_hooks.deliver.flush import flush
    from kitty_hooks.views import render

    if report_path is not None and not report_path.resolve().parent.is_dir():
        # Said before the flush, not after it has sent everything.
        raise click.BadParameter(
            f"{report_path}: no such directory to write the report in", param_hint="--report"
        )
    shown = output_format == "text" and not quiet and sys.stderr.isatty()
    summary = _with_progress("syncing", flush, shown=shown)
    if report_path is not None:
        try:
            report_path.write_text(render(SYNC, summary, "json") + "\n", encoding="utf-8")
        except OSError as exc:
            click.echo(
                f"kitty-hooks: could not write the report to {report_path}: "
                f"{exc.strerror or exc} (the sync itself is done)",
                err=True,
            )
    if output_format == "json":
        click.echo(render(SYNC, summary, "json"))
    elif not quiet or summary.exit_code != 0:
        click.echo(render(SYNC, summary, "text", verbose=verbose))
    for note in sync_notes(summary):
        click.echo(f"kitty-hooks: {note}", err=True)
    sys.exit(summary.exit_code)


@click.command(epilog=examples("kitty-hooks status", "kitty-hooks status --check --format json"))
@click.option("--check", is_flag=True, help="Also probe the server with your own token.")
@format_option
def status(check: bool, output_format: str) -> None:
    """The queue, the last flush, the credentials, and with --check the server."""
    from kitty_hooks.cli.sync_view import STATUS
    from kitty_hooks.health.status import gather_status
    from kitty_hooks.views import render

    report = gather_status(check=check)
    click.echo(render(STATUS, report, output_format))
    sys.exit(report.exit_code)
