"""Keep-style rules: N matching episodes within T, grouped by fields, make one incident.

A bucket per (rule, group-by values) holds the matching episodes of the last `window_s` seconds
(by start). Once it holds `threshold` of them they belong together; later matches within the window
of the bucket's newest episode join them.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime, timedelta

from ems.ml.correlation.config import Rule
from ems.ml.correlation.episodes import Episode
from ems.ml.correlation.topology import Topology


def field_values(episode: Episode, name: str, topology: Topology) -> tuple[str, ...]:
    """The values of one rule field for an episode (several for service and tags)."""
    if name in ("service", "tags"):
        return tuple(getattr(episode, name))
    if name in ("site", "asset_type"):
        node = topology.nodes.get(episode.asset_id or "")
        value = None if node is None else (node.site if name == "site" else node.type)
        return (value,) if value else ()
    value = getattr(episode, name)
    return (value,) if value else ()


class Rules:
    """Matches episodes against the configured rules and keeps the buckets."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self._patterns = {r.name: {f: re.compile(p) for f, p in r.match.items()} for r in rules}
        self._buckets: dict[tuple[str, tuple[str, ...]], deque[Episode]] = {}

    def matches(self, rule: Rule, episode: Episode, topology: Topology) -> bool:
        return all(
            any(p.search(v) for v in field_values(episode, f, topology))
            for f, p in self._patterns[rule.name].items()
        )

    def group_key(self, rule: Rule, episode: Episode, topology: Topology) -> tuple[str, ...]:
        """The bucket of an episode: its tenant, then the group-by values."""
        values = tuple(",".join(sorted(field_values(episode, f, topology))) for f in rule.group_by)
        return (episode.tenant or "", *values)

    def offer(self, episode: Episode, topology: Topology) -> list[tuple[Rule, list[Episode]]]:
        """Add a new episode to the buckets it matches; return, per rule whose bucket reached its
        threshold, the other episodes of that bucket (oldest first)."""
        found = []
        for rule in self.rules:
            if not self.matches(rule, episode, topology):
                continue
            bucket = self._buckets.setdefault((rule.name, self.group_key(rule, episode, topology)), deque())
            horizon = episode.opened_at - timedelta(seconds=rule.window_s)
            while bucket and bucket[0].opened_at < horizon:
                bucket.popleft()
            bucket.append(episode)
            if len(bucket) >= rule.threshold:
                found.append((rule, [e for e in bucket if e is not episode]))
        return found

    def forget_before(self, at: datetime) -> None:
        """Drop episodes older than every rule's window (memory stays bounded)."""
        longest = max((r.window_s for r in self.rules), default=0.0)
        horizon = at - timedelta(seconds=longest)
        for key in list(self._buckets):
            bucket = self._buckets[key]
            while bucket and bucket[0].opened_at < horizon:
                bucket.popleft()
            if not bucket:
                del self._buckets[key]
