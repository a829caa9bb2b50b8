"""Benchmark: flushing 100,000 queued events to a server, kitty-hooks against spec-kitty-cli
and against a ceiling.

    python benchmarks/bench_flush.py            # 100,000 events, null server, 5 rounds, ~70 s
    python benchmarks/bench_flush.py --quick    # 2,000 events, 1 round: a smoke run
    python benchmarks/bench_flush.py --servers null,ingest   # also the local ingest server

The same WPStatusChanged envelopes (from _data.LogWriter through events.build_status_envelope,
with the lamport_clock and causation_id our queue gave them) are queued, untimed, into each
client's own queue; then, timed as a whole process and with its peak RSS:

* ours:    `python -m kitty_hooks sync` (HOME and KITTY_HOOKS_HOME in a scratch folder, with a
           ~/.spec-kitty/credentials file for the server);
* ceiling: a minimal script on a copy of our queue that does only what any flush must: read a
           page of rows, join their JSON, gzip it (level 1), POST it (http.client, one
           keep-alive connection), delete the page by id range, and again; nothing else (no
           status filter, no reading of the answer beyond its status, no known-ids table, no
           lock, no credentials file). Same pragmas as our queue (WAL, synchronous=NORMAL,
           secure_delete=FAST), one page after another;
* theirs:  spec-kitty-cli 2.1.3 `sync_all_queued_events(queue, auth_token=..., server_url=...,
           batch_size=1000, show_progress=False)` on its `OfflineQueue`, in its own venv, with
           SPEC_KITTY_ENABLE_SAAS_SYNC=1 and HOME in a scratch folder, under a timeout (it loops
           forever when a server leaves an event out of its answer).

Every run gets a fresh server (and a fresh database), so none ever sees a duplicate:

* null:   a minimal HTTP server in this script (a subprocess) that gunzips, parses and answers
          "success" for every event, storing nothing: what is left is the client's own cost;
* ingest: the local ingest server, `python -m kitty_hooks serve` (waitress, JWT, every event
          validated against the envelope schema, stored in SQLite).

The clients run interleaved, in a rotating order, round after round; the table shows medians.
After every run the server must hold exactly N distinct events and the client's queue must be
empty; the table says so. Peak RSS is measured by a small launcher process (resource
.getrusage(RUSAGE_CHILDREN) after its child exits), because a child started straight from this
process would inherit this process's high-water mark (160 MB and more) at exec.

PYTHONDONTWRITEBYTECODE=1 in the environment would make every child recompile kitty_hooks: the
package is precompiled (compileall) and the variable removed from the children's environment.
Targets (issue 10, null server): ours >= 3x theirs, ours <= 1.5x the ceiling, peak RSS < 60 MB.
Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from _data import make_envelopes, write_credentials
from harness import PY, Server, hermetic_env, median, peer_env, precompile, scratch_dir

from kitty_hooks.queue.store import EventQueue

TARGET_RATIO = 3.0
"""ours >= this x spec-kitty-cli"""
TARGET_CEILING = 1.5
"""ours <= this x the ceiling"""
TARGET_RSS_MB = 60.0
CLIENTS = ("kitty-hooks", "ceiling", "spec-kitty-cli")
PEER_TIMEOUT = 600.0

# The null server: argv = nothing. Prints its URL, then serves until stdin closes.
_NULL_SERVER = r"""
import gzip, json, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = set()
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self, status, document):
        body = json.dumps(document).encode()
        # Headers and body in one write: two small writes meet Nagle and delayed ACKs (40 ms).
        head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/api/v1/events/batch/":
            events = json.loads(gzip.decompress(data))["events"]
            ids = [event["event_id"] for event in events]
            with lock:
                seen.update(ids)
            self._answer(200, {"results": [{"event_id": i, "status": "success"} for i in ids]})
        else:  # login and refresh
            self._answer(200, {"access": "null-access", "refresh": "null-refresh"})

    def do_GET(self):
        with lock:
            total = len(seen)
        self._answer(200, {"events": [], "count": 0, "total": total})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"null server: listening on http://127.0.0.1:{server.server_port}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
