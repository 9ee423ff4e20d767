"""Notifications end to end (real Kafka and PostgreSQL, a real SMTP server on loopback and a real HTTP
receiver): a critical alert reaches the webhook with a valid HMAC signature and the mailbox; an alert a
silence matches is not sent and its decision names the silence; the notification worker killed after
the decision and before a successful send delivers exactly once after its restart, and delivers
nothing it had delivered before; five alerts of one group within group_wait arrive as ONE webhook
call listing them, sent exactly once across a kill -9 of the stage after the group's decision; an
unacknowledged critical alert on an escalating route notifies the mailbox of the user on call (step 1),
then the webhook of the next user once ticks move the clock past the wait (step 2), while an acknowledged
one stops after step 1; an alert muted by a short maintenance window is sent once when the clock
passes the window's end; a router down with 20 devices behind it (from the asset registry) is ONE
webhook call and 20 muted alerts naming the router's alert, each notified once when the router
recovers while it is still down itself; a window
scoped by site and asset tag mutes the alert of the asset it names, decided and shown alike; a weekly
Europe/Berlin window across the October clock change mutes the alerts whose event times fall in it at
the right UTC instants, notifies those just outside and surfaces the muted ones at its UTC end; an
inhibition chain (power -> router -> host, equal environment) mutes the router and the host, and once
the power alert clears the router's next change is notified; an alert flapping is held, then notified
once when stable for 30 min of event time, the flag cleared. One pipeline for the module: the alert
pipeline and the asset registry in one worker, the notification stage in another (the one killed); a
replay rebuilding the notification read models.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from ems.agents.notify_worker import tick
from ems.infra.process import free_port
from ems.notify.messages import verify
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, Observation
from tests.integration.harness import Pipeline, send, wait_for

SECRET = "hook-secret-for-tests"


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: keeps every request (headers, body) and the status it answered."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = 200
        self.got: list[dict] = []

    def delivered(self, key: str) -> int:
        return sum(1 for r in self.got if r["key"] == key and r["status"] == 200)


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.answer
        self.server.got.append(
            {
                "path": self.path,
                "key": self.headers.get("X-EMS-Notification-Key"),
                "timestamp": self.headers.get("X-EMS-Timestamp"),
                "signature": self.headers.get("X-EMS-Signature"),
                "body": body,
                "status": status,
            }
        )
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Mailbox:
    """aiosmtpd's handler: every message accepted."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def keyed(self, key: str) -> list:
        return [
            m for m in self.messages if m["X-EMS-Notification-Key"].strip() == key
        ]  # a long key is folded


