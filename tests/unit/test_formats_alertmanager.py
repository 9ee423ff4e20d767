"""Alertmanager webhook -> observations, on the documented sample payloads."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from ems.api.formats import alertmanager
from ems.api.formats.common import FormatError
from tests.unit.formats_helpers import SEVERITIES, normalized, sample


def test_firing_alert_maps_every_field() -> None:
    [obs] = alertmanager.translate(sample("alertmanager_firing.json"), SEVERITIES)
    body = obs.body
    assert obs.source == "alertmanager" and obs.asset_id is None
    assert (body.event, body.resource, body.severity) == (
        "ProbeFailure",
        "https://server.example.org",
        "critical",
    )
    assert body.title == "BlackBox Probe Failure: https://server.example.org"
    assert body.text.startswith("Instance https://server.example.org has been down")
    assert body.environment == "production" and body.service == []
    assert body.tags == ["job=http_checks", "monitor=master"]
    am = body.attributes["alertmanager"]
    assert am["fingerprint"] == "1a30ba71cca2921f"
    assert am["externalURL"] == "http://prometheus.example.org:9093"
    assert am["generatorURL"].startswith("http://prometheus.example.org:9090/graph")
    assert am["labels"]["severity"] == "critical"
    assert obs.occurred_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)


def test_resolved_clears_the_same_fingerprint() -> None:
    [firing] = alertmanager.translate(sample("alertmanager_firing.json"), SEVERITIES)
    [resolved] = alertmanager.translate(sample("alertmanager_resolved.json"), SEVERITIES)
    assert resolved.body.severity == "ok"
    assert resolved.occurred_at == datetime(2023, 2, 6, 13, 21, 45, 828000, tzinfo=UTC)
    assert normalized(firing).fingerprint == normalized(resolved).fingerprint


def test_grafana_payload_two_alerts_without_instance_or_severity() -> None:
    observations = alertmanager.translate(sample("alertmanager_grafana.json"), SEVERITIES)
    assert [o.body.event for o in observations] == ["High memory usage", "High CPU usage"]
    assert {o.body.severity for o in observations} == {"warning"}  # no severity label: documented default
    assert observations[0].body.resource is None  # no instance/job: normalize uses the source
    assert observations[0].body.tags == ["team=blue", "zone=us-1"]
    assert normalized(observations[0]).resource == "alertmanager"
    assert observations[0].occurred_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)


@pytest.mark.parametrize(
    ("label", "want"),
    [
        ("page", "critical"),
        ("error", "major"),
        ("info", "informational"),
        ("MINOR", "minor"),
        ("odd", "warning"),
    ],
)
def test_severity_labels_map_onto_ours(label: str, want: str) -> None:
    payload = sample("alertmanager_firing.json")
    payload["alerts"][0]["labels"]["severity"] = label
    assert alertmanager.translate(payload, SEVERITIES)[0].body.severity == want


def test_environment_and_service_labels() -> None:
    payload = sample("alertmanager_firing.json")
    payload["alerts"][0]["labels"] |= {"env": "staging", "service": "checkout"}
    body = alertmanager.translate(payload, SEVERITIES)[0].body
    assert (body.environment, body.service) == ("staging", ["checkout"])
    assert "env=staging" not in body.tags


def test_one_bad_alert_rejects_the_whole_batch_with_field_paths() -> None:
    payload = sample("alertmanager_grafana.json")
    bad = copy.deepcopy(payload["alerts"][0])
    del bad["labels"]["alertname"]
    payload["alerts"].append(bad)
    payload["alerts"][1]["status"] = "pending"
    with pytest.raises(FormatError) as exc:
        alertmanager.translate(payload, SEVERITIES)
    fields = [e["field"] for e in exc.value.errors]
    assert fields == ["alerts[1].status"]  # schema errors first: nothing is translated
    payload["alerts"][1]["status"] = "firing"
    with pytest.raises(FormatError) as exc:
        alertmanager.translate(payload, SEVERITIES)
    assert [e["field"] for e in exc.value.errors] == ["alerts[2].labels.alertname"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [([], "(body)"), ({"status": "firing"}, "alerts"), ({"status": "firing", "alerts": []}, "alerts")],
)
def test_malformed_payloads(payload: object, field: str) -> None:
    with pytest.raises(FormatError) as exc:
        alertmanager.translate(payload, SEVERITIES)
    assert exc.value.errors[0]["field"] == field


def test_the_same_notification_sent_again_has_the_same_id_and_its_resolution_another() -> None:
    payload = sample("alertmanager_firing.json")
    [first] = alertmanager.translate(payload, SEVERITIES)
    [again] = alertmanager.translate(copy.deepcopy(payload), SEVERITIES)
    assert first.event_id == again.event_id and first.event_id.startswith("am-")
    resolved = copy.deepcopy(payload)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-01-08T13:00:00Z"
    [cleared] = alertmanager.translate(resolved, SEVERITIES)
    assert cleared.event_id != first.event_id
    later = copy.deepcopy(payload)
    later["alerts"][0]["startsAt"] = "2026-01-09T00:00:00Z"  # the alert fires again: a new event
    assert alertmanager.translate(later, SEVERITIES)[0].event_id != first.event_id
