"""The local queue from the command line: queue list, show, retry, purge, drop; and log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kitty_hooks.cli.options import Group, examples, format_option
from kitty_hooks.errors import FatalError
from kitty_hooks.queue.entries import STATUS_VALUES
from kitty_hooks.wording import plural

if TYPE_CHECKING:
    from kitty_hooks.queue.store import EventQueue


@click.group(
    cls=Group,
    epilog=examples("kitty-hooks queue list", "kitty-hooks queue drop --orphaned --yes"),
)
def queue() -> None:
    """Look into the local event queue, and fix what is in it."""
    from kitty_hooks.capture import journal

    journal.drain()  # what the post-commit shim recorded is in the queue before we look


@queue.command(
    "list",
    epilog=examples(
        "kitty-hooks queue list --status failed --status dead_letter",
        "kitty-hooks queue list --format json",
    ),
)
@click.option(
    "--status",
    "statuses",
    type=click.Choice(list(STATUS_VALUES)),
    multiple=True,
    help="Only entries with this status (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
@format_option
def queue_list(statuses: tuple[str, ...], limit: int | None, output_format: str) -> None:
    """The queued events, oldest first: status, retries, commit, last error.

    An event whose commit no ref of this repository reaches any more (after a `git reset
    --hard`, say) is marked orphaned.
    """
    from kitty_hooks.capture.orphans import list_queue
    from kitty_hooks.cli.queue_view import LISTING
    from kitty_hooks.views import render

    listing = list_queue(Path.cwd(), statuses=statuses or None, limit=limit)
    _warn_recovered(listing.recovered_from)
    click.echo(render(LISTING, listing, output_format))


@queue.command(
    "show",
    epilog=examples(
        "kitty-hooks queue show 01JD3Q9Z   # a unique start of the id is enough",
        "kitty-hooks queue show 01JD3Q9Z6C8W4S0Y2X5V7T1R51 --format json",
    ),
)
@click.argument("event_id")
@format_option
def queue_show(event_id: str, output_format: str) -> None:
    """One queued event: its queue fields and the whole envelope."""
    from kitty_hooks.cli.queue_view import ENTRY
    from kitty_hooks.views import render

    with _open_queue() as event_queue:
        entry = event_queue.get(event_id)
    if entry is None:
        raise FatalError(
            f"no event {event_id} in the queue (kitty-hooks queue list shows them)", exit_code=1
        )
    click.echo(render(ENTRY, entry, output_format))


@queue.command(
    "retry",
    epilog=examples(
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
    click.echo(f"{plural(count, 'event')} pending again")


@queue.command("purge", epilog=examples("kitty-hooks queue purge --dead"))
@click.option("--dead", is_flag=True, required=True, help="Remove the dead-letter events.")
def queue_purge(dead: bool) -> None:
    """Remove dead-letter events for good (their ids stay known, so a scan does not re-queue them)."""
    del dead
    with _open_queue() as event_queue:
        count = event_queue.purge_dead()
    click.echo(f"removed {plural(count, 'dead-letter event')}")


@queue.command(
    "drop",
    epilog=examples(
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
@format_option
def queue_drop(event_ids: tuple[str, ...], orphaned: bool, yes: bool, output_format: str) -> None:
    """Remove pending or failed events so they are never sent.

    Named events stay known (a scan does not queue them again). Orphaned ones are forgotten:
    made again, the move is queued again. Exit 1 when a named event is not in the queue.
    """
    from kitty_hooks.capture.orphans import drop_events, drop_orphaned
    from kitty_hooks.cli.queue_view import DROP
    from kitty_hooks.queue.entries import QueueEntry
    from kitty_hooks.views import render

    if bool(event_ids) == orphaned:
        raise click.UsageError("name EVENT_ID(s) or give --orphaned")
    if orphaned and not yes and not sys.stdin.isatty():
        raise click.UsageError("--orphaned asks before it drops: give --yes when not on a terminal")

    def confirm(doomed: list[QueueEntry]) -> bool:
        if yes:
            return True
        from kitty_hooks.capture.orphans import QueueListing
        from kitty_hooks.cli.queue_view import LISTING

        ids = frozenset(e.event_id for e in doomed)
        click.echo(render(LISTING, QueueListing(doomed, ids, ids), "text"))
        return click.confirm(f"Drop these {len(doomed)} events?", default=False)

    result = drop_orphaned(Path.cwd(), confirm=confirm) if orphaned else drop_events(event_ids)
    click.echo(render(DROP, result, output_format))
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


@click.command(
    epilog=examples("kitty-hooks log --limit 20", "kitty-hooks log --format json"),
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@format_option
def log(limit: int, output_format: str) -> None:
    """What was delivered, newest first: when, and the server's verdict (success, duplicate).

    Kept for 90 days, at most 50,000 events (see docs/hooks.md).
    """
    from kitty_hooks.cli.queue_view import DELIVERED
    from kitty_hooks.views import render

    with _open_queue() as event_queue:
        delivered = event_queue.delivered(limit=limit)
    click.echo(render(DELIVERED, delivered, output_format))
