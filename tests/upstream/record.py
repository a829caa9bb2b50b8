"""Record what the real spec-kitty CLIs write, as test data for kitty-hooks (issue 7).

Run by hand, from the repository root, with network access to the package index:

    python tests/upstream/record.py            # records both versions
    python tests/upstream/record.py 3.2.7      # records one version
    python tests/upstream/record.py --keep     # keeps the temporary directory for inspection

It is not a test and pytest does not collect it (the name does not match test_*.py). Tests read
only the files it writes, never the network. For each version it creates a temporary virtual
environment, `pip install`s that spec-kitty-cli from the index (2.1.3 also needs `click`, which it
imports without declaring), and drives the installed code, which runs offline:

tests/upstream/2.1.3/
    status.events.jsonl   `specify_cli.status.emit.emit_status_transition` (what `move-task`
                          calls) over every edge of 2.1.3's ALLOWED_TRANSITIONS, one WP per edge,
                          plus the `doing` alias, forced moves (each with a reason), the bootstrap
                          forced move to done with evidence null, review-only and full evidence,
                          direct_repo execution mode and orchestrator policy_metadata.
    status.json           the snapshot the emitter materializes beside the log.
    tasks/WP*.md          the WP files; they start as `lane: "planned"` and the emitter's legacy
                          bridge rewrites their `lane:` (phase 1, the default).
    rules.json            lanes, aliases, allowed transitions and guards read from the package.
tests/upstream/3.2.7/
    emitter/              the same for 3.2.7's `emit_status_transition` (genesis, in_review,
                          structured actors, review_result, mission_id, reason_source) plus
                          `emit_inner_state_changed` annotations; meta.json sets status_phase 1
                          so the phase-1 frontmatter mirror runs on the WP files that have `lane:`.
    project/              the final tree of a real mission run with the CLI in a temporary git
                          project: `spec-kitty init`, `specify`, `plan`, `agent mission
                          finalize-tasks`, `agent mission record-analysis`, `agent action
                          implement`, `agent tasks mark-status`, `agent tasks move-task`, `agent
                          action review`; kitty-specs/ and .kittify/config.yaml and
                          .kittify/canonical-events.jsonl; then a RetrospectiveSkipped record
                          appended by `specify_cli.retrospective.lifecycle_events.emit_skipped`
                          (the merge-time retrospective path, driven directly).
    project.fast-export   `git fast-export --all` of that project: spec-kitty's own commits plus
                          a `record: after <command>` commit wherever a command left changes
                          uncommitted. Replay with `git init x && git -C x fast-import < file`.
    commands.log          each command run, its exit code and the commits it made.
    rules.json            as for 2.1.3.

Event ids, timestamps, mission ids, pids and the temporary paths inside the data are whatever
upstream generated on the recording run; everything the script chooses is fixed. After a run,
update the counts in tests/upstream/README.md (`python tests/upstream/record.py --stats`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = ("2.1.3", "3.2.7")
EXTRA_REQUIREMENTS = {"2.1.3": ["click"], "3.2.7": []}

# Settings that keep spec-kitty offline, quiet and away from the caller's home directory.
OFFLINE_ENV = {
    "SPEC_KITTY_NO_UPGRADE_CHECK": "1",
    "SPEC_KITTY_NON_INTERACTIVE": "1",
    "SPEC_KITTY_SYNC_DISABLE": "1",
    "SPEC_KITTY_ENABLE_SAAS_SYNC": "0",
    "SPEC_KITTY_NO_NAG": "1",
    "COLUMNS": "200",
    "GIT_AUTHOR_NAME": "Recorder",
    "GIT_AUTHOR_EMAIL": "recorder@example.com",
    "GIT_COMMITTER_NAME": "Recorder",
    "GIT_COMMITTER_EMAIL": "recorder@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# --------------------------------------------------------------------------------------------
# Scripts run inside the upstream venvs (they import the installed spec-kitty, nothing else).
# argv: <work dir> <output dir>
# --------------------------------------------------------------------------------------------

EMIT_213 = r"""
import json, shutil, subprocess, sys
from pathlib import Path
from specify_cli.status import transitions as T
from specify_cli.status.emit import emit_status_transition
from specify_cli.orchestrator_api.envelope import parse_and_validate_policy, policy_to_dict

