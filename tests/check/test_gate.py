"""The pre-commit gate as a plain git hook (`kitty-hooks hook pre-commit`), driven by git commit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitutil import PROJECT_ROOT, Repo

EXAMPLES = Path(__file__).parent.parent / "examples"
FEATURE = "kitty-specs/039-cli-2x-readiness"
LOG = f"{FEATURE}/status.events.jsonl"
LINES = (EXAMPLES / "pass/log-every-lane/staged" / LOG).read_text().splitlines(keepends=True)
BAD_LINE = LINES[1].replace('"to_lane": "claimed"', '"to_lane": "shipped"')


@pytest.fixture
def gated(repo: Repo) -> Repo:
    hook = repo.path / ".git" / "hooks" / "pre-commit"
    hook.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH='{PROJECT_ROOT}' exec '{sys.executable}' -m kitty_hooks hook pre-commit\n"
    )
    hook.chmod(0o755)
    repo.write("README.md", "project\n")
    repo.write(LOG, "".join(LINES[:2]))
    repo.commit_all("start")
    return repo


def _commit(repo: Repo, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    result = subprocess.run(
        ["git", "commit", "-q", "-m", "move", *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return result.returncode, result.stderr + result.stdout, head


def test_commit_appending_a_valid_line_goes_through(gated: Repo) -> None:
    gated.write(LOG, "".join(LINES[:3]))
    gated.git("add", LOG)
    code, output, head = _commit(gated)
    assert code == 0, output
    assert output == ""
    assert gated.git("rev-parse", "HEAD").stdout.strip() != head


def test_commit_appending_a_malformed_line_is_blocked_with_the_error_line(gated: Repo) -> None:
    gated.write(LOG, "".join(LINES[:2]) + BAD_LINE)
    gated.git("add", LOG)
    code, output, head = _commit(gated)
    assert code != 0
    assert (
        f'{LOG}:3: event 01JD3Q9Z6C8W4S0Y2X5V7T1R11: $.to_lane: unknown value (got "shipped"'
        in output
    )
    assert "commit blocked" in output
    assert "Traceback" not in output
    assert gated.git("rev-parse", "HEAD").stdout.strip() == head


def test_commit_a_checks_the_temporary_index(gated: Repo) -> None:
    # `git commit -a` stages into a temporary index named only by GIT_INDEX_FILE.
    gated.write(LOG, "".join(LINES[:2]) + BAD_LINE)
    code, output, _ = _commit(gated, "-a")
    assert code != 0
    assert f"{LOG}:3: event" in output


def test_the_staged_version_is_checked_not_the_work_tree(gated: Repo) -> None:
    gated.write(LOG, "".join(LINES[:3]))
    gated.git("add", LOG)
    gated.write(LOG, "".join(LINES[:3]) + BAD_LINE)  # unstaged, so not part of the commit
    code, output, _ = _commit(gated)
    assert code == 0, output


def test_modifying_an_existing_line_is_blocked(gated: Repo) -> None:
    gated.write(LOG, LINES[0] + LINES[1].replace('"actor": "ada"', '"actor": "mallory"'))
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code != 0
    assert f"{LOG}:2: status.events.jsonl is append-only: line 2 was modified" in output


def test_truncating_the_log_is_blocked(gated: Repo) -> None:
    gated.write(LOG, "")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code != 0
    assert "append-only: line 1 was deleted" in output


def test_deleting_a_whole_feature_log_is_allowed(gated: Repo) -> None:
    gated.git("rm", "-q", LOG)
    code, output, _ = _commit(gated)
    assert code == 0, output


def test_a_new_log_is_checked_whole(gated: Repo) -> None:
    gated.write("kitty-specs/040-new/status.events.jsonl", LINES[0] + BAD_LINE)
    gated.git("add", "-A")
    code, output, _ = _commit(gated)
    assert code != 0
    assert "kitty-specs/040-new/status.events.jsonl:2: event" in output


def test_commits_without_event_files_are_silent(gated: Repo) -> None:
    gated.write("README.md", "changed\n")
    gated.write(f"{FEATURE}/meta.json", "{not json")
    gated.git("add", "-A")
    code, output, _ = _commit(gated)
    assert (code, output) == (0, "")


def test_wp_frontmatter_with_a_mistyped_lane_is_blocked(gated: Repo) -> None:
    gated.write(f"{FEATURE}/tasks/WP07-x.md", "---\nwork_package_id: WP07\nlane: cancelled\n---\n")
    gated.git("add", "-A")
    code, output, _ = _commit(gated)
    assert code != 0
    assert f'{FEATURE}/tasks/WP07-x.md:3: lane: unknown lane (got "cancelled"' in output
    assert "did you mean canceled?" in output


def test_wp_frontmatter_with_a_lane_no_spec_kitty_writes_only_warns(gated: Repo) -> None:
    gated.write(f"{FEATURE}/tasks/WP07-x.md", "---\nwork_package_id: WP07\nlane: shipped\n---\n")
    gated.git("add", "-A")
    code, output, _ = _commit(gated)
    assert code == 0, output
    assert f'{FEATURE}/tasks/WP07-x.md:3: warning: lane: "shipped" is not a lane' in output


@pytest.mark.parametrize("frontmatter", ["lane: lane-a\n", "lane: a\n", ""])
def test_3x_wp_files_pass_quietly(gated: Repo, frontmatter: str) -> None:
    gated.write(f"{FEATURE}/tasks/WP07-x.md", f"---\nwork_package_id: WP07\n{frontmatter}---\n")
    gated.git("add", "-A")
    assert _commit(gated)[:2] == (0, "")


def test_kitty_hooks_0_skips_the_gate(gated: Repo) -> None:
    gated.write(LOG, "".join(LINES[:2]) + BAD_LINE)
    gated.git("add", LOG)
    code, output, _ = _commit(gated, env={"KITTY_HOOKS": "0"})
    assert code == 0, output


def test_the_gate_works_on_the_root_commit(repo: Repo) -> None:
    repo.write(LOG, LINES[0] + BAD_LINE)
    repo.git("add", "-A")
    result = repo.kitty_hooks("hook", "pre-commit")
    assert result.returncode == 1
    assert f"{LOG}:2: event" in result.stderr


def test_the_gate_outside_a_repository_says_so_in_one_line(tmp_path: Path) -> None:
    outside = Repo.__new__(Repo)
    outside.path = tmp_path
    result = outside.kitty_hooks("hook", "pre-commit")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "is not inside a git work tree" in result.stderr


def test_spec_kitty_s_own_merge_of_a_conflicted_log_goes_through(gated: Repo) -> None:
    """spec-kitty merges a conflicted log itself: the union of both sides sorted by time, with
    duplicates and lines that are no events dropped. HEAD's events move, none is lost."""
    main = gated.git("rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    gated.git("checkout", "-q", "-b", "topic")
    gated.write(LOG, "".join(LINES[:2]) + LINES[3])
    gated.commit_all("topic moves")
    gated.git("checkout", "-q", main)
    gated.write(LOG, "".join(LINES[:2]) + LINES[2] + "{not an event\n")
    gated.commit_all("main moves, and a stray line")
    gated.git("merge", "-q", "--no-commit", "topic", check=False)  # conflicts in the log
    union = [LINES[0], LINES[3], LINES[1], LINES[2]]  # reordered, the stray line dropped
    gated.write(LOG, "".join(union))
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 0, output


def test_a_line_of_head_changed_inside_a_reordered_log_is_still_caught(gated: Repo) -> None:
    gated.write(LOG, "".join(LINES[:3]))
    gated.commit_all("three")
    changed = LINES[0].replace('"actor": "', '"actor": "x')
    gated.write(LOG, LINES[2] + changed + LINES[1])
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    assert (
        f"{LOG}:2: status.events.jsonl is append-only: line 2 re-uses the event id of line 1 "
        "of HEAD with other content"
    ) in output


def test_spec_kitty_s_state_rebuild_of_a_log_goes_through(gated: Repo) -> None:
    """3.x's rebuild_event_log writes every line again: mission_slug added, keys sorted, a
    duplicate dropped, corrective events appended. No event of HEAD is lost or changed."""
    import json

    gated.write(LOG, "".join(LINES[:3]) + LINES[1])  # a duplicated line, as old logs have
    gated.commit_all("before the upgrade")
    rebuilt = []
    for line in LINES[:3]:
        event = json.loads(line)
        event["mission_slug"] = event.pop("feature_slug")
        event["work_package_id"] = event["wp_id"]
        rebuilt.append(json.dumps(event, sort_keys=True) + "\n")
    gated.write(LOG, "".join(rebuilt) + LINES[3])
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 0, output


def test_a_rebuilt_log_that_changes_what_an_event_said_is_blocked(gated: Repo) -> None:
    import json

    event = json.loads(LINES[1])
    event["mission_slug"] = event.pop("feature_slug")
    event["to_lane"] = "done" if event["to_lane"] != "done" else "planned"
    event["evidence"] = {"review": {"reviewer": "x", "verdict": "ok"}}
    gated.write(LOG, LINES[0] + json.dumps(event, sort_keys=True) + "\n")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    assert f"{LOG}:2: status.events.jsonl is append-only: line 2 was modified" in output


def _event(line: str) -> dict:
    import json

    return json.loads(line)


def test_a_second_line_under_an_event_id_of_head_is_blocked_even_as_an_append(gated: Repo) -> None:
    """spec-kitty's reader keeps the first line of an event id: a later one with other content
    would change the move for nobody to see, or hide it in a second commit."""
    import json

    other = {**_event(LINES[1]), "to_lane": "blocked"}
    gated.write(LOG, "".join(LINES[:2]) + json.dumps(other) + "\n")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    assert "line 3 re-uses the event id of line 2 of HEAD with other content" in output


def test_a_line_of_head_that_changes_its_kind_is_blocked(gated: Repo) -> None:
    import json

    hidden = {**_event(LINES[1]), "kind": "annotation"}
    gated.write(LOG, LINES[0] + json.dumps(hidden, sort_keys=True) + "\n")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    assert "line 2 was modified" in output


def test_spec_kitty_s_envelope_migration_goes_through(gated: Repo) -> None:
    """3.x's lifecycle-envelope migration rewrites an envelope's bookkeeping around the same
    event_type and payload (schema_version, aggregate_type...)."""
    import json

    envelope = {
        "event_id": "01M8MA6B52QPNZPE8H4VTYF8RN", "event_type": "TasksStarted",
        "aggregate_id": "039-cli-2x-readiness", "aggregate_type": "Mission",
        "payload": {"mission_slug": "039-cli-2x-readiness", "actor": "spec-kitty"},
        "project_slug": None, "project_uuid": None, "schema_version": "5.0.0",
        "timestamp": "2026-11-29T18:48:32.162635+00:00",
    }  # fmt: skip
    gated.write(LOG, "".join(LINES[:2]) + json.dumps(envelope) + "\n")
    gated.commit_all("an envelope")
    migrated = {k: v for k, v in envelope.items() if k != "aggregate_type"}
    migrated |= {"schema_version": "3.0.0", "node_id": "b805cd5cee74", "lamport_clock": 7}
    gated.write(LOG, "".join(LINES[:2]) + json.dumps(migrated, sort_keys=True) + "\n")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 0, output
    changed = {**migrated, "payload": {**envelope["payload"], "actor": "mallory"}}
    gated.write(LOG, "".join(LINES[:2]) + json.dumps(changed, sort_keys=True) + "\n")
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    assert "line 3 was modified" in output


# --- A restore is not a rewrite (issue 18) --------------------------------------------------


def _new_wp_lines(first: int, count: int) -> str:
    """Valid lines, each creating its own WP under its own event id."""
    import json

    lines = []
    for number in range(first, first + count):
        event = {**_event(LINES[0]), "wp_id": f"WP{number:02d}"}
        event["event_id"] = f"01JD3Q9Z6C8W4S0Y2X5V7T{number:04d}"
        lines.append(json.dumps(event) + "\n")
    return "".join(lines)


@pytest.fixture
def on_a_lane(gated: Repo) -> Repo:
    """spec-kitty's layout: a feature branch, a lane branch from it, the log grown apart on both
    (the lane's lines 3..10 are not on the feature branch). The lane branch is checked out."""
    gated.git("checkout", "-q", "-b", "feature")
    gated.write(LOG, "".join(LINES[:2]) + _new_wp_lines(20, 2))
    gated.commit_all("feature moves")
    gated.git("checkout", "-q", "-b", "lane", "HEAD~1")
    gated.write(LOG, "".join(LINES[:2]) + _new_wp_lines(40, 8))
    gated.commit_all("lane moves")
    return gated


def test_restoring_the_log_of_the_feature_branch_on_a_lane_goes_through(on_a_lane: Repo) -> None:
    """What spec-kitty tells the user on a lane branch, then a commit."""
    on_a_lane.git("restore", "--source", "feature", "--staged", "--worktree", "--", "kitty-specs/")
    code, output, head = _commit(on_a_lane)
    assert code == 0, output
    assert output == ""
    assert on_a_lane.git("rev-parse", "HEAD~1").stdout.strip() == head


def test_restoring_the_log_of_the_merge_base_goes_through(on_a_lane: Repo) -> None:
    base = on_a_lane.git("merge-base", "lane", "feature").stdout.strip()
    on_a_lane.git("restore", "--source", base, "--staged", "--worktree", "--", "kitty-specs/")
    code, output, _ = _commit(on_a_lane)
    assert code == 0, output


def test_a_restored_log_with_new_moves_after_it_goes_through_and_they_are_checked(
    on_a_lane: Repo,
) -> None:
    on_a_lane.git("restore", "--source", "feature", "--staged", "--worktree", "--", "kitty-specs/")
    restored = (on_a_lane.path / LOG).read_text()
    on_a_lane.write(LOG, restored + BAD_LINE.replace("R11", "R99"))
    on_a_lane.git("add", LOG)
    code, output, _ = _commit(on_a_lane)
    assert code == 1
    assert (
        f'{LOG}:5: event 01JD3Q9Z6C8W4S0Y2X5V7T1R99: $.to_lane: unknown value (got "shipped"'
        in (output)
    )
    assert "append-only" not in output  # the restore itself is fine
    on_a_lane.write(LOG, restored + _new_wp_lines(60, 1))
    on_a_lane.git("add", LOG)
    code, output, _ = _commit(on_a_lane)
    assert code == 0, output


def test_an_edited_line_in_a_restored_log_still_blocks(on_a_lane: Repo) -> None:
    on_a_lane.git("restore", "--source", "feature", "--staged", "--worktree", "--", "kitty-specs/")
    restored = (on_a_lane.path / LOG).read_text().splitlines(keepends=True)
    restored[1] = restored[1].replace('"actor": "ada"', '"actor": "mallory"')
    on_a_lane.write(LOG, "".join(restored))
    on_a_lane.git("add", LOG)
    code, output, _ = _commit(on_a_lane)
    assert code == 1
    assert f"{LOG}:2: status.events.jsonl is append-only: line 2 was modified" in output


def test_a_line_deleted_from_the_lane_s_own_lines_still_blocks(on_a_lane: Repo) -> None:
    """The log at the merge base, then HEAD's lines but one: HEAD's events kept, one dropped.
    Not a content the log has anywhere, nor one followed by new events only."""
    lines = (on_a_lane.path / LOG).read_text().splitlines(keepends=True)
    on_a_lane.write(LOG, "".join(lines[:5] + lines[6:]))
    on_a_lane.git("add", LOG)
    code, output, _ = _commit(on_a_lane)
    assert code == 1
    assert f"{LOG}:6: status.events.jsonl is append-only: line 6 was deleted" in output


def test_a_blocked_deletion_is_counted_as_deleted_lines_not_invalid_events(on_a_lane: Repo) -> None:
    lines = (on_a_lane.path / LOG).read_text().splitlines(keepends=True)
    on_a_lane.write(LOG, "".join(lines[:2] + lines[3:6] + [lines[6].replace("ada", "eve")]))
    on_a_lane.git("add", LOG)
    code, output, _ = _commit(on_a_lane)
    assert code == 1
    summary, hint = output.strip().splitlines()[-2:]
    assert summary == (
        "checked 1 file, 1 event: 4 lines of HEAD deleted, 1 line of HEAD changed, 5 problems"
    )
    assert "invalid event" not in output
    assert "fix" not in hint
    assert hint.startswith(
        "kitty-hooks: commit blocked: put back the lines of HEAD a status log lost"
    )


def test_a_blocked_commit_with_bad_lines_and_lost_ones_names_both(gated: Repo) -> None:
    gated.write(LOG, BAD_LINE)
    gated.git("add", LOG)
    code, output, _ = _commit(gated)
    assert code == 1
    summary, hint = output.strip().splitlines()[-2:]
    assert summary == (
        "checked 1 file, 1 event: 1 invalid event, 2 lines of HEAD changed, 3 problems"
    )
    assert hint.startswith(
        "kitty-hooks: commit blocked: fix what the lines above name and put back the lines of HEAD"
    )


def test_a_range_under_the_framework_does_not_vouch_for_itself(on_a_lane: Repo) -> None:
    """`pre-commit run --from-ref A --to-ref B`: the range's own commits have the content
    checked; only the others may vouch for it."""
    from kitty_hooks.check.gate import diagnose_staged

    lines = (on_a_lane.path / LOG).read_text().splitlines(keepends=True)
    on_a_lane.write(LOG, "".join(lines[:5] + lines[6:]))
    on_a_lane.git("commit", "-q", "--no-verify", "-am", "drop a line")
    report = diagnose_staged(on_a_lane.path, base="HEAD~1", target="HEAD")
    assert report.head_lines_deleted == 1
    on_a_lane.git("restore", "--source", "feature", "--staged", "--worktree", "--", "kitty-specs/")
    on_a_lane.git("commit", "-q", "--no-verify", "-m", "restore")
    report = diagnose_staged(on_a_lane.path, base="HEAD~2", target="HEAD")
    assert report.problems == []
