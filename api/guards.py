"""The API's request guard: what no route can take is a 400 before routing.

A path or query string holding a NUL (raw or %00) or bytes that are not UTF-8: 400 with the
reason, in the error dialect of the route the path names (Alerta's and PagerDuty's clients read
theirs). Starlette would pass the NUL on (PostgreSQL then refuses the text: a 500) and replace bad
UTF-8 with U+FFFD (a silent change of the client's value). One check for every route. PostgreSQL's
verdict on a client's regular expression (`regex_parameters` names the filters) is mapped with the
other database errors in `ems.api.errors`; body checks (a NUL in JSON, bad UTF-8 in a body) are
`ems.api.ingest.read_json`'s.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send


def request_problem(raw_path: bytes, query: bytes) -> str | None:
    """Why the request target cannot be served (None when it can)."""
    for part, raw in (("path", raw_path), ("query string", query)):
        decoded = unquote_to_bytes(raw)
        if b"\x00" in decoded:
            return f"the {part} contains a NUL character (%00), which no field can hold"
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = decoded[exc.start]
            return f"the {part} is not valid UTF-8 once %-decoded (byte 0x{byte:02x} at offset {exc.start})"
    return None


def regex_parameters(query: bytes) -> list[str]:
    """The query parameters that are regular-expression filters (`name=~re`, `name!=~re`, `name=!~re`)."""
    out = []
    for name, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
        if value.startswith("~") or value.startswith("!~"):
            out.append(f"{name}={value[: value.index('~') + 1]}")
    return out


@lru_cache(maxsize=1)
def _route_dialects() -> list[tuple[re.Pattern[str], str]]:
    from ems.api.table import ENDPOINTS  # here: the route table imports the routes, which import this

    return [(compile_path(e.path)[0], e.dialect) for e in ENDPOINTS]


def dialect_of_path(path: str) -> str:
    """The error dialect of the route a path names (native when none): the guard answers before routing,
    yet an Alerta or PagerDuty client must get the error body its tool reads."""
    return next((dialect for regex, dialect in _route_dialects() if regex.match(path)), "native")


class RequestGuard:
    """Pure ASGI middleware (see the module docstring); registered in ems.api.app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        query = scope.get("query_string", b"")
        problem = request_problem(raw_path, query)
        if problem is not None:
            from ems.api.errors import error_body  # here: ems.api.errors imports this module

            body = error_body(dialect_of_path(scope["path"]), 400, problem, [])
            await JSONResponse(body, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)
