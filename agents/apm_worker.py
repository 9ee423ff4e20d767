"""The `apm` stage: `ems.apm.spans` -> per-endpoint metrics, High Response Time events and service /
database discoveries on `ems.observations.raw` (stored and raised by the existing pipeline).

Spans are keyed by service, so all of a service's spans meet in one instance; its windows advance
with its own spans' end times only (one service's exporter running ahead of another's makes no
span of the other late), so replaying the topic gives the same records.
Offsets are committed after each batch; a restart loses the windows still open then (docs/apm.md).
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from ems.apm.dependencies import DependencyMap
from ems.apm.publish import ResponseTimeAlerts, ResponseTimeRule, metrics
from ems.apm.windows import Windows
from ems.schemas.observation import Observation
from ems.schemas.span import SpanBatch
from ems.settings import Settings
from ems.streams.batch_stage import Batch, BatchStage
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters

log = logging.getLogger(__name__)
LATE = Counter("ems_apm_late_spans", "Server spans that arrived after their window was published")


class ApmCore:
    """Everything the stage keeps, without Kafka: feed batches, get the observations to publish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.windows: dict[tuple[str | None, str], Windows] = {}
        self.dependencies = DependencyMap()
        self.alerts = ResponseTimeAlerts(
            ResponseTimeRule(settings.apm_p95_threshold_ms, dict(settings.apm_p95_thresholds))
        )

    def add(self, batch: SpanBatch) -> list[Observation]:
        """Count a batch; the discoveries it causes."""
        key = (batch.tenant, batch.service)
        windows = self.windows.get(key)
        if windows is None:
            windows = self.windows[key] = Windows(
                self.settings.apm_window_seconds, self.settings.apm_grace_seconds
            )
        late = windows.late
        windows.add(batch)
        if windows.late > late:
            LATE.inc(windows.late - late)
            log.warning("apm: %d late span(s) of %s left out", windows.late - late, batch.service)
        return self.dependencies.add(batch)

    def close(self) -> list[Observation]:
        """The metrics (and alert changes) of every window closed by now."""
        out: list[Observation] = []
        for key in sorted(self.windows, key=str):
            for window in self.windows[key].close():
                out.append(metrics(window))
                event = self.alerts.observe(window)
                if event is not None:
                    out.append(event)
        return out


class ApmWorker(BatchStage):
    """Consumes `ems.apm.spans` in batches; publishes observations to `ems.observations.raw`."""

    stage = "apm"

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings, settings.topic("apm.spans"), f"{settings.app_id}-apm", settings.batch_max_records
        )
        self.core = ApmCore(settings)
        self.raw = settings.topic("observations.raw")

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        for messages in batch.values():
            for msg in messages:
                try:
                    record = decode(msg.value, SpanBatch)
                except DecodeError as exc:
                    await dead.reject(str(exc), msg)
                    continue
                for obs in self.core.add(record):
                    await self.emit(producer, self.raw, encode(obs), obs.key.encode())
        for obs in self.core.close():
            await self.emit(producer, self.raw, encode(obs), obs.key.encode())
