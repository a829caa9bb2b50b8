"""The doctor's checks of the hooks and what they run in: shims, PATH, environment, versions."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from kitty_hooks import __version__
from kitty_hooks.errors import FatalError
from kitty_hooks.githooks.install import (
    CURRENT_SHIM_VERSION,
    DEFAULT_HOOK_TYPES,
    HOOK_IDS,
    HookKind,
    HookState,
    inspect_hook,
    inspect_hooks,
    package_dir,
)
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.health.report import Check, CheckAdder, CheckStatus, adder
from kitty_hooks.locations import hooks_disabled

# What a GUI git client (Finder- or Start-menu-launched) gives hooks: no shell profile was read.
GUI_PATH = "/usr/bin:/bin"
# The pre-commit framework's configuration, where a repository lists the hooks it runs.
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
_PACKAGE_DIR = package_dir()


# --- hooks ---------------------------------------------------------------------------------


def hook_checks(cwd: Path, checks: list[Check]) -> list[HookState]:
    add = adder(checks, "hooks")
    try:
        top = git_repo.repo_root(cwd)
        common = git_repo.common_dir(cwd)
        states = inspect_hooks(cwd)
    except FatalError:
        add(
            "repository",
            CheckStatus.WARN,
            f"{cwd} is not in a git repository: run doctor in one to check its hooks",
        )
        return []
    hooks_dir = states[0].path.parent
    configured = git_repo.config_get(cwd, "core.hooksPath")
    if configured is not None:
        add(
            "core.hooksPath",
            CheckStatus.OK,
            f"set to {configured}: git runs hooks from {hooks_dir}",
        )
        default_dir = common / "hooks"
        stranded = [
            s.hook
            for s in (inspect_hook(default_dir / h, h) for h in DEFAULT_HOOK_TYPES)
            if s.kind is HookKind.OURS
        ]
        if stranded and default_dir.resolve() != hooks_dir:
            add(
                "core.hooksPath",
                CheckStatus.WARN,
                f"our {', '.join(stranded)} shims in {default_dir} never run (core.hooksPath wins): "
                "run `kitty-hooks install` to put them where git looks",
            )
    listed = _framework_ids(top, add)
    if all(s.kind is HookKind.MISSING for s in states) and not listed:
        add("install", CheckStatus.FAIL, f"no hooks in {hooks_dir}: run `kitty-hooks install`")
        return states
    for state in states:
        _one_hook(state, listed, add)
    return states


def _one_hook(state: HookState, listed: set[str], add: CheckAdder) -> None:
    hook_id = HOOK_IDS[state.hook]
    if state.kind is HookKind.OURS:
        text = f"ours (shim {state.shim_version})"
        if state.guard is not None:
            text += f", runs spec-kitty's commit guard ({state.guard.name}) first"
        if state.legacy is not None:
            if state.legacy_runs:
                text += f", runs {state.legacy.name} first"
            else:
                add(
                    state.hook,
                    CheckStatus.WARN,
                    f"{state.legacy.name} is chained but not executable, so it never runs: chmod +x {state.legacy}",
                )
        if state.python is not None and not state.python.startswith("@"):
            if not os.access(state.python, os.X_OK):
                add(
                    state.hook,
                    CheckStatus.FAIL,
                    f"the shim's interpreter {state.python} is gone: the hook falls back to "
                    "`kitty-hooks` on PATH, or does nothing; run `kitty-hooks install` again",
                )
                return
            if state.package and not os.path.isfile(os.path.join(state.package, "__main__.py")):
                add(
                    state.hook,
                    CheckStatus.FAIL,
                    f"the shim's kitty-hooks package {state.package} is gone (uninstalled?): "
                    "run `kitty-hooks install` again",
                )
                return
        add(state.hook, CheckStatus.OK, text)
    elif state.kind is HookKind.PRE_COMMIT_FRAMEWORK:
        if hook_id in listed:
            add(
                state.hook,
                CheckStatus.OK,
                f"the pre-commit framework runs {hook_id} ({PRE_COMMIT_CONFIG})",
            )
        else:
            add(
                state.hook,
                CheckStatus.FAIL,
                f"the pre-commit framework's hook, but {PRE_COMMIT_CONFIG} does not list {hook_id}: "
                "add it there",
            )
    elif state.kind is HookKind.SPEC_KITTY:
        _spec_kitty_guard(state, listed, add)
    elif state.kind is HookKind.OTHER:
        add(
            state.hook,
            CheckStatus.FAIL,
            f"{state.path} is another tool's hook, not ours: `kitty-hooks install` puts ours "
            f"back and runs that one first (as {state.hook}.legacy)",
        )
    elif hook_id in listed:
        add(
            state.hook,
            CheckStatus.WARN,
            f"{hook_id} is in {PRE_COMMIT_CONFIG} but the framework is not installed for it: "
            f"`pre-commit install -t {state.hook}`",
        )
    else:
        add(
            state.hook,
            CheckStatus.WARN,
            f"not installed: `kitty-hooks install -t {state.hook}` adds it",
        )


def _spec_kitty_guard(state: HookState, listed: set[str], add: CheckAdder) -> None:
    """spec-kitty's `agent action implement` wrote its commit guard over the pre-commit hook."""
    what = f"{state.path} is spec-kitty's commit guard (its `agent action implement` writes it)"
    if state.gate_recorded:
        add(
            state.hook,
            CheckStatus.FAIL,
            f"{what} in place of our gate: the next post-commit, pre-push or post-rewrite hook "
            "of ours puts the gate back and runs the guard first; `kitty-hooks install` does "
            "it now",
        )
    elif HOOK_IDS[state.hook] in listed:
        add(
            state.hook,
            CheckStatus.FAIL,
            f"{what} in place of the pre-commit framework's hook, so "
            f"{HOOK_IDS[state.hook]} does not run: `pre-commit install -t {state.hook}` puts "
            f"the framework's back and runs the guard first (as {state.hook}.legacy)",
        )
    else:
        add(
            state.hook,
            CheckStatus.WARN,
            f"{what}; our gate is not installed: `kitty-hooks install -t {state.hook}` adds it "
            "and runs the guard first",
        )


