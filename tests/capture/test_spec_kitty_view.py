"""The board the dashboard draws from our events is the board spec-kitty shows.

Each history below is made twice: live, commit by commit through the installed hooks, and by
`kitty-hooks scan` over the same commits afterwards. Either way the queued events folded per WP
in Lamport order (tests/board.py's dashboard) equal spec-kitty's own fold of the repository at
HEAD (tests/board.py's reducer, written from spec-kitty's rules, not from capture's code), each
move carries its own time, and nothing arrives twice.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.queue.database import default_queue_path
from tests import board
from tests.gitutil import KITTY_HOOKS, Repo, captured

FEATURE = "039-cli-2x-readiness"
F = f"kitty-specs/{FEATURE}"
LOG = f"{F}/status.events.jsonl"


def line(
    event_id: str, wp_id: str, from_lane: str | None, to_lane: str, at: str, **extra: Any
) -> str:
    fields = {
        "actor": "claude",
        "at": at,
        "event_id": event_id,
        "evidence": None,
        "execution_mode": "worktree",
        "feature_slug": FEATURE,
        "force": from_lane is None or from_lane == to_lane,
        "from_lane": from_lane,
        "reason": "bootstrap" if from_lane is None or from_lane == to_lane else None,
        "review_ref": None,
        "to_lane": to_lane,
        "wp_id": wp_id,
        **extra,
    }
    return json.dumps(fields, sort_keys=True) + "\n"


def wp_file(wp_id: str, lane: str | None) -> str:
    lane_line = f"lane: {lane}\n" if lane else ""
    return f"---\nwork_package_id: {wp_id}\ntitle: {wp_id}\n{lane_line}---\n# {wp_id}\n"


def at(day: int, hour: int = 10) -> str:
    return f"2026-{(day - 1) // 28 + 1:02d}-{(day - 1) % 28 + 1:02d}T{hour:02d}:00:00+00:00"


def ulid(n: int) -> str:
    return f"01JD3Q9Z6C8W4S0Y2X5V7T{n:04d}"


Step = Callable[[Repo], None]


def append(repo: Repo, path: str, text: str) -> None:
    target = repo.path / path
    old = target.read_text() if target.exists() else ""
    repo.write(path, old + text)


def commit(repo: Repo, message: str) -> None:
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", message)


def replay(repo: Repo, mode: str, steps: list[Step]) -> list[dict[str, Any]]:
    """Make the history; return what was queued, live or by a scan of the whole history."""
    repo.write("README.md", "x\n")
    commit(repo, "root")
    if mode == "live":
        subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    for step in steps:
        step(repo)
    if mode == "scan":
        scanned = repo.kitty_hooks("scan", "HEAD")
        assert scanned.returncode == 0, scanned.stdout + scanned.stderr
    captured()
    return board.queued_envelopes()


def assert_board_is_spec_kittys(repo: Repo, envelopes: list[dict[str, Any]]) -> None:
    expected = board.spec_kitty_board(repo.path)
    assert board.dashboard(envelopes) == expected
    assert board.sent_twice(envelopes) == []


MODES = pytest.mark.parametrize("mode", ["live", "scan"])


# --- 1. backdated lines: a data migration restates old moves under new ids --------------------


def _worked_to_done(repo: Repo) -> None:
    append(repo, LOG, line(ulid(1), "WP01", "planned", "planned", at(1)))
    commit(repo, "plan WP01")
    for n, (old, new) in enumerate(
        [("planned", "claimed"), ("claimed", "in_progress"), ("in_progress", "for_review"),
         ("for_review", "done")], start=2,
    ):  # fmt: skip
        append(repo, LOG, line(ulid(n), "WP01", old, new, at(n)))
        commit(repo, f"WP01 {new}")


def _migration(repo: Repo) -> None:
    # "migrate runtime state to the event log": new ids, old times.
    append(repo, LOG, line(ulid(50), "WP01", "planned", "claimed", at(2)))
    append(repo, LOG, line(ulid(51), "WP01", "claimed", "in_progress", at(3)))
    commit(repo, "migrate runtime state to the event log")


@MODES
def test_a_migration_restating_old_moves_under_new_ids_moves_nothing(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_worked_to_done, _migration])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP01")] == "done"
    assert ulid(50) not in {e["event_id"] for e in envelopes}


def test_scan_counts_the_restated_lines_and_sends_none(repo: Repo) -> None:
    replay(repo, "none", [_worked_to_done, _migration])
    scanned = repo.kitty_hooks("scan", "HEAD")
    assert "2 restating history (not sent)" in scanned.stdout, scanned.stdout


# --- 2. stale frontmatter beside a log ----------------------------------------------------------


def _stale_frontmatter(repo: Repo) -> None:
    repo.write(f"{F}/tasks/WP01-fix.md", wp_file("WP01", "planned"))
    commit(repo, "add WP01's prompt file (its lane: a leftover)")
    repo.write(f"{F}/tasks/WP01-fix.md", wp_file("WP01", "for_review") + "edited\n")
    commit(repo, "edit WP01's prompt")


@MODES
def test_a_wp_files_lane_beside_its_log_is_a_view_not_a_move(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_worked_to_done, _stale_frontmatter])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP01")] == "done"
    assert all(e["payload"]["to_lane"] != "planned" or e["payload"]["from_lane"] is None
               for e in envelopes)  # fmt: skip


# --- 2b. spec-kitty 2.1.3: implement edits the frontmatter, move-task bootstraps the log -------


def _two_one_three_claim(repo: Repo) -> None:
    repo.write(f"{F}/tasks/WP02-api.md", wp_file("WP02", "planned"))
    commit(repo, "tasks: WP02")
    repo.write(f"{F}/tasks/WP02-api.md", wp_file("WP02", "doing"))
    commit(repo, "implement WP02")  # no log line
    append(repo, LOG, line(ulid(60), "WP02", "planned", "in_progress", at(30), force=True,
                           reason="bootstrap from frontmatter lane"))  # fmt: skip
    append(repo, LOG, line(ulid(61), "WP02", "in_progress", "for_review", at(30, 11)))
    repo.write(f"{F}/tasks/WP02-api.md", wp_file("WP02", "for_review"))
    commit(repo, "move-task WP02 for_review")


@MODES
def test_a_claim_made_in_frontmatter_then_bootstrapped_into_the_log_arrives_once(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_two_one_three_claim])
    assert_board_is_spec_kittys(repo, envelopes)
    wp02 = [(e["payload"]["from_lane"], e["payload"]["to_lane"]) for e in envelopes]
    assert wp02 == [(None, "planned"), ("planned", "doing"), ("doing", "for_review")]


# --- 3. creation: a bootstrap line is the WP's first appearance ---------------------------------


def _bootstrapped(repo: Repo) -> None:
    append(repo, LOG, line(ulid(70), "WP03", "planned", "planned", at(40)))
    append(repo, LOG, line(ulid(71), "WP04", "genesis", "planned", at(40)))
    append(repo, LOG, line(ulid(72), "WP05", "planned", "planned", at(40)))
    commit(repo, "finalize-tasks")
    append(repo, LOG, line(ulid(73), "WP05", "planned", "claimed", at(41)))
    commit(repo, "claim WP05")


@MODES
def test_a_wp_is_created_once_by_its_first_line_even_when_it_stays_planned(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_bootstrapped])
    assert_board_is_spec_kittys(repo, envelopes)
    moves = [(e["payload"]["wp_id"], e["payload"]["from_lane"], e["payload"]["to_lane"])
             for e in sorted(envelopes, key=lambda e: e["lamport_clock"])]  # fmt: skip
    assert moves == [
        ("WP03", None, "planned"),
        ("WP04", None, "planned"),
        ("WP05", None, "planned"),
        ("WP05", "planned", "doing"),
    ]


# --- 4. the folder names the feature ------------------------------------------------------------


def _short_mission_slug(repo: Repo) -> None:
    folder = "kitty-specs/tooling-stability-guard-coherence-01KTRC04"
    text = line(ulid(80), "WP01", "genesis", "planned", at(50)).replace(
        f'"feature_slug": "{FEATURE}"', '"mission_slug": "01KTRC04"'
    )
    append(repo, f"{folder}/status.events.jsonl", text)
    commit(repo, "3.x mission")


@MODES
def test_a_line_whose_mission_slug_is_the_short_id_moves_the_wp_of_its_folder(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_short_mission_slug])
    assert [e["payload"]["feature_slug"] for e in envelopes] == [
        "tooling-stability-guard-coherence-01KTRC04"
    ]
    assert_board_is_spec_kittys(repo, envelopes)


# --- 6. timestamps: the move's own time ---------------------------------------------------------


@MODES
def test_every_move_carries_the_time_it_happened(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_worked_to_done, _two_one_three_claim])
    by_id = {e["event_id"]: e["timestamp"] for e in envelopes}
    assert by_id[ulid(1)] == "2026-01-01T10:00:00.000+00:00"
    assert by_id[ulid(5)] == "2026-01-05T10:00:00.000+00:00"
    assert by_id[ulid(61)] == "2026-02-02T11:00:00.000+00:00"
    # A frontmatter move happened when its commit was made.
    implement = repo.git("log", "-1", "--format=%aI", "HEAD~1").stdout.strip()
    claimed = [
        e
        for e in envelopes
        if e["payload"]["wp_id"] == "WP02" and e["payload"]["to_lane"] == "doing"
    ]
    assert [e["timestamp"][:19] for e in claimed] == [_utc(implement)[:19]]


def _utc(iso: str) -> str:
    from datetime import datetime, timezone

    return datetime.fromisoformat(iso).astimezone(timezone.utc).isoformat()


# --- queue order within a commit: (at, event_id) ------------------------------------------------


def _many_in_one_commit(repo: Repo) -> None:
    # Written out of time order, as a merge of two lanes' logs leaves them.
    append(repo, LOG, line(ulid(91), "WP07", "planned", "planned", at(60, 12)))
    append(repo, LOG, line(ulid(90), "WP06", "planned", "planned", at(60, 11)))
    append(repo, LOG, line(ulid(92), "WP06", "planned", "claimed", at(60, 13)))
    commit(repo, "two lanes")


@MODES
def test_a_commits_moves_are_queued_in_time_order(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_many_in_one_commit])
    ordered = sorted(envelopes, key=lambda e: e["lamport_clock"])
    assert [e["event_id"] for e in ordered] == [ulid(90), ulid(91), ulid(92)]


def _file_first_then_log(repo: Repo) -> None:
    repo.write(f"{F}/tasks/WP08-docs.md", wp_file("WP08", "planned"))
    commit(repo, "tasks: WP08 (its file says planned)")
    append(repo, LOG, line(ulid(100), "WP08", "planned", "planned", at(70)))
    commit(repo, "the log bootstraps WP08 (its file untouched)")
    append(repo, LOG, line(ulid(101), "WP08", "planned", "claimed", at(71)))
    commit(repo, "claim WP08")


@MODES
def test_a_wp_created_by_its_file_is_not_created_again_by_its_first_log_line(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_file_first_then_log])
    assert_board_is_spec_kittys(repo, envelopes)
    moves = [(e["payload"]["from_lane"], e["payload"]["to_lane"])
             for e in sorted(envelopes, key=lambda e: e["lamport_clock"])]  # fmt: skip
    assert moves == [(None, "planned"), ("planned", "doing")]


# --- 5. parallel branches: the merge settles what the union changes ---------------------------


def _parallel_then_merge(order: str, conflict: bool) -> Step:
    """main and feat both move WP09 after a shared bootstrap; feat's moves are the later ones
    by `at` on one side of the merge. order: which branch is committed (and captured) last."""

    def step(repo: Repo) -> None:
        if not conflict:
            # Appended logs merge by themselves where a team says so (git's union driver).
            repo.write(".gitattributes", "status.events.jsonl merge=union\n")
        base = line(ulid(110), "WP09", "planned", "planned", at(80, 9))
        append(repo, LOG, base)
        commit(repo, "bootstrap WP09")
        feat = [line(ulid(111), "WP09", "planned", "in_progress", at(80, 10)),
                line(ulid(113), "WP09", "in_progress", "for_review", at(80, 12))]  # fmt: skip
        main = [line(ulid(112), "WP09", "planned", "blocked", at(80, 11))]

        def on_feat() -> None:
            repo.git("checkout", "-q", "-b", "feat")
            for text in feat:
                append(repo, LOG, text)
                commit(repo, "feat moves WP09")
            repo.git("checkout", "-q", "main")

        def on_main() -> None:
            for text in main:
                append(repo, LOG, text)
                commit(repo, "main moves WP09")

        if order == "feat last":
            repo.git("branch", "feat")
            on_main()
            repo.git("checkout", "-q", "feat")
            for text in feat:
                append(repo, LOG, text)
                commit(repo, "feat moves WP09")
            repo.git("checkout", "-q", "main")
        else:
            on_feat()
            on_main()
        merged = repo.git("merge", "-q", "--no-ff", "-m", "merge feat", "feat", check=False)
        assert conflict or merged.returncode == 0, merged.stderr
        if merged.returncode != 0 or conflict:
            if merged.returncode == 0:
                repo.git("reset", "-q", "--hard", "HEAD~1")
                repo.git("merge", "-q", "--no-ff", "--no-commit", "feat", check=False)
            # The union, as a person resolves the conflict of two appended tails.
            repo.write(LOG, base + "".join(main) + "".join(feat))
            commit(repo, "merge feat")

    return step


@pytest.mark.parametrize("order", ["feat last", "main last"])
def test_after_a_merge_the_board_is_the_union_of_both_branches_folded_by_time(
    repo: Repo, order: str
) -> None:
    envelopes = replay(repo, "scan", [_parallel_then_merge(order, conflict=True)])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP09")] == "for_review"


@pytest.mark.parametrize("order", ["feat last", "main last"])
@pytest.mark.parametrize("conflict", [True, False], ids=["git commit", "git merge"])
def test_a_merge_made_with_the_hooks_in_place_settles_the_board(
    repo: Repo, order: str, conflict: bool
) -> None:
    """Concluded by `git commit` (post-commit) or made by `git merge` itself (post-merge)."""
    envelopes = replay(repo, "live", [_parallel_then_merge(order, conflict=conflict)])
    assert_board_is_spec_kittys(repo, envelopes)


def test_the_settling_move_has_the_same_id_in_every_clone(repo: Repo, tmp_path: Path) -> None:
    replay(repo, "none", [_parallel_then_merge("main last", conflict=True)])
    subprocess.run(["git", "clone", "-q", str(repo.path), str(tmp_path / "clone")], check=True)
    clone = Repo(tmp_path / "clone")
    ids = []
    for where in (repo, clone):
        scanned = where.kitty_hooks("scan", "HEAD")
        assert scanned.returncode == 0, scanned.stdout
        settles = [e for e in board.queued_envelopes() if e["payload"]["reason"]
                   and e["payload"]["reason"].startswith("merge ")]  # fmt: skip
        ids.append(sorted(e["event_id"] for e in settles))
        for leftover in default_queue_path().parent.glob(default_queue_path().name + "*"):
            leftover.unlink()  # the clone starts from an empty queue, as another machine does
    assert ids[0] and ids[0] == ids[1]


def _merged_keeping_ours(repo: Repo) -> None:
    """feat takes WP09 to review; `git merge -s ours` keeps main's log, where WP09 is still
    planned: spec-kitty shows planned though feat's moves were sent."""
    append(repo, LOG, line(ulid(130), "WP09", "planned", "planned", at(81, 9)))
    commit(repo, "bootstrap WP09")
    repo.git("checkout", "-q", "-b", "feat")
    append(repo, LOG, line(ulid(132), "WP09", "planned", "in_progress", at(81, 11)))
    commit(repo, "feat starts WP09")
    append(repo, LOG, line(ulid(133), "WP09", "in_progress", "for_review", at(81, 12)))
    commit(repo, "feat to review")
    repo.git("checkout", "-q", "main")
    repo.write("NOTES.md", "main moves on\n")
    commit(repo, "main")
    repo.git("merge", "-q", "-s", "ours", "-m", "merge feat, keep main", "feat")


