"""Generated scenarios with ground truth: a network (`network.py`), faults and noise (`faults.py`).

`generate(seed)` is deterministic: the same seed gives the same assets, alerts and labels. Faults
follow each other every 4-15 minutes; a share of them starts 1-5 minutes after the previous one at
another site (independent faults overlapping in time). Two faults never touch the same asset within
`QUIET_S` of each other, so each alert episode has exactly one true label: the label of the alert that
opened it.

`family` picks the topology: `campus` (`network.py`, what the shipped model is trained on) or
`datacenter` (`datacenter.py`: a redesigned network — deeper access, dual-homed servers, a poller per
site, more network faults — to measure a model on a topology it never saw, `ems.ml.rca.drift`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ems.ml.scenarios.datacenter import build_datacenter
from ems.ml.scenarios.faults import KINDS, Alert, Fault, Noise, inject, noise_alerts
from ems.ml.scenarios.network import Network, build
from ems.schemas.observation import EventBody, Observation

__all__ = ["FAMILIES", "KINDS", "Alert", "Fault", "Noise", "Scenario", "generate"]
WEIGHTS = {"device_down": 0.3, "link_down": 0.2, "db_cpu": 0.2, "instance_stopped": 0.15, "disk_full": 0.15}
FAMILIES = {  # topology family -> (network builder, fault kind weights)
    "campus": (build, WEIGHTS),
    "datacenter": (
        build_datacenter,
        {"device_down": 0.35, "link_down": 0.25, "db_cpu": 0.15, "instance_stopped": 0.1, "disk_full": 0.15},
    ),
}
BASE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# An asset fails again in another fault at least this long after it recovered: sooner, operators
# (and the ground truth) would call it the same problem coming back.
QUIET_S = 600


@dataclass
class Scenario:
    """A network, the faults injected into it and unrelated noise, all with their labels."""

    seed: int
    network: Network
    faults: list[Fault]
    noise: list[Alert] = field(default_factory=list)

    @property
    def alerts(self) -> list[Alert]:
        every = [a for f in self.faults for a in f.alerts] + self.noise
        return sorted(every, key=lambda a: (a.at, a.asset_id, a.event, a.severity))

    @property
    def kind_of(self) -> dict[str, str]:
        """Label -> fault kind ("noise" for noise)."""
        kinds = {f.label: f.kind for f in self.faults}
        return {a.label: kinds.get(a.label, "noise") for a in self.alerts}

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of faults at different sites whose time spans overlap (independent by construction)."""
        pairs = []
        for i, a in enumerate(self.faults):
            for b in self.faults[i + 1 :]:
                if a.site != b.site and a.start < b.end and b.start < a.end and a.alerts and b.alerts:
                    pairs.append((a.label, b.label))
        return pairs

    def observations(self) -> list[Observation]:
        """The alerts as event observations (ids derived from the seed: sending twice is a retry)."""
        out = []
        for i, a in enumerate(self.alerts):
            resource = self.network.specs[a.asset_id].name if a.asset_id else ",".join(a.service) or a.source
            body = EventBody(
                event=a.event, severity=a.severity, title=a.title, service=list(a.service), resource=resource
            )
            out.append(
                Observation(
                    event_id=f"s{self.seed}-{i:05d}",
                    source=a.source,
                    asset_id=a.asset_id,
                    occurred_at=a.at,
                    body=body,
                )
            )
        return out

    def truth(self) -> dict[tuple[str, str, datetime], str]:
        """(asset, event, time) of every problem alert -> its label: an episode opened by that alert
        belongs to that label."""
        return {(a.asset_id, a.event, a.at): a.label for a in self.alerts if a.severity != "ok"}


def _busy(fault: Fault, taken: list[tuple[set[str], datetime, datetime]]) -> bool:
    assets = {a.asset_id or a.title for a in fault.alerts}
    return any(assets & other and fault.start < end and start < fault.end for other, start, end in taken)


def generate(
    seed: int,
    faults: int = 12,
    sites: int = 3,
    noise: Noise | None = None,
    noise_count: int = 6,
    overlap_share: float = 0.3,
    start: datetime | None = None,
    family: str = "campus",
) -> Scenario:
    """A scenario of `faults` faults and `noise_count` unrelated alerts on a fresh network of `family`."""
    if family not in FAMILIES:
        raise ValueError(f"unknown topology family {family!r}; choose from {', '.join(FAMILIES)}")
    builder, weights = FAMILIES[family]
    rng = random.Random(seed)
    noise = noise or Noise()
    # Another family's assets get other ids (the prefix): two families never share an asset.
    net = builder(
        rng, f"s{seed}" if family == "campus" else f"s{seed}{family[0]}", sites, noise.missing_edges
    )
    t = start or BASE + timedelta(days=seed % 3650)
    injected: list[Fault] = []
    taken: list[tuple[set[str], datetime, datetime]] = []
    first = t
    for n in range(faults):
        overlap = bool(injected) and rng.random() < overlap_share
        t = t + timedelta(seconds=rng.uniform(60, 300) if overlap else rng.uniform(240, 900))
        for _ in range(50):  # pick a target that is free (and at another site, for an overlap)
            kind = rng.choices(list(weights), weights=list(weights.values()))[0]
            fault = inject(kind, f"f{seed}-{n}", net, rng, t, noise)
            if not _busy(fault, taken) and not (overlap and fault.site == injected[-1].site):
                break
        else:
            continue
        injected.append(fault)
        taken.append(
            (
                {a.asset_id or a.title for a in fault.alerts},
                fault.start,
                fault.end + timedelta(seconds=QUIET_S),
            )
        )
    span = (t - first).total_seconds() + 1800
    return Scenario(seed, net, injected, noise_alerts(net, rng, first, span, noise_count, f"n{seed}"))
