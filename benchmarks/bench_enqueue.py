"""Benchmark: queueing events, kitty-hooks' EventQueue against spec-kitty-cli's OfflineQueue.

    python benchmarks/bench_enqueue.py            # 20,000 events ours, 2,000 theirs, 5 / 3 runs
    python benchmarks/bench_enqueue.py --quick    # 2,000 ours, 50 theirs, 1 run: a smoke run

Measures, in one run and on the same generated WPStatusChanged envelopes (fresh queue file for
each run, medians, events per second):

* ours, batch:     one `EventQueue.enqueue()` call with all N events (a scan, a big commit);
* ours, per event: `enqueue([event])` N times on one open queue, one transaction each;
* ours, hook-like: open the queue, enqueue one event, close it, for a few hundred events (what
  each post-commit hook run pays inside Python, without the interpreter's start);
* theirs: spec-kitty-cli 2.1.3 `OfflineQueue(db_path=..., max_queue_size=...).queue_event(event)`
  per event (it opens a connection and commits for each, in rollback-journal mode).

spec-kitty-cli conflicts with this project's dependencies, so it runs in a virtual environment of
its own, in a child process with HOME set to a scratch folder: /tmp/research/venv when it has the
package, else one made once under ~/.cache/kitty-hooks-bench/ with
`pip install spec-kitty-cli==2.1.3 click` (that first run needs the package index; --peer-python
points at any interpreter that has it; --quick installs nothing, and times ours alone without
it). Targets: >= 20,000 events/s, and >= 10x theirs.
Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness
from _data import make_envelopes
from harness import median, peer_env, scratch_dir

from kitty_hooks.queue.store import EventQueue

TARGET_RATE = 20_000
TARGET_RATIO = 10.0

# Runs in spec-kitty-cli's venv: argv = events.json, runs, scratch folder. Prints events/s per run.
_PEER_SCRIPT = """
import json, sys, time
from pathlib import Path
from specify_cli.sync.queue import OfflineQueue

events = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
runs, scratch = int(sys.argv[2]), Path(sys.argv[3])
rates = []
for run in range(runs):
    queue = OfflineQueue(db_path=scratch / f"peer-{run}" / "queue.db",
                         max_queue_size=len(events) + 10)
    started = time.perf_counter()
    for event in events:
        if not queue.queue_event(event):
            sys.exit(f"OfflineQueue.queue_event refused {event['event_id']}")
    rates.append(len(events) / (time.perf_counter() - started))
    if queue.size() != len(events):
        sys.exit(f"OfflineQueue holds {queue.size()} events, expected {len(events)}")