@MODES
def test_a_merge_that_keeps_one_side_settles_the_board_on_that_side(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_merged_keeping_ours])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP09")] == "planned"


def _merged_keeping_our_log_beside_their_wp_file(repo: Repo) -> None:
    """feat takes WP09 to review and adds WP10's file; the merge keeps main's log (WP09 still
    planned) but takes WP10's file, so the merge differs from its first parent elsewhere."""
    append(repo, LOG, line(ulid(140), "WP09", "planned", "planned", at(82, 9)))
    commit(repo, "bootstrap WP09")
    repo.git("checkout", "-q", "-b", "feat")
    append(repo, LOG, line(ulid(141), "WP09", "planned", "for_review", at(82, 11)))
    repo.write(f"{F}/tasks/WP10-x.md", wp_file("WP10", None))
    commit(repo, "feat: WP09 to review, WP10's prompt")
    repo.git("checkout", "-q", "main")
    repo.write("NOTES.md", "main moves on\n")
    commit(repo, "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feat")
    repo.git("checkout", "HEAD", "--", LOG)  # main's log wins
    commit(repo, "merge feat, main's log")


@MODES
def test_a_merge_that_keeps_one_sides_log_beside_the_others_files_settles_the_board(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_merged_keeping_our_log_beside_their_wp_file])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP09")] == "planned"


