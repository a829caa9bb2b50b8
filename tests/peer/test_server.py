"""The local ingest server over real HTTP on loopback, and the fault injection of tests/ingest.py."""

from __future__ import annotations

import copy
import gzip
import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from kitty_hooks.check import validation
from kitty_hooks.cli.main import run_cli
from kitty_hooks.contract import HEALTH_PATH, binds_to_loopback_only
from kitty_hooks.errors import FatalError
from kitty_hooks.model.events import derive_ulid
from kitty_hooks.peer.app import INGEST_SCHEMA, create_app
from kitty_hooks.peer.bodies import MAX_COMPRESSED_BYTES, MAX_DECOMPRESSED_BYTES
from kitty_hooks.peer.serve import listen
from tests.ingest import (
    BATCH_PATH,
    EVENTS_PATH,
    REFRESH_PATH,
    TOKEN_PATH,
    Fault,
    IngestProcess,
    IngestServer,
    list_events,
    post_batch,
)

SECRET = "a-test-secret-that-is-long-enough-for-hs256!"
EXAMPLE = (
    Path(__file__).parent.parent
    / "examples/pass/envelopes/staged/kitty-specs/039-cli-2x-readiness/sync.events.json"
)
_TEMPLATE = json.loads(EXAMPLE.read_text(encoding="utf-8"))[0]


def envelope(n: int, **fields: Any) -> dict[str, Any]:
    event = copy.deepcopy(_TEMPLATE)
    event["event_id"] = derive_ulid(1_763_600_000_000 + n, "server-test", str(n))
    event["lamport_clock"] = n
    event.update(fields)
    return event


def ids(*numbers: int) -> list[str]:
    return [envelope(n)["event_id"] for n in numbers]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IngestServer]:
    with IngestServer(tmp_path / "server.db", secret=SECRET) as running:
        yield running


@pytest.fixture
def access(server: IngestServer) -> str:
    return server.login()["access"]


def forged(kind: str, expires_in: int, *, sub: str = "ada", secret: str = SECRET) -> str:
    """A token signed like the server's own; made inside a test, as it is bound to the clock."""
    now = int(time.time())
    claims = {"sub": sub, "type": kind, "jti": "forged", "iat": now, "exp": now + expires_in}
    return jwt.encode(claims, secret, algorithm="HS256")


def raw_post(url: str, body: bytes, access: str, **headers: str) -> requests.Response:
    sent = {
        "Authorization": f"Bearer {access}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        **headers,
    }
    return requests.post(url + BATCH_PATH, data=body, headers=sent, timeout=10)


# --- tokens ----------------------------------------------------------------------------------


def test_login_returns_jwts_with_type_subject_and_expiry(server: IngestServer) -> None:
    tokens = server.login()
    assert tokens["access_lifetime"] == 900
    assert tokens["refresh_lifetime"] == 604800
    access = jwt.decode(tokens["access"], SECRET, algorithms=["HS256"])
    refresh = jwt.decode(tokens["refresh"], SECRET, algorithms=["HS256"])
    assert (access["type"], access["sub"]) == ("access", "ada")
    assert (refresh["type"], refresh["sub"]) == ("refresh", "ada")
    assert 900 <= access["exp"] - time.time() <= 901


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "ada", "password": "wrong"}, 401),
        ({"username": "bob", "password": "secret"}, 401),
        ({"username": "ada"}, 400),
        (["ada", "secret"], 400),
    ],
)
def test_login_refuses_bad_credentials(server: IngestServer, body: Any, status: int) -> None:
    response = requests.post(server.url + TOKEN_PATH, json=body, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]


def test_refresh_rotates_and_the_old_refresh_token_is_then_refused(server: IngestServer) -> None:
    first = server.login()
    answer = requests.post(
        server.url + REFRESH_PATH, json={"refresh": first["refresh"]}, timeout=10
    )
    assert answer.status_code == 200
    second = answer.json()
    assert set(second) == {"access", "refresh", "access_lifetime", "refresh_lifetime"}
    assert second["refresh"] != first["refresh"]
    assert post_batch(server.url, second["access"], [envelope(1)]).status_code == 200

    again = requests.post(
        server.url + REFRESH_PATH, json={"refresh": second["refresh"]}, timeout=10
    )
    assert again.status_code == 200
    # Its successor used, the first token is spent for good (before that, a grace takes it
    # again: docs/contract.md, tests/deliver/test_refresh_grace.py).
    reused = requests.post(
        server.url + REFRESH_PATH, json={"refresh": first["refresh"]}, timeout=10
    )
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]


