"""The hook path imports nothing heavy: every commit and push pays for what it imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "click",
    "requests",
    "jsonschema",
    "jsonschema_rs",
    "git",
    "ulid",
    "filelock",
    "werkzeug",
    "waitress",
    "jwt",
    "yaml",  # only a frontmatter or config read needs it, imported then
)


@pytest.mark.parametrize(
    "modules",
    [
        ["kitty_hooks.entry", "kitty_hooks.githooks", "kitty_hooks.githooks.run"],
        ["kitty_hooks.capture.commits", "kitty_hooks.gitrepo.repo", "kitty_hooks.model.layout"],
        [
            "kitty_hooks.capture.detect",
            "kitty_hooks.capture.commit_context",
            "kitty_hooks.capture.log_changes",
            "kitty_hooks.capture.wp_changes",
            "kitty_hooks.model.events",
            "kitty_hooks.capture.identity",
            "kitty_hooks.queue.store",
            "kitty_hooks.queue.spool",
        ],
        ["kitty_hooks.deliver.worker"],
        ["kitty_hooks.capture.journal"],
        [
            "kitty_hooks.check.gate",
            "kitty_hooks.check.diagnose",
            "kitty_hooks.check.results",
            "kitty_hooks.check.eventfiles",
            "kitty_hooks.check.statuslog",
            "kitty_hooks.check.envelopes",
            "kitty_hooks.check.workpackages",
            "kitty_hooks.check.reporters",
            "kitty_hooks.check.validation",
        ],
    ],
)
def test_hook_path_modules_import_nothing_heavy(modules: list[str]) -> None:
    probe = (
        f"import sys\nfor name in {modules!r}: __import__(name)\n"
        f"import json; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_a_commit_without_lane_changes_loads_no_detection() -> None:
    probe = (
        "import sys\nimport kitty_hooks.githooks.run, kitty_hooks.capture.commits\n"
        "print(sorted(m for m in ('kitty_hooks.capture.detect', 'kitty_hooks.capture.commit_context', "
        "'kitty_hooks.capture.log_changes', 'kitty_hooks.capture.wp_changes', "
        "'kitty_hooks.model.events', 'yaml', 'hashlib', 'sqlite3') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _log_line(event_id: str, from_lane: str | None, to_lane: str) -> str:
    return json.dumps(
        {
            "actor": "claude", "at": "2026-11-20T10:00:00+00:00", "event_id": event_id,
            "evidence": None, "execution_mode": "worktree", "feature_slug": "039-x",
            "force": False, "from_lane": from_lane, "reason": None, "review_ref": None,
            "to_lane": to_lane, "wp_id": "WP01",
        }
    ) + "\n"  # fmt: skip


def _hook_imports(repo_path: Path) -> set[str]:
    from kitty_hooks.assets import shim_template, shim_template_id
    from tests.gitutil import KITTY_HOOKS

    done = subprocess.run(
        [KITTY_HOOKS[0], "-X", "importtime", *KITTY_HOOKS[1:], "hook", "post-commit"],
        cwd=repo_path,
        capture_output=True,
        text=True,
        # As this release's shim calls it (an older shim's run also updates the shims).
        env={**os.environ, "KITTY_HOOKS_SHIM": shim_template_id(shim_template())},
    )
    return {row.rsplit("|", 1)[-1].strip() for row in done.stderr.splitlines() if "|" in row}


def test_a_spec_kitty_2_commit_imports_no_yaml_once_the_config_is_cached(tmp_path: Path) -> None:
    """spec-kitty 2.x writes the log line and the frontmatter: the log line is the move."""
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    log = "kitty-specs/039-x/status.events.jsonl"
    wp = "kitty-specs/039-x/tasks/WP01-x.md"
    repo.write(".kittify/config.yaml", "project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n")
    repo.write(log, _log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R20", None, "planned"))
    repo.write(wp, "---\nlane: planned\n---\n")
    repo.commit_all("plan WP01")
    assert "yaml" in _hook_imports(repo.path)  # the first run reads the config, and caches it

    repo.write(
        log,
        _log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R20", None, "planned")
        + _log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R21", "planned", "claimed"),
    )
    repo.write(wp, "---\nlane: claimed\n---\n")
    repo.commit_all("claim WP01")
    imported = _hook_imports(repo.path)
    assert "kitty_hooks.queue.store" in imported  # it did queue the move
    assert "yaml" not in imported


# The import budget of a commit that moves a WP (issue 10): what each hook run may load. Heavy
# standard modules are out too: dataclasses brings inspect and ast (~8 ms), uuid brings platform,
# shutil brings bz2 and lzma; PyYAML only for frontmatter that is not a plain `lane:` scalar.
NOT_ON_THE_HOOK_PATH = frozenset(
    {
        *HEAVY,
        "dataclasses",
        "inspect",
        "ast",
        "uuid",
        "platform",
        "shutil",
        "bz2",
        "lzma",
        "http.client",
        "urllib.request",
        "socket",
        "ssl",
        "email",
        "orjson",
        "tomllib",
        "tomli",
        "logging",
        "argparse",
    }
)
OUR_HOOK_PATH = frozenset(
    {
        "kitty_hooks",
        "kitty_hooks.entry",
        "kitty_hooks.githooks",
        "kitty_hooks.githooks.run",
        "kitty_hooks.errors",
        "kitty_hooks.locations",
        "kitty_hooks.wording",  # plural: what a capture tells its user (it imports nothing)
        "kitty_hooks.capture",
        "kitty_hooks.capture.journal",  # a foreground capture drains the journal first
        "kitty_hooks.capture.journal_entries",
        "kitty_hooks.capture.journal_marker",
        "kitty_hooks.capture.commits",
        "kitty_hooks.gitrepo",
        "kitty_hooks.gitrepo.command",
        "kitty_hooks.gitrepo.repo",
        "kitty_hooks.gitrepo.history",
        "kitty_hooks.gitrepo.blobs",
        "kitty_hooks.model",
        "kitty_hooks.model.layout",
        "kitty_hooks.capture.detect",
        "kitty_hooks.capture.commit_context",
        "kitty_hooks.capture.log_changes",
        "kitty_hooks.capture.wp_changes",
        "kitty_hooks.model.events",
        "kitty_hooks.model.lanes",
        "kitty_hooks.model.vocabulary",
        "kitty_hooks.model.logline",
        "kitty_hooks.model.reducer",
        "kitty_hooks.model.frontmatter",
        "kitty_hooks.model.frontmatter_lines",
        "kitty_hooks.capture.identity",
        "kitty_hooks.check",
        "kitty_hooks.check.validation",
        "kitty_hooks.assets",
        "kitty_hooks.queue",
        "kitty_hooks.queue.store",
        "kitty_hooks.queue.database",
        "kitty_hooks.queue.errors",
        "kitty_hooks.queue.schema",
        "kitty_hooks.queue.entries",
        "kitty_hooks.queue.intake",
        "kitty_hooks.queue.chunks",
        "kitty_hooks.queue.work_marker",
        "kitty_hooks.queue.spool",
    }
)


def test_the_pre_commit_gate_stays_within_the_import_budget() -> None:
    """The gate runs on every commit that stages a WP file or a log: no dataclasses either."""
    probe = (
        "import sys\nimport kitty_hooks.githooks.run, kitty_hooks.check.gate, "
        "kitty_hooks.check.reporters\n"
        f"import json; print(json.dumps(sorted(m for m in {sorted(NOT_ON_THE_HOOK_PATH)!r} "
        "if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    "style", ["frontmatter lane", "2.x log line and frontmatter", "3.x log line"]
)
def test_a_commit_that_moves_a_wp_stays_within_the_import_budget(
    tmp_path: Path, style: str
) -> None:
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    log = "kitty-specs/039-x/status.events.jsonl"
    wp = "kitty-specs/039-x/tasks/WP01-x.md"
    repo.write(".kittify/config.yaml", "project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n")
    repo.write(wp, "---\nwork_package_id: WP01\ntitle: 'a: b'\nlane: planned\n---\n")
    repo.commit_all("plan WP01")
    _hook_imports(repo.path)  # the first run reads the config, and caches it
    if style != "frontmatter lane":
        line = _log_line("01JD3Q9Z6C8W4S0Y2X5V7T1R21", "planned", "claimed")
        if style == "3.x log line":
            line = line.replace('"feature_slug"', '"mission_slug"')
        repo.write(log, line)
    if style != "3.x log line":
        repo.write(wp, "---\nwork_package_id: WP01\ntitle: 'a: b'\nlane: \"claimed\"\n---\n")
    repo.commit_all("claim WP01")
    imported = _hook_imports(repo.path)
    assert "kitty_hooks.queue.store" in imported  # it did queue the move
    assert sorted(imported & NOT_ON_THE_HOOK_PATH) == []
    assert (
        sorted(m for m in imported if m.startswith("kitty_hooks") and m not in OUR_HOOK_PATH) == []
    )


def test_the_background_capture_of_a_recorded_commit_stays_within_the_import_budget(
    tmp_path: Path,
) -> None:
    """The drainer the post-commit shim starts imports what the hook's capture imported."""
    from kitty_hooks.locations import journal_dir
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    wp = "kitty-specs/039-x/tasks/WP01-x.md"
    repo.write(".kittify/config.yaml", "project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n")
    repo.write(wp, "---\nwork_package_id: WP01\nlane: planned\n---\n")
    repo.commit_all("plan WP01")
    _hook_imports(repo.path)  # the first run reads the config, and caches it
    repo.write(wp, "---\nwork_package_id: WP01\nlane: claimed\n---\n")
    sha = repo.commit_all("claim WP01")
    journal_dir().mkdir(parents=True)
    (journal_dir() / f"{sha}-1.commit").write_text(f"{repo.path}\n")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kitty_hooks.capture.journal"],
        cwd="/", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = {row.rsplit("|", 1)[-1].strip() for row in done.stderr.splitlines() if "|" in row}
    assert "kitty_hooks.queue" in imported  # it did queue the move
    assert sorted(imported & NOT_ON_THE_HOOK_PATH) == []
    allowed = OUR_HOOK_PATH | {"kitty_hooks.capture.journal"}
    assert sorted(m for m in imported if m.startswith("kitty_hooks") and m not in allowed) == []


