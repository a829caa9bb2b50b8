"""Benchmark: `kitty-hooks scan HEAD` over a history shaped like a real spec-kitty repository.

    python benchmarks/bench_scan.py              # ~6,000 commits, 5 runs
    python benchmarks/bench_scan.py --quick      # ~300 commits, 1 run: a smoke run
    python benchmarks/bench_scan.py --profile    # one in-process scan under cProfile
    python benchmarks/bench_scan.py --against 158222a  # and the code of a revision, interleaved

The history is built with `git fast-import` (seeded, so every run is the same history):

- a 1.x era: features whose WP files move between `tasks/<lane>/` folders;
- a 2.x era: hundreds of features, thousands of WP files with `lane:` frontmatter, each move a
  `status.events.jsonl` line (feature_slug) written with the frontmatter in the same commit;
  a few features with logs that grow to thousands of lines;
- a migration commit that rewrites every 2.x log wholesale (feature_slug -> mission_slug, a
  mission_id added, every line re-serialised) and drops `lane:` from every 2.x WP file: it
  touches thousands of files and must queue nothing;
- a 3.x era: mission_slug lines with structured actors, genesis / in_review / approved lanes,
  envelope lines (`MissionCreated`, `WPCreated`) and annotations, status.json beside the log,
  WP files without `lane:`; the upgraded 2.x features go on in 3.x lines;
- bulk commits that move dozens of WPs across features, edits of spec/plan files, commits
  outside kitty-specs, and side branches merged back (their merges settle nothing: each
  leaves every WP where the moves already sent put it).

Each run is the whole `kitty-hooks scan HEAD` process into an empty queue. The script checks
that the queue holds exactly the events the generator knows it produced (moves that do not
collapse within one sync lane), that none was found twice (the migration re-queuing its old
lines would be) and that nothing was skipped; it asserts nothing timed.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from _data import TOPICS
from harness import PY, ROOT, hermetic_env, median, precompile, run, scratch_dir

from kitty_hooks.model.lanes import collapse_transition

START = 1_700_000_000
AUTHORS = (("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com"),
           ("Linus T", "linus@example.com"), ("Zoë Q", "zoe@example.com"))  # fmt: skip
ACTORS_2X = ("claude", "codex", "ada", "grace", "cursor")
ROLES = ("implementer", "reviewer")
TOOLS = ("claude", "codex", "cursor", "opencode")
CONFIG = b"project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n  slug: bench-scan\n"
LEGACY_NEXT = {"planned": "doing", "doing": "for_review", "for_review": "done"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Feature:
    def __init__(self, number: int, era: str, wps: int, rng: random.Random) -> None:
        self.era = era
        self.number = number
        topic = TOPICS[number % len(TOPICS)]
        if era == "3x":
            self.mission_id = _ulid(rng, START * 1000 + number)
            self.slug = f"{topic}-{number:03d}-{self.mission_id[:8]}"
        else:
            self.mission_id = _ulid(rng, START * 1000 + number)
            self.slug = f"{number:03d}-{topic}"
        self.folder = f"kitty-specs/{self.slug}"
        self.wp_count = wps
        self.lanes: dict[str, str] = {}  # WP id -> lane
        self.log: list[dict[str, Any]] = []  # every line of status.events.jsonl, in order
        self.log_bytes: list[bytes] = []  # the same, serialised
        self.upgraded = era == "3x"  # writes 3.x lines

    def wp_path(self, wp: str, lane: str | None = None) -> str:
        if self.era == "1x":
            return f"{self.folder}/tasks/{lane}/{wp}-work-package.md"
        return f"{self.folder}/tasks/{wp}-work-package.md"

    def movable(self) -> list[str]:
        return [wp for wp, lane in self.lanes.items() if lane not in ("done", "canceled")]


def _ulid(rng: random.Random, millis: int) -> str:
    number = (millis << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(26)))


def _wp_text(wp: str, title: str, lane: str | None, *, reviewed: bool = False) -> bytes:
    head = f"---\nwork_package_id: {wp}\ntitle: {title}\n"
    if lane is not None:
        head += f'lane: "{lane}"\n'
    if reviewed:
        head += 'reviewed_by: "Grace"\nreview_status: "approved"\n'
    head += "dependencies: []\nsubtasks:\n- T001\n- T002\n---\n"
    return (head + f"# {wp}: {title}\n\n## Objective\n\nDo the thing well.\n" * 3).encode()


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True).encode() + b"\n"


class History:
    """Generates the fast-import stream and counts the events a scan must queue."""

    def __init__(self, commits: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.target = commits
        self.stream = bytearray()
        self.mark = 0
        self.when = START
        self.head = {"main": 0}  # branch -> mark of its last commit
        self.trees: dict[str, dict[str, bytes]] = {"main": {}}
        self.expected = 0  # events that must be queued
        self.commits = 0
        self.merges = 0
        self.in_specs = 0  # commits that touch kitty-specs (what scan reads)
        self.features: list[Feature] = []
        self.lines = 0
        self.migration_files = 0

    # --- git fast-import ---------------------------------------------------------------------

    def commit(
        self,
        branch: str,
        message: str,
        files: dict[str, bytes | None],
        *,
        merge_from: str | None = None,
    ) -> None:
        self.mark += 1
        self.commits += 1
        self.when += self.rng.randrange(30, 900)
        name, email = self.rng.choice(AUTHORS)
        body = message.encode()
        out = self.stream
        out += f"commit refs/heads/{branch}\nmark :{self.mark}\n".encode()
        out += f"author {name} <{email}> {self.when} +0000\n".encode()
        out += f"committer {name} <{email}> {self.when} +0000\n".encode()
        out += f"data {len(body)}\n".encode() + body + b"\n"
        if self.head.get(branch):
            out += f"from :{self.head[branch]}\n".encode()
        if merge_from is not None:
            out += f"merge :{self.head[merge_from]}\n".encode()
            self.merges += 1
        tree = self.trees[branch]
        for path, content in files.items():
            if content is None:
                out += f"D {path}\n".encode()
                tree.pop(path, None)
            else:
                out += f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n"
                tree[path] = content
        out += b"\n"
        self.head[branch] = self.mark
        if merge_from is None and any(p.startswith("kitty-specs/") for p in files):
            self.in_specs += 1

    def author_date(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(self.when))

    # --- what spec-kitty writes --------------------------------------------------------------

    def count(self, from_lane: str | None, to_lane: str) -> None:
        if collapse_transition(from_lane, to_lane) is not None:
            self.expected += 1

    def create_feature(self, feature: Feature, files: dict[str, bytes | None]) -> None:
        files[f"{feature.folder}/spec.md"] = f"# {feature.slug}\n\nThe spec.\n".encode() * 20
        files[f"{feature.folder}/plan.md"] = b"# Plan\n\nSteps.\n" * 30
        for index in range(1, feature.wp_count + 1):
            wp = f"WP{index:02d}"
            feature.lanes[wp] = "planned"
            if feature.era == "3x":
                files[feature.wp_path(wp)] = _wp_text(wp, f"Task {index}", None)
            else:
                files[feature.wp_path(wp, "planned")] = _wp_text(wp, f"Task {index}", "planned")
                self.count(None, "planned")  # a new WP file is None -> planned
        if feature.era == "3x":
            at = self.author_date()
            self.append(feature, files, self.envelope(feature, "MissionCreated", at))
            for wp in feature.lanes:
                self.append(feature, files, self.envelope(feature, "WPCreated", at, wp=wp))
                self.append(feature, files, self.transition(feature, wp, "genesis", "planned"))
                self.count(None, "planned")
            self.status_json(feature, files)

    def envelope(
        self, feature: Feature, kind: str, at: str, wp: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"mission_slug": feature.slug, "mission_id": feature.mission_id}
        if wp is not None:
            payload.update(wp_id=wp, title=f"Task {wp}")
        return {
            "aggregate_id": wp or feature.mission_id,
            "aggregate_type": "WorkPackage" if wp else "Mission",
            "event_id": _ulid(self.rng, self.when * 1000),
            "event_type": kind,
            "payload": payload,
            "project_slug": None,
            "project_uuid": None,
            "schema_version": "5.0.0",
            "timestamp": at,
        }

    def transition(self, feature: Feature, wp: str, from_lane: str, to_lane: str) -> dict[str, Any]:
        rng = self.rng
        at = self.author_date()
        force = (from_lane, to_lane) in (("in_review", "planned"), ("planned", "canceled"))
        event: dict[str, Any] = {
            "at": at,
            "event_id": _ulid(rng, self.when * 1000 + rng.randrange(1000)),
            "evidence": None,
            "execution_mode": "worktree" if rng.random() < 0.8 else "direct_repo",
            "force": force,
            "from_lane": from_lane,
            "policy_metadata": None,
            "reason": "backward rewind after review" if force else None,
            "review_ref": None,
            "to_lane": to_lane,
            "wp_id": wp,
        }
        if to_lane in ("done", "approved"):
            review = {"reference": f"PR#{rng.randrange(1, 5000)}", "reviewer": "codex",
                      "verdict": "approved"}  # fmt: skip
            event["evidence"] = {"review": review}
        if feature.upgraded:
            role = "reviewer" if from_lane in ("for_review", "in_review") else "implementer"
            event["actor"] = {"model": None, "profile": None, "role": role,
                              "tool": rng.choice(TOOLS)}  # fmt: skip
            event["mission_slug"] = feature.slug
            event["mission_id"] = feature.mission_id
            if from_lane == "in_review":
                event["review_result"] = {"reviewer": "codex", "verdict": "approved",
                                          "reference": "review-cycle://x/1.md"}  # fmt: skip
        else:
            event["actor"] = rng.choice(ACTORS_2X)
            event["feature_slug"] = feature.slug
        return event

    def append(
        self, feature: Feature, files: dict[str, bytes | None], line: dict[str, Any]
    ) -> None:
        feature.log.append(line)
        feature.log_bytes.append(_line(line))
        self.lines += 1
        files[f"{feature.folder}/status.events.jsonl"] = b"".join(feature.log_bytes)

    def status_json(self, feature: Feature, files: dict[str, bytes | None]) -> None:
        snapshot = {"mission_slug": feature.slug, "work_packages": feature.lanes}
        files[f"{feature.folder}/status.json"] = json.dumps(snapshot, indent=2).encode()

    def next_lane(self, feature: Feature, lane: str) -> str:
        roll = self.rng.random()
        if feature.era == "1x":
            return LEGACY_NEXT[lane]
        if lane == "planned":
            return "canceled" if roll < 0.03 else "claimed"
        if lane == "claimed":
            return "in_progress"
        if lane == "in_progress":
            return "blocked" if roll < 0.1 else "for_review"
        if lane == "blocked":
            return "in_progress"
        if lane == "for_review":
            if feature.upgraded:
                return "in_review"
            return "in_progress" if roll < 0.2 else ("approved" if roll < 0.5 else "done")
        if lane == "in_review":
            return "planned" if roll < 0.15 else "approved"
        return "done"  # approved

    def move(self, feature: Feature, wp: str, files: dict[str, bytes | None]) -> None:
        lane = feature.lanes[wp]
        to_lane = self.next_lane(feature, lane)
        feature.lanes[wp] = to_lane
        self.count(lane, to_lane)
        title = f"Task {int(wp[2:])}"
        if feature.era == "1x":
            files[feature.wp_path(wp, lane)] = None
            files[feature.wp_path(wp, to_lane)] = _wp_text(
                wp, title, None, reviewed=to_lane == "done"
            )
            return
        self.append(feature, files, self.transition(feature, wp, lane, to_lane))
        if feature.upgraded:
            if self.rng.random() < 0.3:  # 3.x: runtime annotations beside the moves
                note = {"actor": "claude", "at": self.author_date(),
                        "delta": {"subtasks": {"T001": "done"}},
                        "event_id": _ulid(self.rng, self.when * 1000), "kind": "annotation",
                        "wp_id": wp}  # fmt: skip
                self.append(feature, files, note)
            self.status_json(feature, files)
        else:  # 2.x: the frontmatter follows the log line in the same commit (one move)
            files[feature.wp_path(wp)] = _wp_text(wp, title, to_lane, reviewed=to_lane == "done")

    # --- the history -------------------------------------------------------------------------

    def build(self) -> None:
        rng = self.rng
        self.commit("main", "initial", {".kittify/config.yaml": CONFIG, "README.md": b"# app\n"})
        number = 0
        plan = [("1x", 0.06, 30), ("2x", 0.55, 230), ("3x", 0.39, 120)]  # for 6,000 commits
        for era, share, features_for_6000 in plan:
            feature_count = max(2, features_for_6000 * self.target // 6000)
            if era == "3x":
                self.migrate()
            budget = int(self.target * share)
            first = self.commits
            new_every = max(1, budget // (feature_count + 1))
            big = 0
            while self.commits - first < budget:
                active = [f for f in self.features if f.era == era or (era == "3x" and f.upgraded)]
                active = [f for f in active if f.movable()]
                if (self.commits - first) % new_every == 0 or not active:
                    number += 1
                    # a few features with a hundred WPs and logs of thousands of lines
                    heavy = era == "2x" and big < 4 and number % 40 == 7
                    wps = 500 if heavy else rng.randrange(6, 16)
                    big += heavy
                    feature = Feature(number, era, wps, rng)
                    self.features.append(feature)
                    files: dict[str, bytes | None] = {}
                    self.create_feature(feature, files)
                    self.commit("main", f"{feature.slug}: finalize tasks", files)
                    continue
                roll = rng.random()
                if roll < 0.05:
                    self.commit("main", "refactor", {f"src/mod{rng.randrange(50)}.py": _noise(rng)})
                elif roll < 0.09:
                    feature = rng.choice(active)
                    self.commit("main", "plan", {f"{feature.folder}/plan.md": _noise(rng)})
                elif roll < 0.14:
                    self.bulk(active)
                elif roll < 0.16 and len(active) > 2:
                    self.side_branch(active)
                else:
                    feature = self.pick(active)
                    # an orchestrator moves many WPs of a large feature at once
                    count = (
                        rng.randrange(6, 17) if feature.wp_count >= 100 else rng.choice((1, 1, 2))
                    )
                    self.moves(feature, count, "main")

    def pick(self, active: list[Feature]) -> Feature:
        heavy = [f for f in active if f.wp_count >= 100]
        if heavy and self.rng.random() < 0.45:
            return self.rng.choice(heavy)
        return self.rng.choice(active)

    def moves(self, feature: Feature, count: int, branch: str) -> None:
        files: dict[str, bytes | None] = {}
        for wp in self.rng.sample(feature.movable(), min(count, len(feature.movable()))):
            self.move(feature, wp, files)
        self.commit(branch, f"{feature.slug}: move work packages", files)

    def bulk(self, active: list[Feature]) -> None:
        """One commit touching dozens of files: a status sweep over several features."""
        files: dict[str, bytes | None] = {}
        for feature in self.rng.sample(active, min(len(active), self.rng.randrange(3, 8))):
            movable = feature.movable()
            for wp in self.rng.sample(movable, min(len(movable), self.rng.randrange(2, 7))):
                self.move(feature, wp, files)
        self.commit("main", "status sweep", files)

    def side_branch(self, active: list[Feature]) -> None:
        """A feature's work on its own branch while main goes on, then merged back."""
        feature = self.rng.choice([f for f in active if f.wp_count < 100] or active)
        others = [f for f in active if f is not feature]
        self.head["side"] = self.head["main"]
        self.trees["side"] = dict(self.trees["main"])
        for _ in range(self.rng.randrange(2, 6)):
            if feature.movable():
                self.moves(feature, 1, "side")
            other = self.rng.choice(others)
            if other.movable():
                self.moves(other, 1, "main")
        side = self.trees["side"]
        main = self.trees["main"]
        changed: dict[str, bytes | None] = {
            path: content
            for path, content in side.items()
            if path.startswith(feature.folder + "/") and main.get(path) != content
        }
        changed.update(
            {
                path: None
                for path in main
                if path.startswith(feature.folder + "/") and path not in side
            }
        )
        self.commit("main", f"Merge branch for {feature.slug}", changed, merge_from="side")

    def migrate(self) -> None:
        """Upgrade every 2.x feature: logs rewritten wholesale, `lane:` dropped from WP files."""
        files: dict[str, bytes | None] = {}
        for feature in self.features:
            if feature.era != "2x":
                continue
            feature.upgraded = True
            for line in feature.log:
                line["mission_slug"] = line.pop("feature_slug")
                line["mission_id"] = feature.mission_id
            feature.log_bytes = [_line(line) for line in feature.log]
            files[f"{feature.folder}/status.events.jsonl"] = b"".join(feature.log_bytes)
            for wp in feature.lanes:
                files[feature.wp_path(wp)] = _wp_text(wp, f"Task {int(wp[2:])}", None)
            self.status_json(feature, files)
        self.migration_files = len(files)
        self.commit("main", "spec-kitty upgrade: migrate status logs to 3.x", files)


