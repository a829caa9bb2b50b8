"""The hook path imports nothing heavy: every commit and push pays for what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

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
)


@pytest.mark.parametrize(
    "modules",
    [
        ["kitty_hooks.entry", "kitty_hooks.githooks"],
        ["kitty_hooks.capture", "kitty_hooks.gitrepo", "kitty_hooks.layout"],
        [
            "kitty_hooks.detect",
            "kitty_hooks.events",
            "kitty_hooks.identity",
            "kitty_hooks.queue",
            "kitty_hooks.spool",
        ],
        ["kitty_hooks.worker"],
        ["kitty_hooks.gate", "kitty_hooks.diagnose", "kitty_hooks.validation"],
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
        "import sys\nimport kitty_hooks.githooks, kitty_hooks.capture\n"
        "print(sorted(m for m in ('kitty_hooks.detect', 'kitty_hooks.events', 'yaml', 'hashlib', "
        "'sqlite3') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
