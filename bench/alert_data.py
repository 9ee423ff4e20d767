"""Realistic synthetic alerts for the query benchmark: skewed sources, severities, statuses, tags,
attributes, assets and times over 30 days. Rows cover every column of the table given (columns this
module does not know get NULL, or a neutral value where NOT NULL)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from ems.api.alert_filters import Column
from ems.settings import Settings

SEVERITIES = ["critical", "major", "minor", "warning", "informational", "ok"]
SEVERITY_WEIGHTS = [3, 10, 20, 35, 17, 15]
RANK = {s: i for i, s in enumerate(Settings().severity_order)}  # as the alerts projection ranks them
STATUSES = ["open", "acknowledged", "shelved", "closed"]
STATUS_WEIGHTS = [70, 15, 5, 10]
SOURCES = ["prometheus", "zabbix", "snmp", "syslog", "cloudwatch", "nagios", "elastic", "datadog"]
SOURCE_WEIGHTS = [35, 20, 12, 10, 9, 6, 5, 3]
ENVIRONMENTS = ["production", "staging", "dev"]
ENV_WEIGHTS = [60, 25, 15]
EVENTS = [
    "HighCPU",
    "DiskFull",
    "NodeDown",
    "LinkDown",
    "HighLatency",
    "MemoryPressure",
    "CertExpiry",
    "BackupFailed",
    "PodCrashLoop",
    "QueueBacklog",
    "ErrorRate",
    "FanFailure",
    "PowerSupply",
    "BGPPeerDown",
    "ReplicationLag",
    "TooManyConnections",
    "SwapUsage",
    "InodeExhaustion",
]
TAGS = [
    f"t-{w}"
    for w in (
        "network",
        "storage",
        "db",
        "k8s",
        "linux",
        "windows",
        "edge",
        "core",
        "pci",
        "customer",
        "batch",
        "web",
        "cache",
        "dns",
        "vpn",
        "backup",
        "iot",
        "gpu",
    )
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-1"]
TEAMS = [f"team-{i}" for i in range(12)]
WORDS = ["timeout", "refused", "degraded", "exhausted", "unreachable", "throttled", "corrupt", "flapping"]
DEFAULTS = {"integer": 0, "bigint": 0, "smallint": 0, "text": "", "boolean": False, "jsonb": {}, "ARRAY": []}


def alert_rows(n: int, rng: random.Random, now: datetime, catalog: Mapping[str, Column]) -> Iterator[dict]:
    """n alert rows as dicts keyed by column name (every column of `catalog`)."""
    known: dict[str, Any] = {}
    extra = {}
    for name, col in catalog.items():
        extra[name] = None if col.nullable else DEFAULTS.get(col.type, now)
    assets = max(1, n // 20)
    span = 30 * 86400
    for i in range(n):
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        status = "resolved" if severity == "ok" else rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        last_seen = now - timedelta(seconds=span * rng.random() ** 1.5)
        first_seen = last_seen - timedelta(seconds=min(span, rng.expovariate(1 / 20000)))
        duplicates = int(rng.paretovariate(1.1)) - 1
        asset = f"host-{rng.randrange(assets):06d}"
        event = rng.choice(EVENTS)
        attributes: dict[str, Any] = {"region": rng.choice(REGIONS), "rack": rng.randrange(400)}
        if rng.random() < 0.7:
            attributes["team"] = rng.choice(TEAMS)
        known = {
            "alert_id": f"alr_{rng.getrandbits(64):016x}{i:07d}",
            "fingerprint": f"{i:08x}{rng.getrandbits(96):024x}",
            "status": status,
            "severity": severity,
            "severity_rank": RANK[severity],
            "previous_severity": rng.choice([None, "warning", "minor"]),
            "trend": rng.choice(["new", "more_severe", "less_severe", "no_change"]),
            "event_count": duplicates + 1,
            "duplicate_count": duplicates,
            "first_seen": first_seen,
            "last_seen": last_seen,
            "last_event_id": f"evt_{rng.getrandbits(64):016x}",
            "source": rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
            "event": event,
            "resource": asset if rng.random() < 0.6 else f"{asset}/{rng.choice(['eth0', 'sda', 'nginx'])}",
            "title": f"{event} on {asset}",
            "text": f"{event}: {rng.choice(WORDS)} after {rng.randrange(1, 600)} s",
            "asset_id": asset if rng.random() < 0.95 else None,
            "environment": rng.choices(ENVIRONMENTS, ENV_WEIGHTS)[0],
            "service": [f"svc-{rng.randrange(60)}"],
            "tags": rng.sample(TAGS, rng.randrange(4)),
            "attributes": attributes,
            "value": str(rng.randrange(100)) if rng.random() < 0.5 else None,
            "version": duplicates + 1,
        }
        yield {**extra, **{k: v for k, v in known.items() if k in catalog}}


def history_rows(ids: list[tuple[str, datetime]], rng: random.Random, now: datetime) -> Iterator[tuple]:
    """(alert_id, event_id, kind, at, severity): an `opened` per alert; 2% flap (2..30 transitions
    within the last day)."""
    for alert_id, first_seen in ids:
        yield alert_id, "e0", "opened", first_seen, "warning"
        if rng.random() < 0.02:
            for j in range(rng.randrange(2, 31)):
                at = now - timedelta(seconds=rng.randrange(86400))
                kind = rng.choice(["severity_changed", "resolved", "reopened"])
                yield alert_id, f"e{j + 1}", kind, at, rng.choice(SEVERITIES)
