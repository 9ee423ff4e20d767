"""The notification stage's decisions on batched aiokafka: alert changes on `ems.alerts`, the silences
and windows on `ems.suppressions`, the asset snapshots on `ems.assets` and the clock on `ems.commands`
-> `NotificationDecided` records on `ems.notifications`.

It keeps every alert's flap state and notified receivers, so ONE instance runs the stage (like the
suppression stage): it takes every partition of `ems.alerts` and publishes to the single partition of
`ems.notifications`, one `NotificationBatch` per input batch (all or nothing), carrying the alert
positions it includes. Nothing is sent here: the sender (agents/notify_sender.py) delivers what the
log holds, so a decision is in the log before its first send. The decisions are the pure core's
(agents/notify.py).

Protocol:
1. After every assignment, before anything is decided: the silences and windows are rebuilt from
   `ems.suppressions` (read to its end, then consumed from there), the asset graph and facts from
   `ems.assets` (`catch_up`: latest snapshot per asset, then consumed live), the core's state from
   its own output (`ems.notifications`), and each alert and command partition is sought to the
   position recorded (the beginning when there is none); what was fetched before the seeks is dropped.
2. Per batch: suppression and asset records first (a silence and an alert in one batch: the silence
   applies), then each alert change is decided (the clock moved to its event time first), then the
   commands move the clock to their event times (a `notify.tick` is the clock alone): the muted alerts
   whose window, silence or flapping ended by then are surfaced (ems.notify.surfacing), the
   notification groups due are flushed and the escalation steps due fired. The decisions go out as one
   record, with the groups, escalations and muted alerts changed.
3. A redelivered alert or command record (after a crash) is below the recorded position and skipped.

`NotifyTicker` appends a `notify.tick` every `EMS_TICK_INTERVAL` s, so groups are flushed, escalation
steps fire and muted alerts surface while idle.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.assets_worker import catch_up
from ems.agents.command_ticker import CommandTicker, clock_command
from ems.agents.notify import Notifier
from ems.notify.escalation import Escalator
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.asset import AssetChanged
from ems.schemas.command import Command
from ems.schemas.notification import NotificationBatch, NotificationDecided
from ems.schemas.suppression import SuppressionBatch
from ems.settings import Settings
from ems.streams.batch_stage import Batch, guarded
from ems.streams.codecs import DecodeError, decode, decode_trusted, encode
from ems.streams.kafka import DeadLetters, read_to_end
from ems.streams.one_instance import OneInstanceStage

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # alert records without a decision after which a record carries the positions alone


async def read_notifications(settings: Settings) -> list[tuple[int, NotificationBatch]]:
    """Every notification batch published so far with its offset, in order."""
    out: list[tuple[int, NotificationBatch]] = []
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("notifications")):
        try:
            out.append((msg.offset, decode(msg.value, NotificationBatch)))
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("notify: skipping an unreadable record at %d: %s", msg.offset, exc)
    return out


class NotifyWorker(OneInstanceStage):
    """Runs the notification decisions until `stop()`."""

    stage = "notify"
    keeps = "every alert's notification state"

    def __init__(self, settings: Settings) -> None:
        self.alerts_topic = settings.topic("alerts")
        self.suppressions_topic = settings.topic("suppressions")
        self.notifications_topic = settings.topic("notifications")
        self.commands_topic = settings.topic("commands")
        self.assets_topic = settings.topic("assets")
        super().__init__(
            settings,
            (self.alerts_topic, self.suppressions_topic, self.commands_topic, self.assets_topic),
            f"{settings.app_id}-notify",
            settings.batch_max_records,
            fetch_max_wait_ms=50,
        )
        self.notifier: Notifier | None = None
        self._unpublished = 0

    def idle(self) -> None:
        self.notifier = None

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        """Step 1 on each assignment: the silences and windows, then the alerts' flap states and
        receivers notified from `ems.notifications`."""
        rules = [r.rule() for r in self.settings.notify_inhibit_rules]
        s = self.settings
        escalator = Escalator(s.notify_escalations, s.notify_users, s.notify_schedules)
        notifier = Notifier(
            s.notify_routes, inhibit_rules=rules, escalator=escalator, down_events=s.correlation_down_events
        )
        suppressions_end = 0
        async for msg in read_to_end(self.settings.kafka_bootstrap, self.suppressions_topic):
            suppressions_end = msg.offset + 1
            self._suppression(notifier, msg)
        assets = await catch_up(self, assigned)  # seeks the asset partitions
        for asset in sorted(assets.values(), key=lambda a: a.asset_id):
            notifier.apply_asset(asset)
        published = await read_notifications(self.settings)
        notifier.restore(batch for _, batch in published)
        for tp in sorted(assigned):
            if tp.topic == self.assets_topic:
                continue
            if tp.topic == self.suppressions_topic:
                self.consumer.seek(tp, suppressions_end)
            else:
                await self.seek(tp, notifier.positions.get(self._source(tp.topic, tp.partition)))
        self.notifier, self._unpublished = notifier, 0
        groups = len(notifier.grouper.groups)
        return (
            f"{len(published)} records ({len(notifier.flap)} alerts, {groups} groups), {len(assets)} assets"
        )

    def _source(self, topic: str, partition: int) -> str:
        return f"{'commands' if topic == self.commands_topic else 'alerts'}:{partition}"

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Step 2: apply the suppression changes, decide the alert changes, publish the decisions."""
        if self.notifier is None:
            return
        for tp in [tp for tp in batch if tp.topic == self.suppressions_topic]:
            for msg in batch[tp]:
                if not self._suppression(self.notifier, msg):
                    self.status.skipped += 1
        for tp in sorted((tp for tp in batch if tp.topic == self.assets_topic), key=lambda tp: tp.partition):
            for msg in batch[tp]:
                try:
                    self.notifier.apply_asset(decode(msg.value, AssetChanged).asset)
                except DecodeError:
                    self.status.skipped += 1  # the assets projection dead-letters it
        decisions: list[NotificationDecided] = []
        for topic in (self.alerts_topic, self.commands_topic):
            for tp in sorted((tp for tp in batch if tp.topic == topic), key=lambda tp: tp.partition):
                for msg in batch[tp]:
                    made = await guarded(self.stage, msg, dead, lambda m=msg: self._decide(m))
                    decisions.extend(made or [])
        decisions += self.notifier.advance(None)  # a group that joined overdue is flushed now
        inputs = (self.alerts_topic, self.commands_topic)
        self._unpublished += sum(len(batch[tp]) for tp in batch if tp.topic in inputs)
        kept = self.notifier.ended or self.notifier.surfacer.unpublished  # state changed without a decision
        if decisions or kept or self._unpublished >= POSITIONS_EVERY:
            record = self.notifier.batch(decisions)
            await self.emit(
                producer, self.notifications_topic, encode(record), key=record.key.encode(), partition=0
            )
            self._unpublished = 0

    @staticmethod
    def _suppression(notifier: Notifier, msg: ConsumerRecord) -> bool:
        """Apply one suppression batch; False when it cannot be read (the suppressions projection
        dead-letters it)."""
        try:
            notifier.apply_suppressions(decode(msg.value, SuppressionBatch))
        except DecodeError:
            return False
        return True

    async def _decide(self, msg: ConsumerRecord) -> list[NotificationDecided]:
        assert self.notifier is not None
        if not self.notifier.seen(self._source(msg.topic, msg.partition), msg.offset):
            return []
        if msg.topic == self.commands_topic:
            try:
                return self.notifier.advance(decode(msg.value, Command).occurred_at)
            except DecodeError:
                self.status.skipped += 1
                return []  # the command router dead-letters undecodable commands
        try:
            changes = decode_trusted(msg.value, AlertChangedBatch).changes
        except DecodeError:
            self.status.skipped += 1
            return []  # the alerts projection dead-letters it
        return [d for change in changes for d in self.notifier.step(change)]


def tick(at: datetime | None = None) -> Command:
    """A `notify.tick`: the clock for groups and surfacing when no other record comes (its time: now)."""
    return clock_command("notify.tick", "notifications", at)


class NotifyTicker(CommandTicker):
    """Appends a `notify.tick` (the wall clock) to `ems.commands` every `tick_interval` s."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "notify-ticker", "notify.tick", "notifications")
