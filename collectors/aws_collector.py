"""The scheduled AWS collector: every round, scan each (profile, region) with bounded concurrency and
publish discoveries, events and metrics through a `Sink` (the SNMP collector's sink contract).

A scope that fails (credentials, endpoint, throttled beyond our retries) does not stop the others: its
region asset gets `Cloud Collection Failed` (cleared when it answers again), the error is logged
without secrets, and the resources it listed before keep their state (no clears from a silent region).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field

from ems.collectors import aws_discovery as disc
from ems.collectors import aws_metrics as cw
from ems.collectors.aws_client import Clients, Inventory, Options, scan
from ems.collectors.aws_events import Tracker
from ems.collectors.snmp_collector import Sink
from ems.collectors.snmp_thresholds import ThresholdRule, Thresholds
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import MetricsBody, Observation

log = logging.getLogger(__name__)


@dataclass
class AwsConfig:
    """What to collect and how often (built from the EMS_AWS_* settings)."""

    regions: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    interval: float = 60.0
    discovery_interval: float = 900.0
    concurrency: int = 4
    thresholds: list[ThresholdRule] = field(default_factory=list)
    options: Options = field(default_factory=Options)

    def scopes(self, clients: Clients) -> list[tuple[str, str]]:
        """(profile, region) pairs; no regions: each profile's configured default region."""
        out = []
        for profile in self.profiles or [""]:
            regions = self.regions or [clients.default_region(profile) or ""]
            out += [(profile, r) for r in regions]
        return out


@dataclass
class RoundReport:
    """One round: per scope its resource count, seconds, throttled calls, error."""

    scopes: list[dict] = field(default_factory=list)
    published: int = 0

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.scopes if s["error"]]


class Collector:
    """Runs rounds on `config.interval` until `stop()`; `round()` runs one (tests, the CLI)."""

    def __init__(self, config: AwsConfig, sink: Sink, clients: Clients | None = None) -> None:
        self.config, self.sink = config, sink
        self.clients = clients or Clients(config.options)
        self.tracker = Tracker()
        self.thresholds = Thresholds(list(config.thresholds) + list(cw.DEFAULT_RULES))
        self.sent: dict[str, tuple[str, float]] = {}  # asset -> (facts+edges JSON, when sent)
        self.rounds = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _emit(self, asset: str, body) -> None:
        await self.sink("observations.raw", Observation(source=disc.SOURCE, asset_id=asset, body=body))

    async def _discovery(self, resource: disc.Resource, now: float) -> bool:
        """Publish a resource's discovery when it changed or `discovery_interval` passed."""
        shape = json.dumps([resource.facts, resource.edges], sort_keys=True, default=str)
        last = self.sent.get(resource.asset_id)
        if last and last[0] == shape and now - last[1] < self.config.discovery_interval:
            return False
        self.sent[resource.asset_id] = (shape, now)
        await self.sink("observations.raw", disc.observation(resource))
        return True

    def _region(self, profile: str, region: str) -> disc.Resource:
        key = disc.region_key(profile, region)
        facts = {
            "natural_key": key,
            "name": f"aws {profile or 'default'} {region}",
            "type": "cloud_region",
            "vendor": "AWS",
            "location": region,
            "attributes": {"cloud": "aws", "region": region, "profile": profile or "default"},
        }
        return disc.Resource("region", region, key, region, "active", facts)

    async def _publish(self, inv: Inventory, now: float) -> int:
        scope = (inv.profile, inv.region)
        region = self._region(inv.profile, inv.region)
        count = int(await self._discovery(region, now))
        if inv.error:
            log.warning("AWS %s %s failed: %s", inv.profile or "default", inv.region, inv.error)
            events = self.tracker.region_failed(scope, region.asset_id, inv.error)
        else:
            events = self.tracker.region_ok(scope)
            for r in inv.resources:
                count += await self._discovery(r, now)
            events += self.tracker.step(scope, inv.resources)
        for asset, body in events:
            await self._emit(asset, body)
        kinds = {r.asset_id: r for r in inv.resources}
        for asset, batch in inv.samples.items():
            await self._emit(asset, MetricsBody(samples=batch))
            r = kinds.get(asset)
            tags = tuple(f"{k}={v}" for k, v in r.tags.items()) if r else ()
            for body in cw.threshold_events(self.thresholds, asset, r.kind if r else "", tags, batch, now):
                await self._emit(asset, body)
        return count + len(events) + len(inv.samples)

    async def round(self) -> RoundReport:
        """Scan every scope (bounded concurrency), publish, report."""
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(profile: str, region: str) -> Inventory:
            async with gate:
                return await scan(self.clients, profile, region)

        scopes = self.config.scopes(self.clients)
        inventories = await asyncio.gather(*(one(p, r) for p, r in scopes))
        report, now = RoundReport(), time.time()
        for inv in inventories:
            report.published += await self._publish(inv, now)
            report.scopes.append(
                {
                    "profile": inv.profile or "default",
                    "region": inv.region,
                    "resources": len(inv.resources),
                    "seconds": round(inv.seconds, 3),
                    "calls": inv.stats.calls,
                    "throttled": inv.stats.throttled,
                    "error": inv.error or None,
                }
            )
        self.rounds += 1
        return report

    async def run(self) -> None:
        """Rounds every `interval` seconds (measured start to start) until stopped."""
        loop = asyncio.get_running_loop()
        log.info(
            "AWS collector: %d scopes every %gs", len(self.config.scopes(self.clients)), self.config.interval
        )
        while not self._stop.is_set():
            started = loop.time()
            try:
                report = await self.round()
                log.info("AWS round %d: %s", self.rounds, report.scopes)
            except Exception:  # a bug in one round must not stop the collector
                log.exception("AWS round failed")
            wait = self.config.interval - (loop.time() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(wait, 0.0))
        await self.clients.close()


def region_asset(profile: str, region: str) -> str:
    return asset_id_for(disc.region_key(profile, region))