@pytest.fixture(scope="module")
def setup(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    receiver, mailbox = Receiver(), Mailbox()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    hook = {
        "name": "hook",
        "type": "webhook",
        "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        "secret": SECRET,
    }
    mail = {"name": "mail", "type": "email", "to": ["oncall@example.test"]}
    slack = {"name": "chat", "type": "slack", "url": f"http://127.0.0.1:{receiver.server_address[1]}/slack"}
    pipeline = Pipeline(
        servers,
        tmp_path_factory.mktemp("logs"),
        notify_receivers=json.dumps([hook, mail, slack]),
        notify_routes=json.dumps(
            [
                {"matchers": 'event="PageMe"', "escalation": "page"},
                {"matchers": 'event="DiskFull"', "receivers": ["hook"], "group_by": ["event", "environment"]},
                {"matchers": 'severity="critical"', "receivers": ["hook", "mail"], "continue": True},
                {"matchers": [{"name": "resource", "op": "=~", "value": "core[0-9]"}], "receivers": ["chat"]},
                {"matchers": 'resource=~"tn-.*"', "receivers": ["hook"]},  # every alert of the topology test
                {"matchers": 'resource=~"nc-.*"', "receivers": ["hook"]},  # the DST, chain and flapping tests
            ]
        ),
        notify_inhibit_rules=json.dumps(
            [  # a chain: power -> router -> host, within one environment
                {
                    "id": "power-router",
                    "source": 'event="NcPower"',
                    "target": 'event="NcRouter"',
                    "equal": ["environment"],
                },
                {
                    "id": "router-host",
                    "source": 'event="NcRouter"',
                    "target": 'event="NcHost"',
                    "equal": ["environment"],
                },
            ]
        ),  # fmt: skip
        notify_users=json.dumps(
            [{"name": "ann", "receivers": ["mail"]}, {"name": "ben", "receivers": ["hook"]}]
        ),
        notify_schedules=json.dumps(
            [{"name": "primary", "time_zone": "Europe/Paris", "rotation": ["ann"], "start": "2026-01-05"}]
        ),
        notify_escalations=json.dumps(
            [
                {
                    "name": "page",
                    "steps": [{"notify": ["schedule:primary"], "wait": "2m"}, {"notify": ["user:ben"]}],
                }
            ]
        ),
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=str(smtp.port),
        broker_session_timeout="4",  # the killed worker's group members are dropped sooner
        notify_backoff="0.5",
        notify_backoff_cap="1",
        notify_max_attempts="100",
    )
    try:
        pipeline.start_worker(stages="normalize,dedupe,projections,suppressions,assets")
        pipeline.start("notify", "worker", "--stages", "notify")
        pipeline.start_api()
        yield pipeline, receiver, mailbox
    finally:
        pipeline.stop_all()
        smtp.stop()
        receiver.shutdown()


def raise_alert(pipeline: Pipeline, resource: str, severity: str = "critical") -> str:
    """An event on `resource` through the API; the id of its alert."""
    event = {"source": "nms", "resource": resource, "event": "NodeDown", "severity": severity}
    with pipeline.client() as c:
        assert c.post("/api/v1/events", json=event).status_code == 202
        found = wait_for(
            lambda: c.get("/api/v1/alerts", params={"resource": resource}).json()["alerts"], 120, "the alert"
        )
    return found[0]["alert_id"]


def notifications(pipeline: Pipeline, alert_id: str) -> dict:
    with pipeline.client() as c:
        answer = c.get(f"/api/v1/alerts/{alert_id}/notifications")
    assert answer.status_code == 200, answer.text
    return answer.json()


def outcomes(pipeline: Pipeline, alert_id: str) -> list[tuple[str, str]]:
    return [(a["receiver"], a["outcome"]) for a in notifications(pipeline, alert_id)["attempts"]]


def test_a_critical_alert_reaches_the_webhook_signed_the_mailbox_and_chat_and_so_does_its_resolve(
    setup: tuple,
) -> None:
    pipeline, receiver, mailbox = setup
    alert_id = raise_alert(pipeline, "core1")
    key = f"{alert_id}:1:hook"
    request = wait_for(lambda: [r for r in receiver.got if r["key"] == key], 120, "the webhook")[0]
    assert verify(SECRET, request["timestamp"], request["body"], request["signature"])
    body = json.loads(request["body"])
    assert (body["kind"], body["alert"]["resource"], body["alert"]["severity"]) == (
        "firing",
        "core1",
        "critical",
    )
    mail = wait_for(lambda: mailbox.keyed(f"{alert_id}:1:mail"), 60, "the email")[0]
    assert mail["Subject"] == "[FIRING] critical NodeDown on core1" and mail["To"] == "oncall@example.test"
    chat = wait_for(lambda: [r for r in receiver.got if r["key"] == f"{alert_id}:1:chat"], 60, "the chat")[0]
    assert chat["path"] == "/slack" and json.loads(chat["body"])["text"].startswith(
        "[FIRING] critical NodeDown"
    )
    delivered = {(r, o) for r in ("hook", "mail", "chat") for o in ("queued", "delivered")}
    wait_for(lambda: set(outcomes(pipeline, alert_id)) == delivered, 60, "the attempts in the read model")
    decision = notifications(pipeline, alert_id)["decisions"][0]
    assert (decision["kind"], decision["notify"]) == ("firing", True)
    assert decision["receivers"] == ["hook", "mail", "chat"]

    # The clear resolves the alert: a resolved notification to the same receivers.
    raise_alert(pipeline, "core1", severity="normal")
    resolved = wait_for(
        lambda: [r for r in receiver.got if r["key"].startswith(alert_id) and b'"resolved"' in r["body"]],
        60,
        "the resolved webhook",
    )
    assert json.loads(resolved[0]["body"])["kind"] == "resolved" and resolved[0]["path"] == "/hook"
    wait_for(
        lambda: [m for m in mailbox.messages if m["Subject"].startswith("[RESOLVED]")], 60, "the resolve"
    )


def test_an_alert_a_silence_matches_is_not_sent_and_the_decision_names_the_silence(setup: tuple) -> None:
    pipeline, receiver, mailbox = setup
    silence = {
        "matchers": [{"name": "resource", "op": "=", "value": "core2"}],
        "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "comment": "core2 is being replaced",
    }
    with pipeline.client() as c:
        created = c.post("/api/v1/silences", params={"wait": 30}, json=silence)
    assert created.status_code == 200, created.text
    silence_id = created.json()["silence"]["silence_id"]
    alert_id = raise_alert(pipeline, "core2")
    decisions = wait_for(lambda: notifications(pipeline, alert_id)["decisions"], 60, "the decision")
    assert (decisions[0]["notify"], decisions[0]["silenced_by"], decisions[0]["receivers"]) == (
        False,
        [silence_id],
        [],
    )
    assert any(silence_id in reason for reason in decisions[0]["reasons"])
    # The decision precedes any send and names no receiver: nothing was queued, nothing arrived.
    assert notifications(pipeline, alert_id)["attempts"] == []
    assert not [r for r in receiver.got if r["key"].startswith(alert_id)]
    assert not [m for m in mailbox.messages if m["X-EMS-Notification-Key"].startswith(alert_id)]
    # The alert list shows the muting and filters on it.
    with pipeline.client() as c:
        listed = wait_for(
            lambda: [a for a in c.get("/api/v1/alerts", params={"muted": "true"}).json()["alerts"]
                     if a["alert_id"] == alert_id],
            60,
            "the muted alert in the list",
        )  # fmt: skip
        assert listed[0]["muted"] is True and listed[0]["muted_by"] == {
            "windows": [], "silences": [silence_id], "inhibitions": [], "symptom_of": None, "flapping": False
        }  # fmt: skip
        unmuted = c.get("/api/v1/alerts", params={"muted": "false", "limit": 1000}).json()["alerts"]
        assert alert_id not in {a["alert_id"] for a in unmuted}
        assert {"core1"} <= {a["resource"] for a in unmuted if a["muted_by"] is not None}
        bad = c.get("/api/v1/alerts", params={"muted": "maybe"})
        assert bad.status_code == 400 and "muted is boolean" in bad.json()["error"], bad.text


def group_of_five(pipeline: Pipeline, receiver: Receiver) -> tuple[list[str], str]:
    """Five alerts of one group of the DiskFull route within group_wait: each alert's decision names
    the group and nothing is sent before the clock passes group_wait. Their ids and the group id."""
    events = [
        {
            "source": "nms",
            "resource": f"disk{i}",
            "event": "DiskFull",
            "severity": "major",
            "environment": "lab",
        }
        for i in range(5)
    ]
    with pipeline.client() as c:
        assert c.post("/api/v1/events", json=events).status_code == 202
        alerts = wait_for(
            lambda: (
                len(found := c.get("/api/v1/alerts", params={"event": "DiskFull"}).json()["alerts"]) == 5
                and found
            ),
            120,
            "the five alerts",
        )
    ids = sorted(a["alert_id"] for a in alerts)
    decided = "SELECT receivers, reasons FROM notification_decisions WHERE alert_id = ANY(%s)"
    rows = wait_for(
        lambda: len(found := pipeline.query(decided, (ids,))) == 5 and found, 60, "their decisions"
    )
    group_id = rows[0]["reasons"][-1].rsplit(" ", 1)[-1]
    assert group_id.startswith("grp_") and all(r["receivers"] == [] for r in rows)
    assert {r["reasons"][-1] for r in rows} == {f"notified with its group: {group_id}"}
    assert not [r for r in receiver.got if r["key"].startswith(group_id)]  # group_wait (30 s) not over
    return ids, group_id


def test_a_worker_killed_between_decision_and_send_delivers_exactly_once(setup: tuple) -> None:
    """An alert's notification and a group's (five alerts within group_wait: ONE decision, ONE call
    listing the five), both decided and refused before the kill -9, delivered once after the restart."""
    pipeline, receiver, mailbox = setup
    before = {r["key"] for r in receiver.got if r["status"] == 200}
    receiver.answer = 503  # decided, then every send refused: retried with backoff, never delivered
    alert_id = raise_alert(pipeline, "core3")
    key = f"{alert_id}:1:hook"
    ids, group_id = group_of_five(pipeline, receiver)
    send(pipeline, "commands", [tick(datetime.now(UTC) + timedelta(seconds=60))])  # the clock past group_wait
    group_key = f"{group_id}:1:hook"
    attempts = "SELECT outcome FROM notification_attempts WHERE key = %s"
    wait_for(lambda: ("hook", "retried") in outcomes(pipeline, alert_id), 120, "a refused attempt")
    wait_for(
        lambda: "retried" in {r["outcome"] for r in pipeline.query(attempts, (group_key,))}, 60, "a refusal"
    )
    pipeline.kill("notify")
    receiver.answer = 200
    pipeline.restart("notify")
    wait_for(
        lambda: receiver.delivered(key) and receiver.delivered(group_key),
        120,
        "the deliveries after the restart",
    )
    wait_for(lambda: ("hook", "delivered") in outcomes(pipeline, alert_id), 60, "the delivered attempt")
    assert receiver.delivered(key) == 1
    hook = [
        (a["attempt"], a["outcome"])
        for a in notifications(pipeline, alert_id)["attempts"]
        if a["receiver"] == "hook"
    ]
    assert hook[0] == (0, "queued") and hook[-1][1] == "delivered" and len(hook) >= 3
    assert {o for _, o in hook[1:-1]} == {"retried"} and [n for n, _ in hook] == list(range(len(hook)))
    # What was delivered before the kill was not sent again (the log is read in order on restart).
    assert all(receiver.delivered(k) == 1 for k in before)
    assert len(mailbox.keyed(f"{alert_id}:1:mail")) == 1
    # The group: one decision, one call delivered listing the five (rebuilt as flushed, not flushed again).
    [sent] = [r for r in receiver.got if r["key"].startswith(group_id) and r["status"] == 200]
    assert sent["key"] == group_key and verify(SECRET, sent["timestamp"], sent["body"], sent["signature"])
    body = json.loads(sent["body"])
    assert (body["group_id"], body["kind"], body["group_labels"]) == (
        group_id, "firing", {"event": "DiskFull", "environment": "lab"}
    )  # fmt: skip
    assert sorted(a["alert_id"] for a in body["alerts"]) == ids
    wait_for(
        lambda: "delivered" in {r["outcome"] for r in pipeline.query(attempts, (group_key,))}, 60, "delivered"
    )
    groups = pipeline.query("SELECT version FROM notification_decisions WHERE alert_id = %s", (group_id,))
    assert groups == [{"version": 1}]


def test_an_unacknowledged_alert_escalates_to_step_two_and_an_acknowledged_one_stops(setup: tuple) -> None:
    pipeline, receiver, mailbox = setup
    with pipeline.client() as c:
        for resource in ("edge1", "edge2"):
            event = {"source": "nms", "resource": resource, "event": "PageMe", "severity": "critical"}
            assert c.post("/api/v1/events", json=event).status_code == 202
        found = wait_for(
            lambda: len(a := c.get("/api/v1/alerts", params={"event": "PageMe"}).json()["alerts"]) == 2 and a,
            120,
            "the two alerts",
        )
        ids = {a["resource"]: a["alert_id"] for a in found}
        # Step 1 at once: the mailbox of the user on call (the schedule's only user).
        for alert_id in ids.values():
            wait_for(lambda a=alert_id: mailbox.keyed(f"{a}:esc1:1:mail"), 60, "step 1's email")
        acked = c.post(f"/api/v1/alerts/{ids['edge2']}/ack", params={"wait": 30})
        assert acked.status_code == 200, acked.text
    assert not [r for r in receiver.got if r["key"] and ":esc1:" in r["key"]]  # the 2 minutes are not over
    send(pipeline, "commands", [tick(datetime.now(UTC) + timedelta(minutes=3))])  # the clock past the wait
    step2 = f"{ids['edge1']}:esc1:2:hook"
    request = wait_for(lambda: [r for r in receiver.got if r["key"] == step2], 60, "step 2's webhook")[0]
    assert verify(SECRET, request["timestamp"], request["body"], request["signature"])
    body = json.loads(request["body"])
    assert (body["alert_id"], body["escalation"]["policy"], body["escalation"]["step"]) == (
        ids["edge1"],
        "page",
        2,
    )
    wait_for(lambda: ("hook", "delivered") in outcomes(pipeline, ids["edge1"]), 60, "step 2 delivered")
    steps = [(d["alert_id"], d["version"]) for d in notifications(pipeline, ids["edge1"])["decisions"]]
    assert steps == [(ids["edge1"], 1), (f"{ids['edge1']}:esc1", 1), (f"{ids['edge1']}:esc1", 2)]
    # The acknowledged alert stopped after step 1: its step 2 would have been decided with edge1's.
    stopped = [(d["alert_id"], d["version"]) for d in notifications(pipeline, ids["edge2"])["decisions"]]
    assert stopped == [(ids["edge2"], 1), (f"{ids['edge2']}:esc1", 1)]
    assert not [r for r in receiver.got if r["key"].startswith(ids["edge2"])]
    assert [len(mailbox.keyed(f"{a}:esc1:1:mail")) for a in ids.values()] == [1, 1]


def test_an_alert_muted_by_a_window_is_notified_once_when_the_window_ends(setup: tuple) -> None:
    """A short maintenance window mutes an alert; the clock moved past the window's end (a tick, event
    time) surfaces it: ONE webhook call, keyed by alert, version and the window, and the alert unmuted."""
    pipeline, receiver, mailbox = setup
    now = datetime.now(UTC)
    end = now + timedelta(seconds=300)  # ahead of the clock the earlier ticks left (now + 3 min)
    window = {
        "title": "edge5 swap",
        "scope": {"matchers": [{"name": "resource", "op": "=", "value": "edge5"}]},
        "schedule": {"start": (now - timedelta(minutes=1)).isoformat(), "end": end.isoformat()},
    }
    with pipeline.client() as c:
        created = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=window)
    assert created.status_code == 200, created.text
    window_id = created.json()["window"]["window_id"]
    alert_id = raise_alert(pipeline, "edge5")
    muted = wait_for(lambda: notifications(pipeline, alert_id)["decisions"], 60, "the muted decision")
    assert (muted[0]["notify"], muted[0]["suppressed_by"], muted[0]["surfaced"]) == (False, [window_id], "")
    send(pipeline, "commands", [tick(end + timedelta(seconds=1))])  # the clock past the window's end
    key = f"{alert_id}:1:{window_id}:hook"
    request = wait_for(lambda: [r for r in receiver.got if r["key"] == key], 60, "the surfaced webhook")[0]
    assert verify(SECRET, request["timestamp"], request["body"], request["signature"])
    body = json.loads(request["body"])
    assert (body["kind"], body["version"], body["alert"]["resource"]) == ("firing", 1, "edge5")
    assert datetime.fromisoformat(body["decided_at"]) == end  # at the window's end, not the tick's time
    wait_for(lambda: ("hook", "delivered") in outcomes(pipeline, alert_id), 60, "the delivered attempt")
    wait_for(lambda: mailbox.keyed(f"{alert_id}:1:{window_id}:mail"), 60, "the surfaced email")
    send(pipeline, "commands", [tick(end + timedelta(seconds=2))])  # a later tick surfaces nothing more
    pipeline.wait_quiet(60, quiet=1.0)
    assert [r["key"] for r in receiver.got if r["key"].startswith(alert_id)] == [key]  # exactly once
    decisions = notifications(pipeline, alert_id)["decisions"]
    assert [(d["version"], d["surfaced"], d["notify"]) for d in decisions] == [
        (1, "", False),
        (1, window_id, True),
    ]
    with pipeline.client() as c:
        row = c.get("/api/v1/alerts", params={"resource": "edge5"}).json()["alerts"][0]
    assert (row["muted"], row["muted_by"]["windows"]) == (False, [])


