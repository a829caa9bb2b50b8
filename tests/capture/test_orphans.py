"""A move is orphaned only when no ref holds its commit and no ref holds the move itself: real
git (rebases aborted, commits dated ahead, branches kept across an amend), the real hooks and
the real queue."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kitty_hooks.githooks.install import install_hooks
from tests.gitutil import Repo, git
from tests.ingest import IngestServer
from tests.syncutil import queued_entries, write_credentials

SLUG = "039-cli-2x-readiness"
F = f"kitty-specs/{SLUG}"


def wp(lane: str, wp_id: str = "WP01") -> str:
    return f"---\nwork_package_id: {wp_id}\nlane: {lane}\n---\n"


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    install_hooks(repo.path, ["post-commit", "post-rewrite"])
    repo.write("README.md", "project\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "root")
    return repo


def commit_lane(
    repo: Repo, lane: str, wp_id: str = "WP01", env: dict[str, str] | None = None
) -> str:
    repo.write(f"{F}/tasks/{wp_id}-x.md", wp(lane, wp_id))
    repo.git("add", "-A")
    git_env = {**os.environ, **(env or {})}
    import subprocess

    subprocess.run(
        ["git", "commit", "-q", "-m", f"{wp_id} {lane}"],
        cwd=repo.path, env=git_env, check=True, capture_output=True,
    )  # fmt: skip
    return repo.git("rev-parse", "HEAD").stdout.strip()


def listing(repo: Repo) -> dict[str, dict]:
    done = repo.kitty_hooks("queue", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {e["event_id"]: e for e in json.loads(done.stdout)}


def drop_orphaned(repo: Repo) -> str:
    done = repo.kitty_hooks("queue", "drop", "--orphaned", "--yes")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def doctor_orphans(repo: Repo) -> str:
    done = repo.kitty_hooks("doctor", "--format", "json")
    checks = json.loads(done.stdout)["checks"]
    return " ".join(c["message"] for c in checks if c["subject"] == "orphaned")


def test_an_aborted_rebase_orphans_none_of_the_moves_its_picks_captured_again(
    hooked: Repo,
) -> None:
    commit_lane(hooked, "planned", "WP01")
    commit_lane(hooked, "planned", "WP02")
    hooked.write("conflict.txt", "ours\n")
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "conflict, ours")
    hooked.git("checkout", "-q", "-b", "upstream", "HEAD~3")
    hooked.write("conflict.txt", "theirs\n")
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "conflict, theirs")
    hooked.git("checkout", "-q", "main")
    before = listing(hooked)
    assert len(before) == 2
    rebase = hooked.git("rebase", "upstream", check=False)  # two picks, then the conflict
    assert rebase.returncode != 0
    queued_entries()  # the picks' captures: duplicates, now naming the picks
    hooked.git("rebase", "--abort")
    after = listing(hooked)
    assert set(after) == set(before)
    assert [e["orphaned"] for e in after.values()] == [False, False]
    head_commits = hooked.git("rev-list", "main").stdout.split()
    assert all(e["commit_sha"] in head_commits for e in after.values())  # pointed back
    assert drop_orphaned(hooked) == "dropped 0 events"
    assert len(queued_entries()) == 2


def test_a_commit_dated_a_month_ahead_held_by_another_branch_is_not_orphaned(
    hooked: Repo,
) -> None:
    ahead = (datetime.now(timezone.utc) + timedelta(days=31)).isoformat(timespec="seconds")
    sha = commit_lane(
        hooked, "planned", env={"GIT_AUTHOR_DATE": ahead, "GIT_COMMITTER_DATE": ahead}
    )
    hooked.git("checkout", "-q", "-b", "feat")
    for index in range(10):  # more than rev-list's slop of 5 commits past its last hope
        hooked.write("notes.txt", f"{index}\n")
        hooked.git("add", "-A")
        hooked.git("commit", "-q", "-m", f"ordinary {index}")
    hooked.git("checkout", "-q", "main")
    hooked.git("reset", "-q", "--hard", "HEAD~1")
    assert "feat" in hooked.git("branch", "--contains", sha).stdout
    (entry,) = listing(hooked).values()
    assert entry["orphaned"] is False
    assert drop_orphaned(hooked) == "dropped 0 events"
    assert doctor_orphans(hooked) == ""
    hooked.git("branch", "-q", "-D", "feat")  # now no ref holds it: orphaned
    (entry,) = listing(hooked).values()
    assert entry["orphaned"] is True
    assert "`kitty-hooks queue drop --orphaned`" in doctor_orphans(hooked)


def _review_then_amend_to_done(repo: Repo) -> None:
    commit_lane(repo, "planned")
    commit_lane(repo, "for_review")
    repo.git("branch", "review")
    repo.write(f"{F}/tasks/WP01-x.md", wp("done"))
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", "-m", "WP01 done")  # post-rewrite runs


def lanes(entries: list) -> list[tuple[str | None, str]]:
    return [(e.envelope["payload"]["from_lane"], e.envelope["payload"]["to_lane"]) for e in entries]


def test_an_amend_spares_the_move_a_branch_still_holds(hooked: Repo) -> None:
    _review_then_amend_to_done(hooked)
    entries = queued_entries()
    assert lanes(entries) == [(None, "planned"), ("planned", "for_review"), ("planned", "done")]
    review = hooked.git("rev-parse", "review").stdout.strip()
    assert entries[1].commit_sha == review  # still named by the commit `review` holds
    assert not any(e["orphaned"] for e in listing(hooked).values())
    assert drop_orphaned(hooked) == "dropped 0 events"


def test_an_amend_spares_a_move_a_branch_holds_in_an_earlier_copy_of_the_commit(
    hooked: Repo,
) -> None:
    commit_lane(hooked, "planned")
    commit_lane(hooked, "for_review")
    hooked.git("branch", "review")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 for_review, reworded")  # the same move
    hooked.write(f"{F}/tasks/WP01-x.md", wp("done"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 done")  # `review` holds the first copy
    assert lanes(queued_entries()) == [
        (None, "planned"), ("planned", "for_review"), ("planned", "done")
    ]  # fmt: skip
    assert not any(e["orphaned"] for e in listing(hooked).values())


def test_an_amend_spares_the_same_move_an_earlier_commit_of_the_branch_made(
    hooked: Repo,
) -> None:
    """planned -> doing twice within one author second is one event (its id is derived from
    the change and its time): taking back the second copy by an amend keeps the first."""
    same_second = {"GIT_AUTHOR_DATE": "2026-11-20T10:00:00+00:00"}
    commit_lane(hooked, "planned")
    commit_lane(hooked, "doing", env=same_second)
    commit_lane(hooked, "planned", env=same_second)
    commit_lane(hooked, "doing", env=same_second)  # the first doing again: a duplicate
    assert len(queued_entries()) == 3
    hooked.write(f"{F}/tasks/WP01-x.md", wp("for_review"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 for_review")
    assert lanes(queued_entries()) == [
        (None, "planned"), ("planned", "doing"), ("doing", "planned"), ("planned", "for_review")
    ]  # fmt: skip
    assert not any(e["orphaned"] for e in listing(hooked).values())


def test_an_amend_spares_a_move_only_a_pushed_branch_holds(
    hooked: Repo, tmp_path: Path, hermetic_env: Path
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hooked.git("remote", "add", "origin", str(remote))
    commit_lane(hooked, "planned")
    commit_lane(hooked, "for_review")
    hooked.git("push", "-q", "origin", "HEAD:refs/heads/review")
    hooked.git("fetch", "-q", "origin")
    hooked.write(f"{F}/tasks/WP01-x.md", wp("done"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 done")
    assert lanes(queued_entries()) == [
        (None, "planned"), ("planned", "for_review"), ("planned", "done")
    ]  # fmt: skip
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        assert hooked.kitty_hooks("sync").returncode == 0
        got = [(e["payload"]["from_lane"], e["payload"]["to_lane"]) for e in server.events()]
    assert got == [(None, "planned"), ("planned", "for_review"), ("planned", "done")]


def test_an_amend_without_another_branch_still_drops_the_unsent_move(hooked: Repo) -> None:
    commit_lane(hooked, "planned")
    commit_lane(hooked, "for_review")
    hooked.write(f"{F}/tasks/WP01-x.md", wp("done"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 done")
    assert lanes(queued_entries()) == [(None, "planned"), ("planned", "done")]


def _log_line(event_id: str, to_lane: str, from_lane: str) -> str:
    return json.dumps({
        "event_id": event_id, "feature_slug": SLUG, "wp_id": "WP01", "from_lane": from_lane,
        "to_lane": to_lane, "at": "2026-11-20T10:00:00+00:00", "actor": "ada", "force": False,
        "execution_mode": "worktree", "reason": None, "review_ref": None, "evidence": None,
    })  # fmt: skip


def _squash_a_deleted_lane(hooked: Repo) -> tuple[str, str]:
    """A move made in a commit no ref reaches (a lane branch since deleted, a merge's temporary
    worktree) whose log line main holds through another commit: (lane commit, main's)."""
    line = _log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R3N", "claimed", "planned") + "\n"
    hooked.git("checkout", "-q", "-b", "lane-a")
    hooked.write(f"{F}/status.events.jsonl", line)
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "claim on the lane")
    lane_commit = hooked.git("rev-parse", "HEAD").stdout.strip()
    (entry,) = queued_entries()
    assert entry.commit_sha == lane_commit
    hooked.git("checkout", "-q", "main")
    # The merge squashes: main gets the line in a commit of its own (captured as a duplicate
    # in the background would re-point it; here the hooks are off, as in a removed worktree).
    hooked.write(f"{F}/status.events.jsonl", line)
    hooked.write("other.txt", "merged\n")
    hooked.git("add", "-A")
    hooked.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "squash lane-a")
    on_main = hooked.git("rev-parse", "HEAD").stdout.strip()
    hooked.git("branch", "-q", "-D", "lane-a")
    return lane_commit, on_main


def test_a_log_line_a_ref_holds_in_another_commit_is_repointed_not_orphaned(
    hooked: Repo,
) -> None:
    _, on_main = _squash_a_deleted_lane(hooked)
    assert doctor_orphans(hooked) == ""  # never advise dropping a move that is on main
    (listed,) = listing(hooked).values()
    assert listed["orphaned"] is False
    assert listed["commit_sha"] == on_main  # re-pointed at the commit that holds the line
    assert drop_orphaned(hooked) == "dropped 0 events"


def test_doctor_only_reads_the_queue_where_queue_list_repoints_it(hooked: Repo) -> None:
    lane_commit, on_main = _squash_a_deleted_lane(hooked)
    assert doctor_orphans(hooked) == ""
    (entry,) = queued_entries()
    assert entry.commit_sha == lane_commit  # doctor judged the move held, and wrote nothing
    (listed,) = listing(hooked).values()
    assert listed["commit_sha"] == on_main
    (entry,) = queued_entries()
    assert entry.commit_sha == on_main
