"""DBSCAN (scikit-learn) over episodes, on a precomputed distance (`DbscanConfig` documents it).

The features of an episode: its start (event time), its asset (the grouping graph gives the hops
between two), the words of its event name and title, and its context (services, tags, site). Each
component of the distance is in [0, 1] and the weights sum to 1, so `eps` reads as "how different
two episodes may be and still be neighbours".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ems.ml.correlation.config import DbscanConfig
from ems.ml.correlation.episodes import Episode
from ems.ml.correlation.topology import Topology


def distances(points: Sequence[Episode], topology: Topology, cfg: DbscanConfig) -> np.ndarray:
    """The symmetric matrix of distances between `points` (zero diagonal), computed as whole arrays:
    a step's window holds up to a few hundred points, and a loop over their pairs in Python was a
    tenth of a worker's time at a few hundred alerts a second."""
    starts = np.array([p.opened_at.timestamp() for p in points])
    time = np.minimum(1.0, np.abs(starts[:, None] - starts[None, :]) / cfg.time_scale_s)
    known = [p.asset_id if p.asset_id in topology.nodes else None for p in points]
    topo = _topology(known, topology, cfg)
    text = 1.0 - _jaccard([p.words for p in points])
    marks = [frozenset(p.service) | frozenset(f"tag:{t}" for t in p.tags) for p in points]
    shared = _incidence(marks)
    shared = (shared @ shared.T) > 0
    sites = [topology.nodes[a].site if a else None for a in known]
    codes = {s: i for i, s in enumerate(sorted({s for s in sites if s}))}
    site = np.array([codes[s] if s else -1 for s in sites])
    same_site = (site[:, None] == site[None, :]) & (site[:, None] >= 0)
    context = np.where(shared, 0.0, np.where(same_site, 0.5, 1.0))
    matrix = cfg.w_time * time + cfg.w_topology * topo + cfg.w_text * text + cfg.w_context * context
    tenants = np.array([p.tenant or "" for p in points], dtype=object)
    matrix[tenants[:, None] != tenants[None, :]] = 2.0  # two tenants' alerts are never neighbours
    np.fill_diagonal(matrix, 0.0)
    return matrix


def _topology(known: list[str | None], topology: Topology, cfg: DbscanConfig) -> np.ndarray:
    """hops / (max_hops + 1) between the points' assets (1 beyond max_hops, `unknown` for a point
    whose asset is not in the registry). Pair (i, j), i < j, is read from i's side and mirrored."""
    assets = sorted({a for a in known if a})
    index = {a: k for k, a in enumerate(assets)}
    between = np.ones((len(assets) + 1, len(assets) + 1))  # the last row and column: unknown
    for a, k in index.items():
        near = topology.memo("near", f"{cfg.max_hops}:{a}", lambda a=a: topology.near(a, cfg.max_hops))
        for b, hops in near.items():
            if b in index:
                between[k, index[b]] = hops / (cfg.max_hops + 1)
    between[-1, :] = between[:, -1] = cfg.unknown
    code = np.array([index[a] if a else len(assets) for a in known], dtype=int)
    rows = between[code[:, None], code[None, :]]
    return np.triu(rows) + np.triu(rows, 1).T


def _incidence(sets: Sequence[frozenset[str]]) -> np.ndarray:
    """A 0/1 matrix: row i marks the members of `sets[i]` (columns: every member, sorted)."""
    columns = {w: j for j, w in enumerate(sorted(set().union(*sets)))}
    out = np.zeros((len(sets), len(columns)))
    for i, members in enumerate(sets):
        out[i, [columns[w] for w in members]] = 1.0
    return out


def _jaccard(sets: Sequence[frozenset[str]]) -> np.ndarray:
    """|A & B| / |A | B| for every pair (0 when both are empty)."""
    m = _incidence(sets)
    inter = m @ m.T
    sizes = m.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def clusters(
    points: Sequence[Episode], topology: Topology, cfg: DbscanConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, distance matrix): DBSCAN's label per point, -1 for noise."""
    if len(points) < max(2, cfg.min_samples):
        return np.full(len(points), -1), np.zeros((len(points), len(points)))
    matrix = distances(points, topology, cfg)
    from sklearn.cluster import DBSCAN  # imported here: scikit-learn costs every `ems` process ~1 s to import

    labels = DBSCAN(eps=cfg.eps, min_samples=cfg.min_samples, metric="precomputed").fit_predict(matrix)
    return labels, matrix
