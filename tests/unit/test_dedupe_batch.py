"""One lifecycle-stage batch in-process (`process_batch`): records in, table writes, changes, letters out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import count

import orjson

from ems.agents.dedupe_batch import BatchConfig, BatchResult, process_batch
from ems.agents.dedupe_states import ParsedStates
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.timers import TimerIndex
from ems.schemas.alert import AlertChanged, AlertChangedBatch, Tracked
from ems.schemas.alert_command import AlertCommand, Tick
from ems.schemas.command import Command
from ems.schemas.event import Event, EventBatch
from ems.streams.codecs import decode, encode
from tests.unit.helpers import POLICY, T0, event

CONFIG = BatchConfig(
    LifecyclePolicy(POLICY, alert_timeout=600, ack_timeout=0), partitions=1, events_per_record=500
)
_offsets = count()
_source = count(1000)


@dataclass
class Msg:
    """A consumed record as the stage sees it (the fields of a Faust Message it reads)."""

    value: bytes
    partition: int = 0
    topic: str = "ems.events"
    key: bytes | None = None
    offset: int = 0


def msg(record: object) -> Msg:
    value = record if isinstance(record, bytes) else encode(record)
    return Msg(value=value, offset=next(_offsets))


def events(*severities: str, asset: str = "ast_router_01", start: int = 0) -> list[Event]:
    return [
        event(asset, severity=s, offset=next(_source), seconds=start + i) for i, s in enumerate(severities)
    ]


def batch(evs: list[Event]) -> Msg:
    return msg(EventBatch(partition=0, events=evs))


def command(ev: Event, action: str, seconds: int, **args: object) -> Msg:
    cmd = Command(name=f"alert.{action}", target=ev.fingerprint, actor="ann", args=args)
    return msg(
        AlertCommand(
            occurred_at=T0 + timedelta(seconds=seconds),
            command=cmd,
            fingerprint=ev.fingerprint,
            source_partition=0,
            source_offset=next(_source),
        )
    )


def tick(seconds: int) -> Msg:
    return msg(Tick(partition=0, occurred_at=T0 + timedelta(seconds=seconds)))


def changes(result: BatchResult) -> list[AlertChanged]:
    return [
        c for values in result.outputs.values() for v in values for c in decode(v, AlertChangedBatch).changes
    ]


class Stage:
    """The table and timers a worker keeps between batches, with the writes applied as the agent does."""

    def __init__(self, remember: bool = True) -> None:
        self.table: dict[bytes, bytes] = {}
        self.timers = TimerIndex()
        self.remember = remember
        self.states = ParsedStates()

    def run(self, *records: Msg) -> BatchResult:
        states = self.states if self.remember else ParsedStates()  # a fresh one parses every state
        result = process_batch(list(records), self.table, self.timers, CONFIG, states)
        self.table.update(result.writes)
        return result


def test_duplicates_fold_into_one_write_and_one_change() -> None:
    stage, evs = Stage(), events("critical", "critical", "critical")
    result = stage.run(batch(evs))
    assert list(result.writes) == [evs[0].fingerprint.encode()] and result.count == 3
    [change] = changes(result)
    assert (change.alert.event_count, change.alert.duplicate_count, change.events_applied) == (3, 2, 3)
    assert list(result.outputs) == [0] and result.letters == []
    # The same records again (a redelivery) write nothing and publish nothing.
    again = stage.run(batch(evs))
    assert (again.writes, again.outputs, again.letters) == ({}, {}, [])


def test_severity_change_and_clear_across_batches() -> None:
    stage = Stage()
    stage.run(batch(events("warning")))
    [raised] = changes(stage.run(batch(events("critical", start=1))))
    assert (raised.alert.severity, raised.alert.previous_severity, raised.alert.trend) == (
        "critical",
        "warning",
        "more_severe",
    )
    [cleared] = changes(stage.run(batch(events("ok", start=2))))
    assert cleared.alert.status == "resolved"
    assert [t.kind for t in cleared.transitions] == ["resolved"]


def test_a_command_moves_the_alert_and_a_refused_one_is_a_letter_with_its_reason() -> None:
    stage, evs = Stage(), events("major")
    stage.run(batch(evs))
    ack, unshelve = command(evs[0], "ack", 5), command(evs[0], "unshelve", 6)
    result = stage.run(ack, unshelve)
    [change] = changes(result)
    assert change.alert.status == "acknowledged" and result.count == 2
    [letter] = result.letters
    assert letter.reason.startswith("refused alert.unshelve: cannot unshelve an alert that is acknowledged")
    assert (letter.stage, letter.source_offset, letter.payload) == ("dedupe", unshelve.offset, unshelve.value)
    stored = Tracked.model_validate_json(stage.table[evs[0].fingerprint.encode()])
    assert stored.alert.status == "acknowledged"


def test_a_tick_fires_the_timer_due_including_on_a_state_written_in_the_same_batch() -> None:
    stage, evs = Stage(), events("major")
    key = evs[0].fingerprint.encode()
    result = stage.run(batch(evs), tick(599))  # the first tick loads the timers: not due yet
    assert [c.alert.status for c in changes(result)] == ["open"]
    assert stage.timers.pending(0) == 1
    expired = stage.run(tick(600))
    [change] = changes(expired)
    assert change.alert.status == "expired" and [t.kind for t in change.transitions] == ["expired"]
    assert Tracked.model_validate_json(stage.table[key]).alert.status == "expired"
    assert stage.timers.pending(0) == 0 and stage.run(tick(700)).outputs == {}
    # An alert opened in a batch whose tick is past its timeout expires in that batch.
    fresh = Stage()
    late = fresh.run(batch(events("major", asset="ast_other")), tick(10_000))
    assert [c.alert.status for c in changes(late)] == ["open", "expired"]
    assert Tracked.model_validate_json(next(iter(late.writes.values()))).alert.status == "expired"


def test_an_undecodable_record_is_a_letter_with_the_reason_and_the_rest_is_applied() -> None:
    stage, evs = Stage(), events("major")
    bad = msg(b"{not json")
    result = stage.run(bad, batch(evs))
    [letter] = result.letters
    assert (letter.source_offset, letter.payload) == (bad.offset, b"{not json")
    assert "json" in letter.reason.lower()
    assert len(changes(result)) == 1 and result.count == 1


def test_an_item_that_raises_is_a_letter_and_other_items_and_fingerprints_are_applied(monkeypatch) -> None:
    from ems.agents import dedupe

    stage = Stage()
    good, poisoned = events("major", "major"), events("major", "minor", asset="ast_b")
    poison, real_apply = poisoned[1].event_id, dedupe.apply

    def apply_or_raise(state, ev, policy):
        if ev.event_id == poison:
            raise OverflowError("date value out of range")
        return real_apply(state, ev, policy)

    monkeypatch.setattr(dedupe, "apply", apply_or_raise)
    carrier = batch(good + poisoned)
    result = stage.run(carrier)
    [letter] = result.letters
    assert letter.reason == "failed on this record: OverflowError: date value out of range"
    assert letter.event_id.endswith(f":{poison}") and letter.source_offset == carrier.offset
    assert decode(letter.payload, Event).event_id == poison
    assert sorted(c.alert.event_count for c in changes(result)) == [1, 2]


def test_an_unreadable_stored_state_letters_its_items_and_leaves_the_state_alone() -> None:
    stage, evs = Stage(), events("major", "major")
    key = evs[0].fingerprint.encode()
    stage.table[key] = b"{broken"
    result = stage.run(batch(evs))
    assert len(result.letters) == 2 and result.writes == {} and result.outputs == {}
    assert all(lt.reason.startswith("the stored state of this alert cannot be read") for lt in result.letters)
    assert stage.table[key] == b"{broken"


def test_a_batch_record_of_the_wrong_shape_is_a_letter_with_the_reason_and_the_rest_is_applied() -> None:
    stage, evs = Stage(), events("major")
    shapes = [b"[1, 2]", b'{"type": "event_batch", "partition": 0, "events": 5}']
    body = orjson.loads(encode(EventBatch(partition=0, events=events("minor", asset="ast_x"))))
    body["events"][0]["fingerprint"] = 7  # complete, but not as normalize writes it
    bad = [msg(raw) for raw in [*shapes, orjson.dumps(body)]]
    result = stage.run(*bad, batch(evs))
    reasons = [letter.reason for letter in result.letters]
    assert [letter.source_offset for letter in result.letters] == [m.offset for m in bad]
    assert reasons[0] == "expected a JSON object, got list"
    assert "events: Input should be a valid list" in reasons[1]
    assert reasons[2].startswith("failed on this record: AttributeError")
    assert len(changes(result)) == 1 and result.count == 1


def test_remembered_states_give_what_parsing_the_stored_ones_gives() -> None:
    """The worker keeps the states it parsed and wrote between batches: the writes and changes of a
    run with them equal those of a run that parses every stored state."""
    router, server = events("critical", "major", "major", "ok"), events("warning", "warning", asset="srv_1")
    router[1] = router[1].model_copy(update={"tags": ["b", "a"], "attributes": {"x": [1, 2.5, None]}})
    steps = [
        [batch(router[:2]), batch(server[:1])],
        [command(router[0], "ack", 5), batch(server[1:])],
        [tick(700), batch(router[2:3])],
        [command(router[0], "shelve", 701, duration=60), tick(1500)],
        [batch(router[3:]), tick(3000)],
    ]
    runs = [Stage(remember=True), Stage(remember=False)]
    for records in steps:
        results = [stage.run(*records) for stage in runs]
        assert results[0].writes == results[1].writes
        assert changes(results[0]) == changes(results[1])
        assert [x.reason for x in results[0].letters] == [x.reason for x in results[1].letters]
    assert runs[0].table == runs[1].table and len(runs[0].states) == 2


def test_a_state_changed_behind_the_remembered_one_is_read_from_the_table() -> None:
    stage, evs = Stage(), events("critical", "critical")
    stage.run(batch(evs[:1]))
    key = evs[0].fingerprint.encode()
    other = Stage()  # another process took the partition and folded the second event
    other.table = dict(stage.table)
    other.run(batch(evs[1:]))
    stage.table[key] = other.table[key]
    [change] = changes(stage.run(batch(events("major", start=5))))
    assert change.alert.event_count == 3  # the table's state (2 events), not the remembered one (1)
