"""The online root-cause model: a river model learned from operator feedback, blended with the forest.

Every `incident.root_cause` command (docs/rca.md "Operator feedback") is a label: the confirmed or
corrected root's candidate row (`features.build`, the rows the forest ranks) is a positive, the
incident's other candidates negatives (weighted 1/their count, so each label weighs as much on both
sides). The model is river's `StandardScaler | LogisticRegression` (plain SGD): learned one row at a
time, deterministic, cheap enough to learn in the stage between two batches.

The verdict blends both: p = (1 - w) * forest + w * online, with w = min(n / (n + k), max) after
n labels learned (`EMS_RCA_ONLINE_K`, `EMS_RCA_ONLINE_MAX_WEIGHT`): a linear model never outweighs
the forest. With no label w is 0 and nothing is blended: a fresh install ranks
exactly as the forest does. The state is the log's: `Memberships` folds the correlate stage's own
decisions (each incident's current members), `learn_label` turns one feedback command into a label
against them and the topology; the stage records the rows it learned in its own output
(`IncidentBatch.labels`), which a restart learns again in order.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ems.ml.correlation.topology import Topology
from ems.ml.rca.features import NAMES, Candidate, build
from ems.ml.rca.feedback import COMMAND
from ems.schemas.incident import IncidentChanged, Member

K = 20.0  # labels at which the online part weighs as much as the forest (EMS_RCA_ONLINE_K)
LEARNING_RATE = 0.05  # of the SGD optimizer (chosen by `python -m ems.ml.rca.online_eval`)
MAX_WEIGHT = 0.5  # the online part's weight is at most this (EMS_RCA_ONLINE_MAX_WEIGHT)
KEPT_INCIDENTS = 50_000  # incidents whose members `Memberships` keeps (the latest changed)


class Row(Protocol):
    """A candidate's row: a `Candidate`, or a `LabelRow` of a label record."""

    asset_id: str
    values: Sequence[float]


class OnlineModel:
    """A river classifier of candidate rows, learned label by label."""

    def __init__(
        self, k: float = K, learning_rate: float = LEARNING_RATE, max_weight: float = MAX_WEIGHT
    ) -> None:
        if k <= 0:
            raise ValueError(f"k must be above 0, not {k}")
        if not 0 <= max_weight <= 1:
            raise ValueError(f"max_weight must be within 0-1, not {max_weight}")
        self.max_weight = max_weight
        from river import linear_model, optim, preprocessing  # here: ~0.15 s of import, only when on

        self.k = k
        self.model = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate)
        )
        self.labels = 0
        self.skipped: Counter[str] = Counter()

    @property
    def weight(self) -> float:
        """The online part's share of the blended probability: n / (n + k), at most `max_weight`."""
        return min(self.max_weight, self.labels / (self.labels + self.k))

    def learn(self, root: str, groups: Sequence[Sequence[Row]]) -> str | None:
        """Learn one label: `root` is the incident's root; `groups` its candidates, then the same
        incident's without the root's own alerts (`label_groups`), or those rows as a label record
        kept them. The reason when it cannot be learned (the root is not a candidate, nothing to tell
        it from); counted in `skipped`."""
        reason = None
        if not any(c.asset_id == root for c in groups[0]):
            reason = "the asset is not a candidate of the incident"
        elif len(groups[0]) < 2:
            reason = "a single candidate: nothing to tell it from"
        if reason is not None:
            self.skipped[reason] += 1
            return reason
        for candidates in groups:
            if len(candidates) < 2 or not any(c.asset_id == root for c in candidates):
                continue
            negative = 1.0 / (len(candidates) - 1)
            for c in candidates:
                positive = c.asset_id == root
                self.model.learn_one(_x(c.values), positive, w=1.0 if positive else negative)
        self.labels += 1
        return None

    def skip(self, reason: str) -> str:
        """Count a label that could not be learned (`learn_label`'s checks)."""
        self.skipped[reason] += 1
        return reason

    def score(self, rows: Iterable[Sequence[float]]) -> list[float]:
        """The online probability that each row is its incident's root."""
        return [self.model.predict_proba_one(_x(r)).get(True, 0.0) for r in rows]

    def state(self) -> dict[str, Any]:
        """What the model learned (for comparing two rebuilds): labels, skips and the weights."""
        lr = self.model["LogisticRegression"]
        return {
            "labels": self.labels,
            "skipped": dict(self.skipped),
            "weights": dict(lr.weights),
            "intercept": lr.intercept,
        }


def _x(values: Sequence[float]) -> dict[str, float]:
    return dict(zip(NAMES, values, strict=True))


class Memberships:
    """Each incident's current members, folded from the correlate stage's decisions (the latest
    `KEPT_INCIDENTS` incidents changed); a merged incident points at the one it merged into."""

    def __init__(self, kept: int = KEPT_INCIDENTS) -> None:
        self.kept = kept
        self.incidents: OrderedDict[str, dict[tuple[str, int], Member]] = OrderedDict()
        self.merged_into: dict[str, str] = {}

    def apply(self, records: Iterable[IncidentChanged]) -> None:
        for record in records:
            iid = record.incident.incident_id
            members = self.incidents.setdefault(iid, {})
            self.incidents.move_to_end(iid)
            for m in record.members:
                key = (m.alert_id, m.episode)
                if m.left_at is not None:
                    members.pop(key, None)
                elif key not in members or m.version >= members[key].version:
                    members[key] = m
            if record.incident.merged_into:
                self.merged_into[iid] = record.incident.merged_into
            while len(self.incidents) > self.kept:
                gone, _ = self.incidents.popitem(last=False)
                self.merged_into.pop(gone, None)

    def members(self, incident_id: str) -> list[Member] | None:
        """The current members of the incident (of the one it merged into, if it did); None: unknown."""
        seen = set()
        while incident_id in self.merged_into and incident_id not in seen:
            seen.add(incident_id)
            incident_id = self.merged_into[incident_id]
        found = self.incidents.get(incident_id)
        return None if found is None else list(found.values())


def learn_label(
    model: OnlineModel, memberships: Memberships, topology: Topology, cmd: Any
) -> tuple[str | None, list[list[Candidate]]]:
    """Learn from one command of `ems.commands` if it is root-cause feedback: its incident's members
    as the stage holds them, their candidates in today's topology. (None, the rows learned) when
    learned; (None, []) for another command; otherwise (the reason it was skipped, counted in
    `model.skipped`, [])."""
    if cmd.name != COMMAND:
        return None, []
    asset = cmd.args.get("asset_id")
    if not isinstance(asset, str) or not asset:
        return model.skip("no asset_id"), []
    members = memberships.members(cmd.target)
    if members is None:
        return model.skip("an incident the stage does not know"), []
    groups = label_groups(asset, members, topology)
    reason = model.learn(asset, groups)
    return reason, [] if reason else groups


def label_groups(root: str, members: Sequence[Member], topology: Topology) -> list[list[Candidate]]:
    """The incident's candidates, and once more without the root's own alerts (a root whose alert was
    lost, or that never alerts, must be named from what the topology implies): as the forest learns
    (`train.incident_rows`)."""
    groups = [build(members, topology)]
    without = [m for m in members if m.asset_id != root]
    if without and len(without) < len(members):
        groups.append(build(without, topology))
    return groups


def blend(forest: Sequence[float], online: Sequence[float], weight: float) -> list[float]:
    """(1 - weight) * forest + weight * online, per candidate."""
    return [(1 - weight) * f + weight * o for f, o in zip(forest, online, strict=True)]
