"""The `anomaly` stage: `ems.metrics` -> `MetricAnomaly` raises and clears on `ems.observations.raw`.

One `Detector` (ems.ml.anomaly) per assigned partition, fed in offset order, so its verdicts depend on
that partition's log alone. The models are not stored: after each assignment (a start, a restart, a
rebalance) the stage seeks every assigned partition back `EMS_ANOMALY_REPLAY_RECORDS` records before
its committed offset and replays them without publishing; from the committed offset on it publishes
as usual. A group without a committed offset judges the partition from its beginning, as every stage
does (EMS_ANOMALY_REPLAY_RECORDS does not apply). What was fetched before the seeks is dropped.
See docs/anomaly.md.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter, Gauge

from ems.agents.normalize_worker import record_defaults
from ems.ml.anomaly.detector import AnomalyConfig, Detector
from ems.ml.anomaly.events import feed
from ems.projections.metrics_records import MetricsRecord, read_metrics
from ems.schemas.observation import Observation
from ems.settings import Settings
from ems.streams.batch_stage import Batch, BatchStage, guarded
from ems.streams.codecs import DecodeError, encode
from ems.streams.kafka import DeadLetters

log = logging.getLogger(__name__)
PUBLISHED = Counter(
    "ems_anomaly_events", "MetricAnomaly raises (warning) and clears (ok) published", ["severity"]
)
SERIES = Gauge("ems_anomaly_series", "Metric series the anomaly stage keeps in this process")


def config_of(settings: Settings) -> AnomalyConfig:
    """The detector's configuration from the EMS_ANOMALY_* settings."""
    return AnomalyConfig(
        threshold=settings.anomaly_threshold,
        consecutive=settings.anomaly_consecutive,
        warmup=settings.anomaly_warmup,
        window=settings.anomaly_window,
        adapt_after=settings.anomaly_adapt_after,
    )


def read_samples(msg: ConsumerRecord) -> MetricsRecord:
    """The samples of an `ems.metrics` record: with the plain check when canonical (as normalize
    publishes them; ~a third of the pydantic validation), else the full decode with the record's
    defaults, which raises `DecodeError` with the reason."""
    return read_metrics(msg.value, record_defaults(msg))


class AnomalyWorker(BatchStage):
    """Consumes `ems.metrics` in batches; publishes anomaly observations to `ems.observations.raw`."""

    stage = "anomaly"

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings, settings.topic("metrics"), f"{settings.app_id}-anomaly", settings.batch_max_records
        )
        self.raw = settings.topic("observations.raw")
        self.config = config_of(settings)
        self.detectors: dict[int, Detector] = {}
        self.publish_from: dict[int, int] = {}  # partition -> first offset whose verdicts are published

    async def on_assign(self, assigned: set[TopicPartition]) -> bool:
        await self.rebuild(assigned)
        return True

    async def rebuild(self, assigned: set[TopicPartition]) -> None:
        """Fresh detectors for the assigned partitions, each sought back to replay its recent past."""
        consumer = self.consumer
        assert consumer is not None
        parts = sorted(assigned)
        begins = await consumer.beginning_offsets(parts) if parts else {}
        self.detectors = {tp.partition: Detector(self.config) for tp in parts}
        self.publish_from = {}
        for tp in parts:
            committed = await consumer.committed(tp)
            if committed is None:
                consumer.seek(tp, begins[tp])
                continue
            self.publish_from[tp.partition] = committed
            consumer.seek(tp, max(begins[tp], committed - self.settings.anomaly_replay_records))
        log.info("anomaly: replaying up to %s", {p: o for p, o in self.publish_from.items()})

    def offsets_to_commit(self, batch: Batch) -> dict[TopicPartition, int]:
        """Only past records judged now: a replay never moves the committed offset back."""
        return {
            tp: msgs[-1].offset + 1
            for tp, msgs in batch.items()
            if msgs[-1].offset >= self.publish_from.get(tp.partition, 0)
        }

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        for tp in sorted(batch, key=lambda tp: tp.partition):
            detector = self.detectors.setdefault(tp.partition, Detector(self.config))
            publish_from = self.publish_from.get(tp.partition, 0)
            for msg in batch[tp]:
                if msg.offset < publish_from:
                    self._replay(detector, msg)
                    continue
                outputs = await guarded(self.stage, msg, dead, lambda m=msg, d=detector: self._judge(d, m))
                for obs in outputs or ():
                    await self.emit(producer, self.raw, encode(obs), obs.key.encode())
                    PUBLISHED.labels(obs.body.severity).inc()  # type: ignore[union-attr]
        SERIES.set(sum(len(d.series) for d in self.detectors.values()))

    async def _judge(self, detector: Detector, msg: ConsumerRecord) -> list[Observation]:
        try:
            record = read_samples(msg)
        except DecodeError as exc:  # the metrics projection dead-letters it: one letter per record
            self.status.skipped += 1
            log.warning("anomaly: skipping an unreadable record at %d:%d: %s", msg.partition, msg.offset, exc)
            return []
        return feed(detector, record)

    def _replay(self, detector: Detector, msg: ConsumerRecord) -> None:
        """Learn from a record already judged before (its letters and outputs were published then)."""
        try:
            feed(detector, read_samples(msg))
        except Exception:  # noqa: BLE001 - it failed (and was dead-lettered) when it was first judged
            log.debug("anomaly: replayed record %s:%s refused again", msg.partition, msg.offset)
