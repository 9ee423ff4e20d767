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
   Each batch is extended with what keeps arriving (`EMS_CORRELATION_GATHER`): a burst's partitions
   come in separate fetches, and only what is at hand can be put in event-time order.
2. Per batch: asset snapshots first, then the steps of the alert changes (each start and end of an
   episode at its own time: `episodes.steps`) through the reorder buffer (`correlate_order.py`):
   in event-time order across partitions, applied one by one; the decisions are published whenever
   `EMS_CORRELATION_FLUSH_MEMBERS` memberships changed and at the end of the batch, each record with
   the position of the first input record of every partition with a step not yet applied.
3. The root-cause model follows `ems.models` (docs/rca.md "Model registry"): the rebuild folds the
   topic whole, and each batch applies its new records before any alert, so a published or rolled
   back model ranks from the next batch on, without a restart (`ModelFollower`).
4. The online root-cause model follows `ems.commands` (docs/rca.md "Online model"): each batch
   learns from its new `incident.root_cause` commands before any alert (`FeedbackFollower`) and the
   next record carries the rows learned (`IncidentBatch.labels`) and the commands' positions; the
   rebuild learns the recorded rows again in order and reads the commands from those positions.
5. A redelivered alert change (after a crash) is recognised by its alert version and skipped, so
   re-reading from a conservative position repeats no decision. A record that cannot be decoded, or
   a change the core fails on, is dead-lettered with the reason; the others go on.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.assets_worker import catch_up
from ems.agents.correlate_order import Reorder
from ems.agents.feedback_follower import FeedbackFollower
from ems.agents.model_follower import ModelFollower
from ems.ml.correlation.config import CorrelationConfig, DbscanConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.correlation.episodes import Step
from ems.schemas.alert import AlertChanged, AlertChangedBatch
from ems.schemas.asset import AssetChanged
from ems.schemas.incident import IncidentBatch, IncidentChanged, LearnedLabel
from ems.settings import Settings
from ems.streams.batch_stage import Batch
from ems.streams.codecs import DecodeError, decode, decode_trusted, encode
from ems.streams.failures import Failure, classify, describe
from ems.streams.kafka import DeadLetters, read_to_end
from ems.streams.one_instance import OneInstanceStage

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # inputs after which a record carries the positions even without decisions
# Steps between two looks at whether the pending decisions fill a record (`EMS_CORRELATION_FLUSH_MEMBERS`):
# counting them walks the dirty incidents, thousands in an alert storm, so not after every step. A record
# may carry what up to this many steps changed beyond that bound.
FULL_CHECK_EVERY = 16


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
        rca_online=settings.rca_online,
        rca_online_k=settings.rca_online_k,
        rca_online_max_weight=settings.rca_online_max_weight,
    )


async def read_decisions(
    settings: Settings,
) -> tuple[list[IncidentChanged], dict[str, int], list[LearnedLabel]]:
    """Every incident change and online-model label published so far, in order, and the positions
    of the last record."""
    changes: list[IncidentChanged] = []
    labels: list[LearnedLabel] = []
    positions: dict[str, int] = {}
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("incidents")):
        try:
            batch = decode(msg.value, IncidentBatch)
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("correlate: skipping an unreadable record at %d: %s", msg.offset, exc)
            continue
        changes.extend(batch.changes)
        labels.extend(batch.labels)
        if batch.positions:
            positions = dict(batch.positions)
    return changes, positions, labels


