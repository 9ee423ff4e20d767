from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.dedupe import alert_id_for, apply, fold, fold_isolating, is_redelivery
from tests.unit.helpers import LIFECYCLE, event


def test_first_event_opens_alert() -> None:
    ev = event(offset=0)
    state, transition = apply(None, ev, LIFECYCLE)
    assert state.status == "open" and state.severity == "critical" and state.trend == "new"
    assert (state.event_count, state.duplicate_count, state.version) == (1, 0, 1)
    assert state.alert_id == alert_id_for(ev.fingerprint)
    assert state.first_seen == state.last_seen == ev.occurred_at
    assert transition.kind == "opened"


def test_repeat_counts_and_moves_last_seen() -> None:
    result = fold(None, [event(offset=i) for i in range(5)], LIFECYCLE)
    s = result.state
    assert (s.event_count, s.duplicate_count, s.version) == (5, 4, 5)
    assert s.last_seen > s.first_seen
    assert [t.kind for t in result.transitions] == ["opened"]


def test_severity_change_records_previous_and_trend() -> None:
    result = fold(
        None,
        [
            event(severity="warning", offset=0),
            event(severity="critical", offset=1),
            event(severity="minor", offset=2),
        ],
        LIFECYCLE,
    )
    s = result.state
    assert (s.severity, s.previous_severity, s.trend) == ("minor", "critical", "less_severe")
    assert [t.kind for t in result.transitions] == ["opened", "severity_changed", "severity_changed"]
    assert result.transitions[1].previous_severity == "warning"


def test_clear_resolves_then_new_problem_reopens() -> None:
    result = fold(
        None,
        [
            event(offset=0),
            event(severity="ok", offset=1),
            event(severity="ok", offset=2),
            event(severity="major", offset=3),
        ],
        LIFECYCLE,
    )
    assert [t.kind for t in result.transitions] == ["opened", "resolved", "reopened"]
    s = result.state
    assert s.status == "open" and s.severity == "major" and s.previous_severity == "ok"
    assert s.event_count == 4


def test_clear_without_alert_opens_nothing_but_is_remembered() -> None:
    result = fold(None, [event(severity="ok", offset=0)], LIFECYCLE)
    assert result.state is None and result.change() is None and result.seen == 1
    assert result.tracked.positions == {"0": 0}


def test_redelivered_clear_that_opened_nothing_does_not_resolve_a_later_alert() -> None:
    # Found by the property below: the clear's position must be kept although it changed nothing.
    clear, opening = event(severity="ok", partition=1, offset=0), event(partition=0, offset=0)
    tracked = fold(None, [clear, opening], LIFECYCLE).tracked
    again = fold(tracked, [clear], LIFECYCLE)
    assert again.skipped == 1 and again.state.status == "open"


def test_redelivery_is_skipped_per_raw_partition() -> None:
    tracked = fold(None, [event(partition=0, offset=10), event(partition=1, offset=3)], LIFECYCLE).tracked
    assert is_redelivery(tracked, event(partition=0, offset=10))
    assert is_redelivery(tracked, event(partition=1, offset=2))
    assert not is_redelivery(tracked, event(partition=1, offset=4))
    assert not is_redelivery(tracked, event(partition=2, offset=0))
    again = fold(tracked, [event(partition=0, offset=9), event(partition=0, offset=11)], LIFECYCLE)
    assert (again.applied, again.skipped, again.state.event_count) == (1, 1, 3)


def test_change_id_is_derived_from_fingerprint_and_version() -> None:
    change = fold(None, [event(offset=0), event(offset=1)], LIFECYCLE).change()
    assert change.event_id == f"{change.alert.fingerprint}:2" and change.events_applied == 2


# A log of events for one fingerprint, spread over raw partitions, with mixed severities.
severities = st.sampled_from(["critical", "major", "warning", "ok"])
logs = st.lists(st.tuples(st.integers(0, 2), severities), min_size=1, max_size=40)


