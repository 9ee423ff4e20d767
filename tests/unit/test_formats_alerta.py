"""Alerta alert/heartbeat JSON -> observations, and the Alerta-shaped answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ems.agents.dedupe import alert_id_for, apply, fold
from ems.api.formats import alerta
from ems.api.formats.common import FormatError
from tests.unit.formats_helpers import LIFECYCLE, NORMALIZER, SEVERITIES, normalized, sample


def test_documented_example_maps_every_field() -> None:
    obs = alerta.translate(sample("alerta_alert.json"), SEVERITIES)
    body = obs.body
    assert obs.source == "alerta"
    assert (body.resource, body.event, body.environment, body.severity) == (
        "web01",
        "HttpServerError",
        "Production",
        "major",
    )
    assert (body.service, body.tags, body.text, body.value) == (
        ["example.com"],
        ["dc1"],
        "Site is down.",
        "Bad Gateway (501)",
    )
    assert body.attributes["region"] == "EU"
    assert body.attributes["correlate"] == ["HttpServerError", "HttpServerOK"]
    assert body.attributes["alerta"] == {
        "group": "Web",
        "origin": "curl",
        "type": "exceptionAlert",
        "timeout": 86400,
    }


def test_what_the_sdk_sends_with_nulls() -> None:
    """`alerta.api.Client.send_alert` posts every key, unset ones as null."""
    payload = dict.fromkeys(["id", "environment", "severity", "group", "value", "text", "origin", "type"])
    payload |= {"resource": "r1", "event": "e1", "correlate": [], "service": [], "tags": [], "attributes": {}}
    payload |= {"createTime": "2026-11-27T17:00:00.123Z", "timeout": None, "rawData": None, "customer": None}
    obs = alerta.translate(payload, SEVERITIES)
    assert (obs.body.severity, obs.body.environment) == ("normal", "Production")  # Alerta's defaults
    assert obs.occurred_at == datetime(2026, 11, 27, 17, 0, 0, 123000, tzinfo=UTC)
    assert "correlate" not in obs.body.attributes


@pytest.mark.parametrize(("given", "want"), [("Security", "critical"), ("trace", "debug"), ("OK", "ok")])
def test_alerta_only_severities(given: str, want: str) -> None:
    obs = alerta.translate({"resource": "r", "event": "e", "severity": given}, SEVERITIES)
    assert obs.body.severity == want


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"event": "e"}, "resource"),
        ({"resource": "r", "event": ""}, "event"),
        ({"resource": "r", "event": "e", "severity": "bogus"}, "severity"),
        ({"resource": "r", "event": "e", "tags": "dc1"}, "tags"),
        ({"resource": "r", "event": "e", "timeout": -1}, "timeout"),
        ([1], "(body)"),
    ],
)
def test_bad_alerts_name_the_field(payload: object, field: str) -> None:
    with pytest.raises(FormatError) as exc:
        alerta.translate(payload, SEVERITIES)
    assert exc.value.errors[0]["field"] == field


def test_correlated_events_carry_the_same_correlate_attribute() -> None:
    down = alerta.translate(sample("alerta_alert.json"), SEVERITIES)
    up = alerta.translate(
        sample("alerta_alert.json") | {"event": "HttpServerOK", "severity": "normal"}, SEVERITIES
    )
    assert down.body.attributes["correlate"] == up.body.attributes["correlate"]
    assert normalized(down).fingerprint == normalized(up).fingerprint  # one alert for the pair


def test_answer_predicts_the_pipeline() -> None:
    """The id is the pipeline's alert id; counters follow the dedupe fold of the read-model state."""
    event = normalized(alerta.translate(sample("alerta_alert.json"), SEVERITIES))
    first, _ = apply(None, event, LIFECYCLE)
    view = alerta.alert_view(first, "http://x/api/alert/" + first.alert_id)
    assert view["id"] == alert_id_for(event.fingerprint)
    assert (view["status"], view["duplicateCount"], view["repeat"]) == ("open", 0, False)
    assert view["correlate"] == ["HttpServerError", "HttpServerOK"]
    assert (view["group"], view["origin"], view["timeout"], view["attributes"]) == (
        "Web",
        "curl",
        86400,
        {"region": "EU"},
    )
    again = alerta.reply(first, event.model_copy(update={"raw_offset": 1}), LIFECYCLE, "", NOW)
    assert (again["id"], again["duplicateCount"], again["repeat"]) == (view["id"], 1, True)


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("severity", ["normal", "ok", "cleared"])
def test_reply_to_a_clear_of_an_unknown_alert_is_alertas_closed_alert(severity: str) -> None:
    """Alerta creates the alert closed (rule CLS-*) and answers 201 with it; the reply builder gives
    that alert (it used to fail building it, after the append)."""
    from alertaclient.models.alert import Alert

    payload = {
        "resource": "web01",
        "event": "HttpServerOK",
        "severity": severity,
        "environment": "Production",
    }
    event = normalized(alerta.translate(payload, SEVERITIES))
    view = alerta.reply(None, event, LIFECYCLE, "http://x/api/alert/a", NOW)
    assert view["id"] == alert_id_for(event.fingerprint)
    assert (view["status"], view["severity"], view["duplicateCount"], view["repeat"]) == (
        "closed",
        severity,
        0,
        False,
    )
    assert (view["previousSeverity"], view["trendIndication"]) == ("indeterminate", "lessSevere")
    assert Alert.parse(view).status == "closed"


