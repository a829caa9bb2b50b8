"""Sending events to the SaaS batch endpoint, and reading every answer the contract allows.

The one module that speaks HTTP (requests is imported on first use: never on the hook path):
batches, token refresh, login, listing and the probe. The bodies it sends are made in batches.py.
Every request has a connect and a read timeout. What the server said becomes a typed result
or one of the exceptions below; the flusher decides what that means for the queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from kitty_hooks.contract import (
    BATCH_PATH,
    EVENTS_PATH,
    PROBE_PATH,
    REFRESH_PATH,
    TOKEN_PATH,
    EventResult,
    is_loopback_host,
)
from kitty_hooks.deliver.batches import EncodedBatch

DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
# spec-kitty's SaaS answers a batch with 412 when its sync-protocol handshake refuses the client
# (spec-kitty-cli 3.2.7 sends `X-Spec-Kitty-Sync-Protocol: 2.0`; kitty-hooks speaks the contract
# of docs/contract.md and claims no protocol version it does not implement).
PROTOCOL_MISMATCH_STATUS = 412
_SERVER_TEXT_MAX = 300


@dataclass(frozen=True)
class BatchResult:
    results: tuple[EventResult, ...]
    missing: tuple[str, ...]
    """Sent, but absent from the answer: their fate is unknown, so they stay pending."""


class SendError(Exception):
    """The batch as a whole did not go through; nothing about single events is known."""


class AuthRejected(SendError):
    """401: the access token was refused."""


class RetryLater(SendError):
    """429/503, other 5xx, a timeout, a connection error or an unreadable answer."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProtocolMismatch(SendError):
    """412: the server's compatibility handshake refused our sync protocol. Every batch meets
    the same answer until kitty-hooks (or the server) changes: not a busy server, no retry soon."""


class NoAnswer(RetryLater):
    """No answer at all (a timeout, a refused or dropped connection): the request may have
    reached the server and been acted on."""


class BatchRefused(SendError):
    """400: the server refused the batch; `rejected` names the events it blamed, if any."""

    def __init__(self, message: str, rejected: Mapping[str, str]) -> None:
        super().__init__(message)
        self.rejected = dict(rejected)


