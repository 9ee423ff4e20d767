"""Scoring incidents against ground truth, and the offline evaluation over generated scenarios.

The unit is the alert **episode** (what an incident groups). For each one: its true label (the fault
or noise alert that opened it) and the incident it ended in. Scores:
- alert reduction = 1 - incidents / episodes (`ideal`: 1 - true labels / episodes, the most a
  perfect grouping reaches on these episodes);
- purity = sum over incidents of their most common label's count / episodes;
- ARI = adjusted Rand index of incidents against labels (scikit-learn);
- overlap pairs merged = share of pairs of independent faults overlapping in time (at different
  sites) that share an incident;
- decision delay = event time from an episode's start to its joining its final incident.

`python -m ems.ml.evaluate --seeds 21-40` runs the pure pipeline (normalize, dedupe, correlation)
over generated scenarios; `--set dbscan.eps=0.25` tries another parameter.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ems.ml.correlation.config import CorrelationConfig, DbscanConfig
from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.evaluate import Verdict, rca_report
from ems.ml.rca.evaluate import scores as rca_scores
from ems.ml.rca.evaluate import verdicts as rca_verdicts
from ems.ml.scenarios import FAMILIES, KINDS, Scenario, generate
from ems.ml.scenarios.faults import Noise
from ems.schemas.incident import IncidentChanged, Member


@dataclass(frozen=True)
class Assigned:
    """One episode: where it ended, what it truly is."""

    incident: str
    label: str
    kind: str
    delay_s: float


def final_members(records: Iterable[IncidentChanged]) -> list[tuple[str, Member]]:
    """(incident id, member) of every episode's current membership after the records."""
    latest: dict[tuple[str, str, int], tuple[str, Member]] = {}
    for record in records:
        for m in record.members:
            key = (record.incident.incident_id, m.alert_id, m.episode)
            if key not in latest or m.version > latest[key][1].version:
                latest[key] = (record.incident.incident_id, m)
    return [(i, m) for i, m in latest.values() if m.left_at is None]


def assign(
    members: Iterable[tuple[str, str | None, str, datetime, datetime]],
    truth: dict[tuple[str, str, datetime], str],
    kind_of: dict[str, str],
) -> list[Assigned]:
    """Episodes (incident, asset, event, opened_at, joined_at) with their labels; one no alert of the
    scenario opened gets a label of its own."""
    out = []
    for n, (incident, asset, event, opened, joined) in enumerate(members):
        label = truth.get((asset, event, opened), f"unknown-{n}")
        out.append(Assigned(incident, label, kind_of.get(label, "noise"), (joined - opened).total_seconds()))
    return out


