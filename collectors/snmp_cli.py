"""`ems snmp discover|poll` (talk to agents, print, no Kafka) and `ems collector snmp` (the service)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from ems.collectors.snmp_config import CollectorConfig, Credential, Device, Target, load_config, parse_target
from ems.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _credential_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="+", metavar="TARGET[:PORT]", help="host, host:port or a CIDR range")
    p.add_argument("--community", default="public", help="SNMPv2c community (default: public)")
    p.add_argument("--v3-user", help="SNMPv3 user (switches to v3)")
    p.add_argument(
        "--auth-proto", default="none", choices=["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
    )
    p.add_argument("--auth-key")
    p.add_argument(
        "--priv-proto", default="none", choices=["none", "des", "3des", "aes", "aes128", "aes192", "aes256"]
    )
    p.add_argument("--priv-key")
    p.add_argument("--context", default="", help="SNMPv3 context name")
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=50, help="devices queried at once")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems snmp ...` and `ems collector snmp` (sharing `collector` with other collectors)."""
    p = sub.add_parser("snmp", help="SNMP tools: discover or poll devices and print (no Kafka)")
    tools = p.add_subparsers(dest="snmp_command", required=True)
    d = tools.add_parser("discover", help="system facts, vendor/type, interfaces, LLDP neighbours")
    _credential_flags(d)
    d.set_defaults(fn=lambda a: asyncio.run(_oneshot(a, poll=False)))
    q = tools.add_parser("poll", help="one poll's metrics (two samples --wait s apart for rates)")
    _credential_flags(q)
    q.add_argument("--wait", type=float, default=2.0, help="seconds between the two samples")
    q.set_defaults(fn=lambda a: asyncio.run(_oneshot(a, poll=True)))

    collector = sub.choices.get("collector") or sub.add_parser("collector", help="run a collector")
    kinds = next((a for a in collector._actions if isinstance(a, argparse._SubParsersAction)), None)
    kinds = kinds or collector.add_subparsers(dest="collector", required=True)
    c = kinds.add_parser("snmp", help="scheduled SNMP discovery + polling, publishing to Kafka")
    c.add_argument("--config", help="YAML/JSON config file (default: EMS_SNMP_CONFIG_FILE)")
    c.set_defaults(fn=lambda a: asyncio.run(run_collector(get_settings(), a.config)))


def _credential(args: argparse.Namespace) -> Credential:
    if args.v3_user:
        return Credential(
            version="3",
            user=args.v3_user,
            auth_proto=args.auth_proto,
            auth_key=args.auth_key,
            priv_proto=args.priv_proto,
            priv_key=args.priv_key,
            context=args.context,
        )
    return Credential(community=args.community)


async def _oneshot(args: argparse.Namespace, poll: bool) -> int:
    from ems.collectors.snmp_client import SnmpClient

    try:
        cred = _credential(args)
        config = CollectorConfig(
            credentials={"cli": cred},
            targets=[Target(host=h, port=p, credential="cli") for h, p in map(parse_target, args.targets)],
        )
        devices = config.devices()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = SnmpClient(timeout=args.timeout, retries=args.retries)
    gate = asyncio.Semaphore(args.concurrency)
    results = await asyncio.gather(
        *(_one(client, d, poll, getattr(args, "wait", 0.0), gate) for d in devices)
    )
    client.engine.close_dispatcher()
    # Addresses of a range that did not answer are not devices; listed hosts are always reported.
    report = [item for d, item in zip(devices, results, strict=True) if item["ok"] or not d.from_range]
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for item in report:
            print(_text(item))
    return 1 if any(not item["ok"] for item in report) else 0


async def _one(client, device: Device, poll: bool, wait: float, gate: asyncio.Semaphore) -> dict[str, Any]:
    from ems.collectors.snmp_collector import Poller
    from ems.collectors.snmp_thresholds import Thresholds

    out: list[tuple[str, Any]] = []

    async def sink(topic: str, record: Any) -> None:
        out.append((topic, record))

    async with gate:
        poller = Poller(client, device, Thresholds(), sink)
        ok = await poller.run(report_down=not device.from_range)
        if ok and poll:
            await asyncio.sleep(wait)
            out[:] = [(t, r) for t, r in out if t == "deadletter"]
            await poller.run()
    return _summary(device.address, poller, out, poll)


