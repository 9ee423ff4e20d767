"""Security headers on every response, no-store under /api/, and CORS only for configured origins."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ems.api.edge import OriginCORS, SecurityHeaders, edge_middleware
from ems.settings import Settings

ORIGIN = "https://ops.example.com"


async def data(request: Request) -> Response:
    return JSONResponse({"alerts": []})


async def cached(request: Request) -> Response:
    headers = {"Cache-Control": "public, max-age=60", "Content-Security-Policy": "default-src 'none'"}
    return JSONResponse({"openapi": "3.1.0"}, headers=headers)


def app(**settings: object) -> Starlette:
    routes = [
        Route("/api/v1/alerts", data, methods=["GET", "POST"]),
        Route("/api/v1/spec", cached),
        Route("/health", data),
    ]
    return Starlette(routes=routes, middleware=edge_middleware(Settings(**settings)))


async def call(application: Starlette, method: str, url: str, headers: dict | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.request(method, url, headers=headers)


async def test_every_response_carries_the_security_headers() -> None:
    for url, status in (("/api/v1/alerts", 200), ("/health", 200), ("/nowhere", 404)):
        r = await call(app(), "GET", url)
        assert r.status_code == status
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
        assert r.headers["cross-origin-opener-policy"] == "same-origin"
        assert "strict-transport-security" not in r.headers


async def test_api_answers_are_not_stored_unless_the_route_says_otherwise() -> None:
    assert (await call(app(), "GET", "/api/v1/alerts")).headers["cache-control"] == "no-store"
    assert (await call(app(), "GET", "/api/v1/nothing")).headers["cache-control"] == "no-store"
    assert "cache-control" not in (await call(app(), "GET", "/health")).headers
    own = await call(app(), "GET", "/api/v1/spec")
    assert own.headers["cache-control"] == "public, max-age=60"
    assert own.headers["content-security-policy"] == "default-src 'none'"  # the route's own wins


async def test_hsts_only_when_enabled_and_the_csp_is_configurable() -> None:
    r = await call(app(hsts=True, hsts_max_age=600, content_security_policy=""), "GET", "/health")
    assert r.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    assert "content-security-policy" not in r.headers


async def test_without_configured_origins_there_are_no_cors_headers_at_all() -> None:
    simple = await call(app(), "GET", "/api/v1/alerts", {"Origin": ORIGIN})
    preflight = await call(
        app(), "OPTIONS", "/api/v1/alerts", {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    for r in (simple, preflight):
        assert not [h for h in r.headers if h.startswith("access-control-")]
    assert preflight.status_code == 405


async def test_a_configured_origin_gets_credentials_and_the_rate_limit_headers_exposed() -> None:
    application = app(cors_origins=[ORIGIN])
    simple = await call(application, "GET", "/api/v1/alerts", {"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert simple.headers["access-control-allow-credentials"] == "true"
    assert "RateLimit-Remaining" in simple.headers["access-control-expose-headers"]
    assert "Origin" in simple.headers["vary"]
    preflight = await call(
        application,
        "OPTIONS",
        "/api/v1/alerts",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["x-frame-options"] == "DENY"  # security headers on CORS answers too


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://ops.example.com.evil.example"])
async def test_other_origins_get_no_allow_header_of_any_kind(origin: str) -> None:
    application = app(cors_origins=[ORIGIN])
    simple = await call(application, "GET", "/api/v1/alerts", {"Origin": origin})
    preflight = await call(
        application, "OPTIONS", "/api/v1/alerts", {"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    for r in (simple, preflight):
        assert not [h for h in r.headers if h.startswith("access-control-")]
        assert "Origin" in r.headers["vary"]
    assert simple.status_code == 200 and preflight.status_code == 400


def test_cors_origins_must_be_exact_origins() -> None:
    assert Settings(cors_origins=["https://Ops.Example.com:8443"]).cors_origins == [
        "https://ops.example.com:8443"
    ]
    for bad in ("*", "https://ops.example.com/", "ops.example.com", "https://*.example.com", "null"):
        with pytest.raises(ValueError, match="is not scheme://host"):
            Settings(cors_origins=[bad])


def test_the_middleware_is_pure_asgi_in_the_right_order() -> None:
    stack = edge_middleware(Settings(cors_origins=[ORIGIN]))
    assert [m.cls for m in stack] == [SecurityHeaders, OriginCORS]
    assert not any(issubclass(m.cls, BaseHTTPMiddleware) for m in stack)  # type: ignore[arg-type]
    assert [m.cls for m in edge_middleware(Settings())] == [SecurityHeaders]
