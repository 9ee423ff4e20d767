"""Garbage gets a clear 4xx at the API and a dead-letter record on the topics; the worker goes on."""

from __future__ import annotations

import asyncio
import base64

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.harness import Pipeline, wait_for

GOOD = {"source": "nms", "severity": "critical", "title": "Device Unreachable", "assetId": "ast_router_01"}


def test_api_refuses_bad_input_with_reasons(pipeline: Pipeline) -> None:
    pipeline.start_api()
    with pipeline.client() as c:
        r = c.post(
            "/api/v1/events",
            content=b'{"source": "nms", "severity": ',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["error"].startswith("invalid JSON")
        r = c.post("/api/v1/events", content=b"")
        assert r.status_code == 400 and "empty request body" in r.json()["error"]
        r = c.post("/api/v1/events", content=b'{"source": "nms"}', headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "'text/plain' is not accepted" in r.json()["error"]
        r = c.post("/api/v1/events", data={"source": "nms"})  # a form, as a cross-site page could send
        assert r.status_code == 415
        r = c.post("/api/v1/events", json={**GOOD, "severity": 3, "tags": "not-a-list"})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"severity", "tags"}
        r = c.post("/api/v1/events", json={**GOOD, "severity": "apocalyptic"})
        assert r.status_code == 422 and "unknown severity 'apocalyptic'" in r.json()["errors"][0]["message"]
        r = c.post("/api/v1/events", json={**GOOD, "colour": "red"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
        r = c.post("/api/v1/events", json={**GOOD, "text": "x" * 300_000})
        assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]
        r = c.post("/api/v1/events", json=[GOOD, {"source": "nms"}])
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("[1].")
        r = c.get("/api/v1/alerts", params={"sort": "colour"})
        assert r.status_code == 400 and "cannot sort by" in r.json()["error"]
        r = c.get("/api/v1/alerts", params={"limit": "-1"})
        assert r.status_code == 400
        # Nothing of the refused requests reached Kafka: only the good one does.
        assert c.post("/api/v1/events", json=GOOD).status_code == 202
    assert _raw_count(pipeline) == 1


def _raw_count(pipeline: Pipeline) -> int:
    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
        await consumer.start()
        try:
            topic = pipeline.settings.topic("observations.raw")
            parts = [tp for tp in await _partitions(consumer, topic)]
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
            return sum(ends[tp] - starts[tp] for tp in parts)
        finally:
            await consumer.stop()

    return asyncio.run(count())


async def _partitions(consumer: AIOKafkaConsumer, topic: str):
    from aiokafka import TopicPartition

    await consumer._client.force_metadata_update()
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


GARBAGE_RAW = [
    b"\x00\xffnot json at all",
    b"[1, 2, 3]",
    b'{"source": "nms"}',
    b'{"type": "observation", "schema_version": 7, "source": "nms"}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "apocalyptic"}}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "critical", "surprise": 1}}',
    b'{"source": "nms", "body": {"kind": "event", "event": ["E"], "severity": 3}, "occurred_at": "noon"}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "minor", "title": "'
    + b"x" * 2000
    + b'"}}',
    # Boundaries of what the sinks accept (schemas/limits.py): each one stopped a stage before.
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "minor", '
    b'"resource": "a\\u0000b"}}',
    b'{"source": "nms", "occurred_at": "0001-01-01T00:00:00Z", "body": {"kind": "heartbeat"}}',
    b'{"source": "nms", "occurred_at": "9999-12-31T23:59:59Z", "body": {"kind": "event", "event": "E", '
    b'"severity": "minor"}}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "minor", "timeout": 3000000000}}',
    b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "minor", "attributes": {"a": '
    + b'{"n": ' * 300
    + b"1"
    + b"}" * 300
    + b"}}}",
    b'{"source": "nms", "body": {"kind": "metrics", "samples": [{"name": "cpu", "value": "NaN"}]}}',
    b'{"source": "nms", "body": {"kind": "event", "event": "\\ud800", "severity": "minor"}}',
]
# An asset command beyond an integer column, on ems.commands: the asset agent refuses it.
BIG_ASSET = (
    b'{"type": "command", "name": "asset.create", "target": "ast_big", "actor": "t", '
    b'"args": {"name": "n", "type": "router", "users_served": 3000000000}}'
)


def test_garbage_on_topics_is_dead_lettered_and_the_worker_goes_on(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    s = pipeline.settings

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap)
        await producer.start()
        try:
            for raw in GARBAGE_RAW:
                await producer.send_and_wait(s.topic("observations.raw"), value=raw, key=b"ast_x")
            await producer.send_and_wait(s.topic("events"), value=b'{"type": "event"}', key=b"fp")
            await producer.send_and_wait(s.topic("alerts"), value=b"\x01\x02", key=b"fp")
            await producer.send_and_wait(s.topic("commands"), value=BIG_ASSET, key=b"ast_big")
            good = {
                "type": "observation",
                "schema_version": 2,
                "source": "nms",
                "asset_id": "ast_ok",
                "body": {"kind": "event", "event": "NodeDown", "severity": "major"},
            }
            await producer.send_and_wait(s.topic("observations.raw"), value=orjson.dumps(good), key=b"ast_ok")
        finally:
            await producer.stop()

    asyncio.run(produce())
    # The good record after the garbage is processed: the worker did not stop.
    wait_for(lambda: pipeline.query("SELECT 1 FROM alerts WHERE asset_id = 'ast_ok'"), 120, "the good alert")
    pipeline.check_alive("worker")

    # The events-topic garbage is read, and refused, by two stages: dedupe and the events projection;
    # the alerts-topic garbage by two as well: the alerts projection and the correlate stage.
    letters = wait_for(lambda: pipeline.dead_letters(len(GARBAGE_RAW) + 5), 60, "the dead letters")
    by_payload = {base64.b64decode(d["payload_b64"]): d for d in letters}
    stages = {}
    for d in letters:
        stages.setdefault(base64.b64decode(d["payload_b64"]), set()).add(d["stage"])
    assert set(by_payload) == {*GARBAGE_RAW, b'{"type": "event"}', b"\x01\x02", BIG_ASSET}
    reasons = {raw: d["reason"] for raw, d in by_payload.items()}
    assert reasons[GARBAGE_RAW[0]].startswith("invalid JSON")
    assert reasons[GARBAGE_RAW[1]] == "expected a JSON object, got list"
    assert "body: Field required" in reasons[GARBAGE_RAW[2]]
    assert "schema_version 7" in reasons[GARBAGE_RAW[3]]
    assert "unknown severity 'apocalyptic'" in reasons[GARBAGE_RAW[4]]
    assert "surprise: Extra inputs are not permitted" in reasons[GARBAGE_RAW[5]]
    wrong_types = reasons[GARBAGE_RAW[6]]
    assert all(f in wrong_types for f in ("occurred_at:", "body.event.event:", "body.event.severity:"))
    assert "body.event.title: String should have at most 1024 characters" in reasons[GARBAGE_RAW[7]]
    assert "body.event.resource: text must not contain NUL (\\u0000)" in reasons[GARBAGE_RAW[8]]
    assert "occurred_at: Input should be greater than or equal to 1970-01-01" in reasons[GARBAGE_RAW[9]]
    assert "occurred_at: Input should be less than 2100-01-01" in reasons[GARBAGE_RAW[10]]
    assert "body.event.timeout: Input should be less than or equal to 31536000" in reasons[GARBAGE_RAW[11]]
    assert "body.event.attributes: nested deeper than 32 levels at a.n" in reasons[GARBAGE_RAW[12]]
    assert "body.metrics.samples.0.value: Input should be a finite number" in reasons[GARBAGE_RAW[13]]
    assert reasons[GARBAGE_RAW[14]].startswith("invalid JSON: no low surrogate")
    assert "users_served: Input should be less than or equal to 2147483647" in reasons[BIG_ASSET]
    assert stages[BIG_ASSET] == {"assets"}
    assert stages[b'{"type": "event"}'] == {"dedupe", "projection:events"}
    assert stages[b"\x01\x02"] == {"projection:alerts", "correlate"}  # both read ems.alerts
    # At-least-once: a letter may be re-sent after a redelivery, with the same id.
    assert len({d["event_id"] for d in letters}) == len(GARBAGE_RAW) + 5
    first = by_payload[GARBAGE_RAW[0]]
    assert first["source_topic"] == s.topic("observations.raw") and first["stage"] == "normalize"
    assert first["source_offset"] is not None and base64.b64decode(first["key_b64"]) == b"ast_x"


# -- The edge: every write endpoint refuses what a sink would refuse (NUL, numbers beyond their column,
# -- insane years, over-long text, wrong types, bad UTF-8) with a 4xx naming the field.

NUL = "text must not contain NUL"
AFTER_1970 = "Input should be greater than or equal to 1970-01-01"
BEFORE_2100 = "Input should be less than 2100-01-01"
AT_MOST = "Input should be less than or equal to"
AT_LEAST = "Input should be greater than or equal to"
LONGER = "String should have at most"
NUMBER = "Input should be a valid number"  # strict JSON: "NaN", "Infinity" are strings (1e999 is not JSON)
Y1, Y9999 = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"
BAD_UTF8 = b'{"source": "nms", "severity": "critical", "title": "caf\xe9"}'
NOT_UTF8 = "request body is not valid UTF-8"
INT4 = 2**31 - 1
TOO_COMPLEX = "~(a{1,255}){1,255}"  # PostgreSQL: "regular expression is too complex"; Python's re is fine


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"n": value}
    return value


def _said(r: httpx.Response) -> str:
    """Everything a 4xx answer says, in any of the dialects (ours, Alerta's, PagerDuty's)."""
    body = r.json()
    parts = [str(body.get("error", "")), str(body.get("message", ""))]
    for e in body.get("errors", []):
        parts.append(f"{e['field']}: {e['message']}" if isinstance(e, dict) else str(e))
    return " | ".join(parts)


def _edge_cases(aid: str, asset: str) -> list[tuple[str, str, object, int, str]]:
    """(method, path, JSON body or raw bytes, status, what the answer says) for each boundary."""
    from tests.unit.formats_helpers import sample

    def ev(**fields: object) -> dict:
        return {**GOOD, **fields}

    def obs(**body: object) -> list:
        return [{"source": "nms", "asset_id": "ast_edge", "body": body}]

    def new(**fields: object) -> dict:
        return {"name": "n", "type": "router", **fields}

    def am(**alert: object) -> dict:
        hook = sample("alertmanager_firing.json")
        return {**hook, "alerts": [{**hook["alerts"][0], **alert}]}

    def alerta(**fields: object) -> dict:
        return {**sample("alerta_alert.json"), **fields}

    def pd(**payload: object) -> dict:
        event = sample("pagerduty_trigger.json")
        return {**event, "payload": {**event["payload"], **payload}}

    E, A, AM, PD = "/api/v1/events", "/api/v1/assets", "/api/v1/integrations/alertmanager", "/v2/enqueue"
    act = f"/api/v1/alerts/{aid}"
    nan_sample = {"kind": "metrics", "samples": [{"name": "cpu", "value": "NaN"}]}
    old_sample = {"kind": "metrics", "samples": [{"name": "cpu", "value": 1, "at": Y1}]}
    huge_timeout = {"kind": "event", "event": "E", "severity": "major", "timeout": 3 * 10**9}
    link = {"type": "depends_on", "target": "ast_db_1", "attributes": {"via": "\x00"}}
    deep_re, long_re = "~" + "(" * 500 + ")" * 500, "~" + "(" * 3000 + ")" * 3000
    pd_severity = "payload.severity: Input should be 'critical', 'error', 'warning' or 'info'"
    nul_label, long_label = {"alertname": "A", "instance": "\x00"}, {"alertname": "A", "instance": "i" * 300}
    re_ = "event: the regular expression"
    series = "/api/v1/metrics/series?asset=a&name=c"
    return [
        # POST /api/v1/events: the native shape, then full observations.
        ("POST", E, ev(resource="a\x00b"), 422, f"resource: {NUL}"),
        ("POST", E, ev(occurredAt=Y1), 422, f"occurredAt: {AFTER_1970}"),
        ("POST", E, ev(occurred_at=Y9999), 422, f"occurred_at: {BEFORE_2100}"),
        ("POST", E, ev(title="t" * 2000), 422, "title: String should have at most 1024 characters"),
        ("POST", E, ev(severity=3), 422, "severity: Input should be a valid string"),
        ("POST", E, ev(attributes=_nested(35)), 422, "attributes: nested deeper than 32 levels"),
        # deeper than any record may nest: the body reader refuses it before parsing the record
        ("POST", E, ev(attributes=_nested(60)), 422, "n.n.n: nested deeper than 40 levels"),
        ("POST", E, BAD_UTF8, 400, f"{NOT_UTF8}: byte 0xe9"),
        ("POST", E, obs(**huge_timeout), 422, f"[0].body.event.timeout: {AT_MOST} 31536000"),
        ("POST", E, obs(**nan_sample), 422, f"[0].body.metrics.samples.0.value: {NUMBER}"),
        ("POST", E, obs(**old_sample), 422, f"[0].body.metrics.samples.0.at: {AFTER_1970}"),
        # /api/v1/assets: create, patch, link.
        ("POST", A, new(users_served=3 * 10**9), 422, f"users_served: {AT_MOST} {INT4}"),
        ("POST", A, new(name="n\x00"), 422, f"name: {NUL}"),
        ("POST", A, new(location="l" * 300), 422, f"location: {LONGER} 256 characters"),
        ("POST", A, new(revenue_per_hour="Infinity"), 422, f"revenue_per_hour: {NUMBER}"),
        ("POST", A, new(criticality="high"), 422, "criticality: Input should be a valid integer"),
        ("POST", A, BAD_UTF8, 400, NOT_UTF8),
        ("PATCH", f"{A}/{asset}", {"users_served": -5}, 422, f"users_served: {AT_LEAST} 0"),
        ("PATCH", f"{A}/{asset}", {"users_served": INT4 + 1}, 422, f"users_served: {AT_MOST} {INT4}"),
        ("POST", f"{A}/{asset}/dependencies", link, 422, f"attributes.via: {NUL}"),
        # /api/v1/alerts/{id}/{action}
        ("POST", f"{act}/shelve", {"until": Y9999}, 422, f"shelve: until: {BEFORE_2100}"),
        ("POST", f"{act}/shelve", {"until": Y1}, 422, f"shelve: until: {AFTER_1970}"),
        ("POST", f"{act}/shelve", {"duration": 2**40}, 422, f"shelve: duration: {AT_MOST} 31536000"),
        ("POST", f"{act}/assign", {"user": "u" * 300}, 422, f"user: {LONGER} 256 characters"),
        ("POST", f"{act}/assign", {"user": "bob\x00"}, 422, f"user: {NUL}"),
        ("POST", f"{act}/note", {"text": "n\x00"}, 422, f"text: {NUL}"),
        ("POST", f"{act}/ack", {"timeout": "soon"}, 422, "timeout: Input should be a valid integer"),
        ("POST", f"{act}/ack", BAD_UTF8, 400, NOT_UTF8),
        # Alertmanager
        ("POST", AM, am(startsAt=Y9999), 422, f"alerts[0].startsAt: {BEFORE_2100}"),
        ("POST", AM, am(startsAt="0002-01-01T00:00:00Z"), 422, f"alerts[0].startsAt: {AFTER_1970}"),
        ("POST", AM, am(labels=nul_label), 422, f"alerts[0].labels.instance: {NUL}"),
        ("POST", AM, am(labels=long_label), 422, f"alerts[0].resource: {LONGER} 256"),
        ("POST", AM, am(labels="x"), 422, "alerts[0].labels: Input should be an object"),
        ("POST", AM, BAD_UTF8, 400, NOT_UTF8),
        # Alerta
        ("POST", "/api/alert", alerta(createTime="0001-01-01T00:00:00Z"), 400, f"createTime: {AFTER_1970}"),
        ("POST", "/api/alert", alerta(timeout=2**31), 400, f"timeout: {AT_MOST} 31536000"),
        ("POST", "/api/alert", alerta(resource="web\x00"), 422, f"resource: {NUL}"),
        ("POST", "/api/alert", alerta(text="t" * 9000), 400, f"text: {LONGER} 8192 characters"),
        ("POST", "/api/alert", alerta(tags="dc1"), 400, "tags: Input should be a valid array"),
        ("POST", "/api/alert", BAD_UTF8, 400, NOT_UTF8),
        ("POST", "/api/heartbeat", {"origin": "o", "createTime": Y9999}, 400, f"createTime: {BEFORE_2100}"),
        ("POST", "/api/heartbeat", {"origin": "o", "timeout": 0}, 400, f"timeout: {AT_LEAST} 1"),
        # PagerDuty
        ("POST", PD, pd(timestamp=Y1), 400, f"payload.timestamp: {AFTER_1970}"),
        ("POST", PD, pd(custom_details={"k": "\x00"}), 422, f"payload.custom_details.k: {NUL}"),
        ("POST", PD, pd(summary="s" * 2000), 400, f"payload.summary: {LONGER} 1024 characters"),
        ("POST", PD, pd(severity=3), 400, pd_severity),
        ("POST", PD, BAD_UTF8, 400, NOT_UTF8),
        # Reads: the request target, regular expressions, times.
        ("GET", "/api/v1/alerts/%00abc", None, 400, "the path contains a NUL character"),
        ("GET", "/api/v1/alerts?q=%FF", None, 400, "the query string is not valid UTF-8"),
        ("GET", f"/api/v1/alerts?event={long_re}", None, 400, f"{re_} has 6000 characters"),
        ("GET", f"/api/v1/alerts?event={deep_re}", None, 400, f"{re_} is nested too deeply"),
        ("GET", f"/api/v1/alerts?from={Y1}", None, 400, "from must be from 1970-01-01"),
        ("GET", f"/api/v1/events?to={Y9999}", None, 400, "to must be from 1970-01-01"),
        ("GET", f"{series}&from={Y1}", None, 400, "from must be from 1970-01-01"),
    ]  # fmt: skip


def test_every_write_endpoint_refuses_the_boundaries_and_the_pipeline_goes_on(pipeline: Pipeline) -> None:
    from tests.unit.formats_helpers import sample

    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client() as c:
        # Something to act on: an alert and an asset.
        assert c.post("/api/v1/events", json={**GOOD, "resource": "edge-1"}).status_code == 202
        aid = wait_for(lambda: _alert_id(c, "edge-1"), 120, "the first alert")
        r = c.post(
            "/api/v1/assets?wait=30", json={"natural_key": "edge:1", "name": "edge-1", "type": "router"}
        )
        assert r.status_code == 200, r.text
        asset = r.json()["asset_id"]

        wrong = []  # every case that answers otherwise, reported together
        for method, path, body, status, said in _edge_cases(aid, asset):
            raw = isinstance(body, bytes)
            r = c.request(
                method,
                path,
                content=body if raw else None,
                json=None if raw else body,
                headers={"content-type": "application/json"} if raw else None,
            )
            if r.status_code != status or said not in _said(r):
                what = f"{method} {path[:80]} {body!r:.120}"
                wrong.append(f"{what}: want {status} {said!r}, got {r.status_code} {_said(r)[:300]!r}")
        assert not wrong, "\n".join(wrong)
        # PostgreSQL's own verdict on a pattern (it compiles one only once a row is there to match).
        for path in ("/api/v1/alerts", "/api/v1/alerts/count", "/api/v1/alerts/top"):
            r = c.get(path, params={"event": TOO_COMPLEX})
            assert r.status_code == 400, r.text
            assert r.json()["error"] == (
                "event=~: PostgreSQL refused it: invalid regular expression: "
                "regular expression is too complex"
            )

        # Good records behind the refused ones go through, the boundaries themselves included.
        for resource, at in (("edge-1970", "1970-01-01T00:00:00Z"), ("edge-2099", "2099-12-31T23:59:59Z")):
            r = c.post("/api/v1/events", json={**GOOD, "resource": resource, "occurredAt": at})
            assert r.status_code == 202, r.text
        sample_ = {"name": "cpu", "value": 1e308, "at": "2099-12-31T00:00:00Z"}
        metrics = {"source": "nms", "asset_id": "ast_edge", "body": {"kind": "metrics", "samples": [sample_]}}
        assert c.post("/api/v1/events", json=[metrics]).status_code == 202
        assert (
            c.post("/api/v1/integrations/alertmanager", json=sample("alertmanager_firing.json")).status_code
            == 202
        )
        assert c.post("/api/alert", json=sample("alerta_alert.json")).status_code == 201
        assert c.post("/v2/enqueue", json=sample("pagerduty_trigger.json")).status_code == 202
        r = c.patch(f"/api/v1/assets/{asset}?wait=30", json={"users_served": INT4, "revenue_per_hour": 1e300})
        assert r.status_code == 200 and r.json()["asset"]["users_served"] == INT4, r.text
        r = c.post(f"/api/v1/alerts/{aid}/shelve?wait=30", json={"until": "2099-12-31T23:59:59Z"})
        assert r.status_code == 200 and r.json()["alert"]["status"] == "shelved", r.text

        for resource in ("edge-1970", "edge-2099", "https://server.example.org", "web01", "samplekeyhere"):
            wait_for(lambda resource=resource: _alert_id(c, resource), 120, f"the alert of {resource}")
        series = "SELECT 1 FROM metric_series WHERE asset_id = 'ast_edge'"
        wait_for(lambda: pipeline.query(series), 120, "the metric series")
        pipeline.check_alive("worker", "api")
    assert _raw_count(pipeline) == 7  # the 7 good observations: nothing refused was appended


def _alert_id(c: httpx.Client, resource: str) -> str | None:
    alerts = c.get("/api/v1/alerts", params={"resource": resource}).json()["alerts"]
    return alerts[0]["alert_id"] if alerts else None
