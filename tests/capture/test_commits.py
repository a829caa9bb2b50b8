"""Lane changes found in real commits and queued by the post-commit / post-rewrite hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import PROJECT_ROOT, Repo, captured

F = "kitty-specs/039-cli-2x-readiness"
LOG = f"{F}/status.events.jsonl"
EVIDENCE = {
    "repos": [{"repo": "kitty/cli", "branch": "main", "commit": "3f2a9c1"}],
    "review": {"reviewer": "Grace", "verdict": "approved", "reference": "PR#12"},
}


def wp(lane: str | None, *, wp_id: str = "WP01", extra: str = "") -> str:
    lane_line = f'lane: "{lane}"\n' if lane is not None else ""
    return f"---\nwork_package_id: {wp_id}\ntitle: Fix the thing\n{lane_line}{extra}---\n# body\n"


def log_line(event_id: str, from_lane: str | None, to_lane: str, **extra: Any) -> str:
    line = {
        "actor": "claude",
        "at": "2026-11-20T10:00:00+00:00",
        "event_id": event_id,
        "evidence": None,
        "execution_mode": "worktree",
        "feature_slug": "039-cli-2x-readiness",
        "force": False,
        "from_lane": from_lane,
        "reason": None,
        "review_ref": None,
        "to_lane": to_lane,
        "wp_id": "WP01",
        **extra,
    }
    return json.dumps(line, sort_keys=True) + "\n"


def install_hooks(repo_path: Path) -> None:
    hooks = repo_path / ".git" / "hooks"
    for name in ("post-commit", "post-rewrite"):
        hook = hooks / name
        hook.write_text(
            f"#!/bin/sh\nPYTHONPATH='{PROJECT_ROOT}' exec '{sys.executable}' -m kitty_hooks hook {name} \"$@\"\n"
        )
        hook.chmod(0o755)


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    install_hooks(repo.path)
    repo.write("README.md", "project\n")
    return repo


def commit(
    repo: Repo, message: str = "move", *args: str, warns: bool = False
) -> subprocess.CompletedProcess[str]:
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", message, *args)
    assert "Traceback" not in result.stderr
    if not warns:
        assert result.stderr == "", result.stderr  # hooks that work are silent
    return result


def queued() -> list[dict[str, Any]]:
    captured()  # what installed shims recorded is captured in the background: wait for it
    if not default_queue_path().exists():
        return []
    with EventQueue() as queue:
        return [entry.envelope for entry in queue.list_entries()]


def moves() -> list[tuple[str, str | None, str]]:
    return [
        (e["payload"]["wp_id"], e["payload"]["from_lane"], e["payload"]["to_lane"])
        for e in queued()
    ]


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "HEAD").stdout.strip()


def test_new_wp_file_is_a_move_from_nothing(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    assert moves() == [("WP01", None, "planned")]


def test_frontmatter_lane_edit_is_one_event_with_review_ref(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("in_progress"))
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked)
    events = queued()
    assert moves() == [("WP01", None, "doing"), ("WP01", "doing", "for_review")]
    review = events[1]
    assert review["payload"]["review_ref"] == head(hooked)
    assert review["payload"]["actor"] == "Ada Lovelace"
    assert review["payload"]["execution_mode"] == "direct_repo"
    assert review["causation_id"] == events[0]["event_id"]
    assert review["lamport_clock"] > events[0]["lamport_clock"]
    assert review["correlation_id"] != events[0]["correlation_id"]


def test_doing_alias_and_collapsed_moves(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("claimed"))
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("doing"))  # claimed -> in_progress: doing -> doing
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("blocked"))  # in_progress -> blocked: doing -> doing
    commit(hooked)
    assert moves() == [("WP01", None, "doing")]


def test_done_carries_evidence_from_frontmatter(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked)
    hooked.write(
        f"{F}/tasks/WP01-fix.md",
        wp("done", extra='reviewed_by: "Grace"\nreview_status: "approved"\n'),
    )
    commit(hooked)
    done = queued()[-1]["payload"]
    assert (done["from_lane"], done["to_lane"]) == ("for_review", "done")
    assert done["evidence"] == {
        "repos": [{"repo": "repo", "branch": "main", "commit": head(hooked)}],
        "review": {"reviewer": "Grace", "verdict": "approved"},
    }


def test_renamed_and_deleted_wp_files(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    hooked.write(f"{F}/tasks/WP02-other.md", wp("planned", wp_id="WP02"))
    commit(hooked)
    hooked.git("mv", f"{F}/tasks/WP01-fix.md", f"{F}/tasks/WP01-renamed.md")
    commit(hooked, "rename only")
    hooked.git("mv", f"{F}/tasks/WP01-renamed.md", f"{F}/tasks/WP01-again.md")
    hooked.write(f"{F}/tasks/WP01-again.md", wp("claimed"))
    hooked.git("rm", "-q", f"{F}/tasks/WP02-other.md")
    commit(hooked, "rename with a move, and a delete")
    assert moves() == [
        ("WP01", None, "planned"),
        ("WP02", None, "planned"),
        ("WP01", "planned", "doing"),
    ]


def test_legacy_lane_folder_move(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/planned/WP03-old.md", "---\nwork_package_id: WP03\n---\n")
    commit(hooked)
    (hooked.path / F / "tasks" / "for_review").mkdir()
    hooked.git("mv", f"{F}/tasks/planned/WP03-old.md", f"{F}/tasks/for_review/WP03-old.md")
    commit(hooked)
    assert moves() == [("WP03", None, "planned"), ("WP03", "planned", "for_review")]


def test_log_line_and_frontmatter_for_the_same_move_are_one_event(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    hooked.write(LOG, log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R10", None, "planned"))
    commit(hooked)
    hooked.write(LOG, log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R10", None, "planned")
                 + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R11", "planned", "claimed")
                 + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R12", "claimed", "in_progress"))  # fmt: skip
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("in_progress"))
    commit(hooked)
    events = queued()
    assert [e["event_id"] for e in events] == [
        "01JD3Q9Z6C8W4S0Y2X5V7T1R10",
        "01JD3Q9Z6C8W4S0Y2X5V7T1R11",
    ]
    assert moves() == [("WP01", None, "planned"), ("WP01", "planned", "doing")]
    assert events[1]["payload"]["actor"] == "claude"
    assert events[1]["payload"]["execution_mode"] == "worktree"  # the log line's own


def test_log_line_done_without_repos_gets_the_commit_as_repo(hooked: Repo) -> None:
    evidence = {"review": {"reviewer": "Grace", "verdict": "approved", "reference": "auto"}}
    hooked.write(
        LOG, log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R13", "for_review", "done", evidence=evidence)
    )
    commit(hooked)
    payload = queued()[0]["payload"]
    assert payload["evidence"]["review"] == evidence["review"]
    assert payload["evidence"]["repos"] == [
        {"repo": "repo", "branch": "main", "commit": head(hooked)}
    ]


def test_merge_commits_emit_nothing_of_their_own(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    hooked.git("checkout", "-q", "-b", "side")
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("claimed"))
    commit(hooked, "on side")
    hooked.git("checkout", "-q", "main")
    hooked.write("other.txt", "x\n")
    commit(hooked, "on main")
    before = queued()
    hooked.git("merge", "-q", "--no-ff", "--no-edit", "side")
    assert queued() == before
    assert moves() == [("WP01", None, "planned"), ("WP01", "planned", "doing")]


def test_unreadable_files_are_skipped_with_one_warning_and_the_rest_is_queued(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP07-broken.md", "---\nlane: [planned\n---\n")
    hooked.write(f"{F}/tasks/WP02-unknown.md", wp("cancelled", wp_id="WP02"))
    hooked.write(f"{F}/tasks/WP03-binary.md", b"---\nlane: planned\n---\n\x00\x01\x02")
    hooked.write(f"{F}/tasks/WP04-huge.md", wp("planned", wp_id="WP04") + "x" * (2 << 20))
    hooked.write(LOG, "{not json\n" + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R14", "planned", "nowhere")
                 + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R15", "planned", "claimed"))  # fmt: skip
    hooked.write(f"{F}/tasks/WP05-fine.md", wp("planned", wp_id="WP05"))
    result = commit(hooked, warns=True)
    warning = result.stderr.strip()
    assert warning.count("\n") == 0
    assert "6 files or lines could not be read as lane changes" in warning
    assert moves() == [("WP01", None, "doing"), ("WP05", None, "planned")]  # WP01: created
    log = (Path(os.environ["KITTY_HOOKS_HOME"]) / "kitty-hooks.log").read_text()
    assert "WP02-unknown.md: lane 'cancelled' is not a lane (did you mean canceled?)" in log
    assert f"{LOG}:1: not valid JSON" in log


def test_root_commit_and_commits_without_lane_changes(hooked: Repo) -> None:
    commit(hooked, "root: README only")
    assert not default_queue_path().exists()  # no lane change: the queue is not even opened
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    assert moves() == [("WP01", None, "planned")]


def test_fresh_repository_root_commit_with_a_move(repo: Repo) -> None:
    install_hooks(repo.path)
    repo.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(repo, "root")
    assert moves() == [("WP01", None, "planned")]


def test_identity_from_kittify_config(hooked: Repo) -> None:
    hooked.write(
        ".kittify/config.yaml",
        "project:\n  uuid: 63C8D621-4B64-48E2-86FC-56C667068F2F\n  slug: kitty-cli\n",
    )
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    (event,) = queued()
    assert (event["project_uuid"], event["project_slug"]) == (
        "63c8d621-4b64-48e2-86fc-56c667068f2f",
        "kitty-cli",
    )
    assert len(event["node_id"]) == 12


def test_derived_identity_and_event_ids_agree_across_clones(hooked: Repo, tmp_path: Path) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    (first,) = queued()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(hooked.path), str(clone)], check=True)
    other = Repo.__new__(Repo)
    other.path = clone
    result = other.kitty_hooks("scan", "HEAD", "--format", "json")
    assert json.loads(result.stdout)["duplicates"] == [first["event_id"]]
    assert first["project_slug"] == "repo"


def test_hook_run_twice_queues_once(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    again = hooked.kitty_hooks("hook", "post-commit")
    assert (again.returncode, again.stderr) == (0, "")
    assert len(queued()) == 1


def test_amend_keeps_the_event_and_repoints_its_review_ref(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked)
    old = head(hooked)
    hooked.write("notes.txt", "forgot this\n")
    commit(hooked, "move", "--amend")
    new = head(hooked)
    assert new != old
    (event,) = queued()
    assert event["payload"]["review_ref"] == new


def test_rebase_repoints_queued_events(hooked: Repo) -> None:
    commit(hooked, "base")
    hooked.git("checkout", "-q", "-b", "feature")
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked, "review please")
    hooked.git("checkout", "-q", "main")
    hooked.write("main.txt", "upstream work\n")
    commit(hooked, "upstream")
    hooked.git("checkout", "-q", "feature")
    hooked.git("rebase", "-q", "main")
    (event,) = queued()
    assert event["payload"]["review_ref"] == head(hooked)


def test_cherry_pick_is_the_same_move(hooked: Repo) -> None:
    commit(hooked, "base")
    hooked.git("checkout", "-q", "-b", "feature")
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked, "plan")
    picked = head(hooked)
    hooked.git("checkout", "-q", "main")
    hooked.git("cherry-pick", picked)
    assert len(queued()) == 1


def test_scan_backfills_commits_made_with_hooks_off(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    for lane in ("claimed", "for_review", "done"):
        hooked.write(f"{F}/tasks/WP01-fix.md", wp(lane, extra='reviewed_by: "Grace"\n'))
        hooked.git("add", "-A")
        subprocess.run(["git", "commit", "-q", "-m", lane], cwd=hooked.path, check=True,
                       env={**os.environ, "KITTY_HOOKS": "0"})  # fmt: skip
    assert len(queued()) == 1
    result = hooked.kitty_hooks("scan", "HEAD")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "scanned 4 commits: 3 lane changes queued, 1 already known, 0 within one sync lane (not sent), 0 skipped"
    )
    assert moves() == [
        ("WP01", None, "planned"),
        ("WP01", "planned", "doing"),
        ("WP01", "doing", "for_review"),
        ("WP01", "for_review", "done"),
    ]
    again = hooked.kitty_hooks("scan", "HEAD~2..HEAD", "--format", "json")
    assert json.loads(again.stdout)["queued"] == []


def test_linked_worktree_commits_are_worktree_mode(hooked: Repo, tmp_path: Path) -> None:
    commit(hooked, "base")
    worktree = tmp_path / "wt"
    hooked.git("worktree", "add", "-q", "-b", "wp01", str(worktree))
    other = Repo.__new__(Repo)
    other.path = worktree
    other.write(f"{F}/tasks/WP01-fix.md", wp("claimed"))
    commit(other)
    (event,) = queued()
    assert event["payload"]["execution_mode"] == "worktree"


def test_kitty_hooks_0_makes_the_hook_a_no_op(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    hooked.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=hooked.path, check=True,
                   env={**os.environ, "KITTY_HOOKS": "0"})  # fmt: skip
    assert queued() == []


def test_queued_events_are_valid_and_listed(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    hooked.write(f"{F}/tasks/WP02-x.md", wp("done", wp_id="WP02", extra='reviewed_by: "Grace"\n'))
    commit(hooked)
    check = hooked.kitty_hooks("diagnose", "--queue")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 events: all valid" in check.stdout
    listing = json.loads(hooked.kitty_hooks("queue", "list", "--format", "json").stdout)
    assert [entry["status"] for entry in listing] == ["pending", "pending"]
    assert {entry["event_id"] for entry in listing} == {e["event_id"] for e in queued()}
    text = hooked.kitty_hooks("queue", "list").stdout
    assert "039-cli-2x-readiness/WP01 new -> for_review" in text
    shown = hooked.kitty_hooks("queue", "show", listing[0]["event_id"], "--format", "json")
    assert json.loads(shown.stdout)["envelope"]["event_id"] == listing[0]["event_id"]
    missing = hooked.kitty_hooks("queue", "show", "01JD3Q9Z6C8W4S0Y2X5V7T1R99")
    assert (
        missing.returncode == 1
        and "no event 01JD3Q9Z6C8W4S0Y2X5V7T1R99 in the queue" in missing.stderr
    )


def test_log_line_done_evidence_without_review_gets_one_so_the_server_can_take_it(
    hooked: Repo,
) -> None:
    repos = [{"repo": "kitty/cli", "branch": "main", "commit": "3f2a9c1"}]
    hooked.write(
        LOG, log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R16", "for_review", "done", evidence={"repos": repos})
    )
    commit(hooked)
    evidence = queued()[0]["payload"]["evidence"]
    assert evidence == {
        "repos": repos,
        "review": {"reviewer": "Ada Lovelace", "verdict": "unspecified"},
    }
    assert hooked.kitty_hooks("diagnose", "--queue").returncode == 0


def test_repairing_broken_frontmatter_is_not_a_new_wp(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", "---\ntitle: [broken\nlane: planned\n---\n")
    commit(hooked, warns=True)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked, warns=True)  # the old side is the broken one
    assert moves() == [("WP01", None, "planned")]


def test_a_wp_file_with_no_lane_is_not_read_for_one_nor_is_the_side_before_it(
    hooked: Repo,
) -> None:
    """3.x WP files keep no lane: capture reads them for nothing, and a migration that drops
    `lane:` from thousands of them moves nothing. Their other faults are diagnose's to say."""
    hooked.write(f"{F}/tasks/WP01-fix.md", "---\nlane: [planned\n---\n")
    hooked.write(f"{F}/tasks/WP02-lane-less.md", "---\nwork_package_id: [WP02\n---\n# 3.x\n")
    result = commit(hooked, warns=True)
    assert "1 file or line could not be read" in result.stderr  # WP01's, with a lane in it
    hooked.write(f"{F}/tasks/WP01-fix.md", wp(None))  # the lane dropped, the broken side before
    commit(hooked)  # silent: no new side gives a lane, so the old side is not read
    assert moves() == []