# What the gate may load on a commit that appends a few log lines or changes a plain WP file:
# no jsonschema-rs, no orjson (each costs more to import than Python takes to start; issue 21),
# no PyYAML for frontmatter of plain `key: value` lines.
OUR_GATE_PATH = frozenset(
    {
        "kitty_hooks",
        "kitty_hooks.entry",
        "kitty_hooks.githooks",
        "kitty_hooks.githooks.run",
        "kitty_hooks.errors",
        "kitty_hooks.locations",
        "kitty_hooks.files",
        "kitty_hooks.assets",
        "kitty_hooks.gitrepo",
        "kitty_hooks.gitrepo.command",
        "kitty_hooks.gitrepo.repo",
        "kitty_hooks.gitrepo.blobs",
        "kitty_hooks.model",
        "kitty_hooks.model.layout",
        "kitty_hooks.model.lanes",
        "kitty_hooks.model.logline",
        "kitty_hooks.model.frontmatter",
        "kitty_hooks.model.frontmatter_lines",
        "kitty_hooks.gitrepo.spawn",
        "kitty_hooks.check",
        "kitty_hooks.check.quick",
        "kitty_hooks.check.patterns",
        "kitty_hooks.check.gate",
        "kitty_hooks.check.diagnose",
        "kitty_hooks.check.results",
        "kitty_hooks.check.eventfiles",
        "kitty_hooks.check.statuslog",
        "kitty_hooks.check.envelopes",
        "kitty_hooks.check.workpackages",
        "kitty_hooks.check.reporters",
        "kitty_hooks.check.validation",
        "kitty_hooks.check.verdicts",
        "kitty_hooks.views",  # the reporters' one way to render (json, as they always imported)
        "kitty_hooks.wording",
    }
)