def test_concurrent_refreshes_with_one_token_all_get_the_one_pair(server: IngestServer) -> None:
    """One exchange: the others, within the grace for a lost answer, get its pair again, so
    two clients sharing a credentials file end with the same tokens, not two sessions."""
    refresh = server.login()["refresh"]
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda _: requests.post(
                    server.url + REFRESH_PATH, json={"refresh": refresh}, timeout=10
                ),
                range(6),
            )
        )
    assert [a.status_code for a in answers] == [200] * 6
    assert len({(a.json()["access"], a.json()["refresh"]) for a in answers}) == 1


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (lambda: forged("refresh", -10), "refresh token expired"),
        (lambda: forged("access", 60), "not a refresh token"),
        (lambda: forged("refresh", 60), "already used or revoked"),  # never issued
        (lambda: "not-a-jwt", "invalid refresh token"),
    ],
    ids=["expired", "access-token", "never-issued", "not-a-jwt"],
)
def test_refresh_refuses_bad_tokens(
    server: IngestServer, token: Callable[[], str], message: str
) -> None:
    response = requests.post(server.url + REFRESH_PATH, json={"refresh": token()}, timeout=10)
    assert response.status_code == 401
    assert message in response.json()["error"]


def test_access_token_expires_after_its_lifetime(tmp_path: Path) -> None:
    with IngestServer(tmp_path / "s.db", access_lifetime=1, refresh_lifetime=60) as server:
        tokens = server.login()
        assert post_batch(server.url, tokens["access"], [envelope(1)]).status_code == 200
        exp = jwt.decode(tokens["access"], options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, exp - time.time()) + 0.05)
        expired = post_batch(server.url, tokens["access"], [envelope(2)])
        assert expired.status_code == 401
        assert expired.json()["error"] == "access token expired"
        fresh = requests.post(
            server.url + REFRESH_PATH, json={"refresh": tokens["refresh"]}, timeout=10
        ).json()
        assert post_batch(server.url, fresh["access"], [envelope(2)]).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (lambda: "", "missing bearer token"),
        (lambda: "Basic YWRhOnNlY3JldA==", "missing bearer token"),
        (lambda: "Bearer garbage", "invalid access token"),
        (lambda: f"Bearer {forged('access', -5)}", "access token expired"),
        (lambda: f"Bearer {forged('refresh', 60)}", "not an access token"),
        (lambda: f"Bearer {forged('access', 60, sub='eve')}", "unknown user"),
        (
            lambda: f"Bearer {forged('access', 60, secret='another secret ' * 3)}",
            "Signature verification failed",
        ),
    ],
    ids=["missing", "basic", "garbage", "expired", "refresh-token", "unknown-user", "other-key"],
)
def test_batch_with_a_bad_token_is_401(
    server: IngestServer, authorization: Callable[[], str], message: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if authorization():
        headers["Authorization"] = authorization()
    body = gzip.compress(json.dumps({"events": [envelope(1)]}).encode())
    response = requests.post(server.url + BATCH_PATH, data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert server.event_ids() == []


def test_refresh_token_used_as_access_token_is_refused(server: IngestServer) -> None:
    response = post_batch(server.url, server.login()["refresh"], [envelope(1)])
    assert response.status_code == 401
    assert "not an access token" in response.json()["error"]


# --- batches ---------------------------------------------------------------------------------


def test_batch_answers_each_event_in_order(server: IngestServer, access: str) -> None:
    invalid = envelope(3, lamport_clock=-1)
    batch = [envelope(1), envelope(2), envelope(1), invalid, "not an event", envelope(4)]
    response = post_batch(server.url, access, batch)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["event_id"], r["status"]) for r in results] == [
        (ids(1)[0], "success"),
        (ids(2)[0], "success"),
        (ids(1)[0], "duplicate"),
        (ids(3)[0], "rejected"),
        (None, "rejected"),
        (ids(4)[0], "success"),
    ]
    expected = validation.explain(INGEST_SCHEMA, invalid)[0].render()
    assert results[3]["error"] == expected
    assert results[3]["error"].startswith("$.lamport_clock")
    assert "not a JSON object" in results[4]["error"]
    assert [r["error"] for r in results if r["status"] != "rejected"] == [None] * 4
    assert server.event_ids() == ids(1, 2, 4)
    assert server.store.events()[0].username == "ada"


