"""The API's error answers, mapped in one place (`Starlette(exception_handlers=EXCEPTION_HANDLERS)`).

Routes raise; this module answers, in the dialect of the route that was called (the route table
leaves its `Endpoint` in the scope; see `ems.api.routing`):

- `ApiError(status, reason, errors)`: a bad request (400), a validation error (422 with the field
  errors), a missing or refused credential (401, 403), a conflict (409), an unsupported media type
  (415), a throttle (429 with `Retry-After` and the `RateLimit-*` headers);
- `Unavailable` (a backend the request needs is away) -> 503 with `Retry-After`, and for writes
  whether anything was appended: `"appended": false` (nothing was sent: retrying is safe) or
  `"appended": "unknown"` (the append may still land: retry with the same `Idempotency-Key`, or the
  event's own id, and it is applied once);
- PostgreSQL unreachable or slow (pool timeout, lost connection, statement timeout) -> 503; so is a
  missing table while the API's migrations have not run yet (`app.state.migrated` false);
- a value PostgreSQL refuses in a read (SQLSTATE class 22: e.g. a regex it cannot compile, named
  by its filter, `event=~: PostgreSQL refused it: …`) -> 400 with PostgreSQL's reason.

Error bodies: native and Alertmanager `{"error", "errors"?}`; Alerta `{"status": "error", "message",
"code", "errors"}`; PagerDuty `{"status": "invalid event" | "throttle event", "message", "errors"}`.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ems.api.formats.common import FormatError
from ems.api.guards import regex_parameters
from ems.api.responses import JSON
from ems.api.security.errors import SecurityError
from ems.schemas.limits import message, printable

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a client is asked to wait when a backend is away


class ApiError(Exception):
    """A 4xx answer with a reason, optional field errors and headers."""

    def __init__(
        self,
        status: int,
        reason: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.errors, self.headers = status, reason, errors or [], headers or {}

    def response(self, dialect: str = "native") -> Response:
        return JSON(error_body(dialect, self.status, self.reason, self.errors), self.status, self.headers)


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

    def response(self, write: bool = True, dialect: str = "native") -> Response:
        body = error_body(dialect, 503, self.reason, [])
        body |= {k: v for k, v in self.body(write).items() if k != "error"}
        return JSON(body, status_code=503, headers={"Retry-After": str(self.retry_after)})


class ErrorBody(BaseModel):
    """The native error answer."""

    error: str
    errors: list[dict[str, Any]] | None = None


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic errors as `{field, message}` items for the client."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(printable(p) for p in err["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(body)"
        out.append({"field": field, "message": message(err)})
    return out


def error_body(dialect: str, status: int, reason: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The error body a client of `dialect` expects."""
    detail = [f"{e['field']}: {e['message']}" for e in errors]
    if dialect == "alerta":
        text = f"{reason}: {'; '.join(detail)}" if detail else reason
        return {"status": "error", "message": text, "code": status, "errors": detail}
    if dialect == "pagerduty":
        if status == 429:
            return {"status": "throttle event", "message": reason}
        return {"status": "invalid event", "message": reason, "errors": detail or [reason]}
    return {"error": reason, **({"errors": errors} if errors else {})}


def dialect_of(request: Request) -> str:
    endpoint = request.scope.get("ems.endpoint")
    return getattr(endpoint, "dialect", "native")


def is_write(request: Request) -> bool:
    return request.method in ("POST", "PUT", "PATCH", "DELETE")


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response(dialect_of(request))


async def format_error(request: Request, exc: Exception) -> Response:
    """A payload a format translator refused: 422 for Alertmanager (its webhook convention), else 400."""
    assert isinstance(exc, FormatError)
    dialect = dialect_of(request)
    status = 422 if dialect in ("alertmanager", "native") else 400
    return ApiError(status, "validation failed", exc.errors).response(dialect)


async def status_error(request: Request, exc: Exception) -> Response:
    """Errors carrying `.status` and `.reason` from other layers (the security package's)."""
    status, reason = int(getattr(exc, "status", 400)), str(getattr(exc, "reason", exc))
    headers = {"WWW-Authenticate": 'Bearer realm="ems"'} if status == 401 else {}
    return ApiError(status, reason, headers=headers).response(dialect_of(request))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the caller's dialect (with Starlette's `Allow` header on 405)."""
    assert isinstance(exc, HTTPException)
    reason = {404: "no such route", 405: f"method {request.method} not allowed here"}.get(
        exc.status_code, str(exc.detail)
    )
    return ApiError(exc.status_code, reason, headers=dict(exc.headers or {})).response(dialect_of(request))


async def unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unavailable)
    return exc.response(is_write(request), dialect_of(request))


async def database_error(request: Request, exc: Exception) -> Response:
    """psycopg errors that escaped a route: the database is away (503) or refused a value (400)."""
    state = getattr(exc, "sqlstate", None) or ""
    dialect = dialect_of(request)
    if isinstance(exc, psycopg.errors.InvalidRegularExpression):  # the only regexes are the client's
        names = regex_parameters(request.url.query.encode())
        which = ", ".join(names) if names else "a regular expression filter"
        reason = str(exc.diag.message_primary or exc).strip()
        return ApiError(400, f"{which}: PostgreSQL refused it: {reason}").response(dialect)
    if state.startswith("22"):
        return ApiError(400, f"PostgreSQL refused a value of this request: {exc}").response(dialect)
    if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
        log.warning("PostgreSQL unavailable for %s %s: %s", request.method, request.url.path, exc)
        return Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}").response(
            is_write(request), dialect
        )
    if isinstance(exc, psycopg.errors.UndefinedTable) and not getattr(request.app.state, "migrated", True):
        # The API has started but its migrations have not run yet (a missing table after them is a bug).
        return Unavailable("the read models are being created (migrations not applied yet)").response(
            is_write(request), dialect
        )
    raise exc


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error,
    FormatError: format_error,
    SecurityError: status_error,
    HTTPException: http_error,
    Unavailable: unavailable,
    PoolTimeout: database_error,
    psycopg.Error: database_error,
}
