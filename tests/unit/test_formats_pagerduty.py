"""PagerDuty Events API v2 -> observations / alert.ack commands, on the documented examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ems.api.formats import pagerduty
from ems.api.formats.common import FormatError
from ems.schemas.alert_command import parse_args
from tests.unit.formats_helpers import SEVERITIES, normalized, sample


def test_documented_trigger_maps_every_field() -> None:
    key, obs = pagerduty.translate(pagerduty.parse(sample("pagerduty_trigger.json")), SEVERITIES)
    body = obs.body
    assert key == "samplekeyhere" and obs.source == "pagerduty"
    assert (body.event, body.resource, body.severity) == ("pagerduty", "samplekeyhere", "informational")
    assert body.title == "Example alert on host1.example.com"
    assert body.service == ["postgres"]
    assert "class=deploy" in body.tags and "group=prod-datapipe" in body.tags
    pd = body.attributes["pagerduty"]
    assert pd["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert pd["links"][0]["href"] == "https://example.com/" and pd["client"] == "Example Monitoring Client"
    assert pd["source"].startswith("monitoringtool:cloudvendor")
    assert "routing_key" not in pd  # the integration key is a credential, not data
    assert obs.occurred_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)


def test_resolve_clears_the_trigger_of_the_same_dedup_key() -> None:
    _, trigger = pagerduty.translate(pagerduty.parse(sample("pagerduty_trigger.json")), SEVERITIES)
    key, resolve = pagerduty.translate(pagerduty.parse(sample("pagerduty_resolve.json")), SEVERITIES)
    assert key == "samplekeyhere" and resolve.body.severity == "ok"
    assert normalized(trigger).fingerprint == normalized(resolve).fingerprint


def test_acknowledge_becomes_an_ack_command_for_that_fingerprint() -> None:
    _, trigger = pagerduty.translate(pagerduty.parse(sample("pagerduty_trigger.json")), SEVERITIES)
    ack = pagerduty.parse(sample("pagerduty_resolve.json") | {"event_action": "acknowledge"})
    key, shadow = pagerduty.translate(ack, SEVERITIES)
    command = pagerduty.ack_command(normalized(shadow).fingerprint, key)
    assert (command.name, command.target, command.actor) == (
        "alert.ack",
        normalized(trigger).fingerprint,
        "pagerduty",
    )
    assert command.key == command.target and "samplekeyhere" in command.reason
    parse_args("ack", command.args)  # the lifecycle accepts its arguments


@pytest.mark.parametrize(
    ("given", "want"), [("critical", "critical"), ("error", "major"), ("warning", "warning")]
)
def test_severities(given: str, want: str) -> None:
    payload = sample("pagerduty_trigger.json")
    payload["payload"]["severity"] = given
    assert pagerduty.translate(pagerduty.parse(payload), SEVERITIES)[1].body.severity == want


def test_trigger_without_dedup_key_gets_a_fresh_one() -> None:
    payload = sample("pagerduty_trigger.json")
    del payload["dedup_key"]
    (k1, o1), (k2, _) = (pagerduty.translate(pagerduty.parse(payload), SEVERITIES) for _ in range(2))
    assert k1 != k2 and o1.body.resource == k1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload": None}, "(body)"),
        ({"event_action": "snooze"}, "event_action"),
        ({"routing_key": ""}, "routing_key"),
        ({"payload": {"summary": "s", "source": "h", "severity": "fatal"}}, "payload.severity"),
        ({"payload": {"summary": "s", "severity": "info"}}, "payload.source"),
        ({"payload": {"summary": "", "source": "h", "severity": "info"}}, "payload.summary"),
    ],
)
def test_invalid_events_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(FormatError) as exc:
        pagerduty.parse(sample("pagerduty_trigger.json") | change)
    assert exc.value.errors[0]["field"] == field


def test_unknown_fields_are_ignored_like_pagerduty_clients_expect() -> None:
    event = pagerduty.parse(sample("pagerduty_trigger.json") | {"service_key": "legacy", "description": "v1"})
    assert event.dedup_key == "samplekeyhere"


def test_resolve_needs_a_dedup_key() -> None:
    with pytest.raises(FormatError) as exc:
        pagerduty.parse({"routing_key": "k", "event_action": "resolve"})
    assert "dedup_key is required" in exc.value.errors[0]["message"]


def test_a_trigger_sent_again_has_the_same_id() -> None:
    event = pagerduty.parse(sample("pagerduty_trigger.json"))
    _, first = pagerduty.translate(event, SEVERITIES)
    _, again = pagerduty.translate(pagerduty.parse(sample("pagerduty_trigger.json")), SEVERITIES)
    assert first.event_id == again.event_id and first.event_id.startswith("pd-")
