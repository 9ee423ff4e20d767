"""`ems collector snmp` end to end: a real SNMP agent in, real Kafka out (the raw observations topic)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from ems.infra.process import free_port
from ems.infra.snmpsim import SnmpSimAgent
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import Observation
from tests.integration.harness import Pipeline, wait_for

DATA = Path(__file__).parent.parent / "data" / "snmp"


async def test_collector_publishes_and_the_pipeline_raises_and_clears_device_unreachable(servers, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(DATA / "router.snmprec", data / "router.snmprec")
    dead_port = free_port()  # nothing listens there: the listed host must be reported unreachable
    rtr, dead = asset_id_for("device:rtr1.lab"), asset_id_for("device:127.0.0.1")
    with SnmpSimAgent(data) as agent:
        config = tmp_path / "snmp.json"
        config.write_text(
            json.dumps(
                {
                    "credentials": {"lab": {"community": "router"}},
                    "targets": [
                        {"host": "127.0.0.1", "port": agent.port, "credential": "lab", "tags": ["lab"]},
                        {"host": "127.0.0.1", "port": dead_port, "credential": "lab"},
                    ],
                    "default_interval": 2,
                    "timeout": 0.3,
                    "retries": 3,
                    "jitter": 0.1,
                }
            )
        )
        pipeline = Pipeline(servers, tmp_path)
        try:
            pipeline.start("snmp", "collector", "snmp", "--config", str(config))
            pipeline.start_worker()
            # 1. The raw topic holds discovery, metrics and events of the collector.
            seen = await read_raw(pipeline, until=_complete, timeout=120)
            discovery = next(o for o in seen if o.body.kind == "discovery")
            assert discovery.asset_id == rtr and discovery.source == "nms"
            assert discovery.body.facts["natural_key"] == "device:rtr1.lab"
            assert discovery.body.edges[0]["target"] == asset_id_for("device:sw1.lab")
            events = {
                (o.asset_id, o.body.event, o.body.severity, o.body.resource)
                for o in seen
                if o.body.kind == "event"
            }
            assert (dead, "Device Unreachable", "critical", None) in events
            assert (rtr, "LinkDown", "major", "Gi0/1") in events
            names = {
                s.name for o in seen if o.body.kind == "metrics" and o.asset_id == rtr for s in o.body.samples
            }
            assert {"if_in_bps", "if_out_util_pct", "snmp_latency_ms", "packet_loss_pct"} <= names
            # 2. The pipeline turns them into alerts; the agent stops -> the router's alert opens...
            wait_alert(pipeline, dead, "Device Unreachable", "open")
            wait_alert(pipeline, rtr, "LinkDown", "open")
            agent.stop(cleanup=False)
            wait_alert(pipeline, rtr, "Device Unreachable", "open")
            # 3. ... and the collector's clear resolves it once the agent answers again.
            agent.start()
            wait_alert(pipeline, rtr, "Device Unreachable", "resolved")
        finally:
            pipeline.stop_all()


def wait_alert(pipeline: Pipeline, asset: str, event: str, status: str) -> None:
    sql = "SELECT status, severity FROM alerts WHERE asset_id = %s AND event = %s AND source = 'nms'"

    def found() -> bool:
        pipeline.check_alive()
        rows = pipeline.query(sql, (asset, event))
        return bool(rows) and rows[0]["status"] == status

    wait_for(found, 90, f"{event} alert of {asset} to be {status}")


def _complete(seen: list[Observation]) -> bool:
    kinds = {o.body.kind for o in seen}
    rates = any(s.name == "if_in_bps" for o in seen if o.body.kind == "metrics" for s in o.body.samples)
    down = any(o.body.kind == "event" and o.body.event == "Device Unreachable" for o in seen)
    return {"discovery", "metrics", "event"} <= kinds and rates and down


async def read_raw(pipeline: Pipeline, until, timeout: float) -> list[Observation]:
    """Read the raw topic from the start until `until(observations)` holds (the collector stays alive)."""
    topic = pipeline.settings.topic("observations.raw")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=pipeline.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    seen: list[Observation] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(seen):
            pipeline.check_alive("snmp")
            assert loop.time() < deadline, f"collector output incomplete: {[o.body.kind for o in seen]}"
            if not consumer.assignment():
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    await asyncio.sleep(0.5)
                    continue
                consumer.assign([TopicPartition(topic, p) for p in parts])
                await consumer.seek_to_beginning()
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [Observation.model_validate_json(r.value) for r in records]
    finally:
        await consumer.stop()
    return seen
