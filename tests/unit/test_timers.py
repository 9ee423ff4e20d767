"""The timer index: due keys pop in order, superseded entries are ignored, unbuilt partitions ignored."""

from datetime import timedelta

from ems.agents.timers import TimerIndex
from tests.unit.helpers import T0


def test_pop_due_in_order_and_only_latest_due_counts() -> None:
    index = TimerIndex()
    index.set(0, b"a", T0)  # ignored: partition not built yet
    index.mark_built(0)
    index.set(0, b"a", T0 + timedelta(seconds=10))
    index.set(0, b"b", T0 + timedelta(seconds=5))
    index.set(0, b"a", T0 + timedelta(seconds=30))  # superseded the 10 s entry
    index.set(0, b"c", T0 + timedelta(seconds=1))
    index.set(0, b"c", None)  # no timer any more
    assert index.pop_due(0, T0 + timedelta(seconds=20)) == [b"b"]
    assert index.pending(0) == 1
    assert index.pop_due(0, T0 + timedelta(seconds=30)) == [b"a"]
    assert index.pop_due(1, T0 + timedelta(days=1)) == []


def test_reset_forgets_built_partitions() -> None:
    index = TimerIndex()
    index.mark_built(2)
    index.set(2, b"k", T0)
    index.reset()
    assert not index.built(2) and index.pop_due(2, T0) == []


def test_superseded_entries_do_not_pile_up() -> None:
    index = TimerIndex()
    index.mark_built(0)
    for i in range(10_000):  # one busy alert whose due time moves with every repeat
        index.set(0, b"busy", T0 + timedelta(seconds=i))
    assert len(index._heap[0]) <= 1024 + 3
    assert index.pop_due(0, T0 + timedelta(seconds=9_998)) == []
    assert index.pop_due(0, T0 + timedelta(seconds=9_999)) == [b"busy"]
