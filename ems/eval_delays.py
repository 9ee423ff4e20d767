"""`ems eval --rate`: the pure parts of the paced run (no HTTP): the posting schedule, when each
episode was first seen in an incident, and the decision delay of every true group.

The delay of a group (a fault, or one noise alert: its ground-truth label) is measured on its last
episode, the last alert the incident needs: from the wall time that alert was posted to the first
wall time the API showed an incident holding its episode (`placed`), and to the first time it showed
it in the incident it ended in (`final`; later than `placed` when DBSCAN or a merge moved it).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

Key = tuple[str | None, str, datetime]  # an episode by the alert that opened it: (asset, event, time)


def due(elapsed_s: float, rate_per_min: float, total: int) -> int:
    """How many of `total` alerts are due `elapsed_s` after the first post at a steady rate (alert i
    is due at i * 60 / rate s)."""
    if elapsed_s < 0:
        return 0
    return min(total, int(elapsed_s * rate_per_min / 60) + 1)


class Sightings:
    """The first wall time each episode was seen in any incident, and in each incident."""

    def __init__(self) -> None:
        self.first: dict[Key, float] = {}
        self.first_in: dict[tuple[Key, str], float] = {}

    def saw(self, incident_id: str, keys: Iterable[Key], at: float) -> None:
        """The incident `incident_id` showed these (current) members at wall time `at`."""
        for key in keys:
            self.first.setdefault(key, at)
            self.first_in.setdefault((key, incident_id), at)


@dataclass(frozen=True)
class GroupDelay:
    """One true group's last episode: its label, when it was posted and the delays (None: not seen)."""

    label: str
    kind: str
    posted: float
    placed_s: float | None
    final_s: float | None


def group_delays(
    members: Iterable[tuple[str, str | None, str, datetime, datetime]],
    truth: dict[Key, str],
    kinds: dict[str, str],
    posted: dict[Key, float],
    seen: Sightings,
) -> list[GroupDelay]:
    """The delay of every true group, from the final members (incident, asset, event, opened_at,
    joined_at); an episode no posted alert of the ground truth opened belongs to no group."""
    last: dict[str, tuple[Key, str]] = {}
    for incident, asset, event, opened, _ in members:
        key = (asset, event, opened)
        label = truth.get(key)
        if label is None or key not in posted:
            continue
        if label not in last or opened > last[label][0][2]:
            last[label] = (key, incident)
    out = []
    for label, (key, incident) in sorted(last.items()):
        at = posted[key]
        placed, final = seen.first.get(key), seen.first_in.get((key, incident))
        out.append(
            GroupDelay(
                label,
                kinds.get(label, "noise"),
                at,
                None if placed is None else max(0.0, placed - at),
                None if final is None else max(0.0, final - at),
            )
        )
    return out


def summary(delays: Sequence[float | None], target_s: float) -> dict[str, float | int]:
    """p50, p95 and max of the delays, how many exceed `target_s`, and how many were never seen."""
    got = sorted(d for d in delays if d is not None)
    missing = len(delays) - len(got)
    if not got:
        return {"groups": len(delays), "unseen": missing, "target_s": target_s, "over_target": missing}
    return {
        "groups": len(delays),
        "p50_s": statistics.median(got),
        "p95_s": got[min(len(got) - 1, int(0.95 * len(got)))],
        "max_s": got[-1],
        "target_s": target_s,
        "over_target": sum(1 for d in got if d > target_s) + missing,
        "unseen": missing,
    }
