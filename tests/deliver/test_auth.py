"""Credentials and token refresh against a real token server on 127.0.0.1 (nothing mocked).

The refresh goes the way a flush sends it (refresh.py through client.py): a 401 is
SessionExpired, anything else RefreshFailed. The server counts the requests that reach it.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from kitty_hooks.deliver import credentials, refresh
from kitty_hooks.deliver.credentials import (
    Credentials,
    CredentialsError,
    check_server_url,
    credentials_path,
    load_credentials,
)
from kitty_hooks.deliver.refresh import (
    REFRESH_MARGIN,
    RefreshFailed,
    SessionExpired,
    needs_refresh,
    parse_refresh_response,
    refresh_tokens,
)
from kitty_hooks.errors import FatalError
from kitty_hooks.locations import log_path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

OLD_ACCESS = "OLD-ACCESS-7f3a9c"
OLD_REFRESH = "OLD-REFRESH-5b21e8"
NEW_ACCESS = "NEW-ACCESS-c0ffee"
NEW_REFRESH = "NEW-REFRESH-d00d42"
SECRETS = (OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
REFRESH_PATH = "/api/v1/token/refresh/"


# --- the token server ------------------------------------------------------------------------


class TokenServer:
    """Answers every refresh with ``status``/``body`` after ``delay`` seconds, and counts."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {
            "access": NEW_ACCESS,
            "refresh": NEW_REFRESH,
            "access_lifetime": 3600,
            "refresh_lifetime": 86400,
        }
        self.delay = 0.0
        self.before_answer: Callable[[], None] | None = None
        self.received: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                sent = json.loads(self.rfile.read(length))
                with server._lock:
                    server.received.append(sent.get("refresh"))
                time.sleep(server.delay)
                if server.before_answer:
                    server.before_answer()
                body = server.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(server.status if self.path == REFRESH_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[TokenServer]:
    token_server = TokenServer()
    yield token_server
    token_server.close()


# --- credentials files -----------------------------------------------------------------------


def stamp(when: datetime) -> str:
    return when.isoformat()


def write_credentials(
    path: Path,
    *,
    url: str,
    access_expires: str | None = stamp(NOW + timedelta(minutes=2)),
    refresh_expires: str | None = stamp(NOW + timedelta(days=7)),
    spelling: str = "design",
    extra: str = "",
) -> Path:
    lines = ["[tokens]", f'access = "{OLD_ACCESS}"', f'refresh = "{OLD_REFRESH}"']
    if spelling == "spec-kitty":
        if access_expires:
            lines.append(f'access_expires_at = "{access_expires}"')
        if refresh_expires:
            lines.append(f'refresh_expires_at = "{refresh_expires}"')
    else:
        lines.append("[expiries]")
        if access_expires:
            lines.append(f'access = "{access_expires}"')
        if refresh_expires:
            lines.append(f'refresh = "{refresh_expires}"')
    lines += [
        "[user]",
        'username = "ada"',
        'team_slug = "kitty-team"',
        "[server]",
        f'url = "{url}"',
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def creds_file(hermetic_env: Path, server: TokenServer) -> Path:
    return write_credentials(hermetic_env / ".spec-kitty" / "credentials", url=server.url)


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- loading ---------------------------------------------------------------------------------


def test_loads_the_design_layout(creds_file: Path, server: TokenServer) -> None:
    creds = load_credentials()
    assert creds.path == creds_file
    assert (creds.access, creds.refresh) == (OLD_ACCESS, OLD_REFRESH)
    assert creds.access_expires == NOW + timedelta(minutes=2)
    assert creds.refresh_expires == NOW + timedelta(days=7)
    assert (creds.username, creds.team_slug, creds.server_url) == ("ada", "kitty-team", server.url)


def test_reads_the_spec_kitty_spelling_with_z_and_naive_times(tmp_path: Path) -> None:
    path = write_credentials(
        tmp_path / "credentials",
        url="https://sync.example.com/",
        access_expires="2026-11-23T12:00:00Z",
        refresh_expires="2026-11-30T12:00:00",
        spelling="spec-kitty",
    )
    creds = load_credentials(path)
    assert creds.access_expires == datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    assert creds.refresh_expires == datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    assert creds.server_url == "https://sync.example.com"


def test_expiries_section_wins_over_the_spec_kitty_keys(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        f'[tokens]\naccess = "{OLD_ACCESS}"\nrefresh = "{OLD_REFRESH}"\n'
        'access_expires_at = "2020-01-01T00:00:00+00:00"\n'
        '[expiries]\naccess = "2026-11-23T14:00:00+02:00"\n'
        '[server]\nurl = "https://sync.example.com"\n'
    )
    creds = load_credentials(path)
    assert creds.access_expires == datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    assert creds.refresh_expires is None
    assert creds.username is None and creds.team_slug is None


def test_toml_datetimes_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        f'[tokens]\naccess = "{OLD_ACCESS}"\nrefresh = "{OLD_REFRESH}"\n'
        "[expiries]\naccess = 2026-11-23T12:00:00Z\n"
        '[server]\nurl = "https://sync.example.com"\n'
    )
    assert load_credentials(path).access_expires == NOW


def test_credentials_path_defaults_to_spec_kitty_dir_and_follows_the_env(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert credentials_path() == hermetic_env / ".spec-kitty" / "credentials"
    monkeypatch.setenv("KITTY_HOOKS_CREDENTIALS", str(tmp_path / "elsewhere"))
    assert credentials_path() == tmp_path / "elsewhere"
    write_credentials(tmp_path / "elsewhere", url="https://sync.example.com")
    assert load_credentials().path == tmp_path / "elsewhere"


GOOD = (
    f'[tokens]\naccess = "{OLD_ACCESS}"\nrefresh = "{OLD_REFRESH}"\n'
    '[expiries]\naccess = "2026-11-23T12:00:00+00:00"\n'
    '[server]\nurl = "https://sync.example.com"\n'
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no credentials at ~/.spec-kitty/credentials: run `kitty-hooks login --server URL`"),
        ("", "~/.spec-kitty/credentials is empty: run `kitty-hooks login --server URL`"),
        ("\n  \n", "~/.spec-kitty/credentials is empty"),
        (
            GOOD.replace('refresh = "', 'refresh = = "'),
            "~/.spec-kitty/credentials is not valid TOML (Invalid value (at line 3, column 11))",
        ),
        (
            GOOD[: GOOD.index("[server]") + 20],
            "stops mid-way through line 7 (a half-written file?)",
        ),
        (
            GOOD[: GOOD.index(f"{OLD_REFRESH}") + 4],
            "stops mid-way through line 3 (a half-written file?)",
        ),
        (
            GOOD.replace("[tokens]", "[tokenz]"),
            "has no [tokens]: run `kitty-hooks login --server URL`",
        ),
        (GOOD.replace("access = ", "acces = ", 1), "has no [tokens] access"),
        (GOOD.replace(f'refresh = "{OLD_REFRESH}"', 'refresh = ""'), "non-text [tokens] refresh"),
        (GOOD.replace("[server]\nurl", "[server]\nuri"), "has no [server] url"),
        (
            GOOD.replace("https://sync", "http://sync"),
            "[server] url in ~/.spec-kitty/credentials 'http://sync.example.com' uses plain http, "
            "which is allowed only for loopback hosts",
        ),
        (
            GOOD.replace("2026-11-23T12:00:00+00:00", "tomorrow"),
            "[expiries] access in ~/.spec-kitty/credentials is not an ISO 8601 date and time "
            "('tomorrow'): fix it or run `kitty-hooks login --server URL`",
        ),
        (
            "expiries = 3\n" + GOOD.replace("[expiries]", "[x]"),
            "a value, not a table, for [expiries]",
        ),
        (b"\xff\xfe[tokens]", "is not UTF-8 text"),
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "broken-toml",
        "half-written",
        "truncated-in-a-token",
        "no-tokens",
        "no-access",
        "empty-refresh",
        "no-url",
        "http-remote",
        "bad-expiry",
        "expiries-not-a-table",
        "not-utf8",
    ],
)
def test_bad_credentials_give_one_clear_line(
    hermetic_env: Path, content: str | bytes | None, expected: str
) -> None:
    path = hermetic_env / ".spec-kitty" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CredentialsError) as caught:
        load_credentials()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "~/.spec-kitty/credentials" in message
    assert isinstance(caught.value, FatalError) and caught.value.exit_code == 2
    assert not any(secret in message for secret in SECRETS)


