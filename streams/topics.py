"""Topic declarations: what each topic carries, its key, partitions and cleanup policy."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ems.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """One topic: short name (without prefix), what its key is, and how it is kept."""

    name: str
    key: str
    carries: str
    compacted: bool = False
    single_partition: bool = False


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("observations.raw", "asset id (or source)", "Observation: what collectors and the API saw"),
    TopicSpec("events", "fingerprint", "Event: normalized events"),
    TopicSpec("alerts", "fingerprint", "AlertChanged: alert state after each change"),
    TopicSpec("metrics", "asset id", "Observation(kind=metrics): metric sample batches"),
    TopicSpec("commands", "target id", "operator commands from the API"),
    TopicSpec("assets", "asset id", "the asset registry", compacted=True),
    TopicSpec("deadletter", "source topic:partition:offset", "DeadLetter: rejected input + reason"),
)


def topic_name(settings: Settings, spec_name: str) -> str:
    """Full name of a declared topic."""
    return settings.topic(spec_name)


async def ensure_topics(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Create every declared topic that does not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=30_000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {settings.kafka_bootstrap} is not reachable: {exc}") from exc
            await asyncio.sleep(0.5)
    created = []
    try:
        existing = set(await admin.list_topics())
        for spec in TOPICS:
            name = topic_name(settings, spec.name)
            if name in existing:
                continue
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            partitions = 1 if spec.single_partition else settings.partitions
            try:
                await admin.create_topics(
                    [NewTopic(name, partitions, settings.replication_factor, topic_configs=configs)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created
