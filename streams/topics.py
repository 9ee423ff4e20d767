"""Topic declarations: what each topic carries, its key, partitions and cleanup policy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
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
    max_message_bytes: int | None = None  # None: the broker's default (1 MiB on Apache Kafka)
    partitions: int | None = None  # None: EMS_PARTITIONS


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("observations.raw", "asset id (or source)", "Observation: what collectors and the API saw"),
    TopicSpec("events", "fingerprint", "Event: normalized events"),
    TopicSpec("alerts", "fingerprint", "AlertChanged: alert state after each change"),
    TopicSpec("metrics", "asset id", "Observation(kind=metrics): metric sample batches"),
    TopicSpec(
        "apm.spans", "service name", "SpanBatch: the reduced spans of one service from one OTLP request"
    ),
    TopicSpec("commands", "target id", "operator commands from the API"),
    TopicSpec("assets", "asset id", "the asset registry", compacted=True),
    # One writer (the correlation stage), one ordered log of its decisions: a single partition.
    TopicSpec(
        "incidents",
        "correlation",
        "IncidentBatch: the correlation's decisions (incident changes) + its input positions + labels",
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # One writer (the ticket stage, which numbers tickets per type): a single partition.
    TopicSpec(
        "tickets",
        "tickets",
        "TicketBatch: the ticket stage's changes (ticket snapshots with SLA timers) + input positions",
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # One writer (the suppression stage, which keeps every silence and window): a single partition.
    TopicSpec(
        "suppressions",
        "suppressions",
        "SuppressionBatch: the suppression stage's changes (silence and window snapshots) + positions",
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # One writer (the heartbeat stage, which keeps every origin's heartbeat): a single partition.
    TopicSpec(
        "heartbeats",
        "heartbeats",
        "HeartbeatBatch: the heartbeat stage's decisions (beats received, expiries) + input positions",
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # Notification decisions (before any send) and delivery attempts, in one order: a single partition.
    TopicSpec(
        "notifications",
        "notifications",
        "NotificationBatch: notification decisions (notified or muted, deliveries) and delivery attempts",
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # The root-cause model registry: every version published (the model whole) and the live one.
    TopicSpec(
        "models",
        "model:<version> or active",
        "ModelPublished / ModelActivated: root-cause models and which one ranks (docs/rca.md)",
        compacted=True,
        max_message_bytes=8 * 1024 * 1024,
        partitions=1,
    ),
    # A letter carries the refused record base64-encoded (a third larger) plus the reason.
    TopicSpec(
        "deadletter",
        "source topic:partition:offset",
        "DeadLetter: rejected input + reason",
        max_message_bytes=8 * 1024 * 1024,
    ),
)


async def create_missing_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    replication: int = 1,
    timeout: float = 60.0,
) -> list[str]:
    """Create the `topics` (name -> partition count) that do not exist yet; return those created.

    Waits up to `timeout` s for the broker to be reachable. Existing topics are left as they are;
    one created meanwhile by another process (API and worker start together) is not an error.
    `configs` maps a topic name to its topic configuration (e.g. `cleanup.policy`).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
            await asyncio.sleep(0.5)
    created = []
    try:
        existing = set(await admin.list_topics())
        for name, partitions in topics.items():
            if name in existing:
                continue
            config = dict((configs or {}).get(name, {}))
            try:
                await admin.create_topics([NewTopic(name, partitions, replication, topic_configs=config)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        # A consumer that subscribes before the broker's metadata lists a new topic is assigned
        # nothing and only notices after metadata.max.age (5 min): wait until all are visible.
        await _wait_visible(admin, {name: topics[name] for name in created}, deadline)
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


async def _wait_visible(admin: AIOKafkaAdminClient, topics: Mapping[str, int], deadline: float) -> None:
    while topics:
        described = await admin.describe_topics(list(topics))
        ready = {
            d["topic"]
            for d in described
            if not d["error_code"] and len(d["partitions"]) >= topics[d["topic"]]
        }
        if ready >= set(topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics {sorted(set(topics) - ready)} not visible in the broker's metadata")
        await asyncio.sleep(0.2)


async def ensure_topics(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Create every declared topic that does not exist yet; return the names created."""
    names = {spec.name: settings.topic(spec.name) for spec in TOPICS}
    configs: dict[str, dict[str, str]] = {names[spec.name]: {} for spec in TOPICS}
    for spec in TOPICS:
        if spec.compacted:
            configs[names[spec.name]]["cleanup.policy"] = "compact"
        if spec.max_message_bytes:
            configs[names[spec.name]]["max.message.bytes"] = str(spec.max_message_bytes)
    return await create_missing_topics(
        settings.kafka_bootstrap,
        {names[spec.name]: spec.partitions or settings.partitions for spec in TOPICS},
        configs=configs,
        replication=settings.replication_factor,
        timeout=timeout,
    )
