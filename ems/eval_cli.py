"""`ems eval`: generated scenarios through the real pipeline, scored against their ground truth.

For each seed: the scenario's assets are appended as asset commands (`ems assets import`'s path), its
alerts are posted to the HTTP API (`POST /api/v1/events`, with an API key: `--api-key` or
`EMS_API_KEY`), and once the incidents read model holds every episode, the incidents are read back over
the API (`/api/v1/incidents`, `/api/v1/incidents/{id}`) and scored as the offline evaluation does
(`ems.ml.evaluate`): alert reduction, purity, ARI, overlapping fault pairs merged, overall and per fault
kind, and the root-cause ranking (top-1, top-3, explained: `ems.ml.rca.evaluate`), with the offline
scores of the same scenarios beside them. `settled` is the wall time from the
last post acknowledged to the incidents holding every episode (all scenarios at once: an upper bound of
each incident's delay). Run it against a pipeline of its own: it writes assets and alerts.

`--rate N` posts the alerts in event-time order at a steady N a minute instead (wall-clock paced, one
POST every `--tick` s; the event times are kept, so event time runs faster than the wall clock), while
a poller looks at the incidents every `--poll` s; it then prints each true group's decision delay
(`ems.eval_delays`) against `--target`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ems.assets_cli import append, commands, known_assets, parse
from ems.eval_delays import GroupDelay, group_delays, summary
from ems.eval_paced import Poller, post, post_paced
from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.topology import Topology
from ems.ml.evaluate import Assigned, assign, by_kind, report, run_offline_rca, scores, seed_range
from ems.ml.rca.evaluate import Verdict, rca_report, verdicts
from ems.ml.rca.evaluate import scores as rca_scores
from ems.ml.scenarios import Scenario, generate
from ems.schemas.incident import Ranking
from ems.settings import Settings, get_settings

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


def read_members(
    client: httpx.Client,
    ids: list[str],
    rankings: dict[str, Any] | None = None,
    titles: dict[tuple, tuple[str, str]] | None = None,
) -> list[tuple[str, str | None, str, Any, Any]]:
    """(incident, asset, event, opened_at, joined_at) of every member; each incident's `rca` into
    `rankings` and each member's (alert id, title) into `titles` (by the member's first four) when
    given."""
    out = []
    for incident_id in ids:
        r = client.get(f"/api/v1/incidents/{incident_id}")
        r.raise_for_status()
        if rankings is not None:
            rankings[incident_id] = r.json().get("rca")
        for m in r.json()["members"]:
            member = (
                incident_id,
                m["asset_id"],
                m["event"],
                datetime.fromisoformat(m["opened_at"]),
                datetime.fromisoformat(m["joined_at"]),
            )
            out.append(member)
            if titles is not None:
                titles[member[:4]] = (m["alert_id"], m["title"])
    return out


@dataclass(frozen=True)
class _Seen:
    asset_id: str | None
    event: str
    opened_at: datetime
    alert_id: str = ""
    title: str = ""


def live_verdicts(
    scenarios: list[Scenario],
    members: list,
    rankings: dict[str, Any],
    titles: dict[tuple, tuple[str, str]] | None = None,
) -> list[Verdict]:
    """The root-cause verdict of each fault's main incident, as read over the API; with the members'
    titles, also whether each root is a candidate in the scenario's registry (what was imported)."""
    grouped: dict[str, list[_Seen]] = {}
    for incident_id, asset_id, event, opened_at, _ in members:
        alert_id, title = (titles or {}).get((incident_id, asset_id, event, opened_at), ("", ""))
        grouped.setdefault(incident_id, []).append(_Seen(asset_id, event, opened_at, alert_id, title))
    incidents = [
        (grouped[i], Ranking.model_validate(rankings[i]) if rankings.get(i) else None)
        for i in sorted(grouped)
    ]
    return [v for sc in scenarios for v in verdicts(sc, incidents, registry(sc) if titles else None)]


def registry(scenario: Scenario) -> Topology:
    """The topology of the scenario's registry, as `ems assets import` appends it."""
    topology = Topology()
    for spec in scenario.network.specs.values():
        topology.upsert(spec.asset())
    return topology


def settle(client: httpx.Client, want: int, timeout: float) -> tuple[list[str], float] | None:
    """Wait until the incidents hold `want` episodes (or stop changing for QUIET_S): the incident
    ids and the wall time from the call to the last change; None after `timeout` s."""
    posted = time.monotonic()
    deadline = posted + timeout
    last, since = -1, time.monotonic()
    while True:
        ids, held = incident_ids(client)
        now = time.monotonic()
        if held != last:
            last, since = held, now
        if held >= want:
            return ids, since - posted
        if held and now - since > QUIET_S:  # the pipeline made other episodes than the cores alone
            print(
                f"ems eval: {held} episodes in incidents, {want} offline; scoring what is there",
                file=sys.stderr,
            )
            return ids, since - posted
        if now > deadline:
            print(f"ems eval: {held} of {want} episodes in incidents after {timeout:.0f} s", file=sys.stderr)
            return None
        time.sleep(0.5)


