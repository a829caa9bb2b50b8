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

from collections.abc import Sequence
from pathlib import Path

import harness
from _data import LogWriter, feature_slug, wp_file, write_log
from harness import hermetic_env, median, run, scratch_dir, timed

KITTY_HOOKS = [harness.PY, "-m", "kitty_hooks"]


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
            path.write_text(wp_file(int(wp[2:]), "planned", title="", body=f"# {wp}\n"))
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "--no-verify", "-m", "features"], cwd=repo, env=env)
    return total


def main(argv: Sequence[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--features", type=int, default=400, help="features (400)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (7)")
    quick = {"features": 40, "rounds": 3}
    options = harness.parse(parser, argv, quick=quick, help="40 features, 3 rounds")
    features, rounds = options.features, options.rounds
    lines = features * 62  # 400 features: ~25,000 lines
    with scratch_dir("bench-board-") as scratch:
        root = Path(scratch)
        env = hermetic_env(root)
        repo = root / "repo"
        repo.mkdir()
        total = build(repo, features, lines, env)
        run([*KITTY_HOOKS, "scan", "HEAD", "-q"], cwd=repo, env=env)
        print(f"repository: {features} features, {total:,} log lines")
        times: dict[str, list[float]] = {"board": [], "diagnose": []}
        commands = {"board": [*KITTY_HOOKS, "board", "-q"], "diagnose": [*KITTY_HOOKS, "diagnose"]}
        for counted, name in harness.interleaved(list(commands), rounds):
            elapsed = timed(commands[name], cwd=repo, env=env)
            if counted:
                times[name].append(elapsed)
    print(f"board:    median of {rounds}: {median(times['board']) * 1000:,.0f} ms")
    print(f"diagnose: median of {rounds}: {median(times['diagnose']) * 1000:,.0f} ms")
    ratios = harness.pairwise(times["board"], times["diagnose"])
    print(f"board / diagnose: {median(ratios):.2f}x (pairwise median; goal < 2x)")


if __name__ == "__main__":
    main()
