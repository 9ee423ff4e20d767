"""Faults injected into a generated network, each with the alerts it causes (its ground truth).

Kinds: `device_down` (a distribution switch or a site core: it and everything behind it become
unreachable, applications behind it fail their checks), `link_down` (a distribution-access link:
LinkDown on the distribution side, the access switch and what is behind it unreachable),
`db_cpu` (seed Example 2: CPU saturation on a database, then the applications using it answer slowly:
"p95 2100 ms > 500 ms"), `instance_stopped` (a cloud instance: its application fails),
`disk_full` (a server: the VMs' applications and databases on it report write errors). Some
alerts name no asset, only a service (an SLO burn rate, a load balancer's unhealthy target): only
DBSCAN can place them.

Alerts arrive after a detection delay (polling interval, threshold windows); a fraction is lost,
some come minutes late, some devices are silent (never report), and some alerts flap (clear and
fail again during the fault).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ems.ml.scenarios.network import Network

KINDS = ("device_down", "link_down", "db_cpu", "instance_stopped", "disk_full")


@dataclass(frozen=True)
class Alert:
    """One observation to send: a problem (or its clear) on an asset at a time, with its label."""

    at: datetime
    asset_id: str | None  # None: a tool that knows the service, not the asset (SLOs, load balancers)
    event: str
    severity: str
    title: str
    label: str
    source: str = "nms"
    service: tuple[str, ...] = ()


@dataclass
class Fault:
    """One injected fault: its ground-truth label, kind, site, time span and the alerts it causes."""

    label: str
    kind: str
    site: str
    root: str
    start: datetime
    end: datetime
    alerts: list[Alert] = field(default_factory=list)


@dataclass(frozen=True)
class Noise:
    """How noisy the monitoring is."""

    lost: float = 0.05  # an alert never arrives
    silent: float = 0.1  # a device behind a failure never reports
    flapping: float = 0.1  # an alert clears and fails again during the fault
    poll_s: float = 60.0  # detection delay of unreachability: up to one polling interval
    late: float = 0.05  # an alert comes 2-5 minutes late (a poller behind, a slow pipeline upstream)
    missing_edges: float = 0.05  # an edge the registry does not know (incomplete topology)


def _problem(
    fault: Fault,
    rng: random.Random,
    noise: Noise,
    at: datetime,
    asset: str | None,
    event: str,
    severity: str,
    title: str,
    source: str = "nms",
    service: tuple[str, ...] = (),
) -> None:
    """Add one problem alert with its clear after the fault's end (and maybe a flap in between)."""
    if rng.random() < noise.lost:
        return
    if rng.random() < noise.late:
        at += timedelta(seconds=rng.uniform(120, 300))
    label = fault.label
    fault.alerts.append(Alert(at, asset, event, severity, title, label, source, service))
    if rng.random() < noise.flapping:
        gone = at + timedelta(seconds=rng.uniform(60, 240))
        back = gone + timedelta(seconds=rng.uniform(30, 90))
        if back < fault.end:
            fault.alerts.append(Alert(gone, asset, event, "ok", title, label, source, service))
            fault.alerts.append(Alert(back, asset, event, severity, title, label, source, service))
    clear = fault.end + timedelta(seconds=rng.uniform(0, noise.poll_s))
    fault.alerts.append(Alert(clear, asset, event, "ok", title, label, source, service))


def _service_of(net: Network, app: str) -> tuple[str, ...]:
    service = net.service_of.get(app)
    return (net.specs[service].name,) if service else ()


def _unreachable(fault: Fault, net: Network, rng: random.Random, noise: Noise, assets: list[str]) -> None:
    """Everything in `assets` stops answering: devices and hosts unreachable, application checks fail."""
    for asset in assets:
        spec = net.specs[asset]
        at = fault.start + timedelta(seconds=rng.uniform(5, noise.poll_s + 5))
        if spec.type == "application":
            title = f"HTTP check of {spec.name} failed: connection timed out"
            _problem(
                fault,
                rng,
                noise,
                at,
                asset,
                "Service Check Failed",
                "major",
                title,
                "synthetics",
                _service_of(net, asset),
            )
        elif rng.random() >= noise.silent:
            _problem(
                fault,
                rng,
                noise,
                at,
                asset,
                "Device Unreachable",
                "critical",
                f"{spec.name} does not answer ICMP/SNMP",
            )


def _slo(fault: Fault, net: Network, rng: random.Random, noise: Noise, apps: list[str], what: str) -> None:
    """Service-level alerts (no asset: the SLO tool knows the service) for some services of `apps`."""
    for service in sorted({s for app in apps for s in _service_of(net, app)}):
        if rng.random() < 0.7:
            at = fault.start + timedelta(seconds=rng.uniform(60, 180))
            _problem(
                fault,
                rng,
                noise,
                at,
                None,
                "SLO Burn Rate",
                "major",
                f"{service} {what} SLO burning 14x budget",
                "slo",
                (service,),
            )


