"""Benchmark: the installed hook shims against a bare `python -c pass`, in one run.

    python benchmarks/bench_shims.py            # 25 rounds, ~1 minute
    python benchmarks/bench_shims.py --quick    # 2 rounds: a smoke run

What git waits for, timed as whole processes, interleaved in rotating order, medians:

| row | setup (untimed) |
|---|---|
| floor | `python -c pass` of the same interpreter |
| post-commit, no lane change | HEAD changes README.md only |
| pre-commit, nothing it checks staged | README.md staged |
| pre-push, nothing queued | no queue marker, no spool |
| pre-push, events queued | 3 events in the queue: the shim starts the background flush and returns |
| pre-commit, one log line appended | a 200-line status.events.jsonl at HEAD, one valid line appended and staged |
| pre-commit, fifty log lines appended | the same log, fifty valid lines appended and staged |
| pre-commit, one WP file changed | a WP file's `lane:` changed and staged |
| post-commit, one WP moved (frontmatter) | a new commit edits one WP's `lane:` |
| post-commit, one WP moved (2.x log line) | a new commit appends a status.events.jsonl line and edits the WP |
| background capture of one commit | a new commit (as the frontmatter row) recorded in the journal |

The post-commit rows with a move time what git waits for: the shim records the commit in the
journal and starts the capture detached (kitty_hooks/capture/journal.py). The last row times that capture
as a whole process (`python -m kitty_hooks.capture.journal` draining one entry): what the move costs in the
background. It has no goal and no v1 shim.

Each row runs the v2 shim that `kitty-hooks install` writes now and, where it differs, the v1 shim
of tests/shims/kitty-hooks-shim-v1 (which always started Python) baked with the same interpreter:
before and after, side by side. Every run is started by a small launcher process that names
itself "git-bench" (prctl), as git would run the hook: the flush worker that pre-push starts waits
for it to exit. Before the next run the script waits for the workers to finish (no credentials
here: each one finds nothing it can send and exits), and for the drainers the post-commit shim
starts to finish. Nothing timed is asserted; exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _data
import harness
from _data import make_envelopes, write_project_config
from _data import move_line as log_line
from harness import PY, ROOT, hermetic_env, median, precompile, run, scratch_dir

import kitty_hooks
from kitty_hooks.queue.store import EventQueue

V1_TEMPLATE = ROOT / "tests" / "shims" / "kitty-hooks-shim-v1"
FEATURE = "kitty-specs/039-bench"
LANES = ("planned", "claimed", "in_progress", "for_review")
BACKGROUND = "background capture of one commit (journal)"
GOALS = {  # ratio to python -c pass (issue 10)
    "post-commit, no lane change": 0.5,
    "pre-commit, nothing it checks staged": 0.5,
    "pre-push, nothing queued": 0.5,
    "pre-push, events queued": 1.5,
    "pre-commit, one log line appended": 3.0,  # issue 21
    "pre-commit, fifty log lines appended": 3.0,
    "pre-commit, one WP file changed": 3.0,
    "post-commit, one WP moved (frontmatter)": 3.0,
    "post-commit, one WP moved (2.x log line)": 3.0,
}


def wp_file(lane: str) -> str:
    return _data.wp_file(1, lane, title="Bench", body="# body\n")


class Scenario:
    """A repository with both shims, in an environment (HOME, KITTY_HOOKS_HOME) of its own."""

    def __init__(self, where: Path, name: str) -> None:
        self.env = hermetic_env(where / name)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.state = Path(self.env["KITTY_HOOKS_HOME"])
        self.repo = where / name / "repo"
        self.repo.mkdir()
        self.commits = 0
        self.git("init", "-q", "-b", "main")
        (self.repo / FEATURE / "tasks").mkdir(parents=True)
        (self.repo / FEATURE / "tasks" / "WP01-bench.md").write_text(wp_file("planned"))
        (self.repo / FEATURE / "tasks" / "WP02-bench.md").write_text(wp_file("planned"))
        write_project_config(self.repo)
        (self.repo / "README.md").write_text("bench\n")
        self.commit("start")
        subprocess.run(
            [PY, "-c", "import sys; from kitty_hooks.githooks.install import install_hooks;"
             "install_hooks(__import__('pathlib').Path(sys.argv[1]))", str(self.repo)],
            env=self.env, check=True, capture_output=True,
        )  # fmt: skip
        self.v1 = where / name / "v1"
        self.v1.mkdir()
        template = V1_TEMPLATE.read_text()
        package = str(Path(kitty_hooks.__file__).parent)
        for hook in ("pre-commit", "post-commit", "pre-push"):
            shim = self.v1 / hook
            shim.write_text(
                template.replace("\nhook=pre-commit\n", f"\nhook={hook}\n")
                .replace("@KITTY_HOOKS_PYTHON@", PY)
                .replace("@KITTY_HOOKS_PACKAGE@", package)
            )
            shim.chmod(0o755)

    def git(self, *args: str) -> None:
        run(["git", *args], cwd=self.repo, env=self.env)

    def commit(self, message: str) -> None:
        # Setup commits run no hook (core.hooksPath points at nothing), each a minute after the
        # last: a move's event id derives from its author date, and a WP goes back and forth.
        self.commits += 1
        when = f"{1_700_000_000 + self.commits * 60} +0000"
        dated = {**self.env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        run(["git", "add", "-A"], cwd=self.repo, env=dated)
        run(
            ["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message],
            cwd=self.repo,
            env=dated,
        )


def timed(scratch: Path, scenario: Scenario, command: list[str], stdin: str = "") -> float:
    source = scratch / "stdin"
    source.write_text(stdin)
    result = harness.launch(
        command, env=scenario.env, scratch=scratch, cwd=scenario.repo, stdin=source,
        name="git-bench",
    )  # fmt: skip
    if result["code"] != 0 or "Traceback" in result["stderr"]:
        sys.exit(f"{command} failed ({result['code']}): {result['stderr']}")
    settle(scenario.state)
    return float(result["seconds"])


def settle(state: Path, cap: float = 10.0) -> None:
    """Wait until the flush workers and journal drainers of this KITTY_HOOKS_HOME have exited."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline and harness.processes(
        state, "kitty_hooks.deliver.worker", "kitty_hooks.capture.journal"
    ):
        time.sleep(0.02)


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds (25)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    quick = {"rounds": 2, "warmup": 0}
    options = harness.parse(parser, argv, quick=quick, help="2 rounds, no warm-up")
    began = time.perf_counter()
    precompile()
    print(f"{harness.machine()}; {options.rounds} rounds after {options.warmup} warm-up")
    with scratch_dir("kitty-bench-shims-") as scratch_name:
        scratch = Path(scratch_name)
        idle = Scenario(scratch, "idle")  # nothing queued, ever
        (idle.repo / "README.md").write_text("unrelated\n")
        idle.commit("unrelated")  # HEAD touches no kitty-specs file
        (idle.repo / "README.md").write_text("staged\n")
        idle.git("add", "README.md")  # staged, and nothing the gate checks
        # The gate on a move in the making: staged once, checked every round (a pre-commit hook
        # that passes commits nothing).
        gate_log = Scenario(scratch, "gate-log")
        history = "".join(log_line(n, "planned", "for_review") for n in range(200))
        (gate_log.repo / FEATURE / "status.events.jsonl").write_text(history)
        gate_log.commit("a log of 200 moves")
        (gate_log.repo / FEATURE / "status.events.jsonl").write_text(
            history + log_line(200, "for_review", "planned")
        )
        gate_log.git("add", "-A")
        gate_fifty = Scenario(scratch, "gate-fifty")
        (gate_fifty.repo / FEATURE / "status.events.jsonl").write_text(history)
        gate_fifty.commit("a log of 200 moves")
        (gate_fifty.repo / FEATURE / "status.events.jsonl").write_text(
            history + "".join(log_line(n, "for_review", "planned") for n in range(200, 250))
        )
        gate_fifty.git("add", "-A")
        gate_wp = Scenario(scratch, "gate-wp")
        (gate_wp.repo / FEATURE / "tasks" / "WP01-bench.md").write_text(wp_file("for_review"))
        gate_wp.git("add", "-A")
        for scenario, path, bad in (
            (gate_log, "status.events.jsonl", history + '{"event_id": "x", "to_lane": "x"}\n'),
            (gate_wp, "tasks/WP01-bench.md", wp_file("cancelled")),
        ):  # the gate rows time a real check: a bad line or lane is blocked
            good = (scenario.repo / FEATURE / path).read_text()
            (scenario.repo / FEATURE / path).write_text(bad)
            scenario.git("add", "-A")
            hook = scenario.repo / ".git" / "hooks" / "pre-commit"
            done = subprocess.run(
                [str(hook)], cwd=scenario.repo, env=scenario.env, capture_output=True
            )
            if done.returncode != 1:
                sys.exit(f"the gate let a bad {path} through: {done.stderr.decode()}")
            (scenario.repo / FEATURE / path).write_text(good)
            scenario.git("add", "-A")
        queued = Scenario(scratch, "queued")
        with EventQueue(queued.state / "queue.db") as queue:
            queue.enqueue(make_envelopes(3, seed=2026))
        moves = Scenario(scratch, "moves")
        remote = "/nonexistent/remote.git"
        refs = f"refs/heads/main {'1' * 40} refs/heads/main {'0' * 40}\n"
        count = {"WP01": 0, "WP02": 0}
        log_text: list[str] = []

        def lane_pair(wp_id: str) -> tuple[str, str]:
            # planned <-> for_review: both ways a real move on the wire (no collapse)
            count[wp_id] += 1
            forward = count[wp_id] % 2 == 1
            return ("planned", "for_review") if forward else ("for_review", "planned")

        def move_frontmatter() -> None:
            _, to_lane = lane_pair("WP01")
            (moves.repo / FEATURE / "tasks" / "WP01-bench.md").write_text(wp_file(to_lane))
            moves.commit(f"WP01 to {to_lane}")

        def move_log_line() -> None:
            from_lane, to_lane = lane_pair("WP02")
            log_text.append(log_line(count["WP02"], from_lane, to_lane))
            (moves.repo / FEATURE / "status.events.jsonl").write_text("".join(log_text))
            (moves.repo / FEATURE / "tasks" / "WP02-bench.md").write_text(
                wp_file(to_lane).replace("WP01", "WP02")
            )
            moves.commit(f"WP02 to {to_lane}")

        def record_a_move() -> None:
            # What the post-commit shim leaves for the drainer, written as it writes it.
            move_frontmatter()
            sha = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=moves.repo, env=moves.env,
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            journal = moves.state / "journal"
            journal.mkdir(exist_ok=True)
            (journal / f"{sha}-{os.getpid()}.commit").write_text(f"{moves.repo}\n")

        rows: list[tuple[str, Scenario, list[str], str, object]] = [
            ("floor", idle, [PY, "-c", "pass"], "", None),
        ]
        for label, scenario, hook, stdin in (
            ("post-commit, no lane change", idle, "post-commit", ""),
            ("pre-commit, nothing it checks staged", idle, "pre-commit", ""),
            ("pre-push, nothing queued", idle, "pre-push", refs),
            ("pre-push, events queued", queued, "pre-push", refs),
            ("pre-commit, one log line appended", gate_log, "pre-commit", ""),
            ("pre-commit, fifty log lines appended", gate_fifty, "pre-commit", ""),
            ("pre-commit, one WP file changed", gate_wp, "pre-commit", ""),
        ):
            args = ["origin", remote] if hook == "pre-push" else []
            rows.append(
                (
                    f"{label} | v2",
                    scenario,
                    [str(scenario.repo / ".git" / "hooks" / hook), *args],
                    stdin,
                    None,
                )
            )
            rows.append((f"{label} | v1", scenario, [str(scenario.v1 / hook), *args], stdin, None))
        post_commit = str(moves.repo / ".git" / "hooks" / "post-commit")
        rows.append(
            (
                "post-commit, one WP moved (frontmatter) | v2",
                moves,
                [post_commit],
                "",
                move_frontmatter,
            )
        )
        rows.append(
            (
                "post-commit, one WP moved (2.x log line) | v2",
                moves,
                [post_commit],
                "",
                move_log_line,
            )
        )

        rows.append(
            (BACKGROUND, moves, [PY, "-m", "kitty_hooks.capture.journal"], "", record_a_move)
        )

        times: dict[str, list[float]] = {row[0]: [] for row in rows}
        for counted, row in harness.interleaved(rows, options.rounds, options.warmup):
            name, scenario, command, stdin, setup = row
            if setup is not None:
                setup()  # type: ignore[operator]
            elapsed = timed(scratch, scenario, command, stdin)
            if counted:
                times[name].append(elapsed)
        subprocess.run(
            [PY, "-c", "from kitty_hooks.capture import journal; journal.drain()"], env=moves.env,
            check=True,
        )  # fmt: skip
        with EventQueue(moves.state / "queue.db") as queue:
            captured = queue.stats().total
        expected = 3 * (options.warmup + options.rounds)
        if captured != expected:
            sys.exit(f"the WP-moved runs queued {captured} events, expected {expected}")

    floor = median(times["floor"])
    print(
        f"\nfloor (python -c pass): {floor * 1000:.1f} ms; medians, ms (min-max), ratio to floor\n"
    )
    print(f"{'what':<44} {'v2 shim':>22} {'ratio':>6} {'v1 shim':>22} {'ratio':>6} {'goal':>6}")
    for what, goal in GOALS.items():
        cells = []
        for version in ("v2", "v1"):
            values = times.get(f"{what} | {version}")
            if not values:
                cells.append(f"{'-':>22} {'':>6}")
                continue
            middle = median(values)
            cells.append(
                f"{middle * 1000:7.1f} {harness.spread(values):>14} {middle / floor:5.2f}x"
            )
        v2 = median(times[f"{what} | v2"]) / floor
        verdict = "met" if v2 <= goal else "MISSED"
        print(f"{what:<44} {' '.join(cells)} <={goal:g}x {verdict}")
    values = times[BACKGROUND]
    middle = median(values)
    spread = harness.spread(values)
    print(f"{BACKGROUND:<44} {middle * 1000:7.1f} {spread:>14} {middle / floor:5.2f}x (no goal)")
    print(f"\nthe WP-moved runs queued {captured} events, as expected")
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