def test_a_change_whose_time_has_no_ulid_is_skipped_not_fatal() -> None:
    from kitty_hooks.capture import commits as capture
    from kitty_hooks.gitrepo.history import CommitRecord
    from kitty_hooks.model.events import Identity, LaneChange

    record = CommitRecord("a" * 40, (), "Ada", "ada@example.com", "2026-11-20T10:00:00+00:00", ())
    ancient = LaneChange("039-x", "WP01", None, "planned", "ada", "1960-01-01T00:00:00+00:00")
    fine = LaneChange("039-x", "WP02", None, "planned", "ada", "2026-11-20T10:00:00+00:00")
    result = capture.CaptureResult()
    identity = Identity("63c8d621-4b64-48e2-86fc-56c667068f2f", None, "n")
    built = capture._envelopes(record, [ancient, fine], identity, None, result)
    assert [e["aggregate_id"] for e in built] == ["WP02"]
    assert [s.path for s in result.skipped] == ["aaaaaaaaaaaa WP01"]


def test_a_locked_queue_spools_and_the_next_commit_takes_the_spool_in_first(hooked: Repo) -> None:
    import sqlite3

    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    holder = sqlite3.connect(default_queue_path(), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writes for longer than a hook waits
    try:
        hooked.write(f"{F}/tasks/WP01-fix.md", wp("claimed"))
        result = commit(hooked, warns=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.stderr.count("\n") == 1
    assert "the event queue is busy: 1 lane change kept in the spool" in result.stderr
    assert moves() == [("WP01", None, "planned")]
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked)
    assert moves() == [
        ("WP01", None, "planned"),
        ("WP01", "planned", "doing"),
        ("WP01", "doing", "for_review"),
    ]


def test_an_amend_that_changes_the_move_drops_the_unsent_old_event(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("planned"))
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked, "to review")
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("done", extra='reviewed_by: "Grace"\n'))
    commit(hooked, "straight to done", "--amend")
    assert moves() == [("WP01", None, "planned"), ("WP01", "planned", "done")]