def inject(kind: str, label: str, net: Network, rng: random.Random, start: datetime, noise: Noise) -> Fault:
    """One fault of `kind` starting at `start` (its target picked at random)."""
    end = start + timedelta(seconds=rng.uniform(600, 1800))
    if kind == "device_down":
        root = rng.choice(net.of_type("switch") + net.of_type("router")[1:2])
        fault = Fault(label, kind, net.specs[root].site, root, start, end)
        _problem(
            fault,
            rng,
            noise,
            start + timedelta(seconds=rng.uniform(5, noise.poll_s)),
            root,
            "Device Unreachable",
            "critical",
            f"{net.specs[root].name} does not answer ICMP/SNMP",
        )
        _unreachable(fault, net, rng, noise, net.behind(root))
    elif kind == "link_down":
        dist = rng.choice([a for a in net.of_type("switch") if "-dist-" in net.specs[a].name])
        access = rng.choice(net.children[dist])
        fault = Fault(label, kind, net.specs[dist].site, access, start, end)
        _problem(
            fault,
            rng,
            noise,
            start + timedelta(seconds=rng.uniform(1, 10)),
            dist,
            "LinkDown",
            "major",
            f"{net.specs[dist].name} interface to {net.specs[access].name} is down",
        )
        _unreachable(fault, net, rng, noise, [access, *net.behind(access)])
    elif kind == "db_cpu":
        db = rng.choice([d for d in net.of_type("database") if net.dependents.get(d)])
        fault = Fault(label, kind, net.specs[db].site, db, start, end)
        _problem(
            fault,
            rng,
            noise,
            start + timedelta(seconds=rng.uniform(10, 60)),
            db,
            "High CPU",
            "major",
            f"{net.specs[db].name} CPU 97% > 90% for 5 min",
        )
        for app in net.dependents[db]:
            at = start + timedelta(seconds=rng.uniform(20, 110))
            _problem(
                fault,
                rng,
                noise,
                at,
                app,
                "High Response Time",
                "major",
                f"{net.specs[app].name} p95 2100 ms > 500 ms",
                "apm",
                _service_of(net, app),
            )
        _slo(fault, net, rng, noise, net.dependents[db], "latency")
    elif kind == "instance_stopped":
        inst = rng.choice([v for v in net.of_type("vm") if "cloud" in net.specs[v].tags])
        fault = Fault(label, kind, net.specs[inst].site, inst, start, end)
        _problem(
            fault,
            rng,
            noise,
            start + timedelta(seconds=rng.uniform(1, 30)),
            inst,
            "Instance Stopped",
            "critical",
            f"{net.specs[inst].name} state: stopped",
            "cloudwatch",
        )
        _unreachable(fault, net, rng, noise, net.behind(inst))
        for app in net.behind(inst):
            if rng.random() < 0.7:
                at = start + timedelta(seconds=rng.uniform(20, 90))
                _problem(
                    fault,
                    rng,
                    noise,
                    at,
                    None,
                    "Unhealthy Target",
                    "major",
                    f"load balancer: target {net.specs[app].name} failed health checks",
                    "elb",
                    _service_of(net, app),
                )
    elif kind == "disk_full":
        server = rng.choice([s for s in net.of_type("server") if net.behind(s)])
        fault = Fault(label, kind, net.specs[server].site, server, start, end)
        _problem(
            fault,
            rng,
            noise,
            start + timedelta(seconds=rng.uniform(5, 60)),
            server,
            "Disk Full",
            "major",
            f"{net.specs[server].name} /var 100% used",
        )
        for asset in net.behind(server):
            spec = net.specs[asset]
            if spec.type in ("application", "database"):
                at = start + timedelta(seconds=rng.uniform(30, 120))
                _problem(
                    fault,
                    rng,
                    noise,
                    at,
                    asset,
                    "Write Errors",
                    "major",
                    f"{spec.name}: no space left on device",
                    "logs",
                    _service_of(net, asset),
                )
    else:
        raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(KINDS)}")
    return fault


NOISE_EVENTS = (
    ("High Memory", "warning", "memory 91% > 90%"),
    ("Interface Errors", "minor", "CRC errors on uplink"),
    ("NTP Drift", "warning", "clock offset 2.1 s"),
    ("Certificate Expiring", "warning", "TLS certificate expires in 14 days"),
    ("Backup Failed", "minor", "nightly backup job failed"),
    ("Fan Failure", "major", "fan 2 failed"),
)


def noise_alerts(
    net: Network, rng: random.Random, start: datetime, span_s: float, count: int, prefix: str = "noise"
) -> list[Alert]:
    """`count` unrelated alerts on random assets at random times, each its own ground truth."""
    out = []
    candidates = sorted(a for a, s in net.specs.items() if s.type != "service")
    for i in range(count):
        asset = rng.choice(candidates)
        event, severity, text = rng.choice(NOISE_EVENTS)
        at = start + timedelta(seconds=rng.uniform(0, span_s))
        label = f"{prefix}-{i}"
        title = f"{net.specs[asset].name}: {text}"
        out.append(Alert(at, asset, event, severity, title, label))
        if rng.random() < 0.7:
            out.append(
                Alert(at + timedelta(seconds=rng.uniform(300, 3600)), asset, event, "ok", title, label)
            )
    return out
