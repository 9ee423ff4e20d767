"""The Faust application factory and the Faust-side topic handles."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ems.settings import Settings
from ems.streams.faust_fixes import install_faust_fixes
from ems.streams.partitioning import remembering_partitioner


@dataclass(frozen=True)
class FaustTopics:
    """Faust handles of the topics the Faust agents read and write (raw bytes; our codecs decode)."""

    events: faust.TopicT
    alerts: faust.TopicT
    deadletter: faust.TopicT


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured from the settings.

    Tables live in `settings.table_store` with a changelog topic each; state is keyed like its
    source topic. Offsets are committed only after the producer (changelog + outputs) is flushed.
    """
    web = settings.worker_web_port > 0
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store=settings.table_store,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        # As the batch stages' producers (`ems.streams.kafka.make_producer`): Faust's defaults (no
        # linger, 16 KB batches) sent the lifecycle stage's table writes in many small produce
        # requests; measured in docs/performance.md ("Canonical events, Faust's producer batches,
        # remembered states").
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
        producer_partitioner=remembering_partitioner,  # the lifecycle table's writes hash each key
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        # Faust's producer gives a batch up after this long (default 1,200 s) and commits past it:
        # the alert changes and changelog writes in it would be lost after a long broker outage.
        producer_request_timeout=settings.faust_send_timeout,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        table_standby_replicas=0,
        web_enabled=web,
        web_port=settings.worker_web_port if web else 6066,
        web_host="127.0.0.1",
        web_in_thread=False,
        datadir=settings.faust_datadir or str(Path(tempfile.gettempdir()) / f"ems-faust-{os.getuid()}"),
    )
    install_faust_fixes(app)
    if web:

        @app.page("/health")
        async def health(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
            """The worker is up; which partitions it owns."""
            assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment())
            return web.json({"status": "ok", "app": app.conf.id, "assigned": assigned})

        @app.page("/metrics")
        async def metrics(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
            """Prometheus metrics of every stage in this process."""
            return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


async def drain_send_buffer(app: faust.App) -> None:
    """Hand every buffered changelog write to the Kafka client before the current batch is acked.

    Faust's `ProducerBuffer.flush()` returns once 0.1 s pass without a send, possibly with table
    writes still buffered, and the consumer then commits anyway: under load a crash could lose
    table changes whose input offsets were committed. Draining here, before the stream acks the
    batch, means the commit's own client flush covers them.
    """
    buffer = app.producer.buffer
    while buffer.size:
        await buffer.flush()


def faust_topics(app: faust.App, settings: Settings) -> FaustTopics:
    """Declare the topics of the Faust agents on `app` (partition counts as the settings say)."""

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            settings.topic(name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    return FaustTopics(events=topic("events"), alerts=topic("alerts"), deadletter=topic("deadletter"))
