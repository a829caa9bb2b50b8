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

_JWT_ALGORITHM = "HS256"


class TokenPair(TypedDict):
    access: str
    refresh: str
    access_lifetime: int
    refresh_lifetime: int


class TokenIssuer:
    """JWTs (HS256) with sub, type (access/refresh), jti, iat and exp; refresh tokens rotate."""

    def __init__(
        self,
        store: EventStore,
        users: Mapping[str, str],
        *,
        secret: str,
        access_lifetime: int,
        refresh_lifetime: int,
    ) -> None:
        self._store = store
        self._users = dict(users)
        self._secret = secret
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime

    def login(self, username: str, password: str) -> TokenPair:
        expected = self._users.get(username)
        # Compare even for an unknown user, so the answer takes as long either way.
        matches = hmac.compare_digest(password.encode(), (expected or "\0").encode())
        if expected is None or not matches:
            raise Refused(401, "invalid username or password")
        return self._issue(username)

    def refresh(self, token: str) -> TokenPair:
        claims = self._decode(token, "refresh")
        if not self._store.use_refresh(claims["jti"]):
            raise Refused(401, "refresh token already used or revoked: log in again")
        return self._issue(claims["sub"])

    def access_subject(self, token: str) -> str:
        """The username an access token was issued to, or Refused(401)."""
        return str(self._decode(token, "access")["sub"])

    def _issue(self, username: str) -> TokenPair:
        # exp is whole seconds (PyJWT truncates it), rounded up so a token lives at least its
        # lifetime: a 1-second token issued at x.9 must not be dead 0.1 s later.
        now = time.time()
        access_exp = math.ceil(now) + self.access_lifetime
        refresh_exp = math.ceil(now) + self.refresh_lifetime
        refresh_jti = secrets.token_hex(16)
        self._store.record_refresh(refresh_jti, username, refresh_exp)
        return TokenPair(
            access=self._encode(username, "access", secrets.token_hex(16), now, access_exp),
            refresh=self._encode(username, "refresh", refresh_jti, now, refresh_exp),
            access_lifetime=self.access_lifetime,
            refresh_lifetime=self.refresh_lifetime,
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