def _ari(labels: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import adjusted_rand_score  # here: scikit-learn costs every `ems` process ~1 s

    return float(adjusted_rand_score(labels, predicted))


def scores(episodes: Sequence[Assigned], overlaps: Sequence[tuple[str, str]] = ()) -> dict[str, float]:
    """The scores of one set of episodes (see the module docstring)."""
    if not episodes:
        return {"episodes": 0}
    by_incident: dict[str, Counter] = defaultdict(Counter)
    for e in episodes:
        by_incident[e.incident][e.label] += 1
    n = len(episodes)
    together = {(a, b) for c in by_incident.values() for a in c for b in c if a != b}
    delays = sorted(e.delay_s for e in episodes)
    return {
        "episodes": n,
        "incidents": len(by_incident),
        "labels": len({e.label for e in episodes}),
        "reduction": 1 - len(by_incident) / n,
        "ideal": 1 - len({e.label for e in episodes}) / n,
        "purity": sum(max(c.values()) for c in by_incident.values()) / n,
        "ari": _ari([e.label for e in episodes], [e.incident for e in episodes]),
        "overlap_pairs": len(overlaps),
        "overlap_merged": sum(1 for p in overlaps if p in together) / len(overlaps) if overlaps else 0.0,
        "delay_p50_s": statistics.median(delays),
        "delay_p95_s": delays[min(n - 1, int(0.95 * n))],
    }


def by_kind(episodes: Sequence[Assigned]) -> dict[str, dict[str, float]]:
    """Scores of the episodes of each fault kind (and of the noise) on their own."""
    out = {}
    for kind in (*KINDS, "noise"):
        subset = [e for e in episodes if e.kind == kind]
        if subset:
            out[kind] = scores(subset)
    return out


def run_offline(
    scenario: Scenario, config: CorrelationConfig
) -> tuple[list[Assigned], list[tuple[str, str]]]:
    """The pure pipeline over one scenario: its episodes, assigned and labelled."""
    assigned, overlaps, _ = run_offline_rca(scenario, config)
    return assigned, overlaps


def run_offline_rca(
    scenario: Scenario, config: CorrelationConfig
) -> tuple[list[Assigned], list[tuple[str, str]], list[Verdict]]:
    """`run_offline` and the root-cause verdict of each fault's main incident (its last ranking)."""
    changes = alert_changes(scenario.observations())
    assets = [s.asset() for s in scenario.network.specs.values()]
    correlator, records = correlate(changes, assets, config)
    final = final_members(records)
    # Incident ids are unique within a scenario: prefixed with the seed, scenarios can be pooled.
    members = [(f"{scenario.seed}:{i}", m.asset_id, m.event, m.opened_at, m.joined_at) for i, m in final]
    grouped: dict[str, list[Member]] = defaultdict(list)
    for i, m in final:
        grouped[i].append(m)
    latest = {r.incident.incident_id: r.incident.rca for r in records}
    incidents = [(grouped[i], latest.get(i)) for i in sorted(grouped)]
    verdicts = rca_verdicts(scenario, incidents, correlator.topology, correlator.ranker)
    return assign(members, scenario.truth(), scenario.kind_of), scenario.overlaps(), verdicts


def configured(settings: Sequence[str]) -> CorrelationConfig:
    """The default config with `field=value` / `dbscan.field=value` overrides."""
    top, db = {}, {}
    for item in settings:
        name, _, value = item.partition("=")
        target, cls = (db, DbscanConfig) if name.startswith("dbscan.") else (top, CorrelationConfig)
        name = name.removeprefix("dbscan.")
        kind = {f.name: f.type for f in dataclasses.fields(cls)}.get(name)
        if kind is None:
            raise SystemExit(f"unknown parameter {item!r}")
        target[name] = int(value) if kind == "int" else float(value) if kind == "float" else value
    return CorrelationConfig(**top, dbscan=DbscanConfig(**db))


def seed_range(text: str) -> list[int]:
    """`1-20` or `1,5,9`."""
    out = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def report(all_episodes: list[Assigned], overlaps: list[tuple[str, str]], out=None) -> dict:
    """Print the overall and per-kind scores (to `out`, default stdout); return them."""
    out = out or sys.stdout
    overall = scores(all_episodes, overlaps)
    kinds = by_kind(all_episodes)
    cols = ("episodes", "incidents", "reduction", "ideal", "purity", "ari", "delay_p50_s", "delay_p95_s")
    print(f"{'':18}" + "".join(f"{c:>12}" for c in cols), file=out)
    for name, row in [("overall", overall), *kinds.items()]:
        cells = "".join(f"{row[c]:>12.3f}" if isinstance(row[c], float) else f"{row[c]:>12}" for c in cols)
        print(f"{name:18}{cells}", file=out)
    print(
        f"overlapping independent fault pairs merged: {overall['overlap_merged']:.1%} "
        f"of {overall['overlap_pairs']}",
        file=out,
    )
    return {"overall": overall, "kinds": kinds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.ml.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="101-120", help="scenario seeds, e.g. 1-20 or 3,7")
    parser.add_argument("--faults", type=int, default=12, help="faults per scenario")
    parser.add_argument("--family", default="campus", help="topology family: campus or datacenter")
    parser.add_argument(
        "--missing-edges",
        type=float,
        default=Noise().missing_edges,
        help="share of the edges left out of the registry (0: a complete registry; the faults are the same)",
    )
    parser.add_argument("--set", action="append", default=[], help="parameter override, e.g. max_hops=3")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = parser.parse_args(argv)
    config = configured(args.set)
    if not 0 <= args.missing_edges < 1:
        parser.error(f"--missing-edges: {args.missing_edges} is not a share in [0, 1)")
    noise = Noise(missing_edges=args.missing_edges)
    if args.family not in FAMILIES:
        parser.error(f"--family: unknown topology family {args.family!r}; choose from {', '.join(FAMILIES)}")
    episodes: list[Assigned] = []
    overlaps: list[tuple[str, str]] = []
    verdicts: list[Verdict] = []
    for seed in seed_range(args.seeds):
        scenario = generate(seed, faults=args.faults, noise=noise, family=args.family)
        got, pairs, found = run_offline_rca(scenario, config)
        episodes += got
        overlaps += pairs
        verdicts += found
    rca = rca_scores(verdicts) if config.rca_model != "off" else None
    if args.json:
        body = {"overall": scores(episodes, overlaps), "kinds": by_kind(episodes), "rca": rca}
        print(json.dumps(body, indent=2))
    else:
        report(episodes, overlaps)
        if rca is not None:
            rca_report(rca, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