# --- a commit that takes log lines away (git revert) ----------------------------------------------


def _reverted(repo: Repo) -> None:
    _worked_to_done(repo)
    repo.git("revert", "--no-edit", "HEAD")  # "WP01 done" was a mistake


@MODES
def test_a_revert_of_a_move_puts_the_wp_back_where_spec_kitty_shows_it(
    repo: Repo, mode: str
) -> None:
    envelopes = replay(repo, mode, [_reverted])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP01")] == "for_review"
    assert board.sent_twice(envelopes) == []


def _edited_in_with_a_foreign_id(repo: Repo) -> None:
    """A hand edit puts a line into the middle of the log whose id is no ULID or UUID: it cannot
    be sent as a move of its own, but spec-kitty folds it, and it sets WP01's lane."""
    _worked_to_done(repo)
    lines = (repo.path / LOG).read_text().splitlines(keepends=True)
    foreign = line("evt-3", "WP01", "done", "in_progress", at(30))
    repo.write(LOG, "".join(lines[:2]) + foreign + "".join(lines[2:]))
    commit(repo, "WP01 reopened by hand")


def test_a_hand_edited_line_with_a_foreign_id_settles_the_board_and_stops_nothing(
    repo: Repo,
) -> None:
    envelopes = replay(repo, "live", [_edited_in_with_a_foreign_id])
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP01")] == "doing"


