"""`python -m ems.bench.aws`: AWS collector discovery time for a fleet of EC2 instances in moto.

Starts moto's server as a child process (its CPU is not ours), launches `--instances` instances (a
quarter behind a load balancer, one RDS instance), then measures in the same run:
  1. baseline: bare DescribeInstances pagination through aiobotocore (what any client must pay);
  2. discovery rounds (EC2 + status checks + RDS + ELBv2, mapped to resources, events tracked,
     observations encoded), metrics off;
  3. the same with CloudWatch (GetMetricData for every running instance, in batches of 500 queries).
Wall time is dominated by moto answering; the CPU column is the collector's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time

from ems.collectors.aws_client import Clients, Options, Stats, pages
from ems.collectors.aws_collector import AwsConfig, Collector
from ems.infra.moto import MotoServer
from ems.streams.codecs import encode


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(region: str, rounds: int, metrics: bool) -> dict[str, float]:
    published = [0]

    async def sink(topic: str, record) -> None:
        encode(record)  # the serialization a Kafka sink would do
        published[0] += 1

    options = Options(metrics=metrics, timeout=600.0)  # moto renders 1,000 instances in ~30 s
    clients = Clients(options)
    collector = Collector(AwsConfig(regions=[region], options=options), sink, clients)
    try:
        await collector.round()  # warm-up: clients created, service models loaded
        ec2 = await clients.client("", "ec2", region)
        t0 = time.perf_counter()
        reservations = await pages(ec2, "describe_instances", Stats(), options)
        baseline = time.perf_counter() - t0
        walls, cpus, calls, resources = [], [], 0, 0
        for _ in range(rounds):
            published[0] = 0
            c0, t0 = cpu(), time.perf_counter()
            report = await collector.round()
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu() - c0)
            (scope,) = report.scopes
            assert scope["error"] is None, scope["error"]
            calls, resources = scope["calls"], scope["resources"]
    finally:
        await clients.close()
    return {
        "baseline": baseline,
        "instances": sum(len(r["Instances"]) for r in reservations),
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "calls": calls,
        "resources": resources,
        "published": published[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.aws", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per phase (median printed)")
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args(argv)

    with MotoServer(process=True) as moto:
        os.environ.update(moto.env(args.region))
        t0 = time.perf_counter()
        ids = moto.launch(args.region, args.instances, service="shop")
        moto.load_balancer(args.region, "web", ids[: max(1, len(ids) // 4)])
        moto.database(args.region, "orders", service="shop")
        print(f"fleet     {len(ids)} instances, 1 LB, 1 RDS in moto ({time.perf_counter() - t0:.1f} s)")
        d = asyncio.run(measure(args.region, args.rounds, metrics=False))
        m = asyncio.run(measure(args.region, args.rounds, metrics=True))
    per = d["wall"] / d["instances"] * 1000
    print(
        f"baseline  DescribeInstances of {d['instances']} instances: {d['baseline']:.2f} s (bare pagination)"
    )
    print(
        f"discovery {d['wall']:.2f} s per round ({per:.2f} ms per instance; {d['calls']} calls, "
        f"{d['resources']} resources, {d['published']} observations), {d['cpu']:.2f} s CPU in the collector"
    )
    print(
        f"+metrics  {m['wall']:.2f} s per round with GetMetricData ({m['calls']} calls), "
        f"{m['cpu']:.2f} s CPU in the collector"
    )
    print(f"ratio     discovery : bare DescribeInstances = {d['wall'] / d['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
