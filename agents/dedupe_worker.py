"""The dedupe + lifecycle stage as a Faust agent: events, commands, ticks -> alert state -> `ems.alerts`.

The wrapper only moves records. From `ems.events` it takes EventBatch records (the events of one
partition from one normalize batch), AlertCommand records (operator commands, forwarded by the
command router) and Tick records (the clock). It groups events and commands by fingerprint in log
order, folds each group with the pure core (`ems.agents.dedupe.fold`), writes the table once per
fingerprint, fires the timers a tick makes due, and sends one AlertChangedBatch per partition.
Faust's per-record cost is paid per batch, not per event (see docs/design.md). A `StreamGuard`
restarts the worker if Faust drops events or stalls.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

import faust

from ems.agents.dedupe import FoldResult, Item, fire_due, fold_isolating
from ems.agents.lifecycle import LifecyclePolicy, next_timer
from ems.agents.timers import TimerIndex
from ems.progress import DEAD_LETTERS, StageProgress
from ems.schemas.alert import AlertChanged, AlertChangedBatch, Tracked
from ems.schemas.alert_command import EVENTS_TOPIC_RECORDS, AlertCommand
from ems.schemas.event import EventBatch
from ems.settings import Settings
from ems.streams.app import drain_send_buffer, faust_topics
from ems.streams.chunks import encoded_chunks
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.failures import describe
from ems.streams.faust_guard import StreamGuard, faust_lag
from ems.streams.kafka import letter_for
from ems.streams.partitioning import partition_for
from ems.streams.stage_status import stage_status

log = logging.getLogger(__name__)


def _changes_record(partition: int, changes: list[AlertChanged]) -> AlertChangedBatch:
    return AlertChangedBatch(partition=partition, changes=changes)


def register_dedupe(app: faust.App, settings: Settings) -> faust.types.AgentT:
    """Declare the alert-state table and the dedupe agent on `app`."""
    policy = LifecyclePolicy.of(settings)
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

    @app.on_partitions_assigned.connect
    async def _forget_timers(sender: Any, assigned: Any, **kwargs: Any) -> None:
        timers.reset()  # the partitions held may have changed: reload lazily at the next tick

    progress = StageProgress("dedupe")
    status = stage_status("dedupe")
    guard = StreamGuard(app, "dedupe", settings.stall_grace, settings.kafka_bootstrap)
    status.lag_source = lambda: faust_lag(app, guard.processed)

    async def dead_letter(reason: str, msg: Any, item: Item | None = None) -> None:
        if item is None:
            letter = letter_for("dedupe", reason, msg)
        else:  # one item of a batch record: its own bytes and id
            letter = letter_for("dedupe", reason, msg, encode(item), item.event_id)
        DEAD_LETTERS.labels("dedupe").inc()
        status.dead_letters += 1
        log.warning("dead-lettered %s: %s", letter.key, reason[:300])
        await topics.deadletter.send(key=letter.key.encode(), value=encode(letter))

    def store(partition: int, key: bytes, result: FoldResult) -> None:
        table[key] = result.tracked.model_dump_json().encode()
        alert = result.state
        due = next_timer(alert) if alert else None
        timers.set(partition, key, due[0] if due else None)

    def load_timers(partition: int) -> None:
        timers.mark_built(partition)
        for key, value in table.items():
            if partition_for(key, settings.partitions) == partition and value:
                try:
                    alert = Tracked.model_validate_json(value).alert
                except ValueError as exc:  # reported when an item of it arrives (dead-lettered)
                    log.error("dedupe: the stored state of %s cannot be read: %s", key, exc)
                    continue
                due = next_timer(alert) if alert else None
                timers.set(partition, key, due[0] if due else None)

    async def dedupe(stream: faust.StreamT) -> None:
        async for records in stream.take_events(settings.dedupe_batch_size, settings.dedupe_batch_within):
            await guard.check(records)
            # 1. Decode, grouping events and commands per partition and fingerprint, in log order.
            groups: dict[int, dict[bytes, list[Item]]] = {}
            ticks: dict[int, datetime] = {}
            messages: dict[str, Any] = {}  # command id -> its message (for refusals)
            origin: dict[int, Any] = {}  # id(item) -> the message that carried it
            for ev in records:
                msg = ev.message
                try:
                    record = decode(ev.value, EVENTS_TOPIC_RECORDS)
                except DecodeError as exc:
                    await dead_letter(str(exc), msg)
                    continue
                by_key = groups.setdefault(msg.partition, {})
                if isinstance(record, EventBatch):
                    for event in record.events:
                        by_key.setdefault(event.fingerprint.encode(), []).append(event)
                        origin[id(event)] = msg
                elif isinstance(record, AlertCommand):
                    origin[id(record)] = msg
                    by_key.setdefault(record.fingerprint.encode(), []).append(record)
                    messages[record.command.event_id] = msg
                else:
                    ticks[msg.partition] = max(
                        record.occurred_at, ticks.get(msg.partition, record.occurred_at)
                    )
            # 2. Fold each fingerprint once, write its state once, collect the changes per partition.
            count = 0
            changes: dict[int, list[AlertChanged]] = {}
            for partition, by_key in groups.items():
                for key, items in by_key.items():
                    count += len(items)
                    stored = table.get(key)
                    try:
                        tracked = Tracked.model_validate_json(stored) if stored else None
                    except ValueError as exc:  # unreadable state: keep its inputs, do not guess
                        log.error("dedupe: the stored state of %s cannot be read: %s", key, exc)
                        for item in items:
                            reason = f"the stored state of this alert cannot be read: {describe(exc)}"
                            await dead_letter(reason, origin[id(item)], item)
                        continue
                    result, failed = fold_isolating(tracked, items, policy)
                    for item, exc in failed:  # a bug on this input only: the others are applied
                        log.error("dedupe: fold failed on %s", item.event_id, exc_info=exc)
                        await dead_letter(f"failed on this record: {describe(exc)}", origin[id(item)], item)
                    if result.seen or result.changed:
                        store(partition, key, result)
                    for command, reason in result.refused:
                        await dead_letter(
                            f"refused {command.command.name}: {reason}", messages[command.command.event_id]
                        )
                    if (change := result.change()) is not None:
                        changes.setdefault(partition, []).append(change)
            # 3. Fire the timers each tick makes due (loading a partition's timers on its first tick).
            for partition, now in ticks.items():
                if not timers.built(partition):
                    load_timers(partition)
                for key in timers.pop_due(partition, now):
                    stored = table.get(key)
                    if not stored:
                        continue
                    try:
                        result = fire_due(Tracked.model_validate_json(stored), now)
                    except Exception:  # a bug on this alert's state: log it, keep the others going
                        log.exception("dedupe: timers of %s failed", key)
                        continue
                    if result.changed:
                        store(partition, key, result)
                        changes.setdefault(partition, []).append(result.change())
            for partition, batch in changes.items():
                make = functools.partial(_changes_record, partition)
                for value in encoded_chunks(batch, make, settings.events_per_record):
                    await topics.alerts.send(value=value, partition=partition)
            # 4. Hand every table write to the client before the records are acked.
            await drain_send_buffer(app)
            progress.add(count)
            status.progress(count)

    return app.agent(topics.events, name="dedupe")(dedupe)