"""

# The ceiling: argv = queue db (ours), server URL, access token. Only what any flush must do.
_CEILING = r"""
import http.client, sqlite3, sys, zlib
from urllib.parse import urlsplit

db, url, token = sys.argv[1:4]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA synchronous=NORMAL")
conn.execute("PRAGMA secure_delete=FAST")
where = urlsplit(url)
server = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json",
           "Content-Encoding": "gzip"}
after = 0
while True:
    rows = conn.execute("SELECT id, CAST(data AS BLOB) FROM entries WHERE id > ?"
                        " ORDER BY id LIMIT 1000", (after,)).fetchall()
    if not rows:
        break
    after = rows[-1][0]
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # as kitty_hooks.deliver.batches does
    body = packer.compress(b'{"events":[' + b",".join([r[1] for r in rows]) + b"]}")
    body += packer.flush()
    server.request("POST", "/api/v1/events/batch/", body, headers)
    answer = server.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"HTTP {answer.status}")
    conn.execute("DELETE FROM entries WHERE id BETWEEN ? AND ?", (rows[0][0], after))
conn.close()
"""

# Runs in spec-kitty-cli's venv: argv = events.json, db path, queue_event calls.
# queue_event opens a connection, counts the whole table and commits (synchronous=FULL) per
# event: ~1.6 ms an event at 100,000, so 100,000 would take ~3 minutes of set-up. The first
# events go through queue_event; the rest get the very row it writes (same statement, same
# values), in one transaction; rows of both kinds are compared.
_PEER_QUEUE = """
import json, sqlite3, sys
from datetime import datetime
from pathlib import Path
from specify_cli.sync.queue import OfflineQueue, _coalesce_key

events = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
db, via = Path(sys.argv[2]), int(sys.argv[3])
queue = OfflineQueue(db_path=db, max_queue_size=len(events) + 10)
for event in events[:via]:
    if not queue.queue_event(event):
        sys.exit(f"OfflineQueue.queue_event refused {event['event_id']}")
conn = sqlite3.connect(db)
with conn:
    conn.executemany(
        "INSERT OR REPLACE INTO queue (event_id, event_type, data, timestamp, coalesce_key) "
        "VALUES (?, ?, ?, ?, ?)",
        [(str(e["event_id"]), str(e["event_type"]), json.dumps(e),
          int(datetime.now().timestamp()), _coalesce_key(e)) for e in events[via:]],
    )
rows = {r[0]: r[1:] for r in conn.execute(
    "SELECT event_id, event_type, data, retry_count, coalesce_key FROM queue")}
conn.close()
for e in events:
    if rows.get(e["event_id"]) != (e["event_type"], json.dumps(e), 0, _coalesce_key(e)):
        sys.exit(f"queue row of {e['event_id']} is not what queue_event writes")
if queue.size() != len(events):
    sys.exit(f"OfflineQueue holds {queue.size()} events, expected {len(events)}")
"""

# Runs in spec-kitty-cli's venv, timed as a whole process: argv = db, url, token, max size.
_PEER_SYNC = """
import json, sys, time
from pathlib import Path
from specify_cli.sync.batch import sync_all_queued_events
from specify_cli.sync.queue import OfflineQueue

queue = OfflineQueue(db_path=Path(sys.argv[1]), max_queue_size=int(sys.argv[4]))
started = time.perf_counter()
result = sync_all_queued_events(queue, auth_token=sys.argv[3], server_url=sys.argv[2],
                                batch_size=1000, show_progress=False)
elapsed = time.perf_counter() - started
print(json.dumps({"synced": result.synced_count, "duplicates": result.duplicate_count,
                  "errors": result.error_count, "left": queue.size(), "in_process": elapsed}))
