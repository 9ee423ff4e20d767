"""The dedupe stage as a Faust agent: events -> alert state table -> `ems.alerts`.

The wrapper only moves records: it decodes a batch, groups it by fingerprint, folds each group with
the pure core (`ems.agents.dedupe.fold`), writes the table once per fingerprint and sends one
AlertChanged per changed fingerprint. Folding a batch per key instead of per record keeps Faust's
per-record cost down to iteration.
"""

from __future__ import annotations

import logging
import os
import time

import faust

from ems.agents.dedupe import fold
from ems.agents.severity import SeverityPolicy
from ems.progress import StageProgress
from ems.schemas.alert import Tracked
from ems.schemas.deadletter import DeadLetter
from ems.schemas.event import Event
from ems.settings import Settings
from ems.streams.app import drain_send_buffer, faust_topics
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.watchdog import EXIT_RESTART, CommitStallWatchdog

log = logging.getLogger(__name__)


def register_dedupe(app: faust.App, settings: Settings) -> faust.types.AgentT:
    """Declare the alert-state table and the dedupe agent on `app`."""
    policy = SeverityPolicy.of(settings.severity_order, settings.clearing_severities)
    topics = faust_topics(app, settings)
    # use_partitioner: the changelog partition follows the key's hash, as the events topic's does
    # (both are keyed by fingerprint), which stays right when a batch spans several partitions.
    # Keys and values are bytes (raw serializer): the state is stored as its JSON.
    table = app.Table("alert-state", default=None, partitions=settings.partitions, use_partitioner=True,
                      key_type=bytes, value_type=bytes)

    progress = StageProgress("dedupe")
    processed: dict[object, int] = {}  # events topic partition -> highest offset the agent saw
    watchdog = CommitStallWatchdog(grace=settings.stall_grace)

    async def dedupe(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(settings.dedupe_batch_size, settings.dedupe_batch_within):
            groups: dict[bytes, list[Event]] = {}
            for ev in batch:
                tp = ev.message.tp
                processed[tp] = max(processed.get(tp, -1), ev.message.offset)
                try:
                    event = decode(ev.value, Event)
                except DecodeError as exc:
                    msg = ev.message
                    letter = DeadLetter.of(stage="dedupe", reason=str(exc), topic=msg.topic,
                                           partition=msg.partition, offset=msg.offset, key=msg.key,
                                           payload=msg.value)
                    log.warning("dead-lettered %s: %s", letter.key, exc)
                    await topics.deadletter.send(key=letter.key.encode(), value=encode(letter))
                    continue
                groups.setdefault(event.fingerprint.encode(), []).append(event)
            for key, events in groups.items():
                stored = table.get(key)
                result = fold(Tracked.model_validate_json(stored) if stored else None, events, policy)
                if result.seen:
                    table[key] = result.tracked.model_dump_json().encode()
                change = result.change()
                if change is not None:
                    await topics.alerts.send(key=key, value=encode(change))
            await drain_send_buffer(app)
            progress.add(len(batch))

    @app.timer(5.0)
    async def check_commits() -> None:
        """Restart the worker when commits are stuck behind processing (see streams.watchdog)."""
        assigned = app.consumer.assignment()
        committed = getattr(app.consumer, "_committed_offset", {})
        current = {tp: off for tp, off in processed.items() if tp in assigned}
        stalled = watchdog.observe(committed, current, time.monotonic())
        if stalled:
            log.error("offset commits stuck behind processing on %s for %.0f s: Faust dropped fetched "
                      "events; exiting with %d so that the supervisor restarts the worker",
                      stalled, settings.stall_grace, EXIT_RESTART)
            os._exit(EXIT_RESTART)

    return app.agent(topics.events, name="dedupe")(dedupe)
