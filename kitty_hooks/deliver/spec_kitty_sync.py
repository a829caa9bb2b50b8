"""spec-kitty's own sync, beside ours: which queued moves it sends too, so that we do not.

spec-kitty sends the moves it writes under ids of its own, so a server that dedupes by id would
count each move twice:

- 3.x keeps a store per project, ``~/.spec-kitty/projects/<uuid>/sync/sync.db``: each envelope
  is a ``journal_entries`` row (the envelope itself base64 in ``payload``) with a new event id
  and the status-log line's id in ``causation_id``; ``outbox_tasks`` delivers them and keeps
  them (state ``synced``). A move whose log-line id (our event id) is a causation id there is
  spec-kitty's to send, unless the project refused hosted sync (``project_consent_decisions``).
  A move 3.x could not build (its approved without evidence) is not there, and stays ours.
- 2.1.3 queues in ``~/.spec-kitty/queue.db`` (``queues/queue-<hash>.db`` once logged in), new
  ULIDs with no link to the log line, and deletes a row once sent. A queued WPStatusChanged
  of the same project, feature and WP whose lanes map to the same sync lanes and whose time is
  at most WINDOW after the move's (2.1.3 emits right after writing the line) is the same move;
  each of its rows stands for one of ours at most. The move's time is the time part of its
  event id: the log line's own ULID, minted by spec-kitty as it wrote the line (the envelope's
  timestamp may be the commit's, much later).

Read only (``mode=ro``, a short busy timeout): spec-kitty's files are never written, and a file
that is locked, missing a table or not SQLite at all is one log line and means "no", never a
failed flush. The check runs at flush time (the outbox may fill after our capture) and costs a
few stat calls when spec-kitty's sync has no file here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

from kitty_hooks.locations import log_line, spec_kitty_dir
from kitty_hooks.model.lanes import UnknownLaneError, collapse_transition
from kitty_hooks.queue.entries import QueuedMove

BUSY_TIMEOUT = 0.25
"""Seconds to wait for a spec-kitty file another process holds: after that, "no" for now."""
WINDOW = timedelta(minutes=10)
"""How long after a move 2.1.3 may queue it and still be taken for the same move."""
EARLY = timedelta(seconds=5)
"""How much earlier than the move's time 2.1.3's may be (clocks read in another order)."""


class Sender(NamedTuple):
    """One of spec-kitty's own sync stores, and how many of the moves asked about it holds."""

    version: str  # "3.x" or "2.1.3"
    path: Path
    moves: int


class Handoff(NamedTuple):
    event_ids: frozenset[str]
    """Our event ids whose moves spec-kitty's own sync sends."""
    senders: tuple[Sender, ...]
    """Each store of spec-kitty's that holds some of them."""


def project_store_path(project_uuid: str) -> Path:
    return spec_kitty_dir() / "projects" / project_uuid / "sync" / "sync.db"


def legacy_queue_paths() -> list[Path]:
    """2.1.3's queues: the one used while logged out, and one per login scope."""
    base = spec_kitty_dir()
    paths = [base / "queue.db"]
    with contextlib.suppress(OSError):
        paths += sorted((base / "queues").glob("queue-*.db"))
    return [path for path in paths if path.is_file()]


def find_handoff(moves: Sequence[QueuedMove]) -> Handoff:
    """Which of moves spec-kitty's own sync sends (see the module's doc)."""
    if not moves:
        return Handoff(frozenset(), ())
    taken: set[str] = set()
    senders: list[Sender] = []
    by_project: dict[str, list[QueuedMove]] = defaultdict(list)
    for move in moves:
        if move.project_uuid:
            by_project[move.project_uuid].append(move)
    for project_uuid, project_moves in by_project.items():
        path = project_store_path(project_uuid)
        if not path.is_file():
            continue
        causes = _outbox_causes(path, project_uuid)
        found = {m.event_id for m in project_moves if m.event_id in causes}
        if found:
            taken |= found
            senders.append(Sender("3.x", path, len(found)))
    left = [m for m in moves if m.event_id not in taken and m.project_uuid]
    for path in legacy_queue_paths() if left else []:
        found = _legacy_matches(path, [m for m in left if m.event_id not in taken])
        if found:
            taken |= found
            senders.append(Sender("2.1.3", path, len(found)))
    return Handoff(frozenset(taken), tuple(senders))


def installed_senders(project_uuids: Iterable[str]) -> list[tuple[str, Path, str]]:
    """spec-kitty's sync stores on this machine for these projects: (version, path, what it
    holds), for doctor. A store that cannot be read says so in its third part."""
    found: list[tuple[str, Path, str]] = []
    for project_uuid in project_uuids:
        path = project_store_path(project_uuid)
        if path.is_file():
            refused = _consent_refused(path, project_uuid)
            if refused is None:
                found.append(("3.x", path, "cannot be read (see the log)"))
            else:
                state = "hosted sync refused for this project" if refused else "on"
                found.append(("3.x", path, state))
    for path in legacy_queue_paths():
        count = _legacy_count(path, set(project_uuids))
        what = (
            "cannot be read (see the log)"
            if count is None
            else f"{count} moves of this project queued"
        )
        found.append(("2.1.3", path, what))
    return found


# --- 3.x's project store --------------------------------------------------------------------


