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
    """The symmetric matrix of distances between `points` (zero diagonal)."""
    n = len(points)
    starts = np.array([p.opened_at.timestamp() for p in points])
    time = np.minimum(1.0, np.abs(starts[:, None] - starts[None, :]) / cfg.time_scale_s)
    topo = np.full((n, n), 1.0)
    text = np.ones((n, n))
    context = np.ones((n, n))
    known = [p.asset_id if p.asset_id in topology.nodes else None for p in points]
    near = {a: topology.near(a, cfg.max_hops) for a in set(known) if a}
    site = [topology.nodes[a].site if a else None for a in known]
    marks = [frozenset(p.service) | frozenset(f"tag:{t}" for t in p.tags) for p in points]
    vocab = [p.words for p in points]
    for i in range(n):
        for j in range(i, n):
            if known[i] is None or known[j] is None:
                t = cfg.unknown
            else:
                hops = near[known[i]].get(known[j])
                t = 1.0 if hops is None else hops / (cfg.max_hops + 1)
            union = len(vocab[i] | vocab[j])
            x = 1 - (len(vocab[i] & vocab[j]) / union if union else 0.0)
            c = 0.0 if marks[i] & marks[j] else 0.5 if site[i] and site[i] == site[j] else 1.0
            topo[i, j] = topo[j, i] = t
            text[i, j] = text[j, i] = x
            context[i, j] = context[j, i] = c
    matrix = cfg.w_time * time + cfg.w_topology * topo + cfg.w_text * text + cfg.w_context * context
    tenants = np.array([p.tenant or "" for p in points], dtype=object)
    matrix[tenants[:, None] != tenants[None, :]] = 2.0  # two tenants' alerts are never neighbours
    np.fill_diagonal(matrix, 0.0)
    return matrix


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