"""


# --- servers ---------------------------------------------------------------------------------


def start_server(kind: str, scratch: Path, env: dict[str, str]) -> Server:
    """The ingest server, or the null server of this script."""
    return Server(kind, scratch, env, None if kind == "ingest" else [PY, "-c", _NULL_SERVER])


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Run:
    client: str
    server: str
    seconds: float
    peak_mb: float
    delivered: int
    left_in_queue: int
    note: str = ""
    in_process: float | None = None


def launch(command: list[str], *, env: dict[str, str], scratch: Path, timeout: float = 0) -> dict:
    """Run command under the launcher: its wall time, peak RSS, exit code and output."""
    return harness.launch(command, env=env, scratch=scratch, timeout=timeout)


def run_ours(template: Path, server: Server, count: int, scratch: Path, env: dict[str, str]) -> Run:
    home = scratch / "ours-home"
    state = home / ".spec-kitty" / "kitty-hooks"
    state.mkdir(parents=True)
    shutil.copyfile(template, state / "queue.db")
    write_credentials(home, server.url, server.tokens)
    child = {**env, "HOME": str(home), "KITTY_HOOKS_HOME": str(state)}
    measured = launch([PY, "-m", "kitty_hooks", "sync"], env=child, scratch=scratch)
    with EventQueue(state / "queue.db") as queue:
        left = queue.stats().total
    note = "" if measured["code"] == 0 else f"exit {measured['code']}: {measured['stderr'][-300:]}"
    expected = f"Synced: {count}, Duplicates: 0, Failed: 0"
    if expected not in measured["stdout"]:
        note = (note + f" said {measured['stdout'].strip()!r}").strip()
    return Run(
        "kitty-hooks",
        server.kind,
        measured["seconds"],
        measured["peak_kb"] / 1024,
        server.total(),
        left,
        note,
    )


def run_ceiling(
    template: Path, server: Server, count: int, scratch: Path, env: dict[str, str]
) -> Run:
    db = scratch / "ceiling-queue.db"
    shutil.copyfile(template, db)
    command = [PY, "-c", _CEILING, str(db), server.url, server.tokens["access"]]
    measured = launch(command, env=env, scratch=scratch)
    with sqlite3.connect(db) as conn:
        (left,) = conn.execute("SELECT count(*) FROM entries").fetchone()
    conn.close()
    note = "" if measured["code"] == 0 else f"exit {measured['code']}: {measured['stderr'][-300:]}"
    return Run(
        "ceiling",
        server.kind,
        measured["seconds"],
        measured["peak_kb"] / 1024,
        server.total(),
        left,
        note,
    )


def run_theirs(
    peer: Path, template: Path, server: Server, count: int, scratch: Path, env: dict[str, str]
) -> Run:
    home = scratch / "peer-home"
    home.mkdir()
    db = scratch / "peer-queue.db"
    shutil.copyfile(template, db)
    child = peer_env(env, home)
    child["SPEC_KITTY_ENABLE_SAAS_SYNC"] = "1"
    command = [str(peer), "-c", _PEER_SYNC, str(db), server.url, server.tokens["access"]]
    measured = launch([*command, str(count + 10)], env=child, scratch=scratch, timeout=PEER_TIMEOUT)
    note = ""
    left = -1
    in_process = None
    if measured["code"] == 0:
        summary = json.loads(measured["stdout"].strip().splitlines()[-1])
        left, in_process = summary["left"], summary["in_process"]
        if summary["errors"]:
            note = f"{summary['errors']} errors"
    elif measured["code"] == "timeout":
        note = f"killed after {PEER_TIMEOUT:.0f} s (it loops while events stay queued)"
    else:
        note = f"exit {measured['code']}: {measured['stderr'][-300:]}"
    return Run(
        "spec-kitty-cli",
        server.kind,
        measured["seconds"],
        measured["peak_kb"] / 1024,
        server.total(),
        left,
        note,
        in_process,
    )


def fixed_cost(peer: Path | None, scratch: Path, env: dict[str, str], runs: int) -> dict:
    """Each client on an empty queue: interpreter start-up and imports, no events."""
    costs = {}
    home = scratch / "empty-home"
    state = home / ".spec-kitty" / "kitty-hooks"
    state.mkdir(parents=True)
    with EventQueue(state / "queue.db"):
        pass
    child = {**env, "HOME": str(home), "KITTY_HOOKS_HOME": str(state)}
    costs["kitty-hooks"] = median(
        launch([PY, "-m", "kitty_hooks", "sync"], env=child, scratch=scratch)["seconds"]
        for _ in range(runs)
    )
    if peer is not None:
        db = scratch / "empty-peer.db"
        child = {**peer_env(env, home), "SPEC_KITTY_ENABLE_SAAS_SYNC": "1"}
        command = [str(peer), "-c", _PEER_SYNC, str(db), "http://127.0.0.1:9", "x", "10"]
        costs["spec-kitty-cli"] = median(
            launch(command, env=child, scratch=scratch)["seconds"] for _ in range(runs)
        )
    return costs


# --- set-up ----------------------------------------------------------------------------------


def build_ours(envelopes: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Our queue with every envelope; returns them as queued (lamport_clock, causation_id set)."""
    with EventQueue(path) as queue:
        queued = queue.enqueue(envelopes).queued
        if len(queued) != len(envelopes):
            sys.exit(f"kitty-hooks queued {len(queued)} of {len(envelopes)} events")
        stored = [entry.envelope for entry in queue.list_entries()]
    with sqlite3.connect(path) as conn:  # one file to copy: no -wal beside it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return stored


