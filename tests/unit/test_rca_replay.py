"""The fast replay path of `ems retrain --log` gives what the full path gives: the lean decoding and
member fold (`ml/rca/replay.py`) against full decoding and `final_members`; the island-restricted
`only_through`, the per-asset memo and one registry of several networks against each network's own
topology (the live stage's view); vectorized forest probabilities against `Forest.predict`."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import orjson
import pytest

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.topology import Topology
from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.features import build
from ems.ml.rca.rank import default_ranker
from ems.ml.rca.replay import MemberFold, decode_decisions
from ems.ml.rca.retrain import incidents_of, scored, top_k
from ems.ml.scenarios import generate
from ems.schemas.command import Command
from ems.schemas.incident import IncidentBatch
from ems.streams.codecs import DecodeError, decode, encode

SEEDS = (101, 102, 103)


@cache
def scenario(seed: int):
    """(topology, incident id -> members, records, assets) of a scenario through the pure pipeline."""
    s = generate(seed)
    assets = [a.asset() for a in s.network.specs.values()]
    config = replace(CorrelationConfig(), rca_model="off")
    correlator, records = correlate(alert_changes(s.observations()), assets, config)
    return correlator.topology, incidents_of(records), records, assets


def batches(records, size: int = 7) -> list[bytes]:
    return [encode(IncidentBatch(changes=records[i : i + size])) for i in range(0, len(records), size)]


def key(m) -> tuple:
    return (m.alert_id, m.episode, m.version, m.asset_id, m.event, m.title, m.opened_at, m.left_at)


def test_lean_decoding_and_the_fold_give_the_members_of_the_full_decoding() -> None:
    _, _, records, _ = scenario(101)
    raw = batches(records)
    fold = MemberFold()
    for value in raw:
        fold.add(decode_decisions(value))
    full = incidents_of(c for value in raw for c in decode(value, IncidentBatch).changes)
    got = fold.incidents()
    assert list(got) == list(full) and len(got) > 10
    assert {i: sorted(map(key, ms)) for i, ms in got.items()} == {
        i: sorted(map(key, ms)) for i, ms in full.items()
    }
    assert fold.decisions == len(records)
    assert fold.entries == sum(len(r.members) for r in records)
    # a single decision (not a batch) reads the same way
    assert decode_decisions(encode(records[0])) == decode_decisions(batches(records[:1])[0])


def test_older_records_go_through_upcasting_and_bad_ones_say_why() -> None:
    _, _, records, _ = scenario(101)
    body = orjson.loads(encode(IncidentBatch(changes=records[:3])))
    body["schema_version"] = 1
    for change in body["changes"]:
        change["schema_version"] = 1
        change["incident"].pop("rca", None)
    old = decode_decisions(orjson.dumps(body))
    assert old == decode_decisions(encode(IncidentBatch(changes=records[:3])))
    with pytest.raises(DecodeError, match="invalid JSON"):
        decode_decisions(b"{not json")
    with pytest.raises(DecodeError, match="expected a incident_batch or incident_changed"):
        decode_decisions(encode(Command(name="incident.root_cause", target="inc_1", actor="olga")))
    broken = orjson.loads(encode(records[0]))
    broken["members"][0]["opened_at"] = "yesterday"
    with pytest.raises(DecodeError, match="opened_at"):
        decode_decisions(orjson.dumps(broken))


def combined() -> Topology:
    """One registry holding the networks of `SEEDS` (their asset ids are distinct)."""
    topology = Topology()
    for seed in SEEDS:
        for asset in sorted(scenario(seed)[3], key=lambda a: a.asset_id):
            topology.upsert(asset)
    return topology


def test_only_through_walks_one_island_and_matches_the_whole_graph_walk() -> None:
    topology = combined()
    reached = topology.poller_hops()
    assert len(topology.anchors()) > len(SEEDS)  # pollers and islands of missing edges
    for asset in sorted(topology.nodes):
        whole = set(reached) - set(topology._walk(asset)) - {asset}
        assert topology.only_through(asset) == whole, asset


def test_features_over_one_registry_with_the_memo_equal_each_networks_own() -> None:
    topology = combined()
    compared = 0
    for seed in SEEDS:
        _, members, _, assets = scenario(seed)
        for incident in members.values():
            if any(m.asset_id is None for m in incident):
                # An alert naming no asset counts for the asset its title names by registry name, and
                # the combined registry repeats every network's names: no evidence there (by design).
                continue
            own = Topology()
            for asset in assets:
                own.upsert(asset)
            for group in (incident, incident[1:]):
                fresh = build(group, own)
                assert build(group, topology) == fresh
                assert build(group, topology) == fresh  # from the memo
                compared += len(fresh)
    assert compared > 100


def test_a_change_to_an_asset_forgets_what_was_derived_from_the_graph() -> None:
    topology = combined()
    asset = next(a for a in scenario(101)[3] if a.edges)
    assert topology.memo("t", "k", lambda: 1) == 1
    assert topology.memo("t", "k", lambda: 2) == 1
    topology.upsert(asset.model_copy(update={"criticality": (asset.criticality or 0) % 5 + 1}))
    assert topology.memo("t", "k", lambda: 2) == 2
    topology.upsert(asset.model_copy(update={"edges": []}))
    assert topology.memo("t", "k", lambda: 3) == 3


def test_vectorized_probabilities_and_held_out_scores_match_the_ranker() -> None:
    ranker = default_ranker()
    topology, members, _, _ = scenario(102)
    rows = [c.values for ms in members.values() for c in build(ms, topology)]
    assert ranker.forest.probabilities(rows) == [ranker.forest.predict(x)[0] for x in rows]
    assert ranker.forest.probabilities([]) == []

    class Label:
        def __init__(self, asset_id: str) -> None:
            self.asset_id = asset_id

    ids = [i for i, ms in members.items() if ms[0].asset_id]
    for pick in (0, 1, 2):  # labels: the ranker's own first, second and third choices
        ranked = {i: [c.asset_id for _, c, _, _ in ranker.scored(members[i], topology)] for i in ids}
        labels = {i: Label(r[min(pick, len(r) - 1)]) for i, r in ranked.items()}
        top1 = sum(ranked[i][0] == labels[i].asset_id for i in ids) / len(ids)
        got = top_k(ranker, ids, members, labels, topology)
        assert got == {"incidents": len(ids), "top1": round(top1, 3), "top3": 1.0}
        assert (top1 == 1.0) == (pick == 0)
        both = scored({"a": ranker.forest, "b": ranker.forest}, ids, members, labels, topology)
        assert both["a"] == both["b"] == got
