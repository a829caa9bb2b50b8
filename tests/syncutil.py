"""Queue real envelopes and write real credentials for flush tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import tomli_w

from kitty_hooks.model.events import Identity, LaneChange, build_status_envelope, derive_ulid
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import captured

IDENTITY = Identity("63c8d621-4b64-48e2-86fc-56c667068f2f", "kitty-cli", "b805cd5cee74")
LANES = ("planned", "claimed", "for_review", "done")


def envelopes(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """`count` valid, distinct WPStatusChanged envelopes."""
    built = []
    for index in range(start, start + count):
        change = LaneChange(
            feature_slug="039-cli-2x-readiness",
            wp_id=f"WP{index % 90 + 1:02d}",
            from_lane=None,
            to_lane="planned",
            actor="ada",
            at=(datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(seconds=index)).isoformat(),
        )
        envelope = build_status_envelope(
            change,
            identity=IDENTITY,
            lamport_clock=0,
            correlation_id=derive_ulid(1_700_000_000_000 + index, "test"),
        )
        assert envelope is not None
        built.append(dict(envelope))
    return built


def queue_events(count: int, *, start: int = 0) -> list[str]:
    batch = envelopes(count, start=start)
    with EventQueue() as queue:
        queue.enqueue(batch)
    return [e["event_id"] for e in batch]


def queued_entries() -> list[Any]:
    captured()  # commits made through the installed shims are captured in the background
    with EventQueue() as queue:
        return queue.list_entries()


def credentials_file(home: Path) -> Path:
    return home / ".spec-kitty" / "credentials"


def write_credentials(
    home: Path,
    url: str,
    tokens: dict[str, Any],
    *,
    access_expires_in: float = 900,
    refresh_expires_in: float = 7 * 24 * 3600,
) -> Path:
    now = datetime.now(timezone.utc)
    path = credentials_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        tomli_w.dumps(
            {
                "tokens": {"access": tokens["access"], "refresh": tokens["refresh"]},
                "expiries": {
                    "access": (now + timedelta(seconds=access_expires_in)).isoformat(),
                    "refresh": (now + timedelta(seconds=refresh_expires_in)).isoformat(),
                },
                "user": {"username": "ada"},
                "server": {"url": url},
            }
        ),
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path
