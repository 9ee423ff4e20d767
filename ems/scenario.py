"""Synthetic observation streams with known outcomes, for the demo, the tests and the benchmark.

`expected()` derives the final alerts with plain counting rules, independently of the dedupe core:
every key's first event is non-clearing, so one alert per key holds all of its events, its severity
is the last one sent and it is resolved exactly when that severity clears.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EVENTS = ("NodeDown", "HighCPU", "LinkDown", "HighLatency", "DiskFull")
PROBLEMS = ("critical", "major", "minor", "warning")
CLEARS = ("ok",)
DEMO_ASSETS = (
    ("ast_router_01", "Device Unreachable", "critical"),
    ("ast_payment_api", "High Response Time", "warning"),
    ("ast_db_01", "High CPU", "major"),
    ("ast_switch_02", "LinkDown", "minor"),
)


@dataclass
class Expected:
    """What the alert of one (asset, event) key must look like after the stream."""

    asset_id: str
    event: str
    event_count: int = 0
    severity: str = ""

    @property
    def status(self) -> str:
        return "resolved" if self.severity in CLEARS else "open"


def generate(
    n: int,
    assets: int = 20,
    seed: int = 7,
    start: datetime | None = None,
    change_rate: float = 0.1,
    clear_rate: float = 0.05,
) -> Iterator[dict]:
    """`n` event observations (API shape) over `assets` assets with duplicates, changes and clears."""
    rng = random.Random(seed)
    t0 = start or datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
    current: dict[tuple[str, str], str] = {}
    for i in range(n):
        asset = f"ast_{rng.randrange(assets):05d}"
        name = rng.choice(EVENTS)
        key = (asset, name)
        if key not in current:
            current[key] = rng.choice(PROBLEMS)
        elif rng.random() < clear_rate:
            current[key] = rng.choice(CLEARS)
        elif rng.random() < change_rate:
            current[key] = rng.choice(PROBLEMS)
        yield {
            "source": "synthetic",
            "asset_id": asset,
            "event": name,
            "severity": current[key],
            "title": f"{name} on {asset}",
            "occurred_at": (t0 + timedelta(milliseconds=i)).isoformat(),
            "tags": ["scenario"],
            "attributes": {"seq": i},
        }


def expected(observations: list[dict]) -> dict[tuple[str, str], Expected]:
    """The final alert per (asset_id, event) for a stream from `generate()`."""
    out: dict[tuple[str, str], Expected] = {}
    for obs in observations:
        key = (obs["asset_id"], obs["event"])
        exp = out.setdefault(key, Expected(*key))
        exp.event_count += 1
        exp.severity = obs["severity"]
    return out


def demo_observations() -> list[dict]:
    """The demo's small built-in story: the seed's examples, repeated, then one recovery."""
    out = []
    for repeat in range(3):
        for asset, title, severity in DEMO_ASSETS:
            out.append(
                {
                    "source": "demo",
                    "assetId": asset,
                    "severity": severity,
                    "title": title,
                    "metadata": {"repeat": repeat},
                }
            )
    out.append({"source": "demo", "assetId": "ast_switch_02", "severity": "ok", "title": "LinkDown"})
    return out


DEMO_SERVICE = "payments"


def demo_assets() -> list[dict]:
    """The demo's inventory (POST /api/v1/assets bodies): the payments service's web tier and API,
    the host and database under them, the switch and router under those (the alerting assets of
    `demo_observations` among them), so the console has a service graph to show."""

    def asset(id_: str, name: str, type_: str, needs: list[tuple[str, str]] = (), **fields: object) -> dict:
        edges = [{"type": kind, "target": target} for kind, target in needs]
        return {
            "id": id_,
            "name": name,
            "type": type_,
            "environment": "prod",
            "dependencies": edges,
            **fields,
        }

    service = {"business_service": DEMO_SERVICE, "owner_team": "payments", "criticality": 5}
    return [
        asset("ast_web_01", "web-01", "server", [("depends_on", "ast_payment_api")], **service),
        asset(
            "ast_payment_api",
            "payment-api",
            "application",
            [("depends_on", "ast_db_01"), ("runs_on", "ast_app_host_01")],
            revenue_per_hour=12000,
            users_served=25000,
            **service,
        ),
        asset("ast_app_host_01", "app-host-01", "server", [("depends_on", "ast_switch_02")], vendor="Dell"),
        asset("ast_db_01", "db-01", "database", [("depends_on", "ast_switch_02")], vendor="PostgreSQL"),
        asset("ast_switch_02", "switch-02", "switch", [("depends_on", "ast_router_01")], vendor="Arista"),
        asset("ast_router_01", "router-01", "router", vendor="Cisco", addresses=["10.0.0.1"]),
    ]


def demo_metrics(now: datetime, minutes: int = 120) -> list[dict]:
    """An hour or two of per-minute samples (metric observations) for the demo's charts: interface
    utilization of the router, CPU of the database, p95 latency of the payment API."""
    rng = random.Random(11)
    series = [
        ("ast_router_01", "if_in_util_pct", {"interface": "ge-0/0/1"}, 35.0, 20.0),
        ("ast_router_01", "if_out_util_pct", {"interface": "ge-0/0/1"}, 25.0, 15.0),
        ("ast_db_01", "cpu_util_pct", {}, 55.0, 30.0),
        ("ast_payment_api", "http_latency_p95_ms", {}, 180.0, 120.0),
    ]
    out = []
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    for asset, name, labels, base, swing in series:
        samples = []
        for i in range(minutes):
            rising = swing * max(0.0, (i - minutes * 0.7) / (minutes * 0.3))  # the incident's last half hour
            value = round(base + rising + rng.uniform(-0.1, 0.1) * base, 2)
            at = (start + timedelta(minutes=i + 1)).isoformat()
            samples.append({"name": name, "value": value, "labels": labels, "at": at})
        out.append({"source": "demo", "asset_id": asset, "body": {"kind": "metrics", "samples": samples}})
    return out
