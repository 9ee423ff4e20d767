"""The alert states the lifecycle stage has parsed, remembered by the bytes they were stored as.

The stage's table holds each alert's `Tracked` state as JSON. Each batch reads the states of the
alerts it folds; parsing and validating one (~1 KB) was the largest single cost of the stage after
the fold. A state this process wrote (or read) is kept with its bytes, and reused while the table
still holds those very bytes: a state written by another process (after a rebalance), or a write
that never reached the table (a crash), differs and is parsed again. So a hit returns exactly what
parsing the stored bytes would (`tests/unit/test_dedupe_batch.py` compares the stage's outputs with
and without it).
"""

from __future__ import annotations

from ems.schemas.alert import Tracked

DEFAULT_LIMIT = 100_000  # alerts remembered; past it, all are forgotten (and parsed again on use)


class ParsedStates:
    """Fingerprint key -> (stored bytes, the Tracked they hold)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._parsed: dict[bytes, tuple[bytes, Tracked]] = {}

    def read(self, key: bytes, stored: bytes) -> Tracked:
        """The state `stored` holds (ValueError when it cannot be read)."""
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == stored:
            return hit[1]
        tracked = Tracked.model_validate_json(stored)
        self.remember(key, stored, tracked)
        return tracked

    def remember(self, key: bytes, stored: bytes, tracked: Tracked) -> None:
        """`tracked` was just encoded as `stored` for `key`."""
        if len(self._parsed) >= self.limit and key not in self._parsed:
            self._parsed.clear()
        self._parsed[key] = (stored, tracked)

    def __len__(self) -> int:
        return len(self._parsed)
