"""spec-kitty 3.2.7's `agent action implement`, as far as our hooks see it: it writes its commit
guard over .git/hooks/pre-commit. The hook is the one recorded from the real function
(tests/upstream/3.2.7/hooks/pre-commit, tests/upstream/record_hook.py), written the way spec-kitty
writes it, with the interpreter it names replaced by a stand-in that records each run of the
guard and exits as told."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.gitutil import PROJECT_ROOT, Repo

RECORDED = PROJECT_ROOT / "tests" / "upstream" / "3.2.7" / "hooks" / "pre-commit"
RECORDED_PYTHON = "/work/peers/sk327/bin/python"  # what the recording machine's hook names


class Guard:
    """spec-kitty's `implement`, writing its hook; and the interpreter that hook runs."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "guard.log"
        self.exit_file = tmp_path / "guard.exit"
        self.python = tmp_path / "spec-kitty-venv" / "bin" / "python"
        self.python.parent.mkdir(parents=True)
        self.python.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$*\" >> '{self.log}'\n"
            f"exit $(cat '{self.exit_file}' 2>/dev/null || echo 0)\n"
        )
        self.python.chmod(0o755)
        self.writes = 0

    def implement(self, repo: Repo) -> bytes:
        """What hook_installer.install does: render, write a temp file, chmod 0o700,
        os.replace over .git/hooks/pre-commit (core.hooksPath or not)."""
        self.writes += 1
        text = RECORDED.read_text(encoding="utf-8").replace(RECORDED_PYTHON, str(self.python))
        # Each implement stamps its own time: the hook differs from the last one byte-wise.
        text = text.replace("# Installed: ", f"# Installed: {self.writes} ")
        hooks = repo.path / ".git" / "hooks"
        hooks.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="pre-commit.", dir=hooks)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o700)
        os.replace(tmp, hooks / "pre-commit")
        return text.encode()

    def runs(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def refuse(self, code: int) -> None:
        self.exit_file.write_text(f"{code}\n")