print(json.dumps(rates))
"""


# --- ours ------------------------------------------------------------------------------------


def _timed_runs(runs: int, scratch: Path, tag: str, body: Callable[[Path], int]) -> list[float]:
    """events/s of each run of body(fresh queue path) -> events queued."""
    rates = []
    for run in range(runs):
        path = scratch / f"{tag}-{run}" / "queue.db"
        gc.collect()
        queued: list[int] = []
        elapsed = harness.timed_call(lambda: queued.append(body(path)))  # noqa: B023
        rates.append(queued[0] / elapsed)
    return rates


def ours_batch(envelopes: list[dict[str, Any]], runs: int, scratch: Path) -> list[float]:
    def body(path: Path) -> int:
        with EventQueue(path) as queue:
            queued = len(queue.enqueue(envelopes).queued)
        _expect(queued, len(envelopes), path)
        return queued

    return _timed_runs(runs, scratch, "batch", body)


def ours_per_event(envelopes: list[dict[str, Any]], runs: int, scratch: Path) -> list[float]:
    def body(path: Path) -> int:
        queued = 0
        with EventQueue(path) as queue:
            for envelope in envelopes:
                queued += len(queue.enqueue([envelope]).queued)
        _expect(queued, len(envelopes), path)
        return queued

    return _timed_runs(runs, scratch, "single", body)


def ours_hook_like(envelopes: list[dict[str, Any]], runs: int, scratch: Path) -> list[float]:
    def body(path: Path) -> int:
        queued = 0
        for envelope in envelopes:
            with EventQueue(path) as queue:
                queued += len(queue.enqueue([envelope]).queued)
        _expect(queued, len(envelopes), path)
        return queued

    return _timed_runs(runs, scratch, "hook", body)


def _expect(queued: int, expected: int, path: Path) -> None:
    if queued != expected:
        sys.exit(f"kitty-hooks queued {queued} of {expected} events into {path}")


# --- theirs ----------------------------------------------------------------------------------


def theirs(python: Path, envelopes: list[dict[str, Any]], runs: int, scratch: Path) -> list[float]:
    events = scratch / "peer-events.json"
    events.write_text(json.dumps(envelopes), encoding="utf-8")
    home = scratch / "peer-home"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(python), "-c", _PEER_SCRIPT, str(events), str(runs), str(scratch)],
        env=peer_env(dict(os.environ), home),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"spec-kitty-cli timing failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------


def _row(label: str, count: int, rates: list[float]) -> float:
    middle = median(rates)
    spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else ""
    print(
        f"  {label:<44} {count:>7,} ev  {middle:>9,.0f} ev/s  {1e6 / middle:>8.1f} us/ev"
        f"  ({len(rates)} runs {spread})"
    )
    return middle


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events for ours (20000)")
    parser.add_argument("--peer-events", type=int, default=2_000, help="events for theirs (2000)")
    parser.add_argument("--hook-events", type=int, default=500, help="open/enqueue/close (500)")
    parser.add_argument("--reps", type=int, default=5, help="runs of each of ours (5)")
    parser.add_argument("--peer-reps", type=int, default=3, help="runs of theirs (3)")
    parser.add_argument("--peer-python", help="an interpreter that has spec-kitty-cli 2.1.3")
    parser.add_argument("--skip-peer", action="store_true", help="time ours only")
    parser.add_argument("--seed", type=int, default=2026)
    quick = {"events": 2_000, "peer_events": 50, "hook_events": 50, "reps": 1, "peer_reps": 1}
    options = harness.parse(
        parser, argv, quick=quick, help="2,000 events ours, 50 theirs, 50 hook-like, 1 run"
    )

    started = time.perf_counter()
    envelopes = make_envelopes(max(options.events, options.peer_events), seed=options.seed)
    size = sum(len(json.dumps(e, separators=(",", ":"))) for e in envelopes) / len(envelopes)
    print(
        f"generated {len(envelopes):,} WPStatusChanged envelopes (about {size:.0f} bytes of JSON"
        f" each) in {time.perf_counter() - started:.1f} s; python {sys.version.split()[0]}"
    )

    with scratch_dir("kitty-bench-enqueue-") as scratch_name:
        scratch = Path(scratch_name)
        peer_python = harness.peer_for(options, scratch / "probe-home")
        ours = envelopes[: options.events]
        print("\nenqueue throughput, median of runs, a fresh queue file each run:")
        batch = _row(
            "kitty-hooks: one enqueue() of all events",
            len(ours),
            ours_batch(ours, options.reps, scratch),
        )
        single = _row(
            "kitty-hooks: enqueue() per event",
            len(ours),
            ours_per_event(ours, options.reps, scratch),
        )
        hook_events = envelopes[: options.hook_events]
        hook = _row(
            "kitty-hooks: open, enqueue() one, close",
            len(hook_events),
            ours_hook_like(hook_events, options.reps, scratch),
        )
        if peer_python is None:
            return 0
        peer_events = envelopes[: options.peer_events]
        peer = _row(
            "spec-kitty-cli 2.1.3: queue_event() per event",
            len(peer_events),
            theirs(peer_python, peer_events, options.peer_reps, scratch),
        )

    print("\nratios to spec-kitty-cli (per-event rates):")
    print(f"  one enqueue() of all events   {batch / peer:6.1f}x")
    print(f"  enqueue() per event           {single / peer:6.1f}x")
    # Both open a connection per event here; both are bound by fsync (ours: WAL header and
    # directory on the first write, WAL and database at the checkpoint on close).
    print(f"  open, enqueue() one, close    {hook / peer:6.1f}x")
    for label, rate in (("batch", batch), ("per event", single)):
        verdict = "ok" if rate >= TARGET_RATE and rate / peer >= TARGET_RATIO else "MISSED"
        print(
            f"target {label}: >= {TARGET_RATE:,} ev/s and >= {TARGET_RATIO:.0f}x theirs: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