def _outbox_causes(path: Path, project_uuid: str) -> set[str]:
    """The causation ids (log-line ids) of the WPStatusChanged envelopes the store will send."""
    causes: set[str] = set()
    with _reading(path) as db:
        if db is None:
            return causes
        refused = _refused(db, project_uuid)
        if refused:
            return causes
        rows = db.execute(
            "SELECT payload_json FROM journal_entries WHERE project_uuid = ?"
            " AND json_extract(payload_json, '$.event_type') = 'WPStatusChanged'",
            (project_uuid,),
        )
        for (text,) in rows:
            envelope = _journal_envelope(text)
            cause = envelope.get("causation_id") if envelope else None
            if isinstance(cause, str):
                causes.add(cause)
    return causes


def _journal_envelope(text: object) -> dict[str, Any] | None:
    """The envelope a journal entry holds: inline, as JSON text, or base64 of JSON."""
    try:
        entry = json.loads(text) if isinstance(text, (str, bytes)) else None
        payload = entry.get("payload") if isinstance(entry, dict) else None
        if isinstance(payload, str):
            raw = (
                base64.b64decode(payload, validate=True)
                if entry.get("payload_encoding") == "base64"
                else payload
            )
            payload = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _refused(db: sqlite3.Connection, project_uuid: str) -> bool:
    try:
        row = db.execute(
            "SELECT state FROM project_consent_decisions WHERE project_uuid = ?", (project_uuid,)
        ).fetchone()
    except sqlite3.OperationalError:  # an older store without the table: no decision
        return False
    return bool(row) and row[0] == "refused"


def _consent_refused(path: Path, project_uuid: str) -> bool | None:
    with _reading(path) as db:
        if db is None:
            return None
        return _refused(db, project_uuid)


# --- 2.1.3's queue ---------------------------------------------------------------------------


def _legacy_rows(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for (text,) in db.execute("SELECT data FROM queue WHERE event_type = 'WPStatusChanged'"):
        try:
            event = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            continue
        if isinstance(event, dict) and isinstance(event.get("payload"), dict):
            yield event


def _move_key(
    project: object, feature: object, wp: object, from_lane: object, to_lane: object
) -> tuple[Any, ...] | None:
    try:
        synced = collapse_transition(from_lane, to_lane)  # type: ignore[arg-type]
    except UnknownLaneError:
        return None
    if synced is None:
        return None
    return (project, feature, wp, synced.from_lane, synced.to_lane)


def _legacy_matches(path: Path, moves: Sequence[QueuedMove]) -> set[str]:
    projects = {m.project_uuid for m in moves}
    queued: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    with _reading(path) as db:
        if db is None:
            return set()
        for event in _legacy_rows(db):
            if event.get("project_uuid") not in projects:
                continue
            payload = event["payload"]
            key = _move_key(
                event.get("project_uuid"),
                payload.get("feature_slug"),
                payload.get("wp_id"),
                payload.get("from_lane"),
                payload.get("to_lane"),
            )
            when = _instant(event.get("timestamp"))
            if key is not None and when is not None:
                queued[key].append(when)
    matched: set[str] = set()
    for move in moves:
        # Ours are in sync lanes already: the same table maps them onto themselves.
        key = _move_key(
            move.project_uuid, move.feature_slug, move.wp_id, move.from_lane, move.to_lane
        )
        at = _ulid_instant(move.event_id) or _instant(move.timestamp)
        candidates = queued.get(key) if key is not None and at is not None else None
        if not candidates or at is None:
            continue
        fitting = [t for t in candidates if at - EARLY <= t <= at + WINDOW]
        if fitting:
            candidates.remove(min(fitting))  # one row stands for one move
            matched.add(move.event_id)
    return matched


def _legacy_count(path: Path, projects: set[str]) -> int | None:
    with _reading(path) as db:
        if db is None:
            return None
        return sum(1 for event in _legacy_rows(db) if event.get("project_uuid") in projects)


# --- reading a file of spec-kitty's ----------------------------------------------------------


class _reading:
    """A read-only connection to a spec-kitty file, or None (logged once) when it cannot be
    read now: locked, not SQLite, or without the tables this version of it should have."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection | None:
        try:
            self.db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT
            )
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._say(exc)
            return None
        return self.db

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if self.db is not None:
            self.db.close()
        if isinstance(exc, sqlite3.Error):
            self._say(exc)
            return True  # swallowed: the caller's result so far stands for "no"
        return False

    def _say(self, exc: BaseException) -> None:
        log_line(f"spec-kitty sync: cannot read {self.path} ({exc}); its moves are sent by us")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid_instant(event_id: str) -> datetime | None:
    """The time part of a ULID (its first 10 characters: milliseconds since the epoch)."""
    if len(event_id) != 26:
        return None
    millis = 0
    for character in event_id[:10].upper():
        digit = _CROCKFORD.find(character)
        if digit < 0:
            return None
        millis = millis * 32 + digit
    try:
        return datetime.fromtimestamp(millis / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def hand_over(queue: Any, *, retry_limit: int) -> Handoff:
    """Leave to spec-kitty what its own sync sends: removed from the queue (their ids known,
    counted as left to spec-kitty), one log line per store. Never raises for spec-kitty's files."""
    if not _any_store():
        return Handoff(frozenset(), ())
    handoff = find_handoff(queue.moves_to_send(retry_limit=retry_limit))
    if handoff.event_ids:
        queue.leave_to_spec_kitty(sorted(handoff.event_ids))
        for sender in handoff.senders:
            log_line(
                f"spec-kitty sync: {sender.moves} moves left to spec-kitty {sender.version}'s own"
                f" sync ({sender.path}), which sends them under its own ids"
            )
    return handoff


def _any_store() -> bool:
    """Whether spec-kitty's sync keeps any file here: a few stat calls, before any read."""
    base = spec_kitty_dir()
    return (
        (base / "projects").is_dir() or (base / "queue.db").is_file() or (base / "queues").is_dir()
    )
