"""Scoring root-cause verdicts against the scenarios' ground truth.

The unit is the injected fault: its **main incident** is the one holding most of its episodes, and
its verdict is that incident's ranking. Scores, overall and per fault kind:
- top1 / top3: the true root asset is the ranking's first / among its first three;
- missing_root_top1: top-1 over the faults whose root asset has no alert in the main incident (never
  alerted, alert lost, or late into another incident);
- missing_root_candidate: how many of those have their root among the incident's candidates at all
  (with the registry's topology: the most a ranking could name; the others have no path to it in the
  registry);
- implied_root_top1/top3: top-1 / top-3 over those whose root the topology implies, i.e. is a candidate
  (upstream of an alerting member on the poller's path, or a dependency of one): the case the issue
  asks to be named although the root never alerted;
- dropped_root_top1/top3: the same incidents ranked once more without their root's alerts (as if they
  were lost), over the faults whose root alerted (offline only: it needs the topology);
- explained: share of the verdicts that are right and whose explanation names the deciding evidence
  of their kind (`DECIDING`); an incident of one alerting asset is decided by that asset's own alert.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ems.ml.correlation.topology import Topology
from ems.ml.rca.features import candidates_of
from ems.ml.rca.rank import Ranker
from ems.ml.scenarios import KINDS, Scenario, generate
from ems.schemas.incident import Ranking

DECIDING = {
    "device_down": {"behind"},
    "link_down": {"behind"},
    "db_cpu": {"dependents"},
    "instance_stopped": {"behind", "dependents", "hosted"},
    "disk_full": {"behind", "dependents", "hosted"},
}
ALONE = {"alert", "timing", "asset"}


@dataclass(frozen=True)
class Verdict:
    """One fault's main incident: the truth and what the ranking said."""

    kind: str
    root: str
    root_alerted: bool
    assets: int  # alerting assets in the incident
    ranking: Ranking | None
    dropped: Ranking | None = None  # the ranking of the incident without the root's own alerts
    root_candidate: bool | None = None  # the root is one of the incident's candidates (with a topology)


def verdicts(
    scenario: Scenario,
    incidents: Iterable[tuple[Sequence, Ranking | None]],
    topology: Topology | None = None,
    ranker: Ranker | None = None,
) -> list[Verdict]:
    """The verdict of each fault's main incident, from (episodes or members, ranking) per incident;
    with a topology and a ranker, also the ranking of each without its root's alerts and whether its
    root is a candidate at all."""
    out = []
    for v, members in _main(scenario, incidents):
        if topology is not None:
            v = replace(v, root_candidate=v.root in candidates_of(members, topology))
        without = [m for m in members if m.asset_id != v.root]
        if ranker is not None and topology is not None and v.root_alerted and without:
            v = replace(v, dropped=ranker.rank(without, topology))
        out.append(v)
    return out


def _main(
    scenario: Scenario, incidents: Iterable[tuple[Sequence, Ranking | None]]
) -> list[tuple[Verdict, Sequence]]:
    truth = scenario.truth()
    faults = {f.label: f for f in scenario.faults}
    best: dict[str, tuple[int, Verdict, Sequence]] = {}
    for members, ranking in incidents:
        counts = Counter(truth.get((m.asset_id, m.event, m.opened_at)) for m in members)
        assets = {m.asset_id for m in members if m.asset_id}
        for label, n in counts.items():
            fault = faults.get(label)
            if fault is None or (label in best and best[label][0] >= n):
                continue
            verdict = Verdict(fault.kind, fault.root, fault.root in assets, len(assets), ranking)
            best[label] = (n, verdict, members)
    return [(best[k][1], best[k][2]) for k in sorted(best)]


def _named(v: Verdict) -> bool:
    if v.ranking is None or v.ranking.asset_id != v.root:
        return False
    expected = DECIDING[v.kind] if v.assets > 1 else ALONE | DECIDING[v.kind]
    return bool(set(v.ranking.reasons) & expected)