def test_a_batch_sent_again_is_all_duplicate_and_stored_once(
    server: IngestServer, access: str
) -> None:
    batch = [envelope(n) for n in range(5)]
    assert post_batch(server.url, access, batch).status_code == 200
    again = post_batch(server.url, access, batch).json()["results"]
    assert {r["status"] for r in again} == {"duplicate"}
    assert server.event_ids() == ids(*range(5))


def test_an_empty_batch_is_answered_with_no_results(server: IngestServer, access: str) -> None:
    assert post_batch(server.url, access, []).json() == {"results": []}


def _gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        (b'{"events": []}', {}, "not valid gzip"),
        (gzip.compress(b'{"events": [')[:-8], {}, "not valid gzip"),
        (gzip.compress(b"{not json"), {}, "not JSON"),
        (gzip.compress(b"\xff\xfe"), {}, "not JSON"),
        (gzip.compress(b'{"events": [NaN]}'), {}, "not JSON"),
        (gzip.compress(b"[" * 100_000 + b"]" * 100_000), {}, "not JSON"),
        (gzip.compress(b'{"evnts": []}'), {}, '"events" list'),
        (gzip.compress(b'{"events": {"a": 1}}'), {}, '"events" list'),
        (gzip.compress(b"[]"), {}, '"events" list'),
        (gzip.compress(b'{"events": []}'), {"Content-Encoding": "identity"}, "gzip"),
        (gzip.compress(b'{"events": []}'), {"Content-Type": "text/plain"}, "Content-Type"),
        (lambda: _gzip_bomb(MAX_DECOMPRESSED_BYTES + (1 << 20)), {}, "too large"),
        (lambda: b"\0" * (MAX_COMPRESSED_BYTES + 1), {}, "too large"),
    ],
    ids=[
        "not-gzip",
        "truncated-gzip",
        "not-json",
        "not-utf8",
        "nan",
        "nested-too-deep",
        "no-events",
        "events-not-a-list",
        "not-an-object",
        "not-gzip-encoded",
        "not-json-type",
        "gzip-bomb",
        "over-8-mib",
    ],
)
def test_unreadable_batch_is_400_with_error_and_details(
    server: IngestServer,
    access: str,
    body: bytes | Callable[[], bytes],
    headers: dict[str, str],
    error: str,
) -> None:
    response = raw_post(server.url, body() if callable(body) else body, access, **headers)
    assert response.status_code == 400
    answer = response.json()
    assert error in answer["error"]
    assert answer["details"]
    assert server.event_ids() == []


def test_concurrent_batches_with_overlapping_ids_store_each_id_once(
    server: IngestServer, access: str
) -> None:
    # Eight clients, each sending 60 events in batches of 20, all sharing a third of the ids.
    def client(worker: int) -> list[dict[str, Any]]:
        numbers = [1000 * worker + n if n % 3 else n for n in range(60)]
        results = []
        for start in range(0, 60, 20):
            batch = [envelope(n) for n in numbers[start : start + 20]]
            response = post_batch(server.url, access, batch)
            assert response.status_code == 200
            results += response.json()["results"]
        return results

    with ThreadPoolExecutor(8) as pool:
        results = [r for worker in pool.map(client, range(1, 9)) for r in worker]
    stored = server.event_ids()
    assert len(stored) == len(set(stored)) == 20 + 8 * 40
    successes = Counter(r["event_id"] for r in results if r["status"] == "success")
    assert set(successes) == set(stored)
    assert set(successes.values()) == {1}
    assert sum(r["status"] == "duplicate" for r in results) == 7 * 20


# --- listing and routing ---------------------------------------------------------------------


def test_list_returns_events_in_arrival_order_with_filter_and_paging(
    server: IngestServer, access: str
) -> None:
    other = envelope(9, event_type="MissionDossierSnapshotComputed", payload={"x": 1})
    post_batch(server.url, access, [envelope(3), envelope(1)])
    post_batch(server.url, access, [other, envelope(2)])
    assert [e["event_id"] for e in list_events(server.url, access)] == ids(3, 1, 9, 2)
    assert list_events(server.url, access, event_type="WPStatusChanged")[-1] == envelope(2)
    page = list_events(server.url, access, limit=2, after=ids(3)[0])
    assert [e["event_id"] for e in page] == ids(1, 9)
    probe = requests.get(
        server.url + EVENTS_PATH,
        params={"limit": 0},
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    ).json()
    assert probe == {"events": [], "count": 0, "total": 4}


