"""The Starlette application: reads from the read models, writes by appending to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware

from ems.api.appender import Appender
from ems.api.edge import edge_middleware
from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.guards import RequestGuard
from ems.api.limits import Limits
from ems.api.metrics import ApiMetrics, MetricsMiddleware
from ems.api.routing import starlette_routes
from ems.api.security.authenticate import Authenticator
from ems.api.table import ENDPOINTS
from ems.api.ui import console_routes
from ems.infra.migrate import check_schema_name, migrate
from ems.settings import Settings, get_settings
from ems.streams.failures import Backoff, describe
from ems.streams.heartbeat import redis_client

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Build the API bound to the servers named in `settings`.

    The API starts even when its servers are away: reads answer 503 until PostgreSQL is back, writes
    503 until Kafka is (see `ems.api.errors`), and the migrations are retried in the background.
    """
    schema = check_schema_name(settings.read_model_schema)
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=8,
            timeout=settings.api_read_timeout,
            check=RecentUseCheck(),
            kwargs={
                "options": f"-c search_path={schema} "
                f"-c statement_timeout={int(settings.api_statement_timeout * 1000)}",
                "row_factory": dict_row,
                "connect_timeout": max(1, int(settings.db_connect_timeout)),
            },
            open=False,
            configure=_configure,
        )
        await pool.open(wait=False)
        appender = Appender(settings)
        await appender.start()
        redis = redis_client(settings)
        app.state.pool, app.state.appender, app.state.redis = pool, appender, redis
        app.state.limits = Limits(redis, settings)
        app.state.auth = Authenticator(settings, pool, redis)
        # The read models exist before the first worker has run (migrations are idempotent).
        app.state.migrated = False  # meanwhile a missing table is a 503, not a bug (ems.api.errors)
        migrating = asyncio.create_task(_migrate_when_reachable(settings, schema, app.state))
        listening = asyncio.create_task(app.state.auth.notices.run())  # key revocations
        try:
            yield
        finally:
            migrating.cancel()
            listening.cancel()
            await appender.stop()
            await pool.close()
            await redis.aclose()

    app = Starlette(
        routes=[*starlette_routes(ENDPOINTS), *console_routes(ENDPOINTS, settings.ui_dir)],  # console last
        lifespan=lifespan,
        middleware=[
            *edge_middleware(settings),
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(RequestGuard),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.settings, app.state.metrics = settings, metrics
    return app


class RecentUseCheck:
    """The pool's check of a connection before handing it out, skipped for one handed out within the
    last `fresh` seconds (its last use proved it alive): the check is a round trip to PostgreSQL, and
    made on every checkout it was one in three of a keyed single-alert post's."""

    def __init__(self, fresh: float = 1.0) -> None:
        self.fresh = fresh
        self._used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def __call__(self, conn: Any) -> None:
        last = self._used.get(conn)
        now = time.monotonic()
        if last is None or now - last > self.fresh:
            await AsyncConnectionPool.check_connection(conn)
        self._used[conn] = now


def app_from_environment() -> Starlette:
    """The API built from the EMS_* environment: the factory each process of `ems api --workers N` calls."""
    return create_app(get_settings())


async def _configure(conn: Any) -> None:
    """JSON columns read with orjson: jsonb prints a large number (1e300 sent in attributes) as a
    300-digit integer, which the stdlib parser keeps as an int no JSON answer can hold (a 500);
    orjson reads it back as the float it was."""
    set_json_loads(orjson.loads, conn)


async def _migrate_when_reachable(settings: Settings, schema: str, state: Any) -> None:
    """Apply the migrations once PostgreSQL answers (retried with backoff; a no-op when done), then
    set `state.migrated`."""
    backoff = Backoff(cap=settings.retry_cap)
    while True:
        try:
            await asyncio.to_thread(migrate, settings.database_url.get_secret_value(), schema)
            state.migrated = True
            return
        except Exception as exc:  # noqa: BLE001 - retried; reads answer 503 meanwhile
            delay = backoff.next_delay()
            log.warning("migrations not applied yet: %s; retrying in %.1f s", describe(exc), delay)
            await asyncio.sleep(delay)
