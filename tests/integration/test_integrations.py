"""Alertmanager, Alerta (its own SDK and CLI, unchanged) and PagerDuty clients against the real API."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ems.schemas.command import Command
from ems.streams.codecs import decode
from tests.integration.harness import Pipeline, wait_for

DATA = Path(__file__).parent.parent / "data" / "ingest"


def sample(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def wait_alert(c: httpx.Client, want: dict[str, Any], **params: str) -> dict[str, Any]:
    """The one alert matching `params` once its fields equal `want` (the pipeline is asynchronous)."""

    def found() -> dict[str, Any] | None:
        alerts = c.get("/api/v1/alerts", params=params).json()["alerts"]
        assert len(alerts) <= 1, alerts
        return alerts[0] if alerts and all(alerts[0][k] == v for k, v in want.items()) else None

    return wait_for(found, 120, f"an alert {params} with {want}")


def test_alertmanager_webhook_opens_and_resolves(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    path = "/api/v1/integrations/alertmanager"
    with pipeline.client() as c:
        bad = sample("alertmanager_grafana.json")
        bad["alerts"].append(copy.deepcopy(bad["alerts"][0]))
        del bad["alerts"][2]["labels"]["alertname"]
        r = c.post(path, json=bad)
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"field": "alerts[2].labels.alertname", "message": r.json()["errors"][0]["message"]}
        ]
        r = c.post(path, content=b'{"alerts": [', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"].startswith("invalid JSON")

        r = c.post(path, json=sample("alertmanager_firing.json"))
        assert r.status_code == 202 and len(r.json()["ids"]) == 1, r.text
        alert = wait_alert(c, {"status": "open"}, source="alertmanager")
        assert (alert["event"], alert["resource"], alert["severity"]) == (
            "ProbeFailure",
            "https://server.example.org",
            "critical",
        )
        assert alert["attributes"]["alertmanager"]["fingerprint"] == "1a30ba71cca2921f"
        assert c.post(path, json=sample("alertmanager_grafana.json")).status_code == 202
        r = c.post(path, json=sample("alertmanager_resolved.json"))
        assert r.status_code == 202
        resolved = wait_alert(c, {"status": "resolved"}, source="alertmanager", event="ProbeFailure")
        assert resolved["alert_id"] == alert["alert_id"] and resolved["event_count"] == 2
        wait_alert(c, {"severity": "warning"}, event="High CPU usage")
        pipeline.wait_quiet()
        # The rejected batch appended nothing: 1 firing + 2 Grafana + 1 resolved events.
        assert c.get("/api/v1/events", params={"source": "alertmanager"}).json()["total"] == 4


def alerta_cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TERM", "PS1")}  # else it reads stdin
    env |= {
        "ALERTA_CONF_FILE": os.devnull,
        "HOME": str(pipeline.logs),
        "ALERTA_API_KEY": pipeline.admin_key(),
    }
    cli = Path(sys.executable).with_name("alerta")
    return subprocess.run(
        [str(cli), "--endpoint-url", f"{pipeline.api}/api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_alerta_sdk_and_cli_unchanged(pipeline: Pipeline) -> None:
    from alertaclient.api import Client
    from alertaclient.exceptions import UnknownError

    pipeline.start_worker()
    pipeline.start_api()
    client = Client(endpoint=f"{pipeline.api}/api", key=pipeline.admin_key())  # sent as `Key <key>`
    doc = sample("alerta_alert.json")
    alert_id, alert, message = client.send_alert(
        doc.pop("resource"), doc.pop("event"), raw_data="GET / 502", **doc
    )
    assert alert_id.startswith("alr_") and alert.id == alert_id and message is None
    assert (alert.status, alert.duplicate_count, alert.repeat, alert.group) == ("open", 0, False, "Web")
    with pipeline.client() as c:
        ours = wait_alert(c, {"status": "open"}, source="alerta", resource="web01")
        assert ours["alert_id"] == alert_id and ours["severity"] == "major"
        assert ours["attributes"]["correlate"] == ["HttpServerError", "HttpServerOK"]
        assert ours["attributes"]["alerta"]["rawData"] == "GET / 502"

        # Once projected, the answer takes the counters from the read model.
        _, again, _ = client.send_alert(
            "web01", "HttpServerError", environment="Production", severity="major"
        )
        assert (again.id, again.duplicate_count, again.repeat) == (alert_id, 1, True)
        assert [a.id for a in client.get_alerts([("resource", "web01")])] == [alert_id]
        assert client.get_alert(alert_id).resource == "web01"

        done = alerta_cli(
            pipeline,
            "send",
            "-r",
            "db01",
            "-e",
            "DiskFull",
            "-s",
            "minor",
            "-E",
            "Development",
            "-T",
            "dc2",
            "-A",
            "disk=/var",
        )
        assert done.returncode == 0, done.stderr
        cli_id = done.stdout.split()[0]
        cli_alert = wait_alert(c, {"severity": "minor"}, source="alerta", resource="db01")
        assert cli_alert["alert_id"] == cli_id and cli_alert["environment"] == "Development"
        assert cli_alert["tags"] == ["dc2"] and cli_alert["attributes"]["disk"] == "/var"
        done = alerta_cli(pipeline, "send", "-r", "db01", "-e", "DiskFull", "-s", "ok", "-E", "Development")
        assert done.returncode == 0 and done.stdout.split()[0] == cli_id, done.stdout + done.stderr
        wait_alert(c, {"status": "resolved"}, source="alerta", resource="db01")
        listed = alerta_cli(pipeline, "query", "--filter", "resource=db01")  # the documented listing
        assert listed.returncode == 0 and cli_id[:8] in listed.stdout, listed.stdout + listed.stderr

        hb = client.heartbeat("cron/db01", tags=["nightly"], timeout=600)
        assert (hb.origin, hb.timeout) == ("cron/db01", 600)

        r = c.post("/api/alert", json={"resource": "web01", "event": "X", "severity": "apocalyptic"})
        assert r.status_code == 400 and r.json()["status"] == "error"
        assert r.json()["errors"][0].startswith("severity: unknown severity 'apocalyptic'")
        failed = alerta_cli(pipeline, "send", "-r", "web01", "-e", "X", "-s", "apocalyptic")
        assert (
            failed.returncode == 1 and "ERROR: validation failed: severity: unknown severity" in failed.stderr
        )
        # A key the API does not know is refused, in Alerta's dialect, before anything is appended.
        r = c.post("/api/alert", json=sample("alerta_alert.json"), headers={"Authorization": "Key demo-key"})
        assert r.status_code == 401 and r.json()["status"] == "error", r.text
        with pytest.raises(UnknownError, match="invalid API key"):
            Client(endpoint=f"{pipeline.api}/api", key="demo-key").send_alert("web02", "HttpServerError")


def commands(pipeline: Pipeline) -> list[Command]:
    return [decode(raw, Command) for raw in pipeline.read_topic("commands", raw=True)]


def test_pagerduty_trigger_acknowledge_resolve(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client() as c:
        trigger = sample("pagerduty_trigger.json")
        # The documented sample is dated 2015: an alert that old has expired (86,400 s timeout) by
        # the time the acknowledge arrives, and the lifecycle rightly refuses to ack it. Send it now.
        trigger["payload"].pop("timestamp")
        r = c.post("/v2/enqueue", json=trigger)
        assert r.status_code == 202
        assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"}
        alert = wait_alert(c, {"status": "open"}, source="pagerduty")
        assert (alert["resource"], alert["severity"], alert["title"]) == (
            "samplekeyhere",
            "informational",
            "Example alert on host1.example.com",
        )
        ack = {**sample("pagerduty_resolve.json"), "event_action": "acknowledge"}
        assert c.post("/api/v1/integrations/pagerduty", json=ack).status_code == 202
        [command] = wait_for(lambda: commands(pipeline), 60, "the alert.ack command")
        assert (command.name, command.target) == ("alert.ack", alert["fingerprint"])
        acked = wait_alert(c, {"status": "acknowledged"}, source="pagerduty")  # the lifecycle applied it
        # acked by the authenticated caller
        assert acked["alert_id"] == alert["alert_id"] and acked["acked_by"] == "key:pipeline-admin"

        r = c.post("/v2/enqueue", json={"routing_key": "k", "event_action": "resolve"})
        assert r.status_code == 400 and r.json()["status"] == "invalid event"
        assert "dedup_key is required" in r.json()["errors"][0]
        r = c.post("/v2/enqueue", json=sample("pagerduty_resolve.json"))
        assert r.status_code == 202 and r.json()["dedup_key"] == "samplekeyhere"
        resolved = wait_alert(c, {"status": "resolved"}, source="pagerduty")
        assert resolved["alert_id"] == alert["alert_id"] and resolved["severity"] == "ok"


ALERTA_PAIR = {
    "resource": "r7",
    "environment": "Production",
    "correlate": ["node_down", "node_marginal", "node_up"],
}
# What a real Alerta answers, step by step: its own tests/test_alerts.py::test_alert (the first seven),
# then a repeated clear (a duplicate of the closed alert: rule CLS-*) and a new problem (correlated,
# reopened by rule CLS-3). (event, severity) -> (status, duplicateCount, previousSeverity, trendIndication)
ALERTA_SEQUENCE = [
    (("node_marginal", "major"), ("open", 0, "indeterminate", "moreSevere")),
    (("node_marginal", "major"), ("open", 1, "indeterminate", "moreSevere")),
    (("node_marginal", "critical"), ("open", 0, "major", "moreSevere")),
    (("node_marginal", "critical"), ("open", 1, "major", "moreSevere")),
    (("node_down", "critical"), ("open", 0, "critical", "noChange")),
    (("node_marginal", "major"), ("open", 0, "critical", "lessSevere")),
    (("node_up", "normal"), ("closed", 0, "major", "lessSevere")),
    (("node_up", "normal"), ("closed", 1, "major", "lessSevere")),
    (("node_marginal", "warning"), ("open", 0, "normal", "moreSevere")),
]


def test_alerta_counters_and_clears_follow_alerta(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client() as c:  # `Authorization: Key <key>`, as Alerta's clients send it
        # A clear of an alert that does not exist: Alerta creates it closed and answers 201 with it.
        r = c.post("/api/alert", json={"resource": "web09", "event": "HttpServerOK", "severity": "normal"})
        assert r.status_code == 201, r.text
        clear = r.json()["alert"]
        assert (clear["status"], clear["severity"], clear["duplicateCount"], clear["repeat"]) == (
            "closed",
            "normal",
            0,
            False,
        )
        assert (clear["previousSeverity"], clear["trendIndication"]) == ("indeterminate", "lessSevere")

        # Many at once, among other alerts: every one answered 201, none lost, none appended twice.
        def post(i: int) -> int:
            severity = "ok" if i % 2 else "minor"
            return c.post(
                "/api/alert", json={"resource": f"burst{i}", "event": "E", "severity": severity}
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(post, range(32))) == [201] * 32
        sent = [o for o in pipeline.read_topic("observations.raw") if o.get("source") == "alerta"]
        assert len(sent) == 33 and len({o["event_id"] for o in sent}) == 33
        # Every one projected (a quiet pipeline is no proof: the first records may not have started).
        wait_for(
            lambda: c.get("/api/v1/events", params={"source": "alerta"}).json()["total"] == 33,
            120,
            "the 33 Alerta events in the events read model",
        )
        pipeline.wait_quiet()
        # Our pipeline opens no alert for a clear that meets none (documented): the event is kept.
        assert c.get(f"/api/alert/{r.json()['id']}").status_code == 404
        assert c.get("/api/v1/events", params={"resource": "web09"}).json()["total"] == 1

        # Alerta's own sequence, each step once the previous one is projected (the answer is computed
        # from the read model): the answer and GET /api/alert/{id} both say what Alerta says.
        got, answers = [], []
        for (name, severity), _ in ALERTA_SEQUENCE:
            r = c.post("/api/alert", json={**ALERTA_PAIR, "event": name, "severity": severity})
            assert r.status_code == 201, r.text
            answer = r.json()["alert"]

            def projected(answer: dict = answer) -> dict | None:
                found = c.get(f"/api/alert/{answer['id']}")
                alert = found.json()["alert"] if found.status_code == 200 else None
                return alert if alert and alert["lastReceiveId"] == answer["lastReceiveId"] else None

            stored = wait_for(projected, 60, f"{name} {severity} projected")
            fields = ("status", "duplicateCount", "previousSeverity", "trendIndication", "repeat", "severity")
            assert {k: stored[k] for k in fields} == {k: answer[k] for k in fields}
            got.append(
                (
                    answer["status"],
                    answer["duplicateCount"],
                    answer["previousSeverity"],
                    answer["trendIndication"],
                )
            )
            answers.append(answer)
        assert got == [want for _, want in ALERTA_SEQUENCE]
        assert [a["repeat"] for a in answers] == [n > 0 for _, (_, n, _, _) in ALERTA_SEQUENCE]
        [listed] = c.get("/api/alerts", params={"resource": "r7"}).json()["alerts"]
        assert (listed["id"], listed["duplicateCount"], listed["status"]) == (answers[-1]["id"], 0, "open")
        # Our own counters keep their meaning: every event counted, every repeat since the opening.
        [ours] = c.get("/api/v1/alerts", params={"resource": "r7"}).json()["alerts"]
        assert (ours["event_count"], ours["duplicate_count"], ours["repeats_at_severity"]) == (9, 8, 0)