def paced_report(
    args: argparse.Namespace, groups: list[GroupDelay], sent: int, took: float, polls: int
) -> dict[str, Any]:
    """Print the decision delays of a paced run; return them (for --json)."""
    placed = summary([g.placed_s for g in groups], args.target)
    final = summary([g.final_s for g in groups], args.target)
    achieved = 60 * (sent - 1) / took if took > 0 else 0.0
    print(
        f"paced: {sent} alerts at {args.rate:g}/min (achieved {achieved:.0f}/min over {took:.0f} s, "
        f"one POST every {args.tick:g} s); incidents polled every {args.poll:g} s ({polls} looks)"
    )
    print(f"decision delay of each true group's last episode, from its post ({len(groups)} groups):")
    for name, row in (("in an incident", placed), ("in its final incident", final)):
        if "p50_s" not in row:
            print(f"  {name:22} never seen: {row['unseen']}")
            continue
        print(
            f"  {name:22} p50 {row['p50_s']:.2f} s, p95 {row['p95_s']:.2f} s, max {row['max_s']:.2f} s; "
            f"{row['over_target']} over {args.target:g} s"
            + (f" ({row['unseen']} never seen)" if row["unseen"] else "")
        )
    return {
        "rate_per_min": args.rate,
        "achieved_per_min": achieved,
        "seconds": took,
        "placed": placed,
        "final": final,
    }


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
    offline_verdicts: list[Verdict] = []
    for sc in scenarios:
        got, pairs, found = run_offline_rca(sc, CorrelationConfig())
        offline += got
        overlaps += pairs
        offline_verdicts += found
    items = sorted((o for sc in scenarios for o in sc.observations()), key=lambda o: o.occurred_at)
    load_assets(settings, scenarios, args.timeout)

    def client() -> httpx.Client:
        return httpx.Client(base_url=api, timeout=60, headers={"Authorization": f"Key {key}"})

    paced: dict[str, Any] | None = None
    with client() as http:
        if args.rate is None:
            post(http, items, settings.max_payload_bytes)
        else:
            poller = Poller(client, args.poll)
            poller.start()
            posted, took = post_paced(http, items, args.rate, args.tick, settings.max_payload_bytes)
        got = settle(http, len(offline), args.timeout)
        if got is None:
            return 1
        ids, settled = got
        if args.rate is not None:
            poller.stop()
        rankings: dict[str, Any] = {}
        titles: dict[tuple, tuple[str, str]] = {}
        members = read_members(http, ids, rankings, titles)
    truth = {k: v for sc in scenarios for k, v in sc.truth().items()}
    kinds = {k: v for sc in scenarios for k, v in sc.kind_of.items()}
    live = assign(members, truth, kinds)
    print(
        f"{len(scenarios)} scenario(s), {len(items)} alerts posted, {len(live)} episodes; "
        f"incidents held every episode {settled:.1f} s after the last post"
    )
    if args.rate is not None:
        groups = group_delays(members, truth, kinds, posted, poller.seen)
        paced = paced_report(args, groups, len(items), took, poller.polls)
    print("through the pipeline:")
    report(live, overlaps)
    print("offline (the same cores without Kafka), for comparison:")
    report(offline, overlaps)
    rca = rca_scores(live_verdicts(scenarios, members, rankings, titles))
    print("root cause through the pipeline:")
    rca_report(rca, sys.stdout)
    print("root cause offline, for comparison:")
    rca_report(rca_scores(offline_verdicts), sys.stdout)
    if args.json:
        import json

        out = {"live": scores(live, overlaps), "kinds": by_kind(live), "settled_s": settled, "rca": rca}
        if paced is not None:
            out["paced"] = paced
        print(json.dumps(out))
    return 0


def positive(text: str) -> float:
    """An argument that must be a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score the correlation on generated scenarios through the real pipeline")
    p.add_argument("--seeds", default="101-103", help="scenario seeds, e.g. 101-103 or 5,9")
    p.add_argument("--faults", type=int, default=12, help="faults per scenario")
    p.add_argument("--api", help="API base URL (default: http://EMS_API_HOST:EMS_API_PORT)")
    p.add_argument("--api-key", help="API key (default: EMS_API_KEY)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase")
    p.add_argument(
        "--rate",
        type=positive,
        help="post at this many alerts a minute (event-time order, wall-clock paced) and measure each "
        "true group's decision delay (default: one burst)",
    )
    p.add_argument("--tick", type=positive, default=0.2, help="with --rate: seconds between two POSTs")
    p.add_argument(
        "--poll", type=positive, default=0.25, help="with --rate: seconds between looks at the incidents"
    )
    p.add_argument(
        "--target", type=positive, default=5.0, help="with --rate: the delay target (s) counted against"
    )
    p.add_argument("--json", action="store_true", help="also print the scores as one JSON line")
    p.set_defaults(fn=lambda args: run_eval(args, get_settings()))
