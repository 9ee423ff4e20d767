"""The ticket benchmark's pure parts (ems.bench.ticket_data) at a tiny size: what it builds and compares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.bench import ticket_data as td

END = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # a Tuesday: business-hours timers run in the hours after
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def built() -> td.Built:
    return td.build(50, END)


def test_the_plan_opens_every_ticket_once_and_stays_in_event_order_before_the_end() -> None:
    commands = td.plan(50, END)
    creates = [c.target for c in commands if c.name == "ticket.create"]
    assert sorted(creates) == [f"tkt_{i:06d}" for i in range(50)]
    times = [c.occurred_at for c in commands]
    assert times == sorted(times) and times[0] >= END - td.SPAN and times[-1] < END
    assert td.plan(50, END) == td.plan(50, END)  # seeded: the same commands each run
    for target in set(creates):  # each ticket's first command is its creation
        assert next(c for c in commands if c.target == target).name == "ticket.create"


def test_build_applies_every_command_and_publishes_every_change(built: td.Built) -> None:
    assert len(built.desk.tickets) == 50
    assert built.commands == len(td.plan(50, END))
    assert sum(len(b.changes) for b in built.batches) == built.changes > built.commands  # + sweep changes
    statuses = {t.status for t in built.desk.tickets.values()}
    assert {"new", "closed"} <= statuses and len(statuses) > 4
    assert any(x.breached_at for t in built.desk.tickets.values() for x in t.timers)
    assert built.batches[-1].positions == {"commands:0": built.commands}


def test_the_heap_sweep_and_the_naive_one_find_the_same_crossings_whatever_the_step(built: td.Built) -> None:
    naive = td.sweep(td.restored(built.batches, td.NaiveDesk), END, H, 30)
    heap = td.sweep(td.restored(built.batches), END, H, 30)
    fine = td.sweep(td.restored(built.batches), END, timedelta(minutes=20), 90)
    assert len(naive.crossings) > 5  # something to compare
    assert heap.crossings == naive.crossings == fine.crossings
    assert all(END < at <= END + 30 * H for _, _, _, at in naive.crossings)
    assert (heap.calls, fine.calls) == (30, 90) and heap.per_crossing_ms > 0


def test_rebuild_restores_the_desk_that_made_the_batches(built: td.Built) -> None:
    decode_s, restore_s, desk = td.rebuild(built.batches)
    assert desk.tickets == built.desk.tickets
    assert desk.sequences == built.desk.sequences and desk.positions == built.desk.positions
    assert desk.due.pending(0) == built.desk.due.pending(0) > 0
    assert decode_s > 0 and restore_s > 0
