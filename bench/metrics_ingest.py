"""`python -m ems.bench.metrics_ingest`: metric samples/s into the store vs a bare COPY baseline.

1. Start real Kafka and PostgreSQL (or use the EMS_* servers with --external), create the topics and
   tables, and start `ems worker --stages projections` (the real projection runner) as a process.
2. Encode N samples as metrics observations (`--per-obs` samples each, over assets x series), produce
   them to the metrics topic and time until the runner's checkpoint covers every one of them (samples
   stored, series updated) and then a drain of the rollup job has computed every 1m/5m/1h bucket.
3. Baseline in the same run: one bare COPY of the same (series_id, ts, value) rows into an unpartitioned
   table with the same primary key and no rollups. Print both rates and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ems.process_group import spawn_ems, stop_processes
from ems.projections.metrics import floor_time, series_id
from ems.projections.metrics_rollup import RollupJob
from ems.schemas.observation import MetricSample, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import make_producer
from ems.worker import prepare

CHECKPOINT = (
    "SELECT coalesce(sum(last_offset + 1), 0) FROM projection_checkpoint WHERE projection = 'metrics'"
)


def observations(n: int, per_obs: int, assets: int, series: int, base: datetime) -> list[Observation]:
    """~n samples: observation k holds `per_obs` samples of asset k % assets at fresh times."""
    out, per_time = [], max(1, per_obs // series)
    for k in range(max(1, n // per_obs)):
        asset, round_ = k % assets, k // assets
        samples = [
            MetricSample(
                name="ifInOctets" if i % series else "cpu",
                value=float((k * 7 + i) % 1000),
                labels={"interface": f"eth{i % series}"} if i % series else {},
                at=base + timedelta(seconds=10 * (round_ * per_time + i // series)),
            )
            for i in range(per_obs)
        ]
        out.append(Observation(source="bench", asset_id=f"a{asset}", body=MetricsBody(samples=samples)))
    return out


def _rows(batch: list[Observation]) -> list[tuple[int, datetime, float]]:
    return [(series_id(o.key, s.name, s.labels), s.at, s.value) for o in batch for s in o.body.samples]


async def _produce(settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(settings.topic("metrics"), key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


def _wait_applied(conn: psycopg.Connection, want: int, procs: list, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while conn.execute(CHECKPOINT).fetchone()[0] < want:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(
                f"only {conn.execute(CHECKPOINT).fetchone()[0]} of {want} observations applied"
            )
        time.sleep(0.05)


async def _drain(url: str, schema: str) -> None:
    """Every pending rollup bucket computed (the burst's last minutes are closed by no later sample)."""
    async with await psycopg.AsyncConnection.connect(url, options=f"-c search_path={schema}") as conn:
        await RollupJob().drain(conn)


def ingest(settings: Settings, env: dict[str, str], batch: list[Observation]) -> tuple[float, int]:
    """Steps 1-2: (seconds until the store holds every sample, samples stored)."""
    prepare(settings)
    logdir = Path(tempfile.mkdtemp(prefix="ems-bench-metrics-"))
    procs = [spawn_ems(["worker", "--stages", "projections"], env, logdir / "worker.log")]
    url = settings.database_url.get_secret_value()
    schema = settings.read_model_schema
    try:
        with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
            warm = batch[0].model_copy(update={"asset_id": "warmup"})
            asyncio.run(_produce(settings, [(b"warmup", encode(warm))]))  # the runner has joined
            _wait_applied(conn, 1, procs)
            records = [(o.key.encode(), encode(o)) for o in batch]
            start = time.perf_counter()
            asyncio.run(_produce(settings, records))
            _wait_applied(conn, 1 + len(records), procs)
            asyncio.run(_drain(url, schema))
            seconds = time.perf_counter() - start
            stored = conn.execute(
                "SELECT count(*) FROM metric_samples WHERE series_id IN "
                "(SELECT series_id FROM metric_series WHERE asset_id <> 'warmup')"
            ).fetchone()[0]
    finally:
        stop_processes(procs)
    return seconds, stored


def bare_copy(settings: Settings, rows: list[tuple[int, datetime, float]]) -> float:
    """Step 3: seconds for one COPY of `rows` into a plain table with the same primary key."""
    url = settings.database_url.get_secret_value()
    with psycopg.connect(url, options=f"-c search_path={settings.read_model_schema}") as conn:
        conn.execute(
            "CREATE TABLE bench_copy (series_id bigint, ts timestamptz, value double precision, "
            "PRIMARY KEY (series_id, ts))"
        )
        conn.commit()
        start = time.perf_counter()
        with conn.cursor().copy("COPY bench_copy (series_id, ts, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def run(server_env: dict[str, str], args: argparse.Namespace) -> int:
    name = "benchm" + uuid.uuid4().hex[:6]
    env = {
        **server_env,
        "EMS_TOPIC_PREFIX": name,
        "EMS_APP_ID": f"{name}-app",
        "EMS_READ_MODEL_SCHEMA": name,
        "EMS_WORKER_WEB_PORT": "0",
    }
    settings = Settings.of_env(env)
    base = floor_time(datetime.now(UTC), timedelta(hours=1)) - timedelta(hours=2)
    batch = observations(args.samples, args.per_obs, args.assets, args.series, base)
    rows = _rows(batch)
    seconds, stored = ingest(settings, env, batch)
    if stored != len(rows):
        raise RuntimeError(f"the store holds {stored} samples, {len(rows)} were sent")
    copy_s = bare_copy(settings, rows)
    rate, base_rate = len(rows) / seconds, len(rows) / copy_s
    print(
        f"# {len(rows)} samples in {len(batch)} observations of {args.per_obs}, "
        f"{args.assets} assets x {args.series} series, 1 projections worker"
    )
    print(f"metrics ingest (Kafka -> runner -> samples + series, then 3 rollups): {rate:.0f} samples/s")
    print(f"baseline (bare COPY into an unpartitioned table, same rows): {base_rate:.0f} samples/s")
    print(f"ratio: {rate / base_rate:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems.bench.metrics_ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-n", "--samples", type=int, default=200_000)
    parser.add_argument("--per-obs", type=int, default=100, help="samples per observation")
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--series", type=int, default=5, help="series per asset")
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    if args.external:
        return run(dict(os.environ), args)
    from ems.infra.servers import RealStack

    with RealStack() as stack:
        return run({**os.environ, **stack.env()}, args)


if __name__ == "__main__":
    raise SystemExit(main())