def test_a_directory_in_place_of_the_file_is_named(hermetic_env: Path) -> None:
    (hermetic_env / ".spec-kitty" / "credentials").mkdir(parents=True)
    with pytest.raises(
        CredentialsError, match=r"credentials is a directory, not a credentials file"
    ):
        load_credentials()


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://sync.example.com/", "https://sync.example.com"),
        ("HTTPS://Sync.Example.com/base/", "https://sync.example.com/base"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.8.9.10/", "http://127.8.9.10"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("http://[::ffff:127.0.0.1]:9000", "http://[::ffff:127.0.0.1]:9000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://LOCALHOST", "http://localhost"),
    ],
)
def test_https_or_loopback_urls_are_accepted(url: str, normalized: str) -> None:
    assert check_server_url(url) == normalized


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sync.example.com", "uses plain http"),
        ("http://10.0.0.1", "uses plain http"),
        ("http://128.0.0.1", "uses plain http"),
        ("http://localhost.example.com", "uses plain http"),
        ("http://[::2]", "uses plain http"),
        ("ftp://sync.example.com", "not an http\\(s\\) URL"),
        ("sync.example.com", "not an http\\(s\\) URL"),
        ("https://", "not an http\\(s\\) URL"),
        ("https://sync.example.com:99999", "not a valid URL"),
        ("https://sync.example.com/?a=1", "query or fragment"),
    ],
)
def test_other_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(CredentialsError, match=reason):
        check_server_url(url)


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError) as caught:
        check_server_url("https://ada:hunter2@sync.example.com")
    assert "user name or password" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# --- needs_refresh ---------------------------------------------------------------------------


