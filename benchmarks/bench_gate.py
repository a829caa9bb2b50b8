"""Benchmark: the pre-commit gate on a real git repository, and how it scales with log size.

    python benchmarks/bench_gate.py             # 50 features x 100 / 1,000 / 10,000 lines a log
    python benchmarks/bench_gate.py --quick     # 5 features x 100 / 1,000 lines, 2 runs: a smoke run

For each log size, a fresh repository gets one status.events.jsonl per feature
(kitty-specs/<NNN-feature>/status.events.jsonl), committed; then ONE valid line is appended to one
log and staged. Timed, each as a subprocess from the repository's top, interleaved, median of N:

* floor:        `python -c pass` (the least any hook written in Python can cost);
* pre-commit:   `python -m kitty_hooks diagnose --staged <that log>` (how the pre-commit framework
                calls the kitty-diagnose hook: the staged files are passed as arguments);
* git hook:     `python -m kitty_hooks hook pre-commit` (what the installed plain git hook runs;
                it asks git for the staged files itself).

Before timing, each size also shows the gate blocks a staged invalid line (exit 1) and passes the
valid one (exit 0), checking only the appended line. Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import harness
from _data import LogWriter, feature_slug, log_line, write_log
from harness import PY, hermetic_env, median, run, scratch_dir, timed

COMMANDS = {
    "floor": [PY, "-c", "pass"],
    "pre-commit": [PY, "-m", "kitty_hooks", "diagnose", "--staged"],  # + the staged path
    "git hook": [PY, "-m", "kitty_hooks", "hook", "pre-commit"],
}


def build_repo(
    repo: Path, *, features: int, lines: int, seed: int, env: dict[str, str]
) -> tuple[str, LogWriter, float]:
    """A committed repository with one log per feature; returns the target log and its writer."""
    started = time.perf_counter()
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    target_index = features // 2
    target_writer: LogWriter | None = None
    target = ""
    for number in range(1, features + 1):
        writer = LogWriter(feature_slug(number), seed=seed * 1000 + number)
        relative = f"kitty-specs/{writer.slug}/status.events.jsonl"
        write_log(repo / relative, list(writer.events(lines)))
        if number == target_index + 1:
            target_writer, target = writer, relative
    (repo / "README.md").write_text("# bench project\n", encoding="utf-8")
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "--no-verify", "-m", "features"], cwd=repo, env=env)
    assert target_writer is not None
    return target, target_writer, time.perf_counter() - started


def stage_append(repo: Path, relative: str, committed: bytes, line: str, env: dict[str, str]):
    (repo / relative).write_bytes(committed + line.encode("utf-8") + b"\n")
    run(["git", "add", "--", relative], cwd=repo, env=env)


def prove_gate(
    repo: Path, relative: str, writer: LogWriter, env: dict[str, str]
) -> tuple[list[str], str]:
    """Stage a bad line (both commands must block), then a good one (both must pass)."""
    committed = (repo / relative).read_bytes()
    bad = writer.next_event()
    bad["to_lane"] = "shipped"
    stage_append(repo, relative, committed, log_line(bad), env)
    for name in ("pre-commit", "git hook"):
        args = COMMANDS[name] + ([relative] if name == "pre-commit" else [])
        done = run(args, cwd=repo, env=env, expect=1)
        if b"shipped" not in done.stdout + done.stderr:
            sys.exit(f"{name}: blocked, but without naming the bad lane")
    good = writer.next_event()
    stage_append(repo, relative, committed, log_line(good), env)
    args = [*COMMANDS["pre-commit"], relative]
    summary = run(args, cwd=repo, env=env).stdout.decode().strip()
    if "1 event" not in summary:
        sys.exit(f"diagnose --staged did not check exactly the appended line: {summary!r}")
    run(COMMANDS["git hook"], cwd=repo, env=env)
    return [COMMANDS["pre-commit"][-1], relative], summary


def measure(
    repo: Path, relative: str, *, reps: int, warmup: int, env: dict[str, str]
) -> dict[str, list[float]]:
    argv = {
        "floor": COMMANDS["floor"],
        "pre-commit": [*COMMANDS["pre-commit"], relative],
        "git hook": COMMANDS["git hook"],
    }
    samples: dict[str, list[float]] = {name: [] for name in argv}
    for counted, name in harness.interleaved(list(argv), reps, warmup):
        elapsed = timed(argv[name], cwd=repo, env=env)
        if counted:
            samples[name].append(elapsed)
    return samples


def git_size_mb(repo: Path) -> float:
    return sum(p.stat().st_size for p in (repo / ".git").rglob("*") if p.is_file()) / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--features", type=int, default=50, help="features (logs) per repository")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[100, 1_000, 10_000],
        help="lines per log, comma-separated (default 100,1000,10000)",
    )
    parser.add_argument("--reps", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--seed", type=int, default=2026)
    quick = {"features": 5, "sizes": [100, 1_000], "reps": 2, "warmup": 0}
    options = harness.parse(parser, argv, quick=quick, help="5 features x 100,1000; 2 runs")
    sizes = sorted(options.sizes)

    print(
        f"python {sys.version.split()[0]} at {PY}; "
        f"{git_version()}; "
        f"{options.features} features a repository, {options.reps} timed runs (+{options.warmup} warm-up)\n"
    )
    results: list[tuple[int, dict[str, list[float]], float, float, str]] = []
    with scratch_dir("kitty-bench-gate-") as scratch:
        workdir = Path(scratch)
        env = hermetic_env(workdir)
        for lines in sizes:
            repo = workdir / f"repo-{lines}"
            relative, writer, setup = build_repo(
                repo, features=options.features, lines=lines, seed=options.seed, env=env
            )
            _, summary = prove_gate(repo, relative, writer, env)
            log_mb = (repo / relative).stat().st_size / 1e6
            print(
                f"{options.features} x {lines:,} lines: repository built and committed in "
                f"{setup:.1f} s (.git {git_size_mb(repo):.0f} MB, target log {log_mb:.2f} MB); "
                f"gate blocks a bad line, passes the good one ({summary})",
                flush=True,
            )
            samples = measure(repo, relative, reps=options.reps, warmup=options.warmup, env=env)
            results.append((lines, samples, log_mb, setup, relative))
    print()
    print_table(results, options.features)
    return 0


def git_version() -> str:
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def print_table(
    results: list[tuple[int, dict[str, list[float]], float, float, str]], features: int
) -> None:
    ms = 1000.0
    header = (
        f"{'lines/log':>10}{'total lines':>13}{'log MB':>8}"
        f"{'floor ms':>10}{'pre-commit ms':>15}{'git hook ms':>13}"
        f"{'pre-commit - floor':>20}{'git hook - floor':>18}"
    )
    print("median wall time per command (whole process):")
    print(header)
    print("-" * len(header))
    medians: dict[str, list[float]] = {"floor": [], "pre-commit": [], "git hook": []}
    for lines, samples, log_mb, _, _ in results:
        med = {name: median(values) for name, values in samples.items()}
        for name in medians:
            medians[name].append(med[name])
        print(
            f"{lines:>10,}{lines * features:>13,}{log_mb:>8.2f}"
            f"{med['floor'] * ms:>10.1f}{med['pre-commit'] * ms:>15.1f}{med['git hook'] * ms:>13.1f}"
            f"{(med['pre-commit'] - med['floor']) * ms:>20.1f}{(med['git hook'] - med['floor']) * ms:>18.1f}"
        )
    print()
    print("spread (min .. max ms):")
    for lines, samples, _, _, _ in results:
        parts = ", ".join(
            f"{name} {min(v) * ms:.1f}..{max(v) * ms:.1f}" for name, v in samples.items()
        )
        print(f"  {lines:>7,} lines/log: {parts}")
    print()
    smallest, largest = results[0][0], results[-1][0]
    print(f"growth from {smallest:,} to {largest:,} lines a log ({largest // smallest}x the data):")
    for name in ("pre-commit", "git hook", "floor"):
        values = medians[name]
        print(
            f"  {name:<11} {values[-1] / values[0]:.2f}x  ({values[0] * ms:.1f} -> {values[-1] * ms:.1f} ms)"
        )
    worst = max(max(medians["pre-commit"]), max(medians["git hook"]))
    print(f"\nslowest median of the gate: {worst * ms:.1f} ms (target < 150 ms)")


if __name__ == "__main__":
    sys.exit(main())
