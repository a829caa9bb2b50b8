"""How the peer answers: JSON bodies, and a refusal raised anywhere that becomes one.

Every error the peer gives is `{"error": ..., "details"?: ...}` with a status, as the contract's
400 is; the code that finds the problem raises Refused, and the application turns it into that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response


class Refused(Exception):
    """A request answered with an error status and a JSON body {"error", "details"?}."""

    def __init__(
        self,
        status: int,
        error: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = dict(headers or {})


def unauthorized(error: str) -> Refused:
    return Refused(
        401,
        error,
        headers={"WWW-Authenticate": 'Bearer realm="kitty-hooks", error="invalid_token"'},
    )


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, mimetype="application/json", headers=headers)


def json_error(
    status: int, error: str, details: Any = None, *, headers: Mapping[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error}
    if details is not None:
        body["details"] = details
    return json_response(status, body, headers)
