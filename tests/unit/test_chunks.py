"""Batch records are split to fit one Kafka message, in order, without losing or repeating items."""

from ems.schemas.event import EventBatch
from ems.streams.chunks import encoded_chunks
from ems.streams.codecs import decode
from tests.unit.helpers import event


def make(events):
    return EventBatch(partition=0, events=events)


def test_large_items_are_split_until_each_record_fits() -> None:
    events = [event(offset=i).model_copy(update={"text": "x" * 8000}) for i in range(300)]
    chunks = list(encoded_chunks(events, make, max_items=500, max_bytes=100_000))
    assert all(len(c) <= 100_000 for c in chunks) and len(chunks) > 20
    back = [e.event_id for c in chunks for e in decode(c, EventBatch).events]
    assert back == [e.event_id for e in events]


def test_small_items_are_grouped_by_count_and_a_huge_one_goes_alone() -> None:
    events = [event(offset=i) for i in range(1001)]
    assert [len(decode(c, EventBatch).events) for c in encoded_chunks(events, make, 500)] == [500, 500, 1]
    huge = [event(offset=0).model_copy(update={"text": "y" * 200_000})]
    assert len(list(encoded_chunks(huge, make, 500, max_bytes=1000))) == 1
