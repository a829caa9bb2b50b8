"""Benchmark: `kitty-hooks board` against `kitty-hooks diagnose` on the same repository.

    python benchmarks/bench_board.py            # 400 features, ~25,000 log lines, 7 rounds
    python benchmarks/bench_board.py --quick    # 40 features, 3 rounds: a smoke run

The repository: one commit holding 400 features, each a status.events.jsonl written by the
shared LogWriter (spec-kitty 2.x lines) and a WP file per work package. The queue is filled by
`kitty-hooks scan HEAD` first, so board compares every WP. Each round runs both commands as
whole processes, in turn; the script prints their medians and the ratio board / diagnose
(the goal: under 2x). Nothing timed is asserted; the script exits 0 when board agrees.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import LogWriter, feature_slug, hermetic_env, run, scratch_dir, write_log

KITTY_HOOKS = [sys.executable, "-m", "kitty_hooks"]


def build(repo: Path, features: int, lines: int, env: dict[str, str]) -> int:
    run(["git", "init", "-q", "-b", "main", str(repo)], cwd=repo.parent, env=env)
    total = 0
    per_feature = lines // features
    for number in range(1, features + 1):
        slug = feature_slug(number)
        writer = LogWriter(slug, seed=number)
        events = list(writer.events(per_feature))
        write_log(repo / "kitty-specs" / slug / "status.events.jsonl", events)
        total += len(events)
        for wp in sorted({event["wp_id"] for event in events}):
            path = repo / "kitty-specs" / slug / "tasks" / f"{wp}-work.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"---\nwork_package_id: {wp}\nlane: planned\n---\n# {wp}\n")
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "--no-verify", "-m", "features"], cwd=repo, env=env)
    return total


def timed(args: list[str], *, cwd: Path, env: dict[str, str], expect: int) -> float:
    started = time.perf_counter()
    run(args, cwd=cwd, env=env, expect=expect)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 features, 3 rounds")
    options = parser.parse_args()
    features, lines, rounds = (40, 2_500, 3) if options.quick else (400, 25_000, 7)
    with scratch_dir("bench-board-") as scratch:
        root = Path(scratch)
        env = hermetic_env(root)
        repo = root / "repo"
        repo.mkdir()
        total = build(repo, features, lines, env)
        run([*KITTY_HOOKS, "scan", "HEAD", "-q"], cwd=repo, env=env)
        print(f"repository: {features} features, {total:,} log lines")
        board_times, diagnose_times = [], []
        for _ in range(rounds):
            board_times.append(timed([*KITTY_HOOKS, "board", "-q"], cwd=repo, env=env, expect=0))
            diagnose_times.append(timed([*KITTY_HOOKS, "diagnose"], cwd=repo, env=env, expect=0))
    board_median = statistics.median(board_times)
    diagnose_median = statistics.median(diagnose_times)
    print(f"board:    median of {rounds}: {board_median * 1000:,.0f} ms")
    print(f"diagnose: median of {rounds}: {diagnose_median * 1000:,.0f} ms")
    ratios = [b / d for b, d in zip(board_times, diagnose_times, strict=True)]
    print(f"board / diagnose: {statistics.median(ratios):.2f}x (pairwise median; goal < 2x)")


if __name__ == "__main__":
    main()
