"""Inhibition: a firing source mutes targets when the `equal` fields agree; never itself; chains."""

from __future__ import annotations

import pytest

from ems.noise.inhibition import Inhibition, InhibitRule, inhibited, inhibitions_of
from ems.noise.matchers import MatcherError

DOWN_MUTES_WARNINGS = InhibitRule(
    "site-down", source='event="site_down"', target='severity="warning"', equal=("attributes.site",)
)


def alert(id: str, event: str, severity: str, site: str | None, status: str = "open") -> dict[str, object]:
    attributes = {"site": site} if site is not None else {}
    return {"alert_id": id, "event": event, "severity": severity, "status": status, "attributes": attributes}


def test_a_source_mutes_targets_with_equal_fields_only() -> None:
    alerts = [
        alert("down-fra", "site_down", "critical", "fra"),
        alert("cpu-fra", "cpu_high", "warning", "fra"),
        alert("cpu-ams", "cpu_high", "warning", "ams"),
        alert("disk-fra", "disk_full", "critical", "fra"),  # not a target: not a warning
    ]
    assert inhibited([DOWN_MUTES_WARNINGS], alerts) == {"cpu-fra": [Inhibition("site-down", "down-fra")]}


def test_a_field_missing_on_both_counts_as_equal() -> None:
    alerts = [alert("down", "site_down", "critical", None), alert("cpu", "cpu_high", "warning", None)]
    assert inhibited([DOWN_MUTES_WARNINGS], alerts) == {"cpu": [Inhibition("site-down", "down")]}
    alerts[1] = alert("cpu", "cpu_high", "warning", "fra")
    assert inhibited([DOWN_MUTES_WARNINGS], alerts) == {}


def test_a_resolved_source_inhibits_nothing() -> None:
    alerts = [
        alert("down", "site_down", "critical", "fra", "resolved"),
        alert("cpu", "cpu_high", "warning", "fra"),
    ]
    assert inhibited([DOWN_MUTES_WARNINGS], alerts) == {}


def test_an_alert_does_not_inhibit_itself() -> None:
    rule = InhibitRule(
        "crit-mutes-all", source='severity="critical"', target='event=~".+"', equal=("resource",)
    )
    only = {"alert_id": "a", "severity": "critical", "event": "x", "resource": "r1"}
    assert inhibited([rule], [only]) == {}
    other = {"alert_id": "b", "severity": "warning", "event": "y", "resource": "r1"}
    assert inhibited([rule], [only, other]) == {"b": [Inhibition("crit-mutes-all", "a")]}


def test_two_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    rule = InhibitRule(
        "crit", source='severity="critical"', target='severity=~"critical|warning"', equal=("resource",)
    )
    a = {"alert_id": "a", "severity": "critical", "resource": "r1"}
    b = {"alert_id": "b", "severity": "critical", "resource": "r1"}
    c = {"alert_id": "c", "severity": "warning", "resource": "r1"}
    assert inhibited([rule], [a, b, c]) == {"c": [Inhibition("crit", "a"), Inhibition("crit", "b")]}


def test_an_inhibition_chain_mutes_every_link_below_the_top() -> None:
    rules = [
        InhibitRule(
            "dc-mutes-router", source='event="dc_power"', target='event="router_down"', equal=("group",)
        ),
        InhibitRule(
            "router-mutes-host", source='event="router_down"', target='event="host_down"', equal=("group",)
        ),
    ]
    group = {"alerta": {"group": "dc1"}}
    power = {"alert_id": "power", "event": "dc_power", "attributes": group}
    router = {"alert_id": "router", "event": "router_down", "attributes": group}
    host = {"alert_id": "host", "event": "host_down", "attributes": group}
    assert inhibited(rules, [power, router, host]) == {
        "router": [Inhibition("dc-mutes-router", "power")],
        "host": [Inhibition("router-mutes-host", "router")],  # a muted source still inhibits
    }
    assert inhibitions_of(rules, host, [power, router, host]) == [Inhibition("router-mutes-host", "router")]
    assert inhibitions_of(rules, host, [{**router, "status": "resolved"}]) == []


def test_list_fields_compare_as_sets_in_equal() -> None:
    rule = InhibitRule("svc", source='event="db_down"', target='event="slow"', equal=("service",))
    source = {"alert_id": "s", "event": "db_down", "service": ["shop", "api"]}
    assert inhibitions_of(
        rule and [rule], {"alert_id": "t", "event": "slow", "service": ["api", "shop"]}, [source]
    )
    assert not inhibitions_of([rule], {"alert_id": "t", "event": "slow", "service": ["api"]}, [source])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "", "target": 'event="x"'}, "source"),
        ({"source": 'event="x"', "target": ""}, "target"),
        ({"source": 'event="x"', "target": 'event="y"', "equal": ("sitee",)}, "equal"),
        ({"source": 'event=~"("', "target": 'event="y"'}, "matchers"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(MatcherError) as caught:
        InhibitRule("r", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
