"""The peer's sessions: JWT login and rotating refresh tokens, as the SaaS issues them."""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Mapping
from typing import Any, TypedDict

import jwt

from kitty_hooks.peer.answers import Refused, unauthorized
from kitty_hooks.peer.store import EventStore

DEFAULT_ACCESS_LIFETIME = 15 * 60
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600
REFRESH_GRACE = 15 * 60
"""How long a refresh token, once exchanged, is answered again with the same pair while that
pair's refresh token has never been used: the first answer was lost (docs/contract.md)."""

_JWT_ALGORITHM = "HS256"


class TokenPair(TypedDict):
    access: str
    refresh: str
    access_lifetime: int
    refresh_lifetime: int


class TokenIssuer:
    """JWTs (HS256) with sub, type (access/refresh), jti, iat and exp; refresh tokens rotate,
    with a grace for an answer lost on its way (refresh_grace seconds, see refresh())."""

    def __init__(
        self,
        store: EventStore,
        users: Mapping[str, str],
        *,
        secret: str,
        access_lifetime: int,
        refresh_lifetime: int,
        refresh_grace: float = REFRESH_GRACE,
    ) -> None:
        self._store = store
        self._users = dict(users)
        self._secret = secret
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.refresh_grace = refresh_grace

    def login(self, username: str, password: str) -> TokenPair:
        expected = self._users.get(username)
        # Compare even for an unknown user, so the answer takes as long either way.
        matches = hmac.compare_digest(password.encode(), (expected or "\0").encode())
        if expected is None or not matches:
            raise Refused(401, "invalid username or password")
        return self._issue(username)

    def refresh(self, token: str) -> TokenPair:
        """A new pair for a refresh token, which is then spent. Spent, it is answered again with
        that same pair within refresh_grace, as long as the pair's refresh token was never used
        (the answer was lost on its way); else refused."""
        claims = self._decode(token, "refresh")
        username = str(claims["sub"])
        now = time.time()
        plan = self._store.exchange_refresh(
            claims["jti"], username, self._plan(now), now=now, grace_seconds=self.refresh_grace
        )
        if plan is None:
            raise Refused(401, "refresh token already used or revoked: log in again")
        return self._pair(username, plan)

    def access_subject(self, token: str) -> str:
        """The username an access token was issued to, or Refused(401)."""
        return str(self._decode(token, "access")["sub"])

    def _issue(self, username: str) -> TokenPair:
        plan = self._plan(time.time())
        self._store.record_refresh(plan["refresh_jti"], username, plan["refresh_exp"])
        return self._pair(username, plan)

    def _plan(self, now: float) -> dict[str, Any]:
        """The claims of a new pair: ids, issue time, expiries."""
        # exp is whole seconds (PyJWT truncates it), rounded up so a token lives at least its
        # lifetime: a 1-second token issued at x.9 must not be dead 0.1 s later.
        return {
            "iat": int(now),
            "access_jti": secrets.token_hex(16),
            "access_exp": math.ceil(now) + self.access_lifetime,
            "refresh_jti": secrets.token_hex(16),
            "refresh_exp": math.ceil(now) + self.refresh_lifetime,
        }

    def _pair(self, username: str, plan: Mapping[str, Any]) -> TokenPair:
        """The pair a plan describes: the same plan, the same tokens (HS256 is deterministic),
        with the lifetimes they have left."""
        now = math.ceil(time.time())
        return TokenPair(
            access=self._encode(
                username, "access", plan["access_jti"], plan["iat"], plan["access_exp"]
            ),
            refresh=self._encode(
                username, "refresh", plan["refresh_jti"], plan["iat"], plan["refresh_exp"]
            ),
            access_lifetime=max(1, min(self.access_lifetime, plan["access_exp"] - now)),
            refresh_lifetime=max(1, min(self.refresh_lifetime, plan["refresh_exp"] - now)),
        )

    def _encode(self, username: str, kind: str, jti: str, now: float, exp: int) -> str:
        claims = {"sub": username, "type": kind, "jti": jti, "iat": int(now), "exp": exp}
        return jwt.encode(claims, self._secret, algorithm=_JWT_ALGORITHM)

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[_JWT_ALGORITHM],
                options={"require": ["exp", "sub", "type", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized(f"{kind} token expired") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"invalid {kind} token: {exc}") from None
        if claims.get("type") != kind:
            article = "an" if kind == "access" else "a"
            raise unauthorized(f"not {article} {kind} token (type {claims.get('type')!r})")
        if claims["sub"] not in self._users:
            raise unauthorized(f"{kind} token of an unknown user")
        return claims
