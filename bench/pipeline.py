"""End to end: observations produced to the raw topic -> alerts read model complete.

Latency probes: every `probe_every`-th observation is for an asset of its own, so it opens its own
alert; a bench-only trigger stamps the time each probe's alert row is inserted, and the latency is
that stamp minus the time the bench handed the observation to the producer.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer

from ems.bench.cpu_use import CpuUse
from ems.bench.paced import Paced
from ems.process_group import spawn_ems
from ems.scenario import generate
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode

PROBE_TRIGGER = """
CREATE TABLE IF NOT EXISTS bench_probe (alert_id text PRIMARY KEY, at timestamptz NOT NULL);
CREATE OR REPLACE FUNCTION bench_probe_stamp() RETURNS trigger AS $$
BEGIN
  INSERT INTO bench_probe VALUES (NEW.asset_id, clock_timestamp()) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_probe AFTER INSERT ON alerts FOR EACH ROW
  WHEN (NEW.source = 'bench-probe') EXECUTE FUNCTION bench_probe_stamp();
"""


@dataclass
class PipelineResult:
    observations: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.observations / self.seconds


def _records(n: int, assets: int, probe_every: int, run: str) -> list[tuple[bytes, bytes, str | None]]:
    """(key, value, probe asset or None) for n scenario observations plus one probe per
    `probe_every` of them, encoded before the clock starts. Probes are extra observations (a
    critical event on an asset of its own), so the scenario's own outcome stays exact. Every
    observation of a run has the environment `run`, so runs never share alerts."""
    out = []
    # Current event times: the worker's wall-clock ticker would otherwise expire every alert of a
    # scenario dated months ago at each tick, and the next event reopen it.
    for i, item in enumerate(generate(n, assets=assets, seed=1, start=datetime.now(UTC))):
        obs = Observation(
            source="bench",
            asset_id=item["asset_id"],
            occurred_at=item["occurred_at"],
            body=EventBody(
                event=item["event"], severity=item["severity"], title=item["title"], environment=run
            ),
        )
        out.append((obs.key.encode(), encode(obs), None))
        if i % probe_every == 0:
            probe = f"probe_{run}_{i}"
            obs = Observation(
                source="bench-probe",
                asset_id=probe,
                occurred_at=item["occurred_at"],
                body=EventBody(event="Probe", severity="critical", environment=run),
            )
            out.append((obs.key.encode(), encode(obs), probe))
    return out


def start_workers(env: dict[str, str], layout: list[str], logdir: str) -> list[subprocess.Popen]:
    """One `ems worker` process per entry of `layout` (comma-separated stages)."""
    return [
        spawn_ems(["worker", "--stages", stages], env, Path(logdir) / f"worker{i}.log")
        for i, stages in enumerate(layout)
    ]


def _scalar(conn: psycopg.Connection, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def wait_prepared(settings: Settings, procs: list[subprocess.Popen], timeout: float = 120) -> None:
    url = settings.database_url.get_secret_value()
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited during start-up; see its log")
            if _scalar(
                conn,
                f"SELECT count(*) FROM pg_tables WHERE schemaname = '{settings.read_model_schema}'"
                " AND tablename = 'alerts'",
            ):
                conn.execute(f"SET search_path TO {settings.read_model_schema}")
                conn.execute(PROBE_TRIGGER)
                return
            time.sleep(0.2)
    raise RuntimeError("the workers did not create the read models in time")


async def warm_up(settings: Settings, timeout: float = 120) -> None:
    """Send one observation and wait until it is an alert: every stage has joined its group."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    obs = Observation(
        source="bench-warmup", asset_id="warmup", body=EventBody(event="Warm", severity="minor")
    )
    await producer.send_and_wait(settings.topic("observations.raw"), key=b"warmup", value=encode(obs))
    await producer.stop()
    url = settings.database_url.get_secret_value()
    deadline = time.monotonic() + timeout
    with psycopg.connect(
        url, autocommit=True, options=f"-c search_path={settings.read_model_schema}"
    ) as conn:
        while time.monotonic() < deadline:
            if _scalar(conn, "SELECT count(*) FROM alerts WHERE asset_id = 'warmup'"):
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("the pipeline did not process the warm-up observation in time")


async def run_pipeline(
    settings: Settings,
    n: int,
    assets: int,
    probe_every: int = 100,
    timeout: float = 600,
    rate: float = 0,
    cpu: CpuUse | None = None,
) -> PipelineResult:
    """Produce n observations and time until the alerts read model accounts for all of them.

    With `rate` > 0 the observations are produced at that many per second (steady load, for
    latency); otherwise all at once (a burst, for throughput). `cpu`, when given, measures the
    processes' CPU over the same span as the clock.
    """
    run = f"run{int(time.time() * 1000) % 10**8}"
    records = _records(n, assets, probe_every, run)
    paced = Paced(rate, every=100)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    url = settings.database_url.get_secret_value()
    conn = psycopg.connect(url, autocommit=True, options=f"-c search_path={settings.read_model_schema}")
    topic = settings.topic("observations.raw")
    if cpu is not None:
        cpu.start()
    start = time.perf_counter()
    try:
        await paced.produce(producer, topic, records, start)
        await producer.flush()
        deadline = time.monotonic() + timeout
        query = f"SELECT coalesce(sum(event_count), 0) FROM alerts WHERE environment = '{run}'"
        total = len(records)
        while _scalar(conn, query) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {_scalar(conn, query)} of {total} observations reached the alerts")
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - start
        if cpu is not None:
            cpu.stop()
        stamps = conn.execute("SELECT alert_id, at FROM bench_probe").fetchall()
    finally:
        conn.close()
        await producer.stop()
    latencies = sorted((at.timestamp() - paced.sent_at[a]) * 1000 for a, at in stamps if a in paced.sent_at)
    return PipelineResult(len(records), seconds, latencies)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
