"""`ems retrain --log` without Kafka: incidents from the stage's own decisions, labels from feedback,
the held-out split, the rows a label gives and the top-k scores (docs/rca.md)."""

from __future__ import annotations

from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.feedback import labels_from
from ems.ml.rca.rank import default_ranker
from ems.ml.rca.retrain import held_out, incidents_of, split, top_k
from ems.ml.rca.train import incident_rows
from ems.schemas.asset import Asset
from ems.schemas.command import Command
from tests.unit.helpers import asset, asset_obs


def network() -> list[Asset]:
    """A poller behind a WAN router; a core router in front of 4 switches with 4 servers each."""
    out = [asset("wan", "router", criticality=5)]
    out.append(asset("noc", "server", [("connected_to", "wan")], tags=["poller"]))
    out.append(asset("core", "router", [("connected_to", "wan")], criticality=5))
    for i in range(4):
        out.append(asset(f"sw{i}", "switch", [("connected_to", "core")], criticality=4))
        out += [asset(f"srv{i}{j}", "server", [("connected_to", f"sw{i}")], criticality=3) for j in range(4)]
    return out


def decided():
    behind = [f"sw{i}" for i in range(4)] + [f"srv{i}{j}" for i in range(4) for j in range(4)]
    observations = [asset_obs(0, "core")] + [asset_obs(3 + n, name) for n, name in enumerate(behind)]
    correlator, records = correlate(alert_changes(observations), network())
    return correlator.topology, records


def feedback(incident_id: str, asset_id: str, verdict: str = "correct") -> Command:
    args = {"asset_id": asset_id, "verdict": verdict}
    return Command(name="incident.root_cause", target=incident_id, actor="olga", args=args)


def test_incidents_are_rebuilt_from_the_decisions_with_their_current_members() -> None:
    _, records = decided()
    incidents = incidents_of(records)
    [(incident_id, members)] = incidents.items()
    assert incident_id == records[-1].incident.incident_id
    assert sorted(m.asset_id for m in members) == sorted(a.asset_id for a in network()[2:])


def test_the_held_out_split_is_stable_and_close_to_its_share() -> None:
    ids = [f"inc_{n}" for n in range(2000)]
    chosen = [i for i in ids if held_out(i, 0.25)]
    assert 0.2 < len(chosen) / len(ids) < 0.3
    assert chosen == [i for i in ids if held_out(i, 0.25)]
    assert not any(held_out(i, 0.0) for i in ids) and all(held_out(i, 1.0) for i in ids)


def test_only_labelled_incidents_whose_root_is_a_candidate_are_used() -> None:
    topology, records = decided()
    incidents = incidents_of(records)
    [incident_id] = incidents
    labels = labels_from([feedback(incident_id, "ast_core", "confirm"), feedback("inc_gone", "ast_sw0")])
    train, test, skipped = split(incidents, labels, topology, 0.0)
    assert (train, test) == ([incident_id], [])
    assert skipped == {"no decisions in the range": 1, "no feedback": 0}
    stray = labels_from([feedback(incident_id, "ast_elsewhere")])
    train, _, skipped = split(incidents, stray, topology, 0.0)
    assert train == [] and skipped["the labelled root is not a candidate (topology changed?)"] == 1
    _, _, skipped = split(incidents, {}, topology, 0.0)
    assert skipped["no feedback"] == 1


def test_a_label_gives_one_root_row_per_group_and_the_scores_follow_the_label() -> None:
    topology, records = decided()
    incidents = incidents_of(records)
    [incident_id] = incidents
    rows, y = incident_rows(incidents[incident_id], "ast_sw1", topology)
    assert sum(y) == 2 and len(rows) == len(y) > 2  # with and without sw1's own alert
    ranker = default_ranker()
    right = labels_from([feedback(incident_id, "ast_core", "confirm")])
    assert top_k(ranker, [incident_id], incidents, right, topology) == {
        "incidents": 1,
        "top1": 1.0,
        "top3": 1.0,
    }
    wrong = labels_from([feedback(incident_id, "ast_srv11")])
    assert top_k(ranker, [incident_id], incidents, wrong, topology)["top1"] == 0.0
    assert top_k(ranker, [], incidents, wrong, topology) == {"incidents": 0, "top1": None, "top3": None}