def test_a_scan_says_the_foreign_id_is_no_move_of_its_own_and_still_settles_the_board(
    repo: Repo,
) -> None:
    replay(repo, "none", [_edited_in_with_a_foreign_id])
    scanned = repo.kitty_hooks("scan", "HEAD")
    assert scanned.returncode == 1  # a line it could not send: said, and the rest queued
    assert "event_id 'evt-3' is not a ULID or UUID" in scanned.stdout
    envelopes = board.queued_envelopes()
    assert_board_is_spec_kittys(repo, envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP01")] == "doing"


# --- kitty-hooks board: the user's check, and the tests' -----------------------------------------


def test_board_agrees_after_a_history_and_names_the_wp_whose_move_was_removed(repo: Repo) -> None:
    replay(repo, "live", [_worked_to_done, _two_one_three_claim, _migration, _bootstrapped])
    shown = repo.kitty_hooks("board")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "5 work packages at" in shown.stdout and "all as spec-kitty shows them" in shown.stdout
    as_json = json.loads(repo.kitty_hooks("board", "--format", "json").stdout)
    assert {(w["wp_id"], w["expected"], w["dashboard"]) for w in as_json["work_packages"]} >= {
        ("WP01", "done", "done"),
        ("WP02", "for_review", "for_review"),
    }
    # The last move of WP01 never reaches the dashboard:
    dropped = repo.kitty_hooks("queue", "drop", ulid(5))
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    shown = repo.kitty_hooks("board", "--feature", FEATURE)
    assert shown.returncode == 1
    (wrong,) = [row for row in shown.stdout.splitlines() if "DIFFERS" in row]
    assert "WP01" in wrong and "spec-kitty: done" in wrong and "dashboard: for_review" in wrong
    assert "1 not as spec-kitty shows them" in shown.stdout


def test_board_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([*KITTY_HOOKS, "board"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


# --- a rebase of such commits ---------------------------------------------------------------------


def _rebased(repo: Repo) -> None:
    _bootstrapped(repo)
    repo.git("checkout", "-q", "-b", "feat")
    append(repo, LOG, line(ulid(120), "WP03", "planned", "claimed", at(90)))
    commit(repo, "claim WP03")
    repo.write(f"{F}/tasks/WP03-x.md", wp_file("WP03", "planned"))  # a stale view beside it
    commit(repo, "WP03's prompt")
    append(repo, LOG, line(ulid(121), "WP03", "claimed", "for_review", at(91)))
    commit(repo, "WP03 to review")
    repo.git("checkout", "-q", "main")
    repo.write("NOTES.md", "main moves on\n")
    commit(repo, "main")
    repo.git("checkout", "-q", "feat")
    repo.git("rebase", "-q", "main")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "feat")


@MODES
def test_a_rebase_of_moves_keeps_the_board_and_sends_nothing_twice(repo: Repo, mode: str) -> None:
    envelopes = replay(repo, mode, [_rebased])
    assert_board_is_spec_kittys(repo, envelopes)
    assert len({e["event_id"] for e in envelopes}) == len(envelopes)
    assert board.dashboard(envelopes)[(FEATURE, "WP03")] == "for_review"


def test_a_scan_of_the_recorded_327_project_draws_spec_kittys_board(repo: Repo) -> None:
    export = Path(__file__).parents[1] / "upstream" / "3.2.7" / "project.fast-export"
    with export.open("rb") as stream:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=repo.path, stdin=stream, check=True)
    repo.git("checkout", "-q", "-f", "feature/demo-widget")
    scanned = repo.kitty_hooks("scan", "HEAD")
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr
    envelopes = board.queued_envelopes()
    assert envelopes
    assert_board_is_spec_kittys(repo, envelopes)
    shown = repo.kitty_hooks("board")
    assert shown.returncode == 0, shown.stdout
