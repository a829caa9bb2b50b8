"""After an upgrade of kitty-hooks, the shims an earlier release installed are rewritten the first
time one of them starts Python: nobody has to remember `kitty-hooks install` to get this
release's shims (hooks/*: what starts no Python, the journal)."""

from __future__ import annotations

import os
import re
import subprocess
import zlib
from pathlib import Path

import pytest

from kitty_hooks.githooks.install import (
    DEFAULT_HOOK_TYPES,
    HookKind,
    inspect_hook,
    inspect_hooks,
    install_hooks,
    refresh_stale_shims,
)
from kitty_hooks.gitrepo.repo import hooks_dir
from tests.gitutil import KITTY_HOOKS, Repo

WP = "kitty-specs/039-x/tasks/WP01-x.md"


# The pre-commit template of the release that kept one template per hook (hooks/<hook>, its
# name in `hook=`), as it shipped.
PER_HOOK_TEMPLATE = Path(__file__).parent.parent / "shims" / "kitty-hooks-shim-v2"


def before_template_ids(shim: bytes, hook: str) -> bytes:
    """The shim as a release before `template=` wrote it: no `template=` line, nothing passed
    in KITTY_HOOKS_SHIM."""
    text = shim.decode()
    text = re.sub(r"# Which template this shim.*?\ntemplate=\S+\n", "", text, flags=re.S)
    return text.replace("KITTY_HOOKS_SHIM=$template ", "").encode()


def per_hook_templates(shim: bytes, hook: str) -> bytes:
    """The shim exactly as `install` wrote it from one template per hook: that hook's template,
    baked with the interpreter and package this one names, and that template's checksum."""
    baked = {
        name: re.search(rf"(?m)^{name}=(.*)$", shim.decode()).group(1)  # type: ignore[union-attr]
        for name in ("python", "package")
    }
    template = PER_HOOK_TEMPLATE.read_bytes().replace(
        b"\nhook=pre-commit\n", f"\nhook={hook}\n".encode()
    )
    return (
        template.replace(b"@KITTY_HOOKS_PYTHON@", baked["python"].encode())
        .replace(b"@KITTY_HOOKS_PACKAGE@", baked["package"].encode())
        .replace(b"@KITTY_HOOKS_TEMPLATE@", f"{zlib.crc32(template):08x}".encode())
    )


EARLIER_RELEASES = {
    "before-template-ids": before_template_ids,
    "per-hook-templates": per_hook_templates,
}


def downgrade(repo: Repo, release: str = "per-hook-templates") -> Path:
    install_hooks(repo.path)
    directory = hooks_dir(repo.path)
    for hook in DEFAULT_HOOK_TYPES:
        shim = directory / hook
        shim.write_bytes(EARLIER_RELEASES[release](shim.read_bytes(), hook))
    assert not any(state.current for state in inspect_hooks(repo.path))
    return directory


def commit_a_move(repo: Repo, lane: str) -> subprocess.CompletedProcess[str]:
    """A commit that stages a WP file: the pre-commit shim starts Python for the gate."""
    repo.write(WP, f"---\nwork_package_id: WP01\nlane: {lane}\n---\n")
    repo.git("add", "-A")
    return repo.git("commit", "-q", "-m", f"WP01 {lane}")


@pytest.mark.parametrize("release", EARLIER_RELEASES)
def test_an_older_shim_that_starts_python_brings_every_shim_up_to_date(
    repo: Repo, release: str
) -> None:
    directory = downgrade(repo, release)
    before = {hook: inspect_hook(directory / hook, hook) for hook in DEFAULT_HOOK_TYPES}
    done = commit_a_move(repo, "planned")
    assert done.returncode == 0
    assert (
        f"kitty-hooks: updated {len(DEFAULT_HOOK_TYPES)} hooks ({', '.join(DEFAULT_HOOK_TYPES)}) "
        f"in {directory} to this release's shims"
    ) in done.stderr
    for state in inspect_hooks(repo.path):
        assert state.kind is HookKind.OURS and state.current
        assert (state.python, state.package) == (
            before[state.hook].python,
            before[state.hook].package,
        )
    # This release's shims say which template they are: the next commit changes nothing.
    again = commit_a_move(repo, "claimed")
    assert again.returncode == 0 and "kitty-hooks: updated" not in again.stderr


