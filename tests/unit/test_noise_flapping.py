"""Flapping: set after more than N changes within the window, cleared by itself after a stable spell."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ems.noise.errors import RuleError
from ems.noise.flapping import FlapPolicy, FlapState, clears_at, is_flapping, observe

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
M = timedelta(minutes=1)
DEFAULT = FlapPolicy()


def run(
    steps: list[tuple[int, str]], policy: FlapPolicy = DEFAULT, state: FlapState | None = None
) -> FlapState:
    state = state or FlapState()
    for minute, severity in steps:
        state = observe(state, policy, T0 + minute * M, severity)
    return state


def test_two_changes_are_not_flapping_a_third_within_30_minutes_is() -> None:
    state = run([(0, "major"), (5, "critical"), (10, "major")])
    assert state.changes == (T0 + 5 * M, T0 + 10 * M)
    assert not is_flapping(state, DEFAULT, T0 + 10 * M)
    state = run([(15, "critical")], state=state)
    assert is_flapping(state, DEFAULT, T0 + 15 * M)
    assert state.flapping_since == T0 + 15 * M


def test_repeats_at_the_same_severity_are_not_changes() -> None:
    state = run([(0, "major"), (1, "major"), (2, "major"), (3, "critical"), (4, "critical")])
    assert state.changes == (T0 + 3 * M,)


def test_changes_spread_beyond_the_window_do_not_flap() -> None:
    state = run([(0, "major"), (1, "critical"), (20, "major"), (40, "critical"), (60, "major")])
    assert not is_flapping(state, DEFAULT, T0 + 60 * M)
    assert state.changes == (T0 + 40 * M, T0 + 60 * M)  # older ones left the window


def test_the_flag_clears_by_itself_after_a_stable_spell_and_each_change_restarts_it() -> None:
    state = run([(0, "major"), (1, "critical"), (2, "major"), (3, "critical")])
    assert clears_at(state, DEFAULT) == T0 + 33 * M
    state = run([(10, "major")], state=state)  # still flapping: the calm clock restarts
    assert clears_at(state, DEFAULT) == T0 + 40 * M
    assert is_flapping(state, DEFAULT, T0 + 39 * M)
    assert not is_flapping(state, DEFAULT, T0 + 40 * M)  # no event needed for it to clear
    # after clearing, the counted changes are forgotten: one more change does not set it again
    state = run([(41, "critical")], state=state)
    assert not is_flapping(state, DEFAULT, T0 + 41 * M)
    assert state.changes == (T0 + 41 * M,)
    assert clears_at(state, DEFAULT) is None


def test_a_configured_policy() -> None:
    strict = FlapPolicy(count=1, window=timedelta(minutes=5), stable_for=timedelta(minutes=2))
    state = run([(0, "a"), (1, "b"), (2, "a")], strict)
    assert is_flapping(state, strict, T0 + 3 * M)
    assert not is_flapping(state, strict, T0 + 4 * M)
    assert not is_flapping(run([(0, "a"), (1, "b"), (7, "a")], strict), strict, T0 + 7 * M)
    # cleared at 4 (2 calm minutes): the changes at 1 and 2, still inside the window, are forgotten
    assert not is_flapping(run([(0, "a"), (1, "b"), (2, "a"), (4, "b")], strict), strict, T0 + 4 * M)


def test_an_out_of_order_event_time_counts_at_the_last_time_seen() -> None:
    state = run([(0, "a"), (10, "b"), (5, "a")])
    assert state.changes == (T0 + 10 * M, T0 + 10 * M)


def test_the_state_survives_a_restart_as_json() -> None:
    state = run([(0, "major"), (1, "critical"), (2, "major"), (3, "critical")])
    again = FlapState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert run([(5, "major")], state=again) == run([(5, "major")], state=state)
    assert FlapState.from_dict(FlapState().to_dict()) == FlapState()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"count": 0}, "count"), ({"window": timedelta(0)}, "window"), ({"stable_for": -M}, "stable_for")],
)
def test_bad_policies_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RuleError) as caught:
        FlapPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
