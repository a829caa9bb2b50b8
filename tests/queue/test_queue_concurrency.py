"""Many git processes writing one queue at once, and a process killed in the middle of a write."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.queue.store import EventQueue

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

WORKERS = 8
OWN_EVENTS = 200
SHARED_EVENTS = 40

# Each worker opens the queue only once all are started, so creating the file is contended too.
# Events of all workers move the same work packages, so causation chains cross processes.
_WORKER = """
import json, sys, time
from pathlib import Path
from kitty_hooks.model.events import derive_ulid
from kitty_hooks.queue.store import EventQueue

path, worker, own, shared, batch = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])

def envelope(tag, n):
    wp = f"WP{n % 12:02d}"
    return {
        "event_id": derive_ulid(1_763_600_000_000 + n, tag, str(n)),
        "event_type": "WPStatusChanged", "aggregate_id": wp,
        "payload": {"feature_slug": "039-cli", "wp_id": wp, "from_lane": "planned",
                    "to_lane": "doing", "actor": tag},
        "project_uuid": "63c8d621-4b64-48e2-86fc-56c667068f2f",
        "lamport_clock": 0, "causation_id": None,
    }

plan = []
every = own // shared
for n in range(own):
    plan.append(envelope(f"worker-{worker}", n))
    if n % every == 0:
        plan.append(envelope("shared", n // every))
print("ready", flush=True)
sys.stdin.readline()
queued, duplicates = [], []
with EventQueue(Path(path), busy_timeout_ms=60_000) as queue:
    for start in range(0, len(plan), batch):
        result = queue.enqueue(plan[start:start + batch])
        queued += result.queued
        duplicates += result.duplicates
        time.sleep(0.0003)  # what a hook does between two commits, so the writers interleave
print(json.dumps({"sent": [e["event_id"] for e in plan], "queued": queued,
                  "duplicates": duplicates}))
"""


def _lamport_and_cause(path: Path) -> dict[str, tuple[int, str | None, str]]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT event_id, data, causation_key FROM entries ORDER BY id")
        found = {}
        for event_id, data, key in rows:
            envelope = json.loads(data)
            found[event_id] = (envelope["lamport_clock"], envelope["causation_id"], key)
        return found
    finally:
        conn.close()


def test_eight_processes_enqueue_into_one_queue_without_loss_or_repeats(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    workers = [
        subprocess.Popen(
            # Half of them queue one event per call (the hook), half in batches of 25 (a scan).
            [
                *(sys.executable, "-c", _WORKER, str(path), str(worker)),
                *(str(OWN_EVENTS), str(SHARED_EVENTS), "1" if worker % 2 else "25"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    for worker in workers:  # go, all at once
        worker.stdin.write("go\n")
        worker.stdin.flush()
    reports: list[dict[str, Any]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))

    stored = _lamport_and_cause(path)

    expected = WORKERS * OWN_EVENTS + SHARED_EVENTS
    assert len(stored) == expected, "no event lost"
    queued_by = Counter(event_id for report in reports for event_id in report["queued"])
    assert set(queued_by) == set(stored) and max(queued_by.values()) == 1, "none queued twice"
    for report in reports:
        assert Counter(report["sent"]) == Counter(report["queued"] + report["duplicates"])
    lamports = sorted(value for value, _, _ in stored.values())
    assert lamports == list(range(1, expected + 1)), "distinct, and a duplicate ticks nothing"
    for report in reports:
        mine = [stored[event_id][0] for event_id in report["queued"]]
        assert mine == sorted(mine) and len(set(mine)) == len(mine), "increasing per process"
    # They really wrote at the same time: in clock order, the writer changes again and again.
    writer_of = {eid: n for n, report in enumerate(reports) for eid in report["queued"]}
    in_clock_order = [writer_of[eid] for eid in sorted(stored, key=lambda eid: stored[eid][0])]
    switches = sum(a != b for a, b in pairwise(in_clock_order))
    assert switches > 4 * WORKERS, f"the writers took turns only {switches} times"
    # Each work package's events form one unbroken chain in clock order, across processes.
    chains: dict[str, list[tuple[int, str, str | None]]] = defaultdict(list)
    for event_id, (value, cause, key) in stored.items():
        chains[key].append((value, event_id, cause))
    for chain in chains.values():
        chain.sort()
        assert [cause for _, _, cause in chain] == [None] + [eid for _, eid, _ in chain[:-1]]


_CRASHER = """
import sys, time
from pathlib import Path
from kitty_hooks.model.events import derive_ulid
from kitty_hooks.queue.store import EventQueue

path, first, big, stall_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def envelope(n):
    wp = f"WP{n % 30:02d}"
    return {"event_id": derive_ulid(1_763_600_000_000 + n, str(n)), "event_type": "WPStatusChanged",
            "aggregate_id": wp, "payload": {"feature_slug": "039-cli", "wp_id": wp,
            "note": "x" * 300}}

queue = EventQueue(Path(path))
queue.enqueue([envelope(n) for n in range(first)])
conn = queue._conn
# A tiny page cache makes SQLite spill the open transaction's pages into the WAL, so the kill
# leaves uncommitted frames on disk for recovery to throw away.
conn.execute("PRAGMA cache_size = 8")
if stall_at:
    def stall():
        if conn.total_changes >= first + stall_at:
            print("mid-batch", flush=True)
            time.sleep(120)
        return 0
    conn.set_progress_handler(stall, 500)
print("go", flush=True)
queue.enqueue([envelope(n) for n in range(first, first + big)])
print("committed", flush=True)
time.sleep(120)
"""


def _start_crasher(path: Path, first: int, big: int, stall_at: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(path), str(first), str(big), str(stall_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def test_a_process_killed_in_the_middle_of_a_batch_leaves_none_of_it(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    first, big = 10, 3000
    crasher = _start_crasher(path, first, big, stall_at=big // 2)
    try:
        assert crasher.stdout.readline().strip() == "go", crasher.stderr.read()
        assert crasher.stdout.readline().strip() == "mid-batch", crasher.stderr.read()
    finally:
        _kill(crasher)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 100 * 4096, "half a batch of uncommitted pages was in the WAL"

    with EventQueue(path) as queue:
        assert queue.recovered_from is None
        entries = queue.list_entries()
        assert [e.envelope["lamport_clock"] for e in entries] == list(range(1, first + 1))
        assert queue.lamport_clock() == first
        # The batch that died is new again, and the clock goes on from where it was committed.
        script_ids = {e.event_id for e in entries}
        result = queue.enqueue([_crasher_envelope(n) for n in range(first + big)])
        assert set(result.duplicates) == script_ids
        assert len(result.queued) == big
        assert queue.lamport_clock() == first + big
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("delay", [0.05, 0.3])
def test_a_process_killed_at_any_moment_leaves_all_or_none_of_its_batch(
    tmp_path: Path, delay: float
) -> None:
    path = tmp_path / "queue.db"
    first, big = 10, 20_000
    crasher = _start_crasher(path, first, big, stall_at=0)
    try:
        assert crasher.stdout.readline().strip() == "go", crasher.stderr.read()
        time.sleep(delay)
    finally:
        _kill(crasher)

    with EventQueue(path) as queue:
        count = len(queue.list_entries())
        assert count in (first, first + big)
        assert queue.lamport_clock() == count
        queue.enqueue([_crasher_envelope(first + big)])
        assert queue.lamport_clock() == count + 1, "no value handed out twice"
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _crasher_envelope(n: int) -> dict[str, Any]:
    from kitty_hooks.model.events import derive_ulid

    wp = f"WP{n % 30:02d}"
    return {
        "event_id": derive_ulid(1_763_600_000_000 + n, str(n)),
        "event_type": "WPStatusChanged",
        "aggregate_id": wp,
        "payload": {"feature_slug": "039-cli", "wp_id": wp, "note": "x" * 300},
    }
