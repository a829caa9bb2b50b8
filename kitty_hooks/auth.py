"""The credentials file (~/.spec-kitty/credentials) and the token refresh that keeps it fresh.

The file belongs to the spec-kitty CLI as much as to us: `spec-kitty auth login` writes it, and
spec-kitty 2.1.3 rewrites it whole and reads its expiries only from ``[tokens] access_expires_at``
/ ``refresh_expires_at``. DESIGN.md documents ``[expiries] access`` / ``refresh``. So we read both
spellings (``[expiries]`` wins a key both have), write ``[expiries]``, also update spec-kitty's keys
where the file already has them (or spec-kitty would go on trusting the expiry of a token that no
longer exists), and keep every other section and key as it was.

No HTTP here: the caller passes ``refresh_call`` (the module that owns HTTP makes the request)
and this module decides when to call it, serialises refreshes across processes, and writes the
answer to disk without ever leaving a half-written file. Tokens never reach a message, a log line
or a repr: a token in a bug report is a stolen session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kitty_hooks.contract import is_loopback_host
from kitty_hooks.errors import FatalError
from kitty_hooks.files import write_atomically
from kitty_hooks.locations import log_line, spec_kitty_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CREDENTIALS_FILE = "credentials"
CREDENTIALS_ENV = "KITTY_HOOKS_CREDENTIALS"
REFRESH_MARGIN = timedelta(minutes=5)
# Another process holding the refresh lock is waiting on one refresh request at most, so this
# must be longer than that request's own connect + read timeout (batch.DEFAULT_TIMEOUT).
LOCK_TIMEOUT = 45.0
# spec-kitty takes its own lock for 10 s; we take it the same way, and only around a write.
_SPEC_KITTY_LOCK_TIMEOUT = 10.0
_LOGIN = "run `spec-kitty auth login`"


class CredentialsError(FatalError):
    """The credentials file cannot be used as it is: the message says where and what to do."""


class SessionExpired(CredentialsError):
    """The refresh token is over: only a new login helps (queued events stay queued)."""

    def __init__(self, message: str = f"session expired: {_LOGIN}") -> None:
        super().__init__(message)


class RefreshFailed(Exception):
    """A refresh that may work later (network, 5xx, a garbled answer, a busy lock): back off."""


@dataclass(frozen=True)
class Credentials:
    access: str
    refresh: str
    access_expires: datetime | None
    refresh_expires: datetime | None
    username: str | None
    team_slug: str | None
    server_url: str
    path: Path

    def __repr__(self) -> str:
        return (
            "Credentials(access='…(redacted)', refresh='…(redacted)', "
            f"access_expires={self.access_expires!r}, refresh_expires={self.refresh_expires!r}, "
            f"username={self.username!r}, team_slug={self.team_slug!r}, "
            f"server_url={self.server_url!r}, path={self.path!r})"
        )


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


def credentials_path() -> Path:
    override = os.environ.get(CREDENTIALS_ENV, "").strip()
    return Path(override).expanduser() if override else spec_kitty_dir() / CREDENTIALS_FILE


def load_credentials(path: Path | None = None) -> Credentials:
    """The credentials at ``path``; CredentialsError (never anything else) when unusable."""
    path = credentials_path() if path is None else path
    document = _read_document(path)
    try:
        return _credentials_from(document, path)
    except RecursionError:
        # A value nested thousands deep that the parser still took (repr and str recurse).
        raise CredentialsError(
            f"{_shown(path)} holds values nested too deeply to read: {_LOGIN}"
        ) from None


def exposure_warning(path: Path | None = None) -> str | None:
    """One line when the credentials file is open to other users (ssh refuses such keys).

    Tokens are a session: anyone who can read the file can push events as you. We warn rather
    than refuse, because the spec-kitty CLI reads the same file and does not refuse it either.
    """
    path = credentials_path() if path is None else path
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing or unreadable: load_credentials says so
    if os.name != "posix" or not mode & 0o077:
        return None
    shown = _shown(path)
    return (
        f"{shown} is readable or writable by other users (mode {mode & 0o777:03o}): "
        f"run `chmod 600 {shown}`"
    )


def check_server_url(url: str) -> str:
    """The URL without a trailing slash, if tokens may be sent to it; CredentialsError if not."""
    problem = _url_problem(url)
    if problem:
        raise CredentialsError(f"the server URL {problem}: use an https:// URL")
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def needs_refresh(creds: Credentials, *, now: datetime | None = None) -> bool:
    """Whether the access token has expired or expires within REFRESH_MARGIN.

    An unknown expiry is not a reason: the server's 401 on a batch is (``force=True``).
    """
    if creds.access_expires is None:
        return False
    return creds.access_expires - REFRESH_MARGIN <= _instant(now)


def refresh_tokens(
    creds: Credentials,
    refresh_call: Callable[[str, str], RefreshResponse],
    *,
    now: datetime | None = None,
    force: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Credentials:
    """Refresh the tokens if they need it (or ``force``), at most once across processes.

    ``now`` is the instant the refresh starts. Expiries are counted from it: the server dates its
    tokens a little later, so ours err on the early side. ``refresh_call(server_url,
    refresh_token)`` makes the request and raises SessionExpired on 401, RefreshFailed otherwise.

    When the server sends no lifetime, the token's own JWT ``exp`` claim dates it; failing that, an
    unchanged refresh token keeps its expiry and a new token's expiry is left out (unknown: the
    next 401 refreshes it).
    """
    started = _instant(now)
    path = creds.path
    with _locked(path.with_name(path.name + ".kitty-hooks.lock"), lock_timeout):
        # Whoever held the lock before us may have refreshed already: the file, not our copy, says.
        on_disk = load_credentials(path)
        if on_disk.access != creds.access and not needs_refresh(on_disk, now=started):
            log_line(f"credentials: {_shown(path)} was refreshed by another process; using it")
            return on_disk
        if not force and not needs_refresh(on_disk, now=started):
            return on_disk
        if on_disk.refresh_expires is not None and on_disk.refresh_expires <= started:
            raise SessionExpired(
                f"session expired (the refresh token in {_shown(path)} expired at "
                f"{on_disk.refresh_expires.isoformat(timespec='seconds')}): {_LOGIN}"
            )
        try:
            answer = refresh_call(on_disk.server_url, on_disk.refresh)
        except SessionExpired:
            # spec-kitty refreshes without our lock: if it rotated the refresh token just before
            # we sent the old one, the 401 is about a token that is already gone, not the session.
            replaced = _replaced_since(on_disk)
            if replaced is not None:
                return replaced
            raise
        return _save(on_disk, answer, started)


# --- reading ---------------------------------------------------------------------------------


def _read_document(path: Path) -> dict[str, Any]:
    shown = _shown(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CredentialsError(f"no credentials at {shown}: {_LOGIN}") from None
    except IsADirectoryError:
        raise CredentialsError(
            f"{shown} is a directory, not a credentials file: remove it and {_LOGIN}"
        ) from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot read {shown} ({exc.strerror}): fix its permissions or {_LOGIN}"
        ) from None
    if not raw.strip():
        raise CredentialsError(f"{shown} is empty: {_LOGIN}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialsError(f"{shown} is not UTF-8 text: {_LOGIN}") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        # tomllib recurses once per nested array or inline table: `a=[[[[...` 100,000 deep
        # exhausts the stack long before the parser finds anything wrong.
        raise CredentialsError(
            f"{shown} is not valid credentials (values nested too deeply to read): {_LOGIN}"
        ) from None
    except ValueError as exc:  # TOMLDecodeError, and any other value the parser refuses
        # Parser messages give the line and column, a key name or one character: never a value.
        line = text.count("\n") + 1
        cut = (
            ""
            if text.endswith("\n")
            else f", and it stops mid-way through line {line} (a half-written file?)"
        )
        raise CredentialsError(f"{shown} is not valid TOML ({exc}){cut}: {_LOGIN}") from None


def _credentials_from(document: dict[str, Any], path: Path) -> Credentials:
    shown = _shown(path)
    tokens = _table(document, "tokens", shown)
    expiries = _table(document, "expiries", shown, required=False)
    user = _table(document, "user", shown, required=False)
    server = _table(document, "server", shown)
    url = _string(server, "server", "url", shown)
    assert url is not None
    problem = _url_problem(url)
    if problem:
        raise CredentialsError(f"[server] url in {shown} {problem}: fix it or {_LOGIN}")
    access = _token(tokens, "access", shown)
    refresh = _token(tokens, "refresh", shown)
    assert access is not None and refresh is not None
    return Credentials(
        access=access,
        refresh=refresh,
        access_expires=_expiry(tokens, expiries, "access", shown),
        refresh_expires=_expiry(tokens, expiries, "refresh", shown),
        username=_string(user, "user", "username", shown, required=False),
        team_slug=_string(user, "user", "team_slug", shown, required=False),
        server_url=check_server_url(url),
        path=path,
    )


def _table(
    document: dict[str, Any], name: str, shown: str, *, required: bool = True
) -> dict[str, Any]:
    table = document.get(name)
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        what = "has no" if table is None else "has a value, not a table, for"
        raise CredentialsError(f"{shown} {what} [{name}]: {_LOGIN}")
    return table


def _token(tokens: dict[str, Any], key: str, shown: str) -> str:
    # A stray newline would make every request fail as an invalid header, retried forever.
    value = (_string(tokens, "tokens", key, shown) or "").strip()
    if any(character.isspace() for character in value):
        raise CredentialsError(
            f"[tokens] {key} in {shown} has spaces or line breaks in it: {_LOGIN}"
        )
    return value


def _string(
    table: dict[str, Any], section: str, key: str, shown: str, *, required: bool = True
) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        what = "has no" if value is None else "has an empty or non-text"
        raise CredentialsError(f"{shown} {what} [{section}] {key}: {_LOGIN}")
    return value


def _expiry(
    tokens: dict[str, Any], expiries: dict[str, Any], which: str, shown: str
) -> datetime | None:
    section, key = ("expiries", which) if which in expiries else ("tokens", f"{which}_expires_at")
    value = (expiries if section == "expiries" else tokens).get(key)
    if value is None:
        return None
    parsed = _parse_instant(value)
    if parsed is None:
        raise CredentialsError(
            f"[{section}] {key} in {shown} is not an ISO 8601 date and time "
            f"({str(value)[:40]!r}): fix it or {_LOGIN}"
        )
    return parsed


def _parse_instant(value: object) -> datetime | None:
    """ISO 8601 text or a TOML datetime; "Z" and naive times are UTC (as spec-kitty reads them)."""
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat() knows no "Z"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if not isinstance(value, datetime):  # also a TOML date or time without the other half
        return None
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "is not a valid URL"  # not echoed: it may hold a password
    if "@" in parts.netloc:
        return "carries a user name or password"  # not echoed: it would be a secret in a message
    try:
        host = parts.hostname or ""
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return f"{url!r} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL with a host"
    if parts.query or parts.fragment:
        return f"{url!r} carries a query or fragment"
    if parts.scheme.lower() == "http" and not is_loopback_host(host):
        return f"{url!r} uses plain http, which is allowed only for loopback hosts (127.0.0.1, ::1, localhost)"
    return None


# --- refreshing and writing ------------------------------------------------------------------


@contextlib.contextmanager
def _locked(lock_path: Path, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout  # only the refresh path needs it

    lock = FileLock(lock_path, timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise RefreshFailed(
            f"another process has held {_shown(lock_path)} for {timeout:g} s; try the token refresh later"
        ) from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot create the lock file {_shown(lock_path)} ({exc.strerror}): "
            f"check the permissions of {_shown(lock_path.parent)}"
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
    with _locked(path.with_suffix(".lock"), _SPEC_KITTY_LOCK_TIMEOUT):
        document = _read_document(path)
        current = _credentials_from(document, path)
        if current.refresh != before.refresh:
            # The file was replaced while the request ran (a new login): the user's latest wins.
            log_line(f"credentials: {_shown(path)} changed during the token refresh; keeping it")
            return current
        _apply(document, answer, started, current)
        import tomli_w  # only the refresh path writes TOML

        _write_atomically(path, tomli_w.dumps(document).encode("utf-8"))
    refreshed = _credentials_from(document, path)
    expires = refreshed.access_expires.isoformat() if refreshed.access_expires else "unknown"
    log_line(f"credentials: refreshed the tokens in {_shown(path)} (access expires {expires})")
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
    if "expiries" not in document:  # place it after [tokens], where DESIGN.md shows it
        items = list(document.items())
        document.clear()
        for key, value in items:
            document[key] = value
            if key == "tokens":
                document["expiries"] = {}
    expiries = document.setdefault("expiries", {})
    for which, when in (("access", access_expires), ("refresh", refresh_expires)):
        # An expiry we cannot date is removed, not kept: it would describe the old token.
        targets = [(expiries, which)]
        if f"{which}_expires_at" in tokens:
            targets.append((tokens, f"{which}_expires_at"))
        for table, key in targets:
            if when is None:
                table.pop(key, None)
            else:
                table[key] = when.replace(microsecond=0).isoformat()
    if not expiries:
        del document["expiries"]


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise CredentialsError(
            f"cannot save the refreshed tokens to {_shown(path)} ({exc.strerror}): "
            f"free some space or fix its permissions, then {_LOGIN}"
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


def _shown(path: Path) -> str:
    """A path as the user would type it: ~/.spec-kitty/credentials."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except (ValueError, RuntimeError):
        return str(path)
