"""`kitty-hooks status`: the queue, the last flush, the credentials, and (--check) the server."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kitty_hooks.deliver import credentials, refresh
from kitty_hooks.deliver.backoff import FlushRecord, read_state
from kitty_hooks.model.vocabulary import Vocabulary
from kitty_hooks.queue.entries import QueueStats
from kitty_hooks.queue.store import EventQueue


class AuthState(Vocabulary):
    """How usable the credentials file is; the value is what status prints and its JSON holds."""

    OK = "ok"
    EXPIRING = "expiring"  # refreshed at the next flush
    LOGIN_NEEDED = "login-needed"
    MISSING = "missing"
    BROKEN = "broken"  # there, but unusable


@dataclass(frozen=True)
class AuthHealth:
    state: AuthState
    message: str
    username: str | None = None
    server_url: str | None = None
    access_expires: str | None = None
    refresh_expires: str | None = None
    warning: str | None = None
    """Set when the file is open to other users (it still works: see credentials.exposure_warning)."""


@dataclass(frozen=True)
class ServerCheck:
    ok: bool
    status_code: int
    message: str


@dataclass(frozen=True)
class StatusReport:
    queue_path: str
    queue_recovered_from: str | None
    """Where an unreadable queue file was moved (its events are in it) when this opened it."""
    queue: QueueStats
    oldest_event_age_seconds: float | None
    last_flush: FlushRecord | None
    next_attempt_after: str | None
    auth: AuthHealth
    check: ServerCheck | None
    notes: list[str]
    """What background captures had to say, not yet shown by a hook (journal/notes)."""
    left_to_spec_kitty: int = 0
    """Moves not sent because spec-kitty's own sync sends them (deliver/spec_kitty_sync.py)."""

    @property
    def exit_code(self) -> int:
        # A credentials file that is there but unusable is an environment error, like an
        # unusable queue; never having logged in is a state, not an error.
        if self.auth.state is AuthState.BROKEN:
            return 2
        return 1 if self.check is not None and not self.check.ok else 0

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["queue"] = {
            **self.queue._asdict(),
            "oldest_event_age_seconds": self.oldest_event_age_seconds,
        }
        document.pop("oldest_event_age_seconds")
        return document


def gather_status(*, check: bool = False, queue_path: Path | None = None) -> StatusReport:
    from kitty_hooks.capture import journal

    journal.drain()  # the commits the post-commit shim recorded are counted, not missed
    notes = journal.state().notes
    now = datetime.now(timezone.utc)
    with EventQueue(queue_path) as queue:
        stats = queue.stats()
        left = queue.left_to_spec_kitty()
        path = str(queue.path)
        recovered = str(queue.recovered_from) if queue.recovered_from else None
    age = None
    if stats.oldest_created_at:
        age = max(0.0, (now - datetime.fromisoformat(stats.oldest_created_at)).total_seconds())
    state = read_state()
    health, creds = auth_health(now)
    return StatusReport(
        queue_path=path,
        queue_recovered_from=recovered,
        queue=stats,
        oldest_event_age_seconds=age,
        last_flush=state.last,
        next_attempt_after=state.next_attempt_after.isoformat(timespec="seconds")
        if state.next_attempt_after
        else None,
        auth=health,
        check=check_server(creds) if check else None,
        notes=notes,
        left_to_spec_kitty=left,
    )


def auth_health(now: datetime) -> tuple[AuthHealth, credentials.Credentials | None]:
    health, creds = _auth_state(now)
    warning = credentials.exposure_warning()
    return (replace(health, warning=warning) if warning else health), creds


def _auth_state(now: datetime) -> tuple[AuthHealth, credentials.Credentials | None]:
    try:
        creds = credentials.load_credentials()
    except credentials.CredentialsError as exc:
        missing = not credentials.credentials_path().exists()
        return AuthHealth(AuthState.MISSING if missing else AuthState.BROKEN, str(exc)), None
    expires = {
        "access_expires": creds.access_expires.isoformat() if creds.access_expires else None,
        "refresh_expires": creds.refresh_expires.isoformat() if creds.refresh_expires else None,
    }
    who = {"username": creds.username, "server_url": creds.server_url, **expires}
    if creds.refresh_expires is not None and creds.refresh_expires <= now:
        return AuthHealth(
            AuthState.LOGIN_NEEDED, f"the session is over: {credentials.LOGIN_HINT}", **who
        ), creds
    if refresh.needs_refresh(creds, now=now):
        return AuthHealth(
            AuthState.EXPIRING,
            "the access token is (nearly) expired; the next flush refreshes it",
            **who,
        ), creds
    return AuthHealth(AuthState.OK, "credentials valid", **who), creds


def check_server(creds: credentials.Credentials | None) -> ServerCheck:
    if creds is None:
        return ServerCheck(False, 0, "no usable credentials to check the server with")
    from kitty_hooks.deliver.client import Client

    try:
        creds = refresh.fresh(creds, now=datetime.now(timezone.utc))
    except credentials.CredentialsError as exc:
        return ServerCheck(False, 401, str(exc))
    except refresh.RefreshFailed as exc:
        return ServerCheck(False, 0, f"token refresh failed: {exc}")
    with Client(creds.server_url) as client:
        code, words = client.probe(creds.access)
    return ServerCheck(code == 200, code, f"{creds.server_url}: {words}")
