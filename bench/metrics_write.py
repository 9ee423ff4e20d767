"""`python -m ems.bench.metrics_write`: where one metrics batch's time goes, Python against PostgreSQL.

No Kafka: it starts PostgreSQL (`--external`: uses the EMS_DATABASE_URL one), migrates a fresh schema
and feeds the metrics projection, through the shared runner's own write path
(`ProjectionRunner._write_rows` in one transaction), the collector mix's polls
(`bench/collector_mix_data.py`) of `--devices` devices as one batch per round: round 1 creates every
series (a fleet's first poll), the next rounds update them. Per round it prints the time to read each
record and map it to rows (Python), the time of the write (grouping and collapsing rows, then per
table its COPY), and the time of the rollup job's pass after it (buckets computed per resolution),
then one bare COPY of the same (series, time, value) rows into a plain table with the same primary
key, the baseline of docs/performance.md "Collector mix".
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import defaultdict

import psycopg

from ems.bench.collector_mix_data import Fleet
from ems.infra.migrate import migrate
from ems.infra.servers import PostgresServer
from ems.projections.base import Upsert, units_of
from ems.projections.metrics import MetricsProjection
from ems.projections.runner import Mapped, ProjectionRunner
from ems.schemas.observation import MetricsBody
from ems.settings import Settings
from ems.streams.codecs import encode


def polls(devices: int, rounds: int) -> list[list[bytes]]:
    """Each round's metrics observations, encoded as normalize publishes them."""
    fleet = Fleet(devices, time.time() - 86_400)
    return [
        [encode(o) for o in fleet.round(r) if isinstance(o.body, MetricsBody)] for r in range(1, rounds + 1)
    ]


class TimedRunner(ProjectionRunner):
    """The runner, timing each table's COPY + INSERT … SELECT."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: dict[str, float] = defaultdict(float)

    async def _copy(self, cur, upsert: Upsert, rows) -> None:
        start = time.perf_counter()
        await super()._copy(cur, upsert, rows)
        self.seconds[upsert.table] += time.perf_counter() - start


async def measure(url: str, schema: str, rounds: list[list[bytes]]) -> None:
    projection = MetricsProjection()
    runner = TimedRunner(Settings(database_url=url), projection, schema)
    conn = await runner.open_connection()
    try:
        for number, raws in enumerate(rounds, 1):
            runner.seconds.clear()
            start = time.perf_counter()
            items = [
                Mapped(None, rows) for raw in raws for _, rows in units_of(projection, projection.decode(raw))
            ]
            mapped = time.perf_counter()
            async with conn.transaction(), conn.cursor() as cur:
                await runner._write_rows(cur, items)
            written = time.perf_counter()
            rolled = await projection.maintain(conn, final=True)  # the minutes closed so far
            done = time.perf_counter()
            samples = sum(1 for item in items for upsert, _ in item.rows if upsert is projection.samples)
            tables = ", ".join(f"{t} {s:.2f} s" for t, s in runner.seconds.items())
            print(
                f"round {number}: {len(raws)} observations, {samples} samples: "
                f"read and map {mapped - start:.2f} s, write {written - mapped:.2f} s ({tables}), "
                f"rollup pass {done - written:.2f} s "
                f"({', '.join(f'{r} {rolled.buckets[r]} in {t:.2f} s' for r, t in rolled.seconds.items())}): "
                f"{samples / (done - start):,.0f} samples/s"
            )
        rows = [
            row
            for raw in rounds[-1]
            for _, mapped_rows in units_of(projection, projection.decode(raw))
            for upsert, row in mapped_rows
            if upsert is projection.samples
        ]
        await conn.execute(
            "CREATE TABLE bench_copy (series_id bigint, ts timestamptz, value double precision, "
            "PRIMARY KEY (series_id, ts))"
        )
        await conn.commit()
        start = time.perf_counter()
        copy_in = "COPY bench_copy (series_id, ts, value) FROM STDIN"
        async with conn.transaction(), conn.cursor() as cur, cur.copy(copy_in) as copy:
            for row in rows:
                await copy.write_row(row)
        seconds = time.perf_counter() - start
        print(
            f"bare COPY of the last round's {len(rows)} rows: {seconds:.2f} s, "
            f"{len(rows) / seconds:,.0f} samples/s"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=3_500, help="devices polled per round (one batch)")
    parser.add_argument("--rounds", type=int, default=2, help="poll rounds, each one batch")
    parser.add_argument("--external", action="store_true", help="use EMS_DATABASE_URL, start no server")
    args = parser.parse_args()
    rounds = polls(args.devices, args.rounds)

    if args.external:
        run(Settings().database_url.get_secret_value(), rounds)
        return
    server = PostgresServer()
    server.launch()
    try:
        server.wait_ready()
        run(server.url, rounds)
    finally:
        server.stop()


def run(url: str, rounds: list[list[bytes]]) -> None:
    """Measure in a schema of its own, dropped afterwards."""
    schema = f"bench_write_{uuid.uuid4().hex[:8]}"
    migrate(url, schema)
    try:
        asyncio.run(measure(url, schema, rounds))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
