"""Rank an incident's root-cause candidates with a forest and explain the verdict in words.

`Ranker.rank(members, topology)` builds the candidates' features (`features.build`), scores each with
the forest, and returns a `Ranking`: the top candidate (asset, first alert, confidence), the top 3,
the features that moved its probability most (path contributions, `forest.py`) and a sentence per
piece of evidence among them, e.g. "site-0-core unreachable; 20 of 20 other alerting assets are
reachable only through it".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ems.ml.correlation.topology import Topology
from ems.ml.rca.features import NAMES, Candidate, Evidence, alert_type, build
from ems.ml.rca.forest import Forest
from ems.schemas.incident import Blend, Contribution, RankedCandidate, Ranking

if TYPE_CHECKING:
    from ems.ml.rca.online import OnlineModel

MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS / "rca-default.json"
EVIDENCE_KEPT = 5
# Feature -> the piece of evidence it stands for (one sentence per piece in the explanation).
GROUP = {
    "behind_share": "behind",
    "behind_count": "behind",
    "behind_alerting": "behind",
    "dependents_share": "dependents",
    "dependents_alerting": "dependents",
    "hosted_share": "hosted",
    "explained_performance": "symptoms",
    "explained_unreachable": "symptoms",
    "explained_error": "symptoms",
    "alerted": "timing",
    "first_rank": "timing",
    "delay": "timing",
    "upstream_alerting": "upstream",
    "upstream_down": "upstream",
    "neighbour_link": "link",
    "neighbours_alerting": "neighbours",
    "criticality": "asset",
    "poller_hops": "position",
    "members": "size",
}
for _name in NAMES:
    GROUP.setdefault(_name, "alert" if _name.startswith("alert_") else "asset")


def _sentence(group: str, c: Candidate, name: str) -> str:
    if group == "behind":
        return f"{c.behind} of {c.others} other alerting assets are reachable only through it"
    if group == "dependents":
        return f"{c.dependents} of {c.others} other alerting assets depend on it"
    if group == "timing":
        if c.alert_id is None:
            return "it never alerted: implied by the topology"
        return "it alerted first" if c.get("first_rank") == 0 else "it alerted after others"
    if group == "hosted":
        hosted = round(c.get("hosted_share") * c.others)
        return f"{hosted} of {c.others} other alerting assets run on it"
    if group == "symptoms":
        kinds = [t for t in ("performance", "unreachable", "error") if c.get(f"explained_{t}") >= 0.5]
        return (
            f"what it explains is {' and '.join(kinds)}" if kinds else "what it explains shows mixed symptoms"
        )
    if group == "upstream":
        return (
            "an asset in front of it is unreachable" if c.get("upstream_down") else "nothing in front alerts"
        )
    if group == "link":
        return (
            "a neighbour reports a link down"
            if c.get("neighbour_link")
            else "no neighbour reports a link down"
        )
    if group == "neighbours":
        return f"{c.get('neighbours_alerting'):.0%} of its neighbours alert"
    if group == "alert":
        kind = alert_type(c.event) if c.event else ""
        return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} alert" if c.event else "no alert of its own"
    if group == "position":
        return "far from the poller" if c.get("poller_hops") >= 1 else "on the poller's path"
    if group == "size":
        return f"an incident of {c.others + (c.alert_id is not None)} alerting assets"
    kind = next((n.removeprefix("type_") for n in NAMES if n.startswith("type_") and c.get(n)), "asset")
    return f"a {kind} of criticality {round(c.get('criticality') * 5)}"


class Ranker:
    """A forest applied to incidents; `version` is recorded with every verdict."""

    def __init__(self, forest: Forest) -> None:
        if tuple(forest.names) != NAMES:
            raise ValueError(f"model {forest.version} was trained on other features; retrain it")
        self.forest = forest

    @property
    def version(self) -> str:
        return self.forest.version

    def scored(
        self, members: Sequence[Evidence], topology: Topology, online: OnlineModel | None = None
    ) -> list[tuple[float, Candidate, list, tuple[float, float] | None]]:
        """Every candidate with its probability, contributions and (forest, online) parts when `online`
        learned a label, best first (ties by alerting first, then asset id)."""
        from ems.ml.rca.online import blend

        cands = build(members, topology)
        predicted = [self.forest.predict(c.values) for c in cands]
        forest = [p for p, _ in predicted]
        if online is not None and online.labels:
            learned = online.score(c.values for c in cands)
            probs = blend(forest, learned, online.weight)
            parts: list = list(zip(forest, learned, strict=True))
        else:
            probs, parts = forest, [None] * len(cands)
        out = [
            (p, c, contrib, part)
            for p, c, (_, contrib), part in zip(probs, cands, predicted, parts, strict=True)
        ]
        out.sort(key=lambda t: (-t[0], t[1].alert_id is None, t[1].asset_id))
        return out

    def rank(
        self, members: Sequence[Evidence], topology: Topology, online: OnlineModel | None = None
    ) -> Ranking | None:
        """The verdict on an incident's members, the forest's probabilities blended with `online`'s
        once it learned a label (docs/rca.md "Online model"); None when no member names an asset."""
        scored = self.scored(members, topology, online)
        if not scored:
            return None
        p, top, contrib, part = scored[0]

        def name(asset: str) -> str:
            node = topology.nodes.get(asset)
            return node.name if node else asset

        order = sorted(range(len(NAMES)), key=lambda i: (-contrib[i], NAMES[i]))
        evidence = [
            Contribution(feature=NAMES[i], value=round(top.values[i], 4), contribution=round(contrib[i], 4))
            for i in order[:EVIDENCE_KEPT]
        ]
        groups = named_groups(contrib)
        what = top.event or "never alerted"
        text = "; ".join(
            [f"{name(top.asset_id)} {what}", *(_sentence(g, top, name(top.asset_id)) for g in groups)]
        )
        return Ranking(
            model=self.version,
            asset_id=top.asset_id,
            name=name(top.asset_id)[:512],
            alert_id=top.alert_id,
            event=top.event,
            confidence=round(min(1.0, p), 4),
            candidates=[
                RankedCandidate(
                    asset_id=c.asset_id,
                    name=name(c.asset_id)[:512],
                    alert_id=c.alert_id,
                    event=c.event,
                    probability=round(min(1.0, q), 4),
                )
                for q, c, _, _ in scored[:3]
            ],
            explanation=text[:512],
            reasons=groups,
            evidence=evidence,
            blend=None
            if part is None or online is None
            else Blend(
                forest=round(min(1.0, part[0]), 4),
                online=round(min(1.0, part[1]), 4),
                weight=round(online.weight, 4),
                labels=online.labels,
            ),
        )


def named_groups(contrib: Sequence[float]) -> list[str]:
    """The pieces of evidence an explanation names: the 3 groups of features whose summed
    contributions are the largest positive ones (ties by name)."""
    sums: dict[str, float] = {}
    for name, value in zip(NAMES, contrib, strict=True):
        sums[GROUP[name]] = sums.get(GROUP[name], 0.0) + value
    return [g for g, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0][:3]


@cache
def default_ranker() -> Ranker:
    """The model shipped with the project (`ml/models/rca-default.json`)."""
    return Ranker(Forest.load(DEFAULT_MODEL))


def ranker_from(spec: str) -> Ranker | None:
    """`default`, `off` (no ranking), or the path of a model file."""
    if spec == "off":
        return None
    if spec == "default":
        return default_ranker()
    return Ranker(Forest.load(Path(spec)))
