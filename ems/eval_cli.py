"""`ems eval`: generated scenarios through the real pipeline, scored against their ground truth.

For each seed: the scenario's assets are appended as asset commands (`ems assets import`'s path), its
alerts are posted to the HTTP API (`POST /api/v1/events`, with an API key: `--api-key` or
`EMS_API_KEY`), and once the incidents read model holds every episode, the incidents are read back over
the API (`/api/v1/incidents`, `/api/v1/incidents/{id}`) and scored as the offline evaluation does
(`ems.ml.evaluate`): alert reduction, purity, ARI, overlapping fault pairs merged, overall and per fault
kind, with the offline scores of the same scenarios beside them. `settled` is the wall time from the
last post acknowledged to the incidents holding every episode (all scenarios at once: an upper bound of
each incident's delay). Run it against a pipeline of its own: it writes assets and alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from typing import Any

import httpx
import orjson

from ems.assets_cli import append, commands, known_assets, parse
from ems.ml.correlation.config import CorrelationConfig
from ems.ml.evaluate import Assigned, assign, by_kind, report, run_offline, scores, seed_range
from ems.ml.scenarios import Scenario, generate
from ems.settings import Settings, get_settings

CHUNK = 1000  # alerts per POST (the API's batch limit)
QUIET_S = 20.0  # incidents unchanged this long: settled


def load_assets(settings: Settings, scenarios: list[Scenario], timeout: float) -> None:
    """Append every scenario's assets as commands and wait for the read model to hold them."""
    items = [s.create_args() for sc in scenarios for s in sc.network.specs.values()]
    assets, edges = parse({"assets": items})
    ids = [a for a, _ in assets]
    asyncio.run(append(settings, commands(assets, edges, known_assets(settings, ids))))
    deadline = time.monotonic() + timeout
    while len(known_assets(settings, ids)) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"the asset registry did not project {len(ids)} assets within {timeout:.0f} s")
        time.sleep(0.5)


def post_alerts(client: httpx.Client, scenarios: list[Scenario], max_bytes: int) -> int:
    """POST every alert in time order, in requests of at most CHUNK alerts and `max_bytes`."""
    items = sorted(
        (o.model_dump(mode="json") for sc in scenarios for o in sc.observations()),
        key=lambda o: o["occurred_at"],
    )
    chunk: list[bytes] = []
    size = 2
    for item in [*items, None]:
        raw = orjson.dumps(item) if item is not None else b""
        if chunk and (item is None or len(chunk) == CHUNK or size + len(raw) + 1 > max_bytes):
            r = client.post(
                "/api/v1/events",
                content=b"[" + b",".join(chunk) + b"]",
                headers={"Content-Type": "application/json"},
            )
            if r.status_code != 202:
                raise SystemExit(f"POST /api/v1/events answered {r.status_code}: {r.text[:500]}")
            chunk, size = [], 2
        if item is not None:
            chunk.append(raw)
            size += len(raw) + 1
    return len(items)


def incident_ids(client: httpx.Client) -> tuple[list[str], int]:
    """Every incident holding members, and the number of members they hold."""
    ids, total, cursor = [], 0, None
    while True:
        params: dict[str, Any] = {"limit": 1000, "sort": "opened_at", "status": "!merged"}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v1/incidents", params=params)
        r.raise_for_status()
        body = r.json()
        ids += [i["incident_id"] for i in body["incidents"] if i["alerts"]]
        total += sum(i["alerts"] for i in body["incidents"])
        cursor = body.get("next_cursor")
        if not cursor:
            return ids, total


def read_members(client: httpx.Client, ids: list[str]) -> list[tuple[str, str | None, str, Any, Any]]:
    out = []
    for incident_id in ids:
        r = client.get(f"/api/v1/incidents/{incident_id}")
        r.raise_for_status()
        for m in r.json()["members"]:
            out.append(
                (
                    incident_id,
                    m["asset_id"],
                    m["event"],
                    datetime.fromisoformat(m["opened_at"]),
                    datetime.fromisoformat(m["joined_at"]),
                )
            )
    return out


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    key = args.api_key or os.environ.get("EMS_API_KEY")
    if not key:
        print(
            "ems eval: give an API key with write:observations and read:incidents (--api-key or EMS_API_KEY)",
            file=sys.stderr,
        )
        return 2
    api = args.api or f"http://{settings.api_host}:{settings.api_port}"
    scenarios = [generate(seed, faults=args.faults) for seed in seed_range(args.seeds)]
    offline: list[Assigned] = []
    overlaps: list[tuple[str, str]] = []
    for sc in scenarios:
        got, pairs = run_offline(sc, CorrelationConfig())
        offline += got
        overlaps += pairs
    load_assets(settings, scenarios, args.timeout)
    with httpx.Client(base_url=api, timeout=60, headers={"Authorization": f"Key {key}"}) as client:
        sent = post_alerts(client, scenarios, settings.max_payload_bytes)
        posted = time.monotonic()
        deadline = posted + args.timeout
        last, since = -1, time.monotonic()
        while True:
            ids, held = incident_ids(client)
            now = time.monotonic()
            if held != last:
                last, since = held, now
            if held >= len(offline):
                break
            if held and now - since > QUIET_S:  # the pipeline made other episodes than the cores alone
                print(
                    f"ems eval: {held} episodes in incidents, {len(offline)} offline; scoring what is there",
                    file=sys.stderr,
                )
                break
            if now > deadline:
                print(
                    f"ems eval: {held} of {len(offline)} episodes in incidents after {args.timeout:.0f} s",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        settled = since - posted
        members = read_members(client, ids)
    truth = {k: v for sc in scenarios for k, v in sc.truth().items()}
    kinds = {k: v for sc in scenarios for k, v in sc.kind_of.items()}
    live = assign(members, truth, kinds)
    print(
        f"{len(scenarios)} scenario(s), {sent} alerts posted, {len(live)} episodes; "
        f"incidents held every episode {settled:.1f} s after the last post"
    )
    print("through the pipeline:")
    report(live, overlaps)
    print("offline (the same cores without Kafka), for comparison:")
    report(offline, overlaps)
    if args.json:
        import json

        print(json.dumps({"live": scores(live, overlaps), "kinds": by_kind(live), "settled_s": settled}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score the correlation on generated scenarios through the real pipeline")
    p.add_argument("--seeds", default="101-103", help="scenario seeds, e.g. 101-103 or 5,9")
    p.add_argument("--faults", type=int, default=12, help="faults per scenario")
    p.add_argument("--api", help="API base URL (default: http://EMS_API_HOST:EMS_API_PORT)")
    p.add_argument("--api-key", help="API key (default: EMS_API_KEY)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase")
    p.add_argument("--json", action="store_true", help="also print the scores as one JSON line")
    p.set_defaults(fn=lambda args: run_eval(args, get_settings()))