A = {"resource": "r1", "environment": "Production", "correlate": ["node_down", "node_marginal", "node_up"]}
ALERTAS_OWN_TEST = [  # alerta tests/test_alerts.py::test_alert: what real Alerta answers, step by step
    # (event, severity) -> (status, duplicateCount, previousSeverity, trendIndication)
    (("node_marginal", "major"), ("open", 0, "indeterminate", "moreSevere")),
    (("node_marginal", "major"), ("open", 1, "indeterminate", "moreSevere")),
    (("node_marginal", "critical"), ("open", 0, "major", "moreSevere")),
    (("node_marginal", "critical"), ("open", 1, "major", "moreSevere")),
    (("node_down", "critical"), ("open", 0, "critical", "noChange")),
    (("node_marginal", "major"), ("open", 0, "critical", "lessSevere")),
    (("node_up", "normal"), ("closed", 0, "major", "lessSevere")),
]


def test_answers_follow_alertas_own_test_sequence() -> None:
    """Each answer is the reply builder over the state the pipeline's fold has reached, as
    `POST /api/alert` computes it once the read model caught up."""
    tracked, got = None, []
    for offset, ((name, severity), _) in enumerate(ALERTAS_OWN_TEST):
        obs = alerta.translate({**A, "event": name, "severity": severity}, SEVERITIES)
        event = NORMALIZER.normalize(obs, 0, offset)
        view = alerta.reply(tracked.alert if tracked else None, event, LIFECYCLE, "", NOW)
        tracked = fold(tracked, [event], LIFECYCLE).tracked
        assert alerta.alert_view(tracked.alert, "", at=NOW) == view  # GET answers the same once projected
        got.append(
            (view["status"], view["duplicateCount"], view["previousSeverity"], view["trendIndication"])
        )
    assert got == [want for _, want in ALERTAS_OWN_TEST]


def test_answer_parses_with_alertas_own_client_model() -> None:
    from alertaclient.models.alert import Alert

    event = normalized(alerta.translate(sample("alerta_alert.json"), SEVERITIES))
    state, _ = apply(None, event, LIFECYCLE)
    parsed = Alert.parse(alerta.alert_view(state, "", at=datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)))
    assert (parsed.id, parsed.resource, parsed.severity, parsed.group) == (
        state.alert_id,
        "web01",
        "major",
        "Web",
    )
    assert parsed.receive_time == datetime(2026, 1, 2, 3, 4, 5, 678000)


def test_attribute_names_alertas_client_refuses_are_made_safe() -> None:
    from alertaclient.models.alert import Alert

    obs = alerta.translate(
        {"resource": "r", "event": "e", "severity": "minor", "attributes": {"k8s.pod": "p"}}, SEVERITIES
    )
    state, _ = apply(None, normalized(obs), LIFECYCLE)
    assert Alert.parse(alerta.alert_view(state, "")).attributes == {"k8s_pod": "p"}


def test_read_model_rows_with_a_foreign_status_are_skipped_not_crashing() -> None:
    assert alerta.state_of({"alert_id": "a", "status": "shelved"}) is None


def test_heartbeat() -> None:
    from alertaclient.models.heartbeat import Heartbeat

    obs = alerta.translate_heartbeat(
        {
            "origin": "cron/web01",
            "tags": ["dc1"],
            "timeout": 600,
            "createTime": None,
            "attributes": {"env": "x"},
        }
    )
    assert (obs.source, obs.body.kind, obs.body.timeout, obs.body.tags) == (
        "cron/web01",
        "heartbeat",
        600,
        ["dc1"],
    )
    hb = Heartbeat.parse(alerta.heartbeat_view(obs, "", obs.occurred_at))
    assert (hb.origin, hb.timeout, hb.attributes) == ("cron/web01", 600, {"env": "x"})
    with pytest.raises(FormatError) as exc:
        alerta.translate_heartbeat({"origin": "x", "timeout": 0})
    assert exc.value.errors[0]["field"] == "timeout"


def test_an_alert_with_its_own_id_sent_again_has_the_same_event_id() -> None:
    payload = {**sample("alerta_alert.json"), "id": "6a6ec5a8-1c53-4a06-8d3c-54b3f4c6c9a1"}
    first, again = (alerta.translate(dict(payload), SEVERITIES) for _ in range(2))
    assert first.event_id == again.event_id and first.event_id.startswith("alerta-")
    without = {k: v for k, v in payload.items() if k != "id"}
    assert alerta.translate(without, SEVERITIES).event_id != alerta.translate(without, SEVERITIES).event_id


def test_alerts_page_carries_what_alertas_query_command_reads() -> None:
    event = normalized(alerta.translate(sample("alerta_alert.json"), SEVERITIES))
    state, _ = apply(None, event, LIFECYCLE)
    view = alerta.alert_view(state, "")
    page = alerta.alerts_page([view], 51, 1, 50, NOW)
    assert (page["lastTime"], page["autoRefresh"], page["pages"], page["more"]) == (
        view["lastReceiveTime"],
        True,
        2,
        True,
    )
    assert alerta.alerts_page([], 0, 1, 50, NOW)["lastTime"] == "2026-01-02T03:04:05.000Z"
