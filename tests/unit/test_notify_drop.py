"""Drop windows through the stage's core (agents/notify.py, notify/surfacing.py), the projection and the
alert list's SQL: a change covered by a window in drop mode is decided dropped naming the window, never
notified, never surfaced when the window ends, marked `dropped` on the alert row and hidden from the
list unless asked; a suppress window still surfaces its alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import QueryParams

from ems.agents.notify import Notifier
from ems.agents.suppressions import Suppressions
from ems.api.alert_filters import Column
from ems.api.alert_query import build_list, top_sql
from ems.api.errors import ApiError
from ems.notify.config import RouteConfig
from ems.projections.notifications import DECISION_COLUMNS, MUTING_COLUMNS, NotificationsProjection
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.command import Command
from ems.schemas.notification import NotificationBatch

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROUTES = [RouteConfig(receivers=["hook"])]
CATALOG = {
    "alert_id": Column("text", False),
    "status": Column("text", False),
    "last_seen": Column("timestamp with time zone", False),
    "first_seen": Column("timestamp with time zone", False),
    "duplicate_count": Column("integer", False),
    "muted": Column("boolean", False),
    "dropped": Column("boolean", False),  # migration 025
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(version: int, minutes: float, kind: str = "opened") -> AlertChanged:
    status = "resolved" if kind == "resolved" else "open"
    state = AlertState(
        alert_id="alr_1", fingerprint="fp1", status=status, severity="critical", event_count=version,
        duplicate_count=version - 1, first_seen=T0, last_seen=at(minutes), last_event_id=f"e{version}",
        source="nms", event="NodeDown", resource="core1", environment="prod", version=version,
    )  # fmt: skip
    moved = Transition(kind=kind, event_id=f"e{version}", at=at(minutes), severity="critical", status=status)
    return AlertChanged(alert=state, transitions=[moved], events_applied=1)


def with_window(mode: str, start: float = 0, end: float = 30, **more: tuple[str, dict]) -> Notifier:
    """A notifier with window mw_1 on source nms in `mode`, and the commands given in `more`."""
    notifier, state = Notifier(ROUTES), Suppressions()
    schedule = {"start": at(start).isoformat(), "end": at(end).isoformat()}
    args = {"title": "swap", "scope": {"sources": ["nms"]}, "schedule": schedule, "mode": mode}
    commands = [("window.create", "mw_1", args), *((n.replace("_", "."), t, a) for n, (t, a) in more.items())]
    for offset, (name, target, cmd_args) in enumerate(commands):
        cmd = Command(name=name, target=target, actor="alice", args=cmd_args, occurred_at=T0)
        outcome = state.apply(cmd, "commands:0", offset)
        assert outcome.change is not None, outcome.refused
        notifier.apply_suppressions(state.batch([outcome.change]))
    return notifier


def test_a_change_in_a_drop_window_is_decided_dropped_naming_it_and_never_notified() -> None:
    notifier = with_window("drop")
    [dropped] = notifier.step(change(1, 5))
    assert not dropped.notify and dropped.deliveries == []
    assert dropped.suppressed_by == ["mw_1"] and dropped.dropped_by == ["mw_1"]
    assert dropped.reasons[-1] == "dropped: mw_1 in drop mode; never notified, not surfaced when it ends"
    assert notifier.advance(at(31)) == [] and notifier.advance(at(120)) == []  # not at the window's end
    assert notifier.surfacer.muted == {}
    assert notifier.step(change(2, 40, "resolved")) == []  # never announced: no resolved notice either


def test_a_suppress_window_still_surfaces_its_alert_when_it_ends() -> None:
    notifier = with_window("suppress")
    [muted] = notifier.step(change(1, 5))
    assert not muted.notify and muted.suppressed_by == ["mw_1"] and muted.dropped_by == []
    [surfaced] = notifier.advance(at(31))
    assert surfaced.surfaced == "mw_1" and [d.key for d in surfaced.deliveries] == ["alr_1:1:mw_1:hook"]


def test_an_alert_kept_by_a_silence_is_let_go_when_a_drop_window_covers_it_at_the_silence_end() -> None:
    silence = {
        "matchers": [{"name": "resource", "op": "=", "value": "core1"}],
        "starts_at": at(0).isoformat(),
        "ends_at": at(20).isoformat(),
        "comment": "swap",
    }
    notifier = with_window("drop", start=10, end=60, silence_create=("sil_1", silence))
    [muted] = notifier.step(change(1, 5))  # before the window: silenced only, kept for surfacing
    assert muted.silenced_by == ["sil_1"] and muted.dropped_by == [] and "alr_1" in notifier.surfacer.muted
    assert notifier.advance(at(61)) == [] and notifier.surfacer.muted == {}  # dropped at 20, never surfaced


def test_a_restored_stage_does_not_surface_a_dropped_alert() -> None:
    notifier = with_window("drop")
    decisions = notifier.step(change(1, 5))
    published = notifier.batch(decisions)
    again = with_window("drop")
    again.restore([published])
    assert again.advance(at(31)) == [] and again.flap.keys() == {"alr_1"}


def test_the_projection_marks_the_alert_dropped_by_the_window() -> None:
    [dropped] = with_window("drop").step(change(1, 5))
    projection = NotificationsProjection()
    rows = list(projection.rows(NotificationBatch(decisions=[dropped])))
    [muting] = [dict(zip(MUTING_COLUMNS, r, strict=True)) for u, r in rows if u is projection.muting]
    assert muting["muted"] and muting["dropped"] and muting["muted_by"].obj["dropped_by"] == ["mw_1"]
    [decided] = [dict(zip(DECISION_COLUMNS, r, strict=True)) for u, r in rows if u is projection.decision]
    assert decided["dropped_by"].obj == ["mw_1"] and decided["receivers"].obj == []
    [kept] = with_window("suppress").step(change(1, 5))
    rows = list(projection.rows(NotificationBatch(decisions=[kept])))
    [muting] = [dict(zip(MUTING_COLUMNS, r, strict=True)) for u, r in rows if u is projection.muting]
    assert muting["muted"] and not muting["dropped"] and "dropped_by" not in muting["muted_by"].obj


def where(query: str) -> str:
    built = build_list(QueryParams(query), CATALOG)
    return built.where.as_string(None)


@pytest.mark.parametrize(
    ("query", "hidden"),
    [
        ("", True),
        ("status=open", True),
        ("include_dropped=false", True),
        ("include_dropped=TRUE", False),
        ("dropped=true", False),
        ("dropped!=true", False),
    ],
)
def test_the_list_hides_dropped_alerts_unless_asked(query: str, hidden: bool) -> None:
    assert ('NOT "dropped"' in where(query)) is hidden


def test_dropped_filters_as_a_boolean_and_top_hides_them_too() -> None:
    built = build_list(QueryParams("dropped=true"), CATALOG)
    assert '"dropped" = ANY(%s)' in built.where.as_string(None) and built.where_args == [[True]]
    select, _ = top_sql(QueryParams("by=duplicates"), CATALOG)
    assert 'NOT "dropped"' in select.as_string(None)


def test_a_bad_include_dropped_is_a_400_naming_it() -> None:
    with pytest.raises(ApiError, match="include_dropped must be true or false, got 'yes'"):
        build_list(QueryParams("include_dropped=yes"), CATALOG)


def test_a_change_after_the_window_is_notified_and_a_resolve_inside_it_is_dropped() -> None:
    notifier = with_window("drop", start=10, end=30)
    [before] = notifier.step(change(1, 5))  # before the window opens: notified
    assert before.notify and [d.receiver for d in before.deliveries] == ["hook"]
    [resolved] = notifier.step(change(2, 15, "resolved"))  # in the window: no resolved notice
    assert resolved.kind == "resolved" and not resolved.notify and resolved.dropped_by == ["mw_1"]
    assert resolved.deliveries == []
    [reopened] = notifier.step(change(3, 40, "reopened"))  # after it: notified, the mark cleared
    assert reopened.notify and reopened.dropped_by == [] and reopened.deliveries
