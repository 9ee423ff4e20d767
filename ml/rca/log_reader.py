"""What `ems retrain --log` reads from Kafka: the incident decisions of a range of `ems.incidents`
(with a progress bar), every root-cause feedback command of `ems.commands`, and the asset registry
(the latest snapshot per asset of `ems.assets`, as the correlate stage rebuilds its topology).

No consumer group, nothing committed: the live stages are not disturbed. Undecodable records are
counted and skipped (their stages dead-letter them). The decisions are decoded lean and folded into
members as they are read (`replay.py`): only each incident's current members are kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ems.agents.assets_worker import read_snapshots
from ems.ml.correlation.topology import Topology
from ems.ml.rca.feedback import COMMAND
from ems.ml.rca.replay import MemberFold, decode_decisions
from ems.schemas.command import Command
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import read_to_end


@dataclass(frozen=True)
class Range:
    """Which incident decisions: by Kafka record time (`since` inclusive, `until` exclusive) and/or by
    offset in each partition (`start` inclusive, `stop` exclusive)."""

    since: datetime | None = None
    until: datetime | None = None
    start: int | None = None
    stop: int | None = None


@dataclass
class LogRead:
    members: MemberFold = field(default_factory=MemberFold)  # the decisions read, folded
    feedback: list[Command] = field(default_factory=list)
    topology: Topology = field(default_factory=Topology)
    records: int = 0  # incidents-topic records read
    unreadable: int = 0
    offsets: dict[str, list[int]] = field(default_factory=dict)  # "topic:partition" -> [first, end)
    seconds: dict[str, float] = field(default_factory=dict)  # per topic read


async def _incidents(settings: Settings, span: Range, out: LogRead, bar: Progress) -> None:
    topic = settings.topic("incidents")
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await reader.start()
    try:
        await reader._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        if not tps:
            return
        reader.assign(tps)
        first = await reader.beginning_offsets(tps)
        end = await reader.end_offsets(tps)
        if span.since is not None:
            found = await reader.offsets_for_times(tps, int(span.since.timestamp() * 1000))
            first = {tp: (found[tp].offset if found[tp] else end[tp]) for tp in tps}
        if span.start is not None:
            first = {tp: max(first[tp], span.start) for tp in tps}
        if span.stop is not None:
            end = {tp: min(end[tp], span.stop) for tp in tps}
        until = int(span.until.timestamp() * 1000) if span.until is not None else None
        task = bar.add_task(f"replay {topic}", total=sum(max(0, end[tp] - first[tp]) for tp in tps))
        pending = set()
        for tp in tps:
            out.offsets[f"{tp.topic}:{tp.partition}"] = [first[tp], end[tp]]
            if first[tp] < end[tp]:
                reader.seek(tp, first[tp])
                pending.add(tp)
        while pending:
            batch = await reader.getmany(*pending, timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                for msg in msgs:
                    if msg.offset >= end[tp] or (until is not None and msg.timestamp >= until):
                        pending.discard(tp)
                        break
                    out.records += 1
                    try:
                        decisions = decode_decisions(msg.value)
                    except DecodeError:
                        out.unreadable += 1
                        continue
                    out.members.add(decisions)
                bar.update(task, completed=out.records)
            pending = {tp for tp in pending if await reader.position(tp) < end[tp]}
    finally:
        await reader.stop()


async def _feedback(settings: Settings, out: LogRead) -> None:
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("commands")):
        try:
            cmd = decode(msg.value, Command)
        except DecodeError:
            continue  # not a command: the command stages dead-letter it
        if cmd.name == COMMAND:
            out.feedback.append(cmd)


async def read_log(settings: Settings, span: Range, bar: Progress | None = None) -> LogRead:
    """The incident decisions of `span`, all feedback commands and the current topology."""
    out = LogRead()

    async def assets() -> None:
        snapshots = await read_snapshots(settings, None)
        for asset in sorted(snapshots.values(), key=lambda a: a.asset_id):
            out.topology.upsert(asset)

    async def incidents() -> None:
        with bar or _bar() as progress:
            await _incidents(settings, span, out, progress)

    async def timed(name: str, reading: Awaitable[None]) -> None:
        started = time.monotonic()
        await reading
        out.seconds[name] = time.monotonic() - started

    # The three topics at once: each one's waits for the broker overlap the others' decoding.
    await asyncio.gather(
        timed("assets", assets()),
        timed("feedback", _feedback(settings, out)),
        timed("incidents", incidents()),
    )
    return out


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def read(settings: Settings, span: Range) -> LogRead:
    return asyncio.run(read_log(settings, span))
