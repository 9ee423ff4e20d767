"""`/health`: is each backing server reachable from this process, and how fast did it answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

Check = Callable[[], Awaitable[Any]]


async def probe(check: Check, timeout: float = 3.0) -> dict[str, Any]:
    """Run one check with a timeout; report ok + latency, or the error."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as exc:  # any failure is a health result, not a crash
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return {"ok": True, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


async def health_report(checks: dict[str, Check]) -> tuple[bool, dict[str, Any]]:
    """Run every check concurrently; healthy when all are ok."""
    results = await asyncio.gather(*(probe(c) for c in checks.values()))
    report = dict(zip(checks, results, strict=True))
    return all(r["ok"] for r in results), report
