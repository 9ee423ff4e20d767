"""AWS state core: transitions -> raise and clear events; silent regions clear nothing."""

from ems.collectors.aws_discovery import Resource
from ems.collectors.aws_events import Tracker

SCOPE = ("", "eu-west-1")


def res(kind: str, state: str, ident: str = "x1", **kw) -> Resource:
    return Resource(
        kind, ident, f"aws:{kind}:{ident}", "eu-west-1", state, {}, tags={"business_service": "shop"}, **kw
    )


def seen(events) -> list[tuple[str, str, str | None]]:
    return [(e.event, e.severity, e.resource) for _, e in events]


def test_instance_stopped_raises_once_keeps_through_pending_and_clears_when_running():
    t = Tracker()
    assert seen(t.step(SCOPE, [res("ec2", "running")])) == []
    raised = t.step(SCOPE, [res("ec2", "stopped")])
    assert seen(raised) == [("Instance Stopped", "critical", None)]
    assert raised[0][1].value == "stopped" and raised[0][1].service == ["shop"]
    assert t.step(SCOPE, [res("ec2", "stopped")]) == []
    assert t.step(SCOPE, [res("ec2", "pending")]) == []
    assert seen(t.step(SCOPE, [res("ec2", "running")])) == [("Instance Stopped", "ok", None)]


def test_terminated_after_stopped_updates_the_value_only_through_the_same_alert():
    t = Tracker()
    t.step(SCOPE, [res("ec2", "stopped")])
    assert t.step(SCOPE, [res("ec2", "terminated")]) == []  # same severity: nothing new to say


def test_status_checks_impaired_raise_per_check_and_clear():
    t = Tracker()
    events = t.step(SCOPE, [res("ec2", "running", checks={"system": "impaired", "instance": "ok"})])
    assert seen(events) == [("Status Check Failed", "major", "system")]
    events = t.step(SCOPE, [res("ec2", "running", checks={"system": "ok", "instance": "ok"})])
    assert seen(events) == [("Status Check Failed", "ok", "system")]


def test_rds_failed_and_storage_full_are_different_alerts_and_available_clears():
    t = Tracker()
    assert seen(t.step(SCOPE, [res("rds", "available")])) == []
    assert seen(t.step(SCOPE, [res("rds", "storage-full")])) == [("DB Storage Full", "critical", None)]
    assert t.step(SCOPE, [res("rds", "modifying")]) == []  # transitional: keeps what is open
    assert seen(t.step(SCOPE, [res("rds", "failed")])) == [
        ("DB Instance Failed", "critical", None),
        ("DB Storage Full", "ok", None),
    ]
    assert seen(t.step(SCOPE, [res("rds", "available")])) == [("DB Instance Failed", "ok", None)]


def test_lb_target_unhealthy_per_target_and_a_stopped_target_counts():
    t = Tracker()
    lb = res("elb", "active", targets={"i-1:80": "healthy", "i-2:80": "unhealthy (Target.Timeout)"})
    assert seen(t.step(SCOPE, [lb])) == [("Target Unhealthy", "major", "i-2:80")]
    lb = res("elb", "active", targets={"i-1:80": "unused (Target.InvalidState)", "i-2:80": "healthy"})
    assert sorted(seen(t.step(SCOPE, [lb]))) == [
        ("Target Unhealthy", "major", "i-1:80"),
        ("Target Unhealthy", "ok", "i-2:80"),
    ]


def test_a_resource_no_longer_listed_has_its_problems_cleared_but_not_when_the_region_fails():
    t = Tracker()
    t.step(SCOPE, [res("ec2", "stopped", "a"), res("ec2", "stopped", "b")])
    other = ("", "us-east-1")
    assert t.step(other, []) == []  # another region does not clear this one's
    region_asset = "ast_region"
    failed = t.region_failed(SCOPE, region_asset, "EndpointConnectionError: could not connect")
    assert [(a, e.event, e.severity) for a, e in failed] == [
        (region_asset, "Cloud Collection Failed", "major")
    ]
    assert t.region_failed(SCOPE, region_asset, "again") == []
    assert [(a, e.severity) for a, e in t.region_ok(SCOPE)] == [(region_asset, "ok")]
    events = t.step(SCOPE, [res("ec2", "stopped", "a")])
    assert [(a, e.event, e.severity) for a, e in events] == [
        (res("ec2", "stopped", "b").asset_id, "Instance Stopped", "ok")
    ]
