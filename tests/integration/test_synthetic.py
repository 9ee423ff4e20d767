"""Synthetic checks end to end: created through the API, run by `ems collector synthetic` against a local
HTTP server that turns failing (500), slow (beyond the timeout) and wrong (body), raising the alert and
clearing it on recovery, with the response time served by the metrics API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ems.collectors.synthetic_runner import asset_of
from tests.integration.harness import Pipeline, wait_for

FAILED = "Synthetic Check Failed"


class Target(BaseHTTPRequestHandler):
    mode = "ok"  # ok | 500 | slow | wrong

    def do_GET(self) -> None:
        mode = Target.mode
        if mode == "slow":
            time.sleep(2.5)
        self.send_response(500 if mode == "500" else 200)
        self.end_headers()
        self.wfile.write(b"maintenance" if mode == "wrong" else b"status: healthy v2")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def pipe(servers, tmp_path_factory) -> Iterator[Pipeline]:
    p = Pipeline(servers, tmp_path_factory.mktemp("logs"), synthetic_reload_interval="1")
    try:
        p.start_worker()
        p.start_api()
        p.start("synthetic", "collector", "synthetic")
        yield p
    finally:
        p.stop_all()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"timeout": 0}, "timeout"),
        ({"body_regex": "(unclosed"}, "body_regex"),
        ({"expect_status": [200, 999]}, "expect_status"),
    ],
)
def test_a_bad_definition_is_a_422_naming_the_field(pipe, change, field):
    with pipe.client() as c:
        r = c.post("/api/v1/checks", json={"name": "bad", "url": "https://example.com/", **change})
    assert r.status_code == 422, r.text
    assert [e["field"].split(".")[-1] for e in r.json()["errors"]] == [field]


def alert(pipe: Pipeline, asset: str) -> dict | None:
    sql = (
        "SELECT status, value FROM alerts WHERE asset_id = %s AND event = %s ORDER BY last_seen DESC LIMIT 1"
    )
    rows = pipe.query(sql, (asset, FAILED))
    return rows[0] if rows else None


def wait_alert(pipe: Pipeline, asset: str, status: str, value: str = "") -> None:
    def found() -> bool:
        pipe.check_alive("synthetic")
        a = alert(pipe, asset)
        return a is not None and a["status"] == status and value in (a["value"] or "")

    wait_for(found, 60, f"{FAILED} of {asset} to be {status} {value}")


def test_check_raises_on_failure_clears_on_recovery_and_serves_response_time(pipe, target):
    body = {"name": "shop health", "url": target, "timeout": 1, "interval": 1, "body_regex": r"healthy v\d"}
    with pipe.client() as c:
        r = c.post("/api/v1/checks?wait=30", json=body)
        assert r.status_code == 200, r.text
        check_id = r.json()["id"]
        assert r.json()["check"]["spec"]["url"] == target
        assert check_id in [x["check_id"] for x in c.get("/api/v1/checks").json()["checks"]]
        asset = asset_of(check_id)

        def response_ms() -> list:
            q = {"asset": asset, "name": "synthetic.response_ms"}
            return c.get("/api/v1/metrics/latest", params=q).json()["series"]

        [series] = wait_for(response_ms, 60, "synthetic.response_ms served")
        assert series["labels"] == {"check": check_id, "name": "shop health"} and series["value"] > 0

        for mode, reason in (("500", "status 500"), ("slow", "timeout after 1s"), ("wrong", "body mismatch")):
            Target.mode = mode
            wait_alert(pipe, asset, "open", reason)
            Target.mode = "ok"
            wait_alert(pipe, asset, "resolved")

        r = c.delete(f"/api/v1/checks/{check_id}?wait=30")
        assert r.status_code == 200 and r.json()["check"]["deleted_at"] is not None, r.text
        assert c.get(f"/api/v1/checks/{check_id}").status_code == 404
        assert check_id not in [x["check_id"] for x in c.get("/api/v1/checks").json()["checks"]]
