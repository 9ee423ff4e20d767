"""Failure drills: the pipeline under the failures it must survive, each ended by an audit.

Every drill sends a known stream, injects one kind of failure, and checks that every write the API
accepted is in the read models exactly once and that the read models equal a rebuild from the log
(`ems.drills.audit`). `python -m ems.drills` runs them and prints the report; the integration
tests run the same functions.

- `postgres`: PostgreSQL stopped for 30 s and restarted (`ems.drills.outages`);
- `kafka`: the Kafka broker stopped for 30 s and restarted, clients retrying every write;
- `redis`: Redis killed (its data lost) and started empty;
- `kill`: `kill -9` of every process kind mid-stream, one after the other (`ems.drills.kills`);
- `poison`: poison records on every topic and through every write endpoint (`ems.drills.poison`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ems.drills.report import DrillReport


def _outage(which: str) -> Callable[[Any, Path], DrillReport]:
    def drill(stack: Any, logs: Path) -> DrillReport:
        from ems.drills.outages import Servers, server_outage

        return server_outage(Servers.of(stack), logs, which)

    return drill


def _kill(stack: Any, logs: Path) -> DrillReport:
    from ems.drills.kills import kill_each_process

    return kill_each_process(stack.env(), logs)


def _poison(stack: Any, logs: Path) -> DrillReport:
    from ems.drills.poison import poison

    return poison(stack.env(), logs)


DRILLS: dict[str, Callable[[Any, Path], DrillReport]] = {
    "postgres": _outage("postgres"),
    "kafka": _outage("kafka"),
    "redis": _outage("redis"),
    "kill": _kill,
    "poison": _poison,
}


def run_drill(name: str, stack: Any, logs: Path) -> DrillReport:
    """Run drill `name` against the servers of `stack` (a RealStack or an EmbeddedStack)."""
    return DRILLS[name](stack, logs)
