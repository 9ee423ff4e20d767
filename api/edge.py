"""The request edge: the client's address behind proxies, JSON-only bodies, CORS and security headers.

- `client_address`: `X-Forwarded-For` (or RFC 7239 `Forwarded`, `EMS_FORWARDED_HEADER`) is believed
  only when the direct peer is in `EMS_TRUSTED_PROXIES` (default: nobody, not even loopback); the
  chain is walked from the right, skipping trusted hops. One header only: a proxy appends to the one
  it is configured for and passes the other through as the client wrote it.
- `require_json`: 415 for a body that is not JSON. `text/plain`, form and multipart bodies are what
  a page of another site can post without a CORS preflight; refusing them keeps cross-site forms out.
- `edge_middleware`: CORS for the `EMS_CORS_ORIGINS` only (none by default: no CORS headers at all)
  and security headers on every response (pure ASGI).
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ems.api.errors import ApiError
from ems.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
JSON_TYPES = ("application/json",)
UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}  # JSON is UTF-8 (RFC 8259); ASCII is a subset

# -- client address --------------------------------------------------------------------------------


def networks(cidrs: Iterable[str | Network]) -> tuple[Network, ...]:
    """`EMS_TRUSTED_PROXIES` as networks (a bare address is a /32 or /128)."""
    return tuple(c if not isinstance(c, str) else ipaddress.ip_network(c.strip()) for c in cidrs)


def parse_address(text: str) -> Address | None:
    """An address from a forwarding header or a peer: quotes, brackets, ports and zones removed,
    IPv4-mapped IPv6 as IPv4; None when it is no address ("unknown", an obfuscated `_id`, garbage)."""
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def forwarded_for(values: Sequence[str]) -> list[str]:
    """The `for=` of each element of RFC 7239 `Forwarded` headers, in order ('' when missing)."""
    out = []
    for element in _split_quoted(",".join(values), ","):
        found = ""
        for pair in _split_quoted(element, ";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                found = value.strip()
        out.append(found)
    return out


def _split_quoted(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def client_address(
    source: HTTPConnection | Scope, trusted_proxies: Iterable[str | Network], header: str = "x-forwarded-for"
) -> str:
    """The client's address: the direct peer, or when the peer is a trusted proxy the rightmost
    address of `header`'s chain that is not a trusted proxy (every hop right of it is). An entry that
    is no address stops the walk at the trusted hop that wrote it. '' without a peer (e.g. a socket)."""
    scope = source.scope if isinstance(source, HTTPConnection) else source
    peer = scope.get("client")
    hop = parse_address(peer[0]) if peer else None
    if hop is None:
        return peer[0] if peer else ""
    trusted = networks(trusted_proxies)
    if not _trusted(hop, trusted):
        return str(hop)
    values = Headers(scope=scope).getlist(header)
    if header.lower() == "forwarded":
        chain = forwarded_for(values)
    else:
        chain = [part.strip() for value in values for part in value.split(",") if part.strip()]
    for entry in reversed(chain):
        ip = parse_address(entry)
        if ip is None:
            break
        hop = ip
        if not _trusted(hop, trusted):
            break
    return str(hop)


def _trusted(ip: Address, trusted: tuple[Network, ...]) -> bool:
    return any(ip in net for net in trusted)


# -- JSON bodies -----------------------------------------------------------------------------------


class UnsupportedMediaType(ApiError):
    """415: the body's Content-Type is not one the route accepts (answered like every ApiError)."""

    def __init__(self, reason: str, accepted: Sequence[str] = JSON_TYPES) -> None:
        super().__init__(415, reason)
        self.accepted = list(accepted)


def require_json(
    source: HTTPConnection | str | None, accepted: Sequence[str] = JSON_TYPES, *, allow_empty: bool = True
) -> None:
    """Raise `UnsupportedMediaType` unless the body's Content-Type is in `accepted` (`*` patterns
    allowed; "application/json" admits every `application/*+json`; a charset must be UTF-8).

    `source` is the request, or the Content-Type value itself (None: missing). A request without a
    body (no Content-Type, no Content-Length above 0, no Transfer-Encoding) passes when `allow_empty`;
    routes that act on cookie credentials can pass `allow_empty=False` to require the header anyway.
    """
    if isinstance(source, HTTPConnection):
        headers = source.headers
        content_type = headers.get("content-type")
        if content_type is None and allow_empty and not has_body(headers):
            return
    else:
        content_type = source
    if not content_type or not content_type.strip():
        raise UnsupportedMediaType(f"Content-Type is missing; send {' or '.join(accepted)}", accepted)
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if not _accepted(media, accepted):
        raise UnsupportedMediaType(
            f"Content-Type {media!r} is not accepted here; send {' or '.join(accepted)}", accepted
        )
    charset = _param(params, "charset")
    if charset is not None and charset.lower() not in UTF8_CHARSETS:
        raise UnsupportedMediaType(f"charset {charset!r} is not accepted: JSON bodies are UTF-8", accepted)


def has_body(headers: Headers) -> bool:
    """Whether a request with these headers carries a body (a length above 0, or a transfer coding)."""
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (length != "" and length != "0")


def _accepted(media: str, accepted: Sequence[str]) -> bool:
    if "/" not in media:
        return False
    for pattern in accepted:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(media, pattern):
            return True
        if pattern == "application/json" and media.startswith("application/") and media.endswith("+json"):
            return True
    return False


def _param(params: str, name: str) -> str | None:
    for item in _split_quoted(params, ";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None


# -- middleware ------------------------------------------------------------------------------------

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-ID")
CORS_EXPOSE = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "Location")


class OriginCORS(CORSMiddleware):
    """Starlette's CORS, but a request from an origin not configured gets no `Access-Control-*`
    header at all (Starlette still sends Allow-Credentials, -Methods and -Headers to it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "http" else None
        if origin is None or self.is_allowed_origin(origin):
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = PlainTextResponse(
                "Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, functools.partial(_vary_origin, send=send))


async def _vary_origin(message: Message, send: Send) -> None:
    if message["type"] == "http.response.start":
        headers = MutableHeaders(scope=message)
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
    await send(message)


class SecurityHeaders:
    """Adds `headers` to every HTTP response that lacks them, and `Cache-Control: no-store` under
    /api/ unless the route set its own Cache-Control (its answers depend on the caller's rights)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str], no_store_prefix: str = "/api/") -> None:
        self.app, self.prefix = app, no_store_prefix
        self.headers = {k: v for k, v in headers.items() if v}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(self.prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers `SecurityHeaders` adds, from the settings."""
    out = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": settings.content_security_policy,
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if settings.hsts:
        out["Strict-Transport-Security"] = f"max-age={settings.hsts_max_age}; includeSubDomains"
    return out


def edge_middleware(settings: Settings) -> list[Middleware]:
    """Security headers (outermost: CORS answers get them too), then CORS when origins are configured.
    Put these first in `Starlette(middleware=[...])`."""
    stack = [Middleware(SecurityHeaders, headers=security_headers(settings))]
    if settings.cors_origins:
        options: dict[str, Any] = {
            "allow_origins": list(settings.cors_origins),
            "allow_methods": CORS_METHODS,
            "allow_headers": CORS_HEADERS,
            "expose_headers": CORS_EXPOSE,
            "allow_credentials": True,
            "max_age": 600,
        }
        stack.append(Middleware(OriginCORS, **options))
    return stack
