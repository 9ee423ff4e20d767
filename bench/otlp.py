"""`python -m ems.bench.otlp`: spans/s the OTLP/HTTP receiver takes into Kafka vs a bare decode.

1. Start real Kafka, PostgreSQL and Redis (or use the EMS_* servers with --external), create the
   topics and tables, and start `ems api` (one process) with an admin key.
2. Build R export requests of S spans each (3 services; server, client and database spans with the
   attributes an instrumented app sets), protobuf and gzip-compressed as the SDK's exporter sends them.
3. Baseline in the same run: inflate and parse each request with the protobuf classes, nothing else.
4. Post every request to `POST /v1/traces` (C at a time) and time until all are answered, i.e. until
   Kafka acknowledged their span batches; check the topic holds every span. Print both and the ratio,
   and, for scale, what the apm stage's core (windows, sketches, edges) does with the same spans.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import tempfile
import time
import uuid
import zlib
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from ems.agents.apm_worker import ApmCore
from ems.apm.otlp import PROTOBUF, inflate, parse, summarize
from ems.bench.api_ready import wait_ready
from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from ems.schemas.span import SpanBatch
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from ems.streams.kafka import read_to_end
from ems.worker import prepare

SERVICES = ("frontend", "checkout", "inventory")


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(rng: random.Random, end_ns: int, i: int) -> Span:
    kind = (2, 3, 3)[i % 3]  # a request and its two calls
    attrs = [_kv("http.route", f"/api/{i % 7}"), _kv("http.request.method", "GET")]
    if kind == 3:
        attrs = (
            [_kv("db.system", "postgresql"), _kv("db.name", "orders")]
            if i % 2
            else [_kv("peer.service", "x")]
        )
    return Span(
        trace_id=rng.randbytes(16),
        span_id=rng.randbytes(8),
        name=f"GET /api/{i % 7}",
        kind=kind,
        start_time_unix_nano=end_ns - rng.randint(1_000_000, 900_000_000),
        end_time_unix_nano=end_ns,
        attributes=attrs,
        status=Status(code=2 if i % 20 == 0 else 1),
    )


def payloads(requests: int, spans: int, seed: int = 1) -> list[bytes]:
    """`requests` gzip-compressed protobuf export requests of `spans` spans over the services."""
    rng, now, out = random.Random(seed), time.time_ns(), []
    per = spans // len(SERVICES)
    for r in range(requests):
        message = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource={"attributes": [_kv("service.name", service)]},
                    scope_spans=[ScopeSpans(spans=[_span(rng, now + r * 1000 + i, i) for i in range(per)])],
                )
                for service in SERVICES
            ]
        )
        out.append(gzip.compress(message.SerializeToString()))
    return out


def aggregate(settings: Settings, bodies: list[bytes]) -> float:
    """The apm stage's core alone (windows, sketches, edges; no Kafka): spans/s over the same requests."""
    batches = [
        b for body in bodies for b in summarize(parse(inflate(body, "gzip", 1 << 30), PROTOBUF)).batches
    ]
    records = [decode(encode(b), SpanBatch) for b in batches]  # as the stage reads them
    core, start = ApmCore(settings), time.perf_counter()
    for record in records:
        core.add(record)
        core.close()
    return sum(len(r.spans) for r in records) / (time.perf_counter() - start)


def bare_decode(bodies: list[bytes]) -> tuple[float, int]:
    """Step 3: (seconds, spans) to inflate and parse every body."""
    start, count = time.perf_counter(), 0
    for body in bodies:
        message = ExportTraceServiceRequest.FromString(zlib.decompress(body, 16 + zlib.MAX_WBITS))
        count += sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    return time.perf_counter() - start, count


async def post_all(api: str, headers: dict[str, str], bodies: list[bytes], concurrency: int) -> float:
    """Step 4: seconds until every body is answered 200."""
    headers = {**headers, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            answer = await client.post("/v1/traces", content=body)
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")

    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as client:
        await client.post("/v1/traces", content=bodies[0])  # warm-up (the producer connects)
        start = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        return time.perf_counter() - start


async def spans_in_topic(settings: Settings) -> int:
    """The spans of every batch on `ems.apm.spans`."""
    count = 0
    async for record in read_to_end(settings.kafka_bootstrap, settings.topic("apm.spans")):
        count += len(decode(record.value, SpanBatch).spans)
    return count


def run(server_env: dict[str, str], args: argparse.Namespace) -> int:
    name = "bo" + uuid.uuid4().hex[:8]
    port = free_port()
    env = {**server_env, "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name, "EMS_READ_MODEL_SCHEMA": name}
    env |= {"EMS_API_PORT": str(port), "EMS_WORKER_WEB_PORT": "0", **UNLIMITED}
    settings = Settings.of_env(env)
    prepare(settings)
    bodies = payloads(args.requests, args.spans)
    base_s, spans = bare_decode(bodies)
    logs = Path(tempfile.mkdtemp(prefix="ems-bench-otlp-"))
    procs = [spawn_ems(["api"], env, logs / "api.log")]
    try:
        api = f"http://127.0.0.1:{port}"
        wait_ready(api, logs, "/health/live", timeout=120)
        seconds = asyncio.run(post_all(api, auth_headers(admin_key(env)), bodies, args.concurrency))
        stored = asyncio.run(spans_in_topic(settings))
    finally:
        stop_processes(procs)
    want = spans + spans // len(bodies)  # + the warm-up request
    if stored != want:
        raise RuntimeError(f"ems.apm.spans holds {stored} spans, {want} were sent")
    size = sum(map(len, bodies)) / len(bodies)
    rate, base_rate = spans / seconds, spans / base_s
    print(
        f"# {spans} spans in {len(bodies)} requests of {spans // len(bodies)} (protobuf + gzip, "
        f"{size / 1024:.1f} KiB each), {args.concurrency} at a time, 1 API process"
    )
    print(f"receiver (POST /v1/traces -> decode, reduce, append to Kafka, acked): {rate:.0f} spans/s")
    print(f"baseline (inflate + protobuf parse of the same requests): {base_rate:.0f} spans/s")
    print(f"ratio: {rate / base_rate:.3f}")
    core = aggregate(settings, bodies)
    print(f"apm stage core (windows, DDSketch, edges; in process, no Kafka): {core:.0f} spans/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.otlp", description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requests", type=int, default=400)
    parser.add_argument("-s", "--spans", type=int, default=300, help="spans per request")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    if args.external:
        return run(dict(os.environ), args)
    from ems.infra.servers import RealStack

    with RealStack() as stack:
        return run({**os.environ, **stack.env()}, args)


if __name__ == "__main__":
    raise SystemExit(main())
