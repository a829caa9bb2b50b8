"""Benchmark: the post-commit hook, a 1,000-WP commit, and `kitty-hooks scan` over a long history.

    python benchmarks/bench_post_commit.py            # 25 runs, 1,000 WPs, 5,000 commits
    python benchmarks/bench_post_commit.py --quick    # 3 runs, 100 WPs, 300 commits: a smoke run

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

import subprocess
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import _data
import harness
from _data import move_line, write_project_config
from harness import PY, hermetic_env, median, precompile, run, scratch_dir

timed = partial(harness.timed, quiet=True)
wp_file = partial(_data.wp_file, body="# body\n")
HOOK = [PY, "-m", "kitty_hooks", "hook", "post-commit"]
FLOOR = [PY, "-c", "pass"]
FEATURE = "kitty-specs/039-bench"
LANES = ("planned", "claimed", "in_progress", "for_review")


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
    write_project_config(repo)
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
        log_text += move_line(index, LANES[index % len(LANES)], lane2)
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--runs", type=int, default=25, help="timed runs (25)")
    parser.add_argument("--wps", type=int, default=1000, help="WPs moved by one commit (1000)")
    parser.add_argument("--commits", type=int, default=5000, help="commits scanned (5000)")
    quick = {"runs": 3, "wps": 100, "commits": 300}
    args = harness.parse(parser, argv, quick=quick, help="3 runs, 100 WPs, 300 commits")
    precompile()
    with scratch_dir("kitty-bench-post-commit-") as scratch_name:
        scratch = Path(scratch_name)
        times = bench_one_move(scratch, args.runs)
        floor = median(times["python -c pass"])
        print(f"post-commit hook process, median of {args.runs} runs (interleaved):")
        for name, values in times.items():
            middle = median(values)
            print(f"  {name:<36} {middle * 1000:7.1f} ms   {middle / floor:5.2f}x python -c pass")
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
