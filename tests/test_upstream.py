"""What the real spec-kitty CLIs wrote (tests/upstream/, recorded by record.py) against the gate and capture.

Every line spec-kitty 2.1.3 and 3.2.7 wrote is valid; a corrupted copy of each kind of line is
blocked with one line naming file and line; and the recorded 3.2.7 project, replayed commit by
commit with `kitty-hooks install` in place, commits unblocked and queues every lane move.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.capture import journal
from kitty_hooks.check import validation
from kitty_hooks.check.diagnose import diagnose_paths
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.store import EventQueue
from tests import board
from tests.gitutil import KITTY_HOOKS, Repo, captured, git

UPSTREAM = Path(__file__).parent / "upstream"
LOG_213 = UPSTREAM / "2.1.3" / "status.events.jsonl"
LOG_327 = UPSTREAM / "3.2.7" / "emitter" / "status.events.jsonl"
PROJECT = UPSTREAM / "3.2.7" / "project"
MISSION = "demo-widget-01M8MA65"
LOG_PROJECT = PROJECT / "kitty-specs" / MISSION / "status.events.jsonl"

# tests/board.py restates the sync table apart from kitty_hooks/model/lanes.py, so that a wrong
# table there shows; a from-lane may also be genesis or null (a new WP).
SYNC = {**board.SYNC, "genesis": None, None: None}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _expected_moves(lines: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    """(wp, sync from, sync to) of every transition that changes the board, in log order: a
    WP's first transition is its creation (from no lane)."""
    moves = []
    seen: set[str] = set()
    for line in lines:
        if "to_lane" not in line or "kind" in line or "event_type" in line:
            continue
        old = SYNC[line["from_lane"]] if line["wp_id"] in seen else None
        new = SYNC[line["to_lane"]]
        seen.add(line["wp_id"])
        if old != new:
            moves.append((line["wp_id"], old, new))
    return moves


def _utc_millis(at: str) -> str:
    parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _queued_moves() -> list[tuple[str, str | None, str]]:
    captured()  # the installed post-commit shim captures in the background
    if not default_queue_path().exists():
        return []
    with EventQueue() as queue:
        entries = sorted(queue.list_entries(), key=lambda entry: entry.id)
    for entry in entries:
        assert validation.explain(validation.ENVELOPE_SCHEMA, entry.envelope) == []
    return [
        (
            e.envelope["payload"]["wp_id"],
            e.envelope["payload"]["from_lane"],
            e.envelope["payload"]["to_lane"],
        )
        for e in entries
    ]


# --- every recorded line is valid ------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        UPSTREAM / "2.1.3",
        UPSTREAM / "3.2.7" / "emitter",
        PROJECT / "kitty-specs",
        PROJECT / ".kittify" / "canonical-events.jsonl",
    ],
    ids=["2.1.3 emitter", "3.2.7 emitter", "3.2.7 mission run", "3.2.7 project log"],
)
def test_every_line_and_wp_file_spec_kitty_wrote_is_valid_without_a_word(source: Path) -> None:
    report = diagnose_paths([source])
    assert report.problems == []
    assert report.exit_code == 0
    assert report.results and all(result.valid for result in report.results)


def test_the_recordings_hold_every_kind_of_line_the_gate_must_read() -> None:
    lines = _lines(LOG_213) + _lines(LOG_327) + _lines(LOG_PROJECT)
    assert {line.get("to_lane") for line in lines} >= {"approved", "in_review", "done", "canceled"}
    assert any(line.get("from_lane") == "genesis" for line in lines)
    assert any(isinstance(line.get("actor"), dict) for line in lines)
    assert any(line.get("kind") == "annotation" for line in lines)
    assert any(line.get("event_type") == "MissionCreated" for line in lines)
    assert any(line.get("type", "").startswith("Retrospective") for line in lines)
    review_only = [
        line
        for line in _lines(LOG_213)
        if line.get("to_lane") == "done" and line["evidence"] and "repos" not in line["evidence"]
    ]
    assert review_only, "2.1.3's move-task passes done evidence with a review and no repos"
    assert any(
        line["force"] and line["to_lane"] == "done" and line["evidence"] is None
        for line in _lines(LOG_213)
    ), "2.1.3's bootstrap path: a forced move to done with evidence null"


