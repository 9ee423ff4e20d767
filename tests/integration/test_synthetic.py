"""Synthetic checks end to end: created through the API, run by `ems collector synthetic` against a local
HTTP server that turns failing (500), slow (beyond the timeout) and wrong (body), raising the alert and
clearing it on recovery, with the response time served by the metrics API."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def certificate(folder: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 valid for `days` more days: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_target(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """An https server whose certificate expires in 5 days; (its URL, the certificate to trust)."""
    cert_file, key_file = certificate(tmp_path_factory.mktemp("tls"), 5)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", cert_file
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def pipe(servers, tmp_path_factory, tls_target) -> Iterator[Pipeline]:
    p = Pipeline(servers, tmp_path_factory.mktemp("logs"), synthetic_reload_interval="1")
    try:
        p.start_worker()
        p.start_api()
        p.env["SSL_CERT_FILE"] = str(tls_target[1])  # the runner trusts the test server's certificate
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


def test_https_check_reads_certificate_days_left_and_warns_below_the_threshold(pipe, tls_target):
    body = {"name": "tls site", "url": tls_target[0], "interval": 1, "cert_warn_days": 14}
    with pipe.client() as c:
        r = c.post("/api/v1/checks?wait=30", json=body)
        assert r.status_code == 200, r.text
        asset = asset_of(r.json()["id"])

        def days() -> list:
            q = {"asset": asset, "name": "synthetic.cert_days_left"}
            return c.get("/api/v1/metrics/latest", params=q).json()["series"]

        [series] = wait_for(days, 60, "synthetic.cert_days_left served")
    assert 4.9 < series["value"] <= 5.0
    sql = "SELECT status, severity, value FROM alerts WHERE asset_id = %s AND event = 'Certificate Expiring'"
    rows = wait_for(lambda: pipe.query(sql, (asset,)), 60, "Certificate Expiring alert")
    assert (rows[0]["status"], rows[0]["severity"]) == ("open", "warning")
    assert rows[0]["value"] in (
        "certificate expires in 5.0 days (< 14)",
        "certificate expires in 4.9 days (< 14)",
    )
