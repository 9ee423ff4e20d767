"""Failure classification and backoff (streams/failures.py) and the stage restart loop (streams/stage.py)."""

from __future__ import annotations

import asyncio

import psycopg
import psycopg.errors as pg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError

from ems.streams.failures import Backoff, Failure, classify, describe
from ems.streams.stage import Stage, keep_running


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (pg.NumericValueOutOfRange("integer out of range"), Failure.RECORD),
        (pg.CharacterNotInRepertoire('invalid byte sequence for encoding "UTF8": 0x00'), Failure.RECORD),
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), Failure.RECORD),
        (pg.ProgramLimitExceeded("index row size 3000 exceeds maximum 2712"), Failure.RECORD),
        (pg.UniqueViolation("duplicate key"), Failure.RECORD),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), Failure.RECORD),
        (psycopg.OperationalError("connection refused"), Failure.TRANSIENT),
        (pg.AdminShutdown("terminating connection due to administrator command"), Failure.TRANSIENT),
        (pg.CannotConnectNow("the database system is starting up"), Failure.TRANSIENT),
        (pg.DeadlockDetected("deadlock"), Failure.TRANSIENT),
        (psycopg.InterfaceError("the connection is closed"), Failure.TRANSIENT),
        (PoolTimeout("couldn't get a connection"), Failure.TRANSIENT),
        (KafkaConnectionError("no broker"), Failure.TRANSIENT),
        (KafkaTimeoutError(), Failure.TRANSIENT),
        (RedisConnectionError("refused"), Failure.TRANSIENT),
        (ConnectionRefusedError(), Failure.TRANSIENT),
        (pg.UndefinedTable('relation "alerts" does not exist'), Failure.FATAL),
        (RuntimeError("a bug"), Failure.FATAL),
    ],
)
def test_classify(exc: BaseException, kind: Failure) -> None:
    assert classify(exc) is kind


def test_describe_names_the_class_and_sqlstate_on_one_line() -> None:
    text = describe(pg.NumericValueOutOfRange("integer out of range\nDETAIL: x"))
    assert text == "NumericValueOutOfRange [22003]: integer out of range DETAIL: x"


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    b = Backoff(initial=0.5, cap=4)
    delays = [b.next_delay() for _ in range(6)]
    for got, base in zip(delays, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert 0.8 * base <= got <= 1.2 * base
    b.reset()
    assert b.next_delay() <= 0.6


class Flaky(Stage):
    """Fails with the given exceptions on its first runs, then runs until stopped."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__("flaky-test")
        self.failures, self.runs, self.states = list(failures), 0, []

    async def run(self) -> None:
        self.runs += 1
        self.states.append((self.status.state, self.status.reason))
        if self.failures:
            self.status.progress(1)
            raise self.failures.pop(0)
        self.status.running()
        await self._stopping.wait()


async def test_keep_running_restarts_a_failing_stage_and_reports_why() -> None:
    stage = Flaky([psycopg.OperationalError("connection refused"), RuntimeError("a bug")])
    task = asyncio.create_task(keep_running(stage, Backoff(initial=0.01, cap=0.02)))
    while stage.runs < 3:
        await asyncio.sleep(0.01)
    assert stage.states[1] == ("paused", "OperationalError: connection refused")
    assert stage.states[2] == ("failing", "RuntimeError: a bug")
    assert stage.status.restarts == 2 and stage.status.state == "running"
    stage.stop()
    await asyncio.wait_for(task, 1)
    assert stage.status.state == "stopped"


async def test_a_stage_that_returns_on_its_own_is_restarted() -> None:
    class Quitter(Stage):
        runs = 0

        async def run(self) -> None:
            self.runs += 1
            if self.runs == 3:
                self.stop()

    stage = Quitter("quitter-test")
    await asyncio.wait_for(keep_running(stage, Backoff(initial=0.01, cap=0.01)), 2)
    assert stage.runs == 3 and stage.status.restarts == 2


async def test_a_cancelled_error_from_a_library_restarts_the_stage_but_a_stop_ends_it() -> None:
    stage = Flaky([asyncio.CancelledError()])  # raised under the stage, its task not cancelled
    task = asyncio.create_task(keep_running(stage, Backoff(initial=0.01, cap=0.01)))
    while stage.runs < 2:
        await asyncio.sleep(0.01)
    assert stage.states[1][0] == "paused" and "cancelled under the stage" in stage.states[1][1]
    task.cancel()  # a real stop of the task still ends it
    with pytest.raises(asyncio.CancelledError):
        await task
