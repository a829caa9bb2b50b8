"""The tests' oracle for "the dashboard shows what spec-kitty shows".

Written from spec-kitty's documented rules (3.x `status/reducer.py`'s docstrings and DESIGN.md),
not from capture's code: a feature's log, transitions only, the first line of each event id kept,
sorted by (at, event_id) as written, folded in that order; at an equal `at` a rollback
(in_review -> in_progress, or for_review -> in_progress with a review_ref) beats a forward move
and a forward move does not undo a rollback. The feature is the folder. WPs without transitions
stand where their WP file's `lane:` puts them.

The dashboard's side: WPStatusChanged envelopes folded per WP in Lamport order, the last
`to_lane` wins.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The sync table of DESIGN.md, restated apart from kitty_hooks/model/lanes.py.
SYNC = {
    "planned": "planned",
    "claimed": "doing",
    "in_progress": "doing",
    "doing": "doing",
    "for_review": "for_review",
    "in_review": "for_review",
    "approved": "done",
    "done": "done",
    "blocked": "doing",
    "canceled": "done",
}
LANES = set(SYNC)


def _is_transition(line: Any) -> bool:
    return (
        isinstance(line, dict)
        and "kind" not in line
        and "event_type" not in line
        and "event_name" not in line
        and isinstance(line.get("to_lane"), str)
        and line["to_lane"] in LANES
        and isinstance(line.get("wp_id"), str)
        and isinstance(line.get("event_id"), str)
        and isinstance(line.get("at"), str)
    )


def _lane(value: Any) -> Any:
    return "in_progress" if value == "doing" else value


def _rollback(line: dict[str, Any]) -> bool:
    if _lane(line["to_lane"]) != "in_progress":
        return False
    source = _lane(line.get("from_lane"))
    return source == "in_review" or (source == "for_review" and line.get("review_ref") is not None)


def reduce_log(text: str) -> dict[str, str]:
    """WP id -> lane, spec-kitty's fold of one log's text."""
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if _is_transition(line):
            lines.append(line)
    first: dict[str, dict[str, Any]] = {}
    for line in lines:
        first.setdefault(line["event_id"], line)
    state: dict[str, dict[str, Any]] = {}
    for line in sorted(first.values(), key=lambda e: (e["at"], e["event_id"])):
        current = state.get(line["wp_id"])
        concurrent = current is not None and current["at"] == line["at"]
        if concurrent and _rollback(current) and not _rollback(line):
            continue  # a forward move does not undo a concurrent rollback
        state[line["wp_id"]] = line
    return {wp: _lane(line["to_lane"]) for wp, line in state.items()}


def _frontmatter_lane(text: str) -> str | None:
    if not text.startswith("---"):
        return None
    for raw in text.split("\n---", 1)[0].splitlines():
        key, _, value = raw.partition(":")
        if key.strip() == "lane":
            lane = value.strip().strip("'\"")
            return lane if lane in LANES else None
    return None


def spec_kitty_board(repo: Path, rev: str = "HEAD") -> dict[tuple[str, str], str]:
    """(feature, WP) -> sync lane at rev, as spec-kitty's rules give it."""
    names = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", rev, "--", "kitty-specs"],
        cwd=repo, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    board: dict[tuple[str, str], str] = {}
    files: dict[str, str] = {}
    for name in filter(None, names):
        files[name] = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=repo, capture_output=True, check=True
        ).stdout.decode("utf-8", "replace")
    logged: set[tuple[str, str]] = set()
    for name, text in files.items():
        parts = name.split("/")
        if len(parts) == 3 and parts[2] == "status.events.jsonl":
            for wp, lane in reduce_log(text).items():
                board[(parts[1], wp)] = SYNC[lane]
                logged.add((parts[1], wp))
    for name, text in files.items():
        parts = name.split("/")
        if len(parts) >= 4 and parts[2] == "tasks" and parts[-1].startswith("WP"):
            wp = parts[-1].split("-", 1)[0].removesuffix(".md")
            if (parts[1], wp) in logged:
                continue
            lane = parts[3] if len(parts) == 5 else _frontmatter_lane(text)
            if lane in LANES:
                board[(parts[1], wp)] = SYNC[lane]
    return board


def dashboard(envelopes: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(feature, WP) -> sync lane: the envelopes folded per WP in Lamport order."""
    board: dict[tuple[str, str], str] = {}
    for envelope in sorted(envelopes, key=lambda e: e["lamport_clock"]):
        payload = envelope["payload"]
        board[(payload["feature_slug"], payload["wp_id"])] = payload["to_lane"]
    return board


def queued_envelopes() -> list[dict[str, Any]]:
    from kitty_hooks.queue.database import default_queue_path
    from kitty_hooks.queue.store import EventQueue

    if not default_queue_path().exists():
        return []
    with EventQueue() as queue:
        return [entry.envelope for entry in queue.list_entries()]


def sent_twice(envelopes: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Moves that arrive more than once: the same WP into the same lane at the same time."""
    seen: set[tuple[Any, ...]] = set()
    twice = []
    for envelope in envelopes:
        payload = envelope["payload"]
        key = (payload["feature_slug"], payload["wp_id"], payload["to_lane"], envelope["timestamp"])
        if key in seen:
            twice.append(key)
        seen.add(key)
    return twice
