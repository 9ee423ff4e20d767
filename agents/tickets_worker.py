"""The ticket stage on batched aiokafka: `ticket.*` commands on `ems.commands` and incident changes on
`ems.incidents` (or, with `EMS_TICKET_AUTO_SOURCE=alerts`, alert changes on `ems.alerts` and asset
snapshots on `ems.assets`) -> `ems.tickets`.

Ticket numbers are one sequence per type across all tickets, so ONE instance runs the stage (like
correlation): it takes every partition of `ems.commands` and `ems.incidents` and publishes to the
single partition of `ems.tickets`, one `TicketBatch` per input batch (all or nothing), carrying the
input positions it includes. This module only moves records; the decisions are the pure cores'
(agents/tickets.py, agents/autoticket.py, agents/autoticket_alerts.py).

Protocol:
1. After every assignment, before anything is applied: the core's state is rebuilt from its own
   output (`ems.tickets`, folded in order), the incidents' members from `ems.incidents` up to the
   recorded position (only with auto-ticketing policies) or the topology from `ems.assets` (alerts
   as the source: read to its end, then applied live), and each other input partition is sought to
   the position of the last record (the beginning when there is none); what was fetched before the
   seek is dropped.
2. Per record: the SLA sweep is advanced to its event time (`Desk.advance`), then a `ticket.*`
   command is applied (other domains only advance the positions and the clock; a `ticket.tick` is
   the clock alone), an incident (or alert) change gets its auto-ticketing commands. A refused command is
   dead-lettered with the reason (the API checked it against the read model, so a refusal means it
   lost a race, e.g. two transitions at once). The commands a change decided for other stages (a
   scheduled change's maintenance window, agents/change_window.py) are appended to `ems.commands` and
   delivered first; then the changes go out as one record (several past `SPLIT_BYTES`, each cut
   between input records and carrying the positions as of its cut). A crash between the two makes the same
   commands again after the restart, with the same ids, which the suppression stage applies once.
3. A redelivered record (after a crash) is below the recorded position and skipped, so a restart
   repeats no change and no SLA warning; auto tickets have ids derived from their incidents (alerts).

`TicketTicker` appends a `ticket.tick` every `EMS_TICK_INTERVAL` s, so the sweep runs while idle.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.assets_worker import catch_up
from ems.agents.autoticket import AutoTicketer
from ems.agents.autoticket_alerts import AlertTicketer, changed_at
from ems.agents.command_ticker import CommandTicker, clock_command
from ems.agents.tickets import Desk, DeskConfig
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.asset import AssetChanged
from ems.schemas.command import Command
from ems.schemas.incident import IncidentBatch, IncidentChanged
from ems.schemas.ticket import Ticket, TicketBatch, TicketChanged
from ems.settings import Settings
from ems.streams.batch_stage import Batch, guarded
from ems.streams.codecs import DecodeError, decode, decode_trusted, encode, encode_with
from ems.streams.kafka import DeadLetters, read_to_end
from ems.streams.one_instance import OneInstanceStage

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # commands of other domains after which a record carries the positions alone
# A batch's changes go out in more than one record once they pass this many encoded bytes (a burst of
# ticket commands would otherwise pass the producer's 4 MiB request limit and stop the stage for good);
# each record is cut between input records, so its positions cover exactly the changes before it.
SPLIT_BYTES = 1024 * 1024


async def read_batches(settings: Settings) -> list[TicketBatch]:
    """Every ticket batch published so far, in order."""
    out: list[TicketBatch] = []
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("tickets")):
        try:
            out.append(decode(msg.value, TicketBatch))
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("tickets: skipping an unreadable record at %d: %s", msg.offset, exc)
    return out


async def fold_incidents(settings: Settings, auto: AutoTicketer, upto: int) -> int:
    """Fold the incident changes below offset `upto` of `ems.incidents` (its one partition)."""
    folded = 0
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("incidents")):
        if msg.offset >= upto:
            break
        try:
            batch = decode(msg.value, IncidentBatch)
        except DecodeError:
            continue  # dead-lettered when it was first read
        for change in batch.changes:
            auto.fold(change)
        folded += 1
    return folded


class TicketsWorker(OneInstanceStage):
    """Runs the ticket stage until `stop()`."""

    stage = "tickets"
    keeps = "the ticket numbering"

    def __init__(self, settings: Settings) -> None:
        self.commands_topic = settings.topic("commands")
        self.tickets_topic = settings.topic("tickets")
        self.from_alerts = settings.ticket_auto_source == "alerts"
        self.assets_topic = settings.topic("assets")
        source = "alerts" if self.from_alerts else "incidents"  # what auto-ticketing reads
        self.source_topic = settings.topic(source)
        self.sources = {self.commands_topic: "commands", self.source_topic: source}
        super().__init__(
            settings,
            (*self.sources, *((self.assets_topic,) if self.from_alerts else ())),
            f"{settings.app_id}-tickets",
            settings.batch_max_records,
            fetch_max_wait_ms=50,  # operators wait on this hop (see assets_worker)
        )
        self.config = DeskConfig.from_settings(settings)
        self.desk: Desk | None = None
        self.auto = self._ticketer()
        self._unpublished = 0
        self._outgoing: list[Command] = []  # commands the desk decided for other stages, this batch

    def _ticketer(self) -> AutoTicketer | AlertTicketer:
        kind = AlertTicketer if self.from_alerts else AutoTicketer
        return kind(self.config.auto, self.config.reopen_days)

    def idle(self) -> None:
        self.desk = None

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        """Step 1 on each assignment: the tickets from `ems.tickets`, the auto-ticketing from them."""
        desk = Desk(self.config)
        batches = await read_batches(self.settings)
        desk.restore(batches)
        auto = self._ticketer()
        if isinstance(auto, AlertTicketer):
            for asset in (await catch_up(self, assigned)).values():
                auto.asset(asset)
        else:
            auto.restore(desk.tickets.values())
            if auto.policies:
                await fold_incidents(self.settings, auto, desk.positions.get("incidents:0", 0))
        for tp in sorted(assigned):
            if tp.topic in self.sources:
                await self.seek(tp, desk.positions.get(self._source(tp.topic, tp.partition)))
        self.desk, self.auto, self._unpublished = desk, auto, 0
        return f"{len(batches)} records: {len(desk.tickets)} tickets"

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Step 2: apply the batch's ticket commands and publish their changes as one record (several
        past `SPLIT_BYTES`, each cut between input records)."""
        if self.desk is None:
            return
        encoded: list[bytes] = []  # the changes, each encoded once (to size the split and to publish)
        self._outgoing = []
        work = {
            self.commands_topic: self._apply,
            self.assets_topic: self._asset,
            self.source_topic: self._source_work(),
        }
        # Asset snapshots first: an alert of the same batch is judged with its asset's latest.
        size = 0
        for tp in sorted(batch, key=lambda tp: (tp.topic != self.assets_topic, tp.partition)):
            for msg in batch[tp]:
                made = await guarded(self.stage, msg, dead, lambda m=msg, w=work[tp.topic]: w(m, dead))
                for change in made or ():
                    encoded.append(encode(change))
                    size += len(encoded[-1])
                if size >= SPLIT_BYTES:  # the positions now cover exactly the records these came from
                    await self._publish(producer, encoded)
                    encoded, size = [], 0
        self._unpublished += sum(len(m) for m in batch.values())
        await self._publish(producer, encoded, force=False)

    async def _publish(self, producer: AIOKafkaProducer, changes: list[bytes], force: bool = True) -> None:
        """The commands decided for other stages, delivered first, then one `TicketBatch` of `changes`
        (encoded) with the positions as of now (unless nothing changed and positions are not due: `force`)."""
        for command in self._outgoing:  # delivered before the batch that records their cause
            sent = await producer.send(self.commands_topic, value=encode(command), key=command.key.encode())
            await sent
        self._outgoing = []
        if force or changes or self._unpublished >= POSITIONS_EVERY:
            record = self.desk.batch([])
            value = encode_with(record, "changes", changes)
            await self.emit(producer, self.tickets_topic, value, key=record.key.encode(), partition=0)
            self._unpublished = 0

    def _source_work(self) -> Callable[[ConsumerRecord, DeadLetters], Awaitable[list[TicketChanged]]]:
        """`_changes` for the configured auto-ticketing source."""
        if self.from_alerts:
            return partial(
                self._changes, record=AlertChangedBatch, at=changed_at, decide=AlertTicketer.on_alert
            )
        return partial(
            self._changes, record=IncidentBatch, at=_incident_time, decide=AutoTicketer.on_incident
        )

    def _source(self, topic: str, partition: int) -> str:
        return f"{self.sources[topic]}:{partition}"

    async def _asset(self, msg: ConsumerRecord, dead: DeadLetters) -> list[TicketChanged]:
        """An asset snapshot (alerts as the source): the topology the alerts' criticality comes from."""
        try:
            self.auto.asset(decode(msg.value, AssetChanged))
        except DecodeError:
            self.status.skipped += 1  # the assets projection dead-letters undecodable snapshots
        return []

    async def _changes(
        self,
        msg: ConsumerRecord,
        dead: DeadLetters,
        *,
        record: type[AlertChangedBatch] | type[IncidentBatch],
        at: Callable[[Any], datetime],
        decide: Callable[[Any, Any, dict[str, Ticket]], list[Command]],
    ) -> list[TicketChanged]:
        """A record of the auto-ticketing source (`record`: alert or incident changes): the sweep
        advanced to each change's time (`at`), then, with policies, the commands `decide` (the
        ticketer's `on_alert` or `on_incident`) calls for."""
        if not self.desk.seen(self._source(msg.topic, msg.partition), msg.offset):
            return []
        try:
            batch = decode_trusted(msg.value, record)
        except DecodeError:
            self.status.skipped += 1
            return []  # the source's projection dead-letters it
        out: list[TicketChanged] = []
        for change in batch.changes:
            out += self.desk.advance(at(change))
            if self.auto.policies:
                out += await self._execute(decide(self.auto, change, self.desk.tickets), msg, dead)
        return out

    async def _execute(
        self, commands: list[Command], msg: ConsumerRecord, dead: DeadLetters
    ) -> list[TicketChanged]:
        """Apply auto-ticketing commands; a refused one is dead-lettered with the input record."""
        out: list[TicketChanged] = []
        for command in commands:
            outcome = self.desk.execute(command)
            if outcome.refused:
                await dead.reject(f"auto-ticketing {command.name}: {outcome.refused}", msg)
            elif outcome.change is not None:
                out.append(outcome.change)
                self._outgoing.extend(outcome.commands)
        return out

    async def _apply(self, msg: ConsumerRecord, dead: DeadLetters) -> list[TicketChanged]:
        """A command: the sweep advanced to its time, then the command if it is a ticket's."""
        source = f"commands:{msg.partition}"
        try:
            command = decode(msg.value, Command)
        except DecodeError:
            self.desk.seen(source, msg.offset)
            self.status.skipped += 1
            return []  # the command router dead-letters undecodable commands
        swept = self.desk.advance(command.occurred_at)
        if command.domain != "ticket":
            self.desk.seen(source, msg.offset)
            return swept
        outcome = self.desk.apply(command, source, msg.offset)
        if outcome.refused:
            await dead.reject(outcome.refused, msg)
        self._outgoing.extend(outcome.commands)
        return swept + ([outcome.change] if outcome.change is not None else [])


def _incident_time(change: IncidentChanged) -> datetime:
    return change.incident.updated_at


def tick(at: datetime | None = None) -> Command:
    """A `ticket.tick`: the clock for the SLA sweep when no other record comes (its time: now)."""
    return clock_command("ticket.tick", "tickets", at)


class TicketTicker(CommandTicker):
    """Appends a `ticket.tick` (the wall clock) to `ems.commands` every `tick_interval` s."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "ticket-ticker", "ticket.tick", "tickets")
