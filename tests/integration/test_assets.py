"""Asset registry on real servers: API -> commands -> agent -> ems.assets -> projection -> API."""

from __future__ import annotations

import statistics
import threading
import time

from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from tests.integration.harness import ASSET_STAGES as STAGES
from tests.integration.harness import Pipeline, dead_letters, send, wait_for


def test_command_round_trip_refusals_and_restart(pipeline: Pipeline) -> None:
    pipeline.start_worker(stages=STAGES)
    pipeline.start_api()
    with pipeline.client() as c:
        # Create with ?wait: 200 with the projected asset.
        body = {"natural_key": "app:checkout", "name": "checkout", "type": "application", "criticality": 4}
        # The actor is the authenticated principal: a body naming one is refused, nothing appended.
        r = c.post("/api/v1/assets", json={**body, "actor": "alice"})
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["actor"], r.text
        r = c.post("/api/v1/assets?wait=20", json={**body, "business_service": "shop"})
        assert r.status_code == 200, r.text
        app_id = asset_id_for("app:checkout")
        assert r.json()["status"] == "applied" and r.json()["asset"]["asset_id"] == app_id
        # Clear 4xx before anything reaches Kafka.
        assert c.post("/api/v1/assets", json=body).status_code == 409
        r = c.post("/api/v1/assets", json={"name": "x", "type": "Bad Type", "criticality": 9})
        assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"type", "criticality"}
        assert c.patch("/api/v1/assets/ast_nope", json={"name": "y"}).status_code == 404
        r = c.post("/api/v1/assets", json={"id": "bad id", "name": "x", "type": "vm"})
        assert r.status_code == 422 and "id must look like" in r.json()["error"]
        r = c.post(
            "/api/v1/assets", json={"natural_key": "a:b", "id": "ast_other", "name": "x", "type": "vm"}
        )
        assert r.status_code == 422 and "is not asset_id_for" in r.json()["error"]
        assert c.patch(f"/api/v1/assets/{app_id}", json={"name": None}).status_code == 422
        assert c.get(f"/api/v1/assets/{app_id}/upstream?depth=0").status_code == 400
        assert c.get("/api/v1/assets/not-an-id").status_code == 404
        r = c.post(f"/api/v1/assets/{app_id}/dependencies", json={"type": "likes", "target": "ast_db"})
        assert r.status_code == 422
        # Update, link (to an asset not known yet), each timed as a round trip.
        latencies = []
        for i in range(20):
            started = time.perf_counter()
            r = c.patch(f"/api/v1/assets/{app_id}?wait=20", json={"owner_team": f"team{i}", "tags": ["pci"]})
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200 and r.json()["asset"]["owner_team"] == f"team{i}", r.text
        q = statistics.quantiles(latencies, n=20)
        print(
            "\ncommand round trip API->Kafka->agent->projection->API: "
            f"p50 {q[9] * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms"
        )
        r = c.post(
            f"/api/v1/assets/{app_id}/dependencies?wait=20", json={"type": "depends_on", "target": "ast_db1"}
        )
        assert r.status_code == 200, r.text
        detail = c.get(f"/api/v1/assets/{app_id}").json()
        assert detail["dependencies"][0]["target"] == "ast_db1" and detail["open_alerts"] == []
        assert c.get("/api/v1/assets", params={"service": "shop", "tag": "pci"}).json()["total"] == 1
        assert c.get("/api/v1/assets", params={"colour": "red"}).status_code == 400
        # A business service: assets naming it, plus its service asset and its member_of members.
        svc = {"natural_key": "service:shop", "name": "shop", "type": "service"}
        assert c.post("/api/v1/assets?wait=20", json=svc).status_code == 200
        web = {
            "name": "web",
            "type": "vm",
            "dependencies": [{"type": "member_of", "target": asset_id_for("service:shop")}],
        }
        web_id = c.post("/api/v1/assets?wait=20", json=web).json()["asset_id"]
        graph = c.get("/api/v1/services/shop/graph").json()
        assert sorted(graph["members"]) == sorted([app_id, asset_id_for("service:shop"), web_id])
        assert {n["asset_id"] for n in graph["nodes"]} == {
            app_id,
            asset_id_for("service:shop"),
            web_id,
            "ast_db1",
        }

        # An agent-side refusal (the API cannot know: sent straight to Kafka) is dead-lettered, an
        # alert command on the same topic is ignored, and neither stops the stage.
        refused = Command(name="asset.update", target="ast_ghost", actor="bob", args={"name": "g"})
        other = Command(name="alert.ack", target="fp1", actor="bob")
        send(pipeline, "commands", [refused, other])
        letters = wait_for(
            lambda: [d for d in dead_letters(pipeline) if d.stage == "assets"],
            60,
            "the refusal's dead letter",
        )
        assert len(letters) == 1 and "unknown asset ast_ghost" in letters[0].reason

        # kill -9 and restart: the state is rebuilt from ems.assets, so the agent still knows the asset.
        pipeline.kill("worker")
        pipeline.start_worker(stages=STAGES)
        send(pipeline, "commands", [Command(name="asset.create", target=app_id, actor="bob", args=body)])
        wait_for(
            lambda: any("already exists" in d.reason for d in dead_letters(pipeline)), 90, "create refused"
        )
        r = c.delete(f"/api/v1/assets/{app_id}/dependencies/depends_on/ast_db1?wait=30")
        assert r.status_code == 200 and not c.get(f"/api/v1/assets/{app_id}").json()["dependencies"]
        assert (
            c.delete(f"/api/v1/assets/{app_id}?wait=20&reason=decommissioned").json()["asset"]["lifecycle"]
            == "retired"
        )
        assert c.patch(f"/api/v1/assets/{app_id}", json={"name": "z"}).status_code == 409
    history = pipeline.query(
        "SELECT version, kind, actor FROM asset_changes WHERE asset_id = %s ORDER BY version", (app_id,)
    )
    kinds = [h["kind"] for h in history]
    assert kinds == ["created"] + ["updated"] * 20 + ["linked", "unlinked", "retired"]
    assert {h["actor"] for h in history} == {"key:pipeline-admin"}  # every change made through the API
    assert [h["version"] for h in history] == list(range(1, 25)), "no command applied twice"


