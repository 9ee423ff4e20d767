"""The dedupe stage as a Faust agent: events -> alert state table -> `ems.alerts`.

The wrapper only moves records: it takes EventBatch records (each holds the events of one partition
from one normalize batch), groups their events by fingerprint, folds each group with the pure core
(`ems.agents.dedupe.fold`), writes the table once per fingerprint and sends one AlertChangedBatch
per partition. Faust's per-record cost is paid per batch, not per event (see docs/design.md).
A `StreamGuard` restarts the worker if Faust drops events or stalls.
"""

from __future__ import annotations

import logging

import faust

from ems.agents.dedupe import fold
from ems.agents.severity import SeverityPolicy
from ems.progress import DEAD_LETTERS, StageProgress
from ems.schemas.alert import AlertChangedBatch, Tracked
from ems.schemas.deadletter import DeadLetter
from ems.schemas.event import Event, EventBatch
from ems.settings import Settings
from ems.streams.app import drain_send_buffer, faust_topics
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.faust_guard import StreamGuard

log = logging.getLogger(__name__)


def register_dedupe(app: faust.App, settings: Settings) -> faust.types.AgentT:
    """Declare the alert-state table and the dedupe agent on `app`."""
    policy = SeverityPolicy.of(settings.severity_order, settings.clearing_severities)
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

    progress = StageProgress("dedupe")
    guard = StreamGuard(app, "dedupe", settings.stall_grace, settings.kafka_bootstrap)

    async def dedupe(stream: faust.StreamT) -> None:
        async for records in stream.take_events(settings.dedupe_batch_size, settings.dedupe_batch_within):
            await guard.check(records)
            # 1. Decode the event batches, grouping events per partition and fingerprint, in order.
            groups: dict[int, dict[bytes, list[Event]]] = {}
            for ev in records:
                msg = ev.message
                try:
                    batch = decode(ev.value, EventBatch)
                except DecodeError as exc:
                    letter = DeadLetter.of_record(stage="dedupe", reason=str(exc), record=msg)
                    DEAD_LETTERS.labels("dedupe").inc()
                    log.warning("dead-lettered %s: %s", letter.key, exc)
                    await topics.deadletter.send(key=letter.key.encode(), value=encode(letter))
                    continue
                by_key = groups.setdefault(msg.partition, {})
                for event in batch.events:
                    by_key.setdefault(event.fingerprint.encode(), []).append(event)
            # 2. Fold each fingerprint once, write its state once, collect the changes per partition.
            count = 0
            for partition, by_key in groups.items():
                changes = []
                for key, events in by_key.items():
                    count += len(events)
                    stored = table.get(key)
                    result = fold(Tracked.model_validate_json(stored) if stored else None, events, policy)
                    if result.seen:
                        table[key] = result.tracked.model_dump_json().encode()
                    change = result.change()
                    if change is not None:
                        changes.append(change)
                if changes:
                    out = AlertChangedBatch(partition=partition, changes=changes)
                    await topics.alerts.send(value=encode(out), partition=partition)
            # 3. Hand every table write to the client before the records are acked.
            await drain_send_buffer(app)
            progress.add(count)

    return app.agent(topics.events, name="dedupe")(dedupe)
