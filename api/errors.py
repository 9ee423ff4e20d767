"""The API's error answers, mapped in one place (`Starlette(exception_handlers=EXCEPTION_HANDLERS)`).

- `BadRequest` (from the routes) -> its 4xx with the reason and field errors;
- `Unavailable` (a backend the request needs is away) -> 503 with `Retry-After`, and for writes
  whether anything was appended: `"appended": false` (nothing was sent: retrying is safe) or
  `"appended": "unknown"` (the append may still land: retry with the same `Idempotency-Key`, or the
  event's own id, and it is applied once);
- PostgreSQL unreachable or slow (pool timeout, lost connection, statement timeout) -> 503;
- a value PostgreSQL refuses in a read (SQLSTATE class 22: e.g. a regex it cannot compile, named
  by its filter, `event=~: PostgreSQL refused it: …`) -> 400 with PostgreSQL's reason.
"""

from __future__ import annotations

import logging

import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from ems.api.guards import regex_parameters
from ems.api.ingest import BadRequest
from ems.api.responses import JSON

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a client is asked to wait when a backend is away


class Unavailable(Exception):
    """A backend the request needs is unreachable or too slow: answer 503 with Retry-After."""

    def __init__(self, reason: str, *, appended: bool | None = False, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(reason)
        self.reason, self.appended, self.retry_after = reason, appended, retry_after

    def body(self, write: bool) -> dict[str, object]:
        out: dict[str, object] = {"error": self.reason, "retry_after": self.retry_after}
        if write:
            out["appended"] = "unknown" if self.appended is None else self.appended
            out["retry"] = (
                "safe to send again"
                if self.appended is False
                else "send again with the same Idempotency-Key (or event id): it is applied once"
            )
        return out

    def response(self, write: bool = True) -> Response:
        return JSON(self.body(write), status_code=503, headers={"Retry-After": str(self.retry_after)})


def is_write(request: Request) -> bool:
    return request.method in ("POST", "PUT", "PATCH", "DELETE")


async def bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return exc.response()


async def unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unavailable)
    return exc.response(is_write(request))


async def database_error(request: Request, exc: Exception) -> Response:
    """psycopg errors that escaped a route: the database is away (503) or refused a value (400)."""
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, psycopg.errors.InvalidRegularExpression):  # the only regexes are the client's
        names = regex_parameters(request.url.query.encode())
        which = ", ".join(names) if names else "a regular expression filter"
        reason = str(exc.diag.message_primary or exc).strip()
        return JSON({"error": f"{which}: PostgreSQL refused it: {reason}"}, status_code=400)
    if state.startswith("22"):
        return JSON({"error": f"PostgreSQL refused a value of this request: {exc}"}, status_code=400)
    if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
        log.warning("PostgreSQL unavailable for %s %s: %s", request.method, request.url.path, exc)
        return Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}").response(is_write(request))
    raise exc


EXCEPTION_HANDLERS = {
    BadRequest: bad_request,
    Unavailable: unavailable,
    PoolTimeout: database_error,
    psycopg.Error: database_error,
}
