"""How sync, scan, status and board render their results (text or json), and what sync adds on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitty_hooks.cli.terminal import Tone, paint
from kitty_hooks.views import View
from kitty_hooks.wording import age_text, plural

if TYPE_CHECKING:
    from kitty_hooks.capture.board import Board
    from kitty_hooks.capture.commits import CaptureResult
    from kitty_hooks.deliver.summary import FlushSummary
    from kitty_hooks.health.status import StatusReport


# --- sync --------------------------------------------------------------------------------------


def why_still_queued(summary: FlushSummary) -> str | None:
    """Why a sync left events in the queue, in words; None when it left none."""
    if not summary.left_pending:
        return None
    from kitty_hooks.deliver.summary import FlushOutcome

    reasons = {
        FlushOutcome.RETRY_LATER: "the server could not take them now",
        FlushOutcome.LOGIN_NEEDED: "the session is over",
        FlushOutcome.NO_CREDENTIALS: "there are no usable credentials",
        FlushOutcome.BUSY: "another flush holds the lock",
        FlushOutcome.BACKING_OFF: "automatic flushes are backing off",
        FlushOutcome.PROTOCOL_MISMATCH: "the server refused this kitty-hooks",
    }
    if summary.outcome in reasons:
        text = reasons[summary.outcome]
        if summary.message:
            text += f" ({summary.message})"
        if summary.outcome == FlushOutcome.RETRY_LATER:
            text += "; the next push or `kitty-hooks sync` tries again"
        return text
    parts = []
    retried = summary.failed - summary.dead_lettered
    if retried > 0:
        parts.append(
            f"{plural(retried, 'was', 'were')} refused and will be retried by the next sync"
        )
    if summary.unknown_fate:
        parts.append(
            f"the server's answer did not mention {plural(summary.unknown_fate, 'event')}, "
            "so they stay pending"
        )
    if not parts:
        parts.append("they were queued while the sync ran, or wait for a retry")
    return "; ".join(parts)


def sync_document(summary: FlushSummary) -> dict[str, Any]:
    return {
        "ok": summary.exit_code == 0,
        "outcome": summary.outcome,
        "message": summary.message,
        "synced": summary.synced,
        "duplicates": summary.duplicates,
        "failed": summary.failed,
        "dead_lettered": summary.dead_lettered,
        "left_pending": summary.left_pending,
        "unknown_fate": summary.unknown_fate,
        "still_spooled": summary.still_spooled,
        "why_left_pending": why_still_queued(summary),
        "categories": summary.categories,
        "retry_after": summary.retry_after,
        "warning": summary.warning,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "failures": summary.failures,
    }


def _sync_text(summary: FlushSummary, *, verbose: bool = False) -> str:
    tone = Tone.OK if summary.exit_code == 0 else Tone.FAIL if summary.failed else None
    lines = [paint(summary.line(), tone)]
    if verbose:
        lines += [
            f"  {f['event_id']}: {f['error_category']}: {f['error']} ({f['status']}, "
            f"{plural(f['retry_count'] or 0, 'try', 'tries')})"
            for f in summary.failures
        ]
    return "\n".join(lines)


SYNC = View(text=_sync_text, document=sync_document)
"""The summary line, and with -v each failure (for stdout); sync_notes says the rest. The
document always lists every failure."""


def sync_notes(summary: FlushSummary) -> list[str]:
    """What a person must know after a sync beyond the counts (for stderr): dead letters made,
    why events are still queued, a warning."""
    notes = []
    if summary.warning:
        notes.append(paint(f"warning: {summary.warning}", Tone.WARN))
    if summary.dead_lettered:
        notes.append(
            paint(
                f"{plural(summary.dead_lettered, 'event')} reached the retry limit and became "
                "dead letters (`kitty-hooks queue list --status dead_letter`)",
                Tone.FAIL,
            )
        )
    why = why_still_queued(summary)
    if why:
        still = plural(summary.left_pending, "event")
        notes.append(paint(f"{still} still queued: {why}", Tone.WARN))
    elif summary.message:
        notes.append(summary.message)
    spooled = spooled_note(summary.still_spooled)
    if spooled:
        notes.append(paint(spooled, Tone.WARN))
    return notes


def spooled_note(count: int) -> str | None:
    """What a sync says of lane changes it found still in the spool (not queued, not sent)."""
    if not count:
        return None
    from kitty_hooks.queue.spool import spool_dir

    return (
        f"{plural(count, 'lane change')} still in the spool ({spool_dir()}), not sent: a running "
        "hook or flush holds them, or the queue would not take them; the next push or "
        "`kitty-hooks sync` takes them in"
    )


# --- scan --------------------------------------------------------------------------------------


def _capture_document(result: CaptureResult) -> dict[str, Any]:
    return {
        "commits": result.commits,
        "queued": result.queued,
        "duplicates": result.duplicates,
        "no_ops": result.no_ops,
        "history": [s._asdict() for s in result.history],
        "skipped": [s._asdict() for s in result.skipped],
        "not_queued": [s._asdict() for s in result.unsendable],
        "recovered_from": str(result.recovered_from) if result.recovered_from else None,
    }


def _capture_text(result: CaptureResult) -> str:
    lines = [f"warning: skipped {s.render()}" for s in result.skipped]
    lines += [f"error: not queued {s.render()}" for s in result.unsendable]
    if result.recovered_from is not None:
        lines.append(f"warning: the queue was unreadable and was moved to {result.recovered_from}")
    lines.append(
        f"scanned {plural(result.commits, 'commit')}: "
        f"{plural(len(result.queued), 'lane change')} queued, "
        f"{len(result.duplicates):,} already known, {result.no_ops:,} within one sync lane (not sent), "
        + (f"{len(result.history):,} restating history (not sent), " if result.history else "")
        + f"{len(result.skipped):,} skipped"
        + (f", {len(result.unsendable):,} not queued" if result.unsendable else "")
    )
    return "\n".join(lines)


CAPTURE = View(text=_capture_text, document=_capture_document, ascii_only=True)


# --- status ------------------------------------------------------------------------------------


def _status_text(report: StatusReport) -> str:
    stats = report.queue
    lines = [
        f"Queue: {stats.total_pending:,} pending, {stats.total_failed:,} failed, "
        f"{plural(stats.total_dead_letter, 'dead letter')}"
        + (f" (oldest {age_text(report.oldest_event_age_seconds)} old)" if stats.total else ""),
        f"  file: {report.queue_path}",
    ]
    if report.queue_recovered_from:
        lines.append(
            f"  warning: the queue file was unreadable and was moved to {report.queue_recovered_from}; "
            "a new one was started (whatever it held is kept there)"
        )
    if stats.total:
        buckets = ", ".join(f"{name}: {count}" for name, count in stats.retry_distribution.items())
        kinds = ", ".join(f"{name} {count}" for name, count in stats.top_event_types)
        lines += [f"  retries: {buckets}", f"  event types: {kinds}"]
    if report.left_to_spec_kitty:
        lines.append(
            f"  {plural(report.left_to_spec_kitty, 'move')} left to spec-kitty's own sync"
            " (it sends them itself, under its own ids)"
        )
    if report.notes:
        lines.append("Notes from background captures (the next hook shows them too):")
        lines += [f"  {note}" for note in report.notes]
    last = report.last_flush
    if last:
        lines.append(
            f"Last flush: {last.at}, {last.outcome}: Synced: {last.synced}, "
            f"Duplicates: {last.duplicates}, Failed: {last.failed}"
        )
        if last.message:
            lines.append(f"  {last.message}")
    else:
        lines.append("Last flush: never")
    if report.next_attempt_after:
        lines.append(
            f"  backing off: the next automatic flush tries after {report.next_attempt_after}"
        )
    health = report.auth
    who = f"{health.username or 'unknown user'} on {health.server_url}" if health.server_url else ""
    lines.append(
        f"Auth: {health.state.value}" + (f", {who}" if who else "") + f": {health.message}"
    )
    if health.warning:
        lines.append(f"  warning: {health.warning}")
    if health.access_expires or health.refresh_expires:
        lines.append(
            f"  access token until {health.access_expires or '?'}, refresh token until {health.refresh_expires or '?'}"
        )
    if report.check is not None:
        verdict = paint("ok", Tone.OK) if report.check.ok else paint("PROBLEM", Tone.FAIL)
        lines.append(f"Server: {verdict}: {report.check.message}")
    return "\n".join(lines)


def _status_document(report: StatusReport) -> dict[str, Any]:
    return report.as_dict()


STATUS = View(text=_status_text, document=_status_document)


# --- board -------------------------------------------------------------------------------------


def _board_document(board: Board) -> dict[str, Any]:
    from kitty_hooks.capture.board import board_document

    return board_document(board)


def _board_text(board: Board) -> str:
    lines = []
    width = max((len(f"{row.feature} {row.wp_id}") for row in board.rows), default=0)
    for row in board.rows:
        name = f"{row.feature} {row.wp_id}".ljust(width)
        if not row.at_revision:
            lines.append(f"  {name}  not at {board.revision[:12]}; dashboard: {row.dashboard}")
            continue
        shown = row.lane if row.lane == row.expected else f"{row.lane} ({row.expected})"
        dashboard = row.dashboard or "nothing sent from this machine"
        mark = paint("ok", Tone.OK) if row.agrees else paint("DIFFERS", Tone.FAIL)
        lines.append(
            f"  {name}  spec-kitty: {shown} [{row.source}]; dashboard: {dashboard}  {mark}"
        )
    at_revision = len(board.rows) - len(board.elsewhere)
    wrong = len(board.disagreements)
    summary = f"{plural(at_revision, 'work package')} at {board.revision[:12]}: " + (
        f"{wrong:,} not as spec-kitty shows them" if wrong else "all as spec-kitty shows them"
    )
    if board.elsewhere:
        summary += f"; {len(board.elsewhere):,} more on the dashboard that are not at this revision"
    lines.append(summary)
    if wrong:
        lines.append(
            "  run `kitty-hooks scan HEAD` to send what is missing; `kitty-hooks sync` to deliver it"
        )
    return "\n".join(lines)


BOARD = View(text=_board_text, document=_board_document)