work, out = Path(sys.argv[1]), Path(sys.argv[2])
slug = "001-upstream-record"
subprocess.run(["git", "init", "-q", "-b", "2.x", str(work)], check=True)
fdir = work / "kitty-specs" / slug
(fdir / "tasks").mkdir(parents=True)
REVIEW = {"reviewer": "reviewer-ada", "verdict": "approved", "reference": "PR#42"}
FULL = {"review": REVIEW,
        "repos": [{"repo": "kitty-demo", "branch": "001-upstream-record-WP01",
                   "commit": "0123456789abcdef0123456789abcdef01234567",
                   "files_touched": ["src/demo.py"]}],
        "verification": [{"command": "pytest", "result": "pass", "summary": "12 passed"}]}
PATH = {"planned": [], "claimed": ["claimed"], "in_progress": ["claimed", "in_progress"],
        "for_review": ["claimed", "in_progress", "for_review"],
        "approved": ["claimed", "in_progress", "for_review", "approved"],
        "blocked": ["blocked"]}
n = 0
covered = set()

def new_wp(title):
    global n
    n += 1
    wp = f"WP{n:02d}"
    (fdir / "tasks" / f"{wp}-{title}.md").write_text(
        f'---\nwork_package_id: "{wp}"\ntitle: "{title}"\nlane: "planned"\n---\n\n# {wp}\n',
        encoding="utf-8")
    return wp

def hop(wp, src, dst, **kw):
    args = dict(actor="claude")
    if dst in ("approved", "done"):
        args["evidence"] = {"review": dict(REVIEW)}
    if (src, dst) in {("for_review", "in_progress"), ("for_review", "planned"),
                      ("approved", "in_progress"), ("approved", "planned")}:
        args["review_ref"] = f"review-feedback://{wp}/1"
    if (src, dst) == ("in_progress", "planned"):
        args["reason"] = "scope changed, back to planning"
    args.update(kw)
    ev = emit_status_transition(fdir, slug, wp, args.pop("to", dst), repo_root=work, **args)
    if not ev.force:
        covered.add((str(ev.from_lane), str(ev.to_lane)))
    return ev

def walk(wp, lanes):
    cur = "planned"
    for lane in lanes:
        hop(wp, cur, lane)
        cur = lane

for src, dst in sorted(T.ALLOWED_TRANSITIONS):
    wp = new_wp(f"{src}-to-{dst}".replace("_", "-"))
    walk(wp, PATH[src])
    hop(wp, src, dst)

wp = new_wp("doing-alias")
walk(wp, ["claimed"])
hop(wp, "claimed", "in_progress", to="doing")
hop(wp, "in_progress", "for_review", execution_mode="direct_repo")

wp = new_wp("bootstrap-done")  # move-task's bootstrap: frontmatter said done, log empty
hop(wp, "planned", "done", force=True, evidence=None,
    reason="bootstrap from frontmatter lane done before move-task transition",
    workspace_context="move-task:/repo")
hop(wp, "done", "in_progress", force=True, reason="Force move to in_progress")

wp = new_wp("forced-moves")
hop(wp, "planned", "approved", force=True, reason="Force move to approved")
hop(wp, "approved", "canceled", force=True, reason="Force move to canceled")
hop(wp, "canceled", "planned", force=True, reason="reopened by hand")

wp = new_wp("forced-review-rollback")
walk(wp, PATH["for_review"])
hop(wp, "for_review", "in_progress", force=True, review_ref="force-override",
    reason="Force move to in_progress")
hop(wp, "in_progress", "for_review", force=True, reason="Force move to for_review")

wp = new_wp("full-evidence")
walk(wp, PATH["for_review"])
hop(wp, "for_review", "done", evidence=FULL, execution_mode="direct_repo",
    reason="Merged WP into main")

