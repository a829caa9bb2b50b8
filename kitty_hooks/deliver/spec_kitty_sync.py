"""spec-kitty's own sync, beside ours: which queued moves it sends too, so that we do not.

spec-kitty sends the moves it writes under ids of its own. A server that dedupes by id would
count each move twice.

3.x keeps a store per project, ``~/.spec-kitty/projects/<uuid>/sync/sync.db``:

- Each envelope is a ``journal_entries`` row: the envelope itself base64 in ``payload``, a new
  event id, and the status-log line's id in ``causation_id``.
- ``outbox_tasks`` delivers them and keeps them (state ``synced``).
- 3.x captures always, but sends only in a consent epoch that is ``eligible`` (after
  ``spec-kitty sync opt-in``). Before that, arming the machine with
  SPEC_KITTY_ENABLE_SAAS_SYNC journals moves it never sends.
- So a move is spec-kitty's when its log-line id (our event id) is the causation id of an entry
  whose task was ``synced``, or is not ``terminal_failed`` in an ``eligible`` epoch.
- Any other move stays ours. So does a move 3.x could not build (its in_review -> approved
  without evidence: not journalled).

2.1.3 queues in ``~/.spec-kitty/queue.db`` (``queues/queue-<hash>.db`` once logged in):

- Its rows are new ULIDs with no link to the log line. It deletes a row once sent.
- A queued WPStatusChanged is the same move when it has the same project, feature and WP, its
  lanes map to the same sync lanes, and its time is at most WINDOW after the move's. (2.1.3
  emits right after writing the line.)
- Each of its rows stands for one of ours at most.
- The move's time is the time part of its event id: the log line's own ULID, minted by
  spec-kitty as it wrote the line. The envelope's timestamp may be the commit's, much later.

Read only (``mode=ro``, a short busy timeout): spec-kitty's files are never written. A file that
is locked, missing a table or not SQLite at all is one log line and means "no", never a failed
flush. The check runs at flush time, since the outbox may fill after our capture. It costs a few
stat calls when spec-kitty's sync has no file here.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import json
import re
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
    since = _earliest(moves)
    by_project: dict[str, list[QueuedMove]] = defaultdict(list)
    for move in moves:
        if move.project_uuid:
            by_project[move.project_uuid].append(move)
    for project_uuid, project_moves in by_project.items():
        path = project_store_path(project_uuid)
        if not path.is_file():
            continue
        found = _outbox_causes(path, project_uuid, {m.event_id for m in project_moves}, since)
        if found:
            taken |= found
            senders.append(Sender("3.x", path, len(found)))
    left = [m for m in moves if m.event_id not in taken and m.project_uuid]
    for path in legacy_queue_paths() if left else []:
        found = _legacy_matches(path, [m for m in left if m.event_id not in taken], since)
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
            state = _store_state(path, project_uuid)
            found.append(("3.x", path, state or "cannot be read (see the log)"))
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


def _outbox_causes(
    path: Path, project_uuid: str, wanted: set[str], since: datetime | None
) -> set[str]:
    """Which of wanted (log-line ids) are causation ids of WPStatusChanged envelopes the store
    will send, among the entries journalled since (None: all).

    An envelope is decoded whole only when one of wanted shows in its bytes: most of a long
    history is passed over at the cost of a base64 decode and a search.
    """
    found: set[str] = set()
    with _reading(path) as db:
        if db is None:
            return found
        rows = db.execute(
            "SELECT json_extract(j.payload_json, '$.payload_encoding'),"
            " json_extract(j.payload_json, '$.payload') FROM journal_entries AS j"
            " JOIN outbox_tasks AS o ON o.project_uuid = j.project_uuid"
            " AND o.journal_entry_id = j.entry_id AND o.task_kind = 'event'"
            " LEFT JOIN consent_epochs AS e ON e.project_uuid = j.project_uuid"
            " AND e.epoch_id = j.epoch_id"
            " WHERE j.project_uuid = ?"
            " AND (? IS NULL OR j.created_at IS NULL OR j.created_at >= ?)"
            " AND (o.state = 'synced' OR (o.state <> 'terminal_failed' AND e.state = 'eligible'))"
            " AND json_valid(j.payload_json)"
            " AND json_extract(j.payload_json, '$.event_type') = 'WPStatusChanged'",
            (project_uuid, *[since.isoformat() if since else None] * 2),
        )
        for encoding, payload in rows:
            raw = _envelope_bytes(encoding, payload)
            if raw is None:
                continue
            named = {m.decode("ascii", "replace") for m in _CAUSATION.findall(raw)}
            if not named & wanted:
                continue
            envelope = _parsed(raw)
            cause = envelope.get("causation_id") if envelope else None
            if isinstance(cause, str) and cause in wanted:
                found.add(cause)
    return found


# "causation_id": "<id>" anywhere in an envelope's JSON: a cheap first look, confirmed by parsing.
_CAUSATION = re.compile(rb'"causation_id"\s*:\s*"([0-9A-Za-z-]{1,64})"')


def _envelope_bytes(encoding: object, payload: object) -> bytes | None:
    """The JSON of the envelope a journal entry holds: base64 of JSON, or JSON text."""
    try:
        if encoding == "base64" and isinstance(payload, str):
            return base64.b64decode(payload, validate=True)
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
    except (ValueError, TypeError):
        return None
    return None


def _parsed(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _sending_state(db: sqlite3.Connection, project_uuid: str) -> str:
    """Whether 3.x sends this project's moves now, in words for doctor."""
    decision = db.execute(
        "SELECT state FROM project_consent_decisions WHERE project_uuid = ?", (project_uuid,)
    ).fetchone()
    (eligible,) = db.execute(
        "SELECT count(*) FROM consent_epochs WHERE project_uuid = ? AND state = 'eligible'",
        (project_uuid,),
    ).fetchone()
    if eligible:
        return "on: it sends this project's moves"
    if decision and decision[0] == "refused":
        return "hosted sync refused for this project: it sends nothing"
    return "capturing only, sending nothing until `spec-kitty sync opt-in`"


