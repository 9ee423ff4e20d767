"""`kill -9` of every process kind mid-stream: each worker stage, the API, a collector.

The pipeline runs one supervised `ems worker` per stage (so each can be killed alone) and the API;
when snmpsim is installed, an SNMP collector polls simulated devices too. While the drill client
writes (retrying what fails), each process is killed in turn: a worker's supervisor restarts its
stage process; the API and the collector are restarted by the drill, as a service manager would.
After each kill an event is posted and the time until it is served is that kill's recovery time.
The audit covers the client's writes, asset commands sent during the kills, and every observation
the collector published (read back from the raw topic).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ems.drills.audit import account, rebuild_differences, wait_accounted
from ems.drills.load import Load
from ems.drills.outages import probe_recovery, start_load
from ems.drills.pipeline import Pipeline, wait_for
from ems.drills.report import DrillReport
from ems.projections.metrics import series_id
from ems.schemas.observation import EventBody, MetricsBody, Observation
from ems.streams.codecs import DecodeError, decode

STAGE_PROCESSES = ("normalize", "dedupe", "projections", "assets")


class AssetWriter:
    """Creates and updates assets through the API (keyed writes, retried) in a thread, authenticated
    by `headers`."""

    def __init__(self, api: str, run: str, headers: Mapping[str, str], every: float = 1.0) -> None:
        self.api, self.run, self.headers, self.every = api, run, dict(headers), every
        self.commands: set[str] = set()
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def _send(self, client: httpx.Client, method: str, path: str, body: dict, key: str) -> None:
        while True:
            try:
                r = client.request(method, path, json=body, headers={"Idempotency-Key": key})
                if r.status_code in (200, 202):
                    self.commands.add(r.json()["command_id"])
                    return
                if r.status_code not in (429, 503) and r.status_code < 500:
                    raise AssertionError(f"{method} {path} refused: {r.status_code} {r.text}")
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

    def _loop(self) -> None:
        try:
            self._write()
        except Exception as exc:  # noqa: BLE001 - reported by the drill
            self.error = exc

    def _write(self) -> None:
        n = 0
        with httpx.Client(base_url=self.api, timeout=10, headers=self.headers) as client:
            while not self._stop.is_set():
                asset = f"ast_{self.run}_reg{n}"
                self._send(
                    client,
                    "POST",
                    "/api/v1/assets",
                    {"id": asset, "name": f"drill {n}", "type": "server"},
                    f"{self.run}-create-{n}",
                )
                # The update needs the create applied: wait for it (through the kills, too).
                wait_for(lambda a=asset: _exists(client, a), 180, f"asset {asset}", interval=0.5)
                self._send(
                    client,
                    "PATCH",
                    f"/api/v1/assets/{asset}",
                    {"criticality": 1 + n % 5},
                    f"{self.run}-update-{n}",
                )
                n += 1
                self._stop.wait(self.every)


def _exists(client: httpx.Client, asset: str) -> bool:
    try:
        return client.get(f"/api/v1/assets/{asset}").status_code == 200
    except httpx.HTTPError:  # the API may be the process just killed
        return False


def kill_each_process(
    server_env: dict[str, str], logs: Path, rate: float = 8.0, gap: float = 4.0
) -> DrillReport:
    """The drill (see the module docstring)."""
    report = DrillReport("kill -9 each process")
    pipeline = Pipeline(server_env, logs, retry_cap="3", rate_limit_per_minute="1000000")
    run = pipeline.name
    agent = _snmp_agent(logs)
    try:
        for stage in STAGE_PROCESSES:
            pipeline.start(stage, "worker", "--stages", stage)
        wait_for(
            lambda: pipeline.scalar("SELECT to_regclass(%s) IS NOT NULL", (f"{run}.alerts",), "public"),
            120,
            "the read models",
        )
        pipeline.start_api()
        load = Load(pipeline.api, run, headers=pipeline.auth)
        assets = AssetWriter(pipeline.api, run, pipeline.auth)
        if agent is not None:
            pipeline.start(
                "collector", "collector", "snmp", "--config", str(_collector_config(agent, logs, run))
            )
        wait_for(pipeline.healthy, 120, "a healthy pipeline before the drill")
        client = start_load(load, 0, 10_000, rate)
        assets.start()
        time.sleep(gap)
        recovery: dict[str, float] = {}
        victims = [*STAGE_PROCESSES, "api", *(["collector"] if agent is not None else [])]
        for victim in victims:
            killed = time.monotonic()
            if victim in STAGE_PROCESSES:
                pipeline.kill_supervised_child(victim)  # its supervisor restarts it
            else:
                pipeline.kill(victim)
                time.sleep(1)
                pipeline.restart(victim)
            recovery[victim] = round(probe_recovery(pipeline, run, killed), 1)
            time.sleep(gap)
        load.stop()
        client.join(600)
        assets.stop()
        if agent is not None:
            pipeline.kill("collector")  # stop publishing before the audit reads the raw topic
        wait_accounted(pipeline, load.ledger, run)
        report.take(account(pipeline, load.ledger, run))
        _account_assets(pipeline, assets, report)
        if agent is not None:
            _account_collector(pipeline, report)
        report.dead_lettered = len(pipeline.dead_letters() or [])
        report.rebuild_differences = rebuild_differences(pipeline)
        report.recovery_s = max(recovery.values())
        report.details["recovery_s_per_kill"] = recovery
        report.notes.append(f"recovery per kill (s): {recovery}")
        if agent is None:
            report.notes.append("collector not killed: snmpsim is not installed")
    finally:
        pipeline.stop_all()
        if agent is not None:
            agent.stop()
    return report


def _account_assets(pipeline: Pipeline, writer: AssetWriter, report: DrillReport) -> None:
    rows = pipeline.query(
        "SELECT cause, count(*) AS n FROM asset_changes WHERE cause = ANY(%s) GROUP BY cause",
        (list(writer.commands),),
    )
    found = {r["cause"]: r["n"] for r in rows}
    report.sent += len(writer.commands)
    report.accounted += sum(1 for c in writer.commands if found.get(c))
    report.duplicated += sum(n - 1 for n in found.values() if n > 1)
    report.details["asset_commands"] = len(writer.commands)
    report.checks["asset writes went on through every kill"] = writer.error is None
    if writer.error is not None:
        report.notes.append(f"the asset writer stopped: {writer.error!r}")


def _account_collector(pipeline: Pipeline, report: DrillReport) -> None:
    """Every observation the collector published to the raw topic, accounted in the read models."""
    events: set[str] = set()
    samples: set[tuple[int, Any]] = set()
    records = 0
    for i, raw in enumerate(pipeline.read_topic("observations.raw", raw=True)):
        try:
            obs = decode(raw, Observation, defaults={"event_id": f"raw-{i}"})
        except DecodeError:
            continue
        if obs.source != "nms":
            continue
        records += 1
        if isinstance(obs.body, EventBody):
            events.add(obs.event_id)
        elif isinstance(obs.body, MetricsBody):
            for s in obs.body.samples:
                samples.add((series_id(obs.key, s.name, s.labels), s.at or obs.occurred_at))
    stored_events = {
        r["event_id"] for r in pipeline.query("SELECT event_id FROM events WHERE source = 'nms'")
    }
    ids = sorted({sid for sid, _ in samples})
    stored = {
        (r["series_id"], r["ts"])
        for r in pipeline.query("SELECT series_id, ts FROM metric_samples WHERE series_id = ANY(%s)", (ids,))
    }
    report.sent += len(events) + len(samples)
    report.accounted += len(events & stored_events) + len(samples & stored)
    report.details["collector"] = {
        "observations": records,
        "events": len(events),
        "events_stored": len(events & stored_events),
        "samples": len(samples),
        "samples_stored": len(samples & stored),
    }


def _snmp_agent(logs: Path):
    """An snmpsim agent serving the real-device recordings snmpsim ships (None if not installed)."""
    try:
        from ems.infra.snmpsim import SnmpSimAgent, recordings_dir

        recordings = recordings_dir()
    except ImportError:
        return None
    data = logs / "snmp-data"
    data.mkdir(parents=True, exist_ok=True)
    for name in ("linux-full-walk", "winxp-full-walk"):
        source = recordings / f"{name}.snmprec"
        if source.exists():
            (data / source.name).write_bytes(source.read_bytes())
    return SnmpSimAgent(data).start()


def _collector_config(agent, logs: Path, run: str) -> Path:
    targets = [
        {"host": "127.0.0.1", "port": agent.port, "credential": name}
        for name in ("linux-full-walk", "winxp-full-walk")
    ]
    config = {
        "credentials": {name: {"community": name} for name in ("linux-full-walk", "winxp-full-walk")},
        "targets": targets,
        "default_interval": 2,
        "timeout": 0.5,
        "retries": 1,
        "jitter": 0.1,
    }
    path = logs / f"{run}-snmp.json"
    path.write_text(json.dumps(config))
    return path
