"""Pool helpers shared by the API's routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool


@contextlib.asynccontextmanager
async def autocommit(pool: AsyncConnectionPool, timeout: float | None = None) -> AsyncIterator[Any]:
    """A pool connection whose statements each commit on their own: a read then costs one round trip
    instead of three (psycopg's BEGIN, the query, the pool's COMMIT). Writes that belong together go
    in `conn.transaction()`. The connection goes back to the pool in its usual mode."""
    async with pool.connection(timeout=timeout) as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.set_autocommit(False)
