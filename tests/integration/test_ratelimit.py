"""Rate limits on a real Redis: the Lua script agrees with its Python twin, one budget is shared by
independent limiters, connections and processes, refusals say when to retry, recovery follows, and
a Redis outage lets requests through. Then the API's limits over HTTP: keyed on the authenticated
principal (made-up keys are 401, never a budget of their own), per address without credentials."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from ems.api.ratelimit import GCRA_SCRIPT, GCRA_SHA, Limit, RateLimited, RateLimiter, gcra, run_gcra
from ems.api.ratepolicy import RatePolicy, Throttle
from ems.api.security.keys import new_key
from ems.infra.servers import RedisServer
from ems.settings import Settings
from tests.integration.harness import Pipeline

EVENT = {"source": "nms", "severity": "minor", "title": "Port flap", "asset_id": "ast_sw_1"}
SECOND = 1_000_000


def uncounted() -> float:
    return REGISTRY.get_sample_value("ems_api_ratelimit_unavailable_total") or 0.0


def prefix() -> str:
    return f"test:ratelimit:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(servers: dict[str, str]):
    client = Redis.from_url(servers["EMS_REDIS_URL"])
    yield client
    await client.aclose()


@pytest.mark.parametrize(
    ("per_minute", "burst"), [(60, 3), (7, 2), (100, None), (12_000, 500), (3_000_000, 40)]
)
async def test_the_lua_script_and_its_python_twin_agree(
    redis: Redis, per_minute: int, burst: int | None
) -> None:
    limit, key = Limit(per_minute, burst), prefix()
    t, rng = limit.emission_us, random.Random(per_minute)
    now, tat, refused = 1_700_000_000 * SECOND + rng.randrange(SECOND), None, 0
    for _ in range(300):
        now += rng.choice([0, 1, t // 3, t - 1, t, 3 * t, 2 * t * limit.capacity])
        cost = rng.choice([1, 1, 2, 7, limit.capacity, limit.capacity + 1])
        expected = gcra(tat, now, t, limit.capacity, cost)
        # In one transaction: no real-time expiry between the script and the reads (`now` is made up).
        async with redis.pipeline(transaction=True) as pipe:
            pipe.eval(GCRA_SCRIPT, 1, key, t, limit.capacity, cost, now)
            pipe.pttl(key)
            pipe.persist(key)
            pipe.get(key)
            out, pttl, _, stored = await pipe.execute()
        assert [int(v) for v in out] == [
            int(expected.allowed),
            expected.remaining,
            expected.reset_after_us,
            expected.retry_after_us,
        ]
        if expected.tat_us is not None:
            assert int(stored) == expected.tat_us
            assert (
                math.ceil((expected.tat_us - now) / 1000) - 50
                <= pttl
                <= math.ceil((expected.tat_us - now) / 1000)
            )
            tat = expected.tat_us
        refused += not expected.allowed
    assert 0 < refused < 300


async def test_the_script_reads_the_time_of_redis(redis: Redis) -> None:
    key, limit = prefix(), Limit(60, burst=10)
    cell = await run_gcra(redis, key, limit, 1)
    seconds, micros = await redis.time()
    stored = int(await redis.get(key))
    assert cell.allowed and cell.remaining == 9
    assert abs(stored - (seconds * SECOND + micros + SECOND)) < 2 * SECOND
    assert 900 <= await redis.pttl(key) <= 1000  # gone once the TAT is in the past


async def test_one_budget_for_two_limiters_on_two_connections(servers: dict[str, str]) -> None:
    first, second = Redis.from_url(servers["EMS_REDIS_URL"]), Redis.from_url(servers["EMS_REDIS_URL"])
    try:
        name = prefix()
        a, b = RateLimiter(first, name), RateLimiter(second, name)
        limit = Limit(1, burst=10)  # nothing comes back during the test
        turns = [await (a if i % 2 else b).hit("user:alice", limit) for i in range(12)]
        assert [d.allowed for d in turns] == [True] * 10 + [False] * 2
        assert [d.remaining for d in turns[:10]] == list(range(9, -1, -1))
        assert 59 < turns[-1].retry_after <= 60 and turns[-1].headers()["Retry-After"] == "60"
        # Concurrent hits from both: exactly the burst, nothing double-spent.
        other = Limit(1, burst=15)
        racing = await asyncio.gather(*(lim.hit("user:bob", other) for lim in [a, b] * 20))
        assert sum(d.allowed for d in racing) == 15
        assert all(d.counted for d in racing)
    finally:
        await first.aclose()
        await second.aclose()


WORKER = """
import asyncio, json, sys, time
from redis.asyncio import Redis
from ems.api.ratelimit import Limit, RateLimiter

