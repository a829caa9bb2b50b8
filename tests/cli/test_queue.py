"""`queue drop` (orphaned events after a reset), `queue list` marking them, and `kitty-hooks log`,
against real git repositories, a real queue file and the ingest server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitty_hooks.githooks.install import install_hooks
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import Repo
from tests.ingest import IngestServer, post_batch
from tests.syncutil import envelopes, queue_events, queued_entries, write_credentials

F = "kitty-specs/039-cli-2x-readiness"


def wp(lane: str, wp_id: str = "WP01") -> str:
    return f"---\nwork_package_id: {wp_id}\nlane: {lane}\n---\n"


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    install_hooks(repo.path, ["post-commit", "post-rewrite"])
    return repo


def commit_lane(repo: Repo, lane: str, wp_id: str = "WP01") -> str:
    repo.write(f"{F}/tasks/{wp_id}-x.md", wp(lane, wp_id))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", f"{wp_id} {lane}")  # the hooks run: capture is real
    return repo.git("rev-parse", "HEAD").stdout.strip()


def listing(repo: Repo) -> list[dict]:
    done = repo.kitty_hooks("queue", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_capture_records_the_commit_of_each_event(hooked: Repo) -> None:
    sha = commit_lane(hooked, "planned")
    (entry,) = queued_entries()
    assert entry.commit_sha == sha
    assert entry.repo == str((hooked.path / ".git").resolve())


def test_drop_orphaned_after_a_reset_drops_exactly_that_event(hooked: Repo) -> None:
    commit_lane(hooked, "planned")
    commit_lane(hooked, "claimed")
    kept, thrown_away = (e["event_id"] for e in listing(hooked))
    hooked.git("reset", "-q", "--hard", "HEAD~1")

    marks = {e["event_id"]: e["orphaned"] for e in listing(hooked)}
    assert marks == {kept: False, thrown_away: True}
    assert "orphaned" in hooked.kitty_hooks("queue", "list").stdout

    refused = hooked.kitty_hooks("queue", "drop", "--orphaned")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(listing(hooked)) == 2

    done = hooked.kitty_hooks("queue", "drop", "--orphaned", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "dropped 1 event"
    assert [e["event_id"] for e in listing(hooked)] == [kept]


def test_an_amended_commit_does_not_orphan_its_events(hooked: Repo) -> None:
    commit_lane(hooked, "planned")
    hooked.git("commit", "-q", "--amend", "-m", "WP01 planned, reworded")  # post-rewrite runs
    (entry,) = listing(hooked)
    assert entry["orphaned"] is False
    assert entry["commit_sha"] == hooked.git("rev-parse", "HEAD").stdout.strip()


def test_events_of_another_repository_are_never_judged_orphaned(
    hooked: Repo, tmp_path: Path
) -> None:
    commit_lane(hooked, "planned")
    hooked.git("reset", "-q", "--hard", "HEAD")  # nothing thrown away
    other = Repo(tmp_path / "other")
    (entry,) = listing(other)
    assert entry["orphaned"] is None
    assert other.kitty_hooks("queue", "drop", "--orphaned", "--yes").stdout.strip() == (
        "dropped 0 events"
    )


def test_drop_by_id_removes_it_for_good_and_says_what_it_did_not_find(repo: Repo) -> None:
    first, second = queue_events(2)
    done = repo.kitty_hooks("queue", "drop", first, "01JD3Q9Z6C8W4S0Y2X5V7T1R99")
    assert done.returncode == 1
    assert "no event 01JD3Q9Z6C8W4S0Y2X5V7T1R99 in the queue" in done.stdout
    assert [e.event_id for e in queued_entries()] == [second]
    with EventQueue() as queue:  # remembered: a scan does not queue it again
        assert queue.enqueue(envelopes(1)).duplicates == (first,)
    usage = repo.kitty_hooks("queue", "drop")
    assert usage.returncode == 2


def test_log_shows_what_the_server_acknowledged_newest_first(
    repo: Repo, hermetic_env: Path
) -> None:
    with IngestServer() as server:
        tokens = server.login()
        write_credentials(hermetic_env, server.url, tokens)
        early = queue_events(2)
        assert repo.kitty_hooks("sync").returncode == 0
        known = envelopes(1, start=10)
        assert post_batch(server.url, tokens["access"], known).status_code == 200
        late = queue_events(2, start=10)  # the first of these the server has already
        assert repo.kitty_hooks("sync").returncode == 0

    done = repo.kitty_hooks("log", "--format", "json")
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    assert [(e["event_id"], e["verdict"]) for e in log[:2]] in (
        [(late[0], "duplicate"), (late[1], "success")],
        [(late[1], "success"), (late[0], "duplicate")],  # one instant: ordered by id
    )
    assert {e["event_id"] for e in log[2:]} == set(early)
    assert log[0]["wp_id"] and log[0]["to_lane"] == "planned" and log[0]["delivered_at"]
    assert len(json.loads(repo.kitty_hooks("log", "--limit", "1", "--format", "json").stdout)) == 1
    text = repo.kitty_hooks("log").stdout.splitlines()
    assert text[0].split() == ["DELIVERED", "EVENT", "ID", "VERDICT", "EVENT"]
    assert len(text) == 5 and "duplicate" in "\n".join(text)


def test_a_move_committed_again_after_reset_soft_is_not_orphaned(hooked: Repo) -> None:
    """No post-rewrite runs for `reset --soft` and a new commit: the same move (the same event
    id, from the log line) is captured again, and must now name the commit that holds it."""
    log = f"{F}/status.events.jsonl"
    line = {
        "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3N", "feature_slug": "039-cli-2x-readiness",
        "wp_id": "WP01", "from_lane": "planned", "to_lane": "claimed",
        "at": "2026-11-20T10:00:00+00:00", "actor": "ada", "force": False,
        "execution_mode": "worktree", "reason": None, "review_ref": None, "evidence": None,
    }  # fmt: skip
    hooked.write("README.md", "x\n")
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "root")
    hooked.write(log, json.dumps(line) + "\n")
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "claim")
    hooked.git("reset", "-q", "--soft", "HEAD~1")
    hooked.git("commit", "-q", "-m", "claim, again")
    (entry,) = listing(hooked)
    assert entry["orphaned"] is False
    done = hooked.kitty_hooks("queue", "drop", "--orphaned", "--yes")
    assert len(listing(hooked)) == 1, done.stdout
