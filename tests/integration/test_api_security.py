"""Security through the running API processes (real Kafka, PostgreSQL, Redis): roles, the actor of
commands, credentials that are refused, one rate limit shared by two API processes, the request edge."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from tests.integration.harness import Pipeline, wait_for

PASSWORD = "correct horse battery staple"
EVENT = {"source": "sec-test", "severity": "major", "event": "LinkDown", "resource": "sw-9"}
USER_LIMIT = 30


@pytest.fixture
def api(servers: dict[str, str], tmp_path: Path) -> Iterator[Pipeline]:
    """A pipeline whose users get USER_LIMIT requests a minute."""
    p = Pipeline(servers, tmp_path, rate_limit_user_per_minute=str(USER_LIMIT), cookie_secure="false")
    try:
        p.start_worker()
        p.start_api()
        yield p
    finally:
        p.stop_all()


def login(c: httpx.Client, name: str) -> dict[str, str]:
    r = c.post("/api/v1/auth/login", json={"name": name, "password": PASSWORD, "cookies": False})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_roles_actors_and_refused_credentials(api: Pipeline) -> None:
    with api.client() as admin, httpx.Client(base_url=api.api, timeout=30) as anon:
        for name, role in (("vic", "viewer"), ("olga", "operator")):
            r = admin.post("/api/v1/users", json={"name": name, "password": PASSWORD, "role": role})
            assert r.status_code == 201, r.text
        assert admin.post("/api/v1/events", json=EVENT).status_code == 202
        alert = wait_for(
            lambda: (admin.get("/api/v1/alerts", params={"resource": "sw-9"}).json()["alerts"] or [None])[0],
            60,
            "the alert",
        )
        viewer, operator = login(anon, "vic"), login(anon, "olga")
        # The events projection is its own consumer: the alert may be projected before the event.
        events = wait_for(
            lambda: admin.get("/api/v1/events", params={"source": "sec-test"}).json()["events"] or None,
            60,
            "the event",
        )
        assert [e["submitted_by"] for e in events] == ["key:pipeline-admin"]  # no anonymous history

        # Without credentials, or with made-up ones: 401, never an anonymous write.
        r = anon.post("/api/v1/events", json=EVENT)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        for made_up in ("client-1", "ems_abc_def", "Key x"):
            assert anon.post("/api/v1/events", json=EVENT, headers={"X-API-Key": made_up}).status_code == 401
        claims = {"sub": "olga", "role": "admin", "typ": "access", "iss": "ems", "exp": int(time.time()) + 60}
        none_alg = ".".join(
            base64.urlsafe_b64encode(orjson.dumps(part)).decode().rstrip("=")
            for part in ({"alg": "none", "typ": "JWT"}, claims)
        )
        forged = operator["Authorization"][:-4] + "AAAA"
        for token in (none_alg + ".", forged):
            r = anon.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text

        # A viewer reads but cannot act; an operator acts, and is the actor in the alert's history.
        assert anon.get("/api/v1/alerts", headers=viewer).status_code == 200
        path = f"/api/v1/alerts/{alert['alert_id']}/ack"
        r = anon.post(path, json={"comment": "mine"}, headers=viewer)
        assert r.status_code == 403 and "write:alerts" in r.json()["error"]
        r = anon.post(path, params={"wait": 30}, json={"comment": "looking"}, headers=operator)
        assert r.status_code == 200, r.text
        history = admin.get(f"/api/v1/alerts/{alert['alert_id']}").json()["history"]
        assert [(h["actor"], h["status"]) for h in history if h["actor"]] == [("olga", "acknowledged")]
        assert (
            anon.post("/api/v1/assets", json={"name": "x", "type": "server"}, headers=operator).status_code
            == 403
        )
        assert anon.get("/api/v1/users", headers=operator).status_code == 403

        # The request edge: a form or text/plain body is not JSON (no cross-site form posts).
        r = admin.post("/api/v1/events", content=orjson.dumps(EVENT), headers={"content-type": "text/plain"})
        assert r.status_code == 415
        r = anon.options(
            "/api/v1/events",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in r.headers
        assert admin.get("/api/v1/alerts").headers["x-content-type-options"] == "nosniff"


def test_two_api_processes_share_one_rate_limit(api: Pipeline, tmp_path: Path) -> None:
    port = free_port()
    second = spawn_ems(["api"], {**api.env, "EMS_API_PORT": str(port)}, tmp_path / "api2.log")
    other = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(other), 60, "the second API process")
        with api.client() as admin:
            r = admin.post("/api/v1/users", json={"name": "rita", "password": PASSWORD, "role": "viewer"})
            assert r.status_code == 201, r.text
        with httpx.Client(timeout=30) as c:
            r = c.post(
                f"{api.api}/api/v1/auth/login", json={"name": "rita", "password": PASSWORD, "cookies": False}
            )
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            statuses, refused = [], None
            for i in range(2 * USER_LIMIT):
                base = (api.api, other)[i % 2]  # alternate between the two processes
                r = c.get(f"{base}/api/v1/alerts/count", headers=auth)
                statuses.append(r.status_code)
                if r.status_code == 429 and refused is None:
                    refused = r
        allowed = statuses.count(200)
        # One budget of USER_LIMIT (its burst) for both processes, not one each.
        assert USER_LIMIT - 2 <= allowed <= USER_LIMIT + 2, statuses
        assert set(statuses) == {200, 429}
        assert refused is not None and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-remaining"] == "0" and refused.headers["ratelimit-limit"]
    finally:
        stop_processes([second])


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/live", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