def summary(items: Sequence[Verdict]) -> dict[str, float]:
    """top1, top3, missing_root_top1 and explained of a set of verdicts."""
    if not items:
        return {"faults": 0}

    def top(v: Verdict, k: int, ranking: Ranking | None = None) -> bool:
        ranking = ranking or v.ranking
        return ranking is not None and v.root in [c.asset_id for c in ranking.candidates[:k]]

    missing = [v for v in items if not v.root_alerted]
    dropped = [v for v in items if v.dropped is not None]
    return {
        "faults": len(items),
        "top1": sum(top(v, 1) for v in items) / len(items),
        "top3": sum(top(v, 3) for v in items) / len(items),
        "missing_root": len(missing),
        "missing_root_top1": sum(top(v, 1) for v in missing) / len(missing) if missing else 0.0,
        "missing_root_top3": sum(top(v, 3) for v in missing) / len(missing) if missing else 0.0,
        **(_implied(missing, top) if any(v.root_candidate is not None for v in missing) else {}),
        "explained": sum(_named(v) for v in items) / len(items),
        "dropped_root": len(dropped),
        "dropped_root_top1": sum(top(v, 1, v.dropped) for v in dropped) / len(dropped) if dropped else 0.0,
        "dropped_root_top3": sum(top(v, 3, v.dropped) for v in dropped) / len(dropped) if dropped else 0.0,
    }


def _implied(missing: Sequence[Verdict], top) -> dict[str, float]:
    """The never-alerted faults whose root the topology implies (a candidate), and their scores."""
    implied = [v for v in missing if v.root_candidate]
    n = len(implied)
    return {
        "missing_root_candidate": n,
        "implied_root_top1": sum(top(v, 1) for v in implied) / n if n else 0.0,
        "implied_root_top3": sum(top(v, 3) for v in implied) / n if n else 0.0,
    }


def scores(items: Sequence[Verdict]) -> dict:
    """Overall and per fault kind."""
    kinds: dict[str, list[Verdict]] = defaultdict(list)
    for v in items:
        kinds[v.kind].append(v)
    return {"overall": summary(items), "kinds": {k: summary(kinds[k]) for k in KINDS if k in kinds}}


def rca_scores(seeds: Iterable[int], ranker, family: str = "campus") -> dict:
    """Score `ranker` on the seeds' scenarios (of the topology `family`), grouped by the pure pipeline
    (the stage's code)."""
    from ems.ml.rca.train import correlated

    items: list[Verdict] = []
    for seed in seeds:
        scenario = generate(seed, family=family)
        topology, members, _ = correlated(scenario)
        incidents = [(m, ranker.rank(m, topology)) for m in members.values()]
        items += verdicts(scenario, incidents, topology, ranker)
    return scores(items)


# The RCA table's columns and their heads (`miss`: root missing, `implied`: of those, the roots the
# topology implies, `drop`: ranked again without the root's alerts).
HEADS = {
    "faults": "faults",
    "top1": "top1",
    "top3": "top3",
    "explained": "explained",
    "missing_root": "miss",
    "missing_root_top1": "miss_top1",
    "missing_root_top3": "miss_top3",
    "missing_root_candidate": "implied",
    "implied_root_top1": "impl_top1",
    "implied_root_top3": "impl_top3",
    "dropped_root": "drop",
    "dropped_root_top1": "drop_top1",
    "dropped_root_top3": "drop_top3",
}
IMPLIED = ("missing_root_candidate", "implied_root_top1", "implied_root_top3")


def rca_report(result: dict, out) -> None:
    """Print the RCA table (`miss`/`implied`/`drop`: the faults counted, then their top-1 and top-3;
    `implied`: the never-alerted roots the topology implies, when scored with it)."""
    heads = HEADS
    if "missing_root_candidate" not in result["overall"]:  # scored without the topology
        heads = {c: h for c, h in HEADS.items() if c not in IMPLIED}
    cols = tuple(heads)
    print(f"{'root cause':18}" + "".join(f"{h:>12}" for h in heads.values()), file=out)
    for name, row in [("overall", result["overall"]), *result["kinds"].items()]:
        cells = "".join(
            f"{row.get(c, 0):>12.3f}" if isinstance(row.get(c), float) else f"{row.get(c, 0):>12}"
            for c in cols
        )
        print(f"{name:18}{cells}", file=out)
    overall = result["overall"]
    if overall.get("missing_root") and "missing_root_candidate" in overall:
        print(
            f"root missing: {overall['missing_root']} faults, the root among the candidates in "
            f"{overall['missing_root_candidate']} (no ranking can name the others: nothing in their "
            "incident leads to the root in the registry)",
            file=out,
        )
        print(
            f"root missing, implied by the topology: {overall['missing_root_candidate']} faults, "
            f"top-1 {overall['implied_root_top1']:.3f}, top-3 {overall['implied_root_top3']:.3f}",
            file=out,
        )