@pytest.mark.parametrize(
    ("query", "status"), [({"limit": "-1"}, 400), ({"after": "nope"}, 400), ({}, 401)]
)
def test_list_refuses_bad_queries_and_missing_tokens(
    server: IngestServer, access: str, query: dict[str, str], status: int
) -> None:
    headers = {"Authorization": f"Bearer {access}"} if status != 401 else {}
    response = requests.get(server.url + EVENTS_PATH, params=query, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]


def test_health_needs_no_token_and_errors_are_json(server: IngestServer) -> None:
    assert requests.get(server.url + HEALTH_PATH, timeout=10).json() == {"status": "ok"}
    missing = requests.get(server.url + "/api/v2/nothing/", timeout=10)
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/json")
    assert missing.json()["error"]
    no_slash = requests.post(server.url + BATCH_PATH.rstrip("/"), timeout=10)
    assert no_slash.status_code == 404
    assert BATCH_PATH in no_slash.json()["details"]
    wrong = requests.get(server.url + BATCH_PATH, timeout=10)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"
    assert "not allowed" in wrong.json()["error"]


# --- binding and the process ------------------------------------------------------------------


def test_is_loopback() -> None:
    assert all(map(binds_to_loopback_only, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(binds_to_loopback_only, ["0.0.0.0", "::", "192.0.2.1", ""]))


def test_refuses_a_non_loopback_host_unless_allowed(tmp_path: Path) -> None:
    app = create_app(tmp_path / "s.db", users={"ada": "secret"})
    try:
        with pytest.raises(FatalError, match=r"refusing to listen on 0\.0\.0\.0.*--allow-remote"):
            listen(app, "0.0.0.0", 0)
        allowed = listen(app, "0.0.0.0", 0, allow_remote=True)
        assert allowed.port > 0
        allowed.stop()
        allowed.run()  # returns at once: stop() came first
    finally:
        app.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0", "--user", "ada:secret"], "refusing to listen on 0.0.0.0"),
        (["--user", "ada"], "--user: entry 1 is not NAME:PASSWORD"),
        ([], "no users"),
    ],
)
def test_main_explains_what_is_wrong_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run_cli(["serve", *argv, "--db", str(tmp_path / "s.db")]) == 2
    assert message in capsys.readouterr().err


def test_killed_process_restarts_on_the_same_port_with_its_data_and_sessions(
    tmp_path: Path,
) -> None:
    with IngestProcess(tmp_path / "server.db") as process:
        tokens = process.login()
        assert post_batch(process.url, tokens["access"], [envelope(1)]).status_code == 200
        url = process.url
        process.kill()
        with pytest.raises(requests.ConnectionError):
            requests.get(url + HEALTH_PATH, timeout=2)
        process.restart()
        assert process.url == url
        # The signing secret lives in the database, so the tokens of before still work.
        second = post_batch(url, tokens["access"], [envelope(1), envelope(2)]).json()["results"]
        assert [r["status"] for r in second] == ["duplicate", "success"]
        assert [e["event_id"] for e in process.events()] == ids(1, 2)
        refreshed = requests.post(
            url + REFRESH_PATH, json={"refresh": tokens["refresh"]}, timeout=10
        )
        assert refreshed.status_code == 200
        assert process.terminate() == 0
        assert "stopped" in process.log_text()


# --- fault injection -------------------------------------------------------------------------


def test_fault_status_answers_once_without_reaching_the_app(
    server: IngestServer, access: str
) -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    server.faults.push(
        Fault.status(500), Fault.status(503, retry_after="2"), Fault.status(429, retry_after=when)
    )
    answers = [post_batch(server.url, access, [envelope(1)]) for _ in range(4)]
    assert [a.status_code for a in answers] == [500, 503, 429, 200]
    assert answers[1].headers["Retry-After"] == "2"
    assert answers[2].headers["Retry-After"] == when
    assert "error" in answers[0].json()
    assert server.event_ids() == ids(1)
    assert [r.fault for r in server.requests(BATCH_PATH)] == ["status"] * 3 + [None]


