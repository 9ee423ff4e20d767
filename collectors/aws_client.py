"""The thin aiobotocore adapter: clients per (profile, region) from the standard AWS configuration,
botocore retries plus our own backoff on throttling, pagination, and one region's scan.

Credentials, region and endpoints come from botocore's own chain only: environment (`AWS_ACCESS_KEY_ID`,
`AWS_PROFILE`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_EC2`...), the shared config/credentials files,
assumed roles and instance metadata. Nothing here takes an endpoint or a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from ems.collectors import aws_discovery as disc
from ems.collectors import aws_metrics as cw
from ems.collectors.aws_discovery import Resource

log = logging.getLogger(__name__)
THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
}
# operation -> (request token, response token, result key)
PAGES = {
    "describe_instances": ("NextToken", "NextToken", "Reservations"),
    "describe_instance_status": ("NextToken", "NextToken", "InstanceStatuses"),
    "describe_db_instances": ("Marker", "Marker", "DBInstances"),
    "describe_load_balancers": ("Marker", "NextMarker", "LoadBalancers"),
    "describe_target_groups": ("Marker", "NextMarker", "TargetGroups"),
    "get_metric_data": ("NextToken", "NextToken", "MetricDataResults"),
}


def redact(text: str) -> str:
    """`text` without the configured secrets (secret key, session token) or URL user:password."""
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)


@dataclass
class Stats:
    """Calls, pages and throttled answers of one scan."""

    calls: int = 0
    throttled: int = 0


@dataclass
class Options:
    """How we talk to AWS (see EMS_AWS_* in ems/settings.py)."""

    retry_mode: str = "adaptive"
    max_attempts: int = 5
    throttle_retries: int = 5
    backoff: float = 0.5  # first own back-off (s), doubled per throttled retry, capped at 20 s
    timeout: float = 30.0
    period: int = 60
    metrics: bool = True


@dataclass
class Inventory:
    """What one scope (profile, region) answered: resources, metric samples, or the error."""

    profile: str
    region: str
    resources: list[Resource] = field(default_factory=list)
    samples: dict[str, list] = field(default_factory=dict)
    error: str = ""
    stats: Stats = field(default_factory=Stats)
    seconds: float = 0.0


async def call(method, stats: Stats, opts: Options, **kwargs: Any) -> dict[str, Any]:
    """One API call; a throttling error that botocore's own retries gave up on is retried with jittered
    exponential back-off, `throttle_retries` times."""
    for attempt in range(opts.throttle_retries + 1):
        stats.calls += 1
        try:
            return await method(**kwargs)
        except ClientError as exc:
            if (
                exc.response.get("Error", {}).get("Code") not in THROTTLING
                or attempt == opts.throttle_retries
            ):
                raise
            stats.throttled += 1
            await asyncio.sleep(min(20.0, opts.backoff * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


async def pages(client, op: str, stats: Stats, opts: Options, **kwargs: Any) -> list[Any]:
    """Every item of a paginated operation (each page retried on throttling by `call`)."""
    request_token, response_token, key = PAGES[op]
    items: list[Any] = []
    method = getattr(client, op)
    while True:
        page = await call(method, stats, opts, **kwargs)
        items += page.get(key, [])
        token = page.get(response_token)
        if not token:
            return items
        kwargs = {**kwargs, request_token: token}


class Clients:
    """Open aiobotocore clients per (profile, service, region), closed together."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.sessions: dict[str, AioSession] = {}
        self.clients: dict[tuple[str, str, str], Any] = {}
        self.stack = contextlib.AsyncExitStack()
        self.config = AioConfig(
            retries={"mode": opts.retry_mode, "total_max_attempts": opts.max_attempts},
            connect_timeout=opts.timeout,
            read_timeout=opts.timeout,
            max_pool_connections=20,
        )

    def session(self, profile: str) -> AioSession:
        if profile not in self.sessions:
            self.sessions[profile] = AioSession(profile=profile or None)
        return self.sessions[profile]

    def default_region(self, profile: str) -> str | None:
        return self.session(profile).get_config_variable("region")

    async def client(self, profile: str, service: str, region: str):
        key = (profile, service, region)
        if key not in self.clients:
            creator = self.session(profile).create_client(service, region_name=region, config=self.config)
            self.clients[key] = await self.stack.enter_async_context(creator)
        return self.clients[key]

    async def close(self) -> None:
        await self.stack.aclose()
        self.clients.clear()


async def _ec2(clients: Clients, inv: Inventory) -> list[Resource]:
    ec2 = await clients.client(inv.profile, "ec2", inv.region)
    opts, stats = clients.opts, inv.stats
    # Pages of at most 1,000 (AWS's maximum): one unbounded answer can time out on a large account.
    reservations = await pages(ec2, "describe_instances", stats, opts, MaxResults=1000)
    statuses = await pages(
        ec2, "describe_instance_status", stats, opts, IncludeAllInstances=True, MaxResults=1000
    )
    return disc.ec2_resources(inv.region, reservations, statuses)


async def _rds(clients: Clients, inv: Inventory) -> list[Resource]:
    rds = await clients.client(inv.profile, "rds", inv.region)
    return disc.rds_resources(inv.region, await pages(rds, "describe_db_instances", inv.stats, clients.opts))


async def _elb(clients: Clients, inv: Inventory) -> list[Resource]:
    elb = await clients.client(inv.profile, "elbv2", inv.region)
    opts, stats = clients.opts, inv.stats
    balancers = await pages(elb, "describe_load_balancers", stats, opts)
    groups = await pages(elb, "describe_target_groups", stats, opts) if balancers else []
    health = {}
    for g in groups:
        if g.get("LoadBalancerArns"):
            answer = await call(elb.describe_target_health, stats, opts, TargetGroupArn=g["TargetGroupArn"])
            health[g["TargetGroupArn"]] = answer.get("TargetHealthDescriptions", [])
    return disc.elb_resources(inv.region, balancers, groups, health)


async def _metrics(clients: Clients, inv: Inventory, now: datetime) -> dict[str, list]:
    period = clients.opts.period
    queries, index = cw.queries(inv.resources, period)
    if not queries:
        return {}
    client = await clients.client(inv.profile, "cloudwatch", inv.region)
    # Aligned to the period (CloudWatch's advice), ending after `now`: the current period counts.
    end = datetime.fromtimestamp((now.timestamp() // period + 1) * period, UTC)
    window = {
        "StartTime": end - timedelta(seconds=3 * period),
        "EndTime": end,
        "ScanBy": "TimestampDescending",
    }
    results: list[dict[str, Any]] = []
    for batch in cw.batches(queries):
        results += await pages(
            client, "get_metric_data", inv.stats, clients.opts, MetricDataQueries=batch, **window
        )
    return cw.samples(results, index, period)


async def scan(clients: Clients, profile: str, region: str, now: datetime | None = None) -> Inventory:
    """Discover one scope (EC2, RDS, ELBv2 in parallel), then its CloudWatch metrics. Never raises for an
    AWS error: it lands in `Inventory.error` (secrets removed)."""
    inv = Inventory(profile, region)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        found = await asyncio.gather(
            _ec2(clients, inv), _rds(clients, inv), _elb(clients, inv), return_exceptions=True
        )
        for part in found:
            if isinstance(part, BaseException):
                raise part
        inv.resources = [r for part in found for r in part]
        inv.resources += disc.services(inv.resources)
        if clients.opts.metrics:
            inv.samples = await _metrics(clients, inv, now or datetime.now(UTC))
    except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
        inv.error = redact(f"{type(exc).__name__}: {exc}")
    inv.seconds = loop.time() - started
    return inv
