"""How the queue, capture, sync, doctor and status commands render their results (text or json)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kitty_hooks.terminal import Tone, paint
from kitty_hooks.wording import age_text, plural

if TYPE_CHECKING:
    from kitty_hooks.capture.commits import CaptureResult
    from kitty_hooks.capture.orphans import DropResult, QueueListing
    from kitty_hooks.doctor import DoctorReport
    from kitty_hooks.flush import FlushSummary
    from kitty_hooks.queue.entries import DeliveredEvent, QueueEntry
    from kitty_hooks.status import StatusReport


# --- the queue and capture ---------------------------------------------------------------------


def _table(rows: list[tuple[str, ...]], tones: list[list[Tone | None]] | None = None) -> str:
    """Columns padded to their widest cell; a cell's tone is painted over its padding."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        row_tones = tones[number] if tones else [None] * len(row)
        cells = [
            paint(cell.ljust(width), tone)
            for cell, width, tone in zip(row, widths, row_tones, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


_STATUS_TONES = {"pending": None, "failed": Tone.WARN, "dead_letter": Tone.FAIL}


def _entry_document(entry: QueueEntry, orphaned: bool | None = None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "status": entry.status,
        "retry_count": entry.retry_count,
        "created_at": entry.created_at,
        "last_attempt_at": entry.last_attempt_at,
        "last_error": entry.last_error,
        "error_category": entry.error_category,
        "commit_sha": entry.commit_sha,
        "repo": entry.repo,
        "orphaned": orphaned,
        "envelope": entry.envelope,
    }


def _describe_event(envelope: dict[str, Any]) -> str:
    payload = envelope.get("payload")
    if envelope.get("event_type") == "WPStatusChanged" and isinstance(payload, dict):
        from_lane = payload.get("from_lane") or "new"
        return f"{payload.get('feature_slug')}/{payload.get('wp_id')} {from_lane} -> {payload.get('to_lane')}"
    return str(envelope.get("event_type"))


def render_entries(listing: QueueListing, output_format: str) -> str:
    """`queue list`: orphaned is true or false for events of this repository, null for others."""

    def orphaned(entry: QueueEntry) -> bool | None:
        return entry.event_id in listing.orphaned if entry.event_id in listing.judged else None

    entries = listing.entries
    if output_format == "json":
        return json.dumps(
            [_entry_document(e, orphaned(e)) for e in entries], indent=2, ensure_ascii=False
        )
    if not entries:
        return "the queue is empty"
    rows = [("ID", "EVENT ID", "STATUS", "TRIES", "CREATED", "COMMIT", "EVENT", "LAST ERROR")]
    tones: list[list[Tone | None]] = [[Tone.BOLD] * len(rows[0])]
    for e in entries:
        gone = orphaned(e)
        rows.append(
            (
                str(e.id),
                e.event_id,
                e.status,
                str(e.retry_count),
                e.created_at,
                (e.commit_sha or "")[:10] + (" orphaned" if gone else ""),
                _describe_event(e.envelope),
                e.last_error or "",
            )
        )
        tones.append(
            [
                None,
                None,
                _STATUS_TONES.get(e.status),
                None,
                Tone.DIM,
                Tone.WARN if gone else None,
                None,
                Tone.FAIL if e.last_error else None,
            ]
        )
    text = _table(rows, tones)
    if listing.orphaned:
        text += "\n" + paint(
            f"{plural(len(listing.orphaned), 'event')} orphaned: no ref reaches its commit any "
            "more (`kitty-hooks queue drop --orphaned` drops them)",
            Tone.WARN,
        )
    return text


def render_drop(result: DropResult, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(
            {
                "dropped": [_entry_document(e) for e in result.dropped],
                "not_found": result.not_found,
            },
            indent=2,
            ensure_ascii=False,
        )
    lines = [paint(f"no event {event_id} in the queue", Tone.FAIL) for event_id in result.not_found]
    lines += [f"dropped {e.event_id}  {_describe_event(e.envelope)}" for e in result.dropped]
    lines.append(f"dropped {plural(len(result.dropped), 'event')}")
    return "\n".join(lines)


def render_delivered(delivered: list[DeliveredEvent], output_format: str) -> str:
    """`kitty-hooks log`: what the server acknowledged, newest first."""
    if output_format == "json":
        return json.dumps(
            [{**d._asdict(), "verdict": d.verdict.value} for d in delivered],
            indent=2,
            ensure_ascii=False,
        )
    if not delivered:
        return "nothing delivered yet (or not within the last 90 days)"
    rows = [("DELIVERED", "EVENT ID", "VERDICT", "EVENT")]
    tones: list[list[Tone | None]] = [[Tone.BOLD] * 4]
    for d in delivered:
        what = d.event_type or ""
        if d.wp_id:
            what = f"{d.feature_slug}/{d.wp_id} {d.from_lane or 'new'} -> {d.to_lane}"
        rows.append((d.delivered_at, d.event_id, d.verdict.value, what))
        tones.append([Tone.DIM, None, Tone.OK if d.verdict.value == "success" else None, None])
    return _table(rows, tones)


# --- sync --------------------------------------------------------------------------------------


def why_still_queued(summary: FlushSummary) -> str | None:
    """Why a sync left events in the queue, in words; None when it left none."""
    if not summary.left_pending:
        return None
    reasons = {
        "retry-later": "the server could not take them now",
        "login-needed": "the session is over",
        "no-credentials": "there are no usable credentials",
        "busy": "another flush holds the lock",
        "backing-off": "automatic flushes are backing off",
    }
    if summary.outcome in reasons:
        text = reasons[summary.outcome]
        if summary.message:
            text += f" ({summary.message})"
        if summary.outcome == "retry-later":
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
        "why_left_pending": why_still_queued(summary),
        "categories": summary.categories,
        "retry_after": summary.retry_after,
        "warning": summary.warning,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "failures": summary.failures,
    }


def render_sync(summary: FlushSummary, output_format: str, *, verbose: bool = False) -> str:
    """The summary line, and with -v each failure (for stdout); sync_notes says the rest."""
    if output_format == "json":
        return json.dumps(sync_document(summary), indent=2, ensure_ascii=False)
    tone = Tone.OK if summary.exit_code == 0 else Tone.FAIL if summary.failed else None
    lines = [paint(summary.line(), tone)]
    if verbose:
        lines += [
            f"  {f['event_id']}: {f['error_category']}: {f['error']} ({f['status']}, "
            f"{plural(f['retry_count'] or 0, 'try', 'tries')})"
            for f in summary.failures
        ]
    return "\n".join(lines)


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
    return notes


def render_entry(entry: QueueEntry, output_format: str) -> str:
    document = _entry_document(entry)
    if output_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False)
    envelope = document.pop("envelope")
    lines = [f"{key}: {'' if value is None else value}" for key, value in document.items()]
    lines.append("envelope:")
    lines.append(json.dumps(envelope, indent=2, ensure_ascii=False))
    return "\n".join(lines)


def render_capture(result: CaptureResult, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(
            {
                "commits": result.commits,
                "queued": result.queued,
                "duplicates": result.duplicates,
                "no_ops": result.no_ops,
                "skipped": [s._asdict() for s in result.skipped],
                "not_queued": [s._asdict() for s in result.unsendable],
                "recovered_from": str(result.recovered_from) if result.recovered_from else None,
            },
            indent=2,
        )
    lines = [f"warning: skipped {s.render()}" for s in result.skipped]
    lines += [f"error: not queued {s.render()}" for s in result.unsendable]
    if result.recovered_from is not None:
        lines.append(f"warning: the queue was unreadable and was moved to {result.recovered_from}")
    lines.append(
        f"scanned {result.commits:,} commit{'s' if result.commits != 1 else ''}: "
        f"{len(result.queued):,} lane change{'s' if len(result.queued) != 1 else ''} queued, "
        f"{len(result.duplicates):,} already known, {result.no_ops:,} within one sync lane (not sent), "
        f"{len(result.skipped):,} skipped"
        + (f", {len(result.unsendable):,} not queued" if result.unsendable else "")
    )
    return "\n".join(lines)


# --- doctor ------------------------------------------------------------------------------------

_CHECK_TONES = {"ok": Tone.OK, "warn": Tone.WARN, "fail": Tone.FAIL}


def render_doctor(report: DoctorReport, output_format: str, *, quiet: bool = False) -> str:
    """One line per check (-q: warnings and failures only), then the count."""
    if output_format == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
    lines = []
    for check in report.checks:
        status = check.status.value
        if quiet and status == "ok":
            continue
        label = paint(f"{status:<4}", _CHECK_TONES[status])
        lines.append(f"{label}  {check.area}: {check.subject}: {check.message}")
    counts = {s: sum(1 for c in report.checks if c.status.value == s) for s in _CHECK_TONES}
    if not quiet or counts["warn"] or counts["fail"]:
        tally = (
            f"{counts['ok']} ok, {plural(counts['warn'], 'warning')}, "
            f"{plural(counts['fail'], 'failure')}"
        )
        worst = "fail" if counts["fail"] else "warn" if counts["warn"] else "ok"
        lines.append(paint(f"doctor: {tally}", _CHECK_TONES[worst]))
    return "\n".join(lines)


# --- status ------------------------------------------------------------------------------------


def render_status(report: StatusReport, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
    stats = report.queue
    lines = [
        f"Queue: {stats.total_pending:,} pending, {stats.total_failed:,} failed, "
        f"{stats.total_dead_letter:,} dead letter{'s' if stats.total_dead_letter != 1 else ''}"
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
    lines.append(f"Auth: {health.state}" + (f", {who}" if who else "") + f": {health.message}")
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