def build_theirs(
    peer: Path, envelopes: list[dict[str, Any]], db: Path, scratch: Path, calls: int
) -> None:
    events = scratch / "peer-events.json"
    events.write_text(json.dumps(envelopes), encoding="utf-8")
    home = scratch / "peer-build-home"
    home.mkdir()
    via = str(min(calls, len(envelopes)))
    done = subprocess.run(
        [str(peer), "-c", _PEER_QUEUE, str(events), str(db), via],
        env=peer_env(dict(os.environ), home),
        capture_output=True,
        text=True,
        check=False,
    )
    events.unlink()
    if done.returncode != 0:
        sys.exit(f"queueing for spec-kitty-cli failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


# --- report ----------------------------------------------------------------------------------


def report(runs: list[Run], count: int) -> None:
    print(
        f"\n{'client':<15} {'server':<7} {'runs':>4} {'median s':>9} {'events/s':>10}"
        f" {'peak RSS':>9}  delivered / left in queue (min-max s)"
    )
    medians: dict[tuple[str, str], float] = {}
    for server in ("null", "ingest"):
        for client in CLIENTS:
            mine = [r for r in runs if r.client == client and r.server == server]
            if not mine:
                continue
            seconds = median(r.seconds for r in mine)
            medians[client, server] = seconds
            complete = all(r.delivered == count and r.left_in_queue == 0 for r in mine)
            delivered = (
                "all"
                if complete
                else "INCOMPLETE: "
                + ", ".join(f"{r.delivered:,}/{r.left_in_queue:,}" for r in mine)
            )
            spread = harness.spread((r.seconds for r in mine), scale=1, digits=2)
            print(
                f"{client:<15} {server:<7} {len(mine):>4} {seconds:>9.2f} {count / seconds:>10,.0f}"
                f" {max(r.peak_mb for r in mine):>6.0f} MB  {delivered} {spread}"
            )
            inside = [r.in_process for r in mine if r.in_process is not None]
            if inside:
                print(
                    f"{'':<29}sync_all_queued_events() alone: {median(inside):.2f} s,"
                    f" {count / median(inside):,.0f} events/s"
                )
            for note in dict.fromkeys(r.note for r in mine if r.note):
                print(f"{'':<29}note: {note}")
    print()
    for server in ("null", "ingest"):
        ours = medians.get(("kitty-hooks", server))
        if not ours:
            continue
        theirs = medians.get(("spec-kitty-cli", server))
        if theirs:
            ratio = theirs / ours
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
            print(
                f"{server} server: kitty-hooks is {ratio:.2f}x spec-kitty-cli "
                f"(target >= {TARGET_RATIO:g}x: {verdict})"
            )
        ceiling = medians.get(("ceiling", server))
        if ceiling:
            ratio = ours / ceiling
            verdict = "met" if ratio <= TARGET_CEILING else "MISSED"
            print(
                f"{server} server: kitty-hooks takes {ratio:.2f}x the ceiling's time "
                f"(target <= {TARGET_CEILING:g}x: {verdict})"
            )
    peak = max((r.peak_mb for r in runs if r.client == "kitty-hooks"), default=0.0)
    verdict = "met" if peak < TARGET_RSS_MB else "MISSED"
    print(f"kitty-hooks peak RSS {peak:.0f} MB (target < {TARGET_RSS_MB:.0f} MB: {verdict})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events to flush (100000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each client (5)")
    parser.add_argument("--skip-peer", action="store_true", help="no spec-kitty-cli runs")
    parser.add_argument("--skip-ceiling", action="store_true", help="no ceiling runs")
    parser.add_argument(
        "--servers", default="null", help="which servers: null, ingest or null,ingest (null)"
    )
    parser.add_argument("--peer-python", help="an interpreter that has spec-kitty-cli 2.1.3")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--queue-event-calls",
        type=int,
        default=1000,
        help="events queued for spec-kitty-cli through its own queue_event (1000)",
    )
    quick = {"events": 2_000, "rounds": 1, "queue_event_calls": 100}
    options = harness.parse(parser, argv, quick=quick, help="2,000 events, 1 round")
    servers = [s for s in options.servers.split(",") if s]
    if not set(servers) <= {"ingest", "null"} or not servers:
        parser.error("--servers takes ingest, null or both")

    began = time.perf_counter()
    precompile()
    envelopes = make_envelopes(options.events, seed=options.seed)
    print(
        f"{len(envelopes):,} WPStatusChanged envelopes; python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; kitty_hooks precompiled, "
        "PYTHONDONTWRITEBYTECODE unset in every child"
    )
    with scratch_dir("kitty-bench-flush-") as scratch_name:
        scratch = Path(scratch_name)
        env = hermetic_env(scratch / "base")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        peer = harness.peer_for(options, scratch / "probe-home")
        ours_template = scratch / "ours-template.db"
        stored = build_ours(envelopes, ours_template)
        del envelopes
        peer_template = scratch / "peer-template.db"
        if peer is not None:
            build_theirs(peer, stored, peer_template, scratch, options.queue_event_calls)
            print(
                f"queued for spec-kitty-cli: {min(options.queue_event_calls, len(stored)):,} through"
                " queue_event, the rest as the same rows in one transaction (untimed)"
            )
        count = len(stored)
        del stored
        print(f"set-up {time.perf_counter() - began:.0f} s; timing ...")

        clients = [
            client
            for client in CLIENTS
            if (client != "spec-kitty-cli" or peer is not None)
            and (client != "ceiling" or not options.skip_ceiling)
        ]
        runs: list[Run] = []
        for round_number in range(options.rounds):
            # A rotating order: no client always runs first (or after the same one).
            order = harness.rotated(clients, round_number)
            for server_kind in servers:
                for client in order:
                    work = scratch / f"run-{len(runs)}"
                    work.mkdir()
                    with start_server(server_kind, work, env) as server:
                        if client == "kitty-hooks":
                            run = run_ours(ours_template, server, count, work, env)
                        elif client == "ceiling":
                            run = run_ceiling(ours_template, server, count, work, env)
                        else:
                            assert peer is not None
                            run = run_theirs(peer, peer_template, server, count, work, env)
                    runs.append(run)
                    print(
                        f"  {client:<15} -> {server_kind:<6} {run.seconds:6.2f} s"
                        f" {count / run.seconds:>9,.0f} ev/s  {run.peak_mb:4.0f} MB"
                        f"  delivered {run.delivered:,}, left {run.left_in_queue:,}"
                    )
                    shutil.rmtree(work, ignore_errors=True)
        costs = fixed_cost(peer, scratch, env, 1 if options.quick else 3)

    report(runs, count)
    print(
        "fixed cost (whole process on an empty queue, start-up and imports): "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in costs.items())
    )
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
