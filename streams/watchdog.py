"""Detects a Faust stream whose offset commits are stuck behind what its agent processed.

Faust can drop events it had already fetched when recovery finishes after a restart (its recovery
clears the in-memory queues; faust-streaming issue #596). The agent never sees them, later events
are processed, and the commit can never pass the gap: the dropped events stay unprocessed until the
worker restarts. The symptom is visible from outside the race: for some partition the committed
offset stays below the next offset the agent needs while the agent has moved on. When that lasts
longer than `grace` seconds the worker should restart; the dedupe stage is idempotent, so
re-reading from the committed offset is safe.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

EXIT_RESTART = 75  # EX_TEMPFAIL: the worker asks its supervisor for a restart


@dataclass
class CommitStallWatchdog:
    """Pure state machine: feed it observations, it says which partitions are stalled.

    A partition is stalled when its committed offset has not moved for `grace` seconds while the
    agent has processed beyond it. Under sustained load the commit always trails processing, so
    "behind" alone is normal; "behind and not moving" is not.
    """

    grace: float = 20.0
    _since: dict[Hashable, tuple[int | None, float]] = field(default_factory=dict)

    def observe(
        self, committed: Mapping[Hashable, int | None], processed: Mapping[Hashable, int], now: float
    ) -> list[Hashable]:
        """`committed`: next offset to read as committed; `processed`: highest offset the agent saw.

        Returns the partitions whose commit has stood still behind processing for over `grace` s.
        """
        stalled = []
        for tp, last in processed.items():
            done = committed.get(tp)
            if done is not None and done > last:
                self._since.pop(tp, None)  # caught up
                continue
            seen = self._since.get(tp)
            if seen is None or seen[0] != done:  # first time behind, or the commit moved
                self._since[tp] = (done, now)
            elif now - seen[1] >= self.grace:
                stalled.append(tp)
        for tp in set(self._since) - set(processed):
            self._since.pop(tp)
        return stalled


@dataclass
class OffsetContinuity:
    """Checks that a stream delivers every offset of each partition from its committed offset on.

    The topics it guards are written by non-transactional producers and never compacted, so their
    offsets have no legitimate gaps. A jump forward means the consumer dropped fetched events
    (faust-streaming #596), which Faust would then commit past as if the topic were compacted
    (#378, #606): silent loss. Going backwards is a redelivery, which the stages absorb.
    """

    expected: dict[Hashable, int] = field(default_factory=dict)

    def knows(self, tp: Hashable) -> bool:
        return tp in self.expected

    def start(self, tp: Hashable, next_offset: int) -> None:
        """The partition (re)starts at `next_offset` (its committed offset, or the log start)."""
        self.expected[tp] = next_offset

    def check(self, tp: Hashable, offset: int) -> int | None:
        """Record a delivered offset; return the expected offset when `offset` skips past it."""
        want = self.expected[tp]
        if offset > want:
            return want
        self.expected[tp] = max(want, offset + 1)
        return None

    def reset(self) -> None:
        """Forget every partition (after a rebalance)."""
        self.expected.clear()