wp = new_wp("merge-path")
policy = policy_to_dict(parse_and_validate_policy(json.dumps({
    "orchestrator_id": "kitty-orchestrator", "orchestrator_version": "0.1.0",
    "agent_family": "claude", "approval_mode": "full_auto", "sandbox_mode": "workspace_write",
    "network_mode": "none", "dangerous_flags": []})))
hop(wp, "planned", "claimed", policy_metadata=policy)
hop(wp, "claimed", "in_progress", policy_metadata=policy)
hop(wp, "in_progress", "for_review", policy_metadata=policy)
ev = {"review": {"reviewer": "claude", "verdict": "approved", "reference": f"lane-approved:{wp}"}}
hop(wp, "for_review", "approved", actor="merge", evidence=ev,
    reason=f"Recorded prior review approval for merged {wp}")
hop(wp, "approved", "done", actor="merge", evidence=ev, reason=f"Merged {wp} into main")

missing = set(T.ALLOWED_TRANSITIONS) - covered
assert not missing, missing
out.mkdir(parents=True, exist_ok=True)
for name in ("status.events.jsonl", "status.json"):
    shutil.copy(fdir / name, out / name)
shutil.copytree(fdir / "tasks", out / "tasks", dirs_exist_ok=True)
rules = {
    "lanes": list(T.CANONICAL_LANES), "aliases": T.LANE_ALIASES,
    "terminal": sorted(T.TERMINAL_LANES),
    "allowed_transitions": sorted(map(list, T.ALLOWED_TRANSITIONS)),
    "guards": {f"{a}->{b}": g for (a, b), g in sorted(T._GUARDED_TRANSITIONS.items())},
}
(out / "rules.json").write_text(json.dumps(rules, indent=2) + "\n", encoding="utf-8")
"""

EMIT_327 = r"""
import json, shutil, subprocess, sys
from pathlib import Path
from specify_cli.status import transitions as T
from specify_cli.status.emit import (
    build_claim_policy_metadata, emit_inner_state_changed, emit_status_transition)
from specify_cli.status.models import ReviewResult, WPInnerStateDelta
from specify_cli.status.wp_state import wp_state_for

work, out = Path(sys.argv[1]), Path(sys.argv[2])
slug = "upstream-record-01KAAAAA"
mission_id = "01KAAAAAAAAAAAAAAAAAAAAAAA"
subprocess.run(["git", "init", "-q", "-b", "feature/record", str(work)], check=True)
fdir = work / "kitty-specs" / slug
(fdir / "tasks").mkdir(parents=True)
(fdir / "meta.json").write_text(json.dumps({
    "mission_id": mission_id, "mission_slug": slug, "slug": slug, "mission_number": None,
    "mission_type": "software-dev", "friendly_name": "upstream record",
    "target_branch": "feature/record", "status_phase": 1}, indent=2) + "\n", encoding="utf-8")
REVIEW = {"reviewer": "reviewer-renata", "verdict": "approved", "reference": "review-cycle://1"}
IMPL = {"role": "implementer", "profile": "implementer-ivan", "tool": "claude",
        "model": "claude-sonnet-4-6"}
REVIEWER = {"role": "reviewer", "profile": "reviewer-renata", "tool": "codex", "model": None}
PATH = {"genesis": [], "planned": ["planned"], "claimed": ["planned", "claimed"],
        "in_progress": ["planned", "claimed", "in_progress"],
        "for_review": ["planned", "claimed", "in_progress", "for_review"],
        "in_review": ["planned", "claimed", "in_progress", "for_review", "in_review"],
        "approved": ["planned", "claimed", "in_progress", "for_review", "in_review", "approved"],
        "blocked": ["planned", "blocked"]}
n = 0
covered = set()

def new_wp(title, lane=True):
    global n
    n += 1
    wp = f"WP{n:02d}"
    lane_line = 'lane: "planned"\n' if lane else ""
    (fdir / "tasks" / f"{wp}-{title}.md").write_text(
        f'---\nwork_package_id: {wp}\ntitle: {title}\n{lane_line}subtasks: []\ndependencies: []\n---\n\n# {wp}\n',
        encoding="utf-8")
    return wp

