"""The heartbeats our own processes send about themselves (docs/noise.md "Heartbeats").

`ems worker` and `ems collector snmp` append a heartbeat observation to `ems.observations.raw` every
`EMS_LIVENESS_INTERVAL` s (0 = none), the same record `POST /api/v1/heartbeats` appends, with a timeout
of three intervals: when a process dies or hangs for that long, the heartbeat stage raises
`HeartbeatMissing` on its origin (`worker@<host>/<stages>`, `snmp-collector@<host>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from collections.abc import Awaitable, Callable, Sequence

from ems.schemas.observation import HeartbeatBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import close_quietly, make_producer, settle
from ems.streams.stage import Stage

log = logging.getLogger(__name__)
TAG = "self-monitoring"


def timeout_for(interval: float) -> int:
    """Three intervals, in whole seconds within a heartbeat's 1..86,400."""
    return min(86_400, max(1, math.ceil(3 * interval)))


def worker_origin(stages: Sequence[str]) -> str:
    """`worker@<host>/<stage>+<stage>...`: one origin per host and set of stages, stable across restarts."""
    return f"worker@{socket.gethostname()}/{'+'.join(stages)}"


def collector_origin(kind: str = "snmp") -> str:
    return f"{kind}-collector@{socket.gethostname()}"


def beat(origin: str, interval: float) -> Observation:
    """One heartbeat of `origin`, due again within three intervals."""
    body = HeartbeatBody(timeout=timeout_for(interval), tags=[TAG], attributes={"pid": os.getpid()})
    return Observation(source=origin, body=body)


async def beat_every(
    origin: str, interval: float, send: Callable[[Observation], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Send a beat now and every `interval` s until `stop` is set; a failed send is logged, not fatal."""
    while not stop.is_set():
        try:
            await send(beat(origin, interval))
        except Exception as exc:  # noqa: BLE001 - the next beat retries; a missed one is what we detect
            log.warning("heartbeat of %s not sent: %s", origin, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


class SelfBeat(Stage):
    """A worker's own heartbeat, appended to `ems.observations.raw` every `liveness_interval` s."""

    def __init__(self, settings: Settings, origin: str) -> None:
        super().__init__("liveness")
        self.settings = settings
        self.origin = origin

    async def run(self) -> None:
        producer = make_producer(self.settings)
        topic = self.settings.topic("observations.raw")

        async def send(obs: Observation) -> None:
            await settle([await producer.send(topic, value=encode(obs), key=obs.key.encode())])
            self.status.progress(1)

        try:
            await producer.start()
            self.status.running()
            await beat_every(self.origin, self.settings.liveness_interval, send, self._stopping)
        finally:
            await close_quietly(producer)
