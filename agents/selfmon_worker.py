"""The self-monitor stage (`ems worker --stages selfmon`): every `EMS_SELFMON_INTERVAL` s it polls the
targets (`EMS_SELFMON_TARGETS`), judges the stages from their heartbeats in Redis as `/health` does,
and appends what `ems.agents.selfmon` decides to `ems.observations.raw`, like a collector: the
pipeline makes the events alerts tagged `self-monitoring`.

Run one, in a process of its own (it is not among the default stages): a monitor inside the worker it
watches dies with it. Each run of the stage starts with a fresh `SelfMonitor`, so after a failure
(Kafka away while publishing) its first round sends every verdict again instead of losing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

import httpx

from ems.agents.selfmon import STAGE, TARGET, Probe, SelfMonitor, Verdicts, stage_verdicts, target_verdicts
from ems.api.health import judge_stages
from ems.collectors.publish import kafka_sink
from ems.settings import Settings
from ems.streams.heartbeat import namespace, read_heartbeats, redis_client
from ems.streams.kafka import settle
from ems.streams.stage import Stage

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 5.0  # a target slower than this is gone (an API's /health answers within ~2 s)
RAW = "observations.raw"


async def probe(http: httpx.AsyncClient, url: str) -> Probe:
    """GET one target: its status and JSON body, or the error when it does not answer."""
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        return Probe(url, error=f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__)
    try:
        body = response.json()
    except ValueError:
        body = None
    return Probe(url, response.status_code, body)


class SelfMonitorStage(Stage):
    """Rounds of readings until stopped; each round's events appended to the raw topic."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("selfmon")
        self.settings = settings

    async def read(self, http: httpx.AsyncClient, redis) -> tuple[Verdicts, list[str]]:
        """(verdicts, scopes read completely) of one round."""
        verdicts: Verdicts = {}
        for reading in await asyncio.gather(*(probe(http, url) for url in self.settings.selfmon_targets)):
            verdicts |= target_verdicts(reading)
        settled = [TARGET]
        try:
            seen, instances = await asyncio.wait_for(read_heartbeats(redis, namespace(self.settings)), 2.0)
        except Exception as exc:  # noqa: BLE001 - Redis away: the stages are unknown this round
            log.warning("self-monitor: stage heartbeats unreadable: %s", exc)
        else:
            report, _ = judge_stages(seen, instances, time.time(), self.settings)
            verdicts |= stage_verdicts(report, self.settings.selfmon_lag_threshold)
            settled.append(STAGE)
        return verdicts, settled

    async def run(self) -> None:
        key = self.settings.selfmon_api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        monitor = SelfMonitor()
        redis = redis_client(self.settings, timeout=2.0, connections=4)
        try:
            async with (
                kafka_sink(self.settings) as sink,
                httpx.AsyncClient(timeout=PROBE_TIMEOUT, headers=headers) as http,
            ):
                self.status.running()
                while not self.stopping:
                    verdicts, settled = await self.read(http, redis)
                    events = monitor.step(verdicts, datetime.now(UTC), settled)
                    await settle([await sink(RAW, event) for event in events])  # lost: the run restarts
                    for event in events:
                        log.info(
                            "self-monitor: %s %s %s",
                            event.body.event,
                            event.body.resource,
                            event.body.severity,
                        )
                    self.status.progress(len(events))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.settings.selfmon_interval)
        finally:
            with contextlib.suppress(Exception):
                await redis.aclose()
