"""Tenants on the real stack: a key bound to a tenant sees and changes only that tenant's alerts, events,
assets and metrics; what it writes lands as its tenant; an untenanted admin sees everything; a replay
rebuilds the tenant columns identically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from ems.api.security.keys import hash_secret, new_key
from ems.schemas.identity import asset_id_for
from tests.integration.harness import Pipeline, wait_for

SCOPES = [
    "read:alerts",
    "read:assets",
    "read:metrics",
    "write:alerts",
    "write:assets",
    "write:observations",
]
TABLES = {"events": "event_id", "alerts": "alert_id", "alert_history": "alert_id, event_id, kind"}
TABLES |= {"assets": "asset_id", "asset_dependencies": "source_id, type, target_id"}


def tenant_key(pipeline: Pipeline, name: str, tenant: str) -> str:
    """An API key bound to `tenant`, made as the pipeline's admin key is (a row in its schema)."""
    pipeline.admin_key()  # waits for the api_keys table
    key_id, secret, text = new_key()
    pipeline.query(
        "INSERT INTO api_keys (key_id, name, owner, scopes, tenant, secret_hash) "
        "VALUES (%s, %s, 'tests', %s, %s, %s) RETURNING key_id",
        (key_id, name, SCOPES, tenant, hash_secret(secret)),
    )
    return text


def as_key(pipeline: Pipeline, key: str) -> httpx.Client:
    return pipeline.client(headers={"Authorization": f"Key {key}"})


def event(resource: str, asset_id: str | None = None, **extra: object) -> dict:
    body = {"source": "nms", "severity": "critical", "event": "NodeDown", "resource": resource, **extra}
    return {**body, "asset_id": asset_id} if asset_id else body


