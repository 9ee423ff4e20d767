"""The route table: every route declares a permission and documentation; the RBAC matrix over every
route, generated from the table (a new route is covered without touching this file)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.routing import AUTHENTICATED, PUBLIC, Endpoint, starlette_routes
from ems.api.security.principal import PERMISSIONS, ROLE_PERMISSIONS, Principal
from ems.api.table import ENDPOINTS, document
from ems.settings import Settings

PRINCIPALS = {
    "viewer": Principal("vic", "user", "viewer", ROLE_PERMISSIONS["viewer"], None),
    "operator": Principal("olga", "user", "operator", ROLE_PERMISSIONS["operator"], None),
    "admin": Principal("ada", "user", "admin", ROLE_PERMISSIONS["admin"], None),
    "ingest-key": Principal("collector", "key", None, frozenset({"write:observations"}), None, "k1"),
}


class HeaderAuth:
    """Stands in for the authenticator in this pure test of the wrapper: `X-Test-As: <role>`."""

    async def authenticate(self, request: httpx.Request) -> Principal | None:
        who = request.headers.get("x-test-as")
        return PRINCIPALS[who] if who else None


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=starlette_routes(ENDPOINTS), exception_handlers=EXCEPTION_HANDLERS)
    app.state.auth, app.state.settings = HeaderAuth(), Settings()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


def _url(e: Endpoint) -> str:
    path = e.path
    for name in e.path_params:
        path = path.replace("{" + name + "}", "x")
    return path


def test_every_route_declares_a_known_permission_and_is_documented() -> None:
    paths = document()["paths"]
    for e in ENDPOINTS:
        assert e.permission in PERMISSIONS | {PUBLIC, AUTHENTICATED}, e.id
        op = paths[e.path][e.method.lower()]
        assert op["summary"] and op["x-permission"] == e.permission and op["responses"], e.id
        if e.permission != PUBLIC:
            assert {"401", "403"} <= set(op["responses"]), e.id


def test_a_route_without_permission_or_summary_cannot_be_declared() -> None:
    async def handler(call: object) -> None:
        return None

    with pytest.raises(ValueError, match="permission"):
        Endpoint("GET", "/x", handler, permission="", summary="x")
    with pytest.raises(ValueError, match="summary"):
        Endpoint("GET", "/x", handler, permission=PUBLIC, summary="")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
async def test_rbac_matrix(endpoint: Endpoint) -> None:
    async with _client() as c:
        anonymous = await c.request(endpoint.method, _url(endpoint), json={})
        if endpoint.permission == PUBLIC:
            assert anonymous.status_code not in (401, 403)
        else:
            assert anonymous.status_code == 401, anonymous.text
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
        for who, principal in PRINCIPALS.items():
            r = await c.request(endpoint.method, _url(endpoint), json={}, headers={"x-test-as": who})
            allowed = endpoint.permission in (PUBLIC, AUTHENTICATED) or principal.allows(endpoint.permission)
            if allowed:
                assert r.status_code not in (401, 403), (who, r.status_code, r.text)
            else:
                assert r.status_code == 403, (who, r.status_code, r.text)
                assert endpoint.permission in r.text


def test_roles_follow_the_seed() -> None:
    viewer, operator = PRINCIPALS["viewer"], PRINCIPALS["operator"]
    assert all(p.startswith("read:") for p in viewer.permissions)
    assert operator.allows("write:alerts") and not operator.allows("write:assets")
    assert not operator.allows("admin") and PRINCIPALS["admin"].allows("write:assets")


async def test_reads_carry_an_etag_and_answer_304_while_unchanged() -> None:
    async with _client() as c:
        r = await c.get("/api/config", headers={"x-test-as": "viewer"})
        tag = r.headers["etag"]
        assert r.status_code == 200 and tag.startswith('"')
        again = await c.get("/api/config", headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert (await c.get("/api/config", headers={"If-None-Match": '"stale"'})).status_code == 200
