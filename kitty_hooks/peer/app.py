"""The local ingest server's WSGI application: the SaaS wire contract (DESIGN.md) on loopback.

It is the peer of the demo, the integration tests and the flush benchmark. So it speaks the
contract as the SaaS does: JWT login and rotating refresh, gzip batches answered event by event
(success / duplicate / rejected). It stores what it accepts in SQLite, where a restarted server
finds it again. Werkzeug routes, waitress serves (serve.py).

It reads liberally. It accepts every envelope a released client sends: kitty-hooks' own, and
those of spec-kitty 2.1.3's and 3.x's own sync (schemas/ingest-envelope.schema.json). It refuses
what none would. What kitty-hooks emits is held to the strict envelope schema elsewhere.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from kitty_hooks.check import validation
from kitty_hooks.contract import (
    BATCH_PATH,
    EVENTS_PATH,
    HEALTH_PATH,
    REFRESH_PATH,
    TOKEN_PATH,
    EventResult,
    EventStatus,
)
from kitty_hooks.errors import FatalError
from kitty_hooks.peer.answers import Refused, json_error, json_response, unauthorized
from kitty_hooks.peer.bodies import (
    BodyLimits,
    gunzip_capped,
    natural_arg,
    parse_json,
    read_capped,
    small_json_object,
)
from kitty_hooks.peer.store import EventStore
from kitty_hooks.peer.tokens import DEFAULT_ACCESS_LIFETIME, DEFAULT_REFRESH_LIFETIME, TokenIssuer

INGEST_SCHEMA = "ingest-envelope.schema.json"
"""What the server accepts: a superset of validation.ENVELOPE_SCHEMA (what kitty-hooks emits)."""


class IngestApp:
    """The WSGI application: routes, authentication, batch ingest, listing."""

    def __init__(
        self,
        store: EventStore,
        tokens: TokenIssuer,
        *,
        limits: BodyLimits,
        log: Callable[[str], None] | None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.limits = limits
        self._log = log
        self._urls = Map(
            [
                Rule(TOKEN_PATH, endpoint="token", methods=["POST"]),
                Rule(REFRESH_PATH, endpoint="refresh", methods=["POST"]),
                Rule(BATCH_PATH, endpoint="batch", methods=["POST"]),
                Rule(EVENTS_PATH, endpoint="events", methods=["GET"]),
                Rule(HEALTH_PATH, endpoint="health", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self._dispatch(Request(environ))
        return response(environ, start_response)

    def close(self) -> None:
        self.store.close()

    def _dispatch(self, request: Request) -> Response:
        adapter = self._urls.bind_to_environ(request.environ)
        try:
            endpoint, _ = adapter.match()
            handler: Callable[[Request], Response] = getattr(self, f"_on_{endpoint}")
            return handler(request)
        except RequestRedirect as redirect:
            # Werkzeug would redirect /api/v1/health to /api/v1/health/; the SaaS does not, and
            # a POST that follows a redirect can lose its body, so say what is wrong instead.
            return json_error(
                404, f"no endpoint at {request.path}", f"did you mean {redirect.new_url}?"
            )
        except MethodNotAllowed as exc:
            allowed = ", ".join(exc.valid_methods or [])
            return json_error(
                405,
                f"method {request.method} not allowed on {request.path}",
                headers={"Allow": allowed},
            )
        except HTTPException as exc:
            return json_error(exc.code or 500, exc.description or exc.name)
        except Refused as refused:
            return json_error(
                refused.status, refused.error, refused.details, headers=refused.headers
            )
        except Exception:
            self._say(f"{request.method} {request.path}: internal error\n{traceback.format_exc()}")
            return json_error(500, "internal server error")

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    def _on_health(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    def _on_token(self, request: Request) -> Response:
        body = small_json_object(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise Refused(400, 'the body must be {"username": "...", "password": "..."}')
        return json_response(200, self.tokens.login(username, password))

    def _on_refresh(self, request: Request) -> Response:
        token = small_json_object(request).get("refresh")
        if not isinstance(token, str) or not token:
            raise Refused(400, 'the body must be {"refresh": "<token>"}')
        return json_response(200, self.tokens.refresh(token))

    def _on_batch(self, request: Request) -> Response:
        username = self._authenticate(request)
        events = self._read_batch(request)
        results = self._ingest(username, events)
        stored = sum(r.status is EventStatus.SUCCESS for r in results)
        duplicate = sum(r.status is EventStatus.DUPLICATE for r in results)
        rejected = len(results) - stored - duplicate
        self._say(
            f"{username}: batch of {len(results)}: {stored} stored,"
            f" {duplicate} duplicate, {rejected} rejected"
        )
        return json_response(200, {"results": [r.to_json() for r in results]})

    def _on_events(self, request: Request) -> Response:
        self._authenticate(request)
        event_type = request.args.get("event_type")
        limit = natural_arg(request, "limit")
        after_seq = 0
        after = request.args.get("after")
        if after is not None:
            seq = self.store.seq_of(after)
            if seq is None:
                raise Refused(400, "after: no such event_id", after)
            after_seq = seq
        events = self.store.events(event_type=event_type, after_seq=after_seq, limit=limit)
        return json_response(
            200,
            {
                "events": [e.envelope for e in events],
                "count": len(events),
                "total": self.store.count(event_type=event_type),
            },
        )

    def _authenticate(self, request: Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("missing bearer token (Authorization: Bearer <access>)")
        if not token.isascii():  # a JWT is base64url and dots; PyJWT raises on a surrogate
            raise unauthorized("invalid access token: not ASCII")
        return self.tokens.access_subject(token.strip())

    def _read_batch(self, request: Request) -> list[Any]:
        if request.mimetype != "application/json":
            raise Refused(
                400, "Content-Type must be application/json", f"got {request.content_type!r}"
            )
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding != "gzip":
            raise Refused(
                400,
                "the body must be gzip-compressed (Content-Encoding: gzip)",
                f"got {encoding!r}",
            )
        compressed = read_capped(request, self.limits.compressed, what="batch")
        data = gunzip_capped(compressed, self.limits.decompressed)
        body = parse_json(data)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise Refused(
                400,
                'the body must be a JSON object with an "events" list',
                f"got {validation.render_value(body)}",
            )
        return body["events"]

    def _ingest(self, username: str, events: Sequence[Any]) -> list[EventResult]:
        results: list[EventResult | None] = [None] * len(events)
        accepted: list[tuple[int, dict[str, Any]]] = []
        for index, event in enumerate(events):
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if not isinstance(event_id, str):
                event_id = None
            problem = _envelope_problem(event)
            if problem is None:
                accepted.append((index, event))
            else:
                results[index] = EventResult(event_id, EventStatus.REJECTED, problem)
        stored = self.store.add(username, [event for _, event in accepted])
        for (index, event), new in zip(accepted, stored, strict=True):
            status = EventStatus.SUCCESS if new else EventStatus.DUPLICATE
            results[index] = EventResult(event["event_id"], status)
        return [r for r in results if r is not None]


def _envelope_problem(event: Any) -> str | None:
    if validation.is_valid(INGEST_SCHEMA, event):
        return None
    if not isinstance(event, dict):
        return f"$: not a JSON object (got {validation.render_value(event)})"
    violations = validation.explain(INGEST_SCHEMA, event)
    # The two validators could disagree on an edge case; the fast one decides, so still reject.
    return violations[0].render() if violations else "$: does not match the event envelope schema"


def create_app(
    db_path: Path,
    *,
    users: Mapping[str, str],
    access_lifetime: int = DEFAULT_ACCESS_LIFETIME,
    refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME,
    secret: str | None = None,
    limits: BodyLimits | None = None,
    log: Callable[[str], None] | None = None,
) -> IngestApp:
    """The ingest WSGI app on the SQLite file db_path (created if needed); close() it after.

    users maps username to password. Without secret, tokens are signed with a random secret
    kept in the database. log receives one line per batch and each internal error.
    """
    if access_lifetime < 1 or refresh_lifetime < 1:
        raise FatalError("token lifetimes must be at least 1 second")
    store = EventStore(db_path)
    tokens = TokenIssuer(
        store,
        users,
        secret=secret if secret is not None else store.signing_secret(),
        access_lifetime=access_lifetime,
        refresh_lifetime=refresh_lifetime,
    )
    return IngestApp(store, tokens, limits=limits or BodyLimits(), log=log)