def _noise(rng: random.Random) -> bytes:
    return ("".join(rng.choice("abcdefgh \n") for _ in range(400))).encode()


def build_repo(repo: Path, env: dict[str, str], commits: int) -> History:
    history = History(commits, seed=20261130)
    history.build()
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo,
        env=env,
        input=bytes(history.stream),
        check=True,
    )
    run(["git", "checkout", "-q", "main"], cwd=repo, env=env)
    return history


def scan_once(
    repo: Path, env: dict[str, str], home: Path, code: Path | None = None
) -> tuple[float, dict[str, Any]]:
    env = {**env, "KITTY_HOOKS_HOME": str(home)}
    if code is not None:  # another revision's kitty_hooks, ahead of the installed one
        env["PYTHONPATH"] = str(code)
    scan = [PY, "-m", "kitty_hooks", "scan", "--format", "json", "HEAD"]
    elapsed, done = harness.timed_run(scan, cwd=repo, env=env)
    return elapsed, json.loads(done.stdout)


def queued(home: Path) -> int:
    from kitty_hooks.queue.store import EventQueue

    with EventQueue(home / "queue.db") as queue:
        return queue.stats().total


def profile(repo: Path, home: Path) -> None:
    import cProfile
    import os
    import pstats

    from kitty_hooks.capture.commits import scan

    os.environ["KITTY_HOOKS_HOME"] = str(home)
    profiler = cProfile.Profile()
    profiler.runcall(scan, repo, "HEAD", queue_path=home / "queue.db")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: Sequence[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--commits", type=int, default=6000, help="commits, about (6000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (5)")
    parser.add_argument("--profile", action="store_true", help="one in-process scan, cProfile")
    parser.add_argument("--keep", type=Path, help="build the repository here and keep it")
    parser.add_argument(
        "--against", metavar="REV", help="also time kitty_hooks as of REV, interleaved"
    )
    args = harness.parse(
        parser, argv, quick={"commits": 300, "runs": 1}, help="~300 commits, 1 run"
    )
    precompile()
    with scratch_dir("kitty-bench-scan-") as scratch_name:
        scratch = Path(scratch_name)
        env = hermetic_env(scratch)
        repo = args.keep or scratch / "repo"
        started = time.perf_counter()
        history = build_repo(repo, env, args.commits)
        total = int(run(["git", "rev-list", "--count", "HEAD"], cwd=repo, env=env).stdout)
        features = len(history.features)
        wp_files = sum(f.wp_count for f in history.features)
        longest = max(len(f.log) for f in history.features)
        long_logs = sum(len(f.log) >= 1000 for f in history.features)
        print(
            f"history: {total:,} commits ({history.in_specs:,} touch kitty-specs, "
            f"{history.merges} merges), {features} features, {wp_files:,} WP files, "
            f"{history.lines:,} log lines ({long_logs} logs of 1,000+ lines, longest {longest:,}), "
            f"migration commit of "
            f"{history.migration_files:,} files; built in {time.perf_counter() - started:.1f} s"
        )
        if args.profile:
            profile(repo, scratch / "profile-home")
            return
        code = {"this checkout": None}
        if args.against:
            code[args.against] = export_revision(args.against, scratch / "against")
        times: dict[str, list[float]] = {name: [] for name in code}
        for index in range(args.runs):
            # interleaved: the machine's load hits both alike
            for name in harness.rotated(list(code), index):
                path = code[name]
                home = scratch / f"home-{len(times[name])}-{len(times)}-{name.replace(' ', '-')}"
                elapsed, report = scan_once(repo, env, home, path)
                count = queued(home)
                # Into an empty queue, a duplicate is a move found twice (a rewritten log
                # re-queued); a revision given with --against is only timed.
                bad = report["skipped"] or report["not_queued"] or report["duplicates"]
                if path is None and (count != history.expected or bad):
                    sys.exit(
                        f"scan queued {count:,} events, expected {history.expected:,}; "
                        f"skipped {report['skipped'][:3]} not queued {report['not_queued'][:3]}, "
                        f"{len(report['duplicates']):,} found twice"
                    )
                times[name].append(elapsed)
                print(
                    f"  {name}, run {index + 1}: {elapsed:.2f} s, {total / elapsed:,.0f} commits/s, "
                    f"{count:,} queued, {len(report['duplicates']):,} already known, "
                    f"{report['no_ops']:,} within one sync lane"
                )
        for name, values in times.items():
            middle = median(values)
            print(
                f"{name}: scan HEAD, median of {args.runs}: {middle:.2f} s = "
                f"{total / middle:,.0f} commits/s (min {total / max(values):,.0f}, "
                f"max {total / min(values):,.0f})"
            )
        print(f"events the history holds (and this checkout queued): {history.expected:,}")


def export_revision(revision: str, target: Path) -> Path:
    """kitty_hooks as it was at a revision of this repository, compiled, for PYTHONPATH."""
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "kitty_hooks", "schemas", "hooks"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    subprocess.run([PY, "-m", "compileall", "-q", str(target)], check=True)
    return target


if __name__ == "__main__":
    main()
