"""One batch of the lifecycle stage, without Kafka: records of `ems.events` in, table writes, alert
change records and dead letters out.

`process_batch` is the whole of the stage's logic around the fold: it decodes EventBatch,
AlertCommand and Tick records, groups events and commands by partition and fingerprint in log order,
folds each group once (`ems.agents.dedupe.fold_isolating`), fires the timers each tick makes due
(`ems.agents.timers.TimerIndex`), and returns what the Faust agent must write and send. It reads the
table but never writes it: reads inside the batch see the batch's own writes first. The agent
(`agents/dedupe_worker.py`) hands all of it to the producer before the batch is acked.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ems.agents.dedupe import FoldResult, Item, fire_due, fold_isolating
from ems.agents.dedupe_states import ParsedStates
from ems.agents.lifecycle import LifecyclePolicy, next_timer
from ems.agents.timers import TimerIndex
from ems.schemas.alert import AlertChanged, AlertChangedBatch, Tracked
from ems.schemas.alert_command import EVENTS_TOPIC_RECORDS, AlertCommand
from ems.schemas.deadletter import DeadLetter
from ems.schemas.event import EventBatch
from ems.streams.chunks import encoded_chunks
from ems.streams.codecs import DecodeError, decode_trusted, encode
from ems.streams.failures import describe
from ems.streams.kafka import letter_for
from ems.streams.partitioning import partition_for

log = logging.getLogger(__name__)
STAGE = "dedupe"


@dataclass
class BatchResult:
    """What one batch produced: the final state per fingerprint key to write to the table (JSON bytes),
    the encoded AlertChangedBatch records per `ems.alerts` partition, the dead letters, and the
    number of events and commands it read."""

    writes: dict[bytes, bytes] = field(default_factory=dict)
    outputs: dict[int, list[bytes]] = field(default_factory=dict)
    letters: list[DeadLetter] = field(default_factory=list)
    count: int = 0


@dataclass(frozen=True)
class BatchConfig:
    """The settings a batch depends on."""

    policy: LifecyclePolicy
    partitions: int
    events_per_record: int


class _View:
    """The table as this batch sees it: its own writes over the stored values."""

    def __init__(self, table: Mapping[bytes, bytes], writes: dict[bytes, bytes]) -> None:
        self.table, self.writes = table, writes

    def get(self, key: bytes) -> bytes | None:
        value = self.writes.get(key)
        return value if value is not None else self.table.get(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.table.items():
            yield key, self.writes.get(key, value)
        for key, value in self.writes.items():
            if key not in self.table:
                yield key, value


def _changes_record(partition: int, changes: list[AlertChanged]) -> AlertChangedBatch:
    return AlertChangedBatch(partition=partition, changes=changes)


def process_batch(
    records: Sequence[Any],
    table: Mapping[bytes, bytes],
    timers: TimerIndex,
    config: BatchConfig,
    states: ParsedStates | None = None,
) -> BatchResult:
    """Process consumed `ems.events` records (Faust Messages or aiokafka ConsumerRecords: `topic`,
    `partition`, `offset`, `key`, `value`) against `table` (fingerprint key -> Tracked JSON).

    `timers` is updated in place (it mirrors the table's due times; a partition is loaded from the
    table at its first tick). `states` remembers the states parsed and written, for the next batch
    (`ems.agents.dedupe_states`). Nothing else is changed: the caller writes `writes` to the table
    and sends `letters` and `outputs`.
    """
    out = BatchResult()
    view = _View(table, out.writes)
    states = ParsedStates() if states is None else states

    def letter(reason: str, msg: Any, item: Item | None = None) -> None:
        if item is None:
            out.letters.append(letter_for(STAGE, reason, msg))
        else:  # one item of a batch record: its own bytes and id
            out.letters.append(letter_for(STAGE, reason, msg, encode(item), item.event_id))

    def store(partition: int, key: bytes, result: FoldResult) -> None:
        out.writes[key] = value = result.tracked.model_dump_json().encode()
        states.remember(key, value, result.tracked)
        alert = result.state
        due = next_timer(alert) if alert else None
        timers.set(partition, key, due[0] if due else None)

    # 1. Decode, grouping events and commands per partition and fingerprint, in log order.
    groups: dict[int, dict[bytes, list[Item]]] = {}
    ticks: dict[int, datetime] = {}
    messages: dict[str, Any] = {}  # command id -> its message (for refusals)
    origin: dict[int, Any] = {}  # id(item) -> the message that carried it
    for msg in records:
        try:
            record = decode_trusted(msg.value, EVENTS_TOPIC_RECORDS)
        except DecodeError as exc:
            letter(str(exc), msg)
            continue
        by_key = groups.setdefault(msg.partition, {})
        if isinstance(record, EventBatch):
            try:  # built without validation (decode_trusted): a value of the wrong type fails here
                keyed = [(event.fingerprint.encode(), event) for event in record.events]
            except Exception as exc:
                letter(f"failed on this record: {describe(exc)}", msg)
                continue
            for key, event in keyed:
                by_key.setdefault(key, []).append(event)
                origin[id(event)] = msg
        elif isinstance(record, AlertCommand):
            origin[id(record)] = msg
            by_key.setdefault(record.fingerprint.encode(), []).append(record)
            messages[record.command.event_id] = msg
        else:
            ticks[msg.partition] = max(record.occurred_at, ticks.get(msg.partition, record.occurred_at))

    # 2. Fold each fingerprint once, keep its state once, collect the changes per partition.
    changes: dict[int, list[AlertChanged]] = {}
    for partition, by_key in groups.items():
        for key, items in by_key.items():
            out.count += len(items)
            stored = view.get(key)
            try:
                tracked = states.read(key, stored) if stored else None
            except ValueError as exc:  # unreadable state: keep its inputs, do not guess
                log.error("dedupe: the stored state of %s cannot be read: %s", key, exc)
                for item in items:
                    reason = f"the stored state of this alert cannot be read: {describe(exc)}"
                    letter(reason, origin[id(item)], item)
                continue
            result, failed = fold_isolating(tracked, items, config.policy)
            for item, exc in failed:  # a bug on this input only: the others are applied
                log.error("dedupe: fold failed on %s", item.event_id, exc_info=exc)
                letter(f"failed on this record: {describe(exc)}", origin[id(item)], item)
            if result.seen or result.changed:
                store(partition, key, result)
            for command, reason in result.refused:
                letter(f"refused {command.command.name}: {reason}", messages[command.command.event_id])
            if (change := result.change()) is not None:
                changes.setdefault(partition, []).append(change)

    # 3. Fire the timers each tick makes due (loading a partition's timers on its first tick).
    for partition, now in ticks.items():
        if not timers.built(partition):
            _load_timers(view, timers, partition, config.partitions)
        for key in timers.pop_due(partition, now):
            stored = view.get(key)
            if not stored:
                continue
            try:
                result = fire_due(states.read(key, stored), now)
            except Exception:  # a bug on this alert's state: log it, keep the others going
                log.exception("dedupe: timers of %s failed", key)
                continue
            if result.changed:
                store(partition, key, result)
                changes.setdefault(partition, []).append(result.change())

    # 4. One AlertChangedBatch per partition (split to fit a Kafka message).
    for partition, batch in changes.items():
        make = functools.partial(_changes_record, partition)
        out.outputs[partition] = list(encoded_chunks(batch, make, config.events_per_record))
    return out


def _load_timers(view: _View, timers: TimerIndex, partition: int, partitions: int) -> None:
    timers.mark_built(partition)
    for key, value in view.items():
        if partition_for(key, partitions) == partition and value:
            try:
                alert = Tracked.model_validate_json(value).alert
            except ValueError as exc:  # reported when an item of it arrives (dead-lettered)
                log.error("dedupe: the stored state of %s cannot be read: %s", key, exc)
                continue
            due = next_timer(alert) if alert else None
            timers.set(partition, key, due[0] if due else None)
