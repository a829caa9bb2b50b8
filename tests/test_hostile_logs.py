"""Hostile event files and log lines (issue 9): one clear line each, no lost valid event, no hang."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kitty_hooks.locations import log_path
from tests.gitutil import KITTY_HOOKS, Repo
from tests.test_detect import LOG, F, commit, install_hooks, log_line, moves, wp

DEEP = "[" * 100_000


def _diagnose(repo: Repo, *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [*KITTY_HOOKS, "diagnose", *args], cwd=repo.path, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    return result.returncode, output


def test_100000_brackets_in_a_log_line_are_one_invalid_line(repo: Repo) -> None:
    repo.write("status.events.jsonl", DEEP + "\n")
    code, output = _diagnose(repo, "status.events.jsonl")
    assert code == 1
    assert "status.events.jsonl:1: nested too deeply to be an event" in output


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "e.json",
            '{"lamport_clock": ' + "5" * 5000 + "}",
            "holds the integer a 5,000-digit number",
        ),
        ("e.json", "[" + "1" * 5000 + "]", "holds the integer a 5,000-digit number"),
        ("e.json", DEEP, "nested too deeply"),
        (
            "l.jsonl",
            '{"lamport_clock": ' + "5" * 5000 + "}\n",
            "holds the integer a 5,000-digit number",
        ),
    ],
)
def test_huge_numbers_and_deep_nesting_in_event_files(
    repo: Repo, name: str, content: str, message: str
) -> None:
    repo.write(name, content)
    code, output = _diagnose(repo, name)
    assert code == 1
    assert message in output


def test_a_fifo_is_refused_without_waiting_for_a_writer(repo: Repo) -> None:
    os.mkfifo(repo.path / "x.jsonl")
    code, output = _diagnose(repo, "x.jsonl")
    assert code == 2
    assert "x.jsonl: is a FIFO (named pipe), not a regular file" in output


def test_a_link_to_dev_zero_is_refused_without_reading(repo: Repo) -> None:
    (repo.path / "z.jsonl").symlink_to("/dev/zero")
    code, output = _diagnose(repo, "z.jsonl")
    assert code == 2
    assert "z.jsonl: is a device, not a regular file" in output


def test_a_missing_directory_says_so(repo: Repo) -> None:
    code, output = _diagnose(repo, "no-such-dir/")
    assert code == 2
    assert "no-such-dir: no such file or directory" in output


def test_a_deep_line_beside_a_valid_move_costs_only_itself_in_capture_and_scan(repo: Repo) -> None:
    install_hooks(repo.path)
    repo.write("README.md", "x\n")
    commit(repo, "root")
    repo.write(LOG, DEEP + "\n" + log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R15", "planned", "claimed"))
    result = commit(repo, "--no-verify", warns=True)
    assert "1 file or line could not be read" in result.stderr
    assert moves() == [("WP01", "planned", "doing")]
    # scan over the same commit finds the same move (a duplicate now), and says what it skipped
    scan = repo.kitty_hooks("scan", "HEAD~1..HEAD")
    assert scan.returncode == 1, scan.stdout + scan.stderr  # 1: a problem found
    assert "status.events.jsonl:1: nested too deeply to be an event" in scan.stdout
    assert "1 already known" in scan.stdout
    assert "Traceback" not in scan.stderr
    assert moves() == [("WP01", "planned", "doing")]


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


def test_the_gate_blocks_files_of_a_feature_folder_the_server_refuses(repo: Repo) -> None:
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    repo.write("kitty-specs/002 space/tasks/WP01-x.md", wp("planned"))
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", "x", check=False)
    assert result.returncode == 1
    assert "kitty-specs/002 space/tasks/WP01-x.md: feature folder '002 space' is not a valid" in (
        result.stderr
    )


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


def test_a_staged_wp_file_whose_name_is_not_utf8_is_checked_not_an_internal_error(
    repo: Repo,
) -> None:
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    name = os.fsdecode(b"kitty-specs/001-x/tasks/WP01-\xff.md")
    target = repo.path / name
    target.parent.mkdir(parents=True)
    target.write_text("---\nlane: planned\n---\n")
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", "x", check=False)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert moves() == [("WP01", None, "planned")]
    # The capture ran in the background: an internal error there is a traceback in the log.
    assert "Traceback" not in log_path().read_text()
