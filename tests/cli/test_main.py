"""What every command shares (cli/main.py, cli/options.py): help with examples, and colour."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest

from kitty_hooks.cli.main import cli
from kitty_hooks.githooks.install import HOOK_IDS
from kitty_hooks.githooks.run import HOOKS
from tests.gitutil import KITTY_HOOKS, Repo


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KITTY_HOOKS, *args], capture_output=True, text=True, env=env)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
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


def test_a_command_imports_no_other_commands_module() -> None:
    """scan starts without diagnose's, the hooks' or the queue's imports (~15 ms)."""
    code = (
        "import sys; from kitty_hooks.cli.main import run_cli; run_cli(['scan', '--help']);"
        "print(sorted(m for m in sys.modules if m.startswith('kitty_hooks.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = done.stdout.splitlines()[-1]
    assert "kitty_hooks.cli.sync" in loaded
    for other in ("diagnose", "hooks", "queue", "login", "peer"):
        assert f"kitty_hooks.cli.{other}'" not in loaded