# --- a corrupted copy of each kind is blocked --------------------------------------------------


def _first(path: Path, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(line for line in _lines(path) if test(line))


def _transition_2x() -> dict[str, Any]:
    return _first(LOG_213, lambda line: line["to_lane"] == "done" and not line["force"])


def _transition_3x() -> dict[str, Any]:
    return _first(LOG_327, lambda line: line.get("to_lane") == "done" and not line.get("force"))


def _envelope() -> dict[str, Any]:
    return _first(LOG_PROJECT, lambda line: line.get("event_type") == "MissionCreated")


def _annotation() -> dict[str, Any]:
    return _first(LOG_PROJECT, lambda line: line.get("kind") == "annotation")


def _record() -> dict[str, Any]:
    return _first(LOG_PROJECT, lambda line: "type" in line)


def _set(**changes: Any) -> Callable[[dict[str, Any]], str]:
    def corrupt(line: dict[str, Any]) -> str:
        changed = {**line, **changes}
        for name, value in changes.items():
            if value is _DROP:
                del changed[name]
        return json.dumps(changed)

    return corrupt


_DROP = object()
NOT_JSON: Callable[[dict[str, Any]], str] = lambda line: json.dumps(line)[:-1]  # noqa: E731
TRANSITION_CORRUPTIONS = {
    "unknown lane": (_set(to_lane="shipped"), '$.to_lane: unknown value (got "shipped"'),
    "not JSON": (NOT_JSON, "not valid JSON"),
    "no event id": (_set(event_id=_DROP), "$.event_id: missing"),
    "forced without reason": (
        _set(force=True, reason=None),
        "$.reason: empty (got null, expected a non-empty reason, because force is true)",
    ),
    "unforced done without evidence": (
        _set(evidence=None, review_result=_DROP),
        "$.evidence: empty (got null, expected evidence with a review",
    ),
}
OTHER_CORRUPTIONS = {
    "not JSON": (NOT_JSON, "not valid JSON"),
    "no event id": (_set(event_id=_DROP), "$.event_id: missing"),
    "event id not an id": (_set(event_id="WP01-moved"), "$.event_id: wrong format"),
}
CASES = [
    pytest.param(kind, source, corrupt, expected, id=f"{kind}: {name}")
    for kind, source, corruptions in [
        ("2.x transition", _transition_2x, TRANSITION_CORRUPTIONS),
        ("3.x transition", _transition_3x, TRANSITION_CORRUPTIONS),
        ("envelope line", _envelope, OTHER_CORRUPTIONS),
        ("annotation", _annotation, OTHER_CORRUPTIONS),
        ("retrospective record", _record, OTHER_CORRUPTIONS),
    ]
    for name, (corrupt, expected) in corruptions.items()
]


@pytest.fixture(scope="module")
def gated_repo(tmp_path_factory: pytest.TempPathFactory, module_env: Path) -> Repo:
    del module_env  # installed and committed in a home of the module's, never the real one
    repo = Repo(tmp_path_factory.mktemp("gated") / "repo")
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    shutil.copytree(PROJECT / "kitty-specs", repo.path / "kitty-specs")
    repo.commit_all("the recorded mission")
    return repo


@pytest.mark.parametrize(("kind", "source", "corrupt", "expected"), CASES)
def test_a_corrupted_line_of_each_kind_is_blocked_with_one_line(
    gated_repo: Repo,
    kind: str,
    source: Callable[[], dict[str, Any]],
    corrupt: Callable[[dict[str, Any]], str],
    expected: str,
) -> None:
    log = gated_repo.path / "kitty-specs" / MISSION / "status.events.jsonl"
    number = len(log.read_text(encoding="utf-8").splitlines()) + 1
    with log.open("a", encoding="utf-8") as out:
        out.write(corrupt(source()) + "\n")
    gated_repo.git("add", "-A")
    try:
        result = gated_repo.git("commit", "-q", "-m", f"corrupt {kind}", check=False)
    finally:
        gated_repo.git("reset", "-q", "--hard")
    assert result.returncode == 1, f"{kind} passed the gate:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    problem = f"kitty-specs/{MISSION}/status.events.jsonl:{number}:"
    lines = [line for line in result.stderr.splitlines() if line.startswith(problem)]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]