async def main(url, prefix, hits, start_at):
    redis = Redis.from_url(url)
    limiter = RateLimiter(redis, prefix)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    decisions = [await limiter.hit("key:k_shared", Limit(1, burst=25)) for _ in range(hits)]
    await redis.aclose()
    print(json.dumps([d.allowed for d in decisions]))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
"""


def test_one_budget_for_two_api_processes(servers: dict[str, str]) -> None:
    name, start_at = prefix(), time.time() + 4
    args = [sys.executable, "-c", WORKER, servers["EMS_REDIS_URL"], name, "30", str(start_at)]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=os.environ.copy()) for _ in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert [len(o) for o in outputs] == [30, 30]
    assert sum(sum(o) for o in outputs) == 25  # one burst of 25 between them, not 25 each


async def test_a_burst_then_refusal_with_retry_after_then_recovery(redis: Redis) -> None:
    limiter, limit = RateLimiter(redis, prefix()), Limit(120, burst=3)  # a cell per 0.5 s
    burst = [await limiter.hit("user:carol", limit) for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in burst] == [(True, 2), (True, 1), (True, 0)]
    refused = await limiter.hit("user:carol", limit)
    assert not refused.allowed and 0 < refused.retry_after <= 0.5
    assert refused.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(math.ceil(refused.reset_after)),
        "Retry-After": "1",
    }
    await asyncio.sleep(refused.retry_after + 0.02)
    again = await limiter.hit("user:carol", limit)
    assert again.allowed and again.remaining == 0
    await asyncio.sleep(again.reset_after + 0.02)
    full = await limiter.hit("user:carol", limit)
    assert full.allowed and full.remaining == 2


async def test_the_throttle_keys_by_principal_and_refuses_with_429_or_413(redis: Redis) -> None:
    @dataclass(frozen=True)
    class Key:
        name: str
        kind: str = "key"
        role: str | None = None
        key_id: str | None = "k_7"

    settings = Settings(rate_limit_per_minute=2, rate_limit_routes={"POST /api/v1/events": 5})
    throttle = Throttle(RateLimiter(redis, prefix()), RatePolicy(settings))
    assert (await throttle.admit(Key("c"), "GET /api/v1/alerts", "192.0.2.1")).remaining == 1
    # Another address, same key: the same budget.
    assert (await throttle.admit(Key("c"), "GET /api/v1/alerts", "198.51.100.2")).remaining == 0
    with pytest.raises(RateLimited) as err:
        await throttle.admit(Key("c"), "GET /api/v1/alerts", "203.0.113.3")
    assert err.value.status == 429 and err.value.response().headers["retry-after"] == "30"
    # The events route is counted apart, a batch costs its items, one over the burst never fits.
    assert (await throttle.admit(Key("c"), "POST /api/v1/events", "-", cost=4)).remaining == 1
    with pytest.raises(RateLimited) as err:
        await throttle.admit(Key("c"), "POST /api/v1/events", "-", cost=6)
    assert err.value.status == 413 and "retry-after" not in err.value.response().headers


async def test_a_flushed_script_cache_makes_evalsha_fall_back_to_eval(redis: Redis) -> None:
    limiter = RateLimiter(redis, prefix())
    await redis.script_flush()
    assert (await limiter.hit("user:dave", Limit(60, 2))).counted
    assert await redis.script_exists(GCRA_SHA) == [True]


async def test_a_redis_outage_lets_requests_through_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_class = RedisServer
    if os.environ.get("EMS_TEST_STACK", "real") == "embedded":
        from ems.infra.embedded import EmbeddedRedis as server_class  # type: ignore[assignment]
    caplog.set_level(logging.WARNING, logger="ems.api.ratelimit")
    with server_class() as server:
        client = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        limiter, limit = RateLimiter(client, prefix(), retry_interval=0.2), Limit(1, burst=2)
        assert [(await limiter.hit("user:erin", limit)).allowed for _ in range(3)] == [True, True, False]
        server.kill()
        before = uncounted()
        started = time.monotonic()
        during = [await limiter.hit("user:erin", limit, cost=5) for _ in range(200)]
        assert time.monotonic() - started < 10
        assert all(d.allowed and not d.counted and d.headers() == {} for d in during)
        assert uncounted() - before == 1000  # every cell let through is counted
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1 and "Redis unavailable" in warnings[0]
        server.start()  # empty: the budget and the script cache are gone
        await asyncio.sleep(0.3)
        back = [await limiter.hit("user:erin", limit) for _ in range(3)]
        assert [(d.allowed, d.counted) for d in back] == [(True, True), (True, True), (False, True)]
        assert "Redis answers again" in caplog.records[-1].getMessage()
        await client.aclose()


KEY_LIMIT = 12  # per minute for API keys: a burst of 12, then one every 5 s


@pytest.fixture
def limited(servers: dict[str, str], tmp_path) -> Iterator[Pipeline]:
    """An API whose keys get KEY_LIMIT requests a minute (the harness gives keys millions)."""
    pipeline = Pipeline(servers, tmp_path, rate_limit_per_minute=str(KEY_LIMIT))
    try:
        pipeline.start_api()
        pipeline.admin_key()  # once the API's migrations made the tables (users and keys among them)
        yield pipeline
    finally:
        pipeline.stop_all()


def made_up_keys(real: str, n: int) -> list[str]:
    """`n` keys the API never issued: free text, well-formed unknown ones, and the real key's id with
    another secret (which must not spend the real key's budget)."""
    real_id = real.split("_")[1]
    kinds = [
        lambda i: f"client-{i}",
        lambda i: new_key()[2],
        lambda i: f"ems_{real_id}_{new_key()[1]}",
    ]
    return [kinds[i % 3](i) for i in range(n)]


def test_the_limit_is_the_principals_never_a_header_the_client_picks(limited: Pipeline) -> None:
    pipeline = limited
    real = pipeline.admin_key()
    made = pipeline.run("keys", "create", "collector-b", "--scope", "write:observations")
    assert made.returncode == 0, made.stderr
    other = made.stdout.split("key (shown once): ")[1].split()[0]
    with pipeline.client() as c, httpx.Client(base_url=pipeline.api, timeout=30) as anon:
        # 150 made-up keys: each one refused, none a fresh budget (nothing is appended).
        statuses = [
            anon.post("/api/v1/events", json=EVENT, headers={"X-API-Key": key}).status_code
            for key in made_up_keys(real, 150)
        ]
        assert statuses == [401] * 150
        # The real key still has its whole burst: a batch costs its items.
        r = c.post("/api/v1/events", json=[EVENT] * KEY_LIMIT)
        assert r.status_code == 202, r.text
        assert (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) == (str(KEY_LIMIT), "0")
        r = c.post("/api/v1/events", json=EVENT)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 5 and r.headers["ratelimit-remaining"] == "0"
        assert f"rate limit of {KEY_LIMIT} per minute exceeded" in r.json()["error"]
        # The same key in another header, or with a forwarded address, is the same principal; its reads
        # share the budget. Another key has its own.
        for headers, params in [
            ({"X-API-Key": real}, {}),
            ({"Authorization": f"Bearer {real}"}, {}),
            ({}, {"api-key": real}),
            ({"Authorization": f"Key {real}", "X-Forwarded-For": "198.51.100.7"}, {}),
        ]:
            r = anon.post("/api/v1/events", json=EVENT, headers=headers, params=params)
            assert r.status_code == 429, (headers, params, r.text)
        assert c.get("/api/v1/alerts/count").status_code == 429
        assert anon.post("/api/v1/events", json=EVENT, headers={"X-API-Key": other}).status_code == 202
        # No fixed window: the wait Retry-After names is enough for one more event.
        r = c.post("/api/v1/events", json=EVENT)
        assert r.status_code == 429, r.text
        time.sleep(int(r.headers["retry-after"]))
        assert c.post("/api/v1/events", json=EVENT).status_code == 202


def test_anonymous_calls_are_limited_per_address_and_a_forwarded_header_is_no_new_one(
    limited: Pipeline, servers: dict[str, str]
) -> None:
    """Without credentials the client address counts (the login: 10 a minute); an X-Forwarded-For
    from this untrusted loopback peer does not make a new address; another deployment on the same
    Redis has budgets of its own."""
    guess = {"name": "nobody", "password": "wrong password", "cookies": False}
    spoof = [f"198.51.100.{random.randrange(1, 255)}" for _ in range(2)]
    with httpx.Client(base_url=limited.api, timeout=30) as anon:
        statuses = []
        for _ in range(15):
            r = anon.post("/api/v1/auth/login", json=guess, headers={"X-Forwarded-For": spoof[0]})
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses.count(401) >= 10 and statuses[-1] == 429, statuses
        r = anon.post("/api/v1/auth/login", json=guess, headers={"X-Forwarded-For": spoof[1]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
    # Another deployment on the same Redis counts its own budgets.
    other = Pipeline(servers, limited.logs)
    try:
        other.start_api()
        other.admin_key()
        with httpx.Client(base_url=other.api, timeout=30) as anon:
            assert anon.post("/api/v1/auth/login", json=guess).status_code == 401
    finally:
        other.stop_all()
