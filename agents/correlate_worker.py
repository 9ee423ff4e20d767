"""The correlation stage on batched aiokafka: alert changes + asset snapshots -> `ems.incidents`.

Correlation needs every alert at once (an incident spans partitions), so ONE instance runs it: it
takes every partition of `ems.alerts` and `ems.assets`, and publishes its decisions to the single
partition of `ems.incidents` as `IncidentBatch` records, each whole (a record is all or nothing) and
carrying the input positions its decisions include.

Protocol:
1. After every assignment, before anything is applied: the topology is rebuilt from `ems.assets`
   (latest snapshot per asset, read to its end), the correlator's state from its own output
   (`ems.incidents`, folded in order), and the alert partitions are sought to the positions of the
   last record (the beginning when there is none); the asset partitions to where the rebuild ended.
   What was fetched before the seek is dropped.
2. Per batch: asset snapshots first, then the alert changes merged across partitions by event time
   (each partition's own order kept), applied one by one; the decisions are published whenever
   `EMS_CORRELATION_FLUSH_MEMBERS` memberships changed and at the end of the batch, each record with
   the position of the first input record of every partition not yet wholly applied.
3. A redelivered alert change (after a crash) is recognised by its alert version and skipped, so
   re-reading from a conservative position repeats no decision. A record that cannot be decoded, or
   a change the core fails on, is dead-lettered with the reason; the others go on.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from ems.agents.assets_worker import read_snapshots
from ems.ml.correlation.config import CorrelationConfig, DbscanConfig
from ems.ml.correlation.engine import Correlator
from ems.schemas.alert import AlertChanged, AlertChangedBatch
from ems.schemas.asset import AssetChanged
from ems.schemas.incident import IncidentBatch, IncidentChanged
from ems.settings import Settings
from ems.streams.batch_stage import Batch, BatchStage
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.failures import Failure, classify, describe
from ems.streams.kafka import DeadLetters, read_to_end

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # inputs after which a record carries the positions even without decisions


def config_from(settings: Settings) -> CorrelationConfig:
    """The correlation parameters the settings give."""
    return CorrelationConfig(
        max_hops=settings.correlation_max_hops,
        link_window_s=settings.correlation_link_window,
        linger_s=settings.correlation_linger,
        split_after_s=settings.correlation_split_after,
        down_events=settings.correlation_down_events,
        rules=tuple(settings.correlation_rules),
        dbscan=DbscanConfig(
            eps=settings.correlation_dbscan_eps,
            min_samples=settings.correlation_dbscan_min_samples,
            window_s=settings.correlation_dbscan_window,
        ),
        severity_order=tuple(s for s in settings.severity_order if s not in settings.clearing_severities),
    )


async def read_decisions(settings: Settings) -> tuple[list[IncidentChanged], dict[str, int]]:
    """Every incident change published so far, in order, and the positions of the last record."""
    changes: list[IncidentChanged] = []
    positions: dict[str, int] = {}
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("incidents")):
        try:
            batch = decode(msg.value, IncidentBatch)
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("correlate: skipping an unreadable record at %d: %s", msg.offset, exc)
            continue
        changes.extend(batch.changes)
        if batch.positions:
            positions = dict(batch.positions)
    return changes, positions


class CorrelateWorker(BatchStage):
    """Runs the correlation stage until `stop()`."""

    stage = "correlate"

    def __init__(self, settings: Settings) -> None:
        self.alerts_topic = settings.topic("alerts")
        self.assets_topic = settings.topic("assets")
        self.incidents_topic = settings.topic("incidents")
        super().__init__(
            settings,
            (self.alerts_topic, self.assets_topic),
            f"{settings.app_id}-correlate",
            settings.batch_max_records,
            fetch_max_wait_ms=50,
        )
        self.config = config_from(settings)
        self.core = Correlator(self.config)
        self.positions: dict[str, int] = {}  # "alerts:<partition>" -> next offset to apply
        self.assigned: set[TopicPartition] | None = None
        self._discard = False
        self._since_positions = 0
        self.rebuild_seconds = 0.0

    # -- step 1 ----------------------------------------------------------------------------------
    def listener(self) -> ConsumerRebalanceListener:
        worker = self

        class Rebuild(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
                pass

            async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
                worker.assigned = set(assigned)  # rebuilt before the next batch (see assets_worker)

        return Rebuild()

    async def before_batch(self) -> None:
        """Step 1 when a rebalance asked for it."""
        if self.assigned is None:
            return
        assigned, self.assigned = self.assigned, None
        self._discard = True
        partitions = self.consumer.partitions_for_topic(self.alerts_topic) or set()
        held = {tp.partition for tp in assigned if tp.topic == self.alerts_topic}
        if held != partitions:
            log.error(
                "correlate: holds alert partitions %s of %s; correlation needs all of them in one "
                "instance (run the correlate stage in one worker only); idle until reassigned",
                sorted(held),
                sorted(partitions),
            )
            self.core = None
            return
        await self.rebuild(assigned)

    async def rebuild(self, assigned: set[TopicPartition]) -> None:
        started = time.perf_counter()
        core = Correlator(self.config)
        asset_parts = {tp.partition for tp in assigned if tp.topic == self.assets_topic}
        snapshots = await read_snapshots(self.settings, asset_parts)
        for asset in sorted(snapshots.values(), key=lambda a: a.asset_id):
            core.asset(asset)
        asset_ends = await self.consumer.end_offsets([tp for tp in assigned if tp.topic == self.assets_topic])
        changes, positions = await read_decisions(self.settings)
        core.restore(changes)
        self.core, self.positions = core, positions
        for tp in sorted(assigned):
            if tp.topic == self.assets_topic:
                # The rebuild read up to at least these ends: what comes later is applied live.
                self.consumer.seek(tp, asset_ends[tp])
            elif f"alerts:{tp.partition}" in positions:
                self.consumer.seek(tp, positions[f"alerts:{tp.partition}"])
            else:
                await self.consumer.seek_to_beginning(tp)
        self.rebuild_seconds = time.perf_counter() - started
        log.info(
            "correlate: state rebuilt: %d assets, %d incident changes (%d incidents kept) in %.2f s",
            len(snapshots),
            len(changes),
            len(core.incidents),
            self.rebuild_seconds,
        )

    # -- step 2 ----------------------------------------------------------------------------------
    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        if self._discard:  # fetched before the seeks of step 1
            self._discard = False
            return
        if self.core is None:
            return
        pending: dict[int, int] = {}  # alert partition -> first offset not wholly applied yet
        streams = []
        for tp, messages in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
            if tp.topic == self.assets_topic:
                for msg in messages:
                    await self._asset(msg, dead)
                continue
            pending[tp.partition] = messages[0].offset
            streams.append(self._changes(tp.partition, messages, dead))
        count = 0
        for _, _, _, msg, change, last in heapq.merge(*[await s for s in streams]):
            await self._apply(change, msg, dead)
            count += 1
            if last:
                pending[msg.partition] = msg.offset + 1
            if self.core.pending_members() >= self.settings.correlation_flush_members:
                await self._publish(producer, pending)
        self._since_positions += count
        await self._publish(producer, pending, force=self._since_positions >= POSITIONS_EVERY)

    async def _asset(self, msg: ConsumerRecord, dead: DeadLetters) -> None:
        try:
            changed = decode(msg.value, AssetChanged)
        except DecodeError:
            return  # the assets projection dead-letters undecodable snapshots
        try:
            self.core.asset(changed)
        except Exception as exc:
            if classify(exc) is Failure.TRANSIENT:
                raise
            log.exception("correlate: failed on asset %s", changed.asset.asset_id)
            await dead.reject(f"failed on this record: {describe(exc)}", msg)

    async def _changes(self, partition: int, messages: list[ConsumerRecord], dead: DeadLetters) -> list:
        """(event time, partition, index, message, change, last of its record) of one partition."""
        out = []
        for msg in messages:
            try:
                record = decode(msg.value, AlertChangedBatch)
            except DecodeError as exc:
                await dead.reject(str(exc), msg)
                continue
            for i, change in enumerate(record.changes):
                last = i == len(record.changes) - 1
                out.append((change.occurred_at, partition, len(out), msg, change, last))
        # Event-time order within the partition could reorder one alert's changes: keep the log's.
        return sorted(_monotonic(out))

    async def _apply(self, change: AlertChanged, msg: ConsumerRecord, dead: DeadLetters) -> None:
        try:
            self.core.apply(change)
        except Exception as exc:
            if classify(exc) is Failure.TRANSIENT:
                raise
            log.exception("correlate: failed on alert change %s", change.event_id)
            await dead.reject_item(
                f"failed on this record: {describe(exc)}", msg, encode(change), change.event_id
            )

    async def _publish(
        self, producer: AIOKafkaProducer, pending: dict[int, int], force: bool = False
    ) -> None:
        changes = self.core.flush()
        if not changes and not force:
            return
        positions = {**self.positions, **{f"alerts:{p}": o for p, o in pending.items()}}
        self.positions = positions
        self._since_positions = 0
        record = IncidentBatch(changes=changes, positions=positions, seq=self.core.seq)
        await self.emit(producer, self.incidents_topic, encode(record), key=record.key.encode(), partition=0)


def _monotonic(items: list[tuple]) -> Iterator[tuple]:
    """The items with event times made non-decreasing in log order (a late change takes its
    predecessor's time for sorting), so sorting by time never reorders one partition."""
    floor = None
    for at, *rest in items:
        floor = at if floor is None or at > floor else floor
        yield (floor, *rest)
