"""`ems aws discover` (ask AWS, print, no Kafka) and `ems collector aws` (the service).

Both take credentials, profile and endpoints from the standard AWS configuration only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from ems.settings import Settings, get_settings

if TYPE_CHECKING:  # aiobotocore is imported only by the commands that talk to AWS
    from ems.collectors.aws_collector import AwsConfig

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems aws discover` and `ems collector aws` (sharing `collector` with other collectors)."""
    p = sub.add_parser("aws", help="AWS tools: discover EC2, RDS and load balancers and print (no Kafka)")
    tools = p.add_subparsers(dest="aws_command", required=True)
    d = tools.add_parser("discover", help="instances, databases, load balancers, their states and edges")
    d.add_argument(
        "--region",
        action="append",
        default=[],
        help="region (repeatable; default: EMS_AWS_REGIONS or the configured default region)",
    )
    d.add_argument("--profile", action="append", default=[], help="AWS config profile (repeatable)")
    d.add_argument("--metrics", action="store_true", help="also read the latest CloudWatch metrics")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(fn=lambda a: asyncio.run(discover(get_settings(), a)))

    collector = sub.choices.get("collector") or sub.add_parser("collector", help="run a collector")
    kinds = next((a for a in collector._actions if isinstance(a, argparse._SubParsersAction)), None)
    kinds = kinds or collector.add_subparsers(dest="collector", required=True)
    c = kinds.add_parser("aws", help="scheduled AWS discovery, state events and CloudWatch metrics to Kafka")
    c.set_defaults(fn=lambda a: asyncio.run(run_collector(get_settings())))


def config_from(
    settings: Settings,
    regions: list[str] | None = None,
    profiles: list[str] | None = None,
    metrics: bool | None = None,
) -> AwsConfig:
    """The collector config from the EMS_AWS_* settings (CLI flags override regions and profiles)."""
    from ems.collectors.aws_client import Options
    from ems.collectors.aws_collector import AwsConfig

    options = Options(
        retry_mode=settings.aws_retry_mode,
        max_attempts=settings.aws_max_attempts,
        throttle_retries=settings.aws_throttle_retries,
        timeout=settings.aws_timeout,
        period=settings.aws_metrics_period,
        metrics=settings.aws_metrics if metrics is None else metrics,
    )
    return AwsConfig(
        regions=regions or list(settings.aws_regions),
        profiles=profiles or list(settings.aws_profiles),
        interval=settings.aws_interval,
        discovery_interval=settings.aws_discovery_interval,
        concurrency=settings.aws_concurrency,
        thresholds=list(settings.aws_thresholds),
        options=options,
    )


async def discover(settings: Settings, args: argparse.Namespace) -> int:
    """One round, printed; exit 1 when a scope failed, 2 when there is no region at all."""
    from ems.collectors.aws_client import Clients
    from ems.collectors.aws_collector import Collector

    for name in ("botocore", "aiobotocore"):  # their INFO lines ("Found credentials in ...") are noise here
        logging.getLogger(name).setLevel(logging.WARNING)
    config = config_from(settings, args.region, args.profile, metrics=args.metrics)
    out: list[tuple[str, Any]] = []

    async def sink(topic: str, record: Any) -> None:
        out.append((topic, record))

    clients = Clients(config.options)
    try:
        if not all(region for _, region in config.scopes(clients)):
            print("error: no region (use --region, EMS_AWS_REGIONS or AWS_DEFAULT_REGION)", file=sys.stderr)
            return 2
        report = await Collector(config, sink, clients).round()
    finally:
        await clients.close()
    result = summary(report.scopes, [r for _, r in out])
    print(json.dumps(result, indent=2, default=str) if args.json else text(result))
    return 1 if report.failed else 0


def summary(scopes: list[dict], records: list) -> dict[str, Any]:
    """Scopes, resources (discoveries), events and metrics of one round, as printable data."""
    from ems.collectors.aws_client import redact

    resources, events, metrics = [], [], {}
    for o in records:
        body = o.body
        if body.kind == "discovery":
            f = body.facts
            resources.append(
                {
                    "asset_id": o.asset_id,
                    "natural_key": f["natural_key"],
                    "name": f["name"],
                    "type": f["type"],
                    "state": f.get("attributes", {}).get("state"),
                    "attributes": f.get("attributes", {}),
                    "edges": [{"type": e["type"], "target": e["target"]} for e in body.edges],
                }
            )
        elif body.kind == "event":
            events.append(
                {
                    "asset_id": o.asset_id,
                    "event": body.event,
                    "severity": body.severity,
                    "resource": body.resource,
                    "value": body.value,
                    "text": redact(body.text),
                }
            )
        elif body.kind == "metrics":
            metrics.setdefault(o.asset_id, []).extend(
                {"name": s.name, "value": s.value} for s in body.samples
            )
    return {"scopes": scopes, "resources": resources, "events": events, "metrics": metrics}


def text(result: dict[str, Any]) -> str:
    lines = []
    for s in result["scopes"]:
        state = f"error — {s['error']}" if s["error"] else f"{s['resources']} resources"
        lines.append(
            f"== {s['profile']} {s['region']}: {state} ({s['seconds']} s, {s['calls']} calls, "
            f"{s['throttled']} throttled)"
        )
    for r in result["resources"]:
        a = r["attributes"]
        detail = " ".join(
            f"{k}={a[k]}"
            for k in (
                "instance_type",
                "class",
                "engine",
                "availability_zone",
                "subnet_id",
                "vpc_id",
                "multi_az",
                "allocated_storage_gb",
                "lb_type",
            )
            if a.get(k) not in (None, "")
        )
        lines.append(f"  {r['type']:<14} {r['name']:<32} {r['state'] or '':<12} {detail}")
        lines += [f"      {e['type']} -> {e['target']}" for e in r["edges"]]
    for e in result["events"]:
        lines.append(
            f"  event {e['event']} {e['severity']} {e['resource'] or ''} {e['value'] or ''}".rstrip()
        )
    for asset, samples in result["metrics"].items():
        lines.append(f"  metrics {asset}: " + ", ".join(f"{m['name']}={m['value']:g}" for m in samples))
    return "\n".join(lines)


async def run_collector(settings: Settings) -> int:
    """`ems collector aws`: publish to Kafka until SIGTERM/SIGINT."""
    from ems.collectors.aws_client import Clients
    from ems.collectors.aws_collector import Collector
    from ems.collectors.publish import kafka_sink, stop_on_signals

    config = config_from(settings)
    clients = Clients(config.options)
    if not all(region for _, region in config.scopes(clients)):
        print("error: no region (set EMS_AWS_REGIONS or AWS_DEFAULT_REGION)", file=sys.stderr)
        return 2
    async with kafka_sink(settings) as sink:
        collector = Collector(config, sink, clients)
        stop_on_signals(collector.stop)
        try:
            await collector.run()
        finally:
            await clients.close()
    log.info("AWS collector stopped after %d rounds", collector.rounds)
    return 0
