"""`ems collector synthetic`: runs the synthetic HTTP(S) checks of the read model on their intervals.

Every `reload` seconds the live checks are read from `synthetic_checks`; a deleted one has its open
problems cleared. Due checks run concurrently (bounded) with httpx: the whole request within the
check's timeout, the body read up to `MAX_BODY` bytes, the days left of the server's certificate read
from the TLS connection. Each result goes through the core (`ems.collectors.synthetic_checks`) and is
published as observations (`source: synthetic`, the check's asset): its metric samples, and the
events of its transitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ems.collectors.synthetic_checks import SOURCE, CheckSpec, HttpResult, Tracker, evaluate, metrics
from ems.schemas.envelope import Record
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import Observation

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
Check = tuple[CheckSpec, str | None]  # (definition, tenant)
Loader = Callable[[], Awaitable[dict[str, Check]]]
Sink = Callable[[str, Record], Awaitable[None]]  # the SNMP and AWS collectors' sink contract


def asset_of(check_id: str) -> str:
    return asset_id_for(f"synthetic:{check_id}")


def cert_days_left(stream: Any, now: datetime) -> float | None:
    """Days until the peer certificate's notAfter, from an httpcore network stream (None: not TLS)."""
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert or "notAfter" not in cert:
        return None
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    return (expires - now).total_seconds() / 86400


async def probe(client: httpx.AsyncClient, spec: CheckSpec) -> HttpResult:
    """One request as the check defines it; a timeout, TLS or connection failure as `error`."""
    start = time.monotonic()

    def ms() -> float:
        return (time.monotonic() - start) * 1000

    try:
        async with asyncio.timeout(spec.timeout):
            request = client.build_request(
                spec.method,
                spec.url,
                headers=spec.headers,
                content=spec.body.encode() or None,
                timeout=httpx.Timeout(spec.timeout),
            )
            response = await client.send(request, stream=True)
            try:
                days = cert_days_left(response.extensions.get("network_stream"), datetime.now(UTC))
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
            finally:
                await response.aclose()
            text = body[:MAX_BODY].decode(response.encoding or "utf-8", errors="replace")
            return HttpResult(ms(), response.status_code, text, cert_days_left=days)
    except (TimeoutError, httpx.TimeoutException):
        return HttpResult(ms(), error="timeout")
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc.__context__
        kind = "tls" if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) else "connect"
        return HttpResult(ms(), error=kind, detail=str(exc)[:200] or type(exc).__name__)
    except (ValueError, UnicodeError) as exc:  # a request httpx refuses to build or send
        return HttpResult(ms(), error="request", detail=str(exc)[:200] or type(exc).__name__)


class Runner:
    """Runs due checks until `stop()`; `run_due()` runs one pass (tests)."""

    def __init__(self, load: Loader, sink: Sink, reload: float = 10.0, concurrency: int = 16) -> None:
        self.load, self.sink, self.reload = load, sink, reload
        self.tracker = Tracker()
        self.checks: dict[str, Check] = {}
        self.due: dict[str, float] = {}
        self.limit = asyncio.Semaphore(concurrency)
        self.client = httpx.AsyncClient(follow_redirects=False)
        self.runs = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _emit(self, check_id: str, tenant: str | None, body: Any) -> None:
        obs = Observation(source=SOURCE, asset_id=asset_of(check_id), tenant=tenant, body=body)
        await self.sink("observations.raw", obs)

    async def refresh(self) -> None:
        """Read the live checks; clear what a deleted (or changed) check had open."""
        fresh = await self.load()
        for check_id, (spec, tenant) in self.checks.items():
            if check_id not in fresh:
                for ev in self.tracker.forget(check_id, spec):
                    await self._emit(check_id, tenant, ev)
                self.due.pop(check_id, None)
        self.checks = fresh

    async def run_one(self, check_id: str, spec: CheckSpec, tenant: str | None) -> None:
        async with self.limit:
            result = await probe(self.client, spec)
        ev = evaluate(check_id, spec, result)
        await self._emit(check_id, tenant, metrics(ev))
        for event in self.tracker.step(check_id, spec, ev):
            await self._emit(check_id, tenant, event)
        self.runs += 1

    async def run_due(self, now: float) -> None:
        due = [(i, s, t) for i, (s, t) in self.checks.items() if self.due.get(i, 0.0) <= now]
        for check_id, spec, _ in due:
            self.due[check_id] = now + spec.interval
        results = await asyncio.gather(*(self.run_one(*d) for d in due), return_exceptions=True)
        for (check_id, _, _), res in zip(due, results, strict=True):
            if isinstance(res, Exception):
                log.error("synthetic check %s failed to run: %r", check_id, res)

    async def run(self) -> None:
        next_reload = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_reload:
                    try:
                        await self.refresh()
                    except Exception as exc:  # the database is away: keep running what we know
                        log.warning("synthetic: reading the checks failed: %r", exc)
                    next_reload = now + self.reload
                await self.run_due(now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.25)
        finally:
            await self.client.aclose()
