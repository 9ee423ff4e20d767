"""The operator console (the React app in ui/, built into ui/dist) served by the API at `/`.

- A file of the build is served as is: `/static/*` (content-hashed names) cached for a year, the
  rest (`index.html`, the icon) revalidated on every use.
- Any other GET under `/` is a path of the single-page app: `index.html`, which routes in the
  browser (deep links and reloads work). A missing `/static/*` file or top-level file (`/x.js`) is
  a 404, so a stale page never gets HTML for a script.
- The first path segment of every API route (`api`, `health`, `metrics`, `openapi.json`, `v2`, ...)
  is never the console's: this route does not match there, so an unknown API path keeps the API's
  own 404/405 answers. Methods other than GET and HEAD never match either.
- Text files (scripts, styles, the page, SVG, JSON) go gzip-compressed to a client that accepts it,
  compressed once per file version and kept in memory (`Vary: Accept-Encoding`, an ETag of its own,
  `If-None-Match` answered 304); the rest, and clients without gzip, get the file as is.
- Without a build (Node.js absent when `make install` ran) `/` answers 503 with how to build it;
  the API itself is unaffected.

Mount with `console_routes(ENDPOINTS, settings.ui_dir)` after the route table. The build is looked up in
`EMS_UI_DIR`, else `ui/dist` of the source tree this module lives in.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

SOURCE_BUILD = Path(__file__).resolve().parent.parent / "ui" / "dist"
ASSETS_DIR = "static"  # the build's hashed files (vite.config.ts `assetsDir`; /assets/… are console pages)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".html", ".svg", ".json", ".map", ".txt"})
MIN_COMPRESS = 256  # bytes: below this gzip's header outweighs the gain
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>EMS console not built</title>
</head><body><h1>The EMS console is not built</h1>
<p>The API is running ({api}), but there is no build of the web console in <code>{where}</code>.</p>
<p>Build it with Node.js 18 or newer: <code>make ui</code> in the source tree (or
<code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>), or point <code>EMS_UI_DIR</code> at a build.
Then reload this page.</p></body></html>"""


@dataclass(frozen=True)
class Target:
    """What a console path is: a file of the build, the app's page, or nothing."""

    kind: str  # "file", "index", "missing", "unbuilt"
    file: Path | None = None
    cache: str = REVALIDATE


def reserved_segments(paths: Iterable[str]) -> frozenset[str]:
    """The first segments of the API's route paths: the console never answers under them."""
    return frozenset(p.strip("/").split("/", 1)[0] for p in paths if p.strip("/"))


def resolve(root: Path, path: str) -> Target:
    """The target of a request path in the build `root` (pure apart from looking at the files)."""
    index = root / "index.html"
    parts = [p for p in path.split("/") if p]
    if any(p in ("..", ".") or p.startswith(".") or "\\" in p for p in parts):
        return Target("missing")
    if not index.is_file():
        return Target("unbuilt")
    if parts:
        candidate = root.joinpath(*parts)
        if candidate.is_file():
            cache = IMMUTABLE if parts[0] == ASSETS_DIR else REVALIDATE
            return Target("file", candidate, cache)
        if parts[0] == ASSETS_DIR or (len(parts) == 1 and "." in parts[0]):
            return Target("missing")
    return Target("index", index)


@lru_cache(maxsize=256)
def gzipped(file: Path, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """(gzip body, ETag) of one version of a build file; the version is in the cache key."""
    body = gzip.compress(file.read_bytes(), compresslevel=6, mtime=0)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '-gz"'


def compressed(file: Path, cache: str, headers: Headers) -> Response | None:
    """The gzip answer for `file` when the client accepts it and compression pays; else None."""
    if file.suffix not in COMPRESSIBLE or "gzip" not in headers.get("accept-encoding", "").lower():
        return None
    stat = file.stat()
    if stat.st_size < MIN_COMPRESS:
        return None
    body, etag = gzipped(file, stat.st_mtime_ns, stat.st_size)
    common = {"Cache-Control": cache, "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in headers.get("if-none-match", ""):
        return Response(status_code=304, headers=common)
    media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return Response(body, media_type=media, headers={**common, "Content-Encoding": "gzip"})


class ConsoleRoute(BaseRoute):
    """GET/HEAD of any path outside the API's own segments: the console (see the module docstring)."""

    path = "/{console}"  # the metrics label of every console request (bounded)

    def __init__(self, root: Path, reserved: frozenset[str]) -> None:
        self.root, self.reserved = root, reserved

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        first = scope["path"].strip("/").split("/", 1)[0]
        if first in self.reserved:
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.respond(scope["path"], Headers(scope=scope))(scope, receive, send)

    def respond(self, path: str, headers: Headers | None = None) -> Response:
        target = resolve(self.root, path)
        if target.kind == "unbuilt":
            page = NOT_BUILT.format(
                api="<a href='/openapi.json'>/openapi.json</a>", where=html.escape(str(self.root))
            )
            return HTMLResponse(page, status_code=503, headers={"Cache-Control": "no-store"})
        if target.kind == "missing":
            return PlainTextResponse(f"no file {path} in the console's build", status_code=404)
        assert target.file is not None
        packed = compressed(target.file, target.cache, headers or Headers())
        if packed is not None:
            return packed
        return FileResponse(target.file, headers={"Cache-Control": target.cache, "Vary": "Accept-Encoding"})


def console_routes(paths: Iterable[Any], ui_dir: str | None = None) -> list[BaseRoute]:
    """The console's route, to put after the API's routes; `paths` are the route table's endpoints
    (or their paths), whose first segments stay the API's."""
    texts = [p if isinstance(p, str) else p.path for p in paths]
    root = Path(ui_dir).expanduser() if ui_dir else SOURCE_BUILD
    return [ConsoleRoute(root, reserved_segments(texts))]
