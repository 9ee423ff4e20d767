"""CPU seconds spent by the processes of a benchmark, per role, read from /proc.

A rate says how much the pipeline did; the CPU it spent per observation, process by process, says
where that CPU went. On a shared machine it moves with the machine's state as the rates do, so
changes are still compared in alternated runs (docs/performance.md). `CpuUse` takes a snapshot
of every process before and after a phase and splits the difference by role: each worker process
group started by the bench, Kafka (a `java` process), PostgreSQL (`postgres`), Redis, and the rest of
the machine. A process that started or ended within the phase counts from zero or up to its last
snapshot, so the roles are exact for processes that live through the phase (the servers and
workers) and a lower bound for the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SERVERS = {"java": "kafka", "postgres": "postgresql", "redis-server": "redis"}


@dataclass(frozen=True)
class Proc:
    """One process as /proc/PID/stat gives it: command name, process group, CPU ticks (user + system)."""

    comm: str
    pgid: int
    ticks: int


def parse_stat(text: str) -> Proc:
    """Parse one /proc/PID/stat line (the command name may hold spaces and parentheses)."""
    head, _, rest = text.rpartition(")")
    fields = rest.split()  # fields[0] is the state, [2] the process group, [11]/[12] utime/stime
    return Proc(head.split("(", 1)[1], int(fields[2]), int(fields[11]) + int(fields[12]))


def snapshot(proc: Path = Path("/proc")) -> dict[int, Proc]:
    """Every live process by pid."""
    out = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            out[int(stat.parent.name)] = parse_stat(stat.read_text())
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return out


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group `pgid`."""
    return sum(p.ticks for p in snapshot().values() if p.pgid == pgid) / TICKS


def by_role(
    before: Mapping[int, Proc], after: Mapping[int, Proc], groups: Mapping[int, str]
) -> dict[str, float]:
    """CPU seconds per role between two snapshots. `groups` names the bench's own process groups
    (pgid -> role); servers are known by their command name; everything else is "other"."""
    out: dict[str, float] = {}
    for pid, now in after.items():
        then = before.get(pid)
        spent = now.ticks - (then.ticks if then is not None and then.comm == now.comm else 0)
        role = groups.get(now.pgid) or SERVERS.get(now.comm, "other")
        out[role] = out.get(role, 0.0) + spent / TICKS
    return out


@dataclass
class CpuUse:
    """CPU per role over one phase: `start()`, the phase, `stop()`; then `per_item(n)`."""

    groups: dict[int, str]
    seconds: dict[str, float] = field(default_factory=dict)
    _before: dict[int, Proc] = field(default_factory=dict)

    def start(self) -> None:
        self._before = snapshot()

    def stop(self) -> None:
        self.seconds = by_role(self._before, snapshot(), self.groups)

    def per_item(self, count: int) -> dict[str, float]:
        """Microseconds of CPU per item per role, with the bench's roles and servers first and a total."""
        out = {role: self.seconds[role] * 1e6 / count for role in sorted(self.seconds, key=_order)}
        out["total"] = sum(out.values())
        return out


def _order(role: str) -> tuple[int, str]:
    return (role == "other", role in SERVERS.values(), role)


def describe(per_item: Mapping[str, float], unit: str = "obs") -> str:
    """One line: `role 123 µs, ...` per item."""
    return ", ".join(f"{role} {value:.0f}" for role, value in per_item.items()) + f" (µs of CPU per {unit})"