def create(name: str, kind: str, links: tuple[str, ...] = (), **fields: object) -> Command:
    deps = [{"type": "connected_to", "target": asset_id_for(f"tn:{x}")} for x in links]
    args = {"name": name, "type": kind, "dependencies": deps, **fields}
    return Command(name="asset.create", target=asset_id_for(f"tn:{name}"), actor="test", args=args)


def unreachable(name: str, severity: str = "major", event: str = "Device Unreachable") -> dict:
    """An event (by default `Device Unreachable`, a down event) on the asset `name`, for the native API."""
    obs = Observation(
        event_id=f"tn-{name}-{severity}",
        source="nms",
        asset_id=asset_id_for(f"tn:{name}"),
        occurred_at=datetime.now(UTC),
        body=EventBody(event=event, severity=severity, resource=name),
    )
    return obs.model_dump(mode="json")


def test_a_router_down_with_20_devices_behind_it_is_one_notification_and_20_linked_symptoms(
    setup: tuple,
) -> None:
    pipeline, receiver, _ = setup
    devices = [f"tn-dev{i:02d}" for i in range(20)]
    assets = [
        create("tn-noc", "server", ("tn-core",), tags=["poller"]),
        create("tn-core", "router"),
        *[create(d, "server", ("tn-core",)) for d in devices],
    ]
    send(pipeline, "commands", assets)
    ids = [c.target for c in assets]
    counted = "SELECT count(*) FROM assets WHERE asset_id = ANY(%s)"
    wait_for(lambda: pipeline.scalar(counted, (ids,)) == len(ids), 60, "the assets")

    def alerts(c, **params) -> dict[str, dict]:
        found = c.get("/api/v1/alerts", params={"limit": 1000, **params}).json()["alerts"]
        return {a["resource"]: a for a in found if a["resource"].startswith("tn-")}

    with pipeline.client() as c:
        assert c.post("/api/v1/events", json=[unreachable("tn-core", "critical")]).status_code == 202
        router = wait_for(lambda: alerts(c).get("tn-core"), 120, "the router's alert")["alert_id"]
        wait_for(lambda: receiver.delivered(f"{router}:1:hook"), 60, "the router's webhook")
        assert c.post("/api/v1/events", json=[unreachable(d) for d in devices]).status_code == 202
        muted = wait_for(
            lambda: len(found := alerts(c, muted="true")) == 20 and found, 120, "20 muted symptoms"
        )
        parent = {"alert_id": router, "asset_id": asset_id_for("tn:tn-core"), "resource": "tn-core"}
        assert sorted(muted) == devices
        assert sorted(alerts(c, **{"muted_by.symptom_of": f"~{router}"})) == devices  # the router's symptoms
        for a in muted.values():
            assert a["muted"] is True and a["muted_by"]["symptom_of"] == {
                **parent,
                "event": "Device Unreachable",
            }
            assert (a["muted_by"]["windows"], a["muted_by"]["inhibitions"]) == ([], [])
        decision = notifications(pipeline, muted["tn-dev00"]["alert_id"])["decisions"][0]
        assert (decision["notify"], decision["receivers"]) == (False, [])
        assert decision["reasons"][0].startswith(f"symptom of alert {router}: reached only through tn-core")
        # ONE webhook call: the router's (the symptoms' decisions came after it and queued nothing).
        assert [r["key"] for r in receiver.got if r["path"] == "/hook" and "tn-" in r["body"].decode()] == [
            f"{router}:1:hook"
        ]

        # The router recovers: the 20 devices still down are no longer its symptoms, so each is
        # notified once then (surfaced at the recovery's time) and un-muted on the list.
        assert c.post("/api/v1/events", json=[unreachable("tn-core", "normal")]).status_code == 202
        wait_for(
            lambda: [r for r in receiver.got if r["key"].startswith(router) and b'"resolved"' in r["body"]],
            60,
            "the router's resolved webhook",
        )
        keys = {f"{a['alert_id']}:1:symptom:{router}:hook" for a in muted.values()}
        wait_for(lambda: keys <= {r["key"] for r in receiver.got}, 60, "the 20 surfaced webhooks")
        wait_for(lambda: not alerts(c, muted="true"), 60, "the devices un-muted on the list")
        pipeline.wait_quiet(60, quiet=1.0)
        sent = [r["key"] for r in receiver.got if r["key"] in keys]
        assert sorted(sent) == sorted(keys)  # once each
        decision = notifications(pipeline, muted["tn-dev00"]["alert_id"])["decisions"][-1]
        assert (decision["notify"], decision["surfaced"]) == (True, f"symptom:{router}")


