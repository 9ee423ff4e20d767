"""The one `?wait=SECONDS` poller: a write answers once the read model shows its effect, or after S."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
INTERVAL = 0.05  # seconds between looks at the read model


class WaitQuery(BaseModel):
    """`?wait=S`: how long a write waits for the projection (0: answer 202 at once)."""

    model_config = ConfigDict(extra="forbid")

    wait: float = Field(0.0, ge=0, le=60, description="seconds to wait until the write is applied")


async def poll(pool: Any, look: Callable[[Any], Awaitable[T | None]], wait: float) -> T | None:
    """`look(conn)`'s first non-None answer, trying every INTERVAL for up to `wait` seconds (once at 0)."""
    deadline = time.monotonic() + wait
    while True:
        async with pool.connection() as conn:
            found = await look(conn)
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(INTERVAL)
