"""One node, one clock: each queue has its own node id, written into every envelope it takes in
with its own Lamport clock, so no two queues of one user ever send the same (node, lamport)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from kitty_hooks.capture.identity import node_id as host_user_node_id
from kitty_hooks.queue.schema import (
    SCHEMA_VERSION,
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
)
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import KITTY_HOOKS, Repo
from tests.syncutil import envelopes

FEATURE = "kitty-specs/039-cli-2x-readiness/tasks"


def wp(lane: str, wp_id: str) -> str:
    return f"---\nwork_package_id: {wp_id}\ntitle: Fix the thing\nlane: {lane}\n---\n# body\n"


def pairs(home: Path) -> list[tuple[str, int]]:
    with EventQueue(home / "queue.db") as queue:
        return [(e.envelope["node_id"], e.envelope["lamport_clock"]) for e in queue.list_entries()]


def test_two_homes_of_one_user_capture_under_two_nodes_and_never_repeat_a_pair(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes = [tmp_path / "home-a", tmp_path / "home-b"]
    for step, lane in enumerate(("planned", "in_progress", "for_review")):
        for number in (1, 2):
            repo.write(f"{FEATURE}/WP0{number}-thing.md", wp(lane, f"WP0{number}"))
        repo.commit_all(f"move {step}")
        for home in homes:  # the same user captures the same commit into both homes
            monkeypatch.setenv("KITTY_HOOKS_HOME", str(home))
            done = repo.kitty_hooks("hook", "post-commit")
            assert done.returncode == 0, done.stderr

    a, b = pairs(homes[0]), pairs(homes[1])
    assert len(a) == len(b) == 6
    assert [lamport for _, lamport in a] == [lamport for _, lamport in b] == list(range(1, 7))
    assert len({node for node, _ in a}) == len({node for node, _ in b}) == 1
    assert a[0][0] != b[0][0], "each queue is its own node"
    assert len(set(a) | set(b)) == 12, "no (node, lamport) pair twice"
    assert host_user_node_id() not in {a[0][0], b[0][0]}


def test_the_node_id_is_the_queues_and_stays_with_it(tmp_path: Path) -> None:
    with EventQueue(tmp_path / "queue.db") as queue:
        node = queue.node_id()
        queue.enqueue(envelopes(2))
    with EventQueue(tmp_path / "queue.db") as queue:
        assert queue.node_id() == node
        queue.enqueue(envelopes(1, start=2))
        assert {e.envelope["node_id"] for e in queue.list_entries()} == {node}
    assert len(node) == 12 and int(node, 16) >= 0


def test_a_queue_from_before_keeps_its_queued_events_and_sends_new_ones_under_a_new_node(
    tmp_path: Path,
) -> None:
    """Queues of schema 3 all stamped the host:user id; each kept its own clock, so any clock of
    another home may already have sent the pairs this one's would reach next under that id. The
    migrated queue takes a new id; what it queued before keeps the id it was queued with."""
    path = tmp_path / "queue.db"
    with sqlite3.connect(path) as conn:
        for step in (_migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3):
            step(conn)
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    old = envelopes(2)
    with sqlite3.connect(path) as conn:  # as kitty-hooks of schema 3 queued them
        for clock, envelope in enumerate(old, start=1):
            envelope.update(node_id=host_user_node_id(), lamport_clock=clock, causation_id=None)
            conn.execute(
                "INSERT INTO entries (id, event_id, event_type, data, created_at, causation_key)"
                " VALUES (?, ?, ?, json(?), '2026-11-01T00:00:00+00:00', ?)",
                (clock, envelope["event_id"], envelope["event_type"],
                 json.dumps(envelope), f"k{clock}"),
            )  # fmt: skip
    conn.close()

    with EventQueue(path) as queue:
        queue.enqueue(envelopes(1, start=2))
        entries = queue.list_entries()
        node = queue.node_id()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert [(e.envelope["node_id"], e.envelope["lamport_clock"]) for e in entries] == [
        (host_user_node_id(), 1),
        (host_user_node_id(), 2),
        (node, 3),
    ]
    assert node != host_user_node_id()


def test_a_spooled_envelope_takes_the_node_of_the_queue_it_enters(tmp_path: Path) -> None:
    """The node goes with the clock: whatever node an envelope named before it was queued (the
    capture's, or another queue's), the queue that gives it its clock gives it its node."""
    foreign = envelopes(1)[0]
    foreign["node_id"] = "0123456789ab"
    with EventQueue(tmp_path / "queue.db") as queue:
        queue.enqueue([foreign])
        (entry,) = queue.list_entries()
        assert entry.envelope["node_id"] == queue.node_id() != "0123456789ab"


def test_doctor_names_the_queues_node(tmp_path: Path) -> None:
    with EventQueue() as queue:
        queue.enqueue(envelopes(1))
        node = queue.node_id()
    doctor = subprocess.run([*KITTY_HOOKS, "doctor"], cwd=tmp_path, capture_output=True, text=True)
    (line,) = [x for x in doctor.stdout.splitlines() if "queue: file:" in x]
    assert line.startswith("ok") and f"(node {node}: its own Lamport clock)" in line
