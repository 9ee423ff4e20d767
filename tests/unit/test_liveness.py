"""Our processes' own heartbeats: the beat (timeout three intervals, tagged), the origins, and the SNMP
collector sending them through its sink while it runs (a fake sink: no Kafka)."""

from __future__ import annotations

import asyncio

from ems.agents.heartbeats import Beat, Monitor
from ems.collectors.snmp_collector import Collector
from ems.collectors.snmp_config import CollectorConfig
from ems.streams.liveness import TAG, beat, collector_origin, timeout_for, worker_origin


def test_a_beat_promises_three_intervals_and_the_stage_reads_it() -> None:
    assert (timeout_for(60), timeout_for(0.2), timeout_for(10**6)) == (180, 1, 86_400)
    obs = beat("worker@h/normalize", 60)
    assert (obs.source, obs.body.kind, obs.body.timeout, obs.body.tags) == (
        "worker@h/normalize",
        "heartbeat",
        180,
        [TAG],
    )
    hb = Monitor().receive(Beat.of(obs)).changes[0].heartbeat
    assert (hb.origin, hb.timeout, hb.status) == ("worker@h/normalize", 180, "ok")


def test_origins_name_the_host_and_the_stages_and_stay_the_same_across_restarts() -> None:
    assert worker_origin(["normalize", "dedupe"]) == worker_origin(["normalize", "dedupe"])
    assert worker_origin(["normalize", "dedupe"]).endswith("/normalize+dedupe")
    assert collector_origin().startswith("snmp-collector@")


async def test_the_collector_beats_through_its_sink_while_it_runs() -> None:
    sent: list = []

    async def sink(topic: str, record) -> None:
        sent.append((topic, record))

    collector = Collector(CollectorConfig(), sink, liveness=("snmp-collector@h", 0.05))
    running = asyncio.create_task(collector.run())
    await asyncio.sleep(0.3)
    collector.stop()
    await asyncio.wait_for(running, 5)
    collector.client.engine.close_dispatcher()
    beats = [r for t, r in sent if t == "observations.raw" and r.body.kind == "heartbeat"]
    assert len(beats) >= 3 and {b.source for b in beats} == {"snmp-collector@h"}
    count = len(sent)
    await asyncio.sleep(0.15)
    assert len(sent) == count  # stopped with the collector
