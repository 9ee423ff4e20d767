"""`python -m ems.bench.retrain`: `ems retrain --log` over ~100,000 alerts on real Kafka, timed.

1. Builds the log (`retrain_data.corpus`: scenarios through the pure pipeline, one registry,
   decisions repeated until `--alerts` alerts are covered, feedback on one fault incident in 3).
2. Writes the asset snapshots to `ems.assets`, the feedback commands to `ems.commands` and the
   incident batches to `ems.incidents` of fresh topics on real Kafka (started, or the EMS_* servers
   with --external; `EMS_BENCH_STACK=embedded` for the embedded ones).
3. Baselines of the same run: a bare aiokafka read of the incident records (no decoding) and a bare
   `orjson.loads` of each (in memory, no Kafka).
4. Runs `ems retrain --log` as the CLI (process start included) and prints its end-to-end time and
   its phases (from the metrics it writes into the model file): the replay (read from Kafka, decode,
   rebuild members), the feature rows, the fit, the held-out ranking.

Rates: alerts covered/s (distinct alerts whose decisions were replayed), decisions/s (`IncidentChanged`
records) and member entries/s (alert episodes in those decisions), of the replay phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from ems.bench.retrain_data import Corpus, corpus
from ems.bench.stack import on_servers
from ems.ml.evaluate import seed_range
from ems.settings import Settings
from ems.streams.kafka import make_producer, read_to_end


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


async def write(settings: Settings, data: Corpus) -> None:
    """The corpus onto its topics (incident batches on partition 0, as the stage writes them)."""
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        futures = []
        for key, value in data.assets:
            futures.append(await producer.send(settings.topic("assets"), value, key=key))
        for key, value in data.feedback:
            futures.append(await producer.send(settings.topic("commands"), value, key=key))
        for value in data.incidents:
            futures.append(
                await producer.send(settings.topic("incidents"), value, key=b"correlation", partition=0)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bare_read(settings: Settings) -> tuple[int, int]:
    """(records, bytes) of the incidents topic, read with no decoding."""
    records = size = 0
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("incidents")):
        records += 1
        size += len(msg.value)
    return records, size


def measure(server_env: dict[str, str], data: Corpus, args: argparse.Namespace) -> dict:
    """Steps 2-4 on the servers of `server_env`."""
    from ems.worker import prepare

    name = "brt" + uuid.uuid4().hex[:6]
    env = {**os.environ, **server_env, "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name}
    settings = Settings.of_env(env)
    prepare(settings)
    t0 = time.perf_counter()
    asyncio.run(write(settings, data))
    log(f"wrote {len(data.incidents)} incident records to Kafka in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    records, size = asyncio.run(bare_read(settings))
    bare_read_s = time.perf_counter() - t0
    assert records == len(data.incidents), (records, len(data.incidents))
    t0 = time.perf_counter()
    for value in data.incidents:
        orjson.loads(value)
    bare_json_s = time.perf_counter() - t0
    models = Path(tempfile.mkdtemp(prefix="ems-bench-retrain-"))
    command = [sys.executable, "-P", "-m", "ems.cli", "retrain", "--log", "--version", "bench-retrain"]
    command += ["--model-dir", str(models), "--held-out", str(args.held_out)]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    total_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"ems retrain --log exited {done.returncode}:\n{done.stderr[-3000:]}")
    log(done.stdout.strip())
    metrics = json.loads((models / "bench-retrain.json").read_text())["metrics"]
    return {
        "load_average": os.getloadavg(),
        "bare_read_s": bare_read_s,
        "bare_json_s": bare_json_s,
        "bytes": size,
        "total_s": total_s,
        "metrics": metrics,
    }


def report(data: Corpus, got: dict) -> None:
    c, m = data.counts, got["metrics"]
    phases = m["phases"]
    replay_s = phases["replay_s"]
    members = m["replay"]["member_entries"]

    def rate(n: float, s: float) -> str:
        return f"{n / s:,.0f}/s" if s else "-"

    print(
        f"log: {c['alerts']:,} alerts ({c['alert_changes']:,} alert changes) in {c['decisions']:,} decisions"
    )
    print(f"     {c['batches']:,} incident records, {got['bytes'] / 1e6:,.0f} MB; {c['assets']:,} assets")
    print(f"     {c['feedback']:,} feedback commands ({c['corrections']} corrections)")
    print(
        f"ems retrain --log, end to end (process start included): {got['total_s']:.1f} s "
        f"({phases['total_cpu_s']:.1f} s of CPU after the imports)"
    )
    for phase, seconds in phases.items():
        print(f"  {phase:24} {seconds:7.2f} s")
    print(f"  replay per topic: {m['replay']['seconds_per_topic']}")
    for what, s in (("wall", replay_s), ("CPU", phases["replay_cpu_s"])):
        print(
            f"replay (read + decode + members), {what} {s:.2f} s: alerts covered {rate(c['alerts'], s)}, "
            f"alert changes {rate(c['alert_changes'], s)}, decisions {rate(c['decisions'], s)}, "
            f"member entries {rate(members, s)}"
        )
    incidents_s = m["replay"]["seconds_per_topic"]["incidents"]
    print(
        f"baseline, bare aiokafka read of the same incident records: {got['bare_read_s']:.2f} s; "
        f"the replay's incidents topic (read + decode + members): {incidents_s:.2f} s, "
        f"{incidents_s / got['bare_read_s']:.2f}x the bare read"
    )
    print(
        f"baseline, bare orjson.loads of every incident record (in memory, no Kafka): "
        f"{got['bare_json_s']:.2f} s; bare read + bare orjson: "
        f"{got['bare_read_s'] + got['bare_json_s']:.2f} s"
    )
    print(f"trained on {m['candidates']:,} candidate rows; held out: {json.dumps(m['held_out'])}")
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in got['load_average'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.retrain", description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts the log covers")
    parser.add_argument("--seeds", default="101-140", help="the scenarios (their networks: one registry)")
    parser.add_argument("--held-out", type=float, default=0.25)
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = corpus(args.alerts, seed_range(args.seeds))
    log(f"built the log in {time.perf_counter() - t0:.1f} s: {dict(data.counts)}")
    got = on_servers(args.external, lambda env: measure(env, data, args))
    report(data, got)
    return 0


if __name__ == "__main__":
    sys.exit(main())
