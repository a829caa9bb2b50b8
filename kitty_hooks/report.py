"""Reporters: the same DiagnoseReport rendered for a person (text) or a program (json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from kitty_hooks.diagnose import DiagnoseReport

if TYPE_CHECKING:
    from kitty_hooks.capture import CaptureResult
    from kitty_hooks.queue import QueueEntry
    from kitty_hooks.status import StatusReport


def summary_line(report: DiagnoseReport) -> str:
    events = report.event_count
    invalid = report.invalid_count
    warnings = len(report.problems) - report.error_count
    files = len(dict.fromkeys(report.files))
    text = f"checked {files:,} file{'s' if files != 1 else ''}, {events:,} event{'s' if events != 1 else ''}"
    if report.error_count == 0:
        text += ": all valid"
    else:
        text += f": {invalid:,} invalid event{'s' if invalid != 1 else ''}, {report.error_count:,} problem{'s' if report.error_count != 1 else ''}"
    if warnings:
        text += f" ({warnings:,} warning{'s' if warnings != 1 else ''})"
    return text


def render_text(report: DiagnoseReport, *, verbose: bool = False) -> str:
    lines: list[str] = []
    for problem in report.problems:
        lines.extend(problem.render(verbose=verbose))
    lines.append(summary_line(report))
    return "\n".join(lines)


def render_json(report: DiagnoseReport, *, verbose: bool = False) -> str:
    del verbose  # the JSON report always carries every message
    invalid = report.invalid_count
    document = {
        "valid": report.exit_code == 0,
        "summary": {
            "files": len(dict.fromkeys(report.files)),
            "events": report.event_count,
            "invalid_events": invalid,
            "errors": report.error_count,
            "warnings": len(report.problems) - report.error_count,
        },
        "results": [result._asdict() for result in report.results],
        "problems": [asdict(problem) for problem in report.problems],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


REPORTERS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json}


# --- the queue and capture ---------------------------------------------------------------------


def _entry_document(entry: QueueEntry) -> dict[str, Any]:
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
        "envelope": entry.envelope,
    }


def _describe_event(envelope: dict[str, Any]) -> str:
    payload = envelope.get("payload")
    if envelope.get("event_type") == "WPStatusChanged" and isinstance(payload, dict):
        from_lane = payload.get("from_lane") or "new"
        return f"{payload.get('feature_slug')}/{payload.get('wp_id')} {from_lane} -> {payload.get('to_lane')}"
    return str(envelope.get("event_type"))


def render_entries(entries: list[QueueEntry], output_format: str) -> str:
    if output_format == "json":
        return json.dumps([_entry_document(e) for e in entries], indent=2, ensure_ascii=False)
    if not entries:
        return "the queue is empty"
    rows = [("ID", "EVENT ID", "STATUS", "TRIES", "CREATED", "EVENT", "LAST ERROR")]
    rows += [
        (
            str(e.id),
            e.event_id,
            e.status,
            str(e.retry_count),
            e.created_at,
            _describe_event(e.envelope),
            e.last_error or "",
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


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


# --- status ------------------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{int(seconds)}s"


def render_status(report: StatusReport, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
    stats = report.queue
    lines = [
        f"Queue: {stats.total_pending:,} pending, {stats.total_failed:,} failed, "
        f"{stats.total_dead_letter:,} dead letter{'s' if stats.total_dead_letter != 1 else ''}"
        + (f" (oldest {_age(report.oldest_event_age_seconds)} old)" if stats.total else ""),
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
        lines.append(f"Server: {'ok' if report.check.ok else 'PROBLEM'}: {report.check.message}")
    return "\n".join(lines)
