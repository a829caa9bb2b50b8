"""errors.report_failure: one policy for hooks and commands alike. A FatalError is one line
(and its exit code); anything else is a bug, named in one line, its traceback in the log. A hook
that is not a gate never fails git. Real git and the real log; a crash is the only stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitty_hooks.cli.main import run_cli
from kitty_hooks.githooks import run
from kitty_hooks.locations import log_path


def crash(_args: list[str]) -> int:
    raise RuntimeError("boom")


@pytest.fixture
def outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def log_text() -> str:
    return log_path().read_text(encoding="utf-8") if log_path().exists() else ""


@pytest.mark.parametrize(("hook", "code"), [("pre-commit", 2), ("post-commit", 0), ("pre-push", 0)])
def test_a_bug_in_a_hook_is_one_line_and_a_traceback_in_the_log(
    outside_a_repository: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    hook: str,
    code: int,
) -> None:
    monkeypatch.setitem(run.HOOKS, hook, crash)
    assert run.run_hook(hook, []) == code  # only the gate fails git
    err = capsys.readouterr().err
    assert (
        err == f"kitty-hooks {hook}: internal error (RuntimeError: boom); details in {log_path()}\n"
    )
    assert f"hook {hook} failed\nTraceback" in log_text()


@pytest.mark.parametrize(("hook", "code"), [("pre-commit", 2), ("post-commit", 0)])
def test_a_fatal_error_in_a_hook_is_one_line_logged_without_a_traceback(
    outside_a_repository: Path, capsys: pytest.CaptureFixture[str], hook: str, code: int
) -> None:
    assert run.run_hook(hook, []) == code
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"kitty-hooks {hook}: ")
    said = line.removeprefix(f"kitty-hooks {hook}: ")
    assert str(outside_a_repository) in said
    assert f"hook {hook}: {said}\n" in log_text()
    assert "Traceback" not in log_text()


def test_a_bug_in_a_command_is_one_line_and_logged_under_its_name_alone(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitty_hooks.capture import orphans

    def list_queue_crashes(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(orphans, "list_queue", list_queue_crashes)
    assert run_cli(["queue", "list", "--status", "pending"]) == 2
    err = capsys.readouterr().err
    assert err == f"kitty-hooks: internal error (RuntimeError: boom); details in {log_path()}\n"
    log = log_text()
    assert "command failed: kitty-hooks queue\nTraceback" in log
    assert "pending" not in log  # the arguments may hold a secret: never logged


def test_a_fatal_error_in_a_command_is_one_line_with_its_exit_code_and_not_logged(
    outside_a_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["queue", "drop", "--orphaned", "--yes"]) == 2
    out = capsys.readouterr()
    assert out.err == f"kitty-hooks: {outside_a_repository} is not inside a git work tree\n"
    assert out.out == ""
    assert log_text() == ""
