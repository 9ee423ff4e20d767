"""Where a request carries its credentials, in the order they are looked for:

1. `Authorization: Bearer <jwt>` (a Bearer value of the form `ems_<id>_<secret>` is taken as an API key);
2. `Authorization: Key <key>` (Alerta's form);
3. header `X-API-Key` or `api-key` (Alerta);
4. query parameter `api-key` (Alerta's CLI);
5. cookie `ems_access` (the web UI's session).
The first one found is the only one used. An `Authorization` header with another scheme, or an empty
value, is a bad credential (401), not "no credentials".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import HTTPConnection

from ems.api.security.errors import Unauthorized
from ems.api.security.keys import PREFIX

ACCESS_COOKIE = "ems_access"
REFRESH_COOKIE = "ems_refresh"


@dataclass(frozen=True)
class Credential:
    kind: Literal["token", "key"]
    value: str
    source: str  # where it was found (for logs; never the value)


def _present(value: str, source: str, kind: Literal["token", "key"]) -> Credential:
    value = value.strip()
    if not value:
        raise Unauthorized(f"empty credentials in {source}")
    return Credential(kind, value, source)


def find_credential(request: HTTPConnection) -> Credential | None:
    """The credential the request presents (None when it presents none)."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            value = value.strip()
            kind: Literal["token", "key"] = "key" if value.startswith(PREFIX) else "token"
            return _present(value, "Authorization: Bearer", kind)
        if scheme == "key":
            return _present(value, "Authorization: Key", "key")
        raise Unauthorized("unsupported Authorization scheme (use Bearer or Key)")
    for header in ("x-api-key", "api-key"):
        if header in request.headers:
            return _present(request.headers[header], f"header {header}", "key")
    if "api-key" in request.query_params:
        return _present(request.query_params["api-key"], "query parameter api-key", "key")
    if request.cookies.get(ACCESS_COOKIE, "").strip():  # an emptied cookie is no session
        return _present(request.cookies[ACCESS_COOKIE], f"cookie {ACCESS_COOKIE}", "token")
    return None