def hop(wp, src, dst, **kw):
    args = dict(actor="claude")
    if src == "genesis":
        args.update(actor="finalize-tasks", reason="canonical bootstrap")
    if (src, dst) == ("planned", "claimed"):
        args.update(actor=IMPL, policy_metadata=build_claim_policy_metadata(
            4242, "1767225600.0", "claude"))
    if (src, dst) == ("for_review", "in_review"):
        args.update(actor=REVIEWER, reason="Started review via action command",
                    review_ref="action-review-claim")
    if src == "in_review":
        verdict = "approved" if dst in ("approved", "done") else "changes_requested"
        ref = REVIEW["reference"] if verdict == "approved" else f"review-cycle://{wp}/1"
        args.update(actor=REVIEWER, review_result=ReviewResult(
            reviewer="reviewer-renata", verdict=verdict, reference=ref,
            feedback_path=None if verdict == "approved" else f"tasks/{wp}/review-cycle-1.md"))
    if dst in ("approved", "done") and src != "in_review":
        args["evidence"] = {"review": dict(REVIEW)}
    if (src, dst) in {("approved", "in_progress"), ("approved", "planned")}:
        args["review_ref"] = f"review-cycle://{wp}/1"
    if (src, dst) == ("in_progress", "planned"):
        args["reason"] = "scope changed, back to planning"
    if dst == "canceled":
        args.update(reason="no longer needed", reason_source="operator")
    args.update(kw)
    ev = emit_status_transition(fdir, mission_slug=slug, wp_id=wp, to_lane=args.pop("to", dst),
                                ensure_sync_daemon=False, sync_dossier=False, **args)
    if not ev.force:
        covered.add((str(ev.from_lane), str(ev.to_lane)))
    return ev

def walk(wp, lanes):
    cur = "genesis"
    for lane in lanes:
        hop(wp, cur, lane)
        cur = lane

for src, dst in sorted(T.ALLOWED_TRANSITIONS):
    wp = new_wp(f"{src}-to-{dst}".replace("_", "-"), lane=(n % 2 == 0))
    walk(wp, PATH[src])
    hop(wp, src, dst)

wp = new_wp("doing-alias")
walk(wp, PATH["claimed"])
hop(wp, "claimed", "in_progress", to="doing", execution_mode="direct_repo")

wp = new_wp("bootstrap-done")
hop(wp, "genesis", "done", force=True, actor="user",
    reason="bootstrap from frontmatter lane done before move-task transition")
hop(wp, "done", "in_progress", force=True, actor="user", reason="Force move to in_progress")

wp = new_wp("forced-moves")
walk(wp, PATH["planned"])
hop(wp, "planned", "approved", force=True, reason="Force move to approved")
hop(wp, "approved", "canceled", force=True, reason="Force move to canceled",
    reason_source="synthetic")
hop(wp, "canceled", "planned", force=True, reason="reopened by hand")

wp = new_wp("full-evidence")
walk(wp, PATH["approved"])
hop(wp, "approved", "done", evidence={
    "review": dict(REVIEW),
    "repos": [{"repo": "kitty-demo", "branch": "kitty/mission-upstream-record-lane-a",
               "commit": "0123456789abcdef0123456789abcdef01234567",
               "files_touched": ["src/demo.py"]}],
    "verification": [{"command": "pytest", "result": "pass", "summary": "12 passed"}]},
    reason="Merged WP into feature/record")

wp = new_wp("annotations")
walk(wp, PATH["in_progress"])
for delta in (WPInnerStateDelta(subtasks={"T001": "done", "T002": "planned"}),
              WPInnerStateDelta(note="Ready for review"),
              WPInnerStateDelta(shell_pid=4242, shell_pid_created_at="1767225600.0",
                                agent="claude", role="implementer",
                                agent_profile="implementer-ivan", model="claude-sonnet-4-6"),
              WPInnerStateDelta(tracker_refs=["#1298"]),
              WPInnerStateDelta(release_runtime_claim=True)):
    emit_inner_state_changed(fdir, wp, delta, actor="claude", mission_slug=slug)

