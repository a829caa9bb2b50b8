"""Hostile event files and log lines (issue 9) in capture: no lost valid event, git never fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capture.test_commits import LOG, F, commit, install_hooks, log_line, moves, wp
from tests.check.test_diagnose_hostile_logs import DEEP
from tests.gitutil import Repo


def test_a_deep_line_beside_a_valid_move_costs_only_itself_in_capture_and_scan(repo: Repo) -> None:
    install_hooks(repo.path)
    repo.write("README.md", "x\n")
    commit(repo, "root")
    repo.write(LOG, DEEP + "\n" + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R15", "planned", "claimed"))
    result = commit(repo, "--no-verify", warns=True)
    assert "1 file or line could not be read" in result.stderr
    assert moves() == [("WP01", None, "doing")]  # its first line: its creation
    # scan over the same commit finds the same move (a duplicate now), and says what it skipped
    scan = repo.kitty_hooks("scan", "HEAD~1..HEAD")
    assert scan.returncode == 1, scan.stdout + scan.stderr  # 1: a problem found
    assert "status.events.jsonl:1: nested too deeply to be an event" in scan.stdout
    assert "1 already known" in scan.stdout
    assert "Traceback" not in scan.stderr
    assert moves() == [("WP01", None, "doing")]  # its first line: its creation


@pytest.mark.parametrize("folder", ["002 space", "005;rm -rf x"])
def test_a_feature_folder_the_server_refuses_is_not_queued_and_said(
    repo: Repo, folder: str
) -> None:
    install_hooks(repo.path)
    repo.write(f"kitty-specs/{folder}/tasks/WP01-x.md", wp("planned"))
    result = commit(repo, "--no-verify", warns=True)
    assert f"not queued: feature {folder!r} is not a valid feature slug" in result.stderr
    assert f"rename the folder kitty-specs/{folder}/" in result.stderr
    assert moves() == []
    scan = repo.kitty_hooks("scan", "HEAD")
    assert scan.returncode == 1
    assert (
        f"error: not queued {repo.git('rev-parse', 'HEAD').stdout[:12]} WP01: feature"
        in scan.stdout
    )
    assert moves() == []


def test_a_good_feature_is_queued_beside_a_bad_one(repo: Repo) -> None:
    install_hooks(repo.path)
    repo.write("kitty-specs/002 space/tasks/WP01-x.md", wp("planned"))
    repo.write(f"{F}/tasks/WP02-y.md", wp("planned", wp_id="WP02"))
    commit(repo, "--no-verify", warns=True)
    assert moves() == [("WP02", None, "planned")]


def test_no_hostile_line_makes_the_post_commit_hook_fail_git(repo: Repo, tmp_path: Path) -> None:
    install_hooks(repo.path)
    lines = [
        DEEP,
        "{" * 50_000,
        '{"wp_id": "WP01", "to_lane": ' + "9" * 5000 + "}",
        "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
    repo.write(
        LOG, "\n".join(lines) + "\n" + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R16", None, "planned")
    )
    result = commit(repo, "--no-verify", warns=True)
    assert result.returncode == 0
    assert moves() == [("WP01", None, "planned")]
