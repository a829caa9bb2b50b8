"""The credentials file (~/.spec-kitty/credentials): finding it, reading it, judging it.

The file belongs to the spec-kitty CLI as much as to us:

- spec-kitty 2.1.3's `spec-kitty auth login` writes it and rewrites it whole. It reads its
  expiries only from ``[tokens] access_expires_at`` / ``refresh_expires_at``.
- spec-kitty 3.x logs in elsewhere (OAuth into ``~/.spec-kitty/auth/``). It keeps its issue
  tracker's settings here (``[tracker.providers.*]``).
- The seed wrote ``[expiries] access`` / ``refresh``.

So we read both spellings; ``[expiries]`` wins a key both have. login.py and refresh.py write
2.1.3's, keeping every section that is not ours. Tokens never reach a message, a log line or a
repr: a token in a bug report is a stolen session.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kitty_hooks.contract import is_loopback_host
from kitty_hooks.errors import FatalError
from kitty_hooks.locations import spec_kitty_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CREDENTIALS_FILE = "credentials"
CREDENTIALS_ENV = "KITTY_HOOKS_CREDENTIALS"
LOGIN_HINT = "run `kitty-hooks login --server URL`"
"""How to log in, in every message that asks for it: a path that works whichever spec-kitty the
user runs (3.x's own `spec-kitty auth login` writes no sync tokens where we read them)."""


class CredentialsError(FatalError):
    """The credentials file cannot be used as it is: the message says where and what to do."""


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


def credentials_path() -> Path:
    override = os.environ.get(CREDENTIALS_ENV, "").strip()
    return Path(override).expanduser() if override else spec_kitty_dir() / CREDENTIALS_FILE


def load_credentials(path: Path | None = None) -> Credentials:
    """The credentials at ``path``; CredentialsError (never anything else) when unusable."""
    path = credentials_path() if path is None else path
    document = read_document(path)
    try:
        return credentials_from(document, path)
    except RecursionError:
        # A value nested thousands deep that the parser still took (repr and str recurse).
        raise CredentialsError(
            f"{shown_path(path)} holds values nested too deeply to read: {LOGIN_HINT}"
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
    shown = shown_path(path)
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


# --- reading ---------------------------------------------------------------------------------


def read_document(path: Path) -> dict[str, Any]:
    shown = shown_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CredentialsError(f"no credentials at {shown}: {LOGIN_HINT}") from None
    except IsADirectoryError:
        raise CredentialsError(
            f"{shown} is a directory, not a credentials file: remove it and {LOGIN_HINT}"
        ) from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot read {shown} ({exc.strerror}): fix its permissions or {LOGIN_HINT}"
        ) from None
    if not raw.strip():
        raise CredentialsError(f"{shown} is empty: {LOGIN_HINT}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialsError(f"{shown} is not UTF-8 text: {LOGIN_HINT}") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        # tomllib recurses once per nested array or inline table: `a=[[[[...` 100,000 deep
        # exhausts the stack long before the parser finds anything wrong.
        raise CredentialsError(
            f"{shown} is not valid credentials (values nested too deeply to read): {LOGIN_HINT}"
        ) from None
    except ValueError as exc:  # TOMLDecodeError, and any other value the parser refuses
        # Parser messages give the line and column, a key name or one character: never a value.
        line = text.count("\n") + 1
        cut = (
            ""
            if text.endswith("\n")
            else f", and it stops mid-way through line {line} (a half-written file?)"
        )
        raise CredentialsError(f"{shown} is not valid TOML ({exc}){cut}: {LOGIN_HINT}") from None


def credentials_from(document: dict[str, Any], path: Path) -> Credentials:
    shown = shown_path(path)
    tokens = _table(document, "tokens", shown)
    expiries = _table(document, "expiries", shown, required=False)
    user = _table(document, "user", shown, required=False)
    server = _table(document, "server", shown)
    url = _string(server, "server", "url", shown)
    assert url is not None
    problem = _url_problem(url)
    if problem:
        raise CredentialsError(f"[server] url in {shown} {problem}: fix it or {LOGIN_HINT}")
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
        raise CredentialsError(f"{shown} {what} [{name}]: {LOGIN_HINT}")
    return table


def _token(tokens: dict[str, Any], key: str, shown: str) -> str:
    # A stray newline would make every request fail as an invalid header, retried forever.
    value = (_string(tokens, "tokens", key, shown) or "").strip()
    if any(character.isspace() for character in value):
        raise CredentialsError(
            f"[tokens] {key} in {shown} has spaces or line breaks in it: {LOGIN_HINT}"
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
        raise CredentialsError(f"{shown} {what} [{section}] {key}: {LOGIN_HINT}")
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
            f"({str(value)[:40]!r}): fix it or {LOGIN_HINT}"
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


def shown_path(path: Path) -> str:
    """A path as the user would type it: ~/.spec-kitty/credentials."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except (ValueError, RuntimeError):
        return str(path)
