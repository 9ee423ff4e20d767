"""The scheduled SNMP collector: discover, then poll every device on its class's interval with jitter,
publishing observations (discovery, metrics, events) and dead letters through a `Sink`.

One asyncio loop, one pysnmp engine, a semaphore bounding the requests in flight. Devices found in a
CIDR range are kept only once they answer (an empty address is not "down"); listed hosts are polled
from the start, so a host that never answers raises Device Unreachable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable

from ems.collectors import snmp_poll as core
from ems.collectors.snmp_client import Session, SnmpAuthError, SnmpClient, SnmpError, SnmpTimeout
from ems.collectors.snmp_config import CollectorConfig, Device
from ems.collectors.snmp_discovery import DeviceInfo, discover, natural_key
from ems.collectors.snmp_discovery import observation as discovery_observation
from ems.collectors.snmp_mib import Problem
from ems.collectors.snmp_thresholds import DEFAULT_RULES, Thresholds
from ems.schemas.deadletter import DeadLetter
from ems.schemas.envelope import Record, new_id
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import MetricSample, MetricsBody, Observation
from ems.streams.liveness import beat_every

log = logging.getLogger(__name__)
STAGE = "snmp-collector"
Sink = Callable[[str, Record], Awaitable[None]]  # (topic name: "observations.raw" | "deadletter", record)


def dead_letter(device: Device, problem: Problem) -> DeadLetter:
    """A dead letter for one unusable value, with the original as received."""
    payload = json.dumps({"device": device.address, "oid": problem.oid, "value": problem.original})
    return DeadLetter(
        event_id=new_id(),
        stage=STAGE,
        reason=f"{device.address} {problem.oid}: {problem.reason}",
        source_topic=f"snmp://{device.address}",
        key_b64=base64.b64encode(device.address.encode()).decode(),
        payload_b64=base64.b64encode(payload.encode()).decode(),
    )


class Poller:
    """One device: its session, what discovery learnt, and the polling state."""

    def __init__(self, client: SnmpClient, device: Device, thresholds: Thresholds, sink: Sink) -> None:
        self.client, self.device, self.thresholds, self.sink = client, device, thresholds, sink
        self.session: Session | None = None
        self.info: DeviceInfo | None = None
        self.state = core.DeviceState()
        self.reported: set[tuple[str, str]] = set()
        self.discovered_at = 0.0
        self.last_error = ""

    @property
    def asset_id(self) -> str:
        return self.info.asset_id if self.info else asset_id_for(natural_key("", self.device.host))

    async def _emit(self, asset: str, body) -> None:
        await self.sink("observations.raw", Observation(source="nms", asset_id=asset, body=body))

    async def _problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            if (problem.oid, problem.reason) not in self.reported:
                self.reported.add((problem.oid, problem.reason))
                log.warning("dead-lettered %s %s: %s", self.device.address, problem.oid, problem.reason)
                await self.sink("deadletter", dead_letter(self.device, problem))

    async def run(self, rediscover_after: float = 3600.0, report_down: bool = True) -> bool:
        """Discover when due, then poll once; publish everything. True when the device answered."""
        if self.session is None:
            self.session = await self.client.session(self.device)
        session = self.session
        session.stats = type(session.stats)()
        started = time.time()
        try:
            if self.info is None or started - self.discovered_at > rediscover_after:
                self.info = await discover(self.client, session)
                self.discovered_at, self.reported = started, set()
                await self._emit(self.info.asset_id, discovery_observation(self.info).body)
                await self._problems(self.info.problems)
            _, roots = core.poll_plan(self.info)
            walked, scalars = await self.client.walk(
                session, roots, scalars=(core.mib.SYSTEM + ".3",), max_repetitions=self.info.rows + 1
            )
        except SnmpAuthError as exc:
            self.last_error = str(exc)
            log.error("%s", exc)
            for body in core.auth_failure(self.state, self.asset_id, str(exc)):
                await self._emit(self.asset_id, body)
            return False
        except SnmpTimeout as exc:
            self.last_error = str(exc)
            if report_down:
                log.warning("%s", exc)
                loss = MetricSample(name="packet_loss_pct", value=100.0)  # every try timed out
                await self._emit(self.asset_id, MetricsBody(samples=[loss]))
                for body in core.unreachable(self.state, self.asset_id, str(exc)):
                    await self._emit(self.asset_id, body)
            return False
        except SnmpError as exc:
            self.last_error = str(exc)
            log.warning("%s", exc)
            return False
        for asset, body in core.reachable(self.state):
            await self._emit(asset, body)
        problems: list[Problem] = []
        stats = session.stats
        data = core.parse_poll(
            self.info, walked, scalars, started, stats.latency_ms, stats.loss_pct, problems
        )
        await self._problems(problems)
        samples, events = core.step(
            self.state, self.info, data, self.thresholds, self.device.tags, self.device.device_class
        )
        await self._emit(self.info.asset_id, MetricsBody(samples=samples))
        for body in events:
            await self._emit(self.info.asset_id, body)
        self.last_error = ""
        return True


class Collector:
    """Runs every device's poller on schedule with bounded concurrency until `stop()`."""

    def __init__(
        self,
        config: CollectorConfig,
        sink: Sink,
        client: SnmpClient | None = None,
        liveness: tuple[str, float] | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.liveness = liveness  # (origin, interval s): the collector's own heartbeat
        self.client = client or SnmpClient(timeout=config.timeout, retries=config.retries)
        self.thresholds = Thresholds(list(config.thresholds) + list(DEFAULT_RULES))
        self.pollers = [Poller(self.client, d, self.thresholds, sink) for d in config.devices()]
        self.polls = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Spread first polls over one interval, then keep each device on its own interval ± jitter."""
        cfg, loop = self.config, asyncio.get_running_loop()
        now = loop.time()
        due = [
            (now + random.uniform(0, min(5.0, cfg.interval_for(p.device.device_class))), i)
            for i, p in enumerate(self.pollers)
        ]
        heapq.heapify(due)
        gate = asyncio.Semaphore(cfg.concurrency)
        tasks: set[asyncio.Task] = set()

        async def one(i: int) -> None:
            poller = self.pollers[i]
            try:
                answered = await poller.run(cfg.discovery_interval, report_down=not poller.device.from_range)
            except Exception:  # a bug must not stop the other devices
                log.exception("poll of %s failed", poller.device.address)
                answered = False
            finally:
                gate.release()
            self.polls += 1
            interval = cfg.interval_for(poller.device.device_class)
            if poller.device.from_range and poller.info is None and not answered:
                interval = cfg.discovery_interval  # an empty address of a range: probe again later
            heapq.heappush(due, (loop.time() + interval * (1 + random.uniform(-cfg.jitter, cfg.jitter)), i))

        log.info("SNMP collector: %d devices, concurrency %d", len(self.pollers), cfg.concurrency)
        if self.liveness is not None:
            origin, every = self.liveness

            async def send(obs: Observation) -> None:
                await self.sink("observations.raw", obs)

            beating = asyncio.create_task(beat_every(origin, every, send, self._stop))
            tasks.add(beating)
            beating.add_done_callback(tasks.discard)
        while not self._stop.is_set():
            if not due:
                await asyncio.sleep(0.05)
                continue
            wait = due[0][0] - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), min(wait, 1.0))
                continue
            _, i = heapq.heappop(due)
            await gate.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
