"""`python -m ems.bench` (make bench): end-to-end throughput and latency vs a passthrough baseline.

Starts real Kafka, PostgreSQL and Redis as the tests do (or uses the EMS_* servers with
--external), runs the pipeline workers as separate processes, and prints one figure per line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid

from ems.bench.cpu_use import CpuUse, describe
from ems.bench.passthrough import passthrough
from ems.bench.pipeline import percentile, run_pipeline, start_workers, wait_prepared, warm_up
from ems.process_group import stop_processes
from ems.settings import Settings

LAYOUTS = {
    "split": ["dedupe", "normalize,projections"],
    "stream-first": ["normalize,dedupe", "projections"],
    "normalize-alone": ["normalize", "dedupe,projections"],
    "single": ["normalize,dedupe,projections"],
    "three": ["dedupe", "normalize", "projections"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--observations", type=int, default=100_000)
    parser.add_argument("-a", "--assets", type=int, default=500)
    parser.add_argument(
        "--layout",
        choices=sorted(LAYOUTS),
        default="split",
        help="how the stages are spread over worker processes",
    )
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=2000,
        help="also measure latency with observations paced at this rate (0: skip)",
    )
    args = parser.parse_args(argv)

    if args.external:
        return run(dict(os.environ), args)
    from ems.infra.servers import RealStack

    with RealStack() as stack:
        return run({**os.environ, **stack.env()}, args)


def run(server_env: dict[str, str], args: argparse.Namespace) -> int:
    name = "bench" + uuid.uuid4().hex[:6]
    env = {
        **server_env,
        "EMS_TOPIC_PREFIX": name,
        "EMS_APP_ID": f"{name}-app",
        "EMS_READ_MODEL_SCHEMA": name,
        "EMS_WORKER_WEB_PORT": "0",
    }
    settings = Settings.of_env(env)
    base = asyncio.run(
        passthrough(settings.kafka_bootstrap, args.observations, settings.partitions, prefix=f"{name}-pt")
    )
    logdir = tempfile.mkdtemp(prefix="ems-bench-")
    procs = start_workers(env, LAYOUTS[args.layout], logdir)
    try:
        wait_prepared(settings, procs)
        asyncio.run(warm_up(settings))
        roles = {
            proc.pid: f"worker {stages}" for proc, stages in zip(procs, LAYOUTS[args.layout], strict=True)
        }
        cpu = CpuUse({**roles, os.getpgid(0): "bench"})  # each worker leads its own process group
        result = asyncio.run(run_pipeline(settings, args.observations, args.assets, cpu=cpu))
        paced = None
        if args.latency_rate:
            count = int(args.latency_rate * 20)  # 20 s of steady load
            steady_cpu = CpuUse(cpu.groups)
            paced = asyncio.run(
                run_pipeline(
                    settings, count, args.assets, probe_every=20, rate=args.latency_rate, cpu=steady_cpu
                )
            )
    finally:
        stop_processes(procs)
    p50, p99 = percentile(result.latencies_ms, 0.5), percentile(result.latencies_ms, 0.99)
    print(
        f"# {args.observations} observations over {args.assets} assets, layout {args.layout} "
        f"({' | '.join(LAYOUTS[args.layout])}), {len(result.latencies_ms)} latency probes, logs in {logdir}"
    )
    print(f"end-to-end: {result.rate:.0f} obs/s")
    print(f"cpu in the burst: {describe(cpu.per_item(result.observations))}")
    print("# latency below: probes inside the burst, so it is mostly time spent queued")
    print(f"latency p50/p99: {p50:.0f}/{p99:.0f} ms")
    if paced is not None:
        q50, q99 = percentile(paced.latencies_ms, 0.5), percentile(paced.latencies_ms, 0.99)
        print(
            f"# at a steady {args.latency_rate:.0f} obs/s ({len(paced.latencies_ms)} probes), "
            f"after the burst above:"
        )
        print(f"steady latency p50/p99: {q50:.0f}/{q99:.0f} ms")
        spent = describe(steady_cpu.per_item(paced.observations))
        print(f"steady: {paced.rate:.0f} obs/s end to end (until the last is in); cpu {spent}")
    print(f"passthrough: {base:.0f} msg/s")
    print(f"ratio: {result.rate / base:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
