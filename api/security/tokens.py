"""JSON Web Tokens (PyJWT, HS256): encoding and verification, no I/O.

Claims: `sub` (user name), `role`, `tenant`, `typ` ("access" or "refresh"), `jti` (token id), `iat`,
`exp`, `iss`, and `fam`, the session's refresh family (see `ems.api.security.sessions`). `iat` keeps
sub-second precision so that a token issued just after a password change is told apart from one
issued just before it. Decoding pins the algorithm to HS256: `alg: none` and every other algorithm
are refused, whatever the token's header says; every claim above is required.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import jwt

from ems.api.security.errors import Unauthorized

if TYPE_CHECKING:
    from ems.api.security.store import UserInfo

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
CLOCK_SKEW = 30  # seconds another API process's clock may be ahead of ours
REQUIRED = ["sub", "typ", "jti", "iat", "exp", "iss", "fam"]
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a token."""

    sub: str
    role: str | None
    tenant: str | None
    typ: TokenType
    jti: str
    iat: float
    exp: int
    iss: str
    fam: str


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands out: both tokens, their lifetimes (s) and the user."""

    access_token: str
    refresh_token: str
    access: TokenClaims
    refresh: TokenClaims
    expires_in: int
    refresh_expires_in: int
    user: UserInfo


class TokenCodec:
    """Signs and verifies the tokens of one issuer with one shared secret."""

    def __init__(
        self,
        secret: str | bytes,
        issuer: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must have at least {MIN_SECRET_BYTES} bytes")
        self.key, self.issuer, self.clock = key, issuer, clock
        self.ttl: dict[str, int] = {"access": access_ttl, "refresh": refresh_ttl}

    def issue(
        self, sub: str, role: str | None, tenant: str | None, typ: TokenType, fam: str
    ) -> tuple[str, TokenClaims]:
        """A signed token of type `typ` and its claims."""
        now = round(self.clock(), 6)
        claims = TokenClaims(
            sub=sub,
            role=role,
            tenant=tenant,
            typ=typ,
            jti=secrets.token_urlsafe(16),
            iat=now,
            exp=int(now) + self.ttl[typ],
            iss=self.issuer,
            fam=fam,
        )
        token = jwt.encode(claims.__dict__, self.key, algorithm=ALGORITHM)
        return token, claims

    def verify(self, token: str, typ: TokenType) -> TokenClaims:
        """The claims of `token` if it is ours, unexpired and of type `typ`; else `Unauthorized`."""
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": REQUIRED},
                leeway=CLOCK_SKEW,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        # PyJWT allowed CLOCK_SKEW on `iat` (a token from a process whose clock is a little ahead);
        # expiry is exact, on our clock.
        if not isinstance(payload["exp"], int | float) or payload["exp"] <= self.clock():
            raise Unauthorized("token expired")
        if payload.get("typ") != typ:
            raise Unauthorized(f"not an {typ} token" if typ == "access" else f"not a {typ} token")
        try:
            return TokenClaims(
                sub=_text(payload["sub"]),
                role=_optional_text(payload.get("role")),
                tenant=_optional_text(payload.get("tenant")),
                typ=typ,
                jti=_text(payload["jti"]),
                iat=float(payload["iat"]),
                exp=int(payload["exp"]),
                iss=_text(payload["iss"]),
                fam=_text(payload["fam"]),
            )
        except (TypeError, ValueError):
            raise Unauthorized("invalid token") from None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not a string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)
