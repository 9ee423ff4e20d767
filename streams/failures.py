"""What a failure means for a stage: one bad record, a backend that is away, or a bug.

Every stage sorts what it catches into one of three kinds and acts on it the same way:

- `RECORD`: this input can never succeed (a value PostgreSQL refuses, a row over a limit, a bug that
  only this input triggers). The record goes to the dead-letter topic with the reason; the stage
  goes on with the next one. A batch write that fails this way is bisected to find the record.
- `TRANSIENT`: a server is unreachable, restarting or overloaded (connection lost, timeouts,
  "the database system is shutting down", a Kafka node not ready). The stage pauses with backoff
  and retries the same work from its checkpoint; the process never exits for it.
- `FATAL`: anything else (a missing table, a programming error). It is not the record's fault, so
  nothing is dead-lettered: the stage restarts with backoff and reports the reason as its health.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from enum import Enum

import psycopg
from aiokafka.errors import KafkaError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class Failure(Enum):
    RECORD = "record"
    TRANSIENT = "transient"
    FATAL = "fatal"


# SQLSTATE classes (first two characters): what the record did vs what the server went through.
_RECORD_SQLSTATE = {"21", "22", "23", "54"}  # cardinality, data exception, integrity, program limit
_TRANSIENT_SQLSTATE = {"08", "40", "53", "57", "58", "XX"}  # connection, rollback, resources, shutdown


def classify(exc: BaseException) -> Failure:
    """The kind of `exc` (see the module docstring)."""
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # Raised by the client: NUL in a text value (DataError) vs a lost connection.
            if isinstance(exc, psycopg.DataError):
                return Failure.RECORD
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                return Failure.TRANSIENT
            return Failure.FATAL
        if state[:2] in _RECORD_SQLSTATE:
            return Failure.RECORD
        if state[:2] in _TRANSIENT_SQLSTATE:
            return Failure.TRANSIENT
        return Failure.FATAL
    if isinstance(exc, PoolTimeout | KafkaError | RedisConnectionError | RedisTimeoutError):
        return Failure.TRANSIENT
    if isinstance(exc, TimeoutError | ConnectionError | OSError):
        return Failure.TRANSIENT
    if isinstance(exc, UnicodeError | ValueError | TypeError | OverflowError | ArithmeticError):
        return Failure.RECORD  # the value could not be adapted for the sink
    return Failure.FATAL


def describe(exc: BaseException, limit: int = 500) -> str:
    """A one-line reason for logs, health and dead letters: `Class: message` (SQLSTATE included)."""
    state = getattr(exc, "sqlstate", None)
    text = " ".join(str(exc).split()) or repr(exc)
    head = f"{type(exc).__name__}" + (f" [{state}]" if state else "")
    return f"{head}: {text}"[:limit]


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … up to `cap`, reset on success."""

    initial: float = 0.5
    cap: float = 30.0
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The delay before the next attempt (and count this attempt)."""
        base = min(self.cap, self.initial * (2**self.attempts))
        self.attempts += 1
        return base * (0.8 + 0.4 * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0

    async def sleep(self, stopping: asyncio.Event | None = None) -> None:
        """Wait the next delay, or less if `stopping` is set meanwhile."""
        delay = self.next_delay()
        if stopping is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
