"""The auth, user and key routes (api/security/routes.py) through the route table, on real PostgreSQL
and Redis, as a browser (cookies) and a script (tokens in the body) use them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.routing import starlette_routes
from ems.api.security.authenticate import Authenticator
from ems.api.security.routes import ENDPOINTS
from ems.infra.migrate import drop_schema, migrate
from ems.settings import Settings
from ems.streams.heartbeat import redis_client

PASSWORD = "correct horse battery"


@pytest.fixture
async def api(servers: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, Authenticator]]:
    """A client of an app serving the security routes (HTTPS base URL: the cookies are Secure)."""
    tag = uuid.uuid4().hex[:10]
    cheap = {"EMS_ARGON2_TIME_COST": "1", "EMS_ARGON2_MEMORY_COST": "256", "EMS_ARGON2_PARALLELISM": "1"}
    settings = Settings.of_env(
        {**servers, **cheap, "EMS_READ_MODEL_SCHEMA": f"authr_{tag}", "EMS_APP_ID": tag}
    )
    url = settings.database_url.get_secret_value()
    migrate(url, settings.read_model_schema)
    pool = AsyncConnectionPool(
        url,
        kwargs={"options": f"-c search_path={settings.read_model_schema}", "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True)
    redis = redis_client(settings)
    app = Starlette(routes=starlette_routes(ENDPOINTS), exception_handlers=EXCEPTION_HANDLERS)
    auth = Authenticator(settings, pool, redis)
    app.state.auth, app.state.settings = auth, settings
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://api") as client:
            yield client, auth
    finally:
        await pool.close()
        await redis.aclose()
        drop_schema(url, settings.read_model_schema)


def error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]


async def test_a_browser_session_with_cookies(api) -> None:
    client, auth = api
    await auth.create_user("ada", PASSWORD, "admin", actor="test")
    assert error(await client.post("/api/v1/auth/login", json={"name": "ada", "password": "nope"})) == (
        401,
        "invalid name or password",
    )
    r = await client.post("/api/v1/auth/login", json={"name": "Ada", "password": PASSWORD})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert (
        body["refresh_token"] is None
        and body["user"]["name"] == "ada"
        and "password_hash" not in body["user"]
    )
    assert {"ems_access", "ems_refresh"} <= set(client.cookies.keys())
    me = (await client.get("/api/v1/auth/me")).json()
    assert (me["name"], me["kind"], me["role"]) == ("ada", "user", "admin") and "admin" in me["permissions"]

    old_refresh = client.cookies.get("ems_refresh")
    assert (await client.post("/api/v1/auth/refresh")).status_code == 200  # the cookie, rotated
    assert client.cookies.get("ems_refresh") != old_refresh
    assert (await client.get("/api/v1/auth/me")).status_code == 200

    old_access = client.cookies.get("ems_access")
    r = await client.post("/api/v1/auth/logout")
    assert r.status_code == 200 and "ems_access" not in client.cookies
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old_access}"})
    assert error(r) == (401, "token revoked") and r.headers["www-authenticate"].startswith("Bearer")
    assert error(await client.get("/api/v1/auth/me")) == (401, "authentication required")
    assert error(await client.post("/api/v1/auth/refresh")) == (
        400,
        "no refresh token: give refresh_token in the body or send the ems_refresh cookie",
    )


async def test_a_script_session_with_tokens_in_the_body(api) -> None:
    client, auth = api
    await auth.create_user("bot", PASSWORD, "viewer", actor="test")
    r = await client.post("/api/v1/auth/login", json={"name": "bot", "password": PASSWORD, "cookies": False})
    first = r.json()
    assert first["refresh_token"] and not client.cookies and first["expires_in"] == 28_800
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    second = again.json()
    assert again.status_code == 200 and second["refresh_token"] != first["refresh_token"]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert error(r) == (401, "refresh token already used: session revoked")
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert error(r) == (401, "token revoked")
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    assert error(await client.get("/api/v1/users", headers=headers))[0] == 401
    r = await client.post("/api/v1/auth/login", json={"name": "bot", "password": PASSWORD, "cookies": False})
    viewer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert error(await client.get("/api/v1/users", headers=viewer)) == (
        403,
        "admin is required for GET /api/v1/users",
    )
    r = await client.post("/api/v1/auth/login", json={"name": "bot", "password": PASSWORD, "extra": 1})
    assert r.status_code == 422


async def test_an_admin_manages_users_and_keys(api) -> None:
    client, auth = api
    await auth.create_user("root", PASSWORD, "admin", actor="test")
    login = await client.post(
        "/api/v1/auth/login", json={"name": "root", "password": PASSWORD, "cookies": False}
    )
    h = {"Authorization": f"Bearer {login.json()['access_token']}"}

    r = await client.post(
        "/api/v1/users", json={"name": "olga", "password": PASSWORD, "role": "operator"}, headers=h
    )
    assert r.status_code == 201 and r.json()["role"] == "operator"
    r = await client.post("/api/v1/users", json={"name": "olga", "password": PASSWORD}, headers=h)
    assert error(r) == (409, "user 'olga' exists")
    r = await client.post("/api/v1/users", json={"name": "x", "password": "short"}, headers=h)
    assert error(r) == (400, "password must have at least 12 characters")
    assert (
        error(
            await client.post(
                "/api/v1/users", json={"name": "y", "password": PASSWORD, "role": "god"}, headers=h
            )
        )[0]
        == 422
    )
    r = await client.patch("/api/v1/users/olga", json={"tenant": "acme"}, headers=h)
    assert r.status_code == 200 and r.json()["tenant"] == "acme"
    assert [u["name"] for u in (await client.get("/api/v1/users", headers=h)).json()["users"]] == [
        "olga",
        "root",
    ]
    assert error(await client.get("/api/v1/users/ghost", headers=h)) == (404, "no such user")
    assert error(await client.patch("/api/v1/users/root", json={"disabled": True}, headers=h))[0] == 409

    r = await client.post("/api/v1/keys", json={"name": "am", "scopes": ["write:observations"]}, headers=h)
    created = r.json()
    assert r.status_code == 201 and created["key"].startswith(f"ems_{created['key_id']}_")
    assert r.headers["cache-control"] == "no-store"
    me = (await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})).json()
    assert (me["kind"], me["name"], me["permissions"], me["key_id"]) == (
        "key",
        "am",
        ["write:observations"],
        created["key_id"],
    )
    r = await client.post("/api/v1/keys", json={"name": "bad", "scopes": ["write:everything"]}, headers=h)
    assert error(r) == (400, "unknown scope(s): write:everything")
    listed = (await client.get("/api/v1/keys", headers=h)).json()["keys"]
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "key" not in listed[0]
    r = await client.delete(f"/api/v1/keys/{created['key_id']}", headers=h)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert error(await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})) == (
        401,
        "API key revoked",
    )

    assert (await client.delete("/api/v1/users/olga", headers=h)).status_code == 204
    entries = (await client.get("/api/v1/audit?limit=3", headers=h)).json()["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("root", "user.delete"),
        ("root", "key.revoke"),
        ("root", "key.create"),
    ]


async def test_changing_ones_password_ends_the_sessions(api) -> None:
    client, auth = api
    await auth.create_user("judy", PASSWORD, actor="test")
    await client.post("/api/v1/auth/login", json={"name": "judy", "password": PASSWORD})
    r = await client.post(
        "/api/v1/auth/password", json={"current_password": "wrong one!", "new_password": "x" * 12}
    )
    assert error(r) == (401, "current password is wrong")
    r = await client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": PASSWORD + " 2"}
    )
    assert r.status_code == 200 and "ems_access" not in client.cookies
    assert (
        await client.post("/api/v1/auth/login", json={"name": "judy", "password": PASSWORD + " 2"})
    ).status_code == 200
