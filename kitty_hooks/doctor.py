"""`kitty-hooks doctor`: is this installation healthy? One check a line: ok, warn or fail.

Read-only, except what opening the queue always does (a corrupt file is moved aside, an older
queue's schema brought up to date, as every command does). A failure is what loses or blocks events: a hook that does not run ours, an
interpreter gone, credentials that cannot be used, a queue that cannot be read. A warning is
what someone should look at: dead letters, a backoff, a shim older than the package.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from kitty_hooks import __version__, gitrepo
from kitty_hooks.errors import FatalError
from kitty_hooks.install import (
    CURRENT_SHIM_VERSION,
    DEFAULT_HOOK_TYPES,
    HOOK_IDS,
    HookKind,
    HookState,
    inspect_hook,
    inspect_hooks,
)
from kitty_hooks.locations import hooks_disabled
from kitty_hooks.wording import age_text, plural

# What a GUI git client (Finder- or Start-menu-launched) gives hooks: no shell profile was read.
GUI_PATH = "/usr/bin:/bin"
# Our hook ids in .pre-commit-hooks.yaml, by the git hook they run in.
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
STALE_PENDING_SECONDS = 24 * 3600
# A commit the post-commit shim recorded is captured within a second or so by the drainer it
# starts; this old, with no drainer running, nobody is capturing it.
STUCK_JOURNAL_SECONDS = 10 * 60
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class CheckStatus(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    area: str
    """hooks | environment | credentials | server | queue | flush | version"""
    subject: str
    status: CheckStatus
    message: str


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    def count(self, status: CheckStatus) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(CheckStatus.FAIL) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "summary": {s.value: self.count(s) for s in CheckStatus},
            "checks": [{**asdict(c), "status": c.status.value} for c in self.checks],
        }


def run_doctor(cwd: Path, *, check_server: bool = False) -> DoctorReport:
    now = datetime.now(timezone.utc)
    checks: list[Check] = []
    states = _hook_checks(cwd, checks)
    _environment_checks(states, checks)
    _version_checks(states, checks)
    _credential_checks(now, check_server, checks)
    _queue_checks(cwd, now, checks)
    _journal_checks(now, checks)
    _flush_checks(checks)
    return DoctorReport(tuple(checks))


# --- hooks ---------------------------------------------------------------------------------


def _hook_checks(cwd: Path, checks: list[Check]) -> list[HookState]:
    add = _adder(checks, "hooks")
    try:
        top = gitrepo.repo_root(cwd)
        common = gitrepo.common_dir(cwd)
        states = inspect_hooks(cwd)
    except FatalError:
        add(
            "repository",
            CheckStatus.WARN,
            f"{cwd} is not in a git repository: run doctor in one to check its hooks",
        )
        return []
    hooks_dir = states[0].path.parent
    configured = gitrepo.config_get(cwd, "core.hooksPath")
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


def _one_hook(state: HookState, listed: set[str], add: Any) -> None:
    hook_id = HOOK_IDS[state.hook]
    if state.kind is HookKind.OURS:
        text = f"ours (shim {state.shim_version})"
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


def _framework_ids(top: Path, add: Any) -> set[str]:
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


def _environment_checks(states: list[HookState], checks: list[Check]) -> None:
    add = _adder(checks, "environment")
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


def _version_checks(states: list[HookState], checks: list[Check]) -> None:
    add = _adder(checks, "version")
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
    if shims and not old and not elsewhere:
        add("shims", CheckStatus.OK, f"shim {CURRENT_SHIM_VERSION}, kitty-hooks {__version__}")


def _package_version(package: str) -> str | None:
    try:
        text = Path(package, "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    return found.group(1) if found else None


# --- credentials and server ----------------------------------------------------------------


def _credential_checks(now: datetime, probe: bool, checks: list[Check]) -> None:
    from kitty_hooks.deliver import credentials
    from kitty_hooks.status import auth_health, check_server

    add = _adder(checks, "credentials")
    health, creds = auth_health(now)
    where = credentials.credentials_path()
    if health.state == "missing":
        add(
            "file",
            CheckStatus.WARN,
            f"not logged in (no {where}): events wait in the queue; `spec-kitty auth login`",
        )
    elif health.state == "broken":
        add("file", CheckStatus.FAIL, health.message)
    else:
        who = f"{health.username or 'unknown user'} on {health.server_url}"
        until = f"access until {health.access_expires or '?'}, refresh until {health.refresh_expires or '?'}"
        if health.state == "login-needed":
            add("session", CheckStatus.FAIL, f"{who}: {health.message}")
        else:
            add("session", CheckStatus.OK, f"{who}: {health.message}; {until}")
    if health.warning:
        add("mode", CheckStatus.WARN, health.warning)
    elif creds is not None:
        add("mode", CheckStatus.OK, f"{where} is private (0600)")
    if probe:
        result = check_server(creds)
        status = CheckStatus.OK if result.ok else CheckStatus.FAIL
        checks.append(Check("server", "probe", status, result.message))


# --- queue and flush -----------------------------------------------------------------------


def _queue_checks(cwd: Path, now: datetime, checks: list[Check]) -> None:
    from kitty_hooks.capture.orphans import orphaned_ids
    from kitty_hooks.queue import spool
    from kitty_hooks.queue.database import default_queue_path
    from kitty_hooks.queue.errors import QueueError, path_problem
    from kitty_hooks.queue.store import EventQueue

    add = _adder(checks, "queue")
    path = default_queue_path()
    if not os.path.lexists(path):
        add("file", CheckStatus.OK, f"no queue yet at {path}: nothing captured")
    else:
        problem = path_problem(path)
        if problem is not None:
            add("file", CheckStatus.FAIL, problem)
            return
        try:
            with EventQueue(path) as queue:
                stats = queue.stats()
                entries = queue.list_entries(statuses=["pending", "failed"])
                recovered = queue.recovered_from
        except QueueError as exc:
            add("file", CheckStatus.FAIL, str(exc))
            return
        if recovered is not None:
            add(
                "file",
                CheckStatus.WARN,
                f"was unreadable and was moved to {recovered}; a new one was started",
            )
        else:
            add("file", CheckStatus.OK, f"{path} is readable")
        age = None
        if stats.oldest_created_at:
            age = (now - datetime.fromisoformat(stats.oldest_created_at)).total_seconds()
        counts = (
            f"{stats.total_pending} pending, {stats.total_failed} failed, "
            f"{plural(stats.total_dead_letter, 'dead letter')}"
            + (f", the oldest {age_text(age)} old" if age is not None else "")
        )
        if stats.total_dead_letter:
            add(
                "events",
                CheckStatus.WARN,
                f"{counts}: `kitty-hooks queue list --status dead_letter`, then `queue retry --all-dead` or `queue purge --dead`",
            )
        elif stats.total_failed:
            add(
                "events",
                CheckStatus.WARN,
                f"{counts}: the server refused some; `kitty-hooks queue list --status failed` says why",
            )
        elif age is not None and age > STALE_PENDING_SECONDS:
            add(
                "events",
                CheckStatus.WARN,
                f"{counts}: nothing sent for a day; `kitty-hooks sync` sends now",
            )
        else:
            add("events", CheckStatus.OK, counts)
        try:
            orphaned, _ = orphaned_ids(cwd, entries)
        except FatalError as exc:
            add("orphaned", CheckStatus.WARN, f"cannot tell which events' commits are gone: {exc}")
        else:
            if orphaned:
                add(
                    "orphaned",
                    CheckStatus.WARN,
                    f"{plural(len(orphaned), 'queued event')} from commits no ref reaches any more "
                    "(a reset?): `kitty-hooks queue drop --orphaned`",
                )
    spooled = sorted(spool.spool_dir().glob("*.json")) if spool.spool_dir().is_dir() else []
    if spooled:
        add(
            "spool",
            CheckStatus.WARN,
            f"{plural(len(spooled), 'spool file')} wait in {spool.spool_dir()}: the next commit or sync takes them in",
        )
    unreadable = (
        sorted(spool.spool_dir().glob("*.unreadable")) if spool.spool_dir().is_dir() else []
    )
    if unreadable:
        add(
            "spool",
            CheckStatus.WARN,
            f"{plural(len(unreadable), 'spool file')} could not be read and were set aside in {spool.spool_dir()}",
        )


def _journal_checks(now: datetime, checks: list[Check]) -> None:
    from kitty_hooks.capture import journal

    add = _adder(checks, "journal")
    state = journal.state(now.timestamp())
    if state.waiting:
        age = state.oldest_age_seconds or 0.0
        waiting = (
            f"{plural(state.waiting, 'commit')} recorded by the post-commit hook wait to be "
            f"captured, the oldest {age_text(age)} old"
        )
        if age > STUCK_JOURNAL_SECONDS and state.drainer_pid is None:
            add(
                "commits",
                CheckStatus.FAIL,
                f"{waiting}, and no capture is running: `kitty-hooks status` captures them now; "
                "the log says why they were not",
            )
        else:
            running = f" (capture running, pid {state.drainer_pid})" if state.drainer_pid else ""
            add("commits", CheckStatus.OK, waiting + running)
    else:
        add("commits", CheckStatus.OK, "every recorded commit is captured")
    if state.notes:
        add(
            "notes",
            CheckStatus.WARN,
            f"{plural(len(state.notes), 'note')} from background captures not shown yet "
            "(`kitty-hooks status` lists them; the next hook prints them)",
        )


def _flush_checks(checks: list[Check]) -> None:
    from kitty_hooks.deliver.backoff import read_state

    add = _adder(checks, "flush")
    state = read_state()
    last = state.last
    if last is None:
        add("last", CheckStatus.OK, "no flush yet")
    else:
        text = (
            f"{last.at}: {last.outcome}, Synced: {last.synced}, Duplicates: {last.duplicates}, "
            f"Failed: {last.failed}" + (f" ({last.message})" if last.message else "")
        )
        if last.outcome in ("login-needed", "no-credentials"):
            status = CheckStatus.FAIL
        elif last.outcome in ("done", "nothing-to-send", "busy") and not last.failed:
            status = CheckStatus.OK
        else:
            status = CheckStatus.WARN
        add("last", status, text)
    after = state.next_attempt_after
    if after is not None and after > datetime.now(timezone.utc):
        add(
            "backoff",
            CheckStatus.WARN,
            f"backing off after {plural(state.consecutive_failures, 'failed flush', 'failed flushes')}: "
            f"pushes send nothing before {after.isoformat(timespec='seconds')} (`kitty-hooks sync` tries now)",
        )


# --- small words ---------------------------------------------------------------------------


def _adder(checks: list[Check], area: str) -> Any:
    def add(subject: str, status: CheckStatus, message: str) -> None:
        checks.append(Check(area, subject, status, message))

    return add
