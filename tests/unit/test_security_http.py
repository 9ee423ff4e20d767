"""The HTTP edges of security: where credentials are found, session cookies, request/answer models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ems.api.security.cookies import clear_session_cookies, set_session_cookies
from ems.api.security.credentials import find_credential
from ems.api.security.errors import Unauthorized
from ems.api.security.models import KeyCreate, KeyCreated, LoginRequest, TokenResponse, UserOut, UserUpdate
from ems.api.security.store import KeyInfo, UserInfo
from ems.api.security.tokens import TokenCodec, TokenPair
from ems.settings import Settings

KEY = "ems_0123456789abcdef_" + "k" * 43
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
USER = UserInfo("alice", "operator", None, False, NOW, NOW, NOW)


def request(headers: dict[str, str] | None = None, query: str = "", cookie: str | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookie is not None:
        raw.append((b"cookie", cookie.encode()))
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": query.encode()}
    )


def found(req: Request) -> tuple[str, str, str] | None:
    c = find_credential(req)
    return None if c is None else (c.kind, c.value, c.source)


def test_each_place_a_credential_can_be() -> None:
    assert found(request()) is None
    assert found(request({"Authorization": "Bearer eyJ.a.b"})) == (
        "token",
        "eyJ.a.b",
        "Authorization: Bearer",
    )
    assert found(request({"Authorization": f"bearer {KEY}"}))[:2] == ("key", KEY)
    assert found(request({"Authorization": f"Key {KEY}"}))[:2] == ("key", KEY)
    assert found(request({"X-API-Key": KEY}))[:2] == ("key", KEY)
    assert found(request({"api-key": KEY}))[:2] == ("key", KEY)
    assert found(request(query=f"api-key={KEY}&status=open"))[:2] == ("key", KEY)
    assert found(request(cookie="ems_access=eyJ.c.d; other=1"))[:2] == ("token", "eyJ.c.d")


def test_the_first_credential_in_order_wins() -> None:
    everything = {"Authorization": "Bearer eyJ.first.x", "X-API-Key": KEY}
    assert found(request(everything, f"api-key={KEY}", "ems_access=eyJ.c.d"))[1] == "eyJ.first.x"
    assert found(request({"X-API-Key": "ems_x"}, f"api-key={KEY}", "ems_access=eyJ.c.d"))[1] == "ems_x"
    assert found(request(query=f"api-key={KEY}", cookie="ems_access=eyJ.c.d"))[1] == KEY


@pytest.mark.parametrize(
    ("headers", "query", "reason"),
    [
        ({"Authorization": "Basic YTpi"}, "", "unsupported Authorization scheme"),
        ({"Authorization": "Bearer   "}, "", "empty credentials in Authorization: Bearer"),
        ({"Authorization": "Key"}, "", "empty credentials in Authorization: Key"),
        ({"X-API-Key": ""}, "", "empty credentials in header x-api-key"),
        ({}, "api-key=", "empty credentials in query parameter api-key"),
    ],
)
def test_presented_but_unusable_credentials_are_401(headers: dict, query: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        find_credential(request(headers, query))


def test_an_emptied_session_cookie_is_no_credential() -> None:
    assert found(request(cookie="ems_access=")) is None


def pair() -> TokenPair:
    codec = TokenCodec("s" * 64, "ems", 600, 7200)
    access, a = codec.issue("alice", "operator", None, "access", "f")
    refresh, r = codec.issue("alice", "operator", None, "refresh", "f")
    return TokenPair(access, refresh, a, r, 600, 7200, USER)


def cookies_of(response: Response) -> list[str]:
    return [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]


def test_session_cookies_are_http_only_lax_secure_and_path_limited() -> None:
    p, response = pair(), Response()
    set_session_cookies(response, p, Settings())
    access, refresh = cookies_of(response)
    assert access.startswith(f"ems_access={p.access_token};") and "Path=/;" in access
    assert refresh.startswith(f"ems_refresh={p.refresh_token};") and "Path=/api/v1/auth" in refresh
    for c, age in ((access, 600), (refresh, 7200)):
        assert "HttpOnly" in c and "SameSite=lax" in c and "Secure" in c and f"Max-Age={age}" in c
    plain = Response()
    set_session_cookies(plain, p, Settings(cookie_secure=False, cookie_samesite="strict"))
    assert all("Secure" not in c and "SameSite=strict" in c for c in cookies_of(plain))
    cleared = Response()
    clear_session_cookies(cleared, Settings())
    gone = cookies_of(cleared)
    assert [c.split("=")[0] for c in gone] == ["ems_access", "ems_refresh"]
    assert all("Max-Age=0" in c for c in gone) and "Path=/api/v1/auth" in gone[1]


def test_requests_refuse_unknown_fields_and_answers_hold_no_secret() -> None:
    with pytest.raises(ValidationError):
        LoginRequest.model_validate({"name": "a", "password": "b", "remember": True})
    with pytest.raises(ValidationError):
        KeyCreate.model_validate({"name": "k", "scopes": []})
    with pytest.raises(ValidationError):  # an expiry without a time zone is ambiguous
        KeyCreate.model_validate({"name": "k", "scopes": ["read:alerts"], "expires_at": "2030-01-01T00:00"})
    assert "password_hash" not in UserOut.model_json_schema()["properties"]
    body = TokenResponse.of(pair(), include_refresh=False).model_dump()
    assert (
        body["refresh_token"] is None and body["token_type"] == "bearer" and body["user"]["name"] == "alice"
    )
    key = KeyInfo("ab" * 8, "k", "alice", ("read:alerts",), None, NOW, None, None, None)
    created = KeyCreated.of_new(key, KEY).model_dump()
    assert created["key"] == KEY and created["scopes"] == ["read:alerts"] and "secret_hash" not in created


def test_a_user_update_tells_null_tenant_from_absent() -> None:
    assert UserUpdate.model_validate({"disabled": True}).changes() == {"disabled": True}
    assert UserUpdate.model_validate({"tenant": None}).changes() == {"tenant": None}
    assert UserUpdate.model_validate({"role": "viewer", "tenant": "acme"}).changes() == {
        "role": "viewer",
        "tenant": "acme",
    }
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"role": "root"})