class Client:
    """A keep-alive HTTP session to one server."""

    def __init__(self, server_url: str, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        import requests

        self._requests = requests
        self.server_url = server_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "kitty-hooks"
        if is_loopback_host(urlsplit(self.server_url).hostname or ""):
            # An http_proxy meant for the outside world must not swallow the local server.
            self.session.trust_env = False

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, batch: EncodedBatch, access_token: str) -> BatchResult:
        response = self._post(
            BATCH_PATH,
            data=batch.body,
            headers={
                "Authorization": f"Bearer {access_token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        if response.status_code == 200:
            return _read_results(response, batch.event_ids)
        if response.status_code == 401:
            raise AuthRejected(f"the server refused the access token ({_error_text(response)})")
        if response.status_code == 400:
            raise _refused(response, batch.event_ids)
        if response.status_code == PROTOCOL_MISMATCH_STATUS:
            raise _protocol_mismatch(response)
        raise _retry_later(response)

    def refresh(self, refresh_token: str) -> Any:
        """POST the refresh token; the answer's JSON, or AuthRejected (401) / RetryLater.

        What the JSON holds is for refresh.parse_refresh_response to judge.
        """
        response = self._post(REFRESH_PATH, json={"refresh": refresh_token})
        if response.status_code == 401:
            raise AuthRejected(f"the server refused the refresh token ({_error_text(response)})")
        if response.status_code != 200:
            raise _retry_later(response)
        document = _json(response)
        if document is None:
            raise RetryLater("the token refresh answer is not JSON")
        return document

    def login(self, username: str, password: str) -> dict[str, Any]:
        """POST a username and password (`kitty-hooks login`); the token JSON, AuthRejected on 401."""
        response = self._post(TOKEN_PATH, json={"username": username, "password": password})
        if response.status_code == 401:
            raise AuthRejected(f"login refused: {_error_text(response)}")
        if response.status_code != 200:
            raise (
                _retry_later(response)
                if response.status_code >= 500
                else SendError(f"login refused: {_error_text(response)}")
            )
        return _json(response)

    def list_events(self, access_token: str) -> list[dict[str, Any]]:
        """What the local ingest server received (its read endpoint; not part of the SaaS API)."""
        response = self._get(EVENTS_PATH, access_token)
        document = _json(response) if response.status_code == 200 else None
        if not isinstance(document, dict) or not isinstance(document.get("events"), list):
            raise SendError(f"cannot list events: {_error_text(response)}")
        return document["events"]

    def probe(self, access_token: str) -> tuple[int, str]:
        """An authenticated GET: (status code, what it means in words)."""
        try:
            response = self._get(PROBE_PATH, access_token)
        except RetryLater as exc:
            return 0, str(exc)
        if response.status_code == 200:
            return 200, "reachable, token accepted"
        if response.status_code == 401:
            return 401, "reachable, but the access token was refused"
        return (
            response.status_code,
            f"answered HTTP {response.status_code} ({_error_text(response)})",
        )

    def _get(self, path: str, access_token: str) -> Any:
        try:
            return self.session.get(
                self.server_url + path,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=self.timeout,
            )
        except self._requests.RequestException as exc:
            raise NoAnswer(f"cannot reach {self.server_url}: {_network_reason(exc)}") from None

    def _post(self, path: str, **kwargs: Any) -> Any:
        try:
            # A redirect would resend the body (and the token) to wherever it points.
            return self.session.post(
                self.server_url + path, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except self._requests.RequestException as exc:
            raise NoAnswer(f"cannot reach {self.server_url}: {_network_reason(exc)}") from None


def _network_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return "timed out"
    if "ConnectionError" in name:
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused"
        return "connection failed"
    return name


def _json(response: Any) -> Any:
    """The answer's JSON, None when it is not JSON (a server that answers garbage is not a bug).

    RecursionError too: json recurses once per nesting level, so `[[[[...` 2000 deep from a
    broken proxy would otherwise escape every caller as a crash.
    """
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _error_text(response: Any) -> str:
    document = _json(response)
    if isinstance(document, dict) and document.get("error"):
        return str(document["error"])
    return f"HTTP {response.status_code}"


def _read_results(response: Any, sent: tuple[str, ...]) -> BatchResult:
    document = _json(response)
    entries = document.get("results") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise RetryLater("the server answered 200 without a results list")
    wanted = set(sent)
    results: dict[str, EventResult] = {}
    for item in entries:
        if not isinstance(item, dict):
            continue
        event_id = item.get("event_id")
        if not isinstance(event_id, str) or event_id not in wanted or event_id in results:
            continue  # (a list or a dict is no id: unhashable, it would raise here)
        result = EventResult.from_json(item)
        # Any other status says nothing certain: that event stays pending.
        if result is not None:
            results[event_id] = result
    ordered = tuple(results[e] for e in sent if e in results)
    return BatchResult(ordered, tuple(e for e in sent if e not in results))


def _refused(response: Any, sent: tuple[str, ...]) -> BatchRefused:
    document = _json(response)
    error = document.get("error") if isinstance(document, dict) else None
    details = document.get("details") if isinstance(document, dict) else None
    if isinstance(details, str):
        with suppress(ValueError, RecursionError):  # details may be a JSON string
            details = json.loads(details)
    blamed: dict[str, str] = {}
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and item.get("event_id") in sent:
                blamed[item["event_id"]] = str(item.get("error") or item.get("reason") or error)
    words = str(error or "the server refused the batch")
    if details not in (None, "", []) and not blamed:
        words += f": {details if isinstance(details, str) else json.dumps(details)}"
    return BatchRefused(f"HTTP 400: {words}", blamed)


def _protocol_mismatch(response: Any) -> ProtocolMismatch:
    """The one line for a 412, with the server's own guidance when it sends some (its body:
    `error_code` client-too-old / client-too-new / client-protocol-unparseable,
    `error_description`, `sync_protocol.upgrade_guidance`)."""
    document = _json(response)
    document = document if isinstance(document, dict) else {}
    code = _one_line(document.get("error_code"))
    sync_protocol = document.get("sync_protocol")
    guidance = _one_line(
        sync_protocol.get("upgrade_guidance") if isinstance(sync_protocol, dict) else None
    )
    said = (
        guidance or _one_line(document.get("error_description")) or _one_line(document.get("error"))
    )
    if code is not None and code.lower() == "client-too-new":
        words = "the server speaks an older sync protocol than this kitty-hooks"
        advice = "use a kitty-hooks release that speaks the server's protocol"
    else:
        words = "the server speaks a newer sync protocol than this kitty-hooks"
        advice = "upgrade kitty-hooks, then run `kitty-hooks sync`"
    detail = "HTTP 412" + (f" {code}" if code else "") + (f": {said}" if said else "")
    return ProtocolMismatch(f"{words} ({detail}): {advice}; the queued events are kept")


def _one_line(value: Any) -> str | None:
    """A server's words for our one line: text only, blanks and control characters collapsed,
    cut short."""
    if not isinstance(value, str):
        return None
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if len(text) > _SERVER_TEXT_MAX:
        text = text[: _SERVER_TEXT_MAX - 1] + "…"
    return text or None


def _retry_later(response: Any) -> RetryLater:
    busy = response.status_code in (429, 503)  # the statuses whose Retry-After the contract honours
    return RetryLater(
        f"the server answered HTTP {response.status_code} ({_error_text(response)})",
        retry_after=parse_retry_after(response.headers.get("Retry-After")) if busy else None,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
