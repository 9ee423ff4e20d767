"""The API's appender (api/appender.py) tells a write that was not sent from one that may still land.

A fake producer stands in for aiokafka here: what is tested is the appender's own decision logic
(bounded waits, the leader pre-check, the outcome it reports); the drills test it on real Kafka.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import NotLeaderForPartitionError

from ems.api.appender import Appender
from ems.api.errors import Unavailable
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings
from ems.streams.partitioning import partition_for

RECORD = Observation(source="t", asset_id="ast_1", body=EventBody(event="E", severity="major"))


class Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    def leader_for_partition(self, tp: object) -> int:
        return 1


class Client:
    def __init__(self, ready: bool) -> None:
        self.cluster, self._ready, self.refreshed = Cluster(), ready, 0

    async def ready(self, node: int) -> bool:
        return self._ready

    def force_metadata_update(self) -> None:
        self.refreshed += 1


class Producer:
    """Sends resolve as `outcome` says: "ack", "fail" (after being sent) or "hang"."""

    def __init__(self, ready: bool = True, outcome: str = "ack") -> None:
        self.client, self.outcome, self.sent = Client(ready), outcome, 0
        self.partitions: list[int | None] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None
    ) -> asyncio.Future:
        self.sent += 1
        self.partitions.append(partition)
        future = asyncio.get_running_loop().create_future()
        if self.outcome == "ack":
            future.set_result("metadata")
        elif self.outcome == "fail":
            future.set_exception(NotLeaderForPartitionError())
        return future


def appender(producer: Producer, timeout: float = 0.3) -> Appender:
    a = Appender(Settings(api_write_timeout=timeout))
    a._producer = producer  # type: ignore[assignment]
    return a


async def test_acknowledged_writes_return() -> None:
    producer = Producer()
    await appender(producer).append("raw", [RECORD, RECORD])
    assert producer.sent == 2


async def test_records_go_to_the_partition_of_their_key() -> None:
    producer = Producer()
    other = Observation(source="t", asset_id="ast_2", body=EventBody(event="E", severity="major"))
    await appender(producer).append("raw", [RECORD, other, RECORD])
    expected = [partition_for(r.key.encode(), 4) for r in (RECORD, other, RECORD)]
    assert producer.partitions == expected


async def test_no_reachable_leader_is_not_appended_and_nothing_is_sent() -> None:
    producer = Producer(ready=False)
    with pytest.raises(Unavailable) as err:
        await appender(producer).append("raw", [RECORD])
    assert err.value.appended is False and producer.sent == 0 and producer.client.refreshed == 1


@pytest.mark.parametrize("outcome", ["fail", "hang"])
async def test_a_sent_write_not_acknowledged_in_time_may_have_landed(outcome: str) -> None:
    producer = Producer(outcome=outcome)
    started = asyncio.get_running_loop().time()
    with pytest.raises(Unavailable) as err:
        await appender(producer, timeout=0.3).append("raw", [RECORD])
    assert err.value.appended is None and producer.sent == 1  # "unknown": retry with the same key
    assert asyncio.get_running_loop().time() - started < 1.0  # answered within the bound


async def test_no_producer_yet_is_not_appended() -> None:
    a = Appender(Settings(kafka_bootstrap="127.0.0.1:1", api_write_timeout=0.5))
    with pytest.raises(Unavailable) as err:
        await a.append("raw", [RECORD])
    assert err.value.appended is False and not a.started