def test_fault_401_rejects_a_valid_token_once(server: IngestServer, access: str) -> None:
    server.faults.push(Fault.status(401))
    assert post_batch(server.url, access, [envelope(1)]).status_code == 401
    assert post_batch(server.url, access, [envelope(1)]).status_code == 200


def test_fault_applies_only_to_its_path(server: IngestServer) -> None:
    tokens = server.login()
    server.faults.push(Fault.status(500, path=REFRESH_PATH))
    assert post_batch(server.url, tokens["access"], [envelope(1)]).status_code == 200
    refresh = requests.post(server.url + REFRESH_PATH, json={"refresh": tokens["refresh"]})
    assert refresh.status_code == 500
    assert server.faults.pending() == []


def test_fault_delay_makes_a_slow_server_that_still_stores(
    server: IngestServer, access: str
) -> None:
    server.faults.push(Fault.delay(0.6))
    with pytest.raises(requests.Timeout):
        post_batch(server.url, access, [envelope(1)], timeout=0.2)
    deadline = time.monotonic() + 5
    while not server.event_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.event_ids() == ids(1)


def test_stopping_the_server_cuts_a_delay_short(tmp_path: Path) -> None:
    started = time.monotonic()
    with IngestServer(tmp_path / "s.db") as server:
        access = server.login()["access"]
        server.faults.push(Fault.delay(60))
        with pytest.raises(requests.Timeout):
            post_batch(server.url, access, [envelope(1)], timeout=0.2)
    assert time.monotonic() - started < 5


def test_fault_body_sends_a_malformed_answer(server: IngestServer, access: str) -> None:
    server.faults.push(Fault.body(b"garbage"), Fault.body(b"<html>oops</html>", status=502))
    first = post_batch(server.url, access, [envelope(1)])
    assert (first.status_code, first.content) == (200, b"garbage")
    assert post_batch(server.url, access, [envelope(1)]).status_code == 502
    assert server.event_ids() == []


def test_fault_drop_results_stores_all_but_answers_for_some(
    server: IngestServer, access: str
) -> None:
    server.faults.push(Fault.drop_results(2))
    results = post_batch(server.url, access, [envelope(n) for n in range(5)]).json()["results"]
    assert [r["event_id"] for r in results] == ids(0, 1, 2)
    assert server.event_ids() == ids(*range(5))


def test_fault_crash_after_store_closes_the_connection_unanswered(
    server: IngestServer, access: str
) -> None:
    server.faults.push(Fault.crash_after_store())
    with pytest.raises(requests.ConnectionError):
        post_batch(server.url, access, [envelope(1), envelope(2)])
    assert server.event_ids() == ids(1, 2)
    again = post_batch(server.url, access, [envelope(1), envelope(2)]).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    crashed = server.requests(BATCH_PATH)[0]
    assert (crashed.status, crashed.fault, crashed.event_count) == (None, "crash_after_store", 2)


def test_request_log_hides_tokens_but_tells_them_apart(server: IngestServer) -> None:
    tokens = server.login()
    post_batch(server.url, tokens["access"], [envelope(1), envelope(2), envelope(3)])
    fresh = requests.post(
        server.url + REFRESH_PATH, json={"refresh": tokens["refresh"]}, timeout=10
    ).json()
    post_batch(server.url, fresh["access"], [])
    log = server.requests()
    assert [(r.method, r.path, r.status) for r in log] == [
        ("POST", TOKEN_PATH, 200),
        ("POST", BATCH_PATH, 200),
        ("POST", REFRESH_PATH, 200),
        ("POST", BATCH_PATH, 200),
    ]
    first, second = server.requests(BATCH_PATH)
    assert (first.event_count, second.event_count) == (3, 0)
    assert first.headers["Authorization"] == "Bearer <redacted>"
    assert first.headers["Content-Encoding"] == "gzip"
    assert tokens["access"] not in json.dumps([r.headers for r in log])
    assert first.token_jti and second.token_jti and first.token_jti != second.token_jti
    assert len(server.requests(REFRESH_PATH)) == 1


def test_server_threads_do_not_outlive_the_context(tmp_path: Path) -> None:
    before = threading.active_count()
    with IngestServer(tmp_path / "s.db") as server:
        server.login()
    assert threading.active_count() == before