def test_scan_outside_a_repository_says_so_in_one_line(tmp_path: Path) -> None:
    outside = Repo.__new__(Repo)
    outside.path = tmp_path
    done = outside.kitty_hooks("scan", "HEAD")
    assert done.returncode == 2
    assert done.stderr.strip() == f"kitty-hooks: {tmp_path} is not inside a git work tree"


def test_a_review_result_is_evidence_for_an_approval_not_for_a_cancel(hooked: Repo) -> None:
    review = {"reviewer": "renata", "verdict": "approved", "reference": "review-cycle://1"}
    hooked.write(
        LOG,
        log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R30", "in_review", "approved", review_result=review)
        + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R31", "in_review", "canceled", review_result=review,
                   wp_id="WP02"),
    )  # fmt: skip
    commit(hooked)
    approved, canceled = (e["payload"] for e in queued())
    assert approved["to_lane"] == canceled["to_lane"] == "done"
    assert approved["evidence"]["review"]["reviewer"] == "renata"
    assert approved["evidence"]["repos"][0]["commit"] == head(hooked)
    assert canceled["evidence"] is None


def test_a_frontmatter_move_to_approved_carries_evidence_as_done_does(hooked: Repo) -> None:
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("for_review"))
    commit(hooked)
    hooked.write(f"{F}/tasks/WP01-fix.md", wp("approved", extra='reviewed_by: "Grace"\n'))
    commit(hooked)
    approval = queued()[-1]["payload"]
    assert (approval["from_lane"], approval["to_lane"]) == ("for_review", "done")
    assert approval["evidence"]["review"] == {"reviewer": "Grace", "verdict": "unspecified"}


