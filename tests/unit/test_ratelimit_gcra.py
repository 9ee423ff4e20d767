"""GCRA arithmetic (`gcra`, the Python twin of the Lua script), decisions, their headers and the
outage log. The script itself is compared with `gcra` on a real Redis in tests/integration."""

from __future__ import annotations

import logging
import math
import random

import orjson
import pytest

from ems.api.ratelimit import Cell, Decision, Limit, OutageLog, RateLimited, gcra

SECOND = 1_000_000
NOW = 1_700_000_000 * SECOND  # microseconds, as Redis TIME gives them


def run(limit: Limit, steps: list[tuple[int, int]]) -> list[Cell]:
    """Apply (time µs, cost) steps in order, carrying the stored TAT like Redis does."""
    tat, out = None, []
    for now, cost in steps:
        cell = gcra(tat, now, limit.emission_us, limit.capacity, cost)
        tat = cell.tat_us if cell.tat_us is not None else tat
        out.append(cell)
    return out


def test_a_burst_is_allowed_at_once_then_one_cell_per_interval() -> None:
    limit = Limit(60, burst=3)  # one cell per second, three at once
    cells = run(limit, [(NOW, 1)] * 4 + [(NOW + SECOND - 1, 1), (NOW + SECOND, 1), (NOW + SECOND, 1)])
    assert [c.allowed for c in cells] == [True, True, True, False, False, True, False]
    assert [c.remaining for c in cells[:3]] == [2, 1, 0]
    assert cells[2].reset_after_us == 3 * SECOND  # empty until three intervals have passed
    assert cells[3].retry_after_us == SECOND and cells[3].reset_after_us == 3 * SECOND
    assert cells[4].retry_after_us == 1  # one microsecond early
    assert cells[3].tat_us is None  # a refusal stores nothing
    assert cells[6].retry_after_us == SECOND


def test_after_reset_after_the_whole_burst_is_back() -> None:
    limit = Limit(600, burst=5)  # 0.1 s per cell
    cells = run(limit, [(NOW, 5)])
    later = gcra(cells[0].tat_us, NOW + cells[0].reset_after_us, limit.emission_us, 5, 1)
    assert later.allowed and later.remaining == 4
    # A long idle time does not bank more than the burst.
    idle = gcra(cells[0].tat_us, NOW + 3600 * SECOND, limit.emission_us, 5, 6)
    assert not idle.allowed and idle.retry_after_us == -1


def test_a_batch_costs_its_items_and_a_batch_over_the_burst_never_fits() -> None:
    limit = Limit(100, burst=10)
    cells = run(limit, [(NOW, 7), (NOW, 4), (NOW, 3), (NOW, 11)])
    assert [(c.allowed, c.remaining) for c in cells] == [(True, 3), (False, 3), (True, 0), (False, 0)]
    assert cells[1].retry_after_us == limit.emission_us  # one more cell needed
    assert cells[3].retry_after_us == -1  # 11 > 10: no wait helps


@pytest.mark.parametrize(("per_minute", "burst"), [(60, 1), (100, 10), (7, 3), (12_000, 500)])
def test_no_window_ever_admits_more_than_the_burst_plus_the_rate(per_minute: int, burst: int) -> None:
    """The GCRA guarantee: cells allowed in any interval of length d <= burst + d / T, and a client
    pacing itself at the rate is never refused."""
    limit = Limit(per_minute, burst=burst)
    t = limit.emission_us
    rng = random.Random(per_minute)
    now, steps = NOW, []
    for _ in range(600):
        now += rng.choice([0, 0, t // 3, t, 2 * t, 5 * t])
        steps.append((now, rng.choice([1, 1, 1, 2, burst])))
    cells = run(limit, steps)
    admitted = [(now, cost) for (now, cost), c in zip(steps, cells, strict=True) if c.allowed]
    assert 0 < len(admitted) < len(steps)
    for i, (start, _) in enumerate(admitted):
        spent = 0
        for end, cost in admitted[i:]:
            spent += cost
            assert spent <= burst + (end - start) / t + 1e-9
    paced = run(limit, [(NOW + i * t, 1) for i in range(3 * burst)])
    assert all(c.allowed for c in paced)


def test_limits_check_their_range_and_round_the_interval_to_microseconds() -> None:
    assert Limit(100).emission_us == 600_000 and Limit(100).capacity == 100
    assert Limit(7).emission_us == 8_571_429 and Limit(7, burst=2).capacity == 2
    assert Limit(60_000_000).emission_us == 1
    for bad in ({"per_minute": 0}, {"per_minute": 60_000_001}, {"per_minute": 10, "burst": 0}):
        with pytest.raises(ValueError, match="must be within"):
            Limit(**bad)


def test_headers_are_whole_seconds_with_retry_after_only_when_refused() -> None:
    ok = Decision(True, limit=100, remaining=42, reset_after=34.2, retry_after=0.0)
    assert ok.headers() == {"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "35"}
    refused = Decision(False, limit=100, remaining=0, reset_after=60.0, retry_after=0.1)
    assert refused.headers()["Retry-After"] == "1" and refused.headers()["RateLimit-Reset"] == "60"
    assert Decision(False, 10, 0, 12.0, 3.0000001).headers()["Retry-After"] == "4"
    never = Decision(False, 10, 4, 6.0, math.inf)
    assert never.never and "Retry-After" not in never.headers()
    assert Decision(True, 10, 10, 0.0, 0.0, counted=False).headers() == {}


def test_a_refusal_is_a_429_with_retry_after_or_a_413_when_waiting_cannot_help() -> None:
    limit = Limit(100, burst=10)
    exc = RateLimited(Decision(False, 10, 0, 6.0, 0.6), limit, cost=1)
    response = exc.response()
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.headers["ratelimit-remaining"] == "0"
    assert orjson.loads(response.body) == {"error": "rate limit of 100 per minute exceeded; retry in 1 s"}
    too_big = RateLimited(Decision(False, 10, 10, 0.0, math.inf), limit, cost=50).response()
    assert too_big.status_code == 413 and "retry-after" not in too_big.headers
    assert "send at most 10 items per request" in orjson.loads(too_big.body)["error"]


def test_the_outage_log_says_it_once_per_period_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = [100.0]
    outage = OutageLog(every=30.0, clock=lambda: clock[0])
    caplog.set_level(logging.WARNING, logger="ems.api.ratelimit")
    for _ in range(400):
        outage.miss("ConnectionError: refused")
        clock[0] += 0.125  # 50 s of misses
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "1 request(s) let through" in lines[0] and "240 request(s) let through" in lines[1]
    outage.answered()
    outage.answered()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and "400 request(s) were let through" in lines[2]
