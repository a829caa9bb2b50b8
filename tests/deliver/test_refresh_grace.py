"""A refresh whose answer was lost on its way: the session goes on (docs/contract.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from kitty_hooks.deliver import refresh
from kitty_hooks.deliver.flush import flush
from kitty_hooks.peer.answers import Refused
from kitty_hooks.peer.store import EventStore
from kitty_hooks.peer.tokens import TokenIssuer
from tests.ingest import REFRESH_PATH, Fault, IngestServer
from tests.syncutil import queue_events, write_credentials

FAST = (2.0, 5.0)


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


def _expired_session(server: IngestServer, home: Path) -> None:
    """Credentials whose access token is over: the flush refreshes before it sends."""
    write_credentials(home, server.url, server.login(), access_expires_in=-60)


def _refresh(server: IngestServer, token: str) -> requests.Response:
    return requests.post(server.url + REFRESH_PATH, json={"refresh": token}, timeout=5)


def test_a_refresh_whose_answer_is_lost_is_sent_again_and_the_flush_goes_on(
    server: IngestServer, hermetic_env: Path
) -> None:
    _expired_session(server, hermetic_env)
    ids = queue_events(3)
    server.faults.push(Fault.crash_after_store(path=REFRESH_PATH))  # rotated, then no answer
    summary = flush(timeout=FAST)
    assert summary.outcome == "done", summary.message
    assert server.event_ids() == ids
    assert [r.status for r in server.requests(REFRESH_PATH)] == [None, 200]


def test_a_session_whose_refresh_answers_were_all_lost_survives_to_the_next_flush(
    server: IngestServer, hermetic_env: Path
) -> None:
    _expired_session(server, hermetic_env)
    ids = queue_events(2)
    lost = [Fault.crash_after_store(path=REFRESH_PATH)] * (refresh.REFRESH_RETRIES + 1)
    server.faults.push(*lost)
    first = flush(timeout=FAST)
    assert first.outcome == "retry-later" and "token refresh failed" in (first.message or "")
    second = flush(timeout=FAST)  # the same refresh token, which the server already rotated
    assert second.outcome == "done", second.message
    assert server.event_ids() == ids


def test_a_spent_token_is_answered_with_the_same_pair_while_that_pair_is_unused(
    server: IngestServer,
) -> None:
    first = server.login()
    lost = _refresh(server, first["refresh"]).json()  # as if this answer never arrived
    again = _refresh(server, first["refresh"])
    assert again.status_code == 200
    assert (again.json()["access"], again.json()["refresh"]) == (lost["access"], lost["refresh"])
    assert _refresh(server, again.json()["refresh"]).status_code == 200  # the chain goes on
    assert _refresh(server, first["refresh"]).status_code == 401  # its pair used: spent


def test_a_spent_token_whose_successor_was_used_is_refused(server: IngestServer) -> None:
    first = server.login()
    second = _refresh(server, first["refresh"]).json()
    assert _refresh(server, second["refresh"]).status_code == 200
    refused = _refresh(server, first["refresh"])
    assert refused.status_code == 401
    assert "already used or revoked" in refused.json()["error"]


def test_past_the_grace_a_spent_token_is_refused(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "peer.db")
    try:
        issuer = TokenIssuer(
            store, {"ada": "pw"}, secret="s" * 32, access_lifetime=60, refresh_lifetime=600,
            refresh_grace=0,
        )  # fmt: skip
        token = issuer.login("ada", "pw")["refresh"]
        issuer.refresh(token)
        with pytest.raises(Refused) as refused:
            issuer.refresh(token)
        assert refused.value.status == 401
    finally:
        store.close()


def test_a_server_file_from_before_the_grace_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE refresh_tokens (jti TEXT PRIMARY KEY, username TEXT NOT NULL,"
            " expires_at INTEGER NOT NULL, used_at TEXT)"
        )
    store = EventStore(path)
    try:
        issuer = TokenIssuer(
            store, {"ada": "pw"}, secret="s" * 32, access_lifetime=60, refresh_lifetime=600
        )
        token = issuer.login("ada", "pw")["refresh"]
        assert issuer.refresh(token)["access"]
    finally:
        store.close()
