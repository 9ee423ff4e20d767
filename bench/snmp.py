"""`python -m ems.bench.snmp`: SNMP collector throughput against a fleet of simulated agents.

Starts `--agents` snmpsim processes listening on `--devices` UDP ports in all (each port = one device
answering the router recording with community `public`), then measures in the same run:
  1. discovery of every device (first contact, system GET + parallel GETBULK walks of 7 tables);
  2. baseline: bare single-varbind GET round trips (pysnmp, same engine and concurrency) per second;
  3. polls (GETBULK of sysUpTime + 8 interface columns -> rates, events, observations encoded) per second,
     CPU seconds per poll, and the ratio polls/s : GETs/s.
The collector needs devices/interval polls/s: 2,000 devices at 60 s = 33.3 polls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import shutil
import tempfile
import time
from pathlib import Path

from ems.collectors.snmp_client import SnmpClient
from ems.collectors.snmp_collector import Poller
from ems.collectors.snmp_config import Device
from ems.collectors.snmp_thresholds import Thresholds
from ems.infra.snmpsim import SnmpSimAgent
from ems.streams.codecs import encode

RECORDING = Path(__file__).resolve().parent.parent / "tests" / "data" / "snmp" / "router.snmprec"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def for_a_while(seconds: float, concurrency: int, items: list, work) -> int:
    """Run `work(item)` round-robin over `items` with `concurrency` workers for `seconds`; count calls."""
    stop, count, cycle = time.perf_counter() + seconds, 0, itertools.cycle(items)

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await work(next(cycle))
            count += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count


async def measure(devices: list[Device], seconds: float, concurrency: int) -> dict[str, float]:
    client = SnmpClient(timeout=5.0, retries=1)
    published = [0]

    async def sink(topic: str, record) -> None:
        encode(record)  # the serialization a Kafka sink would do
        published[0] += 1

    pollers = [Poller(client, d, Thresholds(), sink) for d in devices]
    sem = asyncio.Semaphore(concurrency)

    async def poll(p: Poller) -> None:
        if not await p.run():
            raise RuntimeError(p.last_error)

    async def bounded(p: Poller) -> None:
        async with sem:
            await poll(p)

    await poll(pollers[0])  # engine warm-up
    c0, t0 = cpu(), time.perf_counter()
    await asyncio.gather(*(bounded(p) for p in pollers[1:]))
    discovery_rate, discovery_cpu = (len(pollers) - 1) / (time.perf_counter() - t0), cpu() - c0

    async def get(p: Poller) -> None:
        await client.get(p.session, ["1.3.6.1.2.1.1.3.0"])

    c0, t0 = cpu(), time.perf_counter()
    gets = await for_a_while(seconds, concurrency, pollers, get)
    get_rate, get_cpu = gets / (time.perf_counter() - t0), (cpu() - c0) / gets

    c0, t0 = cpu(), time.perf_counter()
    polls = await for_a_while(seconds, concurrency, pollers, poll)
    poll_rate, poll_cpu = polls / (time.perf_counter() - t0), (cpu() - c0) / polls
    client.engine.close_dispatcher()
    return {
        "get_rate": get_rate,
        "get_cpu": get_cpu,
        "discovery_rate": discovery_rate,
        "discovery_cpu": discovery_cpu,
        "poll_rate": poll_rate,
        "poll_cpu": poll_cpu,
        "published": published[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.snmp", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=4, help="snmpsim processes (devices split among them)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured phase")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval quoted for capacity")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="ems-bench-snmp-"))
    agents: list[SnmpSimAgent] = []
    try:
        devices = []
        t0 = time.perf_counter()
        data = SnmpSimAgent.fleet(RECORDING, root / "data", ["public"])
        for a in range(args.agents):
            share = len(range(a, args.devices, args.agents))
            agent = SnmpSimAgent(data, endpoints=share)
            agent.launch()
            agents.append(agent)
        for agent in agents:
            agent.wait_ready(600)
            devices += [Device(host="127.0.0.1", port=port) for port in agent.ports]
        print(
            f"fleet     {len(devices)} simulated devices (UDP ports) on {args.agents} snmpsim agents, "
            f"started in {time.perf_counter() - t0:.1f} s; concurrency {args.concurrency}"
        )
        r = asyncio.run(measure(devices, args.seconds, args.concurrency))
    finally:
        for agent in agents:
            agent.stop()
        shutil.rmtree(root, ignore_errors=True)
    need = args.devices / args.interval
    print(
        f"discovery {r['discovery_rate']:8.1f} devices/s (GET + 7 table walks; "
        f"{r['discovery_cpu']:.1f} s CPU for all, first contact included)"
    )
    print(f"baseline  {r['get_rate']:8.1f} single GET round trips/s, {r['get_cpu'] * 1000:6.2f} ms CPU each")
    print(
        f"polls     {r['poll_rate']:8.1f} polls/s (GETBULK -> rates, events, observations encoded), "
        f"{r['poll_cpu'] * 1000:6.2f} ms CPU each"
    )
    print(
        f"ratio     polls/s : GETs/s = {r['poll_rate'] / r['get_rate']:.2f}; "
        f"CPU per poll : per GET = {r['poll_cpu'] / r['get_cpu']:.2f}"
    )
    print(
        f"capacity  {r['poll_rate'] * args.interval:,.0f} devices at a {args.interval:g} s interval "
        f"(need {need:.1f} polls/s for {args.devices}: {r['poll_rate'] / need:.1f}x headroom)"
    )
    cores = r["poll_cpu"] * args.devices / args.interval
    print(
        f"cpu-bound {args.interval / r['poll_cpu']:,.0f} devices per core at a {args.interval:g} s interval; "
        f"{args.devices} devices need {cores:.2f} of a core (the simulated agents share this machine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