def _framework_ids(top: Path, add: CheckAdder) -> set[str]:
    """Our hook ids that the repository's .pre-commit-config.yaml lists."""
    path = top / PRE_COMMIT_CONFIG
    if not path.is_file():
        return set()
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        ids = {
            str(hook.get("id"))
            for repo in (config or {}).get("repos", [])
            for hook in (repo.get("hooks") or [])
            if isinstance(hook, dict)
        }
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as exc:
        add(PRE_COMMIT_CONFIG, CheckStatus.WARN, f"cannot be read ({type(exc).__name__}): {exc}")
        return set()
    ours = ids & set(HOOK_IDS.values())
    if ours:
        add(PRE_COMMIT_CONFIG, CheckStatus.OK, f"lists {', '.join(sorted(ours))}")
    return ours


# --- what the hooks run in -----------------------------------------------------------------


def environment_checks(states: list[HookState], checks: list[Check]) -> None:
    add = adder(checks, "environment")
    if shutil.which("git", path=GUI_PATH) is None:
        add(
            "PATH",
            CheckStatus.WARN,
            f"no git on {GUI_PATH}: a GUI git client brings its own, check it finds hooks",
        )
    shims = [s for s in states if s.kind is HookKind.OURS]
    on_gui_path = shutil.which("kitty-hooks", path=GUI_PATH)
    needs_path = [
        s.hook
        for s in shims
        if not s.python or s.python.startswith("@") or not os.access(s.python, os.X_OK)
    ]
    if needs_path and on_gui_path is None:
        add(
            "PATH",
            CheckStatus.FAIL,
            f"{', '.join(needs_path)}: the shim looks for `kitty-hooks` on PATH, and a GUI git "
            f"client's PATH ({GUI_PATH}) has none: run `kitty-hooks install` again",
        )
    elif shims:
        add(
            "PATH",
            CheckStatus.OK,
            f"a GUI git client's bare PATH ({GUI_PATH}) is enough: the shims name their interpreter",
        )
    if hooks_disabled():
        add(
            "KITTY_HOOKS",
            CheckStatus.WARN,
            f"KITTY_HOOKS={os.environ['KITTY_HOOKS']} here: every hook of ours does nothing",
        )
    skipped = [
        i.strip() for i in os.environ.get("SKIP", "").split(",") if i.strip() in HOOK_IDS.values()
    ]
    if skipped:
        add(
            "SKIP",
            CheckStatus.WARN,
            f"SKIP names {', '.join(skipped)} here: those hooks of ours are skipped",
        )


def version_checks(states: list[HookState], checks: list[Check]) -> None:
    add = adder(checks, "version")
    shims = [s for s in states if s.kind is HookKind.OURS]
    old = [s.hook for s in shims if s.shim_version != CURRENT_SHIM_VERSION]
    if old:
        versions = sorted({s.shim_version or "?" for s in shims if s.hook in old})
        add(
            "shims",
            CheckStatus.WARN,
            f"{', '.join(old)}: shim {', '.join(versions)}, this kitty-hooks writes "
            f"{CURRENT_SHIM_VERSION}: run `kitty-hooks install` to update",
        )
    # The same marker and package, other content: shims an earlier release of this installation
    # wrote (pip upgrade without `install`). They still work, the slow way where a path they name
    # has moved (the journal, the worker: they fall back to Python in the foreground).
    stale = [
        s.hook
        for s in shims
        if s.shim_version == CURRENT_SHIM_VERSION
        and not s.current
        and s.package
        and os.path.realpath(s.package) == os.path.realpath(_PACKAGE_DIR)
    ]
    if stale:
        add(
            "shims",
            CheckStatus.WARN,
            f"{', '.join(stale)}: written by an earlier kitty-hooks {CURRENT_SHIM_VERSION} shim "
            "template: run `kitty-hooks install` to update (they also update themselves the "
            "next time one of them starts Python)",
        )
    elsewhere = {
        s.package
        for s in shims
        if s.package and os.path.realpath(s.package) != os.path.realpath(_PACKAGE_DIR)
    }
    for package in sorted(p for p in elsewhere if p):
        theirs = _package_version(package)
        status = CheckStatus.OK if theirs == __version__ else CheckStatus.WARN
        add(
            "package",
            status,
            f"the shims run kitty-hooks {theirs or '?'} from {package}; this is {__version__} "
            f"from {_PACKAGE_DIR}"
            + (
                ""
                if status is CheckStatus.OK
                else ": run `kitty-hooks install` with the one you want"
            ),
        )
    if shims and not old and not stale and not elsewhere:
        add("shims", CheckStatus.OK, f"shim {CURRENT_SHIM_VERSION}, kitty-hooks {__version__}")


def _package_version(package: str) -> str | None:
    try:
        text = Path(package, "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    return found.group(1) if found else None
