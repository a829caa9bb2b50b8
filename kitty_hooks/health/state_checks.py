"""The doctor's checks of what kitty-hooks keeps: credentials, the queue and spool, the journal,
the last flush."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from kitty_hooks.errors import FatalError
from kitty_hooks.health.report import Check, CheckStatus, adder
from kitty_hooks.wording import age_text, plural

STALE_PENDING_SECONDS = 24 * 3600
# A commit the post-commit shim recorded is captured within a second or so by the drainer it
# starts; this old, with no drainer running, nobody is capturing it.
STUCK_JOURNAL_SECONDS = 10 * 60


# --- credentials and server ----------------------------------------------------------------


def credential_checks(now: datetime, probe: bool, checks: list[Check]) -> None:
    from kitty_hooks.deliver import credentials
    from kitty_hooks.health.status import AuthState, auth_health, check_server

    add = adder(checks, "credentials")
    health, creds = auth_health(now)
    where = credentials.credentials_path()
    if health.state is AuthState.MISSING:
        add(
            "file",
            CheckStatus.WARN,
            f"not logged in (no {where}): events wait in the queue; {credentials.LOGIN_HINT}",
        )
    elif health.state is AuthState.BROKEN:
        add("file", CheckStatus.FAIL, health.message)
    else:
        who = f"{health.username or 'unknown user'} on {health.server_url}"
        until = f"access until {health.access_expires or '?'}, refresh until {health.refresh_expires or '?'}"
        if health.state is AuthState.LOGIN_NEEDED:
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


def queue_checks(cwd: Path, now: datetime, checks: list[Check]) -> None:
    from kitty_hooks.capture.orphans import orphaned_ids
    from kitty_hooks.queue import spool
    from kitty_hooks.queue.database import default_queue_path
    from kitty_hooks.queue.entries import Status
    from kitty_hooks.queue.errors import QueueError, path_problem
    from kitty_hooks.queue.store import EventQueue

    add = adder(checks, "queue")
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
                entries = queue.list_entries(statuses=[Status.PENDING.value, Status.FAILED.value])
                recovered = queue.recovered_from
                node = queue.node_id()
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
            add("file", CheckStatus.OK, f"{path} is readable (node {node}: its own Lamport clock)")
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


def journal_checks(now: datetime, checks: list[Check]) -> None:
    from kitty_hooks.capture import journal

    add = adder(checks, "journal")
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


def flush_checks(checks: list[Check]) -> None:
    from kitty_hooks.deliver.backoff import read_state
    from kitty_hooks.deliver.summary import FlushOutcome as Outcome

    add = adder(checks, "flush")
    state = read_state()
    last = state.last
    if last is None:
        add("last", CheckStatus.OK, "no flush yet")
    else:
        text = (
            f"{last.at}: {last.outcome}, Synced: {last.synced}, Duplicates: {last.duplicates}, "
            f"Failed: {last.failed}" + (f" ({last.message})" if last.message else "")
        )
        # The record holds the outcome as the word it stores (a str): the members equal it.
        if last.outcome in (
            Outcome.LOGIN_NEEDED,
            Outcome.NO_CREDENTIALS,
            Outcome.PROTOCOL_MISMATCH,
        ):
            status = CheckStatus.FAIL
        elif (
            last.outcome in (Outcome.DONE, Outcome.NOTHING_TO_SEND, Outcome.BUSY)
            and not last.failed
        ):
            status = CheckStatus.OK
        else:
            status = CheckStatus.WARN
        add("last", status, text)
    if state.distrusted is not None:
        add(
            "backoff",
            CheckStatus.WARN,
            f"a backoff until {state.distrusted.isoformat(timespec='seconds')} is further ahead "
            "than any kitty-hooks sets (the clock went back?): ignored, the next push flushes",
        )
    after = state.next_attempt_after
    if after is not None and after > datetime.now(timezone.utc):
        add(
            "backoff",
            CheckStatus.WARN,
            f"backing off after {plural(state.consecutive_failures, 'failed flush', 'failed flushes')}: "
            f"pushes send nothing before {after.isoformat(timespec='seconds')} (`kitty-hooks sync` tries now)",
        )


# --- spec-kitty's own sync beside ours -------------------------------------------------------


def sender_checks(cwd: Path, checks: list[Check]) -> None:
    """Who sends this project's moves: kitty-hooks, and spec-kitty's own sync when it keeps a
    queue or outbox here (deliver/spec_kitty_sync.py decides which moves are whose)."""
    from kitty_hooks.deliver import spec_kitty_sync
    from kitty_hooks.queue.errors import QueueError
    from kitty_hooks.queue.store import EventQueue

    add = adder(checks, "senders")
    project = _project_uuid(cwd)
    try:
        with EventQueue() as queue:
            left = queue.left_to_spec_kitty()
    except QueueError:
        left = 0  # queue_checks says what is wrong with it
    stores = spec_kitty_sync.installed_senders([project] if project else [])
    if not stores:
        add(
            "sync",
            CheckStatus.OK,
            "kitty-hooks alone: spec-kitty's own sync keeps no queue or outbox for this project",
        )
        return
    so_far = f"{plural(left, 'move')} left to it so far" if left else "none left to it yet"
    for version, path, state in stores:
        if version == "3.x":
            add(
                "sync",
                CheckStatus.OK,
                f"kitty-hooks and spec-kitty 3.x's own sync ({path}): {state}; a move it sends "
                f"or sent goes by spec-kitty alone ({so_far})",
            )
        else:
            both = f"kitty-hooks and spec-kitty {version}'s own sync ({path}, {state})"
            add(
                "sync",
                CheckStatus.WARN,
                f"{both}: a move still in its queue is left to it ({so_far}), but one it sent "
                "before kitty-hooks flushed goes twice under two ids; run one of the two "
                "(unset SPEC_KITTY_ENABLE_SAAS_SYNC, or KITTY_HOOKS=0)",
            )


def _project_uuid(cwd: Path) -> str | None:
    """This repository's project uuid, as capture puts it in every envelope; None outside one."""
    from kitty_hooks.capture.identity import project_identity
    from kitty_hooks.gitrepo.repo import repo_layout
    from kitty_hooks.model.layout import PROJECT_CONFIG

    try:
        layout = repo_layout(cwd)
        config = layout.top / PROJECT_CONFIG
        text = config.read_bytes() if config.is_file() else None
        return project_identity(layout, text, lambda: None).project_uuid
    except (FatalError, OSError):
        return None