def _summary(spec: str, poller, out: list, poll: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"target": spec, "ok": not poller.last_error, "error": poller.last_error or None}
    events = [r.body for t, r in out if t == "observations.raw" and r.body.kind == "event"]
    item["events"] = [{"event": e.event, "severity": e.severity, "resource": e.resource} for e in events]
    item["dead_letters"] = [r.reason for t, r in out if t == "deadletter"]
    if poller.info is not None:
        item["asset_id"] = poller.info.asset_id
        if not poll:
            item["facts"], item["neighbours"] = poller.info.facts, poller.info.edges
    metrics = [r.body for t, r in out if t == "observations.raw" and r.body.kind == "metrics"]
    if poll and metrics:
        item["metrics"] = [{"name": s.name, "value": s.value, **s.labels} for s in metrics[-1].samples]
    if "auth" in (poller.last_error or "").lower() or "credentials" in (poller.last_error or ""):
        item["state"] = "auth failure"
    else:
        item["state"] = "up" if item["ok"] else "unreachable"
    return item


def _text(item: dict[str, Any]) -> str:
    lines = [f"== {item['target']}: {item['state']}" + (f" — {item['error']}" if item["error"] else "")]
    facts = item.get("facts")
    if facts:
        a = facts["attributes"]
        lines += [
            f"  name {facts['name']}  type {facts['type']}  vendor {facts['vendor']}  model {facts['model']}",
            f"  descr {a['sysDescr']}",
            f"  objectID {a['sysObjectID']}  uptime {a['sysUpTime']}",
            f"  location {facts['location']}  contact {facts['contact']}",
            f"  addresses {', '.join(facts['addresses'])}",
            "  interfaces:",
        ]
        for i in a["interfaces"]:
            lines.append(
                f"    {i['index']:>4} {i['name']:<20} {i['speed_bps'] / 1e6:>8g} Mb/s "
                f"admin {i['admin']:<5} oper {i['oper']:<5} {i['mac']} {i['alias']}"
            )
        for e in item.get("neighbours", []):
            lines.append(f"  neighbour {e['local_port']} -> {e['target_name']} {e['remote_port']}")
    for m in item.get("metrics", []):
        labels = " ".join(f"{k}={v}" for k, v in m.items() if k not in ("name", "value"))
        lines.append(f"  {m['name']:<20} {m['value']:>16g} {labels}")
    lines += [f"  event {e['event']} {e['severity']} {e['resource'] or ''}" for e in item["events"]]
    lines += [f"  dead letter: {r}" for r in item["dead_letters"]]
    return "\n".join(lines)


def config_from(settings: Settings, path: str | None = None) -> CollectorConfig:
    """The collector config: the file if one is given, else the EMS_SNMP_* settings."""
    path = path or settings.snmp_config_file
    if path:
        return load_config(path)
    targets = [Target(host=h, port=p) for h, p in map(parse_target, settings.snmp_targets)]
    return CollectorConfig(
        credentials={"default": Credential(community=settings.snmp_community)},
        targets=targets,
        default_interval=settings.snmp_interval,
        concurrency=settings.snmp_concurrency,
        timeout=settings.snmp_timeout,
        retries=settings.snmp_retries,
    )


async def run_collector(settings: Settings, path: str | None = None) -> int:
    """`ems collector snmp`: publish to Kafka until SIGTERM/SIGINT."""
    from ems.collectors.publish import kafka_sink, stop_on_signals
    from ems.collectors.snmp_collector import Collector
    from ems.streams.liveness import collector_origin

    config = config_from(settings, path)
    if not config.devices():
        print("error: no SNMP targets (set EMS_SNMP_TARGETS or EMS_SNMP_CONFIG_FILE)", file=sys.stderr)
        return 2
    liveness = (collector_origin(), settings.liveness_interval) if settings.liveness_interval > 0 else None
    async with kafka_sink(settings) as sink:
        collector = Collector(config, sink, liveness=liveness)
        stop_on_signals(collector.stop)
        try:
            await collector.run()
        finally:
            collector.client.engine.close_dispatcher()
    log.info("SNMP collector stopped after %d polls", collector.polls)
    return 0
