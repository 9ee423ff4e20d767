"""The dedupe + lifecycle stage as a Faust agent: events, commands, ticks -> alert state -> `ems.alerts`.

The wrapper only moves records. From `ems.events` it takes EventBatch records (the events of one
partition from one normalize batch), AlertCommand records (operator commands, forwarded by the
command router) and Tick records (the clock), and hands each batch to the pure
`ems.agents.dedupe_batch.process_batch`, which folds them and returns the table writes, one
AlertChangedBatch per partition and the dead letters. The agent sends the letters and the changes and
waits for Kafka's acknowledgements, then writes the table (its changelog in one produce batch per
partition: `ems.streams.table_writes`), waits for those too, and only then lets the batch be acked.
Faust's per-record cost is paid per batch, not per event (see docs/design.md). A `StreamGuard`
restarts the worker if Faust drops events or stalls.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from ems.agents.dedupe_batch import BatchConfig, process_batch
from ems.agents.dedupe_states import ParsedStates
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.timers import TimerIndex
from ems.progress import DEAD_LETTERS, StageProgress
from ems.settings import Settings
from ems.streams.app import drain_send_buffer, faust_topics
from ems.streams.codecs import encode
from ems.streams.faust_guard import StreamGuard, faust_lag
from ems.streams.stage_status import stage_status
from ems.streams.table_writes import TableWrites

log = logging.getLogger(__name__)


def register_dedupe(app: faust.App, settings: Settings) -> faust.types.AgentT:
    """Declare the alert-state table and the dedupe agent on `app`."""
    config = BatchConfig(LifecyclePolicy.of(settings), settings.partitions, settings.events_per_record)
    topics = faust_topics(app, settings)
    # use_partitioner: the changelog partition follows the key's hash, as the events topic's does
    # (both are keyed by fingerprint), which stays right when a batch spans several partitions.
    # Keys and values are bytes (raw serializer): the state is stored as its JSON.
    table = app.Table(
        "alert-state",
        default=None,
        partitions=settings.partitions,
        use_partitioner=True,
        key_type=bytes,
        value_type=bytes,
    )
    timers = TimerIndex()
    states = ParsedStates()
    writes = TableWrites(app, table, settings.partitions)

    @app.on_partitions_assigned.connect
    async def _forget_timers(sender: Any, assigned: Any, **kwargs: Any) -> None:
        timers.reset()  # the partitions held may have changed: reload lazily at the next tick

    progress = StageProgress("dedupe")
    status = stage_status("dedupe")
    guard = StreamGuard(app, "dedupe", settings.stall_grace, settings.kafka_bootstrap)
    status.lag_source = lambda: faust_lag(app, guard.processed)

    async def dedupe(stream: faust.StreamT) -> None:
        async for records in stream.take_events(settings.dedupe_batch_size, settings.dedupe_batch_within):
            await guard.check(records)
            done = process_batch([ev.message for ev in records], table, timers, config, states)
            # The letters and the alert changes first, acknowledged, and only then the state that
            # says they were made: a crash between the two re-applies the events on the state before
            # (the same changes, the same ids) instead of skipping them as applied while their
            # changes were never sent. The batch is acked after all of it.
            pending = []
            for letter in done.letters:
                DEAD_LETTERS.labels("dedupe").inc()
                status.dead_letters += 1
                log.warning("dead-lettered %s: %s", letter.key, letter.reason[:300])
                pending.append(await topics.deadletter.send(key=letter.key.encode(), value=encode(letter)))
            for partition, values in done.outputs.items():
                for value in values:
                    pending.append(await topics.alerts.send(value=value, partition=partition))
            await drain_send_buffer(app)
            await asyncio.gather(*pending)
            await writes.confirm(await writes.send(done.writes))
            progress.add(done.count)
            status.progress(done.count)

    return app.agent(topics.events, name="dedupe")(dedupe)
