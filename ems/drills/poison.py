"""Poison through every write endpoint and on every topic, with good records flowing behind it.

Poison: NUL bytes, numbers out of their column's range, years 0001 and 9999, 10 MB strings, wrong
types, invalid UTF-8 and invalid JSON. Every poisoned request must be answered 4xx with a reason
(never 2xx, never 5xx); every poisoned record produced straight to a topic must end up on the
dead-letter topic (a record over the broker's size limit is refused by Kafka itself); and the good
stream the drill client sends meanwhile must be accounted for exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka.errors import KafkaError

from ems.agents.assets import apply_command
from ems.agents.dedupe import fold
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import normalizer_from
from ems.drills.audit import account, rebuild_differences, wait_accounted
from ems.drills.load import Load
from ems.drills.outages import start_load
from ems.drills.pipeline import Pipeline, wait_for
from ems.drills.report import DrillReport
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.command import Command
from ems.schemas.event import EventBatch
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import make_producer

NUL = "a\u0000b"
BIG = "x" * (10 * 1024 * 1024)
EVENT = {"source": "poison", "severity": "major", "event": "Poison", "asset_id": "ast_poison"}


def bad_requests(alert_id: str, asset_id: str) -> list[tuple[str, str, str, Any]]:
    """(what, method, path, JSON body or raw bytes) of the poisoned requests; all must be 4xx."""
    obs = {"source": "poison", "asset_id": "ast_poison"}
    sample = {"name": "m", "value": 1.0}
    return [
        ("event: NUL in resource", "POST", "/api/v1/events", {**EVENT, "resource": NUL}),
        ("event: NUL in an attribute key", "POST", "/api/v1/events", {**EVENT, "attributes": {NUL: 1}}),
        ("event: year 0001", "POST", "/api/v1/events", {**EVENT, "occurred_at": "0001-01-01T00:00:00Z"}),
        ("event: year 9999", "POST", "/api/v1/events", {**EVENT, "occurred_at": "9999-12-31T23:59:59Z"}),
        ("event: 10 MB text", "POST", "/api/v1/events", {**EVENT, "text": BIG}),
        ("event: wrong types", "POST", "/api/v1/events", {**EVENT, "severity": 5, "tags": "x"}),
        (
            "event: invalid UTF-8",
            "POST",
            "/api/v1/events",
            b'{"source":"p","severity":"major","title":"\xff"}',
        ),
        ("event: invalid JSON", "POST", "/api/v1/events", b'{"source": '),
        (
            "event: timeout out of range",
            "POST",
            "/api/v1/events",
            {**obs, "body": {"kind": "event", "event": "E", "severity": "major", "timeout": 10**12}},
        ),
        (
            "metrics: NaN value",
            "POST",
            "/api/v1/events",
            {**obs, "body": {"kind": "metrics", "samples": [{**sample, "value": "NaN"}]}},
        ),
        (
            "metrics: year 9999",
            "POST",
            "/api/v1/events",
            {**obs, "body": {"kind": "metrics", "samples": [{**sample, "at": "9999-01-01T00:00:00Z"}]}},
        ),
        (
            "asset: users_served 3e9",
            "POST",
            "/api/v1/assets",
            {"name": "n", "type": "server", "users_served": 3 * 10**9},
        ),
        ("asset: NUL in name", "POST", "/api/v1/assets", {"name": NUL, "type": "server"}),
        (
            "asset: criticality 99",
            "POST",
            "/api/v1/assets",
            {"name": "n", "type": "server", "criticality": 99},
        ),
        ("asset: invalid UTF-8", "POST", "/api/v1/assets", b'{"name":"\xc3\x28","type":"server"}'),
        ("asset patch: users_served -1", "PATCH", f"/api/v1/assets/{asset_id}", {"users_served": -1}),
        ("asset patch: NUL location", "PATCH", f"/api/v1/assets/{asset_id}", {"location": NUL}),
        (
            "asset link: NUL target",
            "POST",
            f"/api/v1/assets/{asset_id}/dependencies",
            {"type": "depends_on", "target": f"ast_{NUL}"},
        ),
        ("ack: NUL comment", "POST", f"/api/v1/alerts/{alert_id}/ack?x=1", {"comment": NUL}),
        (
            "ack: timeout out of range",
            "POST",
            f"/api/v1/alerts/{alert_id}/ack",
            {"timeout": 10**12},
        ),
        (
            "shelve: until year 9999",
            "POST",
            f"/api/v1/alerts/{alert_id}/shelve",
            {"until": "9999-01-01T00:00:00Z"},
        ),
        (
            "alertmanager: NUL label",
            "POST",
            "/api/v1/integrations/alertmanager",
            {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": NUL}}]},
        ),
        (
            "alertmanager: year 9999",
            "POST",
            "/api/v1/integrations/alertmanager",
            {
                "status": "firing",
                "alerts": [
                    {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "9999-01-01T00:00:00Z"}
                ],
            },
        ),
        ("alerta: NUL resource", "POST", "/api/alert", {"resource": NUL, "event": "E"}),
        (
            "alerta: year 0001",
            "POST",
            "/api/alert",
            {"resource": "r", "event": "E", "createTime": "0001-01-01T00:00:00Z"},
        ),
        (
            "alerta: timeout out of range",
            "POST",
            "/api/alert",
            {"resource": "r", "event": "E", "timeout": 10**12},
        ),
        ("alerta heartbeat: timeout 0", "POST", "/api/heartbeat", {"origin": "o", "timeout": 0}),
        (
            "pagerduty: NUL routing key",
            "POST",
            "/v2/enqueue",
            {
                "routing_key": NUL,
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "s", "severity": "error"},
            },
        ),
        (
            "pagerduty: year 9999",
            "POST",
            "/v2/enqueue",
            {
                "routing_key": "k",
                "event_action": "trigger",
                "payload": {
                    "summary": "s",
                    "source": "s",
                    "severity": "error",
                    "timestamp": "9999-01-01T00:00:00Z",
                },
            },
        ),
        ("read: NUL in an alert id", "GET", "/api/v1/alerts/%00abc", None),
        (
            "read: 3,000 nested regex groups",
            "GET",
            "/api/v1/alerts?event=~" + "(" * 3000 + "a" + ")" * 3000,
            None,
        ),
        ("read: year 0001", "GET", "/api/v1/events?from=0001-01-01T00:00:00Z", None),
    ]


def bad_records(settings: Settings) -> list[tuple[str, str, int | None, bytes]]:
    """(what, topic short name, partition or None, bytes) of the poisoned records."""
    now = datetime.now(UTC)
    good = Observation(
        source="poison",
        asset_id="ast_poison",
        occurred_at=now,
        body=EventBody(event="Poison", severity="major", resource="r"),
    )
    raw = orjson.loads(encode(good))

    def patched(data: dict, path: list[Any], value: Any) -> bytes:
        data = orjson.loads(orjson.dumps(data))
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return orjson.dumps(data)

    event = normalizer_from(settings).normalize(good, 0, 0)
    batch = orjson.loads(encode(EventBatch(partition=0, events=[event])))
    change = fold(None, [event], LifecyclePolicy.of(settings)).change()
    alerts = orjson.loads(encode(AlertChangedBatch(partition=0, changes=[change])))
    create = Command(
        name="asset.create", target="ast_poison_asset", actor="drill", args={"name": "p", "type": "server"}
    )
    asset = orjson.loads(encode(apply_command(None, create, "commands:0", 0).change))
    metrics = {
        **raw,
        "body": {"kind": "metrics", "samples": [{"name": "m", "value": 1, "at": "0001-01-01T00:00:00Z"}]},
    }
    return [
        ("raw: NUL in resource", "observations.raw", None, patched(raw, ["body", "resource"], NUL)),
        ("raw: year 9999", "observations.raw", None, patched(raw, ["occurred_at"], "9999-12-31T00:00:00Z")),
        ("raw: year 0001", "observations.raw", None, patched(raw, ["occurred_at"], "0001-01-01T00:00:00Z")),
        ("raw: timeout out of range", "observations.raw", None, patched(raw, ["body", "timeout"], 10**12)),
        ("raw: wrong type", "observations.raw", None, patched(raw, ["body", "severity"], 5)),
        ("raw: 900 KB text", "observations.raw", None, patched(raw, ["body", "text"], "x" * 900_000)),
        ("raw: 10 MB text", "observations.raw", None, patched(raw, ["body", "text"], BIG)),
        ("raw: invalid UTF-8", "observations.raw", None, b'{"type":"observation","source":"\xff"}'),
        ("raw: invalid JSON", "observations.raw", None, b"{not json"),
        ("metrics: year 0001 sample", "metrics", None, orjson.dumps(metrics)),
        ("events: NUL in an event", "events", 0, patched(batch, ["events", 0, "resource"], NUL)),
        (
            "events: year 9999",
            "events",
            0,
            patched(batch, ["events", 0, "occurred_at"], "9999-01-01T00:00:00Z"),
        ),
        ("events: invalid JSON", "events", 0, b"[1, 2"),
        ("alerts: NUL in a title", "alerts", 0, patched(alerts, ["changes", 0, "alert", "title"], NUL)),
        (
            "alerts: event_count out of range",
            "alerts",
            0,
            patched(alerts, ["changes", 0, "alert", "event_count"], 2**40),
        ),
        (
            "commands: users_served 3e9",
            "commands",
            None,
            patched(orjson.loads(encode(create)), ["args", "users_served"], 3 * 10**9),
        ),
        (
            "commands: NUL in args",
            "commands",
            None,
            patched(orjson.loads(encode(create)), ["args", "name"], NUL),
        ),
        ("assets: users_served 3e9", "assets", None, patched(asset, ["asset", "users_served"], 3 * 10**9)),
        ("assets: invalid UTF-8", "assets", None, b'{"type":"asset_changed","x":"\xfe"}'),
    ]


async def _produce(settings: Settings, records: list[tuple[str, str, int | None, bytes]]) -> dict[str, Any]:
    """Produce the poison; what -> (topic, partition, offset), or the broker's refusal."""
    # Not idempotent: a record the broker refuses (10 MB) must not break the sequence of the next.
    producer = make_producer(settings, max_request_size=16 * 1024 * 1024, enable_idempotence=False)
    await producer.start()
    out: dict[str, Any] = {}
    try:
        for what, topic, partition, value in records:
            try:
                meta = await producer.send_and_wait(
                    settings.topic(topic), value=value, key=b"ast_poison", partition=partition
                )
                out[what] = (meta.topic, meta.partition, meta.offset)
            except KafkaError as exc:
                out[what] = f"refused by Kafka: {type(exc).__name__}"
    finally:
        await producer.stop()
    return out


