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
