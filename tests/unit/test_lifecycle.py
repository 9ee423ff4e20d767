"""The alert lifecycle: every status x every trigger, timers on a driven clock, refusals with reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.dedupe import apply, fire_due, fold
from ems.agents.lifecycle import ALL_STATUSES, LifecyclePolicy, Refused, fire_timers, next_timer, on_command
from ems.schemas.alert import AlertState
from ems.schemas.alert_command import AlertCommand
from ems.schemas.command import Command
from tests.unit.helpers import POLICY, T0, event

LIFE = LifecyclePolicy(POLICY, alert_timeout=600, ack_timeout=0)
_offsets = iter(range(10_000, 10**9))


def ev(severity: str = "major", seconds: int = 10, name: str = "NodeDown"):
    return event(name=name, severity=severity, offset=next(_offsets), seconds=seconds)


def cmd(action: str, seconds: int = 10, actor: str = "ann", reason: str = "", **args) -> AlertCommand:
    command = Command(name=f"alert.{action}", target="fp", actor=actor, reason=reason, args=args)
    return AlertCommand(
        occurred_at=T0 + timedelta(seconds=seconds),
        command=command,
        fingerprint="fp",
        source_partition=0,
        source_offset=next(_offsets),
    )


def in_status(status: str) -> AlertState:
    """An alert (severity major, last seen at T0+5 s) driven into `status` by real triggers."""
    state, _ = apply(None, ev(seconds=5), LIFE)
    assert state is not None
    if status == "acknowledged":
        state, _ = on_command(state, cmd("ack", 6), LIFE)
    elif status == "shelved":
        state, _ = on_command(state, cmd("shelve", 6, duration=3600), LIFE)
    elif status == "resolved":
        state, _ = apply(state, ev("ok", 6), LIFE)
    elif status == "closed":
        state, _ = on_command(state, cmd("close", 6), LIFE)
    elif status == "expired":
        state, fired = fire_timers(state, T0 + timedelta(seconds=5 + 600))
        assert [t.kind for t in fired] == ["expired"]
    assert state.status == status
    return state


TRIGGERS = (
    "repeat",
    "more_severe",
    "clear",
    "ack",
    "unack",
    "shelve",
    "unshelve",
    "assign",
    "close",
    "reopen",
    "note",
)
R = "refused"
EXPECTED = {  # status -> the status each trigger leads to
    "open": ("open", "open", "resolved", "acknowledged", R, "shelved", R, "open", "closed", R, "open"),
    "acknowledged": (
        "acknowledged",
        "open",
        "resolved",
        R,
        "open",
        "shelved",
        R,
        "acknowledged",
        "closed",
        R,
        "acknowledged",
    ),
    "shelved": ("shelved", "shelved", "resolved", R, R, R, "open", "shelved", "closed", R, "shelved"),
    "resolved": ("open", "open", "resolved", R, R, R, R, "resolved", "closed", "open", "resolved"),
    "closed": ("open", "open", "closed", R, R, R, R, R, R, "open", "closed"),
    "expired": ("open", "open", "expired", R, R, R, R, "expired", "closed", "open", "expired"),
}


def trigger(state: AlertState, name: str):
    if name == "repeat":
        return apply(state, ev("major", 20), LIFE)
    if name == "more_severe":
        return apply(state, ev("critical", 20), LIFE)
    if name == "clear":
        return apply(state, ev("ok", 20), LIFE)
    args = {"shelve": {"duration": 60}, "assign": {"user": "bob"}}.get(name, {})
    return on_command(state, cmd(name, 20, reason="why", **args), LIFE)


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("name", TRIGGERS)
def test_every_status_under_every_trigger(status: str, name: str) -> None:
    state = in_status(status)
    expected = EXPECTED[status][TRIGGERS.index(name)]
    if expected == R:
        with pytest.raises(Refused, match=f"cannot {name} an alert that is {status}"):
            trigger(state, name)
        return
    new, transition = trigger(state, name)
    assert new.status == expected
    assert new.version == state.version + 1
    if name in TRIGGERS[3:]:  # operator commands: who, what, why are recorded
        assert transition is not None and transition.actor == "ann" and transition.reason == "why"
        assert transition.previous_status == status and transition.status == expected


def test_status_change_by_event_is_recorded_with_both_statuses() -> None:
    new, t = trigger(in_status("closed"), "repeat")
    assert (t.kind, t.previous_status, t.status, t.actor) == ("reopened", "closed", "open", None)
    assert new.acked_by is None and new.shelved_until is None


def test_ack_records_who_and_auto_unacks_at_its_timeout() -> None:
    state, _ = on_command(in_status("open"), cmd("ack", 100, actor="ann", timeout=300), LIFE)
    assert (state.acked_by, state.acked_at, state.ack_until) == (
        "ann",
        T0 + timedelta(seconds=100),
        T0 + timedelta(seconds=400),
    )
    same, fired = fire_timers(state, T0 + timedelta(seconds=399))
    assert fired == [] and same is state
    opened, fired = fire_timers(state, T0 + timedelta(seconds=500))  # before its expiry at 605 s
    assert [(t.kind, t.at, t.actor) for t in fired] == [
        ("auto_unacked", T0 + timedelta(seconds=400), "system")
    ]
    assert opened.status == "open" and opened.acked_by is None


def test_default_ack_timeout_applies_when_the_command_gives_none() -> None:
    policy = LifecyclePolicy(POLICY, alert_timeout=0, ack_timeout=60)
    state, _ = on_command(in_status("open"), cmd("ack", 100), policy)
    assert state.ack_until == T0 + timedelta(seconds=160)


def test_shelve_until_a_time_then_auto_unshelve() -> None:
    until = T0 + timedelta(hours=1)
    state, _ = on_command(in_status("acknowledged"), cmd("shelve", 50, until=until.isoformat()), LIFE)
    assert state.status == "shelved" and state.shelved_until == until
    assert next_timer(state) == (until, "auto_unshelved")  # a shelved alert does not expire
    opened, fired = fire_timers(state, until)
    assert opened.status == "open" and [t.kind for t in fired] == ["auto_unshelved"]


def test_shelve_into_the_past_is_refused() -> None:
    with pytest.raises(Refused, match="not after the command's time"):
        on_command(in_status("open"), cmd("shelve", 50, until=T0.isoformat()), LIFE)


def test_expiry_counts_from_the_last_repeat() -> None:
    state, _ = apply(in_status("open"), ev("major", 300), LIFE)
    assert next_timer(state) == (T0 + timedelta(seconds=900), "expired")
    expired, fired = fire_timers(state, T0 + timedelta(hours=5))
    assert expired.status == "expired" and fired[0].at == T0 + timedelta(seconds=900)
    assert "no repeat within 600 s" in fired[0].reason


def test_timeout_zero_never_expires_and_event_timeout_overrides() -> None:
    state = in_status("open").model_copy(update={"timeout": 0})
    assert next_timer(state) is None
    e = event(severity="major", offset=next(_offsets), seconds=30).model_copy(update={"timeout": 42})
    updated, _ = apply(state, e, LIFE)
    assert updated.timeout == 42


def test_assign_sets_and_clears_user_and_team() -> None:
    state, t = on_command(in_status("open"), cmd("assign", user="bob", team="netops"), LIFE)
    assert (state.assignee, state.assigned_team, t.kind) == ("bob", "netops", "assigned")
    state, _ = on_command(state, cmd("assign", user=""), LIFE)
    assert (state.assignee, state.assigned_team) == (None, "netops")


def test_fold_fires_a_timer_due_before_the_next_event_then_applies_the_event() -> None:
    tracked = fold(None, [ev("major", 0)], LIFE).tracked
    result = fold(tracked, [ev("major", 5000)], LIFE)
    assert [t.kind for t in result.transitions] == ["expired", "reopened"]
    assert result.state.status == "open" and result.state.event_count == 2


def test_fold_skips_a_redelivered_command_and_reports_a_refused_one() -> None:
    tracked = fold(None, [ev("major", 0)], LIFE).tracked
    ack = cmd("ack", 10)
    first = fold(tracked, [ack], LIFE)
    assert first.state.status == "acknowledged" and first.change() is not None
    again = fold(first.tracked, [ack, cmd("ack", 11)], LIFE)
    assert again.skipped == 1
    assert [reason for _, reason in again.refused] == [
        "cannot ack an alert that is acknowledged (allowed when: open)"
    ]
    assert again.change() is None  # nothing changed, nothing to publish


def test_command_for_a_fingerprint_without_alert_is_refused() -> None:
    result = fold(None, [cmd("close")], LIFE)
    assert result.refused and "no such alert" in result.refused[0][1]


def test_fire_due_publishes_a_change_only_when_a_timer_fired() -> None:
    tracked = fold(None, [ev("major", 0)], LIFE).tracked
    assert fire_due(tracked, T0 + timedelta(seconds=599)).change() is None
    change = fire_due(tracked, T0 + timedelta(seconds=600)).change()
    assert change is not None and change.alert.status == "expired" and change.events_applied == 0


def test_a_fired_timer_keeps_the_ids_that_catch_a_retry() -> None:
    first = ev("major", 0)
    tracked = fold(None, [first], LIFE).tracked
    expired = fire_due(tracked, T0 + timedelta(seconds=600)).tracked
    assert expired.recent_ids == tracked.recent_ids and expired.positions == tracked.positions
    retry = first.model_copy(update={"raw_offset": next(_offsets)})  # a client's retry: same id
    again = fold(expired, [retry], LIFE)
    assert again.retries == 1 and again.change() is None


def test_correlated_pairs_act_on_one_alert() -> None:
    down = event(name="NodeDown", severity="critical", offset=1)
    up = event(name="NodeUp", severity="ok", offset=2)
    assert down.fingerprint == up.fingerprint
    result = fold(None, [down, up], LIFE)
    assert result.state.status == "resolved" and result.state.event == "NodeUp"


def test_an_events_own_correlate_list_wins_whatever_its_order() -> None:
    from tests.unit.helpers import NORMALIZER, observation

    a = NORMALIZER.normalize(observation(event="DiskFull", correlate=["DiskFull", "DiskOk"]), 0, 1)
    b = NORMALIZER.normalize(
        observation(event="DiskOk", severity="ok", correlate=["DiskOk", "DiskFull"]), 0, 2
    )
    other = NORMALIZER.normalize(observation(event="DiskOk", severity="ok"), 0, 3)
    assert a.fingerprint == b.fingerprint != other.fingerprint


def test_an_alert_merges_tags_and_attributes_within_the_bounds_of_one_event() -> None:
    from ems.agents.lifecycle import MAX_ATTRIBUTES, MAX_TAGS, merge_attributes, merge_names

    assert merge_names(["a", "b"], ["c", "a"], MAX_TAGS) == ["a", "b", "c"]
    many = [f"t{i:03}" for i in range(MAX_TAGS)]
    merged = merge_names(many, ["new1", "new2"], MAX_TAGS)
    assert len(merged) == MAX_TAGS and {"new1", "new2"} <= set(merged)
    attrs = {f"k{i}": i for i in range(MAX_ATTRIBUTES)}
    assert merge_attributes(attrs, {"k1": "x"}) == {**attrs, "k1": "x"}
    assert merge_attributes(attrs, {"fresh": 1}) == {"fresh": 1}  # 129 keys: the event's own only
    big = {"blob": "x" * 60_000}
    assert merge_attributes(big, {"other": "y" * 10_000}) == {"other": "y" * 10_000}
    assert merge_attributes(attrs, {}) is attrs


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), max_size=10),
    st.lists(st.sampled_from("abcdefgh"), max_size=3),
    st.integers(1, 8),
    st.booleans(),
)
def test_merged_names_follow_the_rule_with_or_without_new_names(
    old: list[str], new: list[str], limit: int, tidy: bool
) -> None:
    """The shortcut for an event without names gives what the sets give, on any stored list."""
    from ems.agents.lifecycle import merge_names

    if tidy:  # as stored alerts hold them: sorted, unique, within the bound
        old = sorted(set(old))[:limit]
    merged = set(old) | set(new)
    if len(merged) <= limit:
        expected = sorted(merged)
    else:
        own = sorted(set(new))[:limit]
        expected = sorted(own + [n for n in old if n not in set(own)][: limit - len(own)])
    assert merge_names(old, new, limit) == expected
