"""The AWS collector against moto in server mode (a real HTTP endpoint on loopback, reached through the
standard AWS_ENDPOINT_URL), and once end to end through real Kafka to assets and alerts.

Each test uses its own regions, so one moto server serves the module. moto cannot put an RDS instance
in `failed` or `storage-full` (only stop/start): the RDS transition tested here is available -> stopped
-> available; the failed and storage-full mappings are unit tests (tests/unit/test_aws_events.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from ems.collectors import aws_cli
from ems.collectors.aws_client import Options
from ems.collectors.aws_collector import AwsConfig, Collector, region_asset
from ems.collectors.aws_discovery import key_of
from ems.infra.moto import SECRET_KEY, MotoServer
from ems.infra.process import free_port
from ems.schemas.identity import asset_id_for
from tests.integration.harness import Pipeline, wait_for


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    saved = dict(os.environ)
    os.environ.update(server.env())
    try:
        yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


class Recorder:
    """A collector sink that keeps the observations of the current round."""

    def __init__(self) -> None:
        self.records: list = []

    async def __call__(self, topic: str, record) -> None:
        assert topic == "observations.raw"
        self.records.append(record)

    def take(self, kind: str) -> list:
        out = [r for r in self.records if r.body.kind == kind]
        return out

    def events(self) -> set[tuple[str, str, str, str | None]]:
        return {(r.asset_id, r.body.event, r.body.severity, r.body.resource) for r in self.take("event")}


def collector(regions: list[str], sink, **options) -> Collector:
    return Collector(AwsConfig(regions=regions, options=Options(backoff=0.05, **options)), sink)


async def test_two_regions_discovered_states_raise_and_clear_and_metrics_read_back(moto):
    west, east = "eu-west-1", "us-east-1"
    web_ids = moto.launch(west, 3, service="shop")
    east_ids = moto.launch(east, 2)
    db_arn = moto.database(west, "orders", service="shop")
    lb_arn = moto.load_balancer(west, "web", web_ids[:2])
    sink = Recorder()
    c = collector([west, east], sink)
    try:
        report = await c.round()
        assert [s["error"] for s in report.scopes] == [None, None]
        found = {r.body.facts["natural_key"]: r.body for r in sink.take("discovery")}
        for iid in web_ids + east_ids:
            assert found[key_of(iid)].facts["type"] == "vm"
        vm = found[key_of(web_ids[0])]
        subnet = vm.facts["attributes"]["subnet_id"]
        assert {(e["type"], e["target"]) for e in vm.edges} == {
            ("member_of", asset_id_for("service:shop")),
            ("depends_on", asset_id_for(key_of(subnet))),
        }
        assert found[key_of(subnet)].edges[0]["target"] == asset_id_for(
            key_of(vm.facts["attributes"]["vpc_id"])
        )
        db = found[f"aws:{db_arn}"]
        assert (db.facts["attributes"]["engine"], db.facts["attributes"]["multi_az"]) == ("postgres", False)
        lb_targets = {e["target"] for e in found[f"aws:{lb_arn}"].edges if e["type"] == "depends_on"}
        assert {asset_id_for(key_of(i)) for i in web_ids[:2]} <= lb_targets
        assert "service:shop" in found and sink.events() == set()

        # Stop an LB target, terminate an instance in the other region, stop the database; CloudWatch data.
        ec2w, ec2e, rds = moto.client("ec2", west), moto.client("ec2", east), moto.client("rds", west)
        ec2w.stop_instances(InstanceIds=[web_ids[0]])
        ec2e.terminate_instances(InstanceIds=[east_ids[0]])
        rds.stop_db_instance(DBInstanceIdentifier="orders")
        now = datetime.now(UTC)
        moto.client("cloudwatch", west).put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "InstanceId", "Value": web_ids[1]}],
                    "Value": 42.5,
                    "Timestamp": now,
                }
            ],
        )
        moto.client("cloudwatch", west).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "FreeableMemory",
                    "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "orders"}],
                    "Value": 10 * 1024**2,
                    "Timestamp": now,
                }
            ],
        )
        sink.records.clear()
        await c.round()
        vm0, vm_e, db_id = (
            asset_id_for(key_of(web_ids[0])),
            asset_id_for(key_of(east_ids[0])),
            asset_id_for(f"aws:{db_arn}"),
        )
        lb_id = asset_id_for(f"aws:{lb_arn}")
        samples = {(r.asset_id, s.name): s.value for r in sink.take("metrics") for s in r.body.samples}
        assert {
            (vm0, "Instance Stopped", "critical", None),
            (vm_e, "Instance Stopped", "critical", None),
            (db_id, "DB Instance Stopped", "major", None),
            (lb_id, "Target Unhealthy", "major", f"{web_ids[0]}:80"),
            (db_id, "Threshold freeable_memory_bytes", "critical", None),
        } <= sink.events()
        assert samples[(asset_id_for(key_of(web_ids[1])), "cpu_util_pct")] == 42.5
        assert samples[(db_id, "freeable_memory_bytes")] == 10 * 1024**2

        # Back to running / available: every raise is cleared.
        ec2w.start_instances(InstanceIds=[web_ids[0]])
        rds.start_db_instance(DBInstanceIdentifier="orders")
        sink.records.clear()
        await c.round()
        assert {
            (vm0, "Instance Stopped", "ok", None),
            (db_id, "DB Instance Stopped", "ok", None),
            (lb_id, "Target Unhealthy", "ok", f"{web_ids[0]}:80"),
        } <= sink.events()
        assert not any(e[1] == "Instance Stopped" and e[0] == vm_e for e in sink.events())  # still terminated
    finally:
        await c.clients.close()


class ThrottlingProxy:
    """An HTTP proxy in front of moto answering EC2 calls of `regions` with RequestLimitExceeded (503),
    the first `first` times per region, or always when `first` is None; the rest is forwarded."""

    def __init__(self, upstream: str, throttle: dict[str, int | None]) -> None:
        self.upstream, self.throttle = upstream, throttle
        self.port = free_port()
        self.throttled: dict[str, int] = {}
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        scope = request.headers.get("Authorization", "").split("Credential=")[-1].split("/")
        region, service = (scope[2], scope[3]) if len(scope) > 3 else ("", "")
        if service == "ec2" and region in self.throttle:
            n, limit = self.throttled.get(region, 0), self.throttle[region]
            if limit is None or n < limit:
                self.throttled[region] = n + 1
                xml = (
                    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
                    "exceeded.</Message></Error></Errors><RequestID>t</RequestID></Response>"
                )
                return web.Response(status=503, body=xml, content_type="text/xml")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.http.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            data = await answer.read()
            keep = {
                k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "x-amzn-requestid")
            }
            return web.Response(status=answer.status, body=data, headers=keep)

    async def __aenter__(self) -> ThrottlingProxy:
        self.http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()
        await self.http.close()


async def test_throttling_is_retried_and_a_region_throttled_for_good_fails_alone(moto, monkeypatch):
    ok_region, bad_region = "eu-central-1", "us-west-2"
    ids = moto.launch(ok_region, 2)
    moto.launch(bad_region, 1)
    # eu-central-1: 4 throttled answers (more than botocore's 2 attempts: our back-off takes over).
    async with ThrottlingProxy(moto.url, {ok_region: 4, bad_region: None}) as proxy:
        # Only EC2 goes through the proxy: the service-specific variable beats AWS_ENDPOINT_URL (moto).
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{proxy.port}")
        sink = Recorder()
        c = collector(
            [ok_region, bad_region], sink, retry_mode="standard", max_attempts=2, throttle_retries=3
        )
        try:
            report = await c.round()
        finally:
            await c.clients.close()
    ok, bad = report.scopes
    assert ok["error"] is None and ok["throttled"] >= 1 and proxy.throttled[ok_region] == 4
    keys = {r.body.facts["natural_key"] for r in sink.take("discovery")}
    assert {key_of(i) for i in ids} <= keys
    assert "RequestLimitExceeded" in bad["error"] and bad["throttled"] == 3  # our 3 retries, then given up
    assert (region_asset("", bad_region), "Cloud Collection Failed", "major", None) in sink.events()


def test_cli_discovers_per_profile_reports_the_failing_one_and_prints_no_secret(moto, tmp_path):
    region = "ap-southeast-2"
    ids = moto.launch(region, 1)
    dead = free_port()
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile good]\naws_access_key_id = AKIAGOOD\naws_secret_access_key = {SECRET_KEY}\n"
        f"endpoint_url = {moto.url}\n\n"
        f"[profile bad]\naws_access_key_id = AKIABAD\naws_secret_access_key = {SECRET_KEY}\n"
        f"endpoint_url = http://127.0.0.1:{dead}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE="/dev/null", EMS_AWS_MAX_ATTEMPTS="2")
    env.update(AWS_EC2_METADATA_DISABLED="true", EMS_AWS_TIMEOUT="3")
    args = [sys.executable, "-P", "-m", "ems.cli", "aws", "discover", "--region", region]
    args += ["--profile", "good", "--profile", "bad"]
    done = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert SECRET_KEY not in done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert "== bad ap-southeast-2: error — EndpointConnectionError" in aws_cli.text(result)
    scopes = {s["profile"]: s for s in result["scopes"]}
    assert scopes["good"]["error"] is None and scopes["good"]["resources"] >= 1
    assert "EndpointConnectionError" in scopes["bad"]["error"]
    assert key_of(ids[0]) in {r["natural_key"] for r in result["resources"]}


async def test_collector_to_assets_and_alerts_through_kafka(moto, servers, tmp_path):
    region = "sa-east-1"
    ids = moto.launch(region, 2, service="payments")
    vm = asset_id_for(key_of(ids[0]))
    pipeline = Pipeline(
        servers, tmp_path, aws_regions=json.dumps([region]), aws_interval="1", aws_metrics="false"
    )
    pipeline.env.update(moto.env(region))
    try:
        pipeline.start("aws", "collector", "aws")
        pipeline.start_worker()

        def asset_seen() -> bool:
            pipeline.check_alive("aws")
            rows = pipeline.query("SELECT type FROM assets WHERE asset_id = %s", (vm,))
            return bool(rows) and rows[0]["type"] == "vm"

        wait_for(asset_seen, 120, f"asset {vm}")
        edges = pipeline.query(
            "SELECT type, target_id FROM asset_dependencies WHERE source_id = %s AND active", (vm,)
        )
        assert ("member_of", asset_id_for("service:payments")) in {(e["type"], e["target_id"]) for e in edges}
        moto.client("ec2", region).stop_instances(InstanceIds=[ids[0]])
        wait_alert(pipeline, vm, "Instance Stopped", "open")
        moto.client("ec2", region).start_instances(InstanceIds=[ids[0]])
        wait_alert(pipeline, vm, "Instance Stopped", "resolved")
        assert SECRET_KEY not in pipeline.log_tail("aws", 400)
    finally:
        pipeline.stop_all()


def wait_alert(pipeline: Pipeline, asset: str, event: str, status: str) -> None:
    sql = "SELECT status FROM alerts WHERE asset_id = %s AND event = %s AND source = 'cloud'"

    def found() -> bool:
        pipeline.check_alive("aws")
        rows = pipeline.query(sql, (asset, event))
        return bool(rows) and rows[0]["status"] == status

    wait_for(found, 90, f"{event} alert of {asset} to be {status}")
