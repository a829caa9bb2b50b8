"""`kitty-hooks login`: a username and password for a token pair, written to the credentials file.

A login path that works whichever spec-kitty the user runs. 3.x's `spec-kitty auth login` is
OAuth into ``~/.spec-kitty/auth/``, and writes no sync tokens where the hooks (and 2.1.3) read
them.

It asks the contract's token endpoint (``POST /api/v1/token/``). It writes the file in the layout
spec-kitty 2.1.3 reads back: ``[tokens]`` with ``access_expires_at`` / ``refresh_expires_at``,
``[user]``, ``[server]``. It keeps every section that is not ours (3.x's ``[tracker.*]``).

The password is never in argv, a message or a log line. The command line asks for it without
echo, or reads it from stdin.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kitty_hooks.deliver.client import AuthRejected, Client, SendError
from kitty_hooks.deliver.credentials import (
    LOGIN_HINT,
    Credentials,
    CredentialsError,
    check_server_url,
    credentials_from,
    credentials_path,
    read_document,
    shown_path,
)
from kitty_hooks.deliver.refresh import (
    SPEC_KITTY_LOCK_TIMEOUT,
    locked,
    parse_refresh_response,
    write_credentials,
)
from kitty_hooks.locations import log_line

# spec-kitty 2.1.3's defaults when the server sends no lifetimes (it always writes both expiries).
DEFAULT_ACCESS_LIFETIME = 15 * 60
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600
OUR_SECTIONS = ("tokens", "expiries", "user", "server")


class LoginFailed(CredentialsError):
    """The server refused the login, or could not be asked: nothing was written (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


def known_server(path: Path | None = None) -> str | None:
    """login's default server: the [server] url of the credentials file, else the one spec-kitty
    is set to sync with (``~/.spec-kitty/config.toml`` ``[sync] server_url``, where 2.1.3's
    `spec-kitty sync server URL` puts it); None when neither names one."""
    path = credentials_path() if path is None else path
    try:
        server = read_document(path).get("server")
    except CredentialsError:
        server = None
    url = server.get("url") if isinstance(server, dict) else None
    if isinstance(url, str) and url.strip():
        return url
    return _configured_server(path.parent / "config.toml")


def _configured_server(config: Path) -> str | None:
    try:
        document = read_document(config) if config.is_file() else {}
    except CredentialsError:  # not ours to judge: no default from it
        return None
    sync = document.get("sync")
    url = sync.get("server_url") if isinstance(sync, dict) else None
    return url if isinstance(url, str) and url.strip() else None


def log_in(
    server_url: str,
    username: str,
    password: str,
    *,
    path: Path | None = None,
    now: datetime | None = None,
) -> Credentials:
    """Ask server_url for tokens and write them to the credentials file; the Credentials written.

    CredentialsError (LoginFailed for the server's refusal) says what went wrong in one line.
    """
    url = check_server_url(server_url)
    if not username.strip():
        raise LoginFailed("the user name is empty")
    if not password:
        raise LoginFailed("the password is empty")
    started = now or datetime.now(timezone.utc)
    try:
        with Client(url) as client:
            answer = client.login(username, password)
    except AuthRejected as exc:
        raise LoginFailed(f"{url} refused the login of {username!r}: {_reason(exc)}") from None
    except SendError as exc:
        raise LoginFailed(f"cannot log in at {url}: {exc}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("refresh"), str):
        raise LoginFailed(f"{url} answered the login without a refresh token")
    try:
        tokens = parse_refresh_response(answer, answer["refresh"])
    except Exception as exc:  # RefreshFailed: the answer is not a token pair
        raise LoginFailed(f"{url} answered the login with no usable tokens ({exc})") from None
    team = answer.get("team_slug")
    return _save(
        credentials_path() if path is None else path,
        url,
        username,
        tokens.access,
        tokens.refresh,
        access_expires=started
        + timedelta(seconds=tokens.access_lifetime or DEFAULT_ACCESS_LIFETIME),
        refresh_expires=started
        + timedelta(seconds=tokens.refresh_lifetime or DEFAULT_REFRESH_LIFETIME),
        team_slug=team if isinstance(team, str) and team.strip() else None,
    )


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.removeprefix("login refused: ") or "refused"


def _save(
    path: Path,
    url: str,
    username: str,
    access: str,
    refresh: str,
    *,
    access_expires: datetime,
    refresh_expires: datetime,
    team_slug: str | None,
) -> Credentials:
    import tomli_w

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # spec-kitty's own lock, as its CredentialStore takes it around every read and write.
    with locked(path.with_suffix(".lock"), SPEC_KITTY_LOCK_TIMEOUT):
        document = _existing(path)
        previous_user = document.get("user") if isinstance(document.get("user"), dict) else {}
        document.pop("expiries", None)  # the seed's layout: 2.1.3 reads the [tokens] keys only
        fresh: dict[str, Any] = {
            "tokens": {
                "access": access,
                "refresh": refresh,
                "access_expires_at": access_expires.replace(microsecond=0).isoformat(),
                "refresh_expires_at": refresh_expires.replace(microsecond=0).isoformat(),
            },
            "user": {"username": username},
            "server": {"url": url},
        }
        if team_slug is not None:
            fresh["user"]["team_slug"] = team_slug
        elif previous_user.get("username") == username and "team_slug" in previous_user:
            fresh["user"]["team_slug"] = previous_user["team_slug"]
        # Ours first, in 2.1.3's order; then every other section as it was.
        others = {key: value for key, value in document.items() if key not in OUR_SECTIONS}
        written = {**fresh, **others}
        try:  # what the file will hold is checked before it is written
            creds = credentials_from(written, path)
        except CredentialsError:
            raise LoginFailed(
                f"{url} answered the login with tokens that cannot be used (spaces or line "
                "breaks in them); nothing was written"
            ) from None
        write_credentials(path, tomli_w.dumps(written).encode("utf-8"), what="the new tokens")
    log_line(f"login: {username} on {url}; tokens written to {shown_path(path)}")
    return creds


def _existing(path: Path) -> dict[str, Any]:
    """The document already in the file (its other sections are kept), {} for none.

    A file that cannot be read as TOML is not overwritten: it may hold settings we cannot see.
    """
    if not path.exists():
        return {}
    try:
        return read_document(path)
    except CredentialsError as exc:
        try:
            if path.is_file() and not path.read_bytes().strip():
                return {}
        except OSError:
            pass  # unreadable: exc says so, below

        text = str(exc)
        for tail in (f": {LOGIN_HINT}", f" or {LOGIN_HINT}", f" and {LOGIN_HINT}"):
            text = text.removesuffix(tail)
        todo = "" if text.endswith(": remove it") else ": fix it or move it away"
        raise CredentialsError(f"{text}{todo}, then log in again (nothing was written)") from None