def test_discovery_observation_upserts_the_asset(pipeline: Pipeline) -> None:
    pipeline.start_worker(stages=STAGES)
    pipeline.start_api()
    rtr, sw = asset_id_for("device:core-rtr-1"), asset_id_for("device:sw-9")

    def discovery(model: str, at: str) -> dict:
        facts = {
            "natural_key": "device:core-rtr-1",
            "name": "core-rtr-1",
            "type": "router",
            "vendor": "Cisco",
            "model": model,
            "addresses": ["10.0.0.1"],
            "location": "DC1",
            "contact": "noc@example.com",
            "attributes": {"sysObjectID": "1.3.6.1.4.1.9.1.1"},
            "ifCount": 48,
        }
        edges = [{"type": "connected_to", "target": sw, "local_port": "Gi0/1"}]
        body = {"kind": "discovery", "facts": facts, "edges": edges}
        return {"source": "nms", "asset_id": rtr, "occurred_at": at, "body": body}

    with pipeline.client() as c:
        assert c.post("/api/v1/events", json=discovery("ASR-1001", "2026-01-08T12:00:00Z")).status_code == 202
        asset = wait_for(
            lambda: c.get(f"/api/v1/assets/{rtr}").json().get("asset"), 60, "the discovered asset"
        )
        assert (asset["type"], asset["model"], asset["attributes"]["ifCount"]) == ("router", "ASR-1001", 48)
        detail = c.get(f"/api/v1/assets/{rtr}").json()
        assert detail["dependencies"][0]["target"] == sw  # kept though sw-9 is not known yet
        # Operator fields survive rediscovery; a pinned field too.
        r = c.patch(f"/api/v1/assets/{rtr}?wait=20", json={"criticality": 5, "location": "DC1 hall B"})
        assert r.status_code == 200
        assert c.post("/api/v1/events", json=discovery("ASR-1002", "2026-01-08T13:00:00Z")).status_code == 202
        asset = wait_for(
            lambda: (a := c.get(f"/api/v1/assets/{rtr}").json()["asset"])["model"] == "ASR-1002" and a,
            60,
            "rediscovery",
        )
        assert (asset["criticality"], asset["location"]) == (5, "DC1 hall B")
        down = c.get(f"/api/v1/assets/{sw}/downstream")
        assert down.status_code == 404  # sw-9 is not an asset yet


def test_kill_9_mid_stream_applies_every_command_once(pipeline: Pipeline) -> None:
    """3,300 commands on 300 assets, the agent killed in the middle: each asset ends at version 11."""
    assets = [f"ast_k{i}" for i in range(300)]
    creates = [
        Command(name="asset.create", target=a, actor="k", args={"name": a, "type": "vm"}) for a in assets
    ]
    updates = [
        Command(name="asset.update", target=a, actor="k", args={"owner_team": f"t{n}"})
        for n in range(10)
        for a in assets
    ]
    pipeline.start_worker(stages=STAGES)
    send(pipeline, "commands", creates)

    def paced() -> None:
        for i in range(0, len(updates), 150):
            send(pipeline, "commands", updates[i : i + 150])
            time.sleep(0.2)

    producer = threading.Thread(target=paced)
    producer.start()
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM asset_changes") > 1000, 120, "1,000 changes")
    pipeline.kill("worker")  # SIGKILL: no flush, no commit
    killed_at = pipeline.scalar("SELECT count(*) FROM asset_changes")
    assert killed_at < len(creates) + len(updates), "the stream was over before the kill"
    pipeline.start_worker(stages=STAGES)
    producer.join(300)
    total = len(creates) + len(updates)
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM asset_changes") == total, 180, f"{total} changes")
    time.sleep(2)  # nothing more arrives: no command was applied twice
    assert pipeline.scalar("SELECT count(*) FROM asset_changes") == total
    rows = pipeline.query("SELECT version, owner_team FROM assets")
    assert len(rows) == 300 and {(r["version"], r["owner_team"]) for r in rows} == {(11, "t9")}
    assert not [d for d in dead_letters(pipeline) if d.stage == "assets"]
