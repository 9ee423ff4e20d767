"""Garbage gets a clear 4xx at the API and a dead-letter record on the topics; the worker goes on."""

from __future__ import annotations

import asyncio
import base64

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.harness import Pipeline, wait_for

GOOD = {"source": "nms", "severity": "critical", "title": "Device Unreachable", "assetId": "ast_router_01"}


def test_api_refuses_bad_input_with_reasons(pipeline: Pipeline) -> None:
    pipeline.start_api()
    with httpx.Client(base_url=pipeline.api, timeout=30) as c:
        r = c.post(
            "/api/v1/events",
            content=b'{"source": "nms", "severity": ',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["error"].startswith("invalid JSON")
        r = c.post("/api/v1/events", content=b"")
        assert r.status_code == 400 and "empty request body" in r.json()["error"]
        r = c.post("/api/v1/events", json={**GOOD, "severity": 3, "tags": "not-a-list"})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"severity", "tags"}
        r = c.post("/api/v1/events", json={**GOOD, "severity": "apocalyptic"})
        assert r.status_code == 422 and "unknown severity 'apocalyptic'" in r.json()["errors"][0]["message"]
        r = c.post("/api/v1/events", json={**GOOD, "colour": "red"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
        r = c.post("/api/v1/events", json={**GOOD, "text": "x" * 300_000})
        assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]
        r = c.post("/api/v1/events", json=[GOOD, {"source": "nms"}])
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("[1].")
        r = c.get("/api/v1/alerts", params={"sort": "colour"})
        assert r.status_code == 400 and "cannot sort by" in r.json()["error"]
        r = c.get("/api/v1/alerts", params={"limit": "-1"})
        assert r.status_code == 400
        # Nothing of the refused requests reached Kafka: only the good one does.
        assert c.post("/api/v1/events", json=GOOD).status_code == 202
    assert _raw_count(pipeline) == 1


def _raw_count(pipeline: Pipeline) -> int:
    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
        await consumer.start()
        try:
            topic = pipeline.settings.topic("observations.raw")
            parts = [tp for tp in await _partitions(consumer, topic)]
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
            return sum(ends[tp] - starts[tp] for tp in parts)
        finally:
            await consumer.stop()

    return asyncio.run(count())


async def _partitions(consumer: AIOKafkaConsumer, topic: str):
    from aiokafka import TopicPartition

    await consumer._client.force_metadata_update()
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


GARBAGE_RAW = [
    b"\x00\xffnot json at all",
    b"[1, 2, 3]",
    b'{"source": "nms"}',
    b'{"type": "observation", "schema_version": 7, "source": "nms"}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "apocalyptic"}}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "critical", "surprise": 1}}',
    b'{"source": "nms", "body": {"kind": "event", "event": ["E"], "severity": 3}, "occurred_at": "noon"}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "minor", "title": "'
    + b"x" * 2000
    + b'"}}',
]


def test_garbage_on_topics_is_dead_lettered_and_the_worker_goes_on(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    s = pipeline.settings

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap)
        await producer.start()
        try:
            for raw in GARBAGE_RAW:
                await producer.send_and_wait(s.topic("observations.raw"), value=raw, key=b"ast_x")
            await producer.send_and_wait(s.topic("events"), value=b'{"type": "event"}', key=b"fp")
            await producer.send_and_wait(s.topic("alerts"), value=b"\x01\x02", key=b"fp")
            good = {
                "type": "observation",
                "schema_version": 2,
                "source": "nms",
                "asset_id": "ast_ok",
                "body": {"kind": "event", "event": "NodeDown", "severity": "major"},
            }
            await producer.send_and_wait(s.topic("observations.raw"), value=orjson.dumps(good), key=b"ast_ok")
        finally:
            await producer.stop()

    asyncio.run(produce())
    # The good record after the garbage is processed: the worker did not stop.
    wait_for(lambda: pipeline.query("SELECT 1 FROM alerts WHERE asset_id = 'ast_ok'"), 120, "the good alert")
    pipeline.check_alive("worker")

    # The events-topic garbage is read, and refused, by two stages: dedupe and the events projection.
    letters = wait_for(lambda: _dead_letters(pipeline, len(GARBAGE_RAW) + 3), 60, "the dead letters")
    by_payload = {base64.b64decode(d["payload_b64"]): d for d in letters}
    stages = {}
    for d in letters:
        stages.setdefault(base64.b64decode(d["payload_b64"]), set()).add(d["stage"])
    assert set(by_payload) == {*GARBAGE_RAW, b'{"type": "event"}', b"\x01\x02"}
    reasons = {raw: d["reason"] for raw, d in by_payload.items()}
    assert reasons[GARBAGE_RAW[0]].startswith("invalid JSON")
    assert reasons[GARBAGE_RAW[1]] == "expected a JSON object, got list"
    assert "body: Field required" in reasons[GARBAGE_RAW[2]]
    assert "schema_version 7" in reasons[GARBAGE_RAW[3]]
    assert "unknown severity 'apocalyptic'" in reasons[GARBAGE_RAW[4]]
    assert "surprise: Extra inputs are not permitted" in reasons[GARBAGE_RAW[5]]
    wrong_types = reasons[GARBAGE_RAW[6]]
    assert all(f in wrong_types for f in ("occurred_at:", "body.event.event:", "body.event.severity:"))
    assert "body.event.title: String should have at most 1024 characters" in reasons[GARBAGE_RAW[7]]
    assert stages[b'{"type": "event"}'] == {"dedupe", "projection:events"}
    assert stages[b"\x01\x02"] == {"projection:alerts"}
    # At-least-once: a letter may be re-sent after a redelivery, with the same id.
    assert len({d["event_id"] for d in letters}) == len(GARBAGE_RAW) + 3
    first = by_payload[GARBAGE_RAW[0]]
    assert first["source_topic"] == s.topic("observations.raw") and first["stage"] == "normalize"
    assert first["source_offset"] is not None and base64.b64decode(first["key_b64"]) == b"ast_x"


def _dead_letters(pipeline: Pipeline, want: int) -> list[dict] | None:
    async def read() -> list[dict]:
        consumer = AIOKafkaConsumer(
            pipeline.settings.topic("deadletter"),
            bootstrap_servers=pipeline.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            out = []
            batch = await consumer.getmany(timeout_ms=2000)
            for messages in batch.values():
                out += [orjson.loads(m.value) for m in messages]
            return out
        finally:
            await consumer.stop()

    letters = asyncio.run(read())
    return letters if len(letters) >= want else None
