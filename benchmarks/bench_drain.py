"""Benchmark: a rebase of many move commits, and the background capture that follows it.

    python benchmarks/bench_drain.py            # 200 move commits, 3 rounds
    python benchmarks/bench_drain.py --quick    # 10 move commits, 1 round: a smoke run

A branch of N commits, each moving one WP, is rebased onto main through the installed shims:
every pick's post-commit shim records it in the journal. Measured side by side:
1. git's own time for the rebase, with the shims and with KITTY_HOOKS=0 (no hook work at all).
2. The drainer's CPU after it (`python -m kitty_hooks.capture.journal`, user + system, its git
   children included), for N entries and for 1, and the marginal CPU of one more commit,
   (cpu(N) - cpu(1)) / (N - 1), against the CPU of `python -c pass`. Target (issue 21): <= 1x.
3. The same rebase with a drainer alongside it, as for real (the first pick's shim would start
   it): its CPU per commit, its start included.
The drainer is our child here (a marker naming it, or this process, keeps the shims from
starting one), so that its CPU can be read. Nothing timed is asserted; the events are checked.
`--profile FILE` writes a cProfile of one drain of N entries and prints where the time goes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import harness
from _data import wp_file, write_project_config
from harness import PY, cpu_of, hermetic_env, median, precompile, run, scratch_dir, timed

FEATURE = "kitty-specs/039-bench"


def setup(scratch: Path, commits: int) -> tuple[Path, dict[str, str]]:
    """main, and a branch `side` of `commits` moves, made without hooks."""
    env = hermetic_env(scratch)
    repo = scratch / "repo"
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    (repo / FEATURE / "tasks").mkdir(parents=True)
    for number in range(1, commits + 1):
        (repo / FEATURE / "tasks" / f"WP{number:02d}-bench.md").write_text(
            wp_file(number, "planned")
        )
    write_project_config(repo)
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "-m", "plan"], cwd=repo, env=env)
    run(["git", "checkout", "-q", "-b", "side"], cwd=repo, env=env)
    for number in range(1, commits + 1):
        (repo / FEATURE / "tasks" / f"WP{number:02d}-bench.md").write_text(
            wp_file(number, "for_review")
        )
        run(["git", "commit", "-q", "-am", f"WP{number:02d} to for_review"], cwd=repo, env=env)
    run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
    (repo / "README.md").write_text("main moved on\n")
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "-m", "main"], cwd=repo, env=env)
    run([PY, "-m", "kitty_hooks", "install"], cwd=repo, env=env)
    return repo, env


def rebase(repo: Path, env: dict[str, str], *, hooks: bool) -> float:
    """Rebase a fresh copy of `side` onto main; git's wall time.

    The journal's lock is held meanwhile, as the drainer the first pick started holds it: the
    picks are recorded, and post-rewrite leaves its rewrite to that drain, as it does for real."""
    import fcntl

    branch = f"pick-{time.monotonic_ns()}"
    run(["git", "checkout", "-q", "-b", branch, "side"], cwd=repo, env=env)
    lock = os.open(Path(env["KITTY_HOOKS_HOME"]) / "journal.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    rebase = ["git", "rebase", "-q", "main"]
    elapsed = timed(rebase, cwd=repo, env=env if hooks else {**env, "KITTY_HOOKS": "0"})
    os.close(lock)
    run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
    return elapsed


def rebase_with_drainer(repo: Path, env: dict[str, str]) -> tuple[float, float]:
    """As it happens for real: a drainer runs alongside the rebase, capturing each pick as its
    shim records it (it is started here, not by the first pick's shim, so that it is our child
    and its CPU can be read; the marker names it, so the shims start no other). git's wall
    time, and the drainer's CPU (its git children included) until it is done."""
    from kitty_hooks.capture.journal import marker_line

    branch = f"live-{time.monotonic_ns()}"
    run(["git", "checkout", "-q", "-b", branch, "side"], cwd=repo, env=env)
    drainer = subprocess.Popen(
        [PY, "-m", "kitty_hooks.capture.journal", "--marked"],
        cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    marker = Path(env["KITTY_HOOKS_HOME"]) / "journal" / "drainer.pid"
    marker.write_text(marker_line(drainer.pid))
    elapsed = timed(["git", "rebase", "-q", "main"], cwd=repo, env=env)
    _, status, usage = os.wait4(drainer.pid, 0)
    drainer.returncode = os.waitstatus_to_exitcode(status)
    run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
    marker.write_text(marker_line(os.getpid()))
    if journal_size(env):
        sys.exit("the drainer left entries behind")
    return elapsed, usage.ru_utime + usage.ru_stime


def journal_size(env: dict[str, str]) -> int:
    folder = Path(env["KITTY_HOOKS_HOME"]) / "journal"
    return sum(1 for name in os.listdir(folder) if name.endswith(".commit"))


def drain_cpu(repo: Path, env: dict[str, str]) -> float:
    """The drainer's CPU; the marker it removes as it leaves is written again for the next
    commits (naming this process: their shims start no drainer of their own)."""
    from kitty_hooks.capture.journal import marker_line

    cpu = cpu_of([PY, "-m", "kitty_hooks.capture.journal"], env=env, cwd=repo)
    marker = Path(env["KITTY_HOOKS_HOME"]) / "journal" / "drainer.pid"
    marker.write_text(marker_line(os.getpid()))
    return cpu


def queued(env: dict[str, str]) -> int:
    from kitty_hooks.queue.store import EventQueue

    with EventQueue(Path(env["KITTY_HOOKS_HOME"]) / "queue.db") as queue:
        return queue.stats().total


def main(argv: Sequence[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--commits", type=int, default=200, help="move commits rebased (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of one drain of N entries to FILE"
    )
    args = harness.parse(
        parser, argv, quick={"commits": 10, "rounds": 1}, help="10 commits, 1 round"
    )
    precompile()
    from kitty_hooks.capture.journal import marker_line

    with scratch_dir("kitty-bench-drain-") as scratch_name:
        repo, env = setup(Path(scratch_name), args.commits)
        journal = Path(env["KITTY_HOOKS_HOME"]) / "journal"
        journal.mkdir(parents=True, exist_ok=True)
        (journal / "drainer.pid").write_text(marker_line(os.getpid()))  # no drainer starts
        rows: dict[str, list[float]] = {
            "git rebase, KITTY_HOOKS=0": [],
            "git rebase, the shims": [],
            "python -c pass (CPU)": [],
            "drain of N (CPU)": [],
            "drain of 1 (CPU)": [],
            "git rebase, drainer alongside": [],
            "drainer alongside (CPU)": [],
        }
        before = 0
        for _ in range(args.rounds):
            rows["git rebase, KITTY_HOOKS=0"].append(rebase(repo, env, hooks=False))
            rows["git rebase, the shims"].append(rebase(repo, env, hooks=True))
            if journal_size(env) != args.commits + 1:  # the picks, and the rewrite
                log = Path(env["KITTY_HOOKS_HOME"]) / "kitty-hooks.log"
                sys.exit(
                    f"expected {args.commits + 1} journal entries, found {journal_size(env)}\n"
                    + (log.read_text()[-3000:] if log.exists() else "")
                )
            rows["python -c pass (CPU)"].append(cpu_of([PY, "-c", "pass"], env=env, cwd=repo))
            if args.profile:
                drain = [
                    PY,
                    "-m",
                    "cProfile",
                    "-o",
                    args.profile,
                    "-m",
                    "kitty_hooks.capture.journal",
                ]
                cpu_of(drain, env=env, cwd=repo)
                rows["drain of N (CPU)"].append(0.0)
                (journal / "drainer.pid").write_text(marker_line(os.getpid()))
            else:
                rows["drain of N (CPU)"].append(drain_cpu(repo, env))
            # The events are the same each round (ids do not depend on the commit): duplicates.
            count = queued(env)
            if journal_size(env) or (before and count != before) or count != args.commits:
                sys.exit(f"expected {args.commits} events and an empty journal, found {count}")
            before = count
            # One commit's entry alone: the drainer's fixed cost.
            run(
                ["git", "checkout", "-q", "-b", f"one-{time.monotonic_ns()}", "side~1"],
                cwd=repo,
                env=env,
            )
            run(["git", "cherry-pick", "side"], cwd=repo, env=env)
            run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
            rows["drain of 1 (CPU)"].append(drain_cpu(repo, env))
            wall, cpu = rebase_with_drainer(repo, env)
            rows["git rebase, drainer alongside"].append(wall)
            rows["drainer alongside (CPU)"].append(cpu)
        (journal / "drainer.pid").unlink(missing_ok=True)
        if args.profile:
            import pstats

            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
            return
        med = {name: median(values) for name, values in rows.items()}
        floor = med["python -c pass (CPU)"]
        n = args.commits
        print(f"rebase of {n} move commits, medians of {args.rounds} rounds:")
        for name, value in med.items():
            print(f"  {name:<28} {value * 1000:8.1f} ms")
        marginal = (med["drain of N (CPU)"] - med["drain of 1 (CPU)"]) / (n - 1)
        print(
            f"  the shims add {(med['git rebase, the shims'] - med['git rebase, KITTY_HOOKS=0']) / n * 1000:.1f} ms"
            f" of git's time per pick"
        )
        print(
            f"  the drainer: {med['drain of N (CPU)'] / n * 1000:.1f} ms CPU per commit on average,"
            f" {marginal * 1000:.1f} ms marginal = {marginal / floor:.2f}x python -c pass"
        )
        alongside = med["drainer alongside (CPU)"] / n
        print(
            f"  a drainer alongside the rebase: {alongside * 1000:.1f} ms CPU per commit"
            f" = {alongside / floor:.2f}x python -c pass"
        )


if __name__ == "__main__":
    main()
