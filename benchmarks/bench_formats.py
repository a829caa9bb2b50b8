"""Benchmark: `kitty-hooks diagnose` over a repository shaped like a real spec-kitty 3.x one.

    python benchmarks/bench_formats.py            # 400 features, 2,500 WP files, 25,000 lines
    python benchmarks/bench_formats.py --quick    # a fortieth of that, 1 round: a smoke run

The generated tree holds every kind of line spec-kitty writes into status.events.jsonl: 2.x
transitions (feature_slug), 3.x transitions (mission_slug, mission_id, structured actors,
genesis, in_review, approved, review_result, policy_metadata), envelope lines (MissionCreated,
WPCreated, SpecifyStarted at schema_version 5.0.0), annotations (kind: annotation) and
retrospective records (type: RetrospectiveCaptured); WP files with a status lane, with an
execution lane (lane: lane-a) and with none. A second copy has every line malformed, in turn
one of six ways (not JSON, an unknown lane, no event_id, a forced move without a reason, an
unforced done without evidence, a wrong type).

Measured side by side in one run (interleaved, medians of whole processes):

* diagnose of the valid tree, and of the all-invalid one (goal: at most 3x the valid time);
* a bare `json.loads` loop over the same lines (the floor for reading them at all);
* `python -c pass` (the floor for any Python process).

Before timing, the valid tree is shown to pass (exit 0) and the invalid one to report every
line (exit 1). Nothing is asserted on time; the script prints figures and exits 0.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from _data import ACTORS, REVIEWERS, START
from harness import hermetic_env, median, precompile, run, scratch_dir
from ulid import ULID

LANE_PATH = ("planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done")
ROLES = ("implementer", "reviewer", "planner")
PROFILES = ("python-pro", "frontend-specialist", None)
TOOLS = ("claude", "codex", "cursor")
MODELS = ("opus-4", "gpt-5", None)
CORRUPTIONS = (
    "not json",
    "unknown lane",
    "no event id",
    "forced, no reason",
    "done, no evidence",
    "wrong type",
)


def _ulid(at_ms: int, rng: random.Random) -> str:
    return str(ULID.from_bytes(at_ms.to_bytes(6, "big") + rng.randbytes(10)))


class Generator:
    """Seeded, so every run measures the same tree."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.clock = START

    def tick(self) -> tuple[str, int]:
        from datetime import timedelta

        self.clock += timedelta(seconds=self.rng.randint(5, 600))
        return self.clock.isoformat(), int(self.clock.timestamp() * 1000)

    def actor(self, modern: bool) -> Any:
        if modern and self.rng.random() < 0.5:
            return {
                "role": self.rng.choice(ROLES),
                "profile": self.rng.choice(PROFILES),
                "tool": self.rng.choice(TOOLS),
                "model": self.rng.choice(MODELS),
            }
        return self.rng.choice(ACTORS)

    def transition(
        self, slug: str, mission_id: str, wp: str, old: str, new: str, modern: bool
    ) -> dict[str, Any]:
        at, ms = self.tick()
        line: dict[str, Any] = {
            "event_id": _ulid(ms, self.rng),
            "wp_id": wp,
            "from_lane": old,
            "to_lane": new,
            "at": at,
            "actor": self.actor(modern),
            "force": False,
            "execution_mode": self.rng.choice(("worktree", "direct_repo")),
            "reason": None,
            "review_ref": None,
            "evidence": None,
        }
        if modern:
            line["mission_slug"] = slug
            line["mission_id"] = mission_id
            line["policy_metadata"] = None
        else:
            line["feature_slug"] = slug
        reviewer = self.rng.choice(REVIEWERS)
        if new in ("done", "approved"):
            line["evidence"] = {
                "review": {"reviewer": reviewer, "verdict": "approved", "reference": "PR#1"}
            }
        if modern and old == "in_review":
            line["review_result"] = {
                "reviewer": reviewer,
                "verdict": "approved",
                "reference": "PR#1",
            }
        return line

    def envelope(self, slug: str, event_type: str) -> dict[str, Any]:
        at, ms = self.tick()
        return {
            "event_id": _ulid(ms, self.rng),
            "event_type": event_type,
            "aggregate_id": slug,
            "payload": {"mission_slug": slug, "friendly_name": slug.replace("-", " ")},
            "timestamp": at,
            "node_id": "b805cd5cee74",
            "lamport_clock": self.rng.randint(0, 10_000),
            "causation_id": None,
            "project_uuid": "63c8d621-4b64-48e2-86fc-56c667068f2f",
            "project_slug": "kitty",
            "correlation_id": _ulid(ms, self.rng),
            "schema_version": "5.0.0",
            "data_tier": 0,
        }

    def annotation(self, wp: str) -> dict[str, Any]:
        at, ms = self.tick()
        return {
            "event_id": _ulid(ms, self.rng),
            "kind": "annotation",
            "wp_id": wp,
            "at": at,
            "actor": "claude",
            "delta": {"role": "implementer"},
        }

    def record(self, slug: str) -> dict[str, Any]:
        at, ms = self.tick()
        return {
            "event_id": _ulid(ms, self.rng),
            "type": "RetrospectiveCaptured",
            "mission_slug": slug,
            "at": at,
            "payload": {"findings": 3},
        }


