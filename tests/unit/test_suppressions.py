"""The suppression stage's pure core (agents/suppressions.py), its projection's rows and the read-time
status of the routes' queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.agents.suppressions import RECENT_CAUSES, Suppressions
from ems.api.suppressions_query import silence_status, window_status
from ems.noise.errors import RuleError
from ems.projections.suppressions import SuppressionsProjection
from ems.schemas.command import Command
from ems.schemas.suppression import ScheduleArgs, SilenceArgs, SuppressionBatch, WindowArgs

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SILENCE = {
    "matchers": [{"name": "service", "op": "=", "value": "web"}],
    "starts_at": T0.isoformat(),
    "ends_at": (T0 + timedelta(hours=2)).isoformat(),
    "comment": "deploy",
}
WINDOW = {
    "title": "patch night",
    "scope": {"sites": ["fra1"]},
    "schedule": {
        "frequency": "weekly",
        "weekdays": ["tue"],
        "hours": "22:00-02:00",
        "timezone": "Europe/Berlin",
    },
}


class Feed:
    """Commands to one state at increasing offsets of partition 0, each at T0 + `minutes`."""

    def __init__(self, state: Suppressions) -> None:
        self.state, self.offset = state, 0

    def __call__(self, name: str, target: str, minutes: float = 0, **args):
        at = T0 + timedelta(minutes=minutes)
        cmd = Command(name=name, target=target, actor="alice", args=args, occurred_at=at)
        outcome = self.state.apply(cmd, "commands:0", self.offset)
        self.offset += 1
        return outcome


def test_a_silence_is_created_by_its_actor_and_expired_at_the_commands_time() -> None:
    feed = Feed(Suppressions())
    created = feed("silence.create", "sil_a", **SILENCE).change
    assert (
        created.kind == "created" and created.silence.created_by == "alice" and created.silence.version == 1
    )
    expired = feed("silence.expire", "sil_a", 30).change
    assert expired.kind == "expired" and expired.silence.expired_at == T0 + timedelta(minutes=30)
    assert expired.silence.version == 2 and expired.event_id == "sil_a:2"
    again = feed("silence.expire", "sil_a", 40)
    assert again.change is None and "expired already" in again.refused


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"matchers": [{"name": "severity", "op": "=~", "value": "crit("}]}, "invalid regular expression"),
        ({"matchers": [{"name": "colour", "op": "=", "value": "red"}]}, "matchers.0: matcher"),
        ({"matchers": [{"name": "assignee", "op": "=", "value": ""}]}, "would mute all"),
        ({"ends_at": T0.isoformat()}, "ends_at"),
        ({"comment": ""}, "comment"),
    ],
)
def test_a_bad_silence_is_refused_naming_the_field(change: dict, reason: str) -> None:
    outcome = Feed(Suppressions())("silence.create", "sil_a", **{**SILENCE, **change})
    assert outcome.change is None and reason in outcome.refused


def test_commands_on_unknown_targets_and_unknown_commands_are_refused() -> None:
    feed = Feed(Suppressions())
    assert "no silence 'sil_x'" in feed("silence.expire", "sil_x").refused
    assert "no window 'mw_x'" in feed("window.cancel", "mw_x").refused
    assert "unknown command 'window.extend'" in feed("window.extend", "mw_x").refused
    assert "silence.expire: reason: " in feed("silence.expire", "sil_x", reason="x").refused


def test_a_window_is_created_updated_and_cancelled_and_then_kept_cancelled() -> None:
    feed = Feed(Suppressions())
    assert feed("window.create", "mw_a", **WINDOW).change.window.version == 1
    updated = feed("window.update", "mw_a", 5, mode="drop", scope={"sites": ["fra1", "ams2"]}).change
    w = updated.window
    assert (w.mode, w.scope.sites, w.title, w.version) == ("drop", ["fra1", "ams2"], "patch night", 2)
    bad = feed(
        "window.update", "mw_a", 6, schedule={"frequency": "weekly", "hours": "22:00", "timezone": "UTC"}
    )
    assert "schedule.hours" in bad.refused
    assert "scope: names nothing" in feed("window.update", "mw_a", 7, scope={}).refused
    cancelled = feed("window.cancel", "mw_a", 10).change
    assert cancelled.window.cancelled_at == T0 + timedelta(minutes=10) and cancelled.window.version == 3
    assert "cancelled already" in feed("window.update", "mw_a", 11, title="x").refused


def test_a_redelivered_command_is_skipped_and_a_restored_state_carries_on() -> None:
    state = Suppressions()
    feed = Feed(state)
    first = feed("window.create", "mw_a", **WINDOW).change
    cmd = Command(name="window.cancel", target="mw_a", actor="bob", occurred_at=T0)
    assert state.apply(cmd, "commands:0", 0).skipped  # offset 0 was applied already
    restored = Suppressions()
    restored.restore([SuppressionBatch.model_validate_json(state.batch([first]).model_dump_json())])
    assert restored.positions == {"commands:0": 1} and restored.windows["mw_a"] == first.window
    assert restored.apply(cmd, "commands:0", 1).change.kind == "cancelled"


def test_schedule_args_name_the_schedule_field_at_fault() -> None:
    def field(**schedule) -> str:
        with pytest.raises(RuleError) as err:
            ScheduleArgs.model_validate(schedule).rule()
        return err.value.field

    assert field(start=T0.isoformat()) == "schedule.end"
    assert field(start=T0.isoformat(), end=T0.isoformat()) == "schedule.end"
    assert field(frequency="daily", hours="09:00-10:00", timezone="Mars/Olympus") == "schedule.timezone"
    assert field(frequency="weekly", hours="09:00-10:00", timezone="UTC") == "schedule.weekdays"
    assert field(frequency="daily", hours="9-10", timezone="UTC") == "schedule.hours"
    assert field(start=T0.isoformat(), end=T0.isoformat(), hours="09:00-10:00") == "schedule.hours"


def test_projection_rows_and_status_read_at_a_time() -> None:
    state = Suppressions()
    feed = Feed(state)
    changes = [
        feed("silence.create", "sil_a", **SILENCE).change,
        feed("window.create", "mw_a", **WINDOW).change,
        feed("window.cancel", "mw_a", 1).change,
    ]
    proj = SuppressionsProjection()
    rows = list(proj.rows(state.batch(changes)))
    assert [u.table for u, _ in rows] == [
        "silences",
        "suppression_history",
        "maintenance_windows",
        "suppression_history",
        "maintenance_windows",
        "suppression_history",
    ]
    silence = dict(zip(proj.silence.columns, rows[0][1], strict=True))
    silence["matchers"] = silence["matchers"].obj
    assert silence_status(silence, T0 - timedelta(minutes=1))["status"] == "pending"
    assert silence_status(silence, T0 + timedelta(hours=1))["status"] == "active"
    assert silence_status(silence, T0 + timedelta(hours=2))["status"] == "expired"

    window = dict(zip(proj.window.columns, rows[2][1], strict=True))
    window["scope"], window["schedule"] = window["scope"].obj, window["schedule"].obj
    tuesday_night = datetime(2026, 3, 3, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    read = window_status(window, tuesday_night)
    assert read["status"] == "active" and read["starts_at"] == datetime(2026, 3, 3, 21, 0, tzinfo=UTC)
    cancelled = dict(zip(proj.window.columns, rows[4][1], strict=True))
    cancelled["scope"], cancelled["schedule"] = cancelled["scope"].obj, cancelled["schedule"].obj
    assert window_status(cancelled, tuesday_night) == {
        **cancelled,
        "status": "ended",
        "starts_at": None,
        "ends_at": None,
    }


def test_args_build_the_cores_rules() -> None:
    silence = SilenceArgs.model_validate(SILENCE).rule("sil_a", "alice")
    assert silence.mutes({"service": ["web"]}, T0) and not silence.mutes({"service": ["db"]}, T0)
    window = WindowArgs.model_validate(WINDOW).rule("mw_a", "alice")
    assert window.scope.covers({"asset.site": "fra1"}) and not window.scope.covers({"asset.site": "ams2"})


def test_a_command_appended_again_is_skipped_while_it_is_among_its_targets_recent_ids() -> None:
    state = Suppressions()
    feed = Feed(state)
    create = Command(name="window.create", target="mw_a", actor="tickets", args=WINDOW, occurred_at=T0)
    made = [state.apply(create, "commands:0", 0).change]
    feed.offset = 1
    for i in range(RECENT_CAUSES - 1):  # other commands on the same window in between
        made.append(feed("window.update", "mw_a", i + 1, title=f"t{i}").change)
    made.append(feed("silence.create", "sil_x", **SILENCE).change)  # another target's: no effect here
    assert state.apply(create, "commands:1", 0).skipped  # a copy at another position: applied once
    made.append(feed("window.update", "mw_a", 99, title="one more").change)
    assert len(state.causes[("window", "mw_a")]) == RECENT_CAUSES  # bounded per target
    assert "exists already" in state.apply(create, "commands:1", 1).refused  # past the bound
    restored = Suppressions()  # the same ids, rebuilt from the published changes alone
    restored.restore([SuppressionBatch.model_validate_json(state.batch(made).model_dump_json())])
    assert restored.causes == state.causes and len(restored.causes) == 2