def poison(server_env: dict[str, str], logs: Path, rate: float = 6.0, seconds: float = 25.0) -> DrillReport:
    """The drill (see the module docstring)."""
    report = DrillReport("poison everywhere")
    pipeline = Pipeline(server_env, logs, rate_limit_per_minute="1000000")
    run = pipeline.name
    try:
        pipeline.start_worker()
        pipeline.start_api()
        load = Load(pipeline.api, run, headers=pipeline.auth)
        client = start_load(load, 0, int(rate * seconds), rate)
        alert_id, asset_id = _targets(pipeline, run)
        answers = _send_requests(pipeline, bad_requests(alert_id, asset_id))
        # 401/403 would be the credentials refused, not the poison: the drill calls as an admin.
        bad = {w: status for w, status in answers.items() if not 400 <= status < 500 or status in (401, 403)}
        report.checks["every poisoned request answered 4xx (not 401/403)"] = not bad
        if bad:
            report.notes.append(f"not 4xx: {bad}")
        report.details["requests"] = answers
        produced = asyncio.run(_produce(pipeline.settings, bad_records(pipeline.settings)))
        positions = {what: p for what, p in produced.items() if isinstance(p, tuple)}
        refused = {what: p for what, p in produced.items() if not isinstance(p, tuple)}
        client.join(600)
        wait_accounted(pipeline, load.ledger, run)
        lettered = _wait_letters(pipeline, positions)
        missing = sorted(set(positions) - lettered)
        report.checks["every poison record dead-lettered"] = not missing
        if missing:
            report.notes.append(f"not dead-lettered: {missing}")
        report.dead_lettered = len(lettered)
        listed = pipeline.run("deadletters", "--json")
        shown = [orjson.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        report.checks["`ems deadletters` lists every letter"] = listed.returncode == 0 and len(shown) == len(
            pipeline.dead_letters() or []
        )
        report.take(account(pipeline, load.ledger, run))
        report.rebuild_differences = rebuild_differences(pipeline)
        report.notes.append(
            f"{len(answers)} poisoned requests: answers {sorted(set(answers.values()))}; "
            f"{len(positions)} poison records produced, {len(lettered)} dead-lettered; "
            f"refused by the broker: {refused or 'none'}"
        )
        report.details["records"] = {w: str(p) for w, p in produced.items()}
    finally:
        pipeline.stop_all()
    return report


def _targets(pipeline: Pipeline, run: str) -> tuple[str, str]:
    """An alert and an asset for the poisoned writes that need one."""
    with pipeline.client(timeout=10) as client:
        asset = f"ast_{run}_poison_target"
        r = client.post("/api/v1/assets?wait=30", json={"id": asset, "name": "target", "type": "server"})
        assert r.status_code in (200, 202), r.text

        def first_alert() -> str | None:
            alerts = client.get("/api/v1/alerts", params={"environment": run, "limit": 1}).json()["alerts"]
            return alerts[0]["alert_id"] if alerts else None

        alert = wait_for(first_alert, 120, "an alert of the good stream")
        wait_for(lambda: client.get(f"/api/v1/assets/{asset}").status_code == 200, 60, "the target asset")
    return alert, asset


def _send_requests(pipeline: Pipeline, requests: list[tuple[str, str, str, Any]]) -> dict[str, int]:
    out = {}
    with pipeline.client() as client:
        for what, method, path, body in requests:
            kwargs: dict[str, Any] = {"headers": {"content-type": "application/json"}}
            if isinstance(body, bytes):
                kwargs["content"] = body
            elif body is not None:
                kwargs["content"] = orjson.dumps(body)
            try:
                out[what] = client.request(method, path, **kwargs).status_code
            except httpx.HTTPError as exc:
                out[what] = 0
                out[f"{what} ({type(exc).__name__})"] = 0
    return out


def _wait_letters(pipeline: Pipeline, positions: dict[str, tuple], timeout: float = 120) -> set[str]:
    """Which poison records have a dead letter (by source position), waiting up to `timeout` s."""
    deadline = time.monotonic() + timeout
    by_position: Callable[[], set] = lambda: {  # noqa: E731
        (d["source_topic"], d["source_partition"], d["source_offset"]) for d in pipeline.dead_letters() or []
    }
    while True:
        seen = by_position()
        lettered = {what for what, pos in positions.items() if tuple(pos) in seen}
        if lettered == set(positions) or time.monotonic() > deadline:
            return lettered
        time.sleep(1)