class CorrelateWorker(OneInstanceStage):
    """Runs the correlation stage until `stop()`."""

    stage = "correlate"
    keeps = "every alert (correlation needs them all)"

    def __init__(self, settings: Settings) -> None:
        self.alerts_topic = settings.topic("alerts")
        self.assets_topic = settings.topic("assets")
        self.incidents_topic = settings.topic("incidents")
        self.models_topic = settings.topic("models")
        self.commands_topic = settings.topic("commands")
        super().__init__(
            settings,
            (self.alerts_topic, self.assets_topic, self.models_topic, self.commands_topic),
            f"{settings.app_id}-correlate",
            settings.batch_max_records,
            fetch_max_wait_ms=50,
        )
        self.config = config_from(settings)
        self.core = Correlator(self.config)
        self.models = ModelFollower(self.config.rca_model)
        self.feedback = FeedbackFollower(self.config)
        self.positions: dict[str, int] = {}  # "alerts:<partition>" -> next offset to apply
        self.order = Reorder()  # steps held until every partition passed their time
        self._since_positions = 0

    # -- step 1 ----------------------------------------------------------------------------------
    def whole_topics(self) -> tuple[str, ...]:
        # The instance holding every alert partition correlates; it follows the model registry and the
        # operators' feedback too.
        return (self.alerts_topic, self.models_topic, self.commands_topic)

    def idle(self) -> None:
        self.core = None

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        """Step 1 on each assignment: the topology from `ems.assets`, the incidents from `ems.incidents`."""
        core = Correlator(self.config)
        snapshots = await catch_up(self, assigned)
        for asset in sorted(snapshots.values(), key=lambda a: a.asset_id):
            core.asset(asset)
        changes, positions, labels = await read_decisions(self.settings)
        core.restore(changes)
        model_parts = [tp for tp in assigned if tp.topic == self.models_topic]
        model_ends = await self.consumer.end_offsets(model_parts)  # read to at least these: no gap
        self.models = ModelFollower(self.config.rca_model)
        async for msg in read_to_end(self.settings.kafka_bootstrap, self.models_topic):
            if refused := self.models.apply(msg.value):
                log.warning("correlate: model registry record at %d not applied: %s", msg.offset, refused)
        self.models.install(core)
        self.feedback = FeedbackFollower(self.config)
        self.feedback.decisions(changes)
        self.feedback.restore(labels, positions)
        self.feedback.install(core)
        self.core, self.positions, self.order = core, positions, Reorder()
        for tp in sorted(assigned):
            if tp.topic == self.models_topic:
                self.consumer.seek(tp, model_ends[tp])  # a record read twice is applied once
            elif tp.topic == self.commands_topic:  # after the last command a record took
                await self.seek(tp, positions.get(f"commands:{tp.partition}"))
            elif tp.topic == self.alerts_topic:
                await self.seek(tp, positions.get(f"alerts:{tp.partition}"))
        return (
            f"{len(snapshots)} assets, {len(changes)} incident changes ({len(core.incidents)} incidents "
            f"kept), root-cause model {self.models.live}, {self.feedback.summary}"
        )

    # -- step 2 ----------------------------------------------------------------------------------
    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        if self.core is None:
            return
        quiet = await self._gather(batch)
        for tp, messages in batch.items():
            if tp.topic == self.models_topic:  # before any alert: the whole batch ranks with it
                await self._models(messages, dead)
        feedback = [
            msg for tp, messages in batch.items() if tp.topic == self.commands_topic for msg in messages
        ]
        if feedback:  # before any alert too
            taken = self.feedback.apply(feedback, self.core.topology)
            self.status.skipped += taken.unreadable
            for partition, offset in taken.resume.items():  # the record is full: read them again
                self.consumer.seek(TopicPartition(self.commands_topic, partition), offset)
        for tp, messages in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
            if tp.topic in (self.models_topic, self.commands_topic):
                continue
            if tp.topic == self.assets_topic:
                for msg in messages:
                    await self._asset(msg, dead)
                continue
            for msg in messages:
                self.order.record(msg)
                for change in await self._changes(msg, dead):
                    if self.core.accept(change):  # else applied before (a redelivery after a crash)
                        self.order.push(msg, change)
        failed: set[str] = set()
        applied = 0
        for msg, step in self.order.release(quiet):
            await self._step(step, msg, dead, failed)
            self.order.done(msg)
            applied += 1
            if applied % FULL_CHECK_EVERY == 0 and self._record_full():
                await self._publish(producer)
        self._since_positions += applied
        await self._publish(producer, force=self._since_positions >= POSITIONS_EVERY)

    async def _gather(self, batch: Batch) -> bool:
        """Wait for what is still coming (up to `EMS_CORRELATION_GATHER` s without a record, at most
        8 times as long): the partitions of one burst arrive in separate fetches. The records join
        `batch` (committed with it). True when the input went quiet."""
        quiet = self.settings.correlation_gather
        if quiet <= 0:
            return True
        deadline = time.monotonic() + 8 * quiet
        while time.monotonic() < deadline:
            more = await self.consumer.getmany(timeout_ms=int(quiet * 1000), max_records=self.max_records)
            if not more:
                return True
            for tp, messages in more.items():
                batch.setdefault(tp, []).extend(messages)
        return False

    async def _models(self, messages: list[ConsumerRecord], dead: DeadLetters) -> None:
        for msg in messages:
            if refused := self.models.apply(msg.value):
                await dead.reject(refused, msg)
        before = self.core.ranker.version if self.core.ranker else "off"
        if self.models.install(self.core):
            log.info("correlate: root-cause model %s -> %s", before, self.models.live)

    async def _asset(self, msg: ConsumerRecord, dead: DeadLetters) -> None:
        try:
            changed = decode(msg.value, AssetChanged)
        except DecodeError:
            self.status.skipped += 1
            return  # the assets projection dead-letters undecodable snapshots
        try:
            self.core.asset(changed)
        except Exception as exc:
            if classify(exc) is Failure.TRANSIENT:
                raise
            log.exception("correlate: failed on asset %s", changed.asset.asset_id)
            await dead.reject(f"failed on this record: {describe(exc)}", msg)

    async def _changes(self, msg: ConsumerRecord, dead: DeadLetters) -> list[AlertChanged]:
        try:
            return decode_trusted(msg.value, AlertChangedBatch).changes
        except DecodeError as exc:
            await dead.reject(str(exc), msg)
            return []

    async def _step(self, step: Step, msg: ConsumerRecord, dead: DeadLetters, failed: set[str]) -> None:
        change = step.change
        if change.event_id in failed:
            return
        try:
            self.core.step(step)
        except Exception as exc:
            if classify(exc) is Failure.TRANSIENT:
                raise
            failed.add(change.event_id)
            log.exception("correlate: failed on alert change %s", change.event_id)
            reason = f"failed on this record: {describe(exc)}"
            await dead.reject_item(reason, msg, encode(change), change.event_id)

    def _record_full(self) -> bool:
        limit = self.settings.correlation_flush_members
        return self.core.pending_members(at_least=limit) >= limit

    async def _publish(self, producer: AIOKafkaProducer, force: bool = False) -> None:
        changes = self.core.flush()
        self.feedback.decisions(changes)
        labels = self.feedback.take()
        if not changes and not labels and not force:
            return
        pending = self.order.positions()
        positions = {
            **self.positions,
            **{f"alerts:{p}": o for p, o in pending.items()},
            **self.feedback.positions(),
        }
        self.positions = positions
        self._since_positions = 0
        record = IncidentBatch(changes=changes, positions=positions, seq=self.core.seq, labels=labels)
        await self.emit(producer, self.incidents_topic, encode(record), key=record.key.encode(), partition=0)