def make_creds(access_expires: datetime | None) -> Credentials:
    return Credentials(
        access=OLD_ACCESS,
        refresh=OLD_REFRESH,
        access_expires=access_expires,
        refresh_expires=None,
        username=None,
        team_slug=None,
        server_url="https://sync.example.com",
        path=Path("credentials"),
    )


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(hours=1), False),
        (REFRESH_MARGIN + timedelta(seconds=1), False),
        (REFRESH_MARGIN, True),
        (REFRESH_MARGIN - timedelta(seconds=1), True),
        (timedelta(0), True),
        (-timedelta(days=1), True),
    ],
)
def test_needs_refresh_within_the_margin(left: timedelta, expected: bool) -> None:
    assert needs_refresh(make_creds(NOW + left), now=NOW) is expected


def test_unknown_expiry_never_needs_refresh() -> None:
    assert needs_refresh(make_creds(None), now=NOW) is False


def test_a_naive_now_is_utc() -> None:
    assert needs_refresh(make_creds(NOW + timedelta(minutes=4)), now=NOW.replace(tzinfo=None))


# --- refreshing ------------------------------------------------------------------------------


def test_refresh_writes_new_tokens_and_expiries_atomically_with_0600(
    creds_file: Path, server: TokenServer
) -> None:
    creds_file.chmod(0o644)  # a loose mode is tightened, not carried over
    inode = creds_file.stat().st_ino
    new = refresh_tokens(load_credentials(), now=NOW)

    assert server.received == [OLD_REFRESH]
    assert (new.access, new.refresh) == (NEW_ACCESS, NEW_REFRESH)
    assert new.access_expires == NOW + timedelta(hours=1)
    assert new.refresh_expires == NOW + timedelta(days=1)
    assert new == load_credentials()
    assert mode(creds_file) == 0o600
    assert creds_file.stat().st_ino != inode  # replaced, not rewritten in place
    assert sorted(p.name for p in creds_file.parent.iterdir() if "tmp" in p.name) == []
    written = read_toml(creds_file)
    assert list(written) == ["tokens", "expiries", "user", "server"]
    assert written["expiries"] == {
        "access": "2026-11-23T13:00:00+00:00",
        "refresh": "2026-11-24T12:00:00+00:00",
    }


