"""Benchmark: queueing events, kitty-hooks' EventQueue against spec-kitty-cli's OfflineQueue.

    python benchmarks/bench_enqueue.py            # 20,000 events ours, 2,000 theirs, 5 / 3 runs
    python benchmarks/bench_enqueue.py --quick    # 5,000 ours, 500 theirs, 3 / 1 runs

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
points at any interpreter that has it). Targets: >= 20,000 events/s, and >= 10x theirs.
Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import LogWriter, feature_slug

from kitty_hooks.model.events import (
    Identity,
    LaneChange,
    build_status_envelope,
    derive_ulid,
    iso_to_millis,
)
from kitty_hooks.queue.store import EventQueue

PEER_REQUIREMENTS = ("spec-kitty-cli==2.1.3", "click")
RESEARCH_VENV = Path("/tmp/research/venv")
TARGET_RATE = 20_000
TARGET_RATIO = 10.0
IDENTITY = Identity(
    project_uuid="63c8d621-4b64-48e2-86fc-56c667068f2f",
    project_slug="kitty-bench",
    node_id="b805cd5cee74",
)
_CHANGE_FIELDS = list(LaneChange._fields)

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


# --- events ----------------------------------------------------------------------------------


def make_envelopes(count: int, *, seed: int) -> list[dict[str, Any]]:
    """Envelopes as the post-commit hook builds them, from interleaved realistic feature logs."""
    writers = [LogWriter(feature_slug(number), seed=seed + number) for number in range(1, 21)]
    envelopes: list[dict[str, Any]] = []
    drawn = 0
    while len(envelopes) < count:
        line = writers[drawn % len(writers)].next_event()
        drawn += 1
        change = LaneChange(**{name: line[name] for name in _CHANGE_FIELDS})
        envelope = build_status_envelope(
            change,
            identity=IDENTITY,
            lamport_clock=0,  # the queue sets it
            correlation_id=derive_ulid(iso_to_millis(line["at"]), "commit", str(drawn // 3)),
            timestamp=line["at"],
        )
        if envelope is not None:  # in_progress <-> blocked collapses to no event
            envelopes.append(dict(envelope))
    return envelopes


# --- ours ------------------------------------------------------------------------------------


def _timed_runs(runs: int, scratch: Path, tag: str, body: Callable[[Path], int]) -> list[float]:
    """events/s of each run of body(fresh queue path) -> events queued."""
    rates = []
    for run in range(runs):
        path = scratch / f"{tag}-{run}" / "queue.db"
        gc.collect()
        started = time.perf_counter()
        queued = body(path)
        rates.append(queued / (time.perf_counter() - started))
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


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _peer_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPEC_KITTY", "PYTHON"))}
    env["HOME"] = str(home)  # spec-kitty computes ~/.spec-kitty paths at import
    return env


def _has_peer(python: Path, home: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import specify_cli.sync.queue"],
        env=_peer_env(home),
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def find_or_make_peer(explicit: str | None, home: Path) -> Path:
    """An interpreter with spec-kitty-cli 2.1.3: given, the research venv, or a cached new one."""
    if explicit:
        python = Path(explicit)
        if not _has_peer(python, home):
            sys.exit(
                f"{python} cannot import specify_cli: pip install {' '.join(PEER_REQUIREMENTS)}"
            )
        return python
    if _has_peer(_venv_python(RESEARCH_VENV), home):
        return _venv_python(RESEARCH_VENV)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "kitty-hooks-bench" / "spec-kitty-cli-2.1.3"
    python = _venv_python(root)
    if _has_peer(python, home):
        return python
    print(f"making a venv for spec-kitty-cli at {root} (needs the package index once) ...")
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0 or not _has_peer(python, home):
        sys.exit(f"could not install {' '.join(PEER_REQUIREMENTS)} into {root}:\n{install.stderr}")
    return python


def theirs(python: Path, envelopes: list[dict[str, Any]], runs: int, scratch: Path) -> list[float]:
    events = scratch / "peer-events.json"
    events.write_text(json.dumps(envelopes), encoding="utf-8")
    home = scratch / "peer-home"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(python), "-c", _PEER_SCRIPT, str(events), str(runs), str(scratch)],
        env=_peer_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"spec-kitty-cli timing failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------


def _row(label: str, count: int, rates: list[float]) -> float:
    median = statistics.median(rates)
    spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else ""
    print(
        f"  {label:<44} {count:>7,} ev  {median:>9,.0f} ev/s  {1e6 / median:>8.1f} us/ev"
        f"  ({len(rates)} runs {spread})"
    )
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for ours (20000)")
    parser.add_argument("--peer-events", type=int, default=2_000, help="events for theirs (2000)")
    parser.add_argument("--hook-events", type=int, default=500, help="open/enqueue/close (500)")
    parser.add_argument("--reps", type=int, default=5, help="runs of each of ours (5)")
    parser.add_argument("--peer-reps", type=int, default=3, help="runs of theirs (3)")
    parser.add_argument("--peer-python", help="an interpreter that has spec-kitty-cli 2.1.3")
    parser.add_argument("--skip-peer", action="store_true", help="time ours only")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--seed", type=int, default=2026)
    options = parser.parse_args(argv)
    if options.quick:
        options.events, options.peer_events, options.hook_events = 5_000, 500, 200
        options.reps, options.peer_reps = 3, 1

    started = time.perf_counter()
    envelopes = make_envelopes(max(options.events, options.peer_events), seed=options.seed)
    size = sum(len(json.dumps(e, separators=(",", ":"))) for e in envelopes) / len(envelopes)
    print(
        f"generated {len(envelopes):,} WPStatusChanged envelopes (about {size:.0f} bytes of JSON"
        f" each) in {time.perf_counter() - started:.1f} s; python {sys.version.split()[0]}"
    )

    with tempfile.TemporaryDirectory(prefix="kitty-bench-enqueue-") as scratch_name:
        scratch = Path(scratch_name)
        peer_python = None
        if not options.skip_peer:
            (scratch / "probe-home").mkdir()
            peer_python = find_or_make_peer(options.peer_python, scratch / "probe-home")
            print(f"spec-kitty-cli from {peer_python}")
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
