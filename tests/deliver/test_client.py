"""docs/contract/*.json, served over HTTP: the client reads each answer as docs/contract.md says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitty_hooks.check import validation
from kitty_hooks.deliver import batches, refresh
from kitty_hooks.deliver.client import AuthRejected, BatchRefused, BatchResult, Client
from tests.gitutil import PROJECT_ROOT
from tests.ingest import REFRESH_PATH, Fault, IngestServer

FIXTURES = PROJECT_ROOT / "docs" / "contract"
REQUEST = json.loads((FIXTURES / "batch-request.json").read_text())
IDS = [e["event_id"] for e in REQUEST["events"]]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


def send(server: IngestServer, answer: str, status: int = 200) -> BatchResult:
    server.faults.push(Fault.body(fixture(answer), status=status))
    (encoded,) = batches.encode_batches([(e["event_id"], json.dumps(e)) for e in REQUEST["events"]])
    with Client(server.url) as client:
        return client.send(encoded, server.login()["access"])


def test_the_example_request_is_valid_and_the_reference_server_takes_it(
    server: IngestServer,
) -> None:
    for envelope in REQUEST["events"]:
        assert validation.explain(validation.ENVELOPE_SCHEMA, envelope) == []
    (encoded,) = batches.encode_batches([(e["event_id"], json.dumps(e)) for e in REQUEST["events"]])
    with Client(server.url) as client:
        result = client.send(encoded, server.login()["access"])
    assert [(r.event_id, r.status) for r in result.results] == [(i, "success") for i in IDS]
    assert server.event_ids() == IDS


def test_200_success_and_duplicate(server: IngestServer) -> None:
    result = send(server, "batch-response-200.json")
    assert [r.status for r in result.results] == ["success", "duplicate"] and result.missing == ()


def test_200_with_a_rejection_carries_error_and_category(server: IngestServer) -> None:
    result = send(server, "batch-response-200-rejected.json")
    rejected = result.results[1]
    assert (rejected.status, rejected.error_category) == ("rejected", "schema_mismatch")
    assert "to_lane" in (rejected.error or "")


def test_200_missing_an_event_leaves_its_fate_unknown(server: IngestServer) -> None:
    result = send(server, "batch-response-200-partial.json")
    assert [r.event_id for r in result.results] == IDS[:1]
    assert result.missing == (IDS[1],)


@pytest.mark.parametrize(
    ("answer", "blamed", "words"),
    [
        ("batch-response-400-string.json", {}, "HTTP 400: Invalid batch: events must be a list"),
        (
            "batch-response-400-json-string.json",
            {IDS[1]: "unknown event type"},
            "HTTP 400: Invalid batch",
        ),
        (
            "batch-response-400-list.json",
            {IDS[1]: "schema mismatch: payload.to_lane"},
            "HTTP 400: Invalid batch",
        ),
    ],
)
def test_400_in_every_shape_of_details(
    server: IngestServer, answer: str, blamed: dict, words: str
) -> None:
    with pytest.raises(BatchRefused) as refused:
        send(server, answer, status=400)
    assert refused.value.rejected == blamed
    assert str(refused.value) == words


def test_401_is_an_auth_rejection(server: IngestServer) -> None:
    with pytest.raises(AuthRejected, match="Token is invalid or expired"):
        send(server, "batch-response-401.json", status=401)


def test_token_refresh_answers(server: IngestServer) -> None:
    server.faults.push(Fault.body(fixture("token-refresh-response-200.json"), path=REFRESH_PATH))
    with Client(server.url) as client:
        answer = client.refresh("old-refresh")
    parsed = refresh.parse_refresh_response(answer, "old-refresh")
    assert (parsed.access, parsed.refresh, parsed.access_lifetime) == (
        "<access jwt>",
        "<rotated refresh jwt>",
        900,
    )
    server.faults.push(
        Fault.body(fixture("token-refresh-response-401.json"), status=401, path=REFRESH_PATH)
    )
    with Client(server.url) as client, pytest.raises(AuthRejected):
        client.refresh("old-refresh")


def test_every_fixture_is_used_by_this_file() -> None:
    source = Path(__file__).read_text()
    for path in FIXTURES.glob("*.json"):
        assert path.name in source or path.name == "token-refresh-request.json", path.name
    assert json.loads(fixture("token-refresh-request.json")) == {"refresh": "<refresh jwt>"}
