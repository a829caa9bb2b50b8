"""Event envelopes: building a WPStatusChanged from a lane change, the ids it carries, the
causation chain it belongs to, and its commit references after a rewrite."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple, TypedDict

from kitty_hooks.model.lanes import ACCEPTED_LANE_NAMES, canonical_lane, collapse_transition

EVENT_TYPE = "WPStatusChanged"
"""The event_type of a lane change, the one kind of event kitty-hooks sends (and checks)."""

SCHEMA_VERSION = "1.0.0"
DEFAULT_DATA_TIER = 0
# The execution modes the sync payload takes (spec-kitty-events' ExecutionMode).
EXECUTION_MODES = ("worktree", "direct_repo")
# The order spec-kitty-events' actor_label reads a structured actor in, then the rest.
_ACTOR_NAME_KEYS = ("profile", "role", "display_name", "actor_id", "tool", "model")
_ACTOR_DETAIL_KEYS = ("role", "tool", "model")

_LANE_NAMES = frozenset(ACCEPTED_LANE_NAMES)
# Crockford's base32 alphabet, as the ULID spec uses it.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two characters at a time (10 bits): a ULID's 26 characters are 13 pairs, highest first.
_CROCKFORD_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
_PAIR_SHIFTS = tuple(range(120, -1, -10))
# json.dumps(key, ensure_ascii=False), without making an encoder each call.
_key_json = json.JSONEncoder(ensure_ascii=False).encode
# The shortest hex string taken for an abbreviated commit (git's default abbreviation).
_MIN_ABBREV = 7
_HEX = frozenset("0123456789abcdef")


def is_lower_hex(text: str) -> bool:
    """Lower-case hexadecimal digits only (a commit sha as git prints it, a bare UUID's digits)."""
    return _HEX.issuperset(text)


class Envelope(TypedDict):
    event_id: str
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]
    timestamp: str
    node_id: str
    lamport_clock: int
    causation_id: str | None
    project_uuid: str
    project_slug: str | None
    correlation_id: str
    schema_version: str
    data_tier: int


# NamedTuple, not dataclass: the post-commit hook cannot afford dataclasses' import (inspect,
# ast: ~8 ms) nor its per-class code generation.
class LaneChange(NamedTuple):
    """One move of one work package, in canonical lanes, as found in a commit or a log line."""

    feature_slug: str
    wp_id: str
    from_lane: str | None
    to_lane: str
    actor: str
    at: str
    force: bool = False
    reason: str | None = None
    execution_mode: str = "direct_repo"
    review_ref: str | None = None
    evidence: dict[str, Any] | None = None
    event_id: str | None = None


class Identity(NamedTuple):
    """Who emits: the project every clone agrees on, and this machine and user."""

    project_uuid: str
    project_slug: str | None
    node_id: str


def actor_label(actor: Any) -> str | None:
    """The actor as the readable string the sync payload carries; None when there is none.

    A string is itself. A 3.x structured actor ({role, profile, tool, model}) is named as
    spec-kitty-events' actor_label names it (profile, else role, else display_name or
    actor_id), and the role, tool and model it leaves out follow in parentheses:
    {"role": "implementer", "profile": "python-pro", "tool": "claude", "model": null} becomes
    "python-pro (role: implementer, tool: claude)".
    """
    if isinstance(actor, str):
        return actor.strip() or None
    if not isinstance(actor, dict):
        return None
    texts = {k: v.strip() for k, v in actor.items() if isinstance(v, str) and v.strip()}
    name_key = next((k for k in _ACTOR_NAME_KEYS if k in texts), None)
    if name_key is None:
        return next(iter(texts.values()), None)
    details = [f"{k}: {texts[k]}" for k in _ACTOR_DETAIL_KEYS if k in texts and k != name_key]
    label = texts[name_key] + (f" ({', '.join(details)})" if details else "")
    return label[:200]


def new_ulid() -> str:
    """A fresh random ULID from python-ulid (not for hook paths: its import costs ~40 ms)."""
    from ulid import ULID

    return str(ULID())


def encode_ulid(raw: bytes) -> str:
    """The 26-character Crockford base32 text of 16 ULID bytes.

    Written out here because the post-commit hook cannot afford python-ulid's import time;
    tests check it against the library.
    """
    if len(raw) != 16:
        raise ValueError(f"a ULID is 16 bytes, got {len(raw)}")
    number = int.from_bytes(raw, "big")
    pairs = _CROCKFORD_PAIRS
    return "".join([pairs[(number >> shift) & 1023] for shift in _PAIR_SHIFTS])


def derive_ulid(timestamp_ms: int, *key: str) -> str:
    """A ULID that is the same for the same inputs: time part from timestamp_ms, the rest a hash.

    This is what makes events idempotent: the same lane change seen again (hook re-run, amend,
    rebase, backfill scan) gets the same id, so the queue holds it once and the server answers
    duplicate. The time part keeps derived ids roughly time-ordered like random ones.
    """
    if not 0 <= timestamp_ms < 1 << 48:
        raise ValueError(f"timestamp out of ULID range: {timestamp_ms}")
    # JSON keeps the parts apart: ("a", "b") and ("a\x1fb",) must not hash alike.
    digest = hashlib.sha256(_key_json(key).encode("utf-8")).digest()
    return encode_ulid(timestamp_ms.to_bytes(6, "big") + digest[:10])