def test_refresh_keeps_every_other_section_and_key(hermetic_env: Path, server: TokenServer) -> None:
    path = write_credentials(
        hermetic_env / ".spec-kitty" / "credentials",
        url=server.url,
        extra='future_flag = true\n[server.tls]\npin = "sha256:abc"\n[telemetry]\nlevel = 3\n',
    )
    path.write_text(path.read_text().replace("[user]", 'scope = "events"\n[user]'))
    before = read_toml(path)
    refresh_tokens(load_credentials(path), now=NOW)
    after = read_toml(path)
    assert after["tokens"] == {
        "access": NEW_ACCESS,
        "refresh": NEW_REFRESH,
        "access_expires_at": "2026-11-23T13:00:00+00:00",
        "refresh_expires_at": "2026-11-24T12:00:00+00:00",
    }
    assert after["expiries"]["scope"] == "events"  # an unknown key in a known section
    for name in ("user", "server", "telemetry"):
        assert after[name] == before[name]
    assert after["server"]["future_flag"] is True


def test_refresh_writes_the_spelling_spec_kitty_2_1_3_reads_and_no_other(
    hermetic_env: Path, server: TokenServer
) -> None:
    path = write_credentials(
        hermetic_env / ".spec-kitty" / "credentials", url=server.url, spelling="spec-kitty"
    )
    refresh_tokens(load_credentials(path), now=NOW)
    written = read_toml(path)
    assert written["tokens"]["access_expires_at"] == "2026-11-23T13:00:00+00:00"
    assert written["tokens"]["refresh_expires_at"] == "2026-11-24T12:00:00+00:00"
    assert "expiries" not in written  # 2.1.3 cannot read it; a file without it gets none


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_without_lifetimes_the_jwt_exp_dates_the_access_token(
    creds_file: Path, server: TokenServer
) -> None:
    exp = int((NOW + timedelta(minutes=15)).timestamp())
    server.body = {"access": jwt({"exp": exp, "user_id": 7})}  # no rotation, no lifetimes
    new = refresh_tokens(load_credentials(), now=NOW)
    assert new.access_expires == NOW + timedelta(minutes=15)
    assert new.refresh == OLD_REFRESH
    assert new.refresh_expires == NOW + timedelta(days=7)  # same refresh token, same expiry


def test_an_expiry_that_cannot_be_dated_is_dropped_not_kept(
    creds_file: Path, server: TokenServer
) -> None:
    server.body = {"access": NEW_ACCESS, "refresh": NEW_REFRESH, "access_lifetime": "soon"}
    new = refresh_tokens(load_credentials(), now=NOW)
    assert new.access == NEW_ACCESS
    assert new.access_expires is None and new.refresh_expires is None
    assert "expiries" not in read_toml(creds_file) or read_toml(creds_file)["expiries"] == {}


def test_lifetimes_may_be_strings_or_spelled_expires_in(
    creds_file: Path, server: TokenServer
) -> None:
    server.body = {
        "access": NEW_ACCESS,
        "refresh": NEW_REFRESH,
        "expires_in": "900",
        "refresh_expires_in": 604800,
    }
    new = refresh_tokens(load_credentials(), now=NOW)
    assert new.access_expires == NOW + timedelta(seconds=900)
    assert new.refresh_expires == NOW + timedelta(days=7)


def test_a_fresh_token_is_not_refreshed_unless_forced(
    hermetic_env: Path, server: TokenServer
) -> None:
    path = write_credentials(
        hermetic_env / ".spec-kitty" / "credentials",
        url=server.url,
        access_expires=stamp(NOW + timedelta(hours=1)),
    )
    creds = load_credentials(path)
    assert refresh_tokens(creds, now=NOW) == creds
    assert server.count == 0
    forced = refresh_tokens(creds, now=NOW, force=True)
    assert server.count == 1 and forced.access == NEW_ACCESS


def test_a_refresh_already_done_by_another_process_is_used(
    creds_file: Path, server: TokenServer
) -> None:
    stale = load_credentials()
    done_elsewhere = refresh_tokens(stale, now=NOW)
    assert server.count == 1
    # Both a due refresh and a forced one (after a 401 on the stale token) reuse the file's tokens.
    assert refresh_tokens(stale, now=NOW) == done_elsewhere
    assert refresh_tokens(stale, now=NOW, force=True) == done_elsewhere
    assert server.count == 1


def _refresh_in_another_process(path: str, url_check: str, start: Any, results: Any) -> None:
    creds = load_credentials(Path(path))
    assert creds.server_url == url_check
    start.wait()
    try:
        new = refresh_tokens(creds)
        results.put((os.getpid(), new.access, new.refresh))
    except Exception as exc:  # reported to the test, which fails on it
        results.put((os.getpid(), type(exc).__name__, str(exc)))