missing = set(T.ALLOWED_TRANSITIONS) - covered
assert not missing, missing
out.mkdir(parents=True, exist_ok=True)
for name in ("status.events.jsonl", "status.json", "meta.json"):
    shutil.copy(fdir / name, out / name)
shutil.copytree(fdir / "tasks", out / "tasks", dirs_exist_ok=True)
"""

RULES_327 = r"""
import json, sys
from pathlib import Path
from specify_cli.status import transitions as T
from specify_cli.status.models import Lane
from specify_cli.status.wp_state import wp_state_for
import spec_kitty_events as ske
from importlib.metadata import version

out = Path(sys.argv[2])
rules = {
    "lanes": list(T.CANONICAL_LANES), "all_lane_enum": [lane.value for lane in Lane],
    "aliases": T.LANE_ALIASES, "terminal": sorted(T.TERMINAL_LANES),
    "allowed_transitions": sorted(map(list, T.ALLOWED_TRANSITIONS)),
    "guarded_sources": sorted(lane.value for lane in Lane
                              if type(wp_state_for(lane)).guard_for is not
                              type(wp_state_for(Lane.BLOCKED)).guard_for),
    "spec_kitty_events": version("spec-kitty-events"),
    "spec_kitty_events_lanes": [lane.value for lane in ske.Lane],
}
(out / "rules.json").write_text(json.dumps(rules, indent=2) + "\n", encoding="utf-8")
"""

RETRO_327 = r"""
import json, sys
from pathlib import Path
from specify_cli.retrospective.lifecycle_events import Actor, emit_skipped

repo, slug = Path(sys.argv[1]), sys.argv[2]
meta = json.loads((repo / "kitty-specs" / slug / "meta.json").read_text(encoding="utf-8"))
emit_skipped(meta["mission_id"], slug, repo, skip_reason="recorded without a merge",
             skip_reason_source="cli_flag", policy_source={"enabled": "default"},
             actor=Actor(kind="human", id="recorder", display="Recorder"))
"""

SPEC_MD = """# Feature Specification: demo widget

## User Scenarios & Testing

As a user, I want a demo widget so that I can see it work.

## Requirements

### Functional Requirements

- **FR-001**: The widget MUST render a greeting.
- **FR-002**: The widget MUST count clicks.

## Success Criteria

- **SC-001**: The greeting renders in under 100 ms.
"""

# id, file slug, title, subtasks, dependencies, requirement
WPS = [
    ("WP01", "greeting", "Greeting", ["T001", "T002"], [], "FR-001"),
    ("WP02", "counter", "Click counter", ["T003", "T004"], ["WP01"], "FR-002"),
    ("WP03", "theme", "Theme", ["T005"], [], "FR-001"),
    ("WP04", "legacy", "Legacy port", ["T006"], [], "FR-002"),
]

ANALYSIS = """# Analysis Report

Coverage: FR-001 -> WP01, WP03; FR-002 -> WP02, WP04. No conflicts found.

## Verdict

