"""The order in which the correlate stage applies alert-change steps, and the input positions it may
claim: a reorder buffer over the partitions of `ems.alerts`.

Steps (`ems.ml.correlation.episodes.steps`: each start and end of an episode at its own time) wait
here until every partition that has delivered anything has delivered past their time, then come out
in event-time order (one alert's steps keep their log order). When the input is quiet (nothing more
arrived within the stage's gather time) everything held comes out: a partition without news holds
nothing back then. So a burst whose partitions arrive one after the other (a replay, a compressed
stream) is decided in event-time order, and a quiet stream is decided at once.

A record's offset is claimed (positions) only once all of its steps are applied: after a crash the
stage re-reads from there, and what was applied is recognised and skipped.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ems.ml.correlation.episodes import Step, steps
from ems.schemas.alert import AlertChanged


class Reorder:
    """Held steps, per-partition progress in event time, and per-record completion."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Any, Step]] = []
        self._seq = 0
        self._floor: dict[str, datetime] = {}  # fingerprint -> time of its latest step held
        self.latest: dict[int, datetime] = {}  # partition -> latest step time delivered
        self._left: dict[tuple[int, int], int] = {}
        self._order: dict[int, deque[int]] = {}
        self._done_upto: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._heap)

    def record(self, msg: Any) -> None:
        """A record of partition `msg.partition` at `msg.offset` was read (before its changes)."""
        self._left[(msg.partition, msg.offset)] = 0
        self._order.setdefault(msg.partition, deque()).append(msg.offset)

    def push(self, msg: Any, change: AlertChanged) -> None:
        """Hold the steps of one accepted change of the record `msg`."""
        fp = change.alert.fingerprint
        for step in steps(change):
            at = max(step.at, self._floor.get(fp, step.at))
            self._floor[fp] = at
            heapq.heappush(self._heap, (at, self._seq, msg, step))
            self._seq += 1
            self._left[(msg.partition, msg.offset)] += 1
            self.latest[msg.partition] = max(at, self.latest.get(msg.partition, at))

    def release(self, quiet: bool) -> Iterator[tuple[Any, Step]]:
        """The steps that may be applied now, in order; call `done` after each."""
        bound = None if quiet or not self.latest else min(self.latest.values())
        while self._heap and (bound is None or self._heap[0][0] <= bound):
            _, _, msg, step = heapq.heappop(self._heap)
            yield msg, step
        if not self._heap:
            self._floor.clear()

    def done(self, msg: Any) -> None:
        self._left[(msg.partition, msg.offset)] -= 1

    def positions(self) -> dict[int, int]:
        """Per partition, the first offset with a step still to apply (or after the last record)."""
        out = {}
        for partition, offsets in self._order.items():
            while offsets and self._left[(partition, offsets[0])] == 0:
                offset = offsets.popleft()
                del self._left[(partition, offset)]
                self._done_upto[partition] = offset + 1
            if offsets:
                out[partition] = offsets[0]
            elif partition in self._done_upto:
                out[partition] = self._done_upto[partition]
        return out
