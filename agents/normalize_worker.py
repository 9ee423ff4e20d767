"""The normalize stage on batched aiokafka: raw topic -> event batches (and metrics), dead letters.

Stateless and high-volume, so it runs on plain aiokafka batches rather than a Faust agent
(GUIDE section 2: Faust's per-record machinery costs ~20x here). Delivery is at-least-once: a crash
between produce and commit re-sends a range of events with the same ids and raw positions, which
the dedupe stage recognises and skips.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from ems.agents.fingerprint import Fingerprinter
from ems.agents.normalize import Normalizer, Rejected
from ems.agents.severity import SeverityPolicy
from ems.schemas.canonical import utc_text
from ems.schemas.envelope import new_id, utcnow
from ems.schemas.event import EventBatch
from ems.schemas.event_canonical import canonical_event
from ems.schemas.metrics_canonical import canonical
from ems.schemas.observation import EventBody, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.batch_stage import Batch, BatchStage, guarded
from ems.streams.chunks import fitted_chunks
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters
from ems.streams.partitioning import partition_for

log = logging.getLogger(__name__)


def events_value(partition: int, events: list[dict[str, Any]]) -> bytes:
    """The bytes `encode` writes for an EventBatch of `partition` holding `events`, each given in
    its JSON form (`Normalizer.normalize_canonical`, or an Event's `model_dump(mode="json")`)."""
    return orjson.dumps(
        {
            "type": EventBatch.TYPE,
            "schema_version": EventBatch.VERSION,
            "event_id": new_id(),
            "occurred_at": utc_text(utcnow()),
            "partition": partition,
            "events": events,
        }
    )


def normalizer_from(settings: Settings) -> Normalizer:
    """The normalize core configured by the settings."""
    return Normalizer(
        severities=SeverityPolicy.of(settings.severity_order, settings.clearing_severities),
        fingerprint=Fingerprinter(settings.fingerprint_fields),
        correlated=Normalizer.correlation_map(settings.correlate),
    )


def canonical_metrics_key(raw: bytes | None) -> str | None:
    """The key of a metrics observation in canonical form (`ems.schemas.metrics_canonical`), or
    None: then the full decode reads the record, or dead-letters it with the reason."""
    if raw is None or b'"metrics"' not in raw:
        return None
    record = canonical(raw)
    return None if record is None else record.key


def record_defaults(msg: ConsumerRecord) -> dict[str, object]:
    """Envelope defaults for a raw record that lacks them, derived from its position and timestamp.

    A producer sets the Kafka timestamp; one Python cannot represent becomes a time the schema
    refuses with its reason, so such a record without its own `occurred_at` is dead-lettered (the
    same way in a replay), not a crash."""
    try:
        at = datetime.fromtimestamp(msg.timestamp / 1000, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        at = f"Kafka timestamp {msg.timestamp} ms"
    return {"event_id": f"raw-{msg.partition}-{msg.offset}", "occurred_at": at}


class NormalizeWorker(BatchStage):
    """Consumes `ems.observations.raw` in batches and publishes normalized records."""

    stage = "normalize"

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            settings.topic("observations.raw"),
            f"{settings.app_id}-normalize",
            settings.batch_max_records,
        )
        self.core = normalizer_from(settings)
        self.events_topic = settings.topic("events")
        self.metrics_topic = settings.topic("metrics")

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Normalize the batch, grouping events by their ems.events partition, one record per group."""
        partitions = len(await producer.partitions_for(self.events_topic))
        grouped: dict[int, list[dict[str, Any]]] = {}
        for messages in batch.values():
            for msg in messages:
                event = await guarded(self.stage, msg, dead, lambda m=msg: self._handle(m, producer, dead))
                if event is not None:
                    part = partition_for(event["fingerprint"].encode(), partitions)
                    grouped.setdefault(part, []).append(event)
        for part, events in grouped.items():
            write = functools.partial(events_value, part)
            for value in fitted_chunks(events, write, self.settings.events_per_record):
                await self.emit(producer, self.events_topic, value, partition=part)

    async def _handle(self, msg: ConsumerRecord, producer, dead: DeadLetters) -> dict[str, Any] | None:
        """The Event of an event observation in its JSON form; other kinds are routed here, rejects
        dead-lettered."""
        metrics = canonical_metrics_key(msg.value)
        if metrics is not None:
            # A canonical metrics record (what collectors and the API write): checked in plain
            # Python, forwarded as it came; the pydantic validation and re-encoding cost ~6x more.
            await self.emit(producer, self.metrics_topic, msg.value, key=metrics.encode())
            return None
        try:
            event = canonical_event(msg.value)
            if event is not None:
                # A canonical event record: checked in plain Python and normalized without
                # building the Observation and Event models (~3x cheaper).
                return self.core.normalize_canonical(event, msg.partition, msg.offset)
            obs = decode(msg.value, Observation, defaults=record_defaults(msg))
            if isinstance(obs.body, EventBody):
                return self.core.normalize(obs, msg.partition, msg.offset).model_dump(mode="json")
        except (DecodeError, Rejected) as exc:
            await dead.reject(str(exc), msg)
            return None
        if isinstance(obs.body, MetricsBody):
            # Canonical (validated, upcast, defaults filled): the metrics projection reads it without
            # validating again (ems.projections.metrics_records).
            await self.emit(producer, self.metrics_topic, encode(obs), key=obs.key.encode())
        # Discoveries and heartbeats stay on the raw topic, the source of truth, for the stages
        # that consume them (asset registry, heartbeat monitor).
        return None