def _events(log):
    offsets = {0: 0, 1: 0, 2: 0}
    out = []
    for partition, severity in log:
        out.append(event(severity=severity, partition=partition, offset=offsets[partition], seconds=len(out)))
        offsets[partition] += 1
    return out


@settings(max_examples=200, deadline=None)
@given(log=logs, data=st.data())
def test_any_redelivery_interleaving_gives_the_sequential_state(log, data) -> None:
    """At-least-once delivery: after any crash the log is re-read from some earlier point, in batches
    of any size. The folded state must equal processing the log exactly once."""
    events = _events(log)
    expected = fold(None, events, LIFECYCLE).tracked
    delivered = []
    position = 0
    while position < len(events):
        step = data.draw(st.integers(1, len(events) - position), label="advance")
        delivered.extend(events[position : position + step])
        position += step
        if data.draw(st.booleans(), label="crash"):
            position = data.draw(st.integers(0, position), label="resume from")
    tracked = None
    while delivered:  # batch boundaries of any size
        size = data.draw(st.integers(1, len(delivered)), label="batch")
        tracked = fold(tracked, delivered[:size], LIFECYCLE).tracked
        delivered = delivered[size:]
    assert tracked == expected


def _retry(ev, offset: int):
    """The same event appended again by a client's retry: same id, a new raw position."""
    return ev.model_copy(update={"raw_offset": offset})


def test_a_retried_event_is_skipped_by_its_id_in_the_same_batch_and_in_later_ones() -> None:
    first = [event(offset=i) for i in range(3)]
    result = fold(None, [*first, _retry(first[1], 10)], LIFECYCLE)
    assert (result.state.event_count, result.retries) == (3, 1)
    later = fold(result.tracked, [_retry(first[0], 11), event(offset=12)], LIFECYCLE)
    assert (later.state.event_count, later.retries) == (4, 1)
    # Its position is recorded, so a redelivery of the retry itself is a plain redelivery.
    assert is_redelivery(later.tracked, _retry(first[0], 11))


def test_the_id_window_keeps_the_last_n_ids() -> None:
    policy = replace(LIFECYCLE, recent_ids=4)
    events = [event(offset=i) for i in range(6)]
    result = fold(None, events, policy)
    assert len(result.tracked.recent_ids) == 4
    again = fold(result.tracked, [_retry(events[5], 20), _retry(events[0], 21)], policy)
    # The newest id is still known; the oldest fell out of the window and counts again.
    assert (again.retries, again.state.event_count) == (1, 7)


def test_without_an_id_window_only_positions_count() -> None:
    policy = replace(LIFECYCLE, recent_ids=0)
    ev = event(offset=0)
    result = fold(None, [ev, _retry(ev, 1)], policy)
    assert (result.state.event_count, result.tracked.recent_ids) == (2, [])


def test_an_item_the_fold_raises_on_is_left_out_and_the_others_applied(monkeypatch) -> None:
    from ems.agents import dedupe

    events = [event(offset=i) for i in range(5)]
    poison = events[2].event_id
    real_apply = dedupe.apply

    def apply_or_raise(state, ev, policy):
        if ev.event_id == poison:
            raise OverflowError("date value out of range")
        return real_apply(state, ev, policy)

    monkeypatch.setattr(dedupe, "apply", apply_or_raise)
    result, failed = fold_isolating(None, events, LIFECYCLE)
    assert [(item.event_id, type(exc)) for item, exc in failed] == [(poison, OverflowError)]
    assert result.state.event_count == 4 and result.changed
    assert [t.kind for t in result.transitions] == ["opened"]
    # Same outcome as folding the good ones alone.
    alone = fold(None, [e for e in events if e.event_id != poison], LIFECYCLE)
    assert result.state == alone.state


def test_fold_isolating_takes_the_fast_path_when_nothing_raises() -> None:
    events = [event(offset=i) for i in range(3)]
    result, failed = fold_isolating(None, events, LIFECYCLE)
    assert failed == [] and result.state == fold(None, events, LIFECYCLE).state