def iso_to_millis(value: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time (naive times are taken as UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def move_timestamp(at: str, fallback: str) -> str:
    """An envelope's timestamp: when the move happened (a log line's `at`; for a frontmatter or
    folder move, the commit's time: fallback), in UTC to the millisecond. A time that does not
    read as ISO 8601 takes the fallback; a fallback that does not either, now."""
    if at.endswith("+00:00") and (
        (len(at) >= 29 and at[19] == "." and at[20:-6].isdigit()) or len(at) == 25
    ):
        # What spec-kitty writes (UTC, seconds or microseconds): cut to milliseconds, once
        # checked to be a time (a scan stamps tens of thousands).
        stamp = at[:23] + "+00:00" if len(at) >= 29 else at[:19] + ".000+00:00"
        if _is_time(stamp):
            return stamp
    for value in (at, fallback):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        try:
            return parsed.astimezone(timezone.utc).isoformat(timespec="milliseconds")
        except (ValueError, OverflowError):
            continue
    return utc_now_iso()


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def lane_change_event_id(change: LaneChange, *, project_uuid: str) -> str:
    """The event id of a lane change: the log line's own id, else one derived from the change."""
    if change.event_id:
        return change.event_id
    return derive_ulid(
        iso_to_millis(change.at),
        "lane-change",
        project_uuid,
        change.feature_slug,
        change.wp_id,
        change.from_lane or "",
        change.to_lane,
        change.at,
        change.actor,
    )


def build_status_envelope(
    change: LaneChange,
    *,
    identity: Identity,
    lamport_clock: int,
    correlation_id: str,
    causation_id: str | None = None,
    timestamp: str | None = None,
    data_tier: int = DEFAULT_DATA_TIER,
) -> Envelope | None:
    """The WPStatusChanged envelope of a lane change, or None when it collapses to a no-op.

    The payload carries sync lanes (lanes.collapse_transition); the canonical lanes stay in the
    log. Raises lanes.UnknownLaneError when a side is not a lane.
    """
    from_lane, to_lane = change.from_lane, change.to_lane
    if to_lane not in _LANE_NAMES or (from_lane is not None and from_lane not in _LANE_NAMES):
        # Anything but lane names as spec-kitty writes them: what is wrong is said here.
        from_lane = canonical_lane(from_lane) if from_lane is not None else None
        to_lane = canonical_lane(to_lane)
    moved = collapse_transition(from_lane, to_lane)
    if moved is None:
        return None
    payload: dict[str, Any] = {
        "feature_slug": change.feature_slug,
        "wp_id": change.wp_id,
        "from_lane": moved.from_lane,
        "to_lane": moved.to_lane,
        "actor": change.actor,
        "force": change.force,
        "reason": change.reason,
        "execution_mode": change.execution_mode,
        "review_ref": change.review_ref,
        "evidence": change.evidence,
    }
    return Envelope(
        event_id=lane_change_event_id(change, project_uuid=identity.project_uuid),
        event_type=EVENT_TYPE,
        aggregate_id=change.wp_id,
        payload=payload,
        timestamp=timestamp or utc_now_iso(),
        node_id=identity.node_id,
        lamport_clock=lamport_clock,
        causation_id=causation_id,
        project_uuid=identity.project_uuid,
        project_slug=identity.project_slug,
        correlation_id=correlation_id,
        schema_version=SCHEMA_VERSION,
        data_tier=data_tier,
    )


def causation_key(envelope: Mapping[str, Any]) -> str:
    """What chains events together: the work package of a status change, else the aggregate."""
    aggregate_id = str(envelope.get("aggregate_id") or "")
    if envelope.get("event_type") == EVENT_TYPE:
        payload = envelope.get("payload") or {}
        return f"{envelope.get('project_uuid') or ''}/{payload.get('feature_slug') or ''}/{aggregate_id}"
    return aggregate_id


# --- commit references after an amend or rebase ---------------------------------------------


def commit_rewrites(rewritten: Mapping[str, str]) -> dict[str, str]:
    """Old sha -> new sha as replace_commit_refs takes it: the old shas lowercased, empty ones
    left out."""
    return {old.lower(): new for old, new in rewritten.items() if old}


def replace_commit_refs(
    envelope: Mapping[str, Any], rewrites: Mapping[str, str]
) -> dict[str, Any] | None:
    """The envelope pointed at the commits an amend or rebase made of the ones it names, or None
    when it names none of them.

    payload.review_ref and payload.evidence.repos[].commit that equal an old sha, or abbreviate
    one (at least 7 hex digits), become the new full sha. rewrites comes from commit_rewrites().
    The envelope given is left as it is.
    """
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return None
    changes: dict[str, Any] = {}
    new = _new_sha(payload.get("review_ref"), rewrites)
    if new is not None:
        changes["review_ref"] = new
    evidence = payload.get("evidence")
    repos = evidence.get("repos") if isinstance(evidence, dict) else None
    if isinstance(repos, list):
        new_repos = [_with_new_commit(repo, rewrites) for repo in repos]
        if any(after is not before for after, before in zip(new_repos, repos, strict=True)):
            changes["evidence"] = {**evidence, "repos": new_repos}
    if not changes:
        return None
    return {**envelope, "payload": {**payload, **changes}}


def _with_new_commit(repo: Any, rewrites: Mapping[str, str]) -> Any:
    if isinstance(repo, dict):
        new = _new_sha(repo.get("commit"), rewrites)
        if new is not None:
            return {**repo, "commit": new}
    return repo


def _new_sha(value: Any, rewrites: Mapping[str, str]) -> str | None:
    """The new sha for a commit reference that names a rewritten commit, else None."""
    if not isinstance(value, str) or not value:
        return None
    lowered = value.lower()
    exact = rewrites.get(lowered)
    if exact is not None:
        return exact if exact != value else None
    if len(lowered) < _MIN_ABBREV or not is_lower_hex(lowered):
        return None
    candidates = {new for old, new in rewrites.items() if old.startswith(lowered)}
    # Two rewritten commits sharing the abbreviation: ambiguous, leave it.
    return candidates.pop() if len(candidates) == 1 else None
