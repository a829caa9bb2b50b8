"""Property-based tests (Hypothesis) at the boundaries where hostile input comes in (issue 9).

The properties: no exception escapes but the documented ones (FatalError for the user, the
HTTP client's SendError family), exit codes are 0, 1 or 2, the server never answers 5xx to
client garbage, and a flush against a server answering garbage loses no queued event.

Examples are few by default so the suite stays fast; HYPOTHESIS_PROFILE=long runs many more
(tests/conftest.py registers the profiles).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client as WsgiClient

from kitty_hooks.cli.main import run_cli
from kitty_hooks.deliver import batches, credentials, refresh
from kitty_hooks.deliver.client import Client, SendError
from kitty_hooks.deliver.flush import flush
from kitty_hooks.errors import FatalError
from kitty_hooks.peer.app import create_app
from kitty_hooks.queue.store import EventQueue
from tests.syncutil import envelopes, write_credentials

# Function-scoped fixtures (hermetic_env, capsys) are set up once per test, not per example:
# every example below makes its own files, so that is what we want.
_PER_TEST = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- strategies ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text()
    | st.datetimes()
    | st.dates()
    | st.times()
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_SECTIONS = {
    "tokens": ["access", "refresh", "access_expires_at", "refresh_expires_at"],
    "expiries": ["access", "refresh"],
    "user": ["username", "team_slug"],
    "server": ["url"],
}


@st.composite
def credentials_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents shaped like the credentials file, any key possibly of the wrong type."""
    document: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        if draw(st.booleans()):
            document[section] = {
                key: draw(toml_values | st.just("http://127.0.0.1:9") | st.just("x"))
                for key in keys
                if draw(st.booleans())
            }
        elif draw(st.integers(0, 4)) == 0:
            document[section] = draw(toml_scalars)
    return document


def _deep(depth: int, kind: str) -> str:
    opening, closing = {"array": ("[", "]"), "table": ("{a=", "}")}[kind]
    return "a = " + opening * depth + ("1" if kind == "table" else "") + closing * depth + "\n"


credentials_texts = (
    st.text()
    | credentials_documents().map(tomli_w.dumps)
    | st.builds(_deep, st.integers(1, 200_000), st.sampled_from(["array", "table"]))
    | st.binary().map(lambda b: b.decode("latin-1"))
)


# --- the credentials file --------------------------------------------------------------------


@_PER_TEST
@given(text=credentials_texts, mode=st.sampled_from([0o600, 0o644]))
def test_any_credentials_file_is_read_or_refused_in_one_user_error(
    hermetic_env: Path, capsys: pytest.CaptureFixture[str], text: str, mode: int
) -> None:
    path = hermetic_env / ".spec-kitty" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    path.chmod(mode)
    try:
        creds = credentials.load_credentials()
    except credentials.CredentialsError as exc:
        assert "\n" not in str(exc) and "~/.spec-kitty/credentials" in str(exc)
    else:
        assert creds.server_url.startswith(("http://", "https://"))
    code = run_cli(["status"])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "internal error" not in err and "Traceback" not in out + err


# --- what the HTTP client does with any answer -----------------------------------------------


class _Answer:
    status = 200
    body = b""
    headers: tuple[tuple[str, str], ...] = ()


class _GarbageHandler(BaseHTTPRequestHandler):
    answer = _Answer()

    def _respond(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        answer = type(self).answer
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_POST = do_GET = _respond

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def garbage_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _deep_json(depth: int) -> bytes:
    return b'{"results": ' + b"[" * depth + b"]" * depth + b"}"


answer_bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda results, extra: json.dumps({"results": results, **extra}).encode(),
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "event_id": st.sampled_from([e["event_id"] for e in envelopes(3)])
                    | json_scalars,
                    "status": st.sampled_from(["success", "duplicate", "rejected", "?"])
                    | json_values,
                    "error": json_values,
                },
            ),
            max_size=5,
        ),
        st.dictionaries(st.sampled_from(["error", "details", "access"]), json_values),
    )
    | st.integers(1, 100_000).map(_deep_json)
    | st.just(b'{"error": NaN, "details": "[[[[[[[[[[[[[[[[[[[[[[[[[["}')
)
statuses = st.sampled_from([200, 200, 400, 401, 403, 404, 429, 500, 502, 503]) | st.integers(
    100, 599
)
retry_after = st.none() | st.text(max_size=30) | st.integers(-10, 10**12).map(str)


def _serve_answer(status: int, body: bytes, retry: str | None) -> None:
    answer = _Answer()
    answer.status, answer.body = status, body
    # http.server writes header values as latin-1; a header a server could really send
    answer.headers = (
        (("Retry-After", retry.encode("latin-1", "replace").decode("latin-1").strip()),)
        if retry and retry.strip() and "\n" not in retry and "\r" not in retry
        else ()
    )
    _GarbageHandler.answer = answer


@given(status=statuses.filter(lambda s: s >= 200), body=answer_bodies, retry=retry_after)
def test_the_client_reads_any_answer_into_a_result_or_a_send_error(
    garbage_server: str, status: int, body: bytes, retry: str | None
) -> None:
    _serve_answer(status, body, retry)
    sent = envelopes(3)
    (encoded,) = batches.encode_batches(
        [(e["event_id"], json.dumps(e)) for e in sent], max_events=10, max_bytes=1 << 20
    )
    with Client(garbage_server, timeout=(2.0, 2.0)) as client:
        try:
            result = client.send(encoded, "token")
        except SendError as exc:
            assert str(exc)
        else:
            named = [r.event_id for r in result.results] + list(result.missing)
            assert sorted(named) == sorted(encoded.event_ids)
        try:
            answer = client.refresh("refresh-token")
            parsed = refresh.parse_refresh_response(answer, "refresh-token")
        except (SendError, refresh.RefreshFailed) as exc:
            assert str(exc)
        else:
            assert parsed.access


