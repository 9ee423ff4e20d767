"""The Alerta-protocol alert stream of the HTTP ingest benchmark, and the state a sequential Alerta
would hold after it (pure: no servers).

A stream is a list of `Post(key, severity)`. Of its posts ~10 % open a new alert, 70 % repeat an
alert at its current severity (duplicates) and 20 % change its severity, a fifth of those to the
clearing `normal`. `alerta_state` folds a stream the way Alerta does (`is_duplicate`: same event and
severity -> duplicateCount + 1; otherwise previousSeverity = the old severity, duplicateCount 0; a
clear closes the alert, any other severity reopens it), independently of the pipeline's own code, so
a pipeline that loses, duplicates or reorders a post ends in another state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROBLEMS = ("critical", "major", "minor", "warning")
CLEAR = "normal"
NEW_ALERTA_PREVIOUS = "indeterminate"  # Alerta's previousSeverity of a new alert


@dataclass(frozen=True)
class Post:
    """One alert sent: which alert (`key`, its resource) at which severity."""

    key: str
    severity: str


@dataclass
class AlertaAlert:
    """What Alerta shows of one alert."""

    severity: str
    previous_severity: str = NEW_ALERTA_PREVIOUS
    duplicate_count: int = 0
    status: str = "open"
    received: int = 1


def stream(posts: int, prefix: str, seed: int = 1, new: float = 0.10, changes: float = 0.20) -> list[Post]:
    """`posts` posts over alerts named `<prefix>-<n>` (the mix of the module docstring)."""
    rng = random.Random(seed)
    current: dict[str, str] = {}
    keys: list[str] = []
    out = []
    for _ in range(posts):
        roll = rng.random()
        if not keys or roll < new:
            key = f"{prefix}-{len(keys)}"
            keys.append(key)
            severity = rng.choice(PROBLEMS)
        else:
            key = rng.choice(keys)
            severity = current[key]
            if roll < new + changes:  # a severity change, a fifth of them to the clear
                if rng.random() < 0.2 and severity != CLEAR:
                    severity = CLEAR
                else:
                    severity = rng.choice([s for s in PROBLEMS if s != severity])
        current[key] = severity
        out.append(Post(key, severity))
    return out


def alerta_state(posts: list[Post]) -> dict[str, AlertaAlert]:
    """Each alert's state after `posts`, in order, as a sequential Alerta would hold it."""
    alerts: dict[str, AlertaAlert] = {}
    for post in posts:
        alert = alerts.get(post.key)
        if alert is None:
            alerts[post.key] = AlertaAlert(
                post.severity, status="closed" if post.severity == CLEAR else "open"
            )
            continue
        alert.received += 1
        if post.severity == alert.severity:
            alert.duplicate_count += 1
        else:
            alert.previous_severity, alert.severity, alert.duplicate_count = alert.severity, post.severity, 0
        alert.status = "closed" if post.severity == CLEAR else "open"
    return alerts


def mismatches(
    expected: dict[str, AlertaAlert], actual: dict[str, AlertaAlert], limit: int = 10
) -> list[str]:
    """What differs between two end states (at most `limit` lines; empty when they agree)."""
    out = []
    for key in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(key), actual.get(key)
        if want != got:
            out.append(f"{key}: expected {want}, got {got}")
            if len(out) >= limit:
                break
    return out


def shares(posts: list[Post]) -> dict[str, float]:
    """The mix of a stream: the share of new alerts, duplicates, severity changes and clears."""
    seen: dict[str, str] = {}
    counts = {"new": 0, "duplicate": 0, "change": 0, "clear": 0}
    for post in posts:
        if post.key not in seen:
            counts["new"] += 1
        elif seen[post.key] == post.severity:
            counts["duplicate"] += 1
        else:
            counts["change"] += 1
            counts["clear"] += post.severity == CLEAR
        seen[post.key] = post.severity
    return {k: v / len(posts) for k, v in counts.items()}
