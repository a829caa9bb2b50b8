"""The SaaS wire contract (docs/contract.md), written once for both sides of it.

The HTTP client (deliver/) and the local ingest server (peer/) import their paths, limits,
per-event results, statuses and error categories from here, so the two cannot drift apart.
Pure: of kitty_hooks it imports only model.vocabulary; socket only inside the one function that
resolves a name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from kitty_hooks.model.vocabulary import Vocabulary

TOKEN_PATH = "/api/v1/token/"
"""Log in: username and password for a token pair (`kitty-hooks login`, and spec-kitty 2.x's
`spec-kitty auth login`)."""
REFRESH_PATH = "/api/v1/token/refresh/"
BATCH_PATH = "/api/v1/events/batch/"
EVENTS_PATH = "/api/v1/events/"
"""The local peer's listing of what it received; not part of the SaaS API."""
PROBE_PATH = EVENTS_PATH + "?limit=0"
"""An authenticated GET that answers with no events: is the server there, is the token good."""
HEALTH_PATH = "/api/v1/health/"
"""The local peer's unauthenticated health check; not part of the SaaS API."""

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1 << 20  # compressed


class EventStatus(Vocabulary):
    """What a 200 answer says of one event."""

    SUCCESS = "success"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Category(Vocabulary):
    """Why an event was rejected, read from the server's words (categorize)."""

    SCHEMA_MISMATCH = "schema_mismatch"
    AUTH_EXPIRED = "auth_expired"
    SERVER_ERROR = "server_error"
    UNKNOWN = "unknown"


class EventResult(NamedTuple):
    """One event's verdict in a 200 answer: `{"event_id", "status", "error"}` on the wire.

    error_category is the client's reading of error (categorize), never sent: the server
    leaves it None. event_id is None only in the server's answer to an entry without one.
    """

    event_id: str | None
    status: EventStatus
    error: str | None = None
    error_category: Category | None = None

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status.value, "error": self.error}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> EventResult | None:
        """The verdict an entry of `results` states; None when its status is none of the
        contract's, which says nothing certain about the event."""
        event_id, status = item.get("event_id"), item.get("status")
        if status in (EventStatus.SUCCESS, EventStatus.DUPLICATE):
            return cls(event_id, EventStatus(status))
        if status == EventStatus.REJECTED:
            error = str(
                item.get("error") or item.get("error_message") or "rejected without a reason"
            )
            return cls(event_id, EventStatus.REJECTED, error, categorize(error))
        return None


_CATEGORY_WORDS = (
    # Auth first: "invalid token" is an auth problem, not a schema one.
    (
        Category.AUTH_EXPIRED,
        r"token|auth\w*|expired|credentials?|permission|unauthori[sz]ed|forbidden",
    ),
    (Category.SCHEMA_MISMATCH, r"schema|expected|required|invalid|missing|format|validation"),
    (Category.SERVER_ERROR, r"server|internal|database|unavailable"),
)


def categorize(error: str | None) -> Category:
    """Which of the contract's error categories a rejection message falls in, by its words."""
    text = (error or "").lower()
    for category, words in _CATEGORY_WORDS:
        if re.search(rf"\b(?:{words})\b", text):
            return category
    return Category.UNKNOWN


# --- the loopback rule -------------------------------------------------------------------------
# Loopback is where plain http is allowed (the client) and the only place the local peer listens
# unless told otherwise (the server). Two questions, two functions, on purpose:
# - the client asks of a URL's host whether tokens may travel over plain http to it. It must not
#   resolve the name: DNS (or a hosts file) that maps a name to 127.0.0.1 today may map it
#   elsewhere tomorrow, and the check runs on every credentials load, with no network at hand.
#   So only what is loopback by its spelling counts.
# - the server asks of a bind host where its socket will really listen. It must resolve: it binds
#   to whatever the name resolves to, so a name resolving to a public address would expose its
#   throwaway passwords to the network.


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8, ::1 (also written ::ffff:127.0.0.1 or with a trailing dot),
    by spelling alone: no name is resolved."""
    import ipaddress

    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback; 3.11's is_loopback says no
    return address.is_loopback


def binds_to_loopback_only(host: str) -> bool:
    """True when every address the bind host resolves to is a loopback address."""
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )
