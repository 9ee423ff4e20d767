"""`python -m ems.bench.aws`: AWS collector discovery time for a fleet of EC2 instances in moto.

Starts moto's server as a child process (its CPU is not ours), launches `--instances` instances (a
quarter behind a load balancer, one RDS instance), then measures in the same run:
  1. the first round (every discovery published) and, interleaved, the baseline: bare
     DescribeInstances pagination through aiobotocore (what any client must pay);
  2. steady discovery rounds (EC2 + status checks + RDS + ELBv2, mapped to resources, events tracked,
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
        c0, t0 = cpu(), time.perf_counter()
        await collector.round()  # first contact: clients created, models loaded, every discovery sent
        first, first_cpu, first_published = time.perf_counter() - t0, cpu() - c0, published[0]
        ec2 = await clients.client("", "ec2", region)
        walls, cpus, bare, calls, resources, instances = [], [], [], 0, 0, 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            reservations = await pages(ec2, "describe_instances", Stats(), options, MaxResults=1000)
            bare.append(time.perf_counter() - t0)
            instances = sum(len(r["Instances"]) for r in reservations)
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
        "first": first,
        "first_cpu": first_cpu,
        "first_published": first_published,
        "baseline": statistics.median(bare),
        "instances": instances,
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
    print(
        f"first     {d['first']:.2f} s first round ({d['first_published']} observations: every discovery), "
        f"{d['first_cpu']:.2f} s CPU in the collector"
    )
    print(f"baseline  {d['baseline']:.2f} s bare DescribeInstances of {d['instances']} instances (median)")
    print(
        f"discovery {d['wall']:.2f} s per steady round ({d['wall'] / d['instances'] * 1000:.2f} ms per "
        f"instance; {d['calls']} calls, {d['resources']} resources, {d['published']} observations: nothing "
        f"changed), {d['cpu']:.2f} s CPU in the collector"
    )
    print(
        f"+metrics  {m['wall']:.2f} s per round with GetMetricData ({m['calls']} calls), "
        f"{m['cpu']:.2f} s CPU in the collector"
    )
    print(f"ratio     discovery round : bare DescribeInstances = {d['wall'] / d['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