def test_two_processes_refreshing_at_once_send_one_request(
    hermetic_env: Path, server: TokenServer
) -> None:
    # Real time in the children: an access token that expired a minute ago.
    now = datetime.now(timezone.utc)
    path = write_credentials(
        hermetic_env / ".spec-kitty" / "credentials",
        url=server.url,
        access_expires=stamp(now - timedelta(minutes=1)),
        refresh_expires=stamp(now + timedelta(days=1)),
    )
    server.delay = 0.4  # the second process asks while the first one's request is in flight
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(
            target=_refresh_in_another_process, args=(str(path), server.url, start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert server.count == 1
    assert sorted(outcome[1:] for outcome in outcomes) == [(NEW_ACCESS, NEW_REFRESH)] * 2
    assert load_credentials(path).access == NEW_ACCESS
    assert mode(path) == 0o600


def test_an_expired_refresh_token_ends_the_session_without_a_request(
    hermetic_env: Path, server: TokenServer
) -> None:
    path = write_credentials(
        hermetic_env / ".spec-kitty" / "credentials",
        url=server.url,
        access_expires=stamp(NOW - timedelta(hours=2)),
        refresh_expires=stamp(NOW - timedelta(hours=1)),
    )
    with pytest.raises(SessionExpired, match=r"run `kitty-hooks login --server URL`"):
        refresh_tokens(load_credentials(path), now=NOW)
    assert server.count == 0


def test_401_on_refresh_ends_the_session_and_leaves_the_file(
    creds_file: Path, server: TokenServer
) -> None:
    server.status, server.body = 401, {"detail": "Token is invalid or expired"}
    before = creds_file.read_bytes()
    with pytest.raises(
        SessionExpired,
        match=r"^session expired: run `kitty-hooks login --server URL` \(queued events are kept\)$",
    ):
        refresh_tokens(load_credentials(), now=NOW)
    assert server.count == 1
    assert creds_file.read_bytes() == before


def test_401_because_spec_kitty_rotated_the_token_meanwhile_uses_its_tokens(
    creds_file: Path, server: TokenServer
) -> None:
    server.status = 401

    def spec_kitty_refreshes_first() -> None:  # it takes no kitty-hooks lock
        text = (
            creds_file.read_text().replace(OLD_ACCESS, NEW_ACCESS).replace(OLD_REFRESH, NEW_REFRESH)
        )
        creds_file.write_text(text)

    server.before_answer = spec_kitty_refreshes_first
    new = refresh_tokens(load_credentials(), now=NOW)
    assert (new.access, new.refresh) == (NEW_ACCESS, NEW_REFRESH)


def test_a_login_during_the_refresh_is_not_overwritten(
    creds_file: Path, server: TokenServer
) -> None:
    login = GOOD.replace(OLD_ACCESS, "LOGIN-ACCESS").replace(OLD_REFRESH, "LOGIN-REFRESH")
    server.before_answer = lambda: creds_file.write_text(login)
    new = refresh_tokens(load_credentials(), now=NOW)
    assert (new.access, new.refresh) == ("LOGIN-ACCESS", "LOGIN-REFRESH")
    assert creds_file.read_text() == login


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, {"error": "boom"}, "answered HTTP 500"),
        (503, b"<html>busy</html>", "answered HTTP 503"),
        (200, b"<html>not json</html>", "not JSON"),
        (200, {"refresh": NEW_REFRESH}, 'without an "access" token'),
        (200, {"access": ""}, 'without an "access" token'),
        (200, [NEW_ACCESS], "other than a JSON object"),
    ],
    ids=["500", "503-html", "not-json", "no-access", "empty-access", "a-list"],
)
def test_a_failed_refresh_is_transient_and_leaves_the_file(
    creds_file: Path, server: TokenServer, status: int, body: Any, message: str
) -> None:
    server.status, server.body = status, body
    before, stat_before = creds_file.read_bytes(), creds_file.stat()
    with pytest.raises(RefreshFailed, match=message) as caught:
        refresh_tokens(load_credentials(), now=NOW)
    assert not isinstance(caught.value, CredentialsError)
    assert creds_file.read_bytes() == before
    assert (creds_file.stat().st_ino, creds_file.stat().st_mtime_ns) == (
        stat_before.st_ino,
        stat_before.st_mtime_ns,
    )


