"""`python -m ems.bench.notify`: the notification figures of issue 12.

1. Suppression cost (pure, `ems.bench.notify_cost`): `decide` as the notification stage calls it, and
   the stage's whole per-change path, with `--silences` active silences and `--windows` windows,
   against none, in the same run.
2. Decision latency (`ems.bench.notify_latency`): real Kafka, PostgreSQL and Redis (started here;
   the embedded ones with EMS_BENCH_STACK=embedded; the EMS_* ones with --external), one `ems worker`
   with the alert pipeline and the suppressions, one with the notification stage, one `ems api`; alert
   changes posted at `--rate` a minute for `--seconds`, routed to a webhook receiver in this process.
   A missing, unexpected or repeated delivery (or a post refused) exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.bench.notify_cost import suppression_cost
from ems.bench.notify_latency import SOURCE, Receiver, install_trigger, measure, serve
from ems.bench.stack import on_servers
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from ems.settings import Settings

STAGES = ("normalize,dedupe,projections,suppressions", "notify")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.notify", description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=2000, help="alert changes per suppression-cost pass")
    parser.add_argument("--silences", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000, help="alert changes posted per minute")
    parser.add_argument("--seconds", type=float, default=60, help="how long to post")
    parser.add_argument("--only", choices=("cost", "latency"), help="run one of the two parts")
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if args.only != "latency":
        load = round(os.getloadavg()[0], 1)
        figures["suppression_cost"] = suppression_cost(args.changes, args.silences, args.windows)
        figures["suppression_cost"]["load_before"] = load
    if args.only != "cost":
        figures["latency"] = latency(args)
    print(json.dumps(figures, indent=1) if args.json else "\n".join(lines(figures)))
    return 0 if figures.get("latency", {}).get("ok", True) else 1


def latency(args: argparse.Namespace) -> dict[str, Any]:
    return on_servers(args.external, lambda env: run(env, args))


def run(server_env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    name = "bn" + uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="ems-bench-notify-"))
    port, hook_port = free_port(), free_port()
    hook = {"name": "hook", "type": "webhook", "url": f"http://127.0.0.1:{hook_port}/hook", "secret": "bench"}
    env = {**server_env, "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name, "EMS_READ_MODEL_SCHEMA": name}
    env |= {"EMS_API_PORT": str(port), "EMS_WORKER_WEB_PORT": "0", "EMS_LIVENESS_INTERVAL": "0", **UNLIMITED}
    env |= {
        "EMS_NOTIFY_RECEIVERS": json.dumps([hook]),
        "EMS_NOTIFY_ROUTES": json.dumps([{"matchers": f'source="{SOURCE}"', "receivers": ["hook"]}]),
    }
    headers = auth_headers(admin_key(env))  # runs the migrations
    settings = Settings.of_env(env)
    install_trigger(settings.database_url.get_secret_value(), settings.read_model_schema)
    procs = [spawn_ems(["worker", "--stages", s], env, logs / f"worker{i}.log") for i, s in enumerate(STAGES)]
    procs.append(spawn_ems(["api"], env, logs / "api.log"))
    try:
        figures = asyncio.run(_measure(f"http://127.0.0.1:{port}", headers, hook_port, settings, args))
        return figures | {"logs": str(logs)}
    finally:
        stop_processes(procs)


async def _measure(
    api: str, headers: dict, hook_port: int, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    receiver = Receiver()
    runner = await serve(receiver, hook_port)
    try:
        await warm_up(api, headers, receiver)
        load = round(os.getloadavg()[0], 1)  # the 1-minute average before posting
        figures = await measure(api, headers, receiver, settings, args.rate, args.seconds)
        return figures | {"load_before": load}
    finally:
        await runner.cleanup()


async def warm_up(api: str, headers: dict, receiver: Receiver, timeout: float = 180) -> None:
    """One change through the API until its notification arrives: every stage has joined its group."""
    deadline = time.monotonic() + timeout
    event = {"source": SOURCE, "resource": "warmup", "event": "BenchDown", "severity": "major"}
    async with httpx.AsyncClient(headers=headers, timeout=5) as client:
        while True:
            try:
                if (await client.post(f"{api}/api/v1/events", json=event)).status_code == 202:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API did not come up")
            await asyncio.sleep(0.5)
    while ("warmup", "major") not in receiver.arrived:
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up change was not notified")
        await asyncio.sleep(0.2)


def lines(figures: dict[str, Any]) -> list[str]:
    out = []
    if cost := figures.get("suppression_cost"):
        out.append(
            f"# suppression cost: {cost['changes']} alert changes, {cost['silences']} active silences, "
            f"{cost['windows']} windows vs none (µs per change), load {cost['load_before']}"
        )
        for name in ("decide", "step"):
            part = cost[name]
            for label in ("baseline", "loaded"):
                s = part[label]
                out.append(
                    f"{name:6} {label:8} CPU p50/p99 {s['cpu_p50_us']:8.1f} / {s['cpu_p99_us']:8.1f} µs "
                    f"{s['per_cpu_s']:7} decisions per CPU-second | wall p50/p99 {s['wall_p50_us']:.1f} / "
                    f"{s['wall_p99_us']:.1f} µs"
                )
            base, loaded = part["notified"]
            out.append(f"{name:6} CPU ratio p50 {part['cpu_ratio_p50']}  notified {base} vs {loaded}")
        out.append(f"rules rebuilt after a suppression change: {cost['rules_build_cpu_ms']} ms CPU")
    if lat := figures.get("latency"):
        out.append(
            f"# decision latency: {lat['posts']} alert changes at {lat['per_minute']}/min over "
            f"{lat['posting_s']} s, load {lat['load_before']}; logs in {lat['logs']}"
        )
        for label, key in (
            ("notified", "notify_latency"),
            ("row written", "projected_latency"),
            ("notified-row", "notified_after_projected"),
            ("API answer", "api_answer"),
        ):
            q = lat[key]
            out.append(
                f"{label:12} p50/p95/p99/max {q.get('p50_ms')} / {q.get('p95_ms')} / {q.get('p99_ms')} / "
                f"{q.get('max_ms')} ms"
            )
        out.append("# where it went, per change (Kafka record timestamps):")
        for label, q in lat["hops"].items():
            out.append(
                f"{label:24} p50/p95/p99/max {q.get('p50_ms')} / {q.get('p95_ms')} / {q.get('p99_ms')} / "
                f"{q.get('max_ms')} ms"
            )
        out.append(
            f"received {lat['notified']} of {lat['posts']}: missing {lat['missing']}, repeated "
            f"{lat['repeated']}, unexpected {lat['unexpected']}, post errors {lat['post_errors'] or 0}, "
            f"rows missing {lat['rows_missing']} "
            f"-> {'ok' if lat['ok'] else 'FAILED'}"
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
