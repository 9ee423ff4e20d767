"""The console's files at `/`: build files, the single-page fallback, the API's paths left alone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.routing import starlette_routes
from ems.api.table import ENDPOINTS
from ems.api.ui import IMMUTABLE, REVALIDATE, console_routes, reserved_segments, resolve

INDEX = b"<!doctype html><div id=root></div>"
SCRIPT = b"console.log(1)"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "static").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "static" / "index-abc123.js").write_bytes(SCRIPT)
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path / ".stamp").write_text("")
    return tmp_path


def test_paths_resolve_to_files_the_app_or_nothing(build: Path) -> None:
    assert resolve(build, "/static/index-abc123.js").file == build / "static" / "index-abc123.js"
    assert resolve(build, "/static/index-abc123.js").cache == IMMUTABLE
    assert resolve(build, "/favicon.svg").cache == REVALIDATE
    app_paths = ("/", "", "/alerts", "/assets", "/assets/ast_router_01", "/assets/ast_web.example.com")
    for app_path in (*app_paths, "/topology/payments", "/topology/shop.v2", "/status"):
        target = resolve(build, app_path)
        assert (target.kind, target.file, target.cache) == ("index", build / "index.html", REVALIDATE)
    # a missing file is never answered with the page (a stale tab must not run HTML as a script)
    for missing in ("/static/index-old999.js", "/main.js", "/static/", "/static", "/robots.txt"):
        assert resolve(build, missing).kind == "missing", missing
    for sneaky in ("/../setup.py", "/assets/../../x", "/.stamp", "/a\\..\\b"):
        assert resolve(build, sneaky).kind == "missing", sneaky


def test_without_a_build_every_path_is_unbuilt(tmp_path: Path) -> None:
    assert resolve(tmp_path / "nothing", "/").kind == "unbuilt"
    assert resolve(tmp_path, "/alerts").kind == "unbuilt"


def test_the_api_keeps_its_first_segments() -> None:
    reserved = reserved_segments(e.path for e in ENDPOINTS)
    assert {"api", "health", "metrics", "openapi.json", "v2"} <= reserved
    # the console's own paths are not among them
    assert not reserved & {"alerts", "assets", "topology", "status", "incidents"}


def _app(ui_dir: Path) -> Starlette:
    return Starlette(
        routes=[*starlette_routes(ENDPOINTS), *console_routes(ENDPOINTS, str(ui_dir))],
        exception_handlers=EXCEPTION_HANDLERS,
    )


async def test_served_with_the_api_routes_first(build: Path) -> None:
    transport = httpx.ASGITransport(app=_app(build))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get("/alerts?status=open")
        assert page.status_code == 200 and page.content == INDEX
        assert page.headers["cache-control"] == REVALIDATE
        script = await client.get("/static/index-abc123.js")
        assert script.status_code == 200 and script.content == SCRIPT
        assert script.headers["cache-control"] == IMMUTABLE
        assert "javascript" in script.headers["content-type"]
        head = await client.head("/topology/web")
        assert head.status_code == 200 and head.content == b""
        assert (await client.get("/static/gone-1.js")).status_code == 404
        # the API's own answers for its paths, known or not
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")
        unknown = await client.get("/api/v1/nothing-here")
        assert unknown.status_code == 404 and unknown.json() == {"error": "no such route"}
        assert (await client.get("/health/nothing")).status_code == 404
        assert (await client.get("/metrics/x")).headers["content-type"].startswith("application/json")
        # only GET and HEAD: a POST elsewhere is the API's 404, not the page
        posted = await client.post("/alerts", json={})
        assert posted.status_code == 404 and posted.json() == {"error": "no such route"}


async def test_without_a_build_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=_app(tmp_path / "dist"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/")
        assert answer.status_code == 503
        assert "make ui" in answer.text and "Node.js 18" in answer.text
        assert (await client.get("/openapi.json")).status_code == 200


async def test_text_files_go_gzipped_to_clients_that_take_gzip(build: Path) -> None:
    big = b"export const rows = [" + b",".join(b"%d" % i for i in range(5000)) + b"];"
    (build / "static" / "big-def456.js").write_bytes(big)
    (build / "static" / "logo-1.png").write_bytes(b"\x89PNG" + bytes(4000))
    transport = httpx.ASGITransport(app=_app(build))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        packed = await client.get("/static/big-def456.js", headers={"accept-encoding": "gzip"})
        assert packed.status_code == 200 and packed.content == big  # httpx undoes the gzip
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        assert int(packed.headers["content-length"]) < len(big) / 2
        assert packed.headers["cache-control"] == IMMUTABLE and "javascript" in packed.headers["content-type"]
        again = await client.get(
            "/static/big-def456.js",
            headers={"accept-encoding": "gzip", "if-none-match": packed.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b""
        plain = await client.get("/static/big-def456.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == big
        assert plain.headers["etag"] != packed.headers["etag"]
        # images are compressed already, tiny files are not worth it
        png = await client.get("/static/logo-1.png", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in png.headers and len(png.content) == 4004
        tiny = await client.get("/static/index-abc123.js", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in tiny.headers and tiny.content == SCRIPT
        # a new build of the same name is compressed afresh
        (build / "static" / "big-def456.js").write_bytes(big + b"//2")
        fresh = await client.get("/static/big-def456.js", headers={"accept-encoding": "gzip"})
        assert fresh.content == big + b"//2" and fresh.headers["etag"] != packed.headers["etag"]
