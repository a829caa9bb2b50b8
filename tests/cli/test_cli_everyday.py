"""What every command shares: help with examples, colour, -q, sync's JSON and its wording."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import click
import pytest

from kitty_hooks.cli.main import cli
from kitty_hooks.githooks.install import HOOK_IDS
from kitty_hooks.githooks.run import HOOKS
from tests.gitutil import KITTY_HOOKS, Repo
from tests.ingest import Fault, IngestServer
from tests.syncutil import queue_events, write_credentials


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KITTY_HOOKS, *args], capture_output=True, text=True, env=env)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("command", [(), *_commands(cli)], ids=" ".join)
def test_every_help_ends_with_examples(command: tuple[str, ...]) -> None:
    done = run(*command, "--help", env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0
    lines = done.stdout.rstrip().splitlines()
    examples = lines.index("  Examples:")
    assert 1 <= len(lines) - examples - 1 <= 2
    assert all(line.startswith("    ") for line in lines[examples + 1 :])
    assert not [line for line in lines[1:] if line.rstrip().endswith("...")]  # none cut off


def test_the_group_help_lists_every_command_whole() -> None:
    out = run("--help", env={**os.environ, "COLUMNS": "80"}).stdout
    for name in _commands(cli):
        if len(name) == 1:
            assert f"\n  {name[0]} " in out
    assert "log        What was delivered, newest first" in out


def test_hook_help_lists_the_hook_names() -> None:
    assert set(HOOK_IDS) == set(HOOKS)
    out = run("hook", "--help").stdout
    assert "NAME is one of: pre-commit, post-commit, post-merge, post-rewrite, pre-push." in out


def test_colour_follows_the_option_and_no_color(repo: Repo) -> None:
    del repo
    assert "\x1b[" in run("--color", "always", "doctor").stdout
    assert "\x1b[" not in run("doctor").stdout  # not a terminal
    assert "\x1b[" not in run("--color", "never", "doctor").stdout
    quiet_env = {**os.environ, "NO_COLOR": "1"}
    assert "\x1b[" not in run("doctor", env=quiet_env).stdout
    assert "\x1b[" not in run("doctor", "--format", "json").stdout


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_sync_with_the_server_down_says_why_events_are_still_queued(hermetic_env: Path) -> None:
    write_credentials(hermetic_env, closed_port(), {"access": "a", "refresh": "r"})
    queue_events(1)
    done = run("sync")
    assert done.returncode == 1
    assert done.stdout == "Synced: 0, Duplicates: 0, Failed: 0\n"
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "kitty-hooks: 1 event still queued: the server could not take them now ("
    )
    assert line.endswith("; the next push or `kitty-hooks sync` tries again")

    document = json.loads(run("sync", "--format", "json").stdout)
    assert document["ok"] is False
    assert (document["outcome"], document["left_pending"]) == ("retry-later", 1)
    assert document["why_left_pending"].startswith("the server could not take them now")


def test_sync_json_lists_the_failures_and_q_keeps_quiet_when_all_is_sent(
    hermetic_env: Path, tmp_path: Path
) -> None:
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        queue_events(2)
        quiet = run("sync", "-q")
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
        (rejected,) = queue_events(1, start=5)
        answer = {"results": [{"event_id": rejected, "status": "rejected", "error": "bad schema"}]}
        server.faults.push(Fault.body(json.dumps(answer).encode()))
        report = tmp_path / "sync.json"
        done = run("sync", "--format", "json", "--report", str(report))
        assert done.returncode == 1
        document = json.loads(done.stdout)
        assert json.loads(report.read_text()) == document
        assert (document["failed"], document["left_pending"]) == (1, 1)
        assert [f["event_id"] for f in document["failures"]] == [rejected]
        assert document["why_left_pending"] == "1 was refused and will be retried by the next sync"

        server.faults.push(Fault.drop_results(1))
        text = run("sync", "-v")
    assert text.returncode == 1
    assert text.stderr.splitlines() == [
        "kitty-hooks: 1 event still queued: the server's answer did not mention 1 event, so they "
        "stay pending"
    ]