def test_a_window_scoped_by_site_and_asset_tag_mutes_the_alerts_of_those_assets(setup: tuple) -> None:
    pipeline, receiver, _ = setup
    assets = [
        create("tn-lab1", "server", ("tn-noc",), location="tn-lab", tags=["tn-rack"]),
        create("tn-lab2", "server", ("tn-noc",), location="tn-lab"),  # not the tag: not covered
    ]
    send(pipeline, "commands", assets)
    counted = "SELECT count(*) FROM assets WHERE asset_id = ANY(%s)"
    wait_for(lambda: pipeline.scalar(counted, ([a.target for a in assets],)) == 2, 60, "the assets")
    now = datetime.now(UTC)
    window = {
        "title": "lab works",
        "scope": {"sites": ["tn-lab"], "asset_tags": ["tn-rack"]},
        "schedule": {
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
    }
    with pipeline.client() as c:
        created = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=window)
        assert created.status_code == 200, created.text
        window_id = created.json()["window"]["window_id"]
        events = [unreachable(a, "critical", "HighCPU") for a in ("tn-lab1", "tn-lab2")]
        assert c.post("/api/v1/events", json=events).status_code == 202

        def decided() -> dict[str, dict] | None:
            listed = c.get("/api/v1/alerts", params={"limit": 1000}).json()["alerts"]
            found = [a for a in listed if a["resource"] in ("tn-lab1", "tn-lab2")]
            return len(found) == 2 and all(a["muted_by"] for a in found) and {a["resource"]: a for a in found}

        found = wait_for(decided, 120, "the two decisions")
        assert found["tn-lab1"]["muted"] is True and found["tn-lab1"]["muted_by"]["windows"] == [window_id]
        assert found["tn-lab2"]["muted"] is False
        wait_for(
            lambda: receiver.delivered(f"{found['tn-lab2']['alert_id']}:1:hook"), 60, "tn-lab2's webhook"
        )
        assert not [r for r in receiver.got if r["key"].startswith(found["tn-lab1"]["alert_id"])]
        # The alert's detail, computed when read from the assets table, agrees.
        detail = c.get(f"/api/v1/alerts/{found['tn-lab1']['alert_id']}").json()["muting"]
        assert [w["window_id"] for w in detail["suppressed_by"]] == [window_id]


