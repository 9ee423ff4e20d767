"""The collector mix against running workers: produce, then wait until the read models account for it.

Accounting: metrics observations by the metrics projection's checkpoint (one `ems.metrics` record per
observation, forwarded by normalize), events by `sum(event_count)` over the alerts (every event the
dedupe stage folded, clears and duplicates included). A burst's time then includes a drain of the
rollup job over every pending bucket (`RollupJob.drain`: the buckets of the burst's last
minutes are not closed by any later sample), so the figure covers the samples, series and all three
rollups of everything produced. The backlog sampled over the run is the
observations produced but not yet accounted for: the end-to-end consumer lag, in observations (the
projection runner keeps its positions in PostgreSQL, not in Kafka's group offsets).

Latency probes (steady run): pairs of observations on devices of their own, a first poll (its series
are new) and a Device Unreachable (a new alert); bench-only triggers stamp the insert of a probe
asset's first `metric_series` row and of its `alerts` row; latency = stamp - time handed to the producer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from ems.bench.collector_mix_data import Fleet, probe
from ems.bench.paced import Paced
from ems.projections.metrics import series_id
from ems.projections.metrics_rollup import RollupJob
from ems.schemas.observation import MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import make_producer

ACCOUNTED = (
    "SELECT (SELECT coalesce(sum(last_offset + 1), 0) FROM projection_checkpoint"
    " WHERE projection = 'metrics') + (SELECT coalesce(sum(event_count), 0) FROM alerts)"
)
PROBE_TRIGGERS = """
CREATE TABLE bench_probe_assets (asset_id text PRIMARY KEY);
CREATE TABLE bench_probe (asset_id text PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION bench_probe_stamp() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM {s}.bench_probe_assets WHERE asset_id = NEW.asset_id) THEN
    INSERT INTO {s}.bench_probe VALUES (NEW.asset_id, clock_timestamp()) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_probe AFTER INSERT ON metric_series FOR EACH ROW EXECUTE FUNCTION bench_probe_stamp();
CREATE TRIGGER bench_probe AFTER INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION bench_probe_stamp();
"""


@dataclass
class Batch:
    """Encoded observations (key, value) with what they carry; `probes` maps a probe's index in
    `records` to its asset."""

    records: list[tuple[bytes, bytes]] = field(default_factory=list)
    metrics: int = 0
    events: int = 0
    samples: int = 0
    rows: list[tuple[int, datetime, float]] = field(default_factory=list)
    probes: dict[int, str] = field(default_factory=dict)

    def add(self, obs: Observation, rows: bool = False, probe: bool = False) -> None:
        if probe:
            self.probes[len(self.records)] = obs.asset_id
        self.records.append((obs.key.encode(), encode(obs)))
        if isinstance(obs.body, MetricsBody):
            self.metrics += 1
            self.samples += len(obs.body.samples)
            if rows:
                at = obs.occurred_at
                self.rows += [
                    (series_id(obs.key, s.name, s.labels), s.at or at, s.value) for s in obs.body.samples
                ]
        else:
            self.events += 1


def burst(fleet: Fleet, rounds: range) -> Batch:
    """Every observation of these rounds, with the metric rows a bare COPY would write."""
    batch = Batch()
    for r in rounds:
        for obs in fleet.round(r):
            batch.add(obs, rows=True)
    return batch


def steady(fleet: Fleet, first_round: int, count: int, probe_every: int) -> Batch:
    """`count` observations from `first_round` on, plus a probe pair after every `probe_every`."""
    batch, r, n = Batch(), first_round, 0
    while True:
        for obs in fleet.round(r):
            batch.add(obs)
            n += 1
            if n % probe_every == 0:
                for p in probe(len(batch.probes), fleet.start + r * 60.0):
                    batch.add(p, probe=True)
            if n >= count:
                return batch
        r += 1


@dataclass
class Outcome:
    seconds: float
    backlog: list[tuple[float, int]]  # (seconds since start, observations not yet accounted for)
    latencies_ms: list[float]
    drain_s: float = 0.0  # of `seconds`: the final rollup drain (bursts)

    @property
    def max_backlog(self) -> int:
        return max((b for _, b in self.backlog), default=0)


async def _accounted(conn: psycopg.AsyncConnection) -> int:
    return (await (await conn.execute(ACCOUNTED)).fetchone())[0]


def install_probe_triggers(settings: Settings) -> None:
    url, schema = settings.database_url.get_secret_value(), settings.read_model_schema
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
        conn.execute(PROBE_TRIGGERS.replace("{s}", schema))


async def run(settings: Settings, batch: Batch, rate: float = 0, timeout: float = 900) -> Outcome:
    """Produce `batch` (at `rate` obs/s, else at once) and wait until the read models hold all of it."""
    url = settings.database_url.get_secret_value()
    options = f"-c search_path={settings.read_model_schema}"
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, options=options)
    if batch.probes:
        await conn.execute(
            "INSERT INTO bench_probe_assets SELECT unnest(%s::text[])", [list(batch.probes.values())]
        )
    producer = make_producer(settings)
    await producer.start()
    topic, paced = settings.topic("observations.raw"), Paced(rate, every=20)
    want = await _accounted(conn) + len(batch.records)
    backlog: list[tuple[float, int]] = []
    start = time.perf_counter()

    async def sample() -> None:
        while True:
            backlog.append(
                (
                    time.perf_counter() - start,
                    paced.sent - (len(batch.records) - (want - await _accounted(conn))),
                )
            )
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    try:
        records = ((key, value, batch.probes.get(i)) for i, (key, value) in enumerate(batch.records))
        await paced.produce(producer, topic, records, start)
        await producer.flush()
        deadline = time.monotonic() + timeout
        while (got := await _accounted(conn)) < want:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the read models account for {got - want + len(batch.records)} of {len(batch.records)}"
                )
            await asyncio.sleep(0.05)
        sampler.cancel()
        drained = time.perf_counter()
        if rate == 0:
            await RollupJob().drain(conn)
        seconds = time.perf_counter() - start
        drain_s = time.perf_counter() - drained
        stamps = (
            await (await conn.execute("SELECT asset_id, at FROM bench_probe")).fetchall()
            if batch.probes
            else []
        )
    finally:
        sampler.cancel()
        await producer.stop()
        await conn.close()
    backlog.append((seconds, 0))
    latencies = sorted((at.timestamp() - paced.sent_at[a]) * 1000 for a, at in stamps if a in paced.sent_at)
    if batch.probes and len(latencies) != len(batch.probes):
        raise RuntimeError(f"{len(latencies)} of {len(batch.probes)} probes were stamped")
    return Outcome(seconds, backlog, latencies, drain_s)
