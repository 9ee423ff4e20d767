"""SLA policies and calendars from configuration: parsed, checked when the settings load (errors name
the entry), and used by the ticket stage in place of the defaults."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from ems.agents.tickets import Desk, DeskConfig
from ems.itsm import sla
from ems.itsm.calendar import DEFAULT_CALENDARS, BusinessHours
from ems.itsm.priority import Priority
from ems.itsm.sla_config import parse_duration
from ems.schemas.command import Command
from ems.settings import Settings

BERLIN = {
    "timezone": "Europe/Berlin",
    "hours": {"mon-fri": "08:00-18:00", "sat": ["09:00-12:00"]},
    "country": "DE",
    "subdivision": "BY",
    "closed_dates": ["2026-12-24"],
}
POLICIES = {"incident": {"P2": {"response": "30m", "resolution": "1d", "calendar": "berlin"}}}


def settings(**env: object) -> Settings:
    return Settings.of_env({f"EMS_{k.upper()}": json.dumps(v) for k, v in env.items()})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("45s", timedelta(seconds=45)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations(text, expected) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "m", "0h", "1m2h", "1.5h", "-1h", "2 h"])
def test_bad_durations_are_refused(text) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_unset_keeps_the_defaults() -> None:
    s = Settings()
    assert s.sla_policies() == sla.DEFAULT_POLICIES
    assert s.sla_calendars() == DEFAULT_CALENDARS


def test_a_configured_policy_replaces_only_its_type_and_priority_and_calendars_join_the_defaults() -> None:
    s = settings(ticket_calendars={"berlin": BERLIN}, ticket_sla_policies=POLICIES)
    calendars = s.sla_calendars()
    assert set(calendars) == {"24x7", "business", "berlin"}
    berlin = calendars["berlin"]
    assert isinstance(berlin, BusinessHours) and berlin.timezone == "Europe/Berlin"
    assert berlin.is_closed_day(date(2026, 12, 24)) and berlin.is_closed_day(date(2026, 1, 6))  # BY
    p2 = sla.policy_for(s.sla_policies(), "incident", Priority.P2)
    assert (p2.response, p2.resolution, p2.calendar) == (timedelta(minutes=30), timedelta(days=1), "berlin")
    assert sla.policy_for(s.sla_policies(), "incident", Priority.P1) == sla.policy_for(
        sla.DEFAULT_POLICIES, "incident", Priority.P1
    )
    assert len(s.sla_policies()) == len(sla.DEFAULT_POLICIES)


def test_a_missing_target_means_no_such_timer() -> None:
    s = settings(ticket_sla_policies={"change": {"P1": {"response": "2h", "calendar": "24x7"}}})
    policy = sla.policy_for(s.sla_policies(), "change", Priority.P1)
    assert (policy.response, policy.resolution) == (timedelta(hours=2), None)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"ticket_calendars": {"berlin": {**BERLIN, "timezone": "Europe/Nowhere"}}},
            "ticket_calendars['berlin'].timezone",
        ),
        (
            {"ticket_calendars": {"berlin": {**BERLIN, "hours": {"mon-fri": "9-5"}}}},
            "ticket_calendars['berlin'].hours",
        ),
        ({"ticket_calendars": {"berlin": {**BERLIN, "country": "XX"}}}, "ticket_calendars['berlin'].country"),
        ({"ticket_calendars": {"b": {**BERLIN, "country": None}}}, "ticket_calendars['b'].subdivision"),
        (
            {"ticket_sla_policies": {"incident": {"P2": {"response": "soon", "calendar": "24x7"}}}},
            "ticket_sla_policies.incident.P2.response",
        ),
        (
            {"ticket_sla_policies": {"incident": {"P2": {"response": "1h", "calendar": "mars"}}}},
            "ticket_sla_policies.incident.P2.calendar",
        ),
        (
            {"ticket_sla_policies": {"incident": {"P5": {"response": "1h", "calendar": "24x7"}}}},
            "ticket_sla_policies.incident.P5",
        ),
        (
            {"ticket_sla_policies": {"outage": {"P1": {"response": "1h", "calendar": "24x7"}}}},
            "ticket_sla_policies.outage",
        ),
        ({"ticket_calendars": {"business": {**BERLIN, "extra": 1}}}, "ticket_calendars.business.extra"),
    ],
)
def test_a_bad_entry_stops_the_settings_naming_it(env, named) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**env)
    assert named in str(refused.value)


def test_the_stage_uses_the_configured_policy_and_calendar() -> None:
    s = settings(ticket_calendars={"berlin": BERLIN}, ticket_sla_policies=POLICIES)
    desk = Desk(DeskConfig.from_settings(s))
    friday = datetime(2026, 5, 22, 16, 0, tzinfo=UTC)  # 18:00 in Berlin: closed until Saturday 09:00
    args = {"title": "slow", "urgency": 2, "impact": 1}  # P2
    cmd = Command(name="ticket.create", target="tkt_p2", actor="a", args=args, occurred_at=friday)
    timers = {t.kind: t for t in desk.apply(cmd, "commands:0", 0).change.ticket.timers}
    assert (timers["response"].calendar, timers["response"].target_s) == ("berlin", 1800)
    assert timers["response"].due_at == datetime(2026, 5, 23, 7, 30, tzinfo=UTC)  # Sat 09:30 Berlin


def test_a_desk_config_whose_policy_names_no_calendar_is_refused() -> None:
    policy = sla.SlaPolicy("incident", Priority.P1, timedelta(hours=1), None, "mars")
    with pytest.raises(sla.SlaInputError, match="policies.incident.P1.calendar"):
        DeskConfig(policies=(policy,))


def test_a_stage_restarted_without_a_calendar_its_timers_count_in_stops_naming_it() -> None:
    desk = Desk(
        DeskConfig.from_settings(settings(ticket_calendars={"berlin": BERLIN}, ticket_sla_policies=POLICIES))
    )
    args = {"title": "slow", "urgency": 2, "impact": 1}
    cmd = Command(name="ticket.create", target="tkt_p2", actor="a", args=args, occurred_at=datetime.now(UTC))
    batch = desk.batch([desk.apply(cmd, "commands:0", 0).change])
    without = Desk(DeskConfig.from_settings(Settings()))
    with pytest.raises(sla.SlaInputError, match="'berlin' is not a configured calendar"):
        without.restore([batch])
