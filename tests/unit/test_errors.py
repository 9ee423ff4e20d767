"""The API's error answers in one place (api/errors.py): 400 for a value PostgreSQL refuses, 503 with
Retry-After when a backend is away (writes saying whether anything was appended), 500 for a bug."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from psycopg.errors import InvalidRegularExpression, NumericValueOutOfRange, UndefinedTable, UniqueViolation
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from ems.api.errors import EXCEPTION_HANDLERS, Unavailable


def _client(exc: BaseException, migrated: bool | None = None) -> httpx.AsyncClient:
    async def fail(request: Request) -> None:
        raise exc

    app = Starlette(
        routes=[Route("/x", fail, methods=["GET", "POST"])], exception_handlers=EXCEPTION_HANDLERS
    )
    if migrated is not None:
        app.state.migrated = migrated
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def test_a_regex_postgresql_refuses_is_400_naming_the_filters() -> None:
    async with _client(InvalidRegularExpression("invalid regular expression: too complex")) as c:
        r = await c.get("/x", params={"event": "~(a{1,255}){1,255}", "status": "open", "resource": "!~y"})
    assert r.status_code == 400
    assert r.json() == {
        "error": "event=~, resource=!~: PostgreSQL refused it: invalid regular expression: too complex"
    }


async def test_another_value_postgresql_refuses_is_400() -> None:
    async with _client(NumericValueOutOfRange("integer out of range")) as c:
        r = await c.get("/x")
    assert r.status_code == 400 and "integer out of range" in r.json()["error"]


@pytest.mark.parametrize(
    "exc", [PoolTimeout("couldn't get a connection after 3.0 sec"), psycopg.OperationalError("refused")]
)
async def test_postgresql_away_is_503_with_retry_after(exc: BaseException) -> None:
    async with _client(exc) as c:
        read, write = await c.get("/x"), await c.post("/x")
    assert read.status_code == write.status_code == 503
    assert read.headers["retry-after"] == "5" and "appended" not in read.json()
    assert write.json()["appended"] is False  # a write refused before appending: safe to retry


async def test_a_write_that_may_have_landed_says_so() -> None:
    async with _client(Unavailable("Kafka did not acknowledge the write in 5 s", appended=None)) as c:
        r = await c.post("/x")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["appended"] == "unknown" and "Idempotency-Key" in r.json()["retry"]


async def test_a_bug_is_not_the_clients() -> None:
    async with _client(UniqueViolation("duplicate key")) as c:
        r = await c.get("/x")
    assert r.status_code == 500


async def test_a_missing_table_is_503_until_the_migrations_ran_then_a_bug() -> None:
    missing = UndefinedTable('relation "users" does not exist')
    async with _client(missing, migrated=False) as c:
        read, write = await c.get("/x"), await c.post("/x")
    assert read.status_code == write.status_code == 503 and read.headers["retry-after"] == "5"
    assert "migrations not applied yet" in read.json()["error"] and write.json()["appended"] is False
    async with _client(missing, migrated=True) as c:
        assert (await c.get("/x")).status_code == 500