def at_time(
    resource: str, severity: str, at: datetime, event: str = "NcDown", env: str = "production"
) -> dict:
    """An event on `resource` at the event time `at` (timeout 0: the alert never expires), for the API."""
    obs = Observation(
        event_id=f"{resource}-{severity}-{int(at.timestamp())}",
        source="nms",
        occurred_at=at,
        body=EventBody(event=event, severity=severity, resource=resource, environment=env, timeout=0),
    )
    return obs.model_dump(mode="json")


def alert_ids(pipeline: Pipeline, resources: list[str]) -> dict[str, str]:
    """The ids of the alerts on `resources` (each resource has one), once all exist."""
    with pipeline.client() as c:

        def found() -> dict[str, str] | None:
            listed = c.get("/api/v1/alerts", params={"limit": 1000}).json()["alerts"]
            ids = {a["resource"]: a["alert_id"] for a in listed if a["resource"] in resources}
            return len(ids) == len(resources) and ids

        return wait_for(found, 120, f"the alerts on {', '.join(resources)}")


def decisions_of(pipeline: Pipeline, alert_id: str, count: int) -> list[dict]:
    return wait_for(
        lambda: len(d := notifications(pipeline, alert_id)["decisions"]) >= count and d, 60, "the decisions"
    )


def test_a_weekly_window_across_the_berlin_clock_change_mutes_at_the_right_utc_instants(setup: tuple) -> None:
    """Sundays 02:00-04:00 Europe/Berlin: 00:00-03:00 UTC on 25 October 2026 (fall back, 3 h), 01:00-03:00
    UTC the next Sunday. Decided on each alert's event time (long past for the stage's clock): the alerts
    inside are muted by the window, those just outside notified, and the muted ones surface at the end."""
    pipeline, receiver, _ = setup
    window = {
        "title": "weekly works",
        "scope": {"matchers": [{"name": "resource", "op": "=~", "value": "nc-dst.*"}]},
        "schedule": {
            "frequency": "weekly",
            "weekdays": ["sun"],
            "hours": "02:00-04:00",
            "timezone": "Europe/Berlin",
        },
    }
    with pipeline.client() as c:
        created = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=window)
        assert created.status_code == 200, created.text
        window_id = created.json()["window"]["window_id"]
        inside = {  # local time, and UTC + 1 or 2 would say outside for two of them
            "nc-dst-a": "2026-10-25T00:15:00+00:00",  # 02:15 CEST, the first pass of the repeated hour
            "nc-dst-b": "2026-10-25T02:30:00+00:00",  # 03:30 CET, in the window's third hour that day
            "nc-dst-d": "2026-11-01T02:30:00+00:00",  # 03:30 CET the next Sunday
        }
        outside = {
            "nc-dst-c": "2026-11-01T00:30:00+00:00",  # 01:30 CET (02:30 in summer time)
            "nc-dst-e": "2026-11-01T03:00:00+00:00",  # 04:00 CET: the end, excluded
        }
        events = [at_time(r, "major", datetime.fromisoformat(t)) for r, t in {**inside, **outside}.items()]
        assert c.post("/api/v1/events", json=events).status_code == 202
    ids = alert_ids(pipeline, [*inside, *outside])
    for resource in outside:
        wait_for(lambda r=resource: receiver.delivered(f"{ids[r]}:1:hook"), 60, f"{resource}'s webhook")
        [decision] = decisions_of(pipeline, ids[resource], 1)
        assert (decision["notify"], decision["suppressed_by"]) == (True, [])
        assert datetime.fromisoformat(decision["at"]) == datetime.fromisoformat(outside[resource])
    send(pipeline, "commands", [tick(datetime.now(UTC))])  # the clock (past every end) surfaces the last one
    ends = {"nc-dst-a": "2026-10-25T03:00:00+00:00", "nc-dst-b": "2026-10-25T03:00:00+00:00",
            "nc-dst-d": "2026-11-01T03:00:00+00:00"}  # fmt: skip
    for resource, end in ends.items():
        key = f"{ids[resource]}:1:{window_id}:hook"
        request = wait_for(
            lambda k=key: [r for r in receiver.got if r["key"] == k], 60, "the surfaced webhook"
        )
        assert datetime.fromisoformat(json.loads(request[0]["body"])["decided_at"]) == datetime.fromisoformat(
            end
        )
        muted, surfaced = decisions_of(pipeline, ids[resource], 2)
        assert (muted["notify"], muted["suppressed_by"]) == (False, [window_id])
        assert datetime.fromisoformat(muted["at"]) == datetime.fromisoformat(inside[resource])
        assert muted["reasons"] == [f"maintenance window {window_id} (suppress) open until {end}"]
        assert (surfaced["notify"], surfaced["surfaced"]) == (True, window_id)
    assert not [r for r in receiver.got if any(r["key"] == f"{ids[x]}:1:hook" for x in inside)]