Ready to implement.
"""


def tasks_md() -> str:
    parts = ["# Tasks: demo widget", ""]
    for wp, _slug, title, subtasks, deps, req in WPS:
        parts += [f"## Work Package {wp}: {title}", "", f"**Requirements**: {req}", ""]
        parts += [f"- [ ] {t} {title}: step {i + 1}" for i, t in enumerate(subtasks)]
        parts += ["", f"**Dependencies**: {', '.join(deps) or 'none'}", ""]
    return "\n".join(parts)


def wp_md(wp: str, slug: str, title: str, subtasks: list[str]) -> str:
    subs = "".join(f'  - "{t}"\n' for t in subtasks)
    return (
        f'---\nwork_package_id: "{wp}"\nsubtasks:\n{subs}title: "{title}"\n'
        'task_type: "implement"\nphase: "Phase 1 - Build"\nexecution_mode: "code_change"\n'
        f'owned_files:\n  - "src/{slug}.py"\n  - "tests/test_{slug}.py"\n'
        f'authoritative_surface: "src/{slug}.py"\n'
        f'create_intent:\n  - "src/{slug}.py"\n  - "tests/test_{slug}.py"\n'
        'agent_profile: "implementer-ivan"\nrole: "implementer"\nagent: "claude"\nmodel: ""\n'
        'assignee: ""\nshell_pid: ""\nhistory:\n  - at: "2026-01-01T00:00:00Z"\n'
        '    actor: "system"\n    action: "Prompt generated via /spec-kitty.tasks"\n---\n\n'
        f"# Work Package Prompt: {wp} – {title}\n\n## Objectives & Success Criteria\n\n"
        f"- {title} works.\n"
    )


class Project:
    """A temporary git project driven through the 3.2.7 CLI, committing what commands leave."""

    def __init__(self, root: Path, venv: Path, env: dict[str, str]) -> None:
        self.root = root
        self.sk = str(venv / "bin" / "spec-kitty")
        self.py = str(venv / "bin" / "python")
        self.env = env
        self.log: list[str] = []

    def git(self, *args: str, cwd: Path | None = None) -> str:
        res = subprocess.run(
            ["git", *args],
            cwd=cwd or self.root,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return res.stdout

    def head(self) -> str:
        return self.git("rev-parse", "--short", "HEAD").strip()

    def settle(self, label: str) -> None:
        if self.git("status", "--porcelain"):
            self.git("add", "-A")
            self.git("commit", "-q", "-m", f"record: after {label}")
            self.log.append(f"    commit {self.head()} record: after {label}")

    def run(
        self, label: str, argv: list[str], stdin: str | None = None, cwd: Path | None = None
    ) -> None:
        before = self.head()
        res = subprocess.run(
            argv,
            cwd=cwd or self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )
        made = self.git("log", "--format=%h %s", f"{before}..HEAD").strip().splitlines()
        self.log.append(f"$ {label}  -> exit {res.returncode}")
        self.log += [f"    commit {line}" for line in reversed(made)]
        if res.returncode != 0:
            sys.stderr.write(res.stdout[-3000:] + res.stderr[-3000:])
            raise SystemExit(f"{label} failed with exit {res.returncode}")
        self.settle(label)

    def spec_kitty(self, *args: str, stdin: str | None = None, cwd: Path | None = None) -> None:
        self.run("spec-kitty " + " ".join(args), [self.sk, *args], stdin=stdin, cwd=cwd)


def record_mission(venv: Path, tmp: Path, out: Path, env: dict[str, str]) -> None:
    root = tmp / "demo-project"
    root.mkdir()
    p = Project(root, venv, env)
    p.git("init", "-q", "-b", "main")
    p.git("commit", "-q", "--allow-empty", "-m", "Initial commit")
    p.spec_kitty("init", "--ai", "claude", "--non-interactive")
    # Planning commits are refused on the protected primary branch: work on a feature branch.
    p.git("checkout", "-q", "-b", "feature/demo-widget")
    p.spec_kitty(
        "specify",
        "demo-widget",
        "--mission-type",
        "software-dev",
        "--topology",
        "single_branch",
        "--json",
    )
    (slug,) = [d.name for d in (root / "kitty-specs").iterdir()]
    fdir = root / "kitty-specs" / slug
    m = ["--mission", slug]
    # The agent's part of /spec-kitty.specify, /spec-kitty.plan and /spec-kitty.tasks.
    (fdir / "spec.md").write_text(SPEC_MD, encoding="utf-8")
    p.settle("writing spec.md (agent step)")
    p.spec_kitty("plan", *m, "--json")
    plan = (fdir / "plan.md").read_text(encoding="utf-8").splitlines()
    plan = [
        "**Language/Version**: Python 3.11"
        if ln.startswith("**Language/Version**")
        else "**Primary Dependencies**: none"
        if ln.startswith("**Primary Dependencies**")
        else ln
        for ln in plan
    ]
    (fdir / "plan.md").write_text("\n".join(plan) + "\n", encoding="utf-8")
    p.settle("writing plan.md (agent step)")
    (fdir / "tasks.md").write_text(tasks_md(), encoding="utf-8")
    for wp, wslug, title, subtasks, _deps, _req in WPS:
        (fdir / "tasks" / f"{wp}-{wslug}.md").write_text(
            wp_md(wp, wslug, title, subtasks), encoding="utf-8"
        )
    p.spec_kitty("agent", "mission", "finalize-tasks", *m, "--json")
    p.spec_kitty("agent", "mission", "record-analysis", *m, "--input-file", "-", stdin=ANALYSIS)

    def implement(wp: str, wslug: str, subtasks: list[str]) -> None:
        p.spec_kitty("agent", "action", "implement", wp, *m, "--agent", "claude")
        lanes = json.loads((fdir / "lanes.json").read_text(encoding="utf-8"))
        lane = next(lane["lane_id"] for lane in lanes["lanes"] if wp in lane["wp_ids"])
        wt = root / ".worktrees" / f"{slug}-{lane}"
        (wt / "src").mkdir(exist_ok=True)
        (wt / "tests").mkdir(exist_ok=True)
        (wt / "src" / f"{wslug}.py").write_text(f"def {wslug}():\n    return 1\n")
        (wt / "tests" / f"test_{wslug}.py").write_text(
            f"from src.{wslug} import {wslug}\n\n\ndef test_{wslug}():\n    assert {wslug}() == 1\n"
        )
        p.git("add", "-A", cwd=wt)
        p.git("commit", "-q", "-m", f"feat({wp}): {wslug}", cwd=wt)
        p.spec_kitty("agent", "tasks", "mark-status", *subtasks, "--status", "done", *m)
        p.spec_kitty(
            "agent",
            "tasks",
            "move-task",
            wp,
            "--to",
            "for_review",
            *m,
            "--note",
            "Ready for review",
            "--json",
        )

    # WP01: the whole happy path, review by another agent, done without a merge.
    implement("WP01", "greeting", ["T001", "T002"])
    p.spec_kitty("agent", "action", "review", "WP01", *m, "--agent", "codex")
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP01",
        "--to",
        "approved",
        *m,
        "--agent",
        "codex",
        "--reviewer",
        "codex",
        "--approval-ref",
        "review:WP01:1",
        "--note",
        "Review passed",
        "--json",
    )
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP01",
        "--to",
        "done",
        *m,
        "--agent",
        "codex",
        "--done-override-reason",
        "recorded without a merge",
        "--json",
    )
    # WP03: rejected in review (in_review -> planned with a feedback file), then blocked.
    implement("WP03", "theme", ["T005"])
    p.spec_kitty("agent", "action", "review", "WP03", *m, "--agent", "codex")
    feedback = tmp / "review-feedback-WP03.md"
    feedback.write_text("# Review\n\n**Verdict**: changes requested\n\n- Add a dark theme.\n")
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP03",
        "--to",
        "planned",
        *m,
        "--agent",
        "codex",
        "--review-feedback-file",
        str(feedback),
        "--json",
    )
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP03",
        "--to",
        "blocked",
        *m,
        "--note",
        "Waiting on the design team",
        "--json",
    )
    # WP04: canceled with an operator note. WP02: implemented, reviewed, approved.
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP04",
        "--to",
        "canceled",
        *m,
        "--note",
        "Legacy widget retired",
        "--json",
    )
    implement("WP02", "counter", ["T003", "T004"])
    p.spec_kitty("agent", "action", "review", "WP02", *m, "--agent", "codex")
    p.spec_kitty(
        "agent",
        "tasks",
        "move-task",
        "WP02",
        "--to",
        "approved",
        *m,
        "--agent",
        "codex",
        "--reviewer",
        "codex",
        "--approval-ref",
        "review:WP02:1",
        "--json",
    )
    # The retrospective record that merge writes: driven directly, a merge needs more setup.
    p.run("emit_skipped (retrospective, driven directly)", [p.py, "-c", RETRO_327, str(root), slug])

    shutil.copytree(root / "kitty-specs", out / "project" / "kitty-specs")
    (out / "project" / ".kittify").mkdir(parents=True)
    for name in ("config.yaml", "canonical-events.jsonl"):
        shutil.copy(root / ".kittify" / name, out / "project" / ".kittify" / name)
    export = subprocess.run(
        ["git", "fast-export", "--all", "--reencode=yes", "--signed-tags=strip"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    (out / "project.fast-export").write_bytes(export)
    (out / "commands.log").write_text("\n".join(p.log) + "\n", encoding="utf-8")


def make_venv(tmp: Path, version: str) -> Path:
    venv = tmp / f"venv-{version}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, f"spec-kitty-cli=={version}", *EXTRA_REQUIREMENTS[version]], check=True)
    return venv


def run_in(venv: Path, script: str, *args: str, env: dict[str, str]) -> None:
    res = subprocess.run([str(venv / "bin" / "python"), "-c", script, *args], env=env)
    if res.returncode != 0:
        raise SystemExit(f"script in {venv.name} failed with exit {res.returncode}")


def record(version: str, tmp: Path) -> None:
    out = HERE / version
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    home = tmp / f"home-{version}"
    home.mkdir()
    env = {**os.environ, **OFFLINE_ENV, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    venv = make_venv(tmp, version)
    if version == "2.1.3":
        run_in(venv, EMIT_213, str(tmp / "emit-2.1.3"), str(out), env=env)
        return
    run_in(venv, EMIT_327, str(tmp / "emit-3.2.7"), str(out / "emitter"), env=env)
    run_in(venv, RULES_327, "", str(out), env=env)
    record_mission(venv, tmp, out, env)


def stats() -> None:
    """Print the per-kind line counts, lanes, actor shapes and id forms of the recorded logs."""
    for log in sorted(HERE.glob("*/**/status.events.jsonl")):
        kinds: Counter[str] = Counter()
        lanes: Counter[str] = Counter()
        actors: Counter[str] = Counter()
        modes: Counter[str] = Counter()
        ids: Counter[str] = Counter()
        for line in log.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            if "event_type" in obj:
                kind = f"envelope {obj['event_type']}"
            elif obj.get("kind") == "annotation":
                kind = "annotation"
            elif "type" in obj:
                kind = f"record {obj['type']}"
            elif "mission_slug" in obj and "from_lane" in obj:
                kind = "transition 3.x"
            elif "feature_slug" in obj and "from_lane" in obj:
                kind = "transition 2.x"
            else:
                kind = "unknown"
            kinds[kind] += 1
            if "from_lane" in obj:
                lanes.update([obj["from_lane"], obj["to_lane"]])
                modes[obj.get("execution_mode")] += 1
            actor = obj.get("actor", obj.get("payload", {}).get("actor"))
            actors[
                type(actor).__name__ + (f" {sorted(actor)}" if isinstance(actor, dict) else "")
            ] += 1
            eid = obj.get("event_id", "")
            ids["ULID" if len(eid) == 26 else "UUID" if len(eid) == 36 else f"other({eid})"] += 1
        print(log.relative_to(HERE))
        for title, counter in (
            ("kinds", kinds),
            ("lanes", lanes),
            ("actors", actors),
            ("execution_mode", modes),
            ("event_id", ids),
        ):
            print(f"  {title}: {dict(sorted(counter.items(), key=str))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", help=f"default: all of {', '.join(VERSIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--stats", action="store_true", help="only print counts of the data")
    args = parser.parse_args()
    unknown = set(args.versions) - set(VERSIONS)
    if unknown:
        parser.error(f"unknown version(s) {sorted(unknown)}; known: {', '.join(VERSIONS)}")
    if args.stats:
        stats()
        return
    tmp = Path(tempfile.mkdtemp(prefix="kitty-upstream-"))
    try:
        for version in args.versions or VERSIONS:
            print(f"recording spec-kitty-cli {version} ...", flush=True)
            record(version, tmp)
        stats()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