def test_only_our_shims_of_this_installation_are_rewritten(repo: Repo) -> None:
    directory = downgrade(repo)
    other = re.sub(
        rb"(?m)^package=.*$",
        b"package=/opt/another/kitty_hooks",
        (directory / "pre-push").read_bytes(),
    )
    (directory / "pre-push").write_bytes(other)
    (directory / "post-rewrite").write_text("#!/bin/sh\necho someone else's\n")
    assert refresh_stale_shims(repo.path) == (
        directory,
        ["pre-commit", "post-commit", "post-merge"],
    )
    assert (directory / "pre-push").read_bytes() == other
    assert (directory / "post-rewrite").read_text() == "#!/bin/sh\necho someone else's\n"


def test_the_pre_commit_framework_run_rewrites_nothing(repo: Repo) -> None:
    directory = downgrade(repo)
    stale = (directory / "pre-commit").read_bytes()
    repo.write(WP, "---\nwork_package_id: WP01\nlane: planned\n---\n")
    repo.git("add", "-A")
    done = subprocess.run(
        [*KITTY_HOOKS, "hook", "pre-commit"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PRE_COMMIT": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert (directory / "pre-commit").read_bytes() == stale


def test_a_shim_it_must_leave_alone_costs_one_look_per_release_and_work_tree(
    repo: Repo, tmp_path: Path
) -> None:
    """Shims another installation of kitty-hooks wrote (its package elsewhere, this Python)."""
    from kitty_hooks.locations import state_dir

    directory = downgrade(repo)
    elsewhere = tmp_path / "elsewhere" / "kitty_hooks"
    elsewhere.mkdir(parents=True)
    (elsewhere / "__main__.py").write_text("")  # what the shim tests for before it runs Python
    for hook in DEFAULT_HOOK_TYPES:
        shim = directory / hook
        shim.write_bytes(
            re.sub(rb"(?m)^package=.*$", f"package={elsewhere}".encode(), shim.read_bytes())
        )
    theirs = (directory / "pre-commit").read_bytes()
    assert commit_a_move(repo, "planned").returncode == 0
    stamps = sorted((state_dir() / "shims-checked").iterdir())
    assert [s.name.split("-", 1)[1] for s in stamps] == ["post-commit", "pre-commit"]
    looked = [s.stat().st_ino for s in stamps]
    assert commit_a_move(repo, "claimed").returncode == 0
    assert [s.stat().st_ino for s in stamps] == looked  # not looked at again
    assert (directory / "pre-commit").read_bytes() == theirs


def test_a_look_that_fails_is_not_tried_again_on_every_run(tmp_path: Path) -> None:
    """Outside a repository (or with a hooks folder it cannot write) the look fails: the hook
    goes on, and the stamp keeps the next runs from paying for the look again."""
    from kitty_hooks.locations import state_dir

    nowhere = tmp_path / "not-a-repository"
    nowhere.mkdir()
    done = subprocess.run(
        [*KITTY_HOOKS, "hook", "pre-push", "origin", "url"],
        cwd=nowhere, capture_output=True, text=True, input="",
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr
    (stamp,) = (state_dir() / "shims-checked").iterdir()
    assert stamp.name.endswith("-pre-push")


def test_an_upgrade_records_the_installed_gate_so_a_replaced_one_is_healed(repo: Repo) -> None:
    """Installed before pre-commit.kitty-hooks existed: the refresh that brings the shims up to
    date records the gate, so spec-kitty's guard written over it later is healed."""
    from kitty_hooks.githooks.install import GATE_RECORD, is_spec_kitty_guard
    from tests.guardutil import Guard

    directory = downgrade(repo)
    (directory / GATE_RECORD).unlink()
    assert commit_a_move(repo, "planned").returncode == 0
    assert (directory / GATE_RECORD).is_file()

    Guard(repo.path.parent).implement(repo)
    healed = commit_a_move(repo, "claimed")

    assert "the kitty-hooks gate is back" in healed.stderr
    assert is_spec_kitty_guard(directory / "pre-commit.legacy")
