"""The ticket stage's batch handling (`TicketsWorker.handle`) in-process, on a recording producer:
auto-ticketing from either source, redeliveries, and the records it publishes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.agents import tickets_worker
from ems.agents.autoticket import AutoTicketer
from ems.agents.autoticket_alerts import AlertTicketer
from ems.agents.tickets import Desk, DeskConfig
from ems.agents.tickets_worker import TicketsWorker
from ems.ml.offline import alert_changes, correlate
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.asset import Asset
from ems.schemas.command import Command
from ems.schemas.incident import IncidentBatch
from ems.schemas.observation import EventBody, Observation
from ems.schemas.ticket import AutoPolicy, TicketBatch
from ems.settings import Settings
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
P1 = AutoPolicy(name="p1-critical", severities=["critical"], min_criticality=4, priority="P1")
CORE = Asset(asset_id="ast_core", name="core", type="router", criticality=5, created_at=T0, updated_at=T0)


class Producer:
    """Records what is sent; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None):
        self.sent.append((topic, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def batches(self, worker: TicketsWorker) -> list[TicketBatch]:
        return [decode(v, TicketBatch) for t, v in self.sent if t == worker.tickets_topic]


class Dead:
    def __init__(self) -> None:
        self.letters: list[tuple[str, ConsumerRecord]] = []

    async def reject(self, reason: str, record: ConsumerRecord) -> None:
        self.letters.append((reason, record))


def obs(minutes: float, severity: str = "critical", asset: str = "ast_core") -> Observation:
    return Observation(
        event_id=f"{asset}-{minutes}-{severity}",
        source="nms",
        asset_id=asset,
        occurred_at=T0 + timedelta(minutes=minutes),
        body=EventBody(event="Device Unreachable", severity=severity, resource=asset, title="core down"),
    )


def worker_for(source: str, *policies: AutoPolicy) -> TicketsWorker:
    worker = TicketsWorker(Settings.of_env({"EMS_TICKET_AUTO_SOURCE": source}))
    worker.desk = Desk(DeskConfig(auto=policies))
    if source == "alerts":
        worker.auto = AlertTicketer(policies)
        worker.auto.asset(CORE)
    else:
        worker.auto = AutoTicketer(policies)
    return worker


def record(topic: str, offset: int, value: bytes) -> dict[TopicPartition, list[ConsumerRecord]]:
    msg = ConsumerRecord(topic, 0, offset, 0, 0, None, value, 0, 0, len(value), [])
    return {TopicPartition(topic, 0): [msg]}


async def test_an_alert_change_opens_one_ticket_and_its_redelivery_none() -> None:
    worker, producer, dead = worker_for("alerts", P1), Producer(), Dead()
    changes = alert_changes([obs(0)])
    value = encode(AlertChangedBatch(partition=0, changes=changes))
    await worker.handle(record(worker.source_topic, 7, value), producer, dead)
    await worker.handle(record(worker.source_topic, 7, value), producer, dead)  # redelivered
    made = [c for b in producer.batches(worker) for c in b.changes]
    assert [(c.kind, c.ticket.priority) for c in made] == [("created", "P1")]
    assert producer.batches(worker)[0].positions == {"alerts:0": 8} and dead.letters == []


async def test_an_incident_change_opens_one_ticket_and_without_policies_is_not_even_folded() -> None:
    _, incidents = correlate(alert_changes([obs(0)]), [CORE])
    value = encode(IncidentBatch(changes=incidents))
    worker, producer = worker_for("incidents", P1), Producer()
    await worker.handle(record(worker.source_topic, 0, value), producer, Dead())
    assert [c.kind for b in producer.batches(worker) for c in b.changes] == ["created"]
    idle, quiet = worker_for("incidents"), Producer()
    await idle.handle(record(idle.source_topic, 0, value), quiet, Dead())
    assert (
        idle.auto.incidents == {} and quiet.batches(idle) == [] and idle.desk.positions == {"incidents:0": 1}
    )


async def test_undecodable_input_records_are_skipped_and_counted_for_their_own_stage_to_letter() -> None:
    worker, producer, dead = worker_for("alerts", P1), Producer(), Dead()
    before = worker.status.skipped
    await worker.handle(record(worker.source_topic, 3, b"{not json"), producer, dead)
    await worker.handle(record(worker.commands_topic, 0, b"{not json"), producer, dead)
    await worker.handle(record(worker.assets_topic, 0, b"{not json"), producer, dead)
    assert (producer.sent, dead.letters) == ([], [])
    assert worker.desk.positions == {"alerts:0": 4, "commands:0": 1} and worker.status.skipped == before + 3


@pytest.mark.parametrize("split", [1, 10**9])
async def test_the_changes_of_a_burst_go_out_whole_and_in_order_split_or_not(monkeypatch, split: int) -> None:
    monkeypatch.setattr(tickets_worker, "SPLIT_BYTES", split)
    worker, producer = worker_for("alerts"), Producer()
    creates = [
        Command(name="ticket.create", target=f"tkt_b{i}", actor="ops", args={"title": f"t{i}"})
        for i in range(3)
    ]
    tp = TopicPartition(worker.commands_topic, 0)
    batch = {
        tp: [
            ConsumerRecord(tp.topic, 0, i, 0, 0, None, encode(c), 0, 0, 0, []) for i, c in enumerate(creates)
        ]
    }
    await worker.handle(batch, producer, Dead())
    published = producer.batches(worker)
    assert [c.ticket.ticket_id for b in published for c in b.changes] == ["tkt_b0", "tkt_b1", "tkt_b2"]
    assert len(published) == (3 if split == 1 else 1)
    assert published[-1].positions == {"commands:0": 3} and published[-1].sequences == worker.desk.sequences
