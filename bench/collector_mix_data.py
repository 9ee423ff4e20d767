"""The collector mix, pure: a fleet of SNMP devices polled every 60 s, with scripted faults.

Each device is the `DeviceInfo` discovery would learn (4 HC gigabit interfaces, 2 CPUs, a disk and
the physical memory). Each round builds the `PollData` one poll would parse and hands it to the SNMP
collector's own `step` (rates, thresholds, link state), `unreachable` and `reachable`, and wraps what
they return as the collector's `Poller` does: `Observation(source="nms", asset_id=..., body=...)`,
clears first, then the metrics, then the events. Faults, staggered over a cycle of 4 rounds:

- every 20th device's disk goes 50 % -> 90 % (warning) -> 97 % (critical: a severity change) -> 50 %
  (the threshold's clear);
- every 25th device (from 1) has its first interface down for two rounds (LinkDown major, then its
  LinkUp clear); for every 50th (from 1) the collector restarts while that link is down, forgets
  it and reports it again: a duplicate;
- every 100th device (from 2) times out for two rounds (packet loss 100 % samples, Device
  Unreachable once per outage, then its clear).

About 6 % of the observations are events; the rest carry 38 samples each (per device: SNMP latency,
loss, uptime, CPU; per interface: bps, utilisation, error and discard rates; per storage area).
Round 0 is the baseline poll a running collector already made: all healthy, not published.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ems.collectors import snmp_poll as core
from ems.collectors.snmp_discovery import DeviceInfo, natural_key
from ems.collectors.snmp_thresholds import Thresholds
from ems.schemas.observation import MetricSample, MetricsBody, Observation

INTERVAL = 60.0  # seconds between two polls of a device
INTERFACES = 4
SPEED = 1_000_000_000
CYCLE = 4
DISK = {0: 50.0, 1: 90.0, 2: 97.0, 3: 50.0}  # storage used % by phase (storage cohort)
LINK_DOWN = {1, 2}  # phases with the first interface down (link cohort)
UNREACHABLE = {1, 2}  # phases without an answer (reachability cohort)


def device(i: int, prefix: str = "bench") -> DeviceInfo:
    """Device `i` as discovery describes it."""
    host = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    name = f"{prefix}-{i:05d}"
    interfaces = {
        str(k): {"index": k, "name": f"Gi0/{k - 1}", "speed_bps": SPEED, "admin": "up", "oper": "up"}
        for k in range(1, INTERFACES + 1)
    }
    facts = {"name": name, "attributes": {"cpus": 2, "storage": ["/", "Physical memory"]}}
    return DeviceInfo(host, natural_key(name, host), name, facts, [], interfaces, True, True)


class Fleet:
    """`size` devices and their collector state; `round(r)` for r = 1, 2, ... in order."""

    def __init__(self, size: int, start: float, prefix: str = "bench") -> None:
        self.start = start  # time of round 0
        self.infos = [device(i, prefix) for i in range(size)]
        self.states = [core.DeviceState() for _ in range(size)]
        self.thresholds = Thresholds()
        self.octets = [[0, 0] * INTERFACES for _ in range(size)]
        for i in range(size):  # round 0: the baseline poll, healthy, not published
            self._poll(i, 0, healthy=True)

    def _data(self, i: int, r: int, healthy: bool) -> core.PollData:
        phase = (r + i // 100) % CYCLE
        counters = {}
        for k in range(1, INTERFACES + 1):
            util_in, util_out = 0.05 + 0.1 * ((i + k) % 5), 0.03 + 0.1 * ((i + 2 * k) % 6)
            octets = self.octets[i]
            octets[2 * k - 2] += int(util_in * SPEED * INTERVAL / 8)
            octets[2 * k - 1] += int(util_out * SPEED * INTERVAL / 8)
            down = not healthy and i % 25 == 1 and k == 1 and phase in LINK_DOWN
            counters[str(k)] = {
                "in_octets": octets[2 * k - 2],
                "out_octets": octets[2 * k - 1],
                "in_errors": r * ((i + k) % 3),
                "in_discards": r * (k % 2),
                "out_errors": r * ((i + k) % 2),
                "out_discards": 0,
                "admin": 1,
                "oper": 2 if down else 1,
            }
        disk = DISK[phase] if not healthy and i % 20 == 0 else 40.0 + i % 30
        return core.PollData(
            at=self.start + r * INTERVAL,
            uptime=int((r + 1000) * INTERVAL * 100),
            counters=counters,
            cpu=[10 + (i + r) % 40, 20 + i % 30],
            storage={"1": ("/", disk), "2": ("Physical memory", 60.0 + i % 20)},
            latency_ms=2.0 + (i % 50) / 10,
            loss_pct=0.0,
            memory=frozenset({"2"}),
        )

    def _poll(self, i: int, r: int, healthy: bool = False) -> list[tuple[str, object]]:
        """(asset, body) pairs one poll of device `i` publishes, in the collector's order."""
        info, state, phase = self.infos[i], self.states[i], (r + i // 100) % CYCLE
        if not healthy and i % 100 == 2 and phase in UNREACHABLE:
            loss = MetricSample(name="packet_loss_pct", value=100.0)
            out: list[tuple[str, object]] = [(info.asset_id, MetricsBody(samples=[loss]))]
            reason = f"{info.host}:161: no answer after 2 tries"
            return out + [(info.asset_id, e) for e in core.unreachable(state, info.asset_id, reason)]
        if not healthy and i % 50 == 1 and phase == 2:  # the collector restarted: state forgotten
            state = self.states[i] = core.DeviceState()
        out = list(core.reachable(state))
        samples, events = core.step(state, info, self._data(i, r, healthy), self.thresholds)
        return out + [(info.asset_id, MetricsBody(samples=samples))] + [(info.asset_id, e) for e in events]

    def round(self, r: int) -> Iterator[Observation]:
        """Every device's observations of round `r` (>= 1), dated at that poll."""
        at = datetime.fromtimestamp(self.start + r * INTERVAL, UTC)
        for i in range(len(self.infos)):
            for asset, body in self._poll(i, r):
                yield Observation(source="nms", asset_id=asset, occurred_at=at, body=body)


def probe(n: int, at: float) -> tuple[Observation, Observation]:
    """Latency probe pair `n`, each on a device of its own: a poll's metrics (new series) and a
    Device Unreachable (a new alert), both as the collector would publish them at `at`."""
    metrics = next(Fleet(1, at - INTERVAL, prefix=f"probe{n}m").round(1))
    info = device(0, f"probe{n}e")
    (body,) = core.unreachable(core.DeviceState(), info.asset_id, f"{info.host}:161: no answer after 2 tries")
    when = datetime.fromtimestamp(at, UTC)
    return metrics, Observation(source="nms", asset_id=info.asset_id, occurred_at=when, body=body)
