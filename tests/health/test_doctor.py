"""`kitty-hooks doctor` against real repositories, a real queue and the ingest server."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kitty_hooks.githooks.install import install_hooks
from tests.gitutil import Repo
from tests.ingest import IngestServer
from tests.syncutil import queue_events, write_credentials


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


@pytest.fixture
def healthy(repo: Repo, server: IngestServer, hermetic_env: Path) -> Repo:
    write_credentials(hermetic_env, server.url, server.login())
    install_hooks(repo.path)
    return repo


def doctor(repo: Repo, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    import subprocess

    from tests.gitutil import KITTY_HOOKS

    done = subprocess.run(
        [*KITTY_HOOKS, "doctor", *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


def test_a_healthy_installation_passes_every_check(healthy: Repo) -> None:
    code, lines = doctor(healthy, "--check")
    assert code == 0, lines
    assert not [line for line in lines if line.startswith("fail")]
    for hook in ("pre-commit", "post-commit", "post-rewrite", "pre-push"):
        assert f"ok    hooks: {hook}: ours (shim v2)" in lines
    assert any(line.startswith("ok    server: probe:") for line in lines)
    assert lines[-1].startswith("doctor: ") and lines[-1].endswith("0 failures")
    code, json_lines = doctor(healthy, "--check", "--format", "json")
    document = json.loads("\n".join(json_lines))
    assert code == 0
    assert document["ok"] is True
    assert {"area", "subject", "status", "message"} <= set(document["checks"][0])


def test_a_shim_whose_interpreter_is_gone_fails(healthy: Repo) -> None:
    shim = healthy.path / ".git" / "hooks" / "post-commit"
    text = shim.read_text()
    shim.write_text(re.sub(r"(?m)^python=.*$", "python=/gone/venv/bin/python", text))
    code, lines = doctor(healthy)
    assert code == 1
    assert (
        "fail  hooks: post-commit: the shim's interpreter /gone/venv/bin/python is gone: the hook "
        "falls back to `kitty-hooks` on PATH, or does nothing; run `kitty-hooks install` again"
    ) in lines


def test_shims_an_earlier_release_wrote_are_told_to_update(healthy: Repo) -> None:
    """pip install -U without `kitty-hooks install`: the v2 shims of before the journal."""
    code, lines = doctor(healthy)
    assert not [line for line in lines if "earlier kitty-hooks" in line]
    for hook in ("post-commit", "pre-push"):
        shim = healthy.path / ".git" / "hooks" / hook
        shim.write_text(shim.read_text().replace("capture/journal.py", "journal.py"))
    code, lines = doctor(healthy)
    assert code == 0  # they still work: a warning, not a failure
    assert not [line for line in lines if line.startswith("ok    version: shims")]
    assert (
        "warn  version: shims: post-commit, pre-push: written by an earlier kitty-hooks v2 shim "
        "template: run `kitty-hooks install` to update (they also update themselves the next "
        "time one of them starts Python)"
    ) in lines
    install_hooks(healthy.path)
    code, lines = doctor(healthy)
    assert not [line for line in lines if "earlier kitty-hooks" in line]


def test_a_hook_replaced_by_another_tool_fails(healthy: Repo) -> None:
    hook = healthy.path / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\n# husky\nexec npx husky run pre-push\n")
    code, lines = doctor(healthy)
    assert code == 1
    assert any(
        line.startswith(f"fail  hooks: pre-push: {hook} is another tool's hook, not ours")
        for line in lines
    ), lines


def test_no_hooks_at_all_fails_with_what_to_do(repo: Repo) -> None:
    code, lines = doctor(repo)
    assert code == 1
    assert any("fail  hooks: install: no hooks in" in line for line in lines)


def test_a_chained_hook_and_skip_are_shown(
    repo: Repo, server: IngestServer, hermetic_env: Path
) -> None:
    write_credentials(hermetic_env, server.url, server.login())
    legacy = repo.path / ".git" / "hooks" / "post-commit"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text("#!/bin/sh\necho mine\n")
    legacy.chmod(0o755)
    install_hooks(repo.path)
    code, lines = doctor(repo, env={**os.environ, "SKIP": "kitty-emit, other"})
    assert code == 0, lines
    assert "ok    hooks: post-commit: ours (shim v2), runs post-commit.legacy first" in lines
    assert (
        "warn  environment: SKIP: SKIP names kitty-emit here: those hooks of ours are skipped"
    ) in lines


def test_the_queue_and_a_failed_flush_are_reported(healthy: Repo, hermetic_env: Path) -> None:
    queue_events(2)
    write_credentials(hermetic_env, "http://127.0.0.1:9", {"access": "a", "refresh": "r"})
    assert healthy.kitty_hooks("sync").returncode == 1  # nothing listens on port 9
    code, lines = doctor(healthy, "-q")
    assert code == 0  # warnings only
    assert any(line.startswith("warn  flush: last:") and "retry-later" in line for line in lines)
    assert "ok" not in [line.split()[0] for line in lines]  # -q: problems only


def test_the_framework_config_that_lists_our_hooks_counts(repo: Repo) -> None:
    repo.write(
        ".pre-commit-config.yaml",
        "repos:\n  - repo: local\n    hooks:\n      - id: kitty-emit\n      - id: kitty-diagnose\n",
    )
    code, lines = doctor(repo)
    assert "ok    hooks: .pre-commit-config.yaml: lists kitty-diagnose, kitty-emit" in lines
    assert any(line.startswith("warn  hooks: post-commit: kitty-emit is in") for line in lines)
    assert code == 0