def _gate_imports(repo_path: Path) -> tuple[int, set[str]]:
    from kitty_hooks.assets import shim_template, shim_template_id
    from tests.gitutil import KITTY_HOOKS, PROJECT_ROOT

    # As the installed shim starts it (-c, not -m: runpy's own imports are no hook's).
    shim_call = (
        "import sys; sys.path[:] = [p for p in sys.path if p]; "
        "from kitty_hooks.entry import main; sys.exit(main())"
    )
    done = subprocess.run(
        [KITTY_HOOKS[0], "-X", "importtime", "-c", shim_call, "hook", "pre-commit"],
        cwd=repo_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "KITTY_HOOKS_SHIM": shim_template_id(shim_template()),
            "PYTHONPATH": str(PROJECT_ROOT),
        },
    )
    rows = done.stderr.splitlines()
    return done.returncode, {row.rsplit("|", 1)[-1].strip() for row in rows if "|" in row}


@pytest.mark.parametrize(
    "change", ["one log line", "fifty log lines", "a 3.x log line", "a WP file's lane"]
)
def test_the_gate_on_a_move_commit_stays_within_the_import_budget(
    tmp_path: Path, change: str
) -> None:
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    log = "kitty-specs/039-x/status.events.jsonl"
    wp = "kitty-specs/039-x/tasks/WP01-x.md"
    lines = [_log_line(f"01JD3Q9Z6C8W4S0Y2X5V7T{n:04d}", "planned", "claimed") for n in range(51)]
    repo.write(log, lines[0])
    repo.write(
        wp, "---\nwork_package_id: WP01\ntitle: 'a: b'\nlane: planned\ndependencies: []\n---\n"
    )
    repo.commit_all("plan WP01")
    if change == "one log line":
        repo.write(log, "".join(lines[:2]))
    elif change == "fifty log lines":
        repo.write(log, "".join(lines))
    elif change == "a 3.x log line":
        repo.write(log, lines[0] + lines[1].replace('"feature_slug"', '"mission_slug"'))
    else:
        repo.write(wp, "---\nwork_package_id: WP01\ntitle: 'a: b'\nlane: \"claimed\"\n---\n")
    repo.git("add", "-A")
    code, imported = _gate_imports(repo.path)
    assert code == 0
    assert "kitty_hooks.check.quick" in imported  # it did look
    assert "kitty_hooks.check.gate" not in imported  # and found it clean: no careful gate
    # What the careful gate needs and a move commit does not (issue 21: each costs a hook
    # ~0.3-0.6x a bare `python -c pass` to import). A WP file's frontmatter is read with re.
    heavy = {"pathlib", "subprocess", "typing", "json"}
    if change != "a WP file's lane":
        heavy |= {"re", "enum", "functools"}  # re brings the other two
    assert sorted(imported & (NOT_ON_THE_HOOK_PATH | heavy)) == []
    assert (
        sorted(m for m in imported if m.startswith("kitty_hooks") and m not in OUR_GATE_PATH) == []
    )


