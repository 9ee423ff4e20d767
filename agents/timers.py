"""An in-memory index of alert timers per partition: which fingerprints are due at a clock tick.

Pure bookkeeping for the lifecycle stage's wrapper: the alert state (in the table) stays the truth,
this only avoids scanning every alert at every tick. It is rebuilt from the table after a rebalance.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class TimerIndex:
    """Per partition: fingerprint -> next due time, with a heap to pop the due ones in order."""

    def __init__(self) -> None:
        self._due: dict[int, dict[bytes, datetime]] = {}
        self._heap: dict[int, list[tuple[datetime, bytes]]] = {}

    def built(self, partition: int) -> bool:
        """Whether this partition's timers have been loaded since the last reset."""
        return partition in self._due

    def mark_built(self, partition: int) -> None:
        self._due.setdefault(partition, {})
        self._heap.setdefault(partition, [])

    def reset(self) -> None:
        """Forget everything (after a rebalance the partitions held may differ)."""
        self._due.clear()
        self._heap.clear()

    def set(self, partition: int, key: bytes, due: datetime | None) -> None:
        """Record the next due time of `key` (None: none pending); ignored until the partition is built."""
        if partition not in self._due:
            return
        dues = self._due[partition]
        if due is None:
            dues.pop(key, None)
            return
        if dues.get(key) != due:
            dues[key] = due
            heap = self._heap[partition]
            heapq.heappush(heap, (due, key))
            if len(heap) > 2 * len(dues) + 1024:  # superseded entries pile up on busy alerts: compact
                self._heap[partition] = [(d, k) for k, d in dues.items()]
                heapq.heapify(self._heap[partition])

    def pop_due(self, partition: int, now: datetime) -> list[bytes]:
        """The keys whose timer is due at or before `now` (removed from the index)."""
        heap, dues, out = self._heap.get(partition, []), self._due.get(partition, {}), []
        while heap and heap[0][0] <= now:
            due, key = heapq.heappop(heap)
            if dues.get(key) == due:  # else a stale entry, superseded by a later set()
                del dues[key]
                out.append(key)
        return out

    def pending(self, partition: int) -> int:
        return len(self._due.get(partition, {}))