def _store_state(path: Path, project_uuid: str) -> str | None:
    with _reading(path) as db:
        if db is None:
            return None
        return _sending_state(db, project_uuid)
    return None  # the read failed half-way (logged)


# --- 2.1.3's queue ---------------------------------------------------------------------------


def _legacy_rows(
    db: sqlite3.Connection, since: datetime | None = None
) -> Iterator[tuple[Any, ...]]:
    """2.1.3's queued WPStatusChanged queued since (its timestamp column: epoch seconds), as
    (project_uuid, feature_slug, wp_id, from_lane, to_lane, timestamp); a row that is not JSON
    is passed over."""
    rows = db.execute(
        "SELECT json_extract(data, '$.project_uuid', '$.payload.feature_slug',"
        " '$.payload.wp_id', '$.payload.from_lane', '$.payload.to_lane', '$.timestamp')"
        " FROM queue WHERE event_type = 'WPStatusChanged' AND timestamp >= ? AND json_valid(data)",
        (int(since.timestamp()) if since else 0,),
    )
    for (fields,) in rows:
        try:
            parts = json.loads(fields) if isinstance(fields, str) else None
        except (ValueError, RecursionError):
            continue
        if isinstance(parts, list) and len(parts) == 6:
            yield tuple(parts)


def _move_key(
    project: object, feature: object, wp: object, from_lane: object, to_lane: object
) -> tuple[Any, ...] | None:
    """What makes two lane changes the same move: the WP and the sync lane it goes to (None for
    no move). Not the from-lane: ours is where spec-kitty's view had the WP (null for its
    first appearance), 2.1.3's is what the line says."""
    if not all(
        isinstance(v, (str, type(None))) for v in (project, feature, wp, from_lane, to_lane)
    ):
        return None
    synced = _sync_pair(from_lane, to_lane)  # type: ignore[arg-type]
    return None if synced is None else (project, feature, wp, synced[1])


@functools.lru_cache(maxsize=256)
def _sync_pair(from_lane: str | None, to_lane: str | None) -> tuple[str | None, str] | None:
    try:
        synced = collapse_transition(from_lane, to_lane)  # type: ignore[arg-type]
    except UnknownLaneError:
        return None
    return None if synced is None else (synced.from_lane, synced.to_lane)