@_PER_TEST
@given(status=statuses.filter(lambda s: s >= 200), body=answer_bodies, retry=retry_after)
def test_a_flush_against_garbage_loses_no_event_and_exits_0_1_or_2(
    hermetic_env: Path,
    garbage_server: str,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
    retry: str | None,
) -> None:
    write_credentials(hermetic_env, garbage_server, {"access": "a", "refresh": "r"})
    _serve_answer(status, body, retry)
    with tempfile.TemporaryDirectory(dir=hermetic_env) as home:
        os.environ["KITTY_HOOKS_HOME"] = home  # conftest's monkeypatch puts it back after
        sent = envelopes(3)
        with EventQueue() as queue:
            queue.enqueue(sent)
        confirmed = _confirmed_ids(status, body)
        summary = flush(timeout=(2.0, 2.0), sleep=lambda seconds: None)
        with EventQueue() as queue:
            kept = {e.event_id for e in queue.list_entries()}
        gone = {e["event_id"] for e in sent} - kept
        assert gone <= confirmed, (summary, gone)
        # The command waits out a Retry-After for real (up to a minute): not here.
        _serve_answer(status, body, None)
        sync_code = run_cli(["sync"])
        out, err = capsys.readouterr()
        assert sync_code in (0, 1, 2)
        assert "internal error" not in err and "Traceback" not in out + err


def _confirmed_ids(status: int, body: bytes) -> set[str]:
    """The event ids a 200 answer says were stored (success or duplicate): all that may go."""
    if status != 200:
        return set()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return set()
    results = document.get("results") if isinstance(document, dict) else None
    return {
        r["event_id"]
        for r in results or []
        if isinstance(r, dict)
        and isinstance(r.get("event_id"), str)
        and r.get("status") in ("success", "duplicate")
    }


# --- the ingest server: any request ----------------------------------------------------------


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WsgiClient, str]]:
    app = create_app(
        tmp_path_factory.mktemp("ingest") / "s.db", users={"ada": "secret"}, log=lambda line: None
    )
    client = WsgiClient(app)
    access = client.post("/api/v1/token/", json={"username": "ada", "password": "secret"})
    try:
        yield client, access.get_json()["access"]
    finally:
        app.close()


_PATHS = [
    "/api/v1/token/",
    "/api/v1/token/refresh/",
    "/api/v1/events/batch/",
    "/api/v1/events/",
    "/api/v1/health/",
]
query_values = (
    st.text(max_size=30)
    | st.integers(-(10**30), 10**30).map(str)
    | st.sampled_from(["²", "٣", "1e3", "0x1", " 7", "9" * 25, "%ED%A0%80", "%00"])
)
request_bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda events: json.dumps({"events": events}).encode(),
        st.lists(json_values | st.just(envelopes(1)[0]), max_size=4),
    )
    | st.sampled_from(
        [
            b'{"username": "\\udc00", "password": "\\ud800"}',
            b'{"refresh": "\\ud83d"}',
            b'{"events": [{"lamport_clock": 1e999}]}',
            b"[" * 5000,
            b"1" * 5000,
        ]
    )
)


@given(
    path=st.sampled_from(_PATHS) | st.text(max_size=20).map(lambda t: "/" + quote(t)),
    method=st.sampled_from(["GET", "POST", "PUT"]),
    query=st.dictionaries(
        st.sampled_from(["limit", "after", "event_type", "x"]), query_values, max_size=3
    ),
    body=request_bodies,
    gzipped=st.booleans(),
    authorized=st.sampled_from(["valid", "none", "garbage"]),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_the_server_never_answers_5xx_to_client_garbage(
    ingest: tuple[WsgiClient, str],
    path: str,
    method: str,
    query: dict[str, str],
    body: bytes,
    gzipped: bool,
    authorized: str,
    content_type: str,
) -> None:
    client, access = ingest
    headers = {"Content-Type": content_type} if content_type else {}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if authorized != "none":
        headers["Authorization"] = "Bearer " + (access if authorized == "valid" else "x.y.z")
    response = client.open(path, method=method, query_string=query, data=body, headers=headers)
    assert response.status_code < 500, response.get_data()[:300]
    assert isinstance(response.get_json(silent=True), dict)


@given(
    events=st.lists(json_values | st.just(envelopes(1)[0]), max_size=4) | json_values,
    query=st.dictionaries(st.sampled_from(["limit", "after", "event_type"]), query_values),
)
def test_batches_and_listings_with_a_valid_token_are_never_5xx(
    ingest: tuple[WsgiClient, str], events: Any, query: dict[str, str]
) -> None:
    client, access = ingest
    auth_header = {"Authorization": f"Bearer {access}"}
    posted = client.post(
        "/api/v1/events/batch/",
        data=gzip.compress(json.dumps({"events": events}).encode()),
        headers={**auth_header, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert posted.status_code in (200, 400), posted.get_data()[:300]
    listed = client.get("/api/v1/events/", query_string=query, headers=auth_header)
    assert listed.status_code in (200, 400), listed.get_data()[:300]
    assert isinstance(listed.get_json(), dict)


def test_hypothesis_profile_is_small_by_default() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings().max_examples <= 50
    assert sys.version_info >= (3, 10)


def test_fatal_error_is_the_only_user_error_type() -> None:
    assert issubclass(credentials.CredentialsError, FatalError)
