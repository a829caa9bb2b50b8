"""`kitty-hooks serve` takes what real spec-kitty clients send, and refuses what none would.

spec-kitty 2.1.3's own `sync now` runs for real (its installed CLI, in a subprocess, against the
server on loopback). 3.2.7's envelopes are the ones its own sync queued in its outbox, recorded
by tests/upstream/record_sync.py (its delivery needs a SaaS admission handshake that the local
server does not play); they are posted as 3.2.7 would, in one gzip batch.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.deliver.login import log_in
from tests.ingest import IngestServer, post_batch
from tests.upstream.record_sync import CONFIG_YAML, EMIT_213

RECORDED = Path(__file__).parents[1] / "upstream" / "sync"
SK213 = Path("/work/peers/sk213")


def recorded_3_2_7_envelopes() -> list[dict[str, Any]]:
    with sqlite3.connect(RECORDED / "3.2.7" / "sync.db") as db:
        rows = db.execute("SELECT payload_json FROM journal_entries ORDER BY capture_sequence")
        entries = [json.loads(text) for (text,) in rows]
    return [json.loads(base64.b64decode(entry["payload"])) for entry in entries]


def recorded_2_1_3_envelopes() -> list[dict[str, Any]]:
    with sqlite3.connect(RECORDED / "2.1.3" / "queue.db") as db:
        return [json.loads(text) for (text,) in db.execute("SELECT data FROM queue ORDER BY id")]


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


@pytest.mark.parametrize(
    "envelopes",
    [recorded_3_2_7_envelopes, recorded_2_1_3_envelopes],
    ids=["3.2.7-outbox", "2.1.3-queue"],
)
def test_every_recorded_envelope_of_spec_kitty_is_accepted(
    server: IngestServer, envelopes: Any
) -> None:
    batch = envelopes()
    assert {e["event_type"] for e in batch} >= {"WPStatusChanged"}
    results = post_batch(server.url, server.login()["access"], batch).json()["results"]
    assert [(r["status"], r["error"]) for r in results] == [("success", None)] * len(batch)
    assert server.event_ids() == [e["event_id"] for e in batch]


def lane_change(**changes: Any) -> dict[str, Any]:
    """A 3.2.7 WPStatusChanged as its outbox holds it, changed."""
    envelope = next(e for e in recorded_3_2_7_envelopes() if e["event_type"] == "WPStatusChanged")
    payload = {**envelope["payload"], **changes.pop("payload", {})}
    return {**envelope, **changes, "payload": payload}


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (lane_change(payload={"to_lane": "shipped"}), "$.payload.to_lane"),
        (lane_change(payload={"from_lane": "limbo"}), "$.payload.from_lane"),
        (lane_change(payload={"wp_id": None}), "$.payload.wp_id"),
        (lane_change(payload={"actor": 7}), "$.payload.actor"),
        (lane_change(event_id="not-an-id"), "$.event_id"),
        (lane_change(lamport_clock=-1), "$.lamport_clock"),
        (lane_change(timestamp="yesterday"), "$.timestamp"),
        (lane_change() | {"payload": ["WP01"]}, "$.payload"),
        (lane_change(data_tier=9), "$.data_tier"),
        (lane_change(project_uuid="not-a-uuid"), "$.project_uuid"),
        ({k: v for k, v in lane_change().items() if k != "node_id"}, "node_id"),
    ],
    ids=[
        "unknown-to-lane",
        "unknown-from-lane",
        "no-wp",
        "numeric-actor",
        "bad-id",
        "negative-clock",
        "no-time",
        "payload-not-object",
        "tier-out-of-range",
        "bad-project",
        "no-node",
    ],
)
def test_what_no_client_sends_is_refused(
    server: IngestServer, envelope: dict[str, Any], error: str
) -> None:
    (result,) = post_batch(server.url, server.login()["access"], [envelope]).json()["results"]
    assert result["status"] == "rejected"
    assert error in result["error"]
    assert server.event_ids() == []


def spec_kitty_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "SPEC_KITTY_NO_UPGRADE_CHECK": "1",
        "SPEC_KITTY_NON_INTERACTIVE": "1",
        "SPEC_KITTY_ENABLE_SAAS_SYNC": "1",
        "NO_PROXY": "*",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }


def point_spec_kitty_at(home: Path, url: str) -> None:
    (home / ".spec-kitty" / "config.toml").write_text(f'[sync]\nserver_url = "{url}"\n')


def queued_by_2_1_3(home: Path) -> list[str]:
    found = []
    for path in [home / ".spec-kitty" / "queue.db", *(home / ".spec-kitty").glob("queues/*.db")]:
        if path.exists():
            with sqlite3.connect(path) as db:
                found += [row[0] for row in db.execute("SELECT event_id FROM queue")]
    return found


@pytest.mark.skipif(not (SK213 / "bin" / "spec-kitty").exists(), reason="no spec-kitty 2.1.3")
def test_spec_kitty_2_1_3_sync_now_delivers_everything(
    hermetic_env: Path, tmp_path: Path, server: IngestServer
) -> None:
    home = hermetic_env
    log_in(server.url, "ada", "secret")  # kitty-hooks login: 2.1.3 reads the file it writes
    env = spec_kitty_env(home)
    # Moves made while spec-kitty's server is out of reach stay in 2.1.3's queue.
    point_spec_kitty_at(home, "http://127.0.0.1:9")
    work = tmp_path / "project"
    emitted = subprocess.run(
        [str(SK213 / "bin" / "python"), "-c", EMIT_213, str(work), CONFIG_YAML],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert emitted.returncode == 0, emitted.stderr
    queued = queued_by_2_1_3(home)
    assert len(queued) >= 9  # 9 lane changes, and dossier events

    point_spec_kitty_at(home, server.url)
    synced = subprocess.run(
        [str(SK213 / "bin" / "spec-kitty"), "sync", "now"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "Errors: 0" in " ".join(synced.stdout.split())
    assert queued_by_2_1_3(home) == []
    assert sorted(server.event_ids()) == sorted(queued)
