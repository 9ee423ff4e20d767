"""A trained Random Forest as plain arrays: prediction and per-tree path contributions without sklearn.

scikit-learn trains it (`ems.ml.rca.train`); its trees are then kept as lists (children, split feature,
threshold, and the probability of "root cause" at every node) in a small JSON file. Reading it needs
no pickle and no scikit-learn (whose import costs every `ems` process about a second), and the same
file gives the same answers whatever library version is installed.

Contributions: walking a tree from its root to the leaf a candidate lands in, every split moves the
probability from the parent's value to the child's; that move is credited to the split's feature.
Averaged over the trees, the prediction = the forest's base value + the sum of the contributions
(the decomposition of Saabas' "treeinterpreter").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Tree:
    left: list[int]
    right: list[int]
    feature: list[int]
    threshold: list[float]
    p: list[float]  # probability of the positive class at each node

    def walk(self, x: tuple[float, ...], contrib: list[float]) -> float:
        """The leaf's probability for `x`, adding each split's move to `contrib`."""
        node = 0
        while self.left[node] >= 0:
            f = self.feature[node]
            child = self.left[node] if x[f] <= self.threshold[node] else self.right[node]
            contrib[f] += self.p[child] - self.p[node]
            node = child
        return self.p[node]

    def leaf(self, x: tuple[float, ...]) -> float:
        """The leaf's probability for `x` (`walk` without the contributions)."""
        node, left, right, feature, threshold = 0, self.left, self.right, self.feature, self.threshold
        while left[node] >= 0:
            node = left[node] if x[feature[node]] <= threshold[node] else right[node]
        return self.p[node]


@dataclass(frozen=True)
class Forest:
    """A forest over the features `names`, with its version and training metrics."""

    version: str
    names: tuple[str, ...]
    trees: tuple[Tree, ...]
    metrics: dict[str, Any]

    @property
    def base(self) -> float:
        return sum(t.p[0] for t in self.trees) / len(self.trees)

    def predict(self, x: tuple[float, ...]) -> tuple[float, list[float]]:
        """Probability that `x` is the root cause, and each feature's contribution to it."""
        contrib = [0.0] * len(self.names)
        total = sum(t.walk(x, contrib) for t in self.trees)
        n = len(self.trees)
        return total / n, [c / n for c in contrib]

    def probability(self, x: tuple[float, ...]) -> float:
        """`predict`'s probability alone (no contributions: what scoring a ranking needs)."""
        return sum(t.leaf(x) for t in self.trees) / len(self.trees)

    def probabilities(self, rows: list[tuple[float, ...]]) -> list[float]:
        """`probability` of each row, the trees walked over all rows at once (numpy): the same
        comparisons and the same sum order, so the same floats."""
        import numpy as np

        if not rows:
            return []
        x = np.asarray(rows, dtype=np.float64)
        at = np.arange(len(rows))
        total = np.zeros(len(rows))
        for t in self.trees:
            left, right = np.asarray(t.left), np.asarray(t.right)
            feature, threshold = np.asarray(t.feature), np.asarray(t.threshold)
            node = np.zeros(len(rows), dtype=np.int64)
            inner = left[node] >= 0
            while inner.any():
                here = node[inner]
                go_left = x[at[inner], feature[here]] <= threshold[here]
                node[inner] = np.where(go_left, left[here], right[here])
                inner = left[node] >= 0
            total += np.asarray(t.p)[node]
        return (total / len(self.trees)).tolist()

    @classmethod
    def from_sklearn(cls, model: Any, names: tuple[str, ...], version: str, metrics: dict) -> Forest:
        """From a fitted `RandomForestClassifier` over classes [0, 1]."""
        trees = []
        for est in model.estimators_:
            t = est.tree_
            value = t.value[:, 0, :]
            sums = value.sum(axis=1)
            p = [round(float(v[1] / s), 5) if s else 0.0 for v, s in zip(value, sums, strict=True)]
            trees.append(
                Tree(
                    left=[int(v) for v in t.children_left],
                    right=[int(v) for v in t.children_right],
                    feature=[int(v) if v >= 0 else -1 for v in t.feature],
                    threshold=[round(float(v), 6) for v in t.threshold],
                    p=p,
                )
            )
        return cls(version, tuple(names), tuple(trees), metrics)

    def to_json(self) -> bytes:
        """The model file's bytes (without the final newline)."""
        body = {
            "version": self.version,
            "names": list(self.names),
            "metrics": self.metrics,
            "trees": [[t.left, t.right, t.feature, t.threshold, t.p] for t in self.trees],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def dump(self, path: Path) -> None:
        path.write_bytes(self.to_json() + b"\n")

    @classmethod
    def from_json(cls, raw: bytes | str, where: str) -> Forest:
        """Read a forest written by `to_json`; what is not one raises ValueError naming `where`."""
        try:
            body = json.loads(raw)
            trees = tuple(Tree(*parts) for parts in body["trees"])
            return cls(body["version"], tuple(body["names"]), trees, body.get("metrics", {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: not a root-cause model ({exc})") from None

    @classmethod
    def load(cls, path: Path) -> Forest:
        """Read a forest written by `dump`; a file that is not one raises ValueError naming it."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: not a root-cause model ({exc})") from None
        return cls.from_json(raw, str(path))
