"""Tokens (api/security/tokens.py): what verifies, and every way a token is refused."""

from __future__ import annotations

import time

import jwt
import pytest

from ems.api.security.errors import Unauthorized
from ems.api.security.tokens import TokenCodec

SECRET = "s" * 64
HOUR = 3600


def codec(secret: str = SECRET, clock=time.time, issuer: str = "ems") -> TokenCodec:
    return TokenCodec(secret, issuer, access_ttl=8 * HOUR, refresh_ttl=30 * 24 * HOUR, clock=clock)


def refused(c: TokenCodec, token: str, typ: str = "access") -> str:
    with pytest.raises(Unauthorized) as info:
        c.verify(token, typ)  # type: ignore[arg-type]
    assert info.value.status == 401
    return info.value.reason


def test_an_issued_token_verifies_to_its_claims() -> None:
    c = codec()
    token, claims = c.issue("alice", "operator", "acme", "access", "fam1")
    got = c.verify(token, "access")
    assert got == claims
    assert (got.sub, got.role, got.tenant, got.typ, got.fam, got.iss) == (
        "alice",
        "operator",
        "acme",
        "access",
        "fam1",
        "ems",
    )
    assert got.exp == int(got.iat) + 8 * HOUR
    _, refresh = c.issue("alice", "operator", None, "refresh", "fam1")
    assert refresh.exp == int(refresh.iat) + 30 * 24 * HOUR and refresh.jti != got.jti


def test_an_expired_token_is_refused() -> None:
    token, _ = codec(clock=lambda: time.time() - 9 * HOUR).issue("a", "viewer", None, "access", "f")
    assert refused(codec(), token) == "token expired"
    # expiry is exact on the codec's clock (PyJWT alone would allow its clock-skew leeway)
    now = time.time()
    token, claims = codec(clock=lambda: now).issue("a", "viewer", None, "access", "f")
    assert codec(clock=lambda: claims.exp - 1).verify(token, "access").jti == claims.jti
    assert refused(codec(clock=lambda: claims.exp), token) == "token expired"


def test_a_forged_payload_is_refused() -> None:
    token, _ = codec().issue("eve", "viewer", None, "access", "f")
    header, _, signature = token.split(".")
    forged_body = jwt.encode(
        {"sub": "eve", "role": "admin", "typ": "access", "jti": "x", "iat": time.time(), "exp": 2**40},
        SECRET,
        algorithm="HS256",
    ).split(".")[1]
    assert refused(codec(), f"{header}.{forged_body}.{signature}") == "invalid token"
    assert refused(codec(), token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) == "invalid token"


def test_a_token_signed_with_another_key_is_refused() -> None:
    token, _ = codec(secret="t" * 64).issue("a", "admin", None, "access", "f")
    assert refused(codec(), token) == "invalid token"


def test_alg_none_and_other_algorithms_are_refused() -> None:
    c = codec()
    _, claims = c.issue("a", "admin", None, "access", "f")
    payload = dict(claims.__dict__)
    unsigned = jwt.encode(payload, None, algorithm="none")
    assert refused(c, unsigned) == "invalid token"
    assert refused(c, unsigned + "x") == "invalid token"
    # the same secret with another HMAC: the algorithm is pinned, not taken from the header
    assert refused(c, jwt.encode(payload, SECRET, algorithm="HS512")) == "invalid token"


def test_the_wrong_token_type_is_refused() -> None:
    c = codec()
    refresh, _ = c.issue("a", "viewer", None, "refresh", "f")
    access, _ = c.issue("a", "viewer", None, "access", "f")
    assert refused(c, refresh, "access") == "not an access token"
    assert refused(c, access, "refresh") == "not a refresh token"


def test_another_issuer_missing_claims_and_garbage_are_refused() -> None:
    token, claims = codec(issuer="other").issue("a", "viewer", None, "access", "f")
    assert refused(codec(), token) == "invalid token"
    for missing in ("fam", "jti", "exp", "typ", "sub"):
        payload = dict(codec().issue("a", "viewer", None, "access", "f")[1].__dict__)
        del payload[missing]
        assert refused(codec(), jwt.encode(payload, SECRET, algorithm="HS256")) == "invalid token", missing
    for garbage in ("", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "x" * 5000):
        assert refused(codec(), garbage) == "invalid token"
    wrong_types = {**claims.__dict__, "iss": "ems", "sub": 42}
    assert refused(codec(), jwt.encode(wrong_types, SECRET, algorithm="HS256")) == "invalid token"


def test_a_token_from_a_clock_a_little_ahead_is_accepted_far_ahead_refused() -> None:
    ahead, _ = codec(clock=lambda: time.time() + 10).issue("a", "viewer", None, "access", "f")
    assert codec().verify(ahead, "access").sub == "a"
    far, _ = codec(clock=lambda: time.time() + 600).issue("a", "viewer", None, "access", "f")
    assert refused(codec(), far) == "invalid token"


def test_a_short_secret_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        codec(secret="short")


def test_a_configured_secret_too_short_stops_the_api_at_start() -> None:
    from redis.asyncio import Redis

    from ems.api.security.authenticate import Authenticator
    from ems.settings import Settings

    with pytest.raises(ValueError, match="at least 32 bytes"):
        Authenticator(Settings(jwt_secret="too short"), pool=None, redis=Redis())  # type: ignore[arg-type]
