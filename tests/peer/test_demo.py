"""`kitty-hooks demo`, the README's first command, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_tells_the_whole_story_and_leaves_nothing_behind(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert "nothing to send (the move stays within one sync lane)" in out
    assert "The server received 10 events:" in out
    assert "for_review -> done  (by Ada Lovelace, lamport 8, approved by Grace)" in out
    assert (
        "planned -> done  (by grace, lamport 10, forced: superseded by the new search service)"
        in out
    )
    assert "Queue: 0 pending, 0 failed, 0 dead letters" in out
    assert "Server: ok:" in out
    assert re.search(r"git push took \d+ ms", out)
    assert list(tmp_path.iterdir()) == []  # the temporary directory is gone
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == ""  # no server or worker left running


def test_demo_keep_leaves_the_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "demo", "--keep"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (kept,) = tmp_path.iterdir()
    assert f"Kept everything in {kept}" in done.stdout
    assert (kept / "checkout" / ".git").is_dir()
    # The line it prints points the command line at the demo's own HOME: the log is there.
    (line,) = [x for x in done.stdout.splitlines() if "KITTY_HOOKS_HOME=" in x]
    settings = dict(word.split("=", 1) for word in line.split() if "=" in word)
    assert settings["HOME"] == str(kept / "home")
    log = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "log", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, **settings},
    )
    assert len(json.loads(log.stdout)) == 10
