"""Events near the size limits must not produce batch records the broker refuses (a crash loop)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.embedded  # records near the size limits through Tansu


def test_a_burst_of_large_events_flows_through(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    s = pipeline.settings
    n = 1200  # ~10 MB of events: one unsplit batch record per partition would exceed 1 MB

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=50)
        await producer.start()
        try:
            for i in range(n):
                obs = {
                    "type": "observation",
                    "schema_version": 2,
                    "source": "nms",
                    "asset_id": f"ast_big_{i % 300}",
                    "body": {
                        "kind": "event",
                        "event": "BigEvent",
                        "severity": "major",
                        "text": "x" * 8000,
                        "attributes": {f"k{j}": "v" * 100 for j in range(8)},
                    },
                }
                await producer.send(
                    s.topic("observations.raw"), value=orjson.dumps(obs), key=obs["asset_id"].encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(produce())
    pipeline.wait_projected(n, timeout=240)
    pipeline.wait_alert_events(n, timeout=240)
    assert pipeline.scalar("SELECT count(*) FROM alerts") == 300
    pipeline.check_alive("worker")
