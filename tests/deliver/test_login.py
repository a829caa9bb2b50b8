"""`kitty-hooks login`: a login path for every spec-kitty user, written as 2.1.3 reads it.

The command runs as a process against the real ingest server on loopback; the file it writes is
read back by spec-kitty 2.1.3's own CredentialStore, run with its installed interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kitty_hooks.deliver.credentials import load_credentials, read_document
from tests.gitutil import KITTY_HOOKS
from tests.ingest import TOKEN_PATH, Fault, IngestServer, list_events
from tests.syncutil import credentials_file, queue_events

SK213_PYTHON = Path("/work/peers/sk213/bin/python")

TRACKER = """\
[tracker.providers.jira]
base_url = "https://jira.example.com"
project_key = "KIT"

[tracker.providers.linear]
team = "core"
"""


def login(
    *args: str, password: str | None = "secret\n", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KITTY_HOOKS, "login", *args],
        input=password,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


def test_login_writes_the_tokens_as_spec_kitty_2_1_3_writes_them(
    hermetic_env: Path, server: IngestServer
) -> None:
    done = login("--server", server.url, "--username", "ada", "--password-stdin")
    assert done.returncode == 0, done.stderr
    path = credentials_file(hermetic_env)
    assert f"Logged in as ada on {server.url}" in done.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    written = read_document(path)
    assert list(written) == ["tokens", "user", "server"]
    assert sorted(written["tokens"]) == [
        "access",
        "access_expires_at",
        "refresh",
        "refresh_expires_at",
    ]
    assert written["user"] == {"username": "ada"} and written["server"] == {"url": server.url}
    creds = load_credentials(path)
    assert creds.access_expires is not None and creds.refresh_expires is not None
    # The tokens work: a flush delivers with them.
    ids = queue_events(2)
    synced = subprocess.run([*KITTY_HOOKS, "sync"], capture_output=True, text=True, timeout=60)
    assert synced.returncode == 0, synced.stderr
    assert [e["event_id"] for e in list_events(server.url, creds.access)] == ids


def test_login_keeps_spec_kitty_3_tracker_settings_and_drops_the_unreadable_layout(
    hermetic_env: Path, server: IngestServer
) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(
        '[tokens]\naccess = "old"\nrefresh = "old"\n[expiries]\naccess = "2020-01-01T00:00:00Z"\n'
        f'[user]\nusername = "ada"\nteam_slug = "kitty-team"\n[server]\nurl = "{server.url}"\n'
        + TRACKER
    )
    # No --server: the one in the file.
    done = login("--username", "ada", "--password-stdin")
    assert done.returncode == 0, done.stderr
    written = read_document(path)
    assert written["tracker"] == {
        "providers": {
            "jira": {"base_url": "https://jira.example.com", "project_key": "KIT"},
            "linear": {"team": "core"},
        }
    }
    assert "expiries" not in written
    assert written["tokens"]["access"] != "old"
    assert written["user"] == {"username": "ada", "team_slug": "kitty-team"}


def test_without_server_the_one_spec_kitty_syncs_with_is_used(
    hermetic_env: Path, server: IngestServer
) -> None:
    config = hermetic_env / ".spec-kitty" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[sync]\nserver_url = "{server.url}"\nmax_queue_size = 10\n')
    done = login("--username", "ada", "--password-stdin")
    assert done.returncode == 0, done.stderr
    assert load_credentials(credentials_file(hermetic_env)).server_url == server.url
    assert "max_queue_size = 10" in config.read_text()  # spec-kitty's file, only read


def test_a_refused_login_writes_nothing_and_never_shows_the_password(
    hermetic_env: Path, server: IngestServer
) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(TRACKER)
    done = login(
        "--server", server.url, "--username", "ada", "--password-stdin", password="hunter2\n"
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"kitty-hooks: {server.url} refused the login of 'ada': invalid username or password"
    ]
    assert "hunter2" not in done.stdout + done.stderr
    assert path.read_text() == TRACKER


def test_the_password_never_goes_on_the_command_line(server: IngestServer) -> None:
    done = login("--server", server.url, "--username", "ada", "--password", "secret")
    assert done.returncode == 2 and "No such option '--password'" in done.stderr
    # Not a terminal and no --password-stdin: it says how, rather than hang or read a pipe.
    asked = login("--server", server.url, "--username", "ada", password="")
    assert asked.returncode == 2
    assert asked.stderr.strip() == (
        "kitty-hooks: stdin is not a terminal to ask for the password on: use --password-stdin"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            (),
            "which server? give --server URL (neither the credentials nor spec-kitty's "
            "config.toml name one)",
        ),
        (
            ("--server", "http://sync.example.com", "--username", "ada", "--password-stdin"),
            "the server URL 'http://sync.example.com' uses plain http, which is allowed only for "
            "loopback hosts (127.0.0.1, ::1, localhost): use an https:// URL",
        ),
        (
            ("--server", "http://127.0.0.1:9", "--username", "ada", "--password-stdin"),
            "cannot log in at http://127.0.0.1:9: cannot reach http://127.0.0.1:9: connection refused",
        ),
    ],
    ids=["no-server", "plain-http-remote", "nothing-listening"],
)
def test_login_problems_are_one_line(args: tuple[str, ...], expected: str) -> None:
    done = login(*args)
    assert done.returncode in (1, 2)
    assert done.stderr.splitlines() == [f"kitty-hooks: {expected}"]


def test_an_unreadable_credentials_file_is_not_overwritten(
    hermetic_env: Path, server: IngestServer
) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text("[tracker\nbroken = ")
    done = login("--server", server.url, "--username", "ada", "--password-stdin")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("kitty-hooks: ~/.spec-kitty/credentials is not valid TOML (")
    assert line.endswith(": fix it or move it away, then log in again (nothing was written)")
    assert path.read_text() == "[tracker\nbroken = "
    path.unlink()
    path.mkdir()
    done = login("--server", server.url, "--username", "ada", "--password-stdin")
    assert done.stderr.splitlines() == [
        "kitty-hooks: ~/.spec-kitty/credentials is a directory, not a credentials file: "
        "remove it, then log in again (nothing was written)"
    ]


READ_LIKE_2_1_3 = """
import json
from specify_cli.sync.auth import CredentialStore
from specify_cli.sync.queue import read_queue_scope_from_credentials
store = CredentialStore()
print(json.dumps({
    "access": store.get_access_token(), "refresh": store.get_refresh_token(),
    "username": store.get_username(), "server_url": store.get_server_url(),
    "scope": read_queue_scope_from_credentials(),
}))
"""


@pytest.mark.skipif(not SK213_PYTHON.exists(), reason="spec-kitty-cli 2.1.3 is not installed")
@pytest.mark.parametrize("how", ["login", "login-then-refresh"])
def test_spec_kitty_2_1_3_reads_what_we_write(
    hermetic_env: Path, server: IngestServer, how: str
) -> None:
    path = credentials_file(hermetic_env)
    path.parent.mkdir(parents=True)
    path.write_text(TRACKER)
    assert login("--server", server.url, "--username", "ada", "--password-stdin").returncode == 0
    if how == "login-then-refresh":
        from kitty_hooks.deliver.refresh import refresh_tokens

        refresh_tokens(load_credentials(path), force=True)
    creds = load_credentials(path)
    env = {**os.environ, "HOME": str(hermetic_env), "SPEC_KITTY_NO_UPGRADE_CHECK": "1"}
    done = subprocess.run(
        [str(SK213_PYTHON), "-c", READ_LIKE_2_1_3], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # A token 2.1.3 took for expired (no expiry it can read) would be None here.
    assert seen == {
        "access": creds.access,
        "refresh": creds.refresh,
        "username": "ada",
        "server_url": server.url,
        "scope": f"{server.url}|ada|no-team",
    }


def test_help_offers_no_password_option() -> None:
    done = subprocess.run([*KITTY_HOOKS, "login", "--help"], capture_output=True, text=True)
    assert "--password-stdin" in done.stdout
    assert "--password " not in done.stdout  # never a flag that would put it in argv


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"access": "a b", "refresh": "r"},
            "answered the login with tokens that cannot be used (spaces or line breaks in them); "
            "nothing was written",
        ),
        ({"access": "a"}, "answered the login without a refresh token"),
        (["not", "an", "object"], "answered the login without a refresh token"),
    ],
    ids=["token-with-space", "no-refresh", "not-an-object"],
)
def test_a_login_answer_that_cannot_be_used_writes_nothing(
    hermetic_env: Path, server: IngestServer, answer: object, expected: str
) -> None:
    server.faults.push(Fault.body(json.dumps(answer).encode(), path=TOKEN_PATH))
    done = login("--server", server.url, "--username", "ada", "--password-stdin")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"kitty-hooks: {server.url} {expected}"]
    assert not credentials_file(hermetic_env).exists()
