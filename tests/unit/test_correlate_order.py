"""The correlate stage's reorder buffer: event-time order across partitions, positions claimed only
for records wholly applied; and a change half applied before a restart is finished, not doubled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ems.agents.correlate_order import Reorder
from ems.ml.correlation.engine import Correlator
from ems.ml.correlation.episodes import steps
from ems.ml.evaluate import final_members
from ems.ml.offline import alert_changes, folded_changes
from ems.schemas.observation import EventBody, Observation

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Msg:
    partition: int
    offset: int


def obs(at: int, asset: str, severity: str = "critical") -> Observation:
    return Observation(
        event_id=f"{asset}-{at}-{severity}",
        source="nms",
        asset_id=f"ast_{asset}",
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event="Device Unreachable", severity=severity),
    )


def test_steps_wait_for_every_partition_and_come_out_in_event_time_order() -> None:
    # Partition 0 brings a whole history (open at 0, clear at 600); partition 1 is behind (at 100).
    early = folded_changes([obs(0, "a"), obs(600, "a", "ok")])[0]
    late = alert_changes([obs(100, "b")])[0]
    order = Reorder()
    m0, m1 = Msg(0, 5), Msg(1, 9)
    order.record(m0)
    order.push(m0, early)
    order.record(m1)
    order.push(m1, late)
    out = []
    for msg, step in order.release(quiet=False):  # up to partition 1's latest time (100 s)
        out.append((msg.partition, step.kind, step.at - T0))
        order.done(msg)
    assert out == [
        (0, "start", timedelta(0)),
        (1, "start", timedelta(seconds=100)),
        (1, "final", timedelta(seconds=100)),
    ]
    assert order.positions() == {0: 5, 1: 10}  # record 0:5 still has steps held
    rest = []
    for msg, step in order.release(quiet=True):  # quiet input: nothing more is coming
        rest.append((step.kind, step.at - T0))
        order.done(msg)
    assert rest == [("end", timedelta(seconds=600)), ("final", timedelta(seconds=600))]
    assert order.positions() == {0: 6, 1: 10} and len(order) == 0


def test_a_change_half_applied_before_a_restart_is_finished_once() -> None:
    (change,) = folded_changes([obs(0, "a"), obs(60, "a", "ok")])
    first = Correlator()
    assert first.accept(change)
    start, _, _ = steps(change)  # the crash comes before the end and the final step
    first.step(start)
    before = first.flush()
    again = Correlator()
    again.restore(before)
    assert again.accept(change)  # its final step was not applied: the change is not counted
    for step in steps(change):  # re-read: the start is recognised, the rest applied
        again.step(step)
    after = before + again.flush()
    ((_, member),) = final_members(after)
    assert member.opened_at == T0 and member.ended_at == T0 + timedelta(seconds=60)
    assert [r.incident.status for r in after][-1] == "resolved"
    assert not again.accept(change)  # and now it is
