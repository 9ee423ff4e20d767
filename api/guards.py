"""The API's request guard: what no route can take is a 400 before routing, and PostgreSQL's verdict
on a client's regular expression is a 400 after it.

- A path or query string holding a NUL (raw or %00) or bytes that are not UTF-8: 400 with the
  reason. Starlette would pass the NUL on (PostgreSQL then refuses the text: a 500) and replace
  bad UTF-8 with U+FFFD (a silent change of the client's value). One check for every route.
- `psycopg.errors.InvalidRegularExpression` (SQLSTATE 2201B, e.g. "regular expression is too
  complex", or POSIX syntax Python's `re` accepted) raised by a route: 400 naming the regex
  filters of the request. The alert filters (`field=~re`, api/alert_filters.py) are the only
  regular expressions our SQL holds, so the error is always about the client's pattern; no other
  exception is caught here.

Body checks (a NUL in JSON, bad UTF-8 in a body) are `ems.api.ingest.read_json`'s.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

from psycopg.errors import InvalidRegularExpression
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
            await JSONResponse({"error": problem}, status_code=400)(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except InvalidRegularExpression as exc:
            if started:
                raise
            names = regex_parameters(query)
            which = ", ".join(names) if names else "a regular expression filter"
            reason = str(exc.diag.message_primary or exc).strip()
            await JSONResponse({"error": f"{which}: PostgreSQL refused it: {reason}"}, status_code=400)(
                scope, receive, send
            )
