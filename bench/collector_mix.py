"""`python -m ems.bench.collector_mix`: the collector mix end to end, with baselines and scale-out.

1. Generate the mix (bench/collector_mix_data.py): `--rounds` polls of `--assets` SNMP devices (after
   `--prime` untimed ones, produced first so the series exist), built by the SNMP collector's own poll
   core; > 90 % of the observations carry samples, the rest are events with severity changes, clears
   and duplicates. Encoded before any clock starts.
2. For each worker count of `--workers` (on fresh topics of `--partitions` partitions, a fresh
   read-model schema): start that many `ems worker --stages normalize,dedupe,projections` processes,
   produce the whole mix at once and time until the read models account for every observation
   (metric samples stored with their series and rollups, every event folded into an alert).
3. With the first worker count only: `--seconds` at a steady `--rate` obs/s with latency probes
   (observation -> read model, p50/p99), and in the same run the baselines: a bare aiokafka
   consume -> produce of the same records and one bare COPY of the same metric rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from ems.bench.collector_mix_data import INTERVAL, Fleet, probe
from ems.bench.collector_mix_run import Batch, Outcome, burst, install_probe_triggers, run, steady
from ems.bench.metrics_ingest import bare_copy
from ems.bench.passthrough import passthrough
from ems.bench.pipeline import percentile
from ems.process_group import spawn_ems, stop_processes
from ems.settings import Settings
from ems.worker import prepare

STAGES = "normalize,dedupe,projections"


def namespace(server_env: dict[str, str], partitions: int) -> tuple[dict[str, str], Settings]:
    name = "benchmix" + uuid.uuid4().hex[:6]
    env = {
        **server_env,
        "EMS_TOPIC_PREFIX": name,
        "EMS_APP_ID": f"{name}-app",
        "EMS_READ_MODEL_SCHEMA": name,
        "EMS_WORKER_WEB_PORT": "0",
        "EMS_PARTITIONS": str(partitions),
    }
    return env, Settings.of_env(env)


def start(env: dict[str, str], settings: Settings, workers: int) -> list:
    """Topics and tables first, then `workers` processes (each with a Faust data directory of its own),
    then a warm-up pair until every stage answers, and once more after the group settled."""
    prepare(settings)
    logdir = Path(tempfile.mkdtemp(prefix="ems-bench-mix-"))
    procs = [
        spawn_ems(
            ["worker", "--stages", STAGES],
            {**env, "EMS_FAUST_DATADIR": str(logdir / f"faust{i}")},
            logdir / f"worker{i}.log",
        )
        for i in range(workers)
    ]
    try:
        for attempt in range(2):
            warm = Batch()
            for obs in probe(10**6 + attempt, time.time()):
                warm.add(obs)
            asyncio.run(run(settings, warm, timeout=180))
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited; see {logdir}")
            time.sleep(5 if workers > 1 else 0)
    except BaseException:
        stop_processes(procs)
        raise
    return procs


def measure(server_env, args, batches: dict, workers: int, first: bool) -> dict:
    """One worker count: (untimed priming,) the timed burst, (the steady run and the baselines)."""
    mix, paced = batches["mix"], batches["paced"] if first else None
    env, settings = namespace(server_env, args.partitions)
    procs = start(env, settings, workers)
    try:
        if batches["prime"] is not None:
            asyncio.run(run(settings, batches["prime"]))
        out: dict = {"burst": asyncio.run(run(settings, mix))}
        if paced is not None:
            install_probe_triggers(settings)
            out["steady"] = asyncio.run(run(settings, paced, rate=args.rate))
    finally:
        stop_processes(procs)
    if first:
        out["copy_s"] = bare_copy(settings, mix.rows)
        pt = asyncio.run(
            passthrough(
                settings.kafka_bootstrap, 0, args.partitions, f"{env['EMS_TOPIC_PREFIX']}-pt", mix.records
            )
        )
        out["passthrough"] = pt
    return out


def report(args, mix: Batch, results: dict[int, dict], loads: list[tuple[float, ...]]) -> None:
    n = len(mix.records)
    print(
        f"# collector mix: {args.assets} SNMP devices x {args.rounds} poll round(s) after {args.prime} "
        f"untimed = {n} observations "
        f"({mix.metrics} metrics = {100 * mix.metrics / n:.1f} %, {mix.events} events), "
        f"{mix.samples} samples; {args.partitions} partitions; "
        f"load {loads[0][0]:.1f} before, {loads[-1][0]:.1f} after (1-min)"
    )
    first = next(iter(results))
    r = results[first]
    b: Outcome = r["burst"]
    print(f"# {first} worker process(es), stages {STAGES}; burst of {n}")
    rates = f"{n / b.seconds:.0f} obs/s, {mix.samples / b.seconds:.0f} samples/s"
    print(
        f"end-to-end: {rates}, {mix.events / b.seconds:.0f} events/s ({b.seconds:.1f} s, "
        f"of which the final rollup drain {b.drain_s:.1f} s)"
    )
    lag = ", ".join(f"{t:.0f}s {v}" for t, v in b.backlog[:: max(1, len(b.backlog) // 8)])
    print(f"backlog (produced, not yet in the read models), max {b.max_backlog}: {lag}")
    if "steady" in r:
        s: Outcome = r["steady"]
        q50, q99 = percentile(s.latencies_ms, 0.5), percentile(s.latencies_ms, 0.99)
        print(f"# steady {args.rate:.0f} obs/s for {args.seconds:.0f} s, {len(s.latencies_ms)} probes")
        print(f"steady latency p50/p99: {q50:.0f}/{q99:.0f} ms; max backlog {s.max_backlog}")
    if "copy_s" in r:
        copy_rate, pt = len(mix.rows) / r["copy_s"], r["passthrough"]
        print(f"baseline bare COPY of the same {len(mix.rows)} metric rows: {copy_rate:.0f} samples/s")
        print(f"baseline bare aiokafka passthrough of the same records: {pt:.0f} msg/s")
        ratio_copy, ratio_pt = mix.samples / b.seconds / copy_rate, n / b.seconds / pt
        print(f"ratios: samples/s : COPY {ratio_copy:.3f}; obs/s : passthrough {ratio_pt:.3f}")
    if len(results) > 1:
        print("workers | obs/s | samples/s | events/s | max backlog | seconds")
        for w, res in results.items():
            o = res["burst"]
            print(
                f"{w} | {n / o.seconds:.0f} | {mix.samples / o.seconds:.0f} | {mix.events / o.seconds:.0f} "
                f"| {o.max_backlog} | {o.seconds:.1f}"
            )


def bench(server_env: dict[str, str], args: argparse.Namespace) -> int:
    counts = [int(w) for w in args.workers.split(",")]
    paced_count = int(args.rate * args.seconds)
    steady_rounds = paced_count // args.assets + 2
    fleet = Fleet(args.assets, time.time() - (args.prime + args.rounds + steady_rounds) * INTERVAL)
    prime = burst(fleet, range(1, args.prime + 1)) if args.prime else None
    mix = burst(fleet, range(args.prime + 1, args.prime + args.rounds + 1))
    after = args.prime + args.rounds + 1
    paced = steady(fleet, after, paced_count, args.probe_every) if paced_count else None
    batches = {"prime": prime, "mix": mix, "paced": paced}
    loads, results = [os.getloadavg()], {}
    for i, workers in enumerate(counts):
        results[workers] = measure(server_env, args, batches, workers, i == 0)
    loads.append(os.getloadavg())
    report(args, mix, results, loads)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems.bench.collector_mix", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--assets", type=int, default=10_000, help="SNMP devices in the fleet")
    parser.add_argument("--rounds", type=int, default=10, help="poll rounds of the whole fleet in the burst")
    parser.add_argument(
        "--prime", type=int, default=0, help="untimed rounds first, so the burst's series exist already"
    )
    parser.add_argument("--rate", type=float, default=60, help="steady rate for latency, obs/s (0: skip)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the steady run")
    parser.add_argument("--probe-every", type=int, default=50, help="a latency probe pair per N observations")
    parser.add_argument("--workers", default="1", help="worker process counts, e.g. 1,2,4 (a scaling table)")
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of the keyed topics (scale-out limit)"
    )
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    if args.external:
        return bench(dict(os.environ), args)
    from ems.infra.servers import RealStack

    with RealStack() as stack:
        return bench({**os.environ, **stack.env()}, args)


if __name__ == "__main__":
    raise SystemExit(main())