def test_an_inhibition_chain_mutes_down_the_chain_and_lets_go_when_its_source_clears(setup: tuple) -> None:
    """power inhibits router, router inhibits host (equal environment): the router muted by the power
    alert, the host by the router (itself muted); a host elsewhere notified; the power alert cleared, the
    router's next change is notified while the host's is still muted by the router."""
    pipeline, receiver, _ = setup

    def post(*events: dict) -> None:
        with pipeline.client() as c:
            assert c.post("/api/v1/events", json=list(events)).status_code == 202

    now = datetime.now(UTC)
    post(at_time("nc-pdu", "major", now, "NcPower", "nc-site"))
    power = alert_ids(pipeline, ["nc-pdu"])["nc-pdu"]
    wait_for(lambda: receiver.delivered(f"{power}:1:hook"), 60, "the power alert's webhook")
    post(at_time("nc-rtr", "major", now, "NcRouter", "nc-site"))
    router = alert_ids(pipeline, ["nc-rtr"])["nc-rtr"]
    [decision] = decisions_of(pipeline, router, 1)
    assert (decision["notify"], decision["inhibited_by"]) == (
        False, [{"rule_id": "power-router", "source_id": power}]
    )  # fmt: skip
    post(at_time("nc-host", "major", now, "NcHost", "nc-site"), at_time("nc-host2", "major", now, "NcHost"))
    hosts = alert_ids(pipeline, ["nc-host", "nc-host2"])
    [decision] = decisions_of(pipeline, hosts["nc-host"], 1)
    assert (decision["notify"], decision["inhibited_by"]) == (
        False, [{"rule_id": "router-host", "source_id": router}]
    )  # fmt: skip
    wait_for(lambda: receiver.delivered(f"{hosts['nc-host2']}:1:hook"), 60, "the other site's host")

    post(at_time("nc-pdu", "normal", now + timedelta(seconds=1), "NcPower", "nc-site"))
    wait_for(lambda: len(notifications(pipeline, power)["decisions"]) == 2, 60, "the power alert's resolve")
    later = now + timedelta(seconds=2)
    post(
        at_time("nc-rtr", "minor", later, "NcRouter", "nc-site"),
        at_time("nc-host", "minor", later, "NcHost", "nc-site"),
    )
    wait_for(lambda: receiver.delivered(f"{router}:2:hook"), 60, "the router's next change notified")
    changed = decisions_of(pipeline, router, 2)[1]
    assert (changed["notify"], changed["inhibited_by"]) == (True, [])
    host = decisions_of(pipeline, hosts["nc-host"], 2)[1]
    assert (host["notify"], host["inhibited_by"]) == (
        False,
        [{"rule_id": "router-host", "source_id": router}],
    )
    assert not [r for r in receiver.got if r["key"].startswith((f"{router}:1:", f"{hosts['nc-host']}:"))]
    with pipeline.client() as c:
        rows = {a["resource"]: a for a in c.get("/api/v1/alerts", params={"muted": "true"}).json()["alerts"]}
    assert rows["nc-host"]["muted_by"]["inhibitions"] == [{"rule_id": "router-host", "source_id": router}]
    assert "nc-rtr" not in rows


