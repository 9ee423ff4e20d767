"""Split a partition's items into batch records that each fit in one Kafka message.

A batch record (EventBatch, AlertChangedBatch) holds many items to amortize per-record costs, but a
Kafka message is capped (1 MB by default): items are grouped by count, and a group whose encoding is
still too large is halved until it fits. One item larger than the cap is sent alone (the broker's
answer then names it) rather than blocking the partition forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from ems.schemas.envelope import Record
from ems.streams.codecs import encode

T = TypeVar("T")
MAX_BYTES = 512 * 1024  # half the default max.request.size / message.max.bytes


def encoded_chunks(
    items: Sequence[T], make: Callable[[list[T]], Record], max_items: int, max_bytes: int = MAX_BYTES
) -> Iterator[bytes]:
    """The encoded batch records of `items`, in order, each of at most `max_items` items and (unless
    a single item is larger) `max_bytes` bytes."""
    return fitted_chunks(items, lambda group: encode(make(group)), max_items, max_bytes)


def fitted_chunks(
    items: Sequence[T], to_bytes: Callable[[list[T]], bytes], max_items: int, max_bytes: int = MAX_BYTES
) -> Iterator[bytes]:
    """`encoded_chunks` for a writer that gives a group's bytes itself (`to_bytes`)."""
    for start in range(0, len(items), max_items):
        yield from _fit(list(items[start : start + max_items]), to_bytes, max_bytes)


def _fit(items: list[T], to_bytes: Callable[[list[T]], bytes], max_bytes: int) -> Iterator[bytes]:
    data = to_bytes(items)
    if len(data) <= max_bytes or len(items) == 1:
        yield data
        return
    half = len(items) // 2
    yield from _fit(items[:half], to_bytes, max_bytes)
    yield from _fit(items[half:], to_bytes, max_bytes)