def _migrated(line: str) -> str:
    """A 2.x line as a 3.x upgrade rewrites it: mission_slug for feature_slug, keys reordered."""
    event = json.loads(line)
    event["mission_slug"] = event.pop("feature_slug")
    event["mission_id"] = "01M8MA65KYAQGWAEHVHRBHX7NE"
    return json.dumps(dict(reversed(list(event.items())))) + "\n"


def test_a_log_rewritten_wholesale_moves_only_what_is_new(hooked: Repo) -> None:
    lines = [
        log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R20", None, "planned"),
        log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R21", "planned", "claimed"),
        log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R22", "claimed", "for_review"),
    ]
    hooked.write(LOG, "".join(lines))
    commit(hooked, "2.x moves")
    assert len(queued()) == 3
    # The upgrade re-keys and re-serialises every line and, in the same commit, one new move.
    new = _migrated(log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R23", "for_review", "done", evidence=EVIDENCE))
    hooked.write(LOG, "".join(map(_migrated, lines)) + new)
    commit(hooked, "upgrade to 3.x")
    events = queued()
    assert [e["event_id"] for e in events][3:] == ["01JD3Q9Z6C8W4S0Y2X5V7T1R23"]
    # A scan of the upgrade alone, into an empty queue, finds that one move and no other.
    default_queue_path().unlink()
    result = hooked.kitty_hooks("scan", "HEAD~1..HEAD", "--format", "json")
    assert json.loads(result.stdout)["queued"] == ["01JD3Q9Z6C8W4S0Y2X5V7T1R23"]
    # And a scan of the whole history queues each move once, none at the upgrade.
    default_queue_path().unlink()
    result = hooked.kitty_hooks("scan", "HEAD", "--format", "json")
    report = json.loads(result.stdout)
    assert len(report["queued"]) == 4 and report["duplicates"] == []


def test_a_log_rewritten_wholesale_still_reports_its_bad_new_lines(hooked: Repo) -> None:
    first = log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R24", None, "planned")
    hooked.write(LOG, first)
    commit(hooked)
    hooked.write(LOG, _migrated(first) + "{not json\n")
    result = commit(hooked, warns=True)
    assert "could not be read" in result.stderr
    assert len(queued()) == 1


def test_scan_finds_what_the_hook_found_commit_by_commit(hooked: Repo) -> None:
    """The scan remembers each log from commit to commit; the hook reads one commit alone."""
    text = ""
    lanes = ["planned", "claimed", "in_progress", "for_review", "in_progress", "for_review"]
    for number, (from_lane, to_lane) in enumerate(zip([None, *lanes], lanes, strict=False)):
        text += log_line(f"01JD3Q9Z6C8W4S0Y2X5V7T1R{30 + number}", from_lane, to_lane)
        hooked.write(LOG, text)
        if number == 3:  # a side branch from here, merged back later
            hooked.git("checkout", "-q", "-b", "side")
            hooked.write(LOG, text + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R40", to_lane, "blocked"))
            commit(hooked, "on side")
            hooked.git("checkout", "-q", "main")
            hooked.write(LOG, text)
        commit(hooked, f"to {to_lane}")
    # Concluded by `git commit`, so post-commit sees the merge and settles it as scan does.
    hooked.git("merge", "-q", "--no-commit", "-X", "theirs", "side")
    commit(hooked, "merge side")
    by_hook = sorted(e["event_id"] for e in queued())
    default_queue_path().unlink()
    result = hooked.kitty_hooks("scan", "HEAD", "--format", "json")
    assert sorted(json.loads(result.stdout)["queued"]) == by_hook


def test_a_bad_line_is_named_by_its_line_number_whether_appended_or_rewritten(
    hooked: Repo,
) -> None:
    lines = [log_line(f"01JD3Q9Z6C8W4S0Y2X5V7T1R5{n}", None, "planned") for n in range(2)]
    hooked.write(LOG, "".join(lines))
    commit(hooked)
    hooked.write(LOG, "".join(lines) + "\n" + "[1]\n")  # appended: a blank line, then line 4
    commit(hooked, warns=True)
    hooked.write(LOG, "".join(map(_migrated, lines)) + "{oops\n")  # rewritten: now line 3
    commit(hooked, warns=True)
    default_queue_path().unlink()
    result = hooked.kitty_hooks("scan", "HEAD", "--format", "json")
    paths = [s["path"].split(" ", 1)[1] for s in json.loads(result.stdout)["skipped"]]
    assert paths == [f"{LOG}:4", f"{LOG}:3"]
