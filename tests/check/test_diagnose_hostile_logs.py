"""Hostile event files and log lines (issue 9) before diagnose and the gate: one clear line each, no hang."""

from __future__ import annotations

import os
import subprocess

import pytest

from kitty_hooks.locations import log_path
from tests.capture.test_commits import moves, wp
from tests.gitutil import KITTY_HOOKS, Repo

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


def test_the_gate_blocks_files_of_a_feature_folder_the_server_refuses(repo: Repo) -> None:
    subprocess.run([*KITTY_HOOKS, "install"], cwd=repo.path, check=True, capture_output=True)
    repo.write("kitty-specs/002 space/tasks/WP01-x.md", wp("planned"))
    repo.git("add", "-A")
    result = repo.git("commit", "-q", "-m", "x", check=False)
    assert result.returncode == 1
    assert "kitty-specs/002 space/tasks/WP01-x.md: feature folder '002 space' is not a valid" in (
        result.stderr
    )


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
