"""Benchmark: the pre-push hook, with the server up, down and slow; and a real `git push`.

    python benchmarks/bench_pre_push.py            # 20 runs a row, 10 pushes each, ~65 s
    python benchmarks/bench_pre_push.py --quick    # 2 runs, 1 push: a smoke run

For each server condition, with a few events queued before every run (untimed):

* up:   the local ingest server (`python -m kitty_hooks serve`), with credentials for it;
* down: credentials for a loopback port where nothing listens;
* slow: a threaded HTTP server in this script that sleeps 30 s before answering any request.

Timed as whole processes, interleaved in rotating order, median of --runs:

| row | command |
|---|---|
| floor | `python -c pass`: what any hook written in Python costs at least |
| hook | `python -m kitty_hooks hook pre-push origin URL` with the refs on stdin |
| shim | the installed `.git/hooks/pre-push` (sh, then the hook above): what git waits for |

Each runs under a small launcher process that times it and exits. The hook's detached worker
waits for the git process above it to exit before it flushes (it looks for an ancestor named git
or git-*), so the launcher names itself "git-push": the worker flushes right after the run,
against the server of the condition, as it would after a push. Before the next
run the script waits (at most 3 s) until no worker of this run uses the CPU: finished, or
asleep on the network or the flush lock.

Then a real `git push` to a local bare remote, of a new commit that moves one WP (the post-commit
hook queues its event), with the hooks installed (`kitty-hooks install`) against the same push
with KITTY_HOOKS=0, interleaved: the difference is what the hook adds to a push.

kitty_hooks is precompiled and PYTHONDONTWRITEBYTECODE is removed from the children's
environment (else every hook would recompile the package). At the end of each condition the
workers this script caused (found by their KITTY_HOOKS_HOME in /proc/<pid>/environ) are waited
for, or terminated; the log says what each did. Target: hook under 50 ms up, down and slow.
Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import _data
import harness
from _data import make_envelopes, write_credentials, write_project_config
from harness import PY, hermetic_env, median, precompile, run, scratch_dir

from kitty_hooks.queue.store import EventQueue

TARGET_MS = 50.0
SLOW_SECONDS = 30.0
EVENTS_PER_RUN = 3
ZERO = "0" * 40
ROWS = ("floor", "hook", "shim")

# --- servers ---------------------------------------------------------------------------------


class SlowServer:
    """Accepts every request and answers it after SLOW_SECONDS (503), or at shutdown."""

    def __init__(self) -> None:
        stopping = self.stopping = threading.Event()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                owner.requests += 1
                stopping.wait(SLOW_SECONDS)
                # OSError: the client gave up (its read timeout) or was terminated.
                with contextlib.suppress(OSError):
                    self.send_error(503)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def workers(state: Path) -> list[int]:
    """Live `python -m kitty_hooks.deliver.worker` processes whose KITTY_HOOKS_HOME is state."""
    return harness.processes(state, "kitty_hooks.deliver.worker")


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def settle(state: Path, *, cap: float = 3.0) -> None:
    """Wait until our workers have exited or are idle: asleep on a socket or polling the flush
    lock (at most one 10 ms CPU tick each in 150 ms), not starting up or flushing."""
    deadline = time.monotonic() + cap
    before: dict[int, int | None] = {}
    while time.monotonic() < deadline:
        now = {pid: _cpu_ticks(pid) for pid in workers(state)}
        if not now:
            return
        if before.keys() == now.keys() and all(
            (now[pid] or 0) - (before[pid] or 0) <= 1 for pid in now
        ):
            return
        before = now
        time.sleep(0.15)


def end_workers(state: Path, *, wait: float) -> int:
    """Wait up to `wait` s for our workers to exit, then terminate the rest; how many."""
    deadline = time.monotonic() + wait
    while workers(state) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = workers(state)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while workers(state) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in workers(state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def worker_outcomes(state: Path) -> Counter[str]:
    log = state / "kitty-hooks.log"
    outcomes: Counter[str] = Counter()
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "flush after push:" in line:
                outcomes[line.split("flush after push:", 1)[1].split(":", 1)[0].strip()] += 1
            elif "flush after push failed" in line:
                outcomes["failed"] += 1
    return outcomes


# --- one condition ---------------------------------------------------------------------------


class Condition:
    def __init__(self, name: str, scratch: Path, url: str, tokens: dict[str, Any]) -> None:
        self.name = name
        self.scratch = scratch
        self.env = hermetic_env(scratch)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.home = Path(self.env["HOME"])
        self.state = Path(self.env["KITTY_HOOKS_HOME"])
        self.url = url
        write_credentials(self.home, url, tokens)
        self.repo = scratch / "repo"
        self.remote = scratch / "remote.git"
        self.commits = 0
        self.last_push_hooked = True
        self.pool: list[dict[str, Any]] = []
        stdin = scratch / "refs.txt"
        stdin.write_text(f"refs/heads/main {'1' * 40} refs/heads/main {ZERO}\n")
        self.stdin = stdin

    def set_up_repo(self) -> None:
        env = self.env
        run(["git", "init", "-q", "--bare", str(self.remote)], cwd=self.scratch, env=env)
        self.repo.mkdir()
        run(["git", "init", "-q", "-b", "main"], cwd=self.repo, env=env)
        write_project_config(self.repo)
        (self.repo / "kitty-specs" / "039-bench" / "tasks").mkdir(parents=True)
        run(["git", "remote", "add", "origin", str(self.remote)], cwd=self.repo, env=env)
        run([PY, "-m", "kitty_hooks", "install"], cwd=self.repo, env=env)
        self.commit()
        run(["git", "push", "-q", "origin", "main"], cwd=self.repo, env=self.env_off())
        end_workers(self.state, wait=0)

    def env_off(self) -> dict[str, str]:
        return {**self.env, "KITTY_HOOKS": "0"}

    def commit(self) -> None:
        self.commits += 1
        path = self.repo / "kitty-specs" / "039-bench" / "tasks" / f"WP{self.commits:02d}-x.md"
        path.write_text(_data.wp_file(self.commits, "planned"))
        run(["git", "add", "-A"], cwd=self.repo, env=self.env)
        run(
            ["git", "commit", "-q", "-m", f"WP{self.commits:02d} planned"],
            cwd=self.repo,
            env=self.env,
        )

    def queue_a_few(self) -> None:
        with EventQueue(self.state / "queue.db") as queue:
            queue.enqueue([self.pool.pop() for _ in range(EVENTS_PER_RUN)])

    def command(self, row: str) -> list[str]:
        if row == "floor":
            return [PY, "-c", "pass"]
        if row == "hook":
            return [PY, "-m", "kitty_hooks", "hook", "pre-push", "origin", str(self.remote)]
        return ["sh", str(self.repo / ".git" / "hooks" / "pre-push"), "origin", str(self.remote)]

    def time_row(self, row: str) -> float:
        if row != "floor":
            self.queue_a_few()
        measured = harness.launch(
            self.command(row), env=self.env, scratch=self.scratch, cwd=self.repo,
            stdin=self.stdin, name="git-push",
        )  # fmt: skip
        if measured["code"] != 0 or measured["stderr"]:
            sys.exit(f"{row} ({self.name}) failed: exit {measured['code']}\n{measured['stderr']}")
        settle(self.state)
        return measured["seconds"]

    def time_push(self, hooks: bool) -> float:
        self.last_push_hooked = hooks
        self.commit()
        env = self.env if hooks else self.env_off()
        push = ["git", "push", "-q", "origin", "main"]
        elapsed, done = harness.timed_run(push, cwd=self.repo, env=env, expect=None)
        if done.returncode != 0 or b"Traceback" in done.stderr:
            sys.exit(f"git push ({self.name}) failed:\n{done.stderr.decode(errors='replace')}")
        settle(self.state)
        return elapsed


def bench_condition(
    condition: Condition, runs: int, pushes: int, warmup: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {row: [] for row in ROWS}
    times["push, hooks"], times["push, KITTY_HOOKS=0"] = [], []
    for counted, row in harness.interleaved(ROWS, runs, warmup):
        seconds = condition.time_row(row)
        if counted:
            times[row].append(seconds)
    for _, hooks in harness.interleaved((True, False), pushes):
        seconds = condition.time_push(hooks)
        times["push, hooks" if hooks else "push, KITTY_HOOKS=0"].append(seconds)
    return times


# --- report ----------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return f"{median(values) * 1000:7.1f}"


def report(results: dict[str, dict[str, list[float]]], notes: dict[str, str]) -> None:
    print("\nmedian wall time, ms (min-max)")
    header = f"{'server':<6} " + " ".join(f"{row:>18}" for row in ROWS)
    header += f" {'hook - floor':>13} {'git push, hooks':>18} {'KITTY_HOOKS=0':>18}"
    print(header)
    for name, times in results.items():
        cells = []
        for row in (*ROWS, "push, hooks", "push, KITTY_HOOKS=0"):
            values = times[row]
            cells.append(f"{_ms(values)} {harness.spread(values, digits=0):>10}")
        above = (median(times["hook"]) - median(times["floor"])) * 1000
        print(f"{name:<6} {' '.join(cells[:3])} {above:>13.1f} {' '.join(cells[3:])}")
    print()
    for name, times in results.items():
        hook = median(times["hook"]) * 1000
        shim = median(times["shim"]) * 1000
        push = (median(times["push, hooks"]) - median(times["push, KITTY_HOOKS=0"])) * 1000
        verdict = "met" if hook < TARGET_MS else "MISSED"
        print(
            f"{name}: hook {hook:.1f} ms (target < {TARGET_MS:.0f} ms: {verdict}), shim "
            f"{shim:.1f} ms; the hooks add {push:+.1f} ms to a git push. {notes[name]}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each row (20)")
    parser.add_argument("--pushes", type=int, default=10, help="git pushes of each kind (10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    parser.add_argument("--conditions", default="up,down,slow", help="up,down,slow (all)")
    parser.add_argument(
        "--wait", type=float, default=SLOW_SECONDS + 15, help="for workers at the end (45 s)"
    )
    quick = {"runs": 2, "pushes": 1, "warmup": 0, "wait": 1.0}
    options = harness.parse(
        parser, argv, quick=quick, help="2 runs, 1 push, no warm-up, workers ended after 1 s"
    )
    names = [n for n in options.conditions.split(",") if n]
    if not names or not set(names) <= {"up", "down", "slow"}:
        parser.error("--conditions takes up, down, slow")

    began = time.perf_counter()
    precompile()
    print(
        f"{harness.machine()}; kitty_hooks precompiled, PYTHONDONTWRITEBYTECODE unset in every child"
    )
    per_condition = (options.warmup + options.runs) * 2 * EVENTS_PER_RUN
    results: dict[str, dict[str, list[float]]] = {}
    notes: dict[str, str] = {}
    with scratch_dir("kitty-bench-pre-push-") as scratch_name:
        scratch = Path(scratch_name)
        base_env = hermetic_env(scratch / "base")
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        for number, name in enumerate(names):
            where = scratch / name
            where.mkdir()
            ingest = slow = None
            try:
                if name == "up":
                    ingest = harness.Server("ingest", where, base_env)
                    url, tokens = ingest.url, ingest.tokens
                elif name == "slow":
                    slow = SlowServer()
                    url, tokens = slow.url, {"access": "a", "refresh": "r"}
                else:
                    url, tokens = closed_port_url(), {"access": "a", "refresh": "r"}
                condition = Condition(name, where, url, tokens)
                condition.pool = make_envelopes(per_condition, seed=2026 + number)
                condition.set_up_repo()
                started = time.perf_counter()
                results[name] = bench_condition(
                    condition, options.runs, options.pushes, options.warmup
                )
                took = time.perf_counter() - started
                waiting = len(workers(condition.state))
                # Slow: the first worker's request ends at its 30 s read timeout; the others,
                # queued behind the flush lock, then find the backoff it recorded and exit.
                waited = time.perf_counter()
                killed = end_workers(condition.state, wait=options.wait)
                waited = time.perf_counter() - waited
                outcomes = worker_outcomes(condition.state)
                finished = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
                note = f"workers: {finished or 'none finished'}"
                if waiting:
                    note += (
                        f" ({waiting} were still running when the runs ended: {waited:.0f} s more)"
                    )
                if killed:
                    note += f"; {killed} did not finish, terminated"
                if ingest is not None:
                    with EventQueue(condition.state / "queue.db") as queue:
                        left = queue.stats().total
                    queued = per_condition + condition.commits
                    note += (
                        f"; of {queued} events queued, the server holds {ingest.total()},"
                        f" {left} still queued"
                    )
                    if left and not condition.last_push_hooked:
                        note += " (the last push ran with KITTY_HOOKS=0: its event waits)"
                if slow is not None:
                    note += f"; the slow server got {slow.requests} requests"
                notes[name] = note
                print(f"  {name}: {took:.0f} s; {note}")
            finally:
                if ingest is not None:
                    ingest.stop()
                if slow is not None:
                    slow.stop()
    report(results, notes)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