def test_a_tenants_key_sees_and_changes_only_its_tenant(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    a_key, b_key = tenant_key(pipeline, "acme-ops", "acme"), tenant_key(pipeline, "globex-ops", "globex")
    web, db = asset_id_for("acme:web01"), asset_id_for("globex:db01")
    now = datetime.now(UTC).replace(microsecond=0)
    with pipeline.client() as admin, as_key(pipeline, a_key) as a, as_key(pipeline, b_key) as b:
        # -- writes: stamped with the key's tenant; naming another tenant is a 403 -----------------
        r = a.post(
            "/api/v1/assets?wait=30", json={"natural_key": "acme:web01", "name": "web01", "type": "server"}
        )
        assert r.status_code == 200 and r.json()["asset"]["tenant"] == "acme", r.text
        db_body = {"natural_key": "globex:db01", "name": "db01", "type": "database"}
        r = b.post("/api/v1/assets", json={**db_body, "tenant": "acme"})
        assert r.status_code == 403 and "not yours" in r.json()["error"], r.text
        assert b.post("/api/v1/assets?wait=30", json=db_body).json()["asset"]["tenant"] == "globex"
        # The same problem (resource + event) from both tenants and from the admin (no tenant).
        assert a.post("/api/v1/events", json=event("core", web)).status_code == 202
        assert b.post("/api/v1/events", json=event("core", db)).status_code == 202
        assert admin.post("/api/v1/events", json=event("core", web)).status_code == 202
        # A body naming another tenant: 403, and nothing of the batch is appended.
        r = a.post("/api/v1/events", json=[event("x1"), event("x2", tenant="globex")])
        assert r.status_code == 403, r.text
        r = a.post(
            "/api/v1/events",
            json={
                "source": "nms",
                "body": {"kind": "event", "event": "E", "severity": "minor"},
                "tenant": "globex",
            },
        )
        assert r.status_code == 403, r.text
        # The integrations: Alerta's customer is the tenant; Alertmanager and PagerDuty are stamped.
        r = a.post(
            "/api/alert",
            json={"resource": "mail", "event": "QueueFull", "severity": "major", "customer": "globex"},
        )
        assert r.status_code == 403 and r.json()["status"] == "error", r.text
        r = a.post("/api/alert", json={"resource": "mail", "event": "QueueFull", "severity": "major"})
        assert r.status_code == 201 and r.json()["alert"]["customer"] == "acme", r.text
        alerta_id = r.json()["id"]
        hook = {
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": "nfs1"}}],
        }
        assert a.post("/api/v1/integrations/alertmanager", json=hook).status_code == 202
        pd = {"routing_key": "k", "event_action": "trigger", "dedup_key": "pd-1"}
        pd["payload"] = {"summary": "CPU high", "source": "app7", "severity": "error"}
        assert b.post("/v2/enqueue", json=pd).status_code == 202
        # An admin (no tenant) may name any tenant, or none.
        assert admin.post("/api/v1/events", json=event("lab", tenant="initech")).status_code == 202
        # Metrics of each tenant's asset.
        for client, asset in ((a, web), (b, db)):
            samples = [{"name": "cpu", "value": 50, "at": (now - timedelta(minutes=1)).isoformat()}]
            obs = {"source": "nms", "asset_id": asset, "body": {"kind": "metrics", "samples": samples}}
            assert client.post("/api/v1/events", json=obs).status_code == 202
        pipeline.wait_projected(7)
        pipeline.wait_alert_events(7)
        wait_for(lambda: pipeline.scalar("SELECT count(*) FROM metric_series") == 2, 60, "two series")

        rows = pipeline.query("SELECT tenant, resource, fingerprint, alert_id FROM alerts ORDER BY tenant")
        by_tenant = {r["tenant"]: r for r in rows if r["resource"] == "core"}
        assert set(by_tenant) == {"acme", "globex", None}  # one problem, three alerts
        assert len({r["fingerprint"] for r in by_tenant.values()}) == 3
        assert {(r["tenant"], r["resource"]) for r in rows} == {
            ("acme", "core"),
            ("acme", "mail"),
            ("acme", "nfs1"),
            ("globex", "core"),
            ("globex", "pd-1"),
            (None, "core"),
            ("initech", "lab"),
        }
        assert pipeline.scalar("SELECT count(*) FROM events WHERE resource IN ('x1', 'x2')") == 0
        a_alert, b_alert = by_tenant["acme"]["alert_id"], by_tenant["globex"]["alert_id"]
        assert alerta_id in {r["alert_id"] for r in rows if r["tenant"] == "acme"}

        # -- reads: A sees only acme's rows; another tenant's row is a 404 --------------------------
        listed = a.get("/api/v1/alerts", params={"total": "exact"}).json()
        assert {x["tenant"] for x in listed["alerts"]} == {"acme"} and listed["total"] == 3
        assert a.get("/api/v1/alerts", params={"tenant": "globex"}).json()["alerts"] == []
        assert a.get("/api/v1/alerts/count").json()["total"] == 3
        for by in ("duplicates", "standing", "flapping"):
            top = a.get("/api/v1/alerts/top", params={"by": by}).json()["alerts"]
            assert {x["tenant"] for x in top} <= {"acme"}, by
        assert a.get(f"/api/v1/alerts/{a_alert}").status_code == 200
        assert a.get(f"/api/v1/alerts/{b_alert}").status_code == 404
        assert a.get(f"/api/v1/alerts/{by_tenant['globex']['fingerprint']}").status_code == 404
        assert a.post(f"/api/v1/alerts/{b_alert}/ack", json={"comment": "mine?"}).status_code == 404
        assert a.post(f"/api/v1/alerts/{a_alert}/ack?wait=20").json()["status"] == "applied"
        events = a.get("/api/v1/events").json()
        assert events["total"] == 3 and {e["tenant"] for e in events["events"]} == {"acme"}
        alerta = a.get("/api/alerts").json()
        assert alerta["total"] == 3 and {x["customer"] for x in alerta["alerts"]} == {"acme"}
        assert a.get("/api/alerts", params={"customer": "globex"}).json()["total"] == 0
        assert a.get(f"/api/alert/{b_alert}").status_code == 404
        assert a.get(f"/api/alert/{a_alert}").json()["alert"]["customer"] == "acme"
        assert b.get("/api/v1/alerts/count").json()["total"] == 2

        # Assets: A's link to B's asset is A's own edge, but B's asset stays out of A's answers.
        r = a.post(f"/api/v1/assets/{web}/dependencies?wait=30", json={"type": "depends_on", "target": db})
        assert r.status_code == 200, r.text
        assert [x["asset_id"] for x in a.get("/api/v1/assets").json()["assets"]] == [web]
        assert a.get(f"/api/v1/assets/{db}").status_code == 404
        assert a.patch(f"/api/v1/assets/{db}", json={"owner_team": "acme"}).status_code == 404
        assert a.delete(f"/api/v1/assets/{db}").status_code == 404
        assert a.get(f"/api/v1/assets/{db}/downstream").status_code == 404
        detail = a.get(f"/api/v1/assets/{web}").json()
        assert detail["dependencies"] == [] and [x["alert_id"] for x in detail["open_alerts"]] == [a_alert]
        assert {n["asset_id"] for n in a.get(f"/api/v1/assets/{web}/upstream").json()["nodes"]} == {web}
        # B's downstream of its own asset does not show A's asset depending on it.
        assert {n["asset_id"] for n in b.get(f"/api/v1/assets/{db}/downstream").json()["nodes"]} == {db}
        assert b.get(f"/api/v1/assets/{db}").json()["dependents"] == []
        # Metrics: only series of the tenant's assets.
        assert a.get("/api/v1/metrics/latest", params={"asset": db}).json()["series"] == []
        assert len(a.get("/api/v1/metrics/latest", params={"asset": web}).json()["series"]) == 1
        window = {
            "name": "cpu",
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        }
        assert [x["asset_id"] for x in a.get("/api/v1/metrics/top", params=window).json()["assets"]] == [web]
        series = a.get("/api/v1/metrics/series", params={**window, "asset": db}).json()["series"]
        assert series == []

        # -- the untenanted admin sees every tenant ---------------------------------------------------
        assert admin.get("/api/v1/alerts/count").json()["total"] == 7
        assert admin.get(f"/api/v1/alerts/{b_alert}").json()["alert"]["tenant"] == "globex"
        assert len(admin.get(f"/api/v1/assets/{web}").json()["open_alerts"]) == 2
        assert {x["asset_id"] for x in admin.get(f"/api/v1/assets/{web}/upstream").json()["nodes"]} == {
            web,
            db,
        }
        assert len(admin.get("/api/v1/metrics/top", params=window).json()["assets"]) == 2
        assert admin.get("/api/v1/events", params={"tenant": "globex"}).json()["total"] == 2
        assert [
            x["asset_id"] for x in admin.get("/api/v1/assets", params={"tenant": "globex"}).json()["assets"]
        ] == [db]

    # -- a replay rebuilds the tenant columns identically --------------------------------------------
    pipeline.wait_quiet()
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"
    assert {r["tenant"] for r in pipeline.query("SELECT tenant FROM assets", schema=target)} == {
        "acme",
        "globex",
    }