def _legacy_matches(path: Path, moves: Sequence[QueuedMove], since: datetime | None) -> set[str]:
    projects = {m.project_uuid for m in moves}
    queued: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    with _reading(path) as db:
        if db is None:
            return set()
        for project, feature, wp, from_lane, to_lane, stamp in _legacy_rows(db, since):
            if project not in projects:
                continue
            key = _move_key(project, feature, wp, from_lane, to_lane)
            when = _instant(stamp)
            if key is not None and when is not None:
                queued[key].append(when)
    for times in queued.values():
        times.sort()
    work_packages = {key[:3] for key in queued}
    matched: set[str] = set()
    for move in moves:
        if (move.project_uuid, move.feature_slug, move.wp_id) not in work_packages:
            continue
        # Ours are in sync lanes already: the same table maps them onto themselves.
        key = _move_key(
            move.project_uuid, move.feature_slug, move.wp_id, move.from_lane, move.to_lane
        )
        candidates = queued.get(key) if key is not None else None
        at = _move_time(move) if candidates else None
        if not candidates or at is None:
            continue
        first = bisect.bisect_left(candidates, at - EARLY)
        if first < len(candidates) and candidates[first] <= at + WINDOW:
            del candidates[first]  # one row stands for one move
            matched.add(move.event_id)
    return matched


def _move_time(move: QueuedMove) -> datetime | None:
    """When a move happened: the time part of its id (a log line's own ULID), else its stamp."""
    return _ulid_instant(move.event_id) or _instant(move.timestamp)


def _earliest(moves: Sequence[QueuedMove]) -> datetime | None:
    """A day before the earliest move: spec-kitty's rows of these moves are younger than that.
    None (read everything) when a move has no time."""
    times = [_move_time(move) for move in moves]
    if not times or any(t is None for t in times):
        return None
    return min(t for t in times if t is not None) - timedelta(days=1)


def _legacy_count(path: Path, projects: set[str]) -> int | None:
    with _reading(path) as db:
        if db is None:
            return None
        return sum(1 for row in _legacy_rows(db) if row[0] in projects)


# --- reading a file of spec-kitty's ----------------------------------------------------------


def _read_only_query(path: Path) -> str:
    """How to open a file of spec-kitty's so that nothing is written beside it either.

    A read-only connection to a WAL database with no ``-wal`` file beside it creates ``-wal`` and
    ``-shm`` files and leaves them there. No ``-wal`` file means spec-kitty is not writing and
    everything is in the main file: that is read as immutable, which creates nothing. Otherwise
    (spec-kitty at work, or a rollback-journal database such as 2.1.3's queue) the ordinary
    read-only mode, which takes spec-kitty's locks and sees its latest commit.
    """
    with path.open("rb") as handle:
        header = handle.read(20)
    in_wal_mode = len(header) == 20 and header[18] == 2 and header[19] == 2
    if in_wal_mode and not Path(f"{path}-wal").exists():
        return "mode=ro&immutable=1"
    return "mode=ro"


class _reading:
    """A read-only connection to a spec-kitty file, or None (logged once) when it cannot be
    read now: locked, not SQLite, or without the tables this version of it should have."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection | None:
        try:
            path = self.path.resolve()
            self.db = sqlite3.connect(
                f"{path.as_uri()}?{_read_only_query(path)}", uri=True, timeout=BUSY_TIMEOUT
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


# Crockford base32 (no I, L, O, U) onto the digits int(..., 32) reads; any other character onto
# one it refuses.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_BASE32 = str.maketrans(
    {chr(c): "!" for c in range(128)}
    | {ch: "0123456789abcdefghijklmnopqrstuv"[i] for i, ch in enumerate(_CROCKFORD)}
    | {ch.lower(): "0123456789abcdefghijklmnopqrstuv"[i] for i, ch in enumerate(_CROCKFORD)}
)


def _ulid_instant(event_id: str) -> datetime | None:
    """The time part of a ULID (its first 10 characters: milliseconds since the epoch)."""
    if len(event_id) != 26 or not event_id.isascii():
        return None
    try:
        millis = int(event_id[:10].translate(_TO_BASE32), 32)
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