def build_tree(root: Path, *, features: int, wp_files: int, lines: int) -> list[bytes]:
    """Write the valid tree; return its log lines (for the json.loads floor)."""
    gen = Generator()
    per_feature = max(1, lines // features)
    wps_per_feature = max(1, wp_files // features)
    all_lines: list[bytes] = []
    for number in range(1, features + 1):
        slug = f"{number:03d}-mission-{number}"
        modern = number % 5 != 0  # a fifth of the features still hold 2.x lines
        mission_id = _ulid(int(START.timestamp() * 1000) + number, gen.rng)
        feature = root / "kitty-specs" / slug
        (feature / "tasks").mkdir(parents=True)
        events: list[dict[str, Any]] = []
        if modern:
            events += [gen.envelope(slug, "MissionCreated"), gen.envelope(slug, "SpecifyStarted")]
        wp = 0
        while len(events) < per_feature:
            wp += 1
            wp_id = f"WP{wp:02d}"
            old = "genesis" if modern else "planned"
            if modern:
                events.append(gen.envelope(slug, "WPCreated"))
            for new in LANE_PATH[0 if modern else 1 :]:
                if not modern and new in ("in_review", "approved"):
                    continue
                events.append(gen.transition(slug, mission_id, wp_id, old, new, modern))
                old = new
                if modern and gen.rng.random() < 0.15:
                    events.append(gen.annotation(wp_id))
            if modern and gen.rng.random() < 0.1:
                events.append(gen.record(slug))
        events = events[:per_feature]
        text = "".join(json.dumps(event) + "\n" for event in events)
        (feature / "status.events.jsonl").write_text(text, encoding="utf-8")
        all_lines += [line.encode() for line in text.splitlines()]
        for index in range(1, wps_per_feature + 1):
            lane = ("lane: lane-a\n", "", "lane: done\n")[index % 3] if modern else "lane: done\n"
            (feature / "tasks" / f"WP{index:02d}-task-{index}.md").write_text(
                f"---\nwork_package_id: WP{index:02d}\ntitle: Task {index}\n{lane}---\n# Task\n",
                encoding="utf-8",
            )
    return all_lines


def corrupt_tree(valid: Path, broken: Path) -> int:
    """A copy whose every log line is malformed, one of six ways in turn; the count of lines."""
    count = 0
    for log in sorted(valid.glob("kitty-specs/*/status.events.jsonl")):
        out: list[str] = []
        for raw in log.read_text(encoding="utf-8").splitlines():
            event = json.loads(raw)
            how = CORRUPTIONS[count % len(CORRUPTIONS)]
            count += 1
            if how == "not json":
                out.append(raw[:-1])
                continue
            if "event_type" in event or "kind" in event or "type" in event:
                event = {**event, "event_id": 42}  # other kinds: a wrong type where it shows
            elif how == "unknown lane":
                event["to_lane"] = "shipped"
            elif how == "no event id":
                del event["event_id"]
            elif how == "forced, no reason":
                event["force"], event["reason"] = True, None
            elif how == "done, no evidence":
                event["to_lane"], event["evidence"] = "done", None
                event.pop("review_result", None)  # 3.x approves by it where evidence is absent
            else:
                event["force"] = "no"
            out.append(json.dumps(event))
        target = broken / log.relative_to(valid)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return count


JSON_FLOOR = """
import json, sys
from pathlib import Path
for log in Path(sys.argv[1]).glob("kitty-specs/*/status.events.jsonl"):
    for line in log.read_bytes().splitlines():
        json.loads(line)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (7)")
    parser.add_argument("--scale", type=int, default=1, help="build 1/SCALE of the tree (1)")
    quick = {"runs": 1, "scale": 40}
    options = harness.parse(parser, argv, quick=quick, help="a fortieth of the tree, 1 round")
    scale = options.scale
    precompile()
    with scratch_dir("kitty-bench-formats-") as tmp:
        scratch = Path(tmp)
        env = hermetic_env(scratch)
        valid, broken = scratch / "valid", scratch / "broken"
        lines = build_tree(
            valid, features=400 // scale, wp_files=2500 // scale, lines=25_000 // scale
        )
        wp_count = len(list(valid.glob("kitty-specs/*/tasks/WP*.md")))
        shutil_copy_wps(valid, broken)
        bad = corrupt_tree(valid, broken)
        diagnose = [sys.executable, "-m", "kitty_hooks", "diagnose"]
        ok = run([*diagnose, str(valid)], cwd=scratch, env=env, expect=0)
        report = run([*diagnose, str(broken)], cwd=scratch, env=env, expect=1)
        # Every malformed line is one problem line of its own (file:line: ...).
        problem_lines = report.stdout.decode().splitlines()[:-1]
        reported = len({line.split(": ", 1)[0] for line in problem_lines})
        print(
            f"tree: {len(list(valid.glob('kitty-specs/*')))} features, {wp_count} WP files, "
            f"{len(lines):,} log lines; valid tree: exit 0 ({ok.stdout.decode().strip().splitlines()[-1]})"
        )
        print(f"invalid tree: exit 1, {reported:,} of {bad:,} malformed lines reported")
        commands = {  # each with the exit it must give
            "diagnose, all valid": ([*diagnose, str(valid)], 0),
            "diagnose, all invalid": ([*diagnose, str(broken)], 1),
            "json.loads loop": ([sys.executable, "-c", JSON_FLOOR, str(valid)], 0),
            "python -c pass": ([sys.executable, "-c", "pass"], 0),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for counted, name in harness.interleaved(list(commands), options.runs, warmup=1):
            args, code = commands[name]
            elapsed = harness.timed(args, cwd=scratch, env=env, expect=code, output=False)
            if counted:
                samples[name].append(elapsed)
        medians = {name: median(values) for name, values in samples.items()}
        print(f"\nmedians of {options.runs} interleaved runs (whole processes):")
        for name, value in medians.items():
            print(f"  {name:24} {value * 1000:8.0f} ms")
        valid_time = medians["diagnose, all valid"]
        print(
            f"\n  all invalid / all valid:      {medians['diagnose, all invalid'] / valid_time:5.2f}x  (goal <= 3x)"
            f"\n  all valid / json.loads loop:  {valid_time / medians['json.loads loop']:5.2f}x"
            f"\n  lines per second (valid):     {len(lines) / valid_time:,.0f}"
        )
    return 0


def shutil_copy_wps(valid: Path, broken: Path) -> None:
    import shutil

    shutil.copytree(valid, broken, ignore=shutil.ignore_patterns("status.events.jsonl"))


if __name__ == "__main__":
    sys.exit(main())
