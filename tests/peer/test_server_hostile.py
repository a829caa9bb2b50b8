"""The ingest server under client garbage (issue 9): a clear 4xx, never a 500; and `serve`
accounts that stay out of the process list. Real HTTP over loopback, real processes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kitty_hooks.contract import TOKEN_PATH
from kitty_hooks.peer.accounts import USER_ENV
from tests.gitutil import PROJECT_ROOT
from tests.ingest import EVENTS_PATH, REFRESH_PATH, IngestServer
from tests.peer.test_server import envelope, raw_post


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestServer]:
    with IngestServer(tmp_path_factory.mktemp("ingest") / "server.db") as running:
        yield running


@pytest.fixture(scope="module")
def access(server: IngestServer) -> str:
    return server.login()["access"]


# --- case 6: query strings and bodies --------------------------------------------------------


@pytest.mark.parametrize(
    "limit",
    ["99999999999999999999999", "9223372036854775808", "²", "٣", "-1", "1e3", "", " 1", "0x10"],
)
def test_a_limit_that_is_not_a_whole_number_in_range_is_400(
    server: IngestServer, access: str, limit: str
) -> None:
    answer = requests.get(
        server.url + EVENTS_PATH,
        params={"limit": limit},
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "limit must be a whole number from 0 to 9223372036854775807"


def test_the_largest_limit_sqlite_takes_is_fine(server: IngestServer, access: str) -> None:
    answer = requests.get(
        server.url + EVENTS_PATH,
        params={"limit": str(2**63 - 1), "event_type": "\x00", "after": None},
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert answer.status_code == 200


LONE_SURROGATE = b'"\\ud800"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (TOKEN_PATH, b'{"username": "ada", "password": ' + LONE_SURROGATE + b"}"),
        (TOKEN_PATH, b'{"username": ' + LONE_SURROGATE + b', "password": "x"}'),
        (REFRESH_PATH, b'{"refresh": ' + LONE_SURROGATE + b"}"),
        (TOKEN_PATH, b'{"username": "ada", "password": 1e999}'),
        (TOKEN_PATH, b'{"username": "ada", "password": NaN}'),
        (TOKEN_PATH, b"[" * 60_000),
        (TOKEN_PATH, b"9" * 5000),
    ],
)
def test_json_that_is_not_clean_is_400_on_the_token_paths(
    server: IngestServer, path: str, body: bytes
) -> None:
    answer = requests.post(
        server.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize(
    "events",
    [
        b'[{"event_id": ' + LONE_SURROGATE + b"}]",
        b'[{"payload": {"actor": ' + LONE_SURROGATE + b"}}]",
        b'[{"lamport_clock": 1e999}]',
        b"[" + b"[" * 100_000 + b"]",
    ],
)
def test_batches_that_are_not_clean_json_are_400_and_store_nothing(
    server: IngestServer, access: str, events: bytes
) -> None:
    before = server.store.count()
    answer = raw_post(server.url, gzip.compress(b'{"events": ' + events + b"}"), access)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "the body is not JSON"
    assert server.store.count() == before


def test_a_valid_surrogate_pair_is_a_character_and_is_stored(
    server: IngestServer, access: str
) -> None:
    event = envelope(901)
    event["payload"]["actor"] = "\U0001f431"
    body = gzip.compress(json.dumps({"events": [event]}, ensure_ascii=True).encode())
    assert b"\\ud83d\\udc31" in gzip.decompress(body)
    answer = raw_post(server.url, body, access)
    assert answer.json()["results"][0]["status"] == "success"


@pytest.mark.parametrize("token", ["ÿÿ.ÿÿ.ÿÿ", "é"])
def test_a_bearer_token_that_is_not_ascii_is_401(server: IngestServer, token: str) -> None:
    answer = requests.get(
        server.url + EVENTS_PATH,
        headers={"Authorization": f"Bearer {token}".encode("latin-1")},
        timeout=10,
    )
    assert answer.status_code == 401


# --- case 9: accounts outside the process list -----------------------------------------------


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kitty_hooks", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
    )


def _login_then_stop(process: subprocess.Popen[str], password: str) -> None:
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("kitty-hooks serve: listening on "), process.stderr
        url = first.rsplit(" ", 1)[1]
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
        answer = requests.post(
            url + TOKEN_PATH, json={"username": "ada", "password": password}, timeout=10
        )
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_serve_takes_the_account_from_the_environment(tmp_path: Path) -> None:
    process = _serve("--db", str(tmp_path / "s.db"), env={USER_ENV: "ada:env-pass-7f3a"})
    _login_then_stop(process, "env-pass-7f3a")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_serve_takes_accounts_from_a_file(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# who may log in\n\nada:file-pass-9c2e\ngrace:other\n")
    process = _serve("--db", str(tmp_path / "s.db"), "--user-file", str(users))
    _login_then_stop(process, "file-pass-9c2e")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {USER_ENV: "ada-secret-no-colon"}, f"{USER_ENV}: entry 1 is not NAME:PASSWORD"),
        (("--user-file", "/nonexistent/users"), {}, "cannot read it (No such file or directory)"),
        ((), {}, f"no users: set {USER_ENV}=NAME:PASSWORD, or give --user-file PATH"),
    ],
)
def test_serve_explains_bad_accounts_without_echoing_them(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    process = _serve("--db", str(tmp_path / "s.db"), *args, env=env)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert message in err and "secret" not in err and "Traceback" not in err


def test_serve_help_recommends_the_variable_and_the_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    text = " ".join(done.stdout.split())
    assert "--user-file" in text and USER_ENV in text and "process list" in text
