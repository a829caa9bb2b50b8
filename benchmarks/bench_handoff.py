"""Benchmark: what comparing the queue with spec-kitty's own sync costs a flush.

    python benchmarks/bench_handoff.py            # 20,000 queued moves, stores of 20,000 rows
    python benchmarks/bench_handoff.py --quick    # 1,000 and 1,000, 2 rounds: a smoke run

Each flush first leaves to spec-kitty the moves its own sync sends (kitty_hooks/deliver/
spec_kitty_sync.py). Timed in one process, side by side, round after round (medians):

* read:     what any flush must do anyway: read every event to send (the queue's pages of
            envelope bytes, `outgoing_page`, until none is left);
* none:     hand_over with no spec-kitty file in the home folder (the usual case: a few stats);
* old:      hand_over with a 3.x project store and a 2.1.3 queue beside it, each holding
            --rows WPStatusChanged rows of other moves made long before the queued ones (the
            steady state: spec-kitty's history grows, what we hold is recent);
* recent:   the same, the rows made as recently as the queued moves (the worst case: every
            row is decoded and compared).

The stores are built from the real files the CLIs wrote (tests/upstream/sync/), their rows
repeated; none matches a queued move, so nothing is written and one queue serves every round.
Printed: each median and its ratio to read. Nothing is asserted; exit 0.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import harness
from _data import make_envelopes
from harness import ROOT, median, scratch_dir

from kitty_hooks.deliver import spec_kitty_sync
from kitty_hooks.queue.store import EventQueue

RECORDED = ROOT / "tests" / "upstream" / "sync"


def build_stores(home: Path, project_uuid: str, rows: int, *, when: str) -> None:
    store = home / ".spec-kitty" / "projects" / project_uuid / "sync" / "sync.db"
    store.parent.mkdir(parents=True)
    shutil.copy(RECORDED / "3.2.7" / "sync.db", store)
    recorded_uuid = "3f8a2c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    with sqlite3.connect(store) as db:
        (template,) = db.execute(
            "SELECT payload_json FROM journal_entries"
            " WHERE json_extract(payload_json, '$.event_type') = 'WPStatusChanged' LIMIT 1"
        ).fetchone()
        entry = json.loads(template)
        envelope = json.loads(base64.b64decode(entry["payload"]))
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("UPDATE project_store_metadata SET project_uuid = ?", (project_uuid,))
        # Opted in: every entry is one 3.x sends, so every one is looked at.
        db.execute(
            "UPDATE consent_epochs SET project_uuid = ?, state = 'eligible', consent_generation = 1",
            (project_uuid,),
        )
        db.execute("UPDATE outbox_tasks SET project_uuid = ?", (project_uuid,))
        db.execute("UPDATE journal_entries SET project_uuid = ?", (project_uuid,))
        batch, tasks = [], []
        for number in range(rows):
            envelope["causation_id"] = f"7ZZZZZZZZZZZZZZZZZZZ{number:06d}"
            entry["payload"] = base64.b64encode(json.dumps(envelope).encode()).decode()
            batch.append(
                (f"bench{number:08d}", project_uuid, 1, 1000 + number, json.dumps(entry), when)
            )
            tasks.append((f"event:bench{number:08d}", project_uuid, f"bench{number:08d}"))
        db.executemany(
            "INSERT INTO journal_entries (entry_id, project_uuid, epoch_id, capture_sequence,"
            " payload_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            batch,
        )
        db.executemany(
            "INSERT INTO outbox_tasks (task_id, project_uuid, epoch_id, journal_entry_id,"
            " task_kind, state) VALUES (?, ?, 1, ?, 'event', 'pending')",
            tasks,
        )
        db.execute("PRAGMA journal_mode=WAL")
    queue = home / ".spec-kitty" / "queue.db"
    shutil.copy(RECORDED / "2.1.3" / "queue.db", queue)
    with sqlite3.connect(queue) as db:
        (data,) = db.execute(
            "SELECT data FROM queue WHERE event_type = 'WPStatusChanged' LIMIT 1"
        ).fetchone()
        event = json.loads(data.replace(recorded_uuid, project_uuid))
        event["timestamp"] = when  # 2.1.3 matches a move near its own time only
        epoch = int(datetime.fromisoformat(when).timestamp())
        db.executemany(
            "INSERT INTO queue (event_id, event_type, data, timestamp) VALUES (?, ?, ?, ?)",
            [
                (
                    f"bench{n:08d}",
                    "WPStatusChanged",
                    json.dumps({**event, "event_id": str(n)}),
                    epoch,
                )
                for n in range(rows)
            ],
        )


def read_everything(queue: EventQueue) -> int:
    count, after = 0, 0
    while True:
        page = queue.outgoing_page(1000, after_id=after)
        if not page.ids:
            return count
        count += len(page.ids)
        after = page.ids[-1]


def main(argv: Sequence[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="queued moves (20000)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of each store (20000)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (7)")
    quick = {"events": 1_000, "rows": 1_000, "rounds": 2}
    args = harness.parse(parser, argv, quick=quick, help="1,000 moves, 1,000 rows, 2 rounds")
    with scratch_dir("bench-handoff-") as temp:
        root = Path(temp)
        homes = {name: root / name for name in ("read", "none", "old", "recent")}
        for home in homes.values():
            (home / ".spec-kitty").mkdir(parents=True)
        envelopes = make_envelopes(args.events, seed=7)
        project = envelopes[0]["project_uuid"]
        newest = max(e["timestamp"] for e in envelopes)
        build_stores(homes["old"], project, args.rows, when="2001-01-01T00:00:00+00:00")
        build_stores(homes["recent"], project, args.rows, when=newest)
        queue_path = root / "queue.db"
        with EventQueue(queue_path) as queue:
            queue.enqueue(envelopes)
        times: dict[str, list[float]] = {name: [] for name in homes}
        with EventQueue(queue_path) as queue:

            def hand_over() -> None:
                handoff = spec_kitty_sync.hand_over(queue, retry_limit=5)
                if handoff.event_ids:
                    sys.exit(f"hand_over left {len(handoff.event_ids)} moves to spec-kitty")

            for _, name in harness.interleaved(list(homes), args.rounds):
                os.environ["HOME"] = str(homes[name])
                if name == "read":
                    times[name].append(harness.timed_call(lambda: read_everything(queue)))
                else:
                    times[name].append(harness.timed_call(hand_over))
        medians = {name: median(values) for name, values in times.items()}
    print(f"{args.events:,} queued moves; spec-kitty stores of {args.rows:,} rows each")
    for name, value in medians.items():
        print(f"  {name:7} {value * 1000:9.1f} ms  {value / medians['read']:7.3f}x read")


if __name__ == "__main__":
    main()