# --- capture ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "feature"),
    [(LOG_213, "021-upstream-two"), (LOG_327, "032-upstream-three")],
    ids=["2.1.3 emitter", "3.2.7 emitter"],
)
def test_every_recorded_transition_is_captured_with_its_sync_lanes(
    repo: Repo, log: Path, feature: str
) -> None:
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    repo.write(f"kitty-specs/{feature}/status.events.jsonl", log.read_text(encoding="utf-8"))
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", "spec-kitty moved every WP")
    assert result.stderr == ""  # the gate passes it
    captured()
    envelopes = board.queued_envelopes()
    assert board.dashboard(envelopes) == board.spec_kitty_board(repo.path)
    assert board.sent_twice(envelopes) == []
    # Every transition that changes the board is there, at its own time.
    lines = {line["event_id"]: line for line in _lines(log) if "to_lane" in line}
    for envelope in envelopes:
        line = lines[envelope["event_id"]]
        assert envelope["timestamp"] == _utc_millis(line["at"])
    assert len(envelopes) == len(_expected_moves(_lines(log)))
    assert journal.state().notes == []  # and capture had nothing to complain of


@pytest.mark.slow
def test_replaying_the_recorded_3x_project_commits_unblocked_and_queues_every_move(
    repo: Repo, tmp_path: Path
) -> None:
    """Each commit of the recorded run, made again with our hooks in place, in order."""
    source = tmp_path / "recorded"
    source.mkdir()
    git(source, "init", "-q")
    with (UPSTREAM / "3.2.7" / "project.fast-export").open("rb") as stream:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=source, stdin=stream, check=True)
    commits = git(source, "rev-list", "--reverse", "--first-parent", "feature/demo-widget")
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    repo.git("fetch", "-q", str(source), "feature/demo-widget")
    for sha in commits.stdout.split():
        message = git(source, "log", "-1", "--format=%B", sha).stdout
        repo.git("read-tree", "-u", "--reset", sha)
        result = repo.git("commit", "-q", "--allow-empty", "-m", message, check=False)
        assert result.returncode == 0, f"commit {sha[:12]} blocked:\n{result.stderr}"
        assert "Traceback" not in result.stderr and "kitty-hooks" not in result.stderr
    envelopes = board.queued_envelopes()
    assert board.dashboard(envelopes) == board.spec_kitty_board(repo.path)
    assert board.sent_twice(envelopes) == []
    assert _queued_moves() == _expected_moves(_lines(LOG_PROJECT))


def test_3x_moves_are_sent_as_the_strict_sync_payload(repo: Repo) -> None:
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    repo.write("kitty-specs/032-upstream-three/status.events.jsonl", LOG_327.read_text("utf-8"))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "moves")
    captured()
    with EventQueue() as queue:
        payloads = [entry.envelope["payload"] for entry in queue.list_entries()]
    structured = [p for p in payloads if p["actor"].startswith("reviewer-renata")]
    assert structured[0]["actor"] == "reviewer-renata (role: reviewer, tool: codex)"
    # Canceled is done on the board too, and needs no evidence; every approval carries some,
    # completed with the commit as repo (3.x approves from in_review by its review_result).
    approvals = [p for p in payloads if p["evidence"] is not None]
    assert len(approvals) >= 8
    assert all(p["evidence"]["repos"] and p["evidence"]["review"]["reviewer"] for p in approvals)
    # The folder names the feature, whatever mission_slug the lines carry.
    assert {p["feature_slug"] for p in payloads} == {"032-upstream-three"}
