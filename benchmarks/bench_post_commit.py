"""Benchmark: the post-commit hook, a 1,000-WP commit, and `kitty-hooks scan` over a long history.

    python benchmarks/bench_post_commit.py            # 25 runs, 1,000 WPs, 5,000 commits
    python benchmarks/bench_post_commit.py --quick    # 7 runs, 200 WPs, 1,000 commits

1. The whole post-commit hook process, as the installed shim runs it, for a commit that moves one
   WP (a new event each run) by a frontmatter edit (1.x, or by hand) and by a spec-kitty 2.x
   commit (a status.events.jsonl line plus the frontmatter), interleaved with a bare
   `python -c pass` and with the hook on a commit that touches no kitty-specs file (the common
   case). Medians, and the ratio to the floor. Targets: <= 4x `python -c pass`, under 40 ms.
   Children get cached bytecode, as an installed package has.
2. One commit that moves 1,000 WPs: the hook process. Target: under 1 s.
3. `kitty-hooks scan HEAD` over a history of 5,000 commits that each move one WP (built with
   git fast-import), into an empty queue. Target: >= 500 commits/s.
Nothing timed is asserted; exit 0. Each run checks the events really reached the queue.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import hermetic_env, precompile, run, scratch_dir

PY = sys.executable
HOOK = [PY, "-m", "kitty_hooks", "hook", "post-commit"]
FLOOR = [PY, "-c", "pass"]
FEATURE = "kitty-specs/039-bench"
LANES = ("planned", "claimed", "in_progress", "for_review")


def wp_file(number: int, lane: str) -> str:
    return f"---\nwork_package_id: WP{number:02d}\ntitle: Work package {number}\nlane: {lane}\n---\n# body\n"


def log_line(index: int, from_lane: str, to_lane: str) -> str:
    """A status.events.jsonl line as spec-kitty 2.x writes it (its own ULID event id)."""
    import json

    from kitty_hooks.model.events import derive_ulid

    return json.dumps(
        {
            "actor": "claude", "at": f"2026-11-20T10:{index // 60 % 60:02d}:{index % 60:02d}+00:00",
            "event_id": derive_ulid(1_763_632_800_000 + index, "bench-log", str(index)),
            "evidence": None, "execution_mode": "worktree", "feature_slug": "039-bench",
            "force": False, "from_lane": from_lane, "policy_metadata": None, "reason": None,
            "review_ref": None, "to_lane": to_lane, "wp_id": "WP02",
        },
        sort_keys=True,
    ) + "\n"  # fmt: skip


def timed(args: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or done.stderr:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def queued(env: dict[str, str]) -> int:
    from kitty_hooks.queue.store import EventQueue

    path = Path(env["KITTY_HOOKS_HOME"]) / "queue.db"
    if not path.exists():
        return 0
    with EventQueue(path) as queue:
        return queue.stats().total


def commit(repo: Path, env: dict[str, str], message: str, when: int) -> None:
    dated = {**env, "GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"}
    run(["git", "add", "-A"], cwd=repo, env=dated)
    run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=repo, env=dated)


def bench_one_move(scratch: Path, runs: int) -> dict[str, list[float]]:
    env = hermetic_env(scratch / "one")
    repo = scratch / "one" / "repo"
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    (repo / FEATURE / "tasks").mkdir(parents=True)
    (repo / FEATURE / "tasks" / "WP01-bench.md").write_text(wp_file(1, "planned"))
    (repo / FEATURE / "tasks" / "WP02-bench.md").write_text(wp_file(2, "planned"))
    (repo / ".kittify").mkdir()
    (repo / ".kittify" / "config.yaml").write_text(
        "project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n  slug: bench\n"
    )
    commit(repo, env, "start", 1_700_000_000)
    times: dict[str, list[float]] = {
        "python -c pass": [],
        "hook, one WP moved (frontmatter)": [],
        "hook, one WP moved (2.x: log line)": [],
        "hook, no lane change": [],
    }
    log = repo / FEATURE / "status.events.jsonl"
    log_text = ""
    before = queued(env)
    for index in range(runs):
        lane = LANES[(index + 1) % len(LANES)]
        (repo / FEATURE / "tasks" / "WP01-bench.md").write_text(wp_file(1, lane))
        commit(repo, env, f"move to {lane}", 1_700_000_100 + index * 90)
        times["python -c pass"].append(timed(FLOOR, cwd=repo, env=env))
        times["hook, one WP moved (frontmatter)"].append(timed(HOOK, cwd=repo, env=env))
        # spec-kitty 2.x: the log line and the frontmatter of WP02 in one commit
        lane2 = LANES[(index + 1) % len(LANES)]
        log_text += log_line(index, LANES[index % len(LANES)], lane2)
        log.write_text(log_text)
        (repo / FEATURE / "tasks" / "WP02-bench.md").write_text(wp_file(2, lane2))
        commit(repo, env, f"WP02 to {lane2}", 1_700_000_130 + index * 90)
        times["hook, one WP moved (2.x: log line)"].append(timed(HOOK, cwd=repo, env=env))
        (repo / f"notes-{index}.txt").write_text("unrelated\n")
        commit(repo, env, "unrelated", 1_700_000_160 + index * 90)
        times["hook, no lane change"].append(timed(HOOK, cwd=repo, env=env))
    moved = queued(env) - before
    collapsed = sum(
        1 for i in range(runs) if {LANES[i % 4], LANES[(i + 1) % 4]} == {"claimed", "in_progress"}
    )
    if moved != 2 * (runs - collapsed):
        sys.exit(f"expected {2 * (runs - collapsed)} events queued, found {moved}")
    return times


def bench_many_wps(scratch: Path, count: int) -> tuple[float, int]:
    env = hermetic_env(scratch / "many")
    repo = scratch / "many" / "repo"
    (repo / FEATURE / "tasks").mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    for number in range(1, count + 1):
        (repo / FEATURE / "tasks" / f"WP{number:02d}-bench.md").write_text(
            wp_file(number, "planned")
        )
    commit(repo, env, "plan", 1_700_000_000)
    for number in range(1, count + 1):
        (repo / FEATURE / "tasks" / f"WP{number:02d}-bench.md").write_text(
            wp_file(number, "for_review")
        )
    commit(repo, env, "review everything", 1_700_000_100)
    elapsed = timed(HOOK, cwd=repo, env=env)
    return elapsed, queued(env)


def bench_scan(scratch: Path, commits: int) -> tuple[float, int]:
    env = hermetic_env(scratch / "scan")
    repo = scratch / "scan" / "repo"
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    stream: list[str] = []
    for index in range(commits):
        number = index % 50 + 1
        lane = LANES[(index // 50 + 1) % len(LANES)] if index >= 50 else "planned"
        content = wp_file(number, lane).encode()
        message = f"move WP{number:02d} to {lane}".encode()
        stream.append(
            f"commit refs/heads/main\nmark :{index + 1}\n"
            f"author Bench Mark <bench@example.com> {1_700_000_000 + index * 60} +0000\n"
            f"committer Bench Mark <bench@example.com> {1_700_000_000 + index * 60} +0000\n"
            f"data {len(message)}\n{message.decode()}\n"
            + (f"from :{index}\n" if index else "")
            + f"M 100644 inline {FEATURE}/tasks/WP{number:02d}-bench.md\ndata {len(content)}\n{content.decode()}\n"
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo,
        env=env,
        input="".join(stream).encode(),
        check=True,
    )
    run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
    elapsed = timed([PY, "-m", "kitty_hooks", "scan", "HEAD"], cwd=repo, env=env)
    return elapsed, queued(env)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--wps", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="7 runs, 200 WPs, 1,000 commits")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.wps, args.commits = 7, 200, 1000
    precompile()
    with scratch_dir("kitty-bench-post-commit-") as scratch_name:
        scratch = Path(scratch_name)
        times = bench_one_move(scratch, args.runs)
        floor = statistics.median(times["python -c pass"])
        print(f"post-commit hook process, median of {args.runs} runs (interleaved):")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<36} {median * 1000:7.1f} ms   {median / floor:5.2f}x python -c pass")
        elapsed, count = bench_many_wps(scratch, args.wps)
        print(
            f"one commit moving {args.wps:,} WPs: hook {elapsed * 1000:.0f} ms, {count:,} events queued"
        )
        elapsed, count = bench_scan(scratch, args.commits)
        print(
            f"scan over {args.commits:,} commits: {elapsed:.2f} s, {args.commits / elapsed:,.0f} commits/s, "
            f"{count:,} events queued"
        )


if __name__ == "__main__":
    main()