def test_a_flapping_alert_is_held_then_notified_once_when_it_is_stable(setup: tuple) -> None:
    """Three severity changes within 30 min (event time, ahead of the stage's clock) set the flag: the
    third is held; the clock 30 min past the last change notifies it once and the flag clears, so the
    next change is notified unflagged."""
    pipeline, receiver, _ = setup

    def flap_row(c) -> dict:
        listed = c.get("/api/v1/alerts", params={"resource": "nc-flap"}).json()["alerts"]
        return listed[0] if listed else {"severity": None, "muted": None}

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)  # past the earlier ticks
    severities = ["major", "warning", "major", "warning"]
    events = [at_time("nc-flap", s, start + timedelta(minutes=i)) for i, s in enumerate(severities)]
    with pipeline.client() as c:
        for event in events:  # one at a time: four versions of one alert
            assert c.post("/api/v1/events", json=event).status_code == 202
            wait_for(lambda e=event: flap_row(c)["severity"] == e["body"]["severity"], 60, "the change")
    alert_id = alert_ids(pipeline, ["nc-flap"])["nc-flap"]
    decided = decisions_of(pipeline, alert_id, 4)
    assert [(d["version"], d["notify"], d["flapping"]) for d in decided] == [
        (1, True, False), (2, True, False), (3, True, False), (4, False, True)
    ]  # fmt: skip
    last = start + timedelta(minutes=3)
    stable = last + timedelta(minutes=30)
    assert decided[3]["reasons"] == [f"flapping: held until stable, at the earliest {stable.isoformat()}"]
    send(pipeline, "commands", [tick(stable - timedelta(minutes=1))])  # not yet stable for 30 min
    pipeline.wait_quiet(60, quiet=1.0)
    key = f"{alert_id}:4:flapping:hook"
    assert not [r for r in receiver.got if r["key"] == key]
    with pipeline.client() as c:
        assert flap_row(c)["muted"] is True
    send(pipeline, "commands", [tick(last + timedelta(minutes=31))])
    request = wait_for(lambda: [r for r in receiver.got if r["key"] == key], 60, "the surfaced webhook")[0]
    assert datetime.fromisoformat(json.loads(request["body"])["decided_at"]) == stable
    assert not [r for r in receiver.got if r["key"] == f"{alert_id}:4:hook"]
    surfaced = decisions_of(pipeline, alert_id, 5)[4]
    assert (surfaced["version"], surfaced["surfaced"], surfaced["notify"], surfaced["flapping"]) == (
        4, "flapping", True, False
    )  # fmt: skip
    with pipeline.client() as c:
        wait_for(
            lambda: not flap_row(c)["muted"],
            60,
            "the flag cleared on the list",
        )
        # One change after the calm spell is notified, unflagged.
        again = at_time("nc-flap", "major", last + timedelta(minutes=40))
        assert c.post("/api/v1/events", json=again).status_code == 202
    wait_for(lambda: receiver.delivered(f"{alert_id}:5:hook"), 60, "the next change's webhook")
    assert (decisions_of(pipeline, alert_id, 6)[5]["flapping"]) is False
    assert [r["key"] for r in receiver.got if r["key"].startswith(f"{alert_id}:")] == [
        f"{alert_id}:{v}:hook" for v in (1, 2, 3)
    ] + [key, f"{alert_id}:5:hook"]


def test_a_replay_rebuilds_the_notification_read_models_identically(setup: tuple) -> None:
    pipeline, _, _ = setup
    pipeline.wait_quiet(60, quiet=1.0)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in {
        "notification_decisions": "alert_id, version",
        "notification_attempts": "key, attempt",
    }.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"
    # The alerts' muting, whichever of the alerts and notifications projections wrote first (`pending`
    # is bookkeeping of the copy onto the alert rows).
    for select in (
        "SELECT alert_id, muted, muted_by FROM alerts ORDER BY alert_id",
        "SELECT alert_id, version, at, muted, muted_by FROM alert_muting ORDER BY alert_id",
    ):
        live, rebuilt = pipeline.query(select), pipeline.query(select, schema=target)
        assert live and live == rebuilt, f"{select} differs after replay"
    assert any(r["muted"] for r in live)
