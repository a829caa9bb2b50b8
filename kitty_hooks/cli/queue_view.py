"""How the queue commands render queue entries, a drop and the delivery log (text or json)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kitty_hooks.cli.terminal import Tone, paint
from kitty_hooks.model.events import EVENT_TYPE
from kitty_hooks.queue.entries import Status, Verdict
from kitty_hooks.views import View
from kitty_hooks.wording import plural

if TYPE_CHECKING:
    from kitty_hooks.capture.orphans import DropResult, QueueListing
    from kitty_hooks.queue.entries import DeliveredEvent, QueueEntry


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


# Keyed by the value: an entry's status is the plain string the queue stores.
_STATUS_TONES = {
    Status.PENDING.value: None,
    Status.FAILED.value: Tone.WARN,
    Status.DEAD_LETTER.value: Tone.FAIL,
}


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
    if envelope.get("event_type") == EVENT_TYPE and isinstance(payload, dict):
        from_lane = payload.get("from_lane") or "new"
        return f"{payload.get('feature_slug')}/{payload.get('wp_id')} {from_lane} -> {payload.get('to_lane')}"
    return str(envelope.get("event_type"))


# --- queue list --------------------------------------------------------------------------------


def _orphaned(listing: QueueListing, entry: QueueEntry) -> bool | None:
    """True or false for an event of this repository, None for others'."""
    return entry.event_id in listing.orphaned if entry.event_id in listing.judged else None


def _entries_document(listing: QueueListing) -> list[dict[str, Any]]:
    """orphaned is true or false for events of this repository, null for others."""
    return [_entry_document(e, _orphaned(listing, e)) for e in listing.entries]


def _entries_text(listing: QueueListing) -> str:
    entries = listing.entries
    if not entries:
        return "the queue is empty"
    rows = [("ID", "EVENT ID", "STATUS", "TRIES", "CREATED", "COMMIT", "EVENT", "LAST ERROR")]
    tones: list[list[Tone | None]] = [[Tone.BOLD] * len(rows[0])]
    for e in entries:
        gone = _orphaned(listing, e)
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


LISTING = View(text=_entries_text, document=_entries_document)


# --- queue show --------------------------------------------------------------------------------


def _entry_text(entry: QueueEntry) -> str:
    document = _entry_document(entry)
    envelope = document.pop("envelope")
    lines = [f"{key}: {'' if value is None else value}" for key, value in document.items()]
    lines.append("envelope:")
    lines.append(json.dumps(envelope, indent=2, ensure_ascii=False))
    return "\n".join(lines)


ENTRY = View(text=_entry_text, document=_entry_document)


# --- queue drop --------------------------------------------------------------------------------


def _drop_document(result: DropResult) -> dict[str, Any]:
    return {"dropped": [_entry_document(e) for e in result.dropped], "not_found": result.not_found}


def _drop_text(result: DropResult) -> str:
    lines = [paint(f"no event {event_id} in the queue", Tone.FAIL) for event_id in result.not_found]
    lines += [f"dropped {e.event_id}  {_describe_event(e.envelope)}" for e in result.dropped]
    lines.append(f"dropped {plural(len(result.dropped), 'event')}")
    return "\n".join(lines)


DROP = View(text=_drop_text, document=_drop_document)


# --- log ---------------------------------------------------------------------------------------


def _delivered_document(delivered: list[DeliveredEvent]) -> list[dict[str, Any]]:
    return [{**d._asdict(), "verdict": d.verdict.value} for d in delivered]


def _delivered_text(delivered: list[DeliveredEvent]) -> str:
    if not delivered:
        return "nothing delivered yet (or not within the last 90 days)"
    rows = [("DELIVERED", "EVENT ID", "VERDICT", "EVENT")]
    tones: list[list[Tone | None]] = [[Tone.BOLD] * 4]
    for d in delivered:
        what = d.event_type or ""
        if d.wp_id:
            what = f"{d.feature_slug}/{d.wp_id} {d.from_lane or 'new'} -> {d.to_lane}"
        rows.append((d.delivered_at, d.event_id, d.verdict.value, what))
        tones.append([Tone.DIM, None, Tone.OK if d.verdict is Verdict.SUCCESS else None, None])
    return _table(rows, tones)


DELIVERED = View(text=_delivered_text, document=_delivered_document)
"""`kitty-hooks log`: what the server acknowledged, newest first."""
