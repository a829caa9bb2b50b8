"""The token refresh that keeps the credentials file fresh, at most once across processes.

We write the expiries where spec-kitty 2.1.3 reads them (``[tokens] access_expires_at`` /
``refresh_expires_at``); it takes a token without one for expired. We also update the seed's
``[expiries]`` where the file still has it. Every other section and key stays as it was.

This module is the one way to fresh credentials: ``fresh`` before a flush or a probe,
``refresh_tokens(force=True)`` after a 401. It decides when to refresh and asks client.py (the
one module that speaks HTTP). It serialises refreshes across processes. It writes the answer to
disk without ever leaving a half-written file. ``outcome_of`` is the one mapping from its errors
to a flush outcome. Tokens never reach a message, a log line or a repr: a token in a bug report
is a stolen session.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kitty_hooks.deliver.credentials import (
    LOGIN_HINT,
    Credentials,
    CredentialsError,
    credentials_from,
    load_credentials,
    read_document,
    shown_path,
)
from kitty_hooks.deliver.summary import FlushOutcome
from kitty_hooks.files import write_atomically
from kitty_hooks.locations import log_line

REFRESH_MARGIN = timedelta(minutes=5)
# Another process holding the refresh lock is waiting on one refresh request at most, so this
# must be longer than that request's own connect + read timeout (client.DEFAULT_TIMEOUT).
LOCK_TIMEOUT = 45.0
# spec-kitty takes its own lock for 10 s; we take it the same way, and only around a write.
SPEC_KITTY_LOCK_TIMEOUT = 10.0
REFRESH_RETRIES = 1
"""A refresh that got no answer is sent again at once, this many times: the server may have
rotated the refresh token and lost its answer, and takes the old one again for a while
(docs/contract.md: the refresh grace)."""


class SessionExpired(CredentialsError):
    """The refresh token is over: only a new login helps (queued events stay queued)."""

    def __init__(self, message: str = f"session expired: {LOGIN_HINT}") -> None:
        super().__init__(message)


class RefreshFailed(Exception):
    """A refresh that may work later (network, 5xx, a garbled answer, a busy lock): back off."""


ERRORS = (CredentialsError, RefreshFailed)
"""What getting fresh credentials may raise; ``outcome_of`` says what each means for a flush."""


def outcome_of(exc: CredentialsError | RefreshFailed) -> tuple[FlushOutcome, str]:
    """The flush outcome and its message for an error of ``fresh`` or ``refresh_tokens``.

    Only RETRY_LATER is worth a backoff: the other two wait for the user.
    """
    if isinstance(exc, SessionExpired):
        return FlushOutcome.LOGIN_NEEDED, str(exc)
    if isinstance(exc, CredentialsError):
        return FlushOutcome.NO_CREDENTIALS, str(exc)
    return FlushOutcome.RETRY_LATER, f"token refresh failed: {exc}"


@dataclass(frozen=True)
class RefreshResponse:
    """What the server answered a refresh with. Lifetimes are seconds; None when not sent."""

    access: str
    refresh: str
    access_lifetime: float | None = None
    refresh_lifetime: float | None = None

    def __repr__(self) -> str:
        return (
            "RefreshResponse(access='…(redacted)', refresh='…(redacted)', "
            f"access_lifetime={self.access_lifetime!r}, refresh_lifetime={self.refresh_lifetime!r})"
        )


def parse_refresh_response(body: object, refresh_token: str) -> RefreshResponse:
    """Read the JSON of a 200 answer to ``POST /api/v1/token/refresh/``.

    ``refresh_token`` is the one that was sent: a server that does not rotate refresh tokens
    answers with an access token only. Lifetimes may be numbers or numeric strings, spelled
    ``access_lifetime``/``expires_in`` and ``refresh_lifetime``/``refresh_expires_in`` (as the
    spec-kitty CLI reads them). A bad lifetime is read as "not sent", never as a failure: by the
    time the answer arrives the server may have retired the old refresh token, and throwing the
    new tokens away would end the session.
    """
    if not isinstance(body, dict):
        raise RefreshFailed(
            "the server answered the token refresh with something other than a JSON object"
        )
    access = body.get("access")
    if not isinstance(access, str) or not access:
        raise RefreshFailed('the server answered the token refresh without an "access" token')
    refresh = body.get("refresh")
    return RefreshResponse(
        access=access,
        refresh=refresh if isinstance(refresh, str) and refresh else refresh_token,
        access_lifetime=_seconds(body.get("access_lifetime", body.get("expires_in"))),
        refresh_lifetime=_seconds(body.get("refresh_lifetime", body.get("refresh_expires_in"))),
    )


def needs_refresh(creds: Credentials, *, now: datetime | None = None) -> bool:
    """Whether the access token has expired or expires within REFRESH_MARGIN.

    An unknown expiry is not a reason: the server's 401 on a batch is (``force=True``).
    """
    if creds.access_expires is None:
        return False
    return creds.access_expires - REFRESH_MARGIN <= _instant(now)


def fresh(creds: Credentials | None = None, *, now: datetime | None = None) -> Credentials:
    """The credentials (``creds``, or the file's), refreshed first when they need it.

    A token that is still fresh costs no lock and no request. Raises one of ERRORS.
    """
    if creds is None:
        creds = load_credentials()
    if not needs_refresh(creds, now=now):
        return creds
    return refresh_tokens(creds, now=now)


def refresh_tokens(
    creds: Credentials,
    *,
    now: datetime | None = None,
    force: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Credentials:
    """Refresh the tokens if they need it (or ``force``), at most once across processes.

    ``now`` is the instant the refresh starts. Expiries are counted from it: the server dates its
    tokens a little later, so ours err on the early side. The request raises SessionExpired on
    401, RefreshFailed otherwise.

    When the server sends no lifetime, the token's own JWT ``exp`` claim dates it; failing that, an
    unchanged refresh token keeps its expiry and a new token's expiry is left out (unknown: the
    next 401 refreshes it).
    """
    started = _instant(now)
    path = creds.path
    with locked(path.with_name(path.name + ".kitty-hooks.lock"), lock_timeout):
        # Whoever held the lock before us may have refreshed already: the file, not our copy, says.
        on_disk = load_credentials(path)
        if on_disk.access != creds.access and not needs_refresh(on_disk, now=started):
            log_line(f"credentials: {shown_path(path)} was refreshed by another process; using it")
            return on_disk
        if not force and not needs_refresh(on_disk, now=started):
            return on_disk
        if on_disk.refresh_expires is not None and on_disk.refresh_expires <= started:
            raise SessionExpired(
                f"session expired (the refresh token in {shown_path(path)} expired at "
                f"{on_disk.refresh_expires.isoformat(timespec='seconds')}): {LOGIN_HINT}"
            )
        try:
            answer = _request(on_disk.server_url, on_disk.refresh)
        except SessionExpired:
            # spec-kitty refreshes without our lock: if it rotated the refresh token just before
            # we sent the old one, the 401 is about a token that is already gone, not the session.
            replaced = _replaced_since(on_disk)
            if replaced is not None:
                return replaced
            raise
        return _save(on_disk, answer, started)


def _request(server_url: str, refresh_token: str) -> RefreshResponse:
    """POST the refresh token (client.py speaks the HTTP); a lost answer is asked again."""
    from kitty_hooks.deliver.client import AuthRejected, Client, NoAnswer, RetryLater

    with Client(server_url) as client:
        for attempt in range(REFRESH_RETRIES + 1):
            try:
                answer = client.refresh(refresh_token)
                break
            except AuthRejected as exc:
                raise SessionExpired(
                    f"session expired: {LOGIN_HINT} (queued events are kept)"
                ) from exc
            except NoAnswer as exc:
                if attempt == REFRESH_RETRIES:
                    raise RefreshFailed(str(exc)) from exc
                log_line(f"flush: the token refresh got no answer ({exc}); sending it again")
            except RetryLater as exc:
                raise RefreshFailed(str(exc)) from exc
    return parse_refresh_response(answer, refresh_token)


@contextlib.contextmanager
def locked(lock_path: Path, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout  # only the refresh path needs it

    lock = FileLock(lock_path, timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise RefreshFailed(
            f"another process has held {shown_path(lock_path)} for {timeout:g} s; try the token refresh later"
        ) from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot create the lock file {shown_path(lock_path)} ({exc.strerror}): "
            f"check the permissions of {shown_path(lock_path.parent)}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _replaced_since(seen: Credentials) -> Credentials | None:
    """The credentials on disk, if their refresh token is no longer the one in ``seen``."""
    try:
        current = load_credentials(seen.path)
    except CredentialsError:  # spec-kitty deletes the file on its own 401: the session is over
        return None
    return current if current.refresh != seen.refresh else None


def _save(before: Credentials, answer: RefreshResponse, started: datetime) -> Credentials:
    path = before.path
    # spec-kitty's lock, held only while we re-read and write: never across the request, or a
    # spec-kitty command reading the file would wait on our network.
    with locked(path.with_suffix(".lock"), SPEC_KITTY_LOCK_TIMEOUT):
        document = read_document(path)
        current = credentials_from(document, path)
        if current.refresh != before.refresh:
            # The file was replaced while the request ran (a new login): the user's latest wins.
            log_line(
                f"credentials: {shown_path(path)} changed during the token refresh; keeping it"
            )
            return current
        _apply(document, answer, started, current)
        import tomli_w  # only the refresh path writes TOML

        write_credentials(path, tomli_w.dumps(document).encode("utf-8"))
    refreshed = credentials_from(document, path)
    expires = refreshed.access_expires.isoformat() if refreshed.access_expires else "unknown"
    log_line(f"credentials: refreshed the tokens in {shown_path(path)} (access expires {expires})")
    return refreshed


def _apply(
    document: dict[str, Any], answer: RefreshResponse, started: datetime, current: Credentials
) -> None:
    tokens = document["tokens"]
    tokens["access"] = answer.access
    access_expires = _expires(started, answer.access_lifetime) or _jwt_expiry(answer.access)
    refresh_expires = _expires(started, answer.refresh_lifetime)
    if answer.refresh != current.refresh:
        tokens["refresh"] = answer.refresh
        refresh_expires = refresh_expires or _jwt_expiry(answer.refresh)
    else:
        refresh_expires = refresh_expires or current.refresh_expires
    expiries = document.get("expiries")
    for which, when in (("access", access_expires), ("refresh", refresh_expires)):
        # An expiry we cannot date is removed, not kept: it would describe the old token.
        targets = [(tokens, f"{which}_expires_at")]
        if isinstance(expiries, dict):
            targets.append((expiries, which))
        for table, key in targets:
            if when is None:
                table.pop(key, None)
            else:
                table[key] = when.replace(microsecond=0).isoformat()
    if isinstance(expiries, dict) and not expiries:
        del document["expiries"]


def write_credentials(path: Path, data: bytes, *, what: str = "the refreshed tokens") -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise CredentialsError(
            f"cannot save {what} to {shown_path(path)} ({exc.strerror}): "
            f"free some space or fix its permissions, then {LOGIN_HINT}"
        ) from None


# --- small pieces ----------------------------------------------------------------------------


def _instant(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now


def _expires(started: datetime, lifetime: float | None) -> datetime | None:
    if lifetime is None:
        return None
    try:
        return started + timedelta(seconds=lifetime)
    except OverflowError:
        return None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds < 1e10 else None


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, read unverified: only to know when to refresh, never to trust."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            return None
        return datetime.fromtimestamp(exp, timezone.utc)
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None