def test_server_down_is_transient(creds_file: Path, server: TokenServer) -> None:
    server.close()
    with pytest.raises(RefreshFailed, match="cannot reach"):
        refresh_tokens(load_credentials(), now=NOW)


def test_a_lock_held_elsewhere_times_out_with_a_clear_message(
    creds_file: Path, server: TokenServer
) -> None:
    with (
        FileLock(creds_file.with_name("credentials.kitty-hooks.lock")),
        pytest.raises(
            RefreshFailed,
            match=r"another process has held ~/.spec-kitty/credentials\.kitty-hooks\.lock",
        ),
    ):
        refresh_tokens(load_credentials(), now=NOW, lock_timeout=0.2)
    assert server.count == 0


def test_readers_never_see_a_partial_file_while_refreshes_run(
    creds_file: Path, server: TokenServer
) -> None:
    failures: list[str] = []
    reads = 0
    stop = threading.Event()

    def read_all_the_time() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                load_credentials(creds_file)
            except CredentialsError as exc:
                failures.append(str(exc))
            reads += 1
            time.sleep(0)  # let the writer have the GIL too

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        creds = load_credentials(creds_file)
        for round in range(20):
            server.body = {"access": f"A{round}", "refresh": f"R{round}", "access_lifetime": 60}
            creds = refresh_tokens(creds, now=NOW, force=True)
            assert (creds.access, creds.refresh) == (f"A{round}", f"R{round}")
    finally:
        stop.set()
        reader.join()
    assert server.count == 20
    assert failures == []
    assert reads > 20


def test_a_symlinked_credentials_file_stays_a_symlink(
    hermetic_env: Path, server: TokenServer
) -> None:
    real = write_credentials(hermetic_env / "dotfiles" / "credentials", url=server.url)
    link = hermetic_env / ".spec-kitty" / "credentials"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    refresh_tokens(load_credentials(), now=NOW)
    assert link.is_symlink()
    assert load_credentials(real).access == NEW_ACCESS
    assert mode(real) == 0o600


# --- secrecy ---------------------------------------------------------------------------------


def test_tokens_never_appear_in_messages_reprs_or_the_log(
    hermetic_env: Path, server: TokenServer
) -> None:
    path = write_credentials(hermetic_env / ".spec-kitty" / "credentials", url=server.url)
    texts: list[str] = []

    def record(exc: BaseException) -> None:
        while exc is not None:
            texts.extend((str(exc), repr(exc), repr(exc.args)))
            exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]

    creds = load_credentials(path)
    texts += [
        repr(creds),
        str(creds),
        repr(parse_refresh_response({"access": NEW_ACCESS}, OLD_REFRESH)),
    ]
    for status, body in [(401, {}), (500, {}), (200, {"refresh": NEW_REFRESH}), (200, b"x")]:
        server.status, server.body = status, body
        with pytest.raises((SessionExpired, RefreshFailed)) as caught:
            refresh_tokens(creds, now=NOW)
        record(caught.value)
    server.status, server.body = 200, {"access": NEW_ACCESS, "refresh": NEW_REFRESH}
    texts.append(repr(refresh_tokens(creds, now=NOW)))
    texts.append(repr(refresh_tokens(creds, now=NOW, force=True)))
    good = write_credentials(path, url=server.url).read_text()
    for broken in (
        good.replace("url =", "url = = "),
        good.replace("2026-", "later-"),
        good.replace("[tokens]", "[tokens]\nrefresh = 1"),
        good.replace("[tokens]", "[tokens]\naccess = 1"),
        good[:40],
        good.replace("url", "URL"),
    ):
        path.write_text(broken)
        with pytest.raises(CredentialsError) as caught:
            load_credentials(path)
        record(caught.value)
    texts.append(log_path().read_text(encoding="utf-8"))
    assert "refreshed the tokens" in texts[-1]
    leaks = [text for text in texts if any(secret in text for secret in SECRETS)]
    assert leaks == []
    assert all("'…(redacted)'" in text for text in texts if text.startswith("Credentials("))


@pytest.mark.parametrize("module", [credentials, refresh])
def test_the_module_makes_no_http_request_itself(module: object) -> None:
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "import requests" not in source and "urllib.request" not in source