def test_a_commit_the_gate_blocks_may_load_the_compiled_validator_to_say_why(
    tmp_path: Path,
) -> None:
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    log = "kitty-specs/039-x/status.events.jsonl"
    repo.write(log, _log_line("01JD3Q9Z6C8W4S0Y2X5V7T0001", None, "planned"))
    repo.commit_all("plan WP01")
    repo.write(
        log,
        _log_line("01JD3Q9Z6C8W4S0Y2X5V7T0001", None, "planned")
        + _log_line("x", "planned", "shipped"),
    )
    repo.git("add", "-A")
    code, imported = _gate_imports(repo.path)
    assert code == 1
    assert "jsonschema_rs" in imported


@pytest.mark.parametrize("change", ["a new log", "a 3.x WP file with lists"])
def test_the_careful_gate_on_a_few_events_loads_no_compiled_validator(
    tmp_path: Path, change: str
) -> None:
    """What the quick look leaves to the careful gate, valid and few: still no jsonschema-rs or
    orjson (PyYAML only for the frontmatter that needs it)."""
    from tests.gitutil import Repo

    repo = Repo(tmp_path / "repo")
    repo.write("README.md", "x\n")
    repo.commit_all("start")
    if change == "a new log":
        repo.write(
            "kitty-specs/039-x/status.events.jsonl",
            _log_line("01JD3Q9Z6C8W4S0Y2X5V7T0001", None, "planned"),
        )
    else:
        repo.write(
            "kitty-specs/039-x/tasks/WP01-x.md", "---\nlane: planned\nsubtasks:\n- T001\n---\n"
        )
    repo.git("add", "-A")
    code, imported = _gate_imports(repo.path)
    assert code == 0
    assert "kitty_hooks.check.gate" in imported
    allowed = {"yaml"} if change != "a new log" else set()
    assert sorted(imported & NOT_ON_THE_HOOK_PATH - allowed) == []
    assert (
        sorted(m for m in imported if m.startswith("kitty_hooks") and m not in OUR_GATE_PATH) == []
    )
