"""Scenario generator and the offline evaluation: ground truth, scores, the CLI."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest
from sklearn.metrics import adjusted_rand_score

from ems.eval_cli import live_verdicts
from ems.ml.correlation.config import CorrelationConfig
from ems.ml.evaluate import Assigned, configured, final_members, main, run_offline, scores, seed_range
from ems.ml.offline import alert_changes, correlate, correlate_in_time_order, folded_changes
from ems.ml.rca.evaluate import Verdict, rca_report, verdicts
from ems.ml.rca.evaluate import scores as rca_scores
from ems.ml.rca.train import correlated
from ems.ml.scenarios import KINDS, generate
from ems.schemas.incident import RankedCandidate, Ranking


def test_scores_of_a_known_grouping() -> None:
    episodes = [
        Assigned("i1", "a", "device_down", 0.0),
        Assigned("i1", "a", "device_down", 10.0),
        Assigned("i1", "b", "db_cpu", 0.0),  # b wrongly joined a's incident
        Assigned("i2", "b", "db_cpu", 0.0),
        Assigned("i3", "n", "noise", 0.0),
    ]
    got = scores(episodes, overlaps=[("a", "b"), ("a", "n")])
    assert got["episodes"] == 5 and got["incidents"] == 3
    assert got["reduction"] == pytest.approx(1 - 3 / 5)
    assert got["ideal"] == pytest.approx(1 - 3 / 5)
    assert got["purity"] == pytest.approx((2 + 1 + 1) / 5)
    assert got["overlap_merged"] == pytest.approx(0.5)
    assert -1 < got["ari"] < 1
    perfect = [Assigned(e.label, e.label, e.kind, 0.0) for e in episodes]
    assert scores(perfect)["ari"] == pytest.approx(1.0) and scores(perfect)["purity"] == 1.0


def test_a_scenario_is_the_same_for_the_same_seed_and_labels_every_episode() -> None:
    one, two = generate(5), generate(5)
    assert one.alerts == two.alerts and one.alerts != generate(6).alerts
    assert {f.kind for f in one.faults} <= set(KINDS) and len(one.faults) >= 10
    truth = one.truth()
    opened = [
        c
        for c in alert_changes(one.observations())
        if any(t.kind in ("opened", "reopened") for t in c.transitions)
    ]
    assert opened
    for change in opened:
        start = next(t.at for t in change.transitions if t.kind in ("opened", "reopened"))
        assert (change.alert.asset_id, change.alert.event, start) in truth
    for a, b in one.overlaps():
        fa, fb = (next(f for f in one.faults if f.label == x) for x in (a, b))
        assert fa.site != fb.site and fa.start < fb.end and fb.start < fa.end
    # A service-level alert names no asset; every fault kind has a revenue-bearing service to reach.
    assert any(a.asset_id is None for a in one.alerts) or not any(f.kind == "db_cpu" for f in one.faults)


def test_the_offline_pipeline_groups_a_scenario_close_to_its_truth() -> None:
    episodes, overlaps = run_offline(generate(3), CorrelationConfig())
    got = scores(episodes, overlaps)
    assert got["purity"] >= 0.9 and got["ari"] >= 0.8
    assert got["reduction"] >= got["ideal"] - 0.1
    # Without correlation every episode would be its own incident: far from the truth.
    alone = [Assigned(str(n), e.label, e.kind, 0.0) for n, e in enumerate(episodes)]
    assert scores(alone)["ari"] < 0.1 and Counter(e.kind for e in episodes)["device_down"] > 0


def test_the_cli_prints_scores_and_takes_parameter_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert seed_range("1-3,7") == [1, 2, 3, 7]
    assert configured(["max_hops=3", "dbscan.eps=0.2"]).dbscan.eps == 0.2
    with pytest.raises(SystemExit, match="unknown parameter"):
        configured(["nope=1"])
    assert main(["--seeds", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"overall", "kinds", "rca"} and 0 <= out["overall"]["purity"] <= 1
    assert out["rca"]["overall"]["faults"] > 0 and 0 <= out["rca"]["overall"]["top1"] <= 1
    assert set(out["rca"]["kinds"]) <= {"device_down", "link_down", "db_cpu", "instance_stopped", "disk_full"}
    assert main(["--seeds", "4"]) == 0
    printed = capsys.readouterr().out
    assert "overlapping independent fault pairs merged" in printed and "root cause" in printed
    assert main(["--seeds", "4", "--json", "--set", "rca_model=off"]) == 0
    assert json.loads(capsys.readouterr().out)["rca"] is None


def test_a_stream_compressed_into_one_batch_gives_the_same_incidents() -> None:
    # A replay at full speed folds each alert's whole history (opens, flaps, clears) into one change;
    # its steps, put back in event-time order, decide as the event-by-event stream did.
    scenario = generate(101)
    assets = [s.asset() for s in scenario.network.specs.values()]
    observations = scenario.observations()
    _, streamed = correlate(alert_changes(observations), assets)
    _, folded = correlate_in_time_order(folded_changes(observations), assets)
    one = {(m.alert_id, m.opened_at): i for i, m in final_members(streamed)}
    two = {(m.alert_id, m.opened_at): i for i, m in final_members(folded)}
    assert set(one) == set(two) and len(one) > 50
    keys = sorted(one)
    assert adjusted_rand_score([one[k] for k in keys], [two[k] for k in keys]) > 0.95
    # Applied one change at a time instead, a folded history starts and ends at once: far worse.
    _, naive = correlate(folded_changes(observations), assets)
    three = {(m.alert_id, m.opened_at): i for i, m in final_members(naive)}
    assert adjusted_rand_score([one[k] for k in keys], [three.get(k, "?") for k in keys]) < 0.95


def test_the_rca_scores_count_the_missing_roots_no_ranking_can_reach(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def missing(root_candidate: bool | None) -> Verdict:
        return Verdict("device_down", "ast_sw", False, 3, None, root_candidate=root_candidate)

    got = rca_scores([missing(True), missing(False), missing(False)])
    assert got["overall"]["missing_root"] == 3 and got["overall"]["missing_root_candidate"] == 1
    rca_report(got, sys.stdout)
    assert "root missing: 3 faults, the root among the candidates in 1" in capsys.readouterr().out
    # Scored without the topology: not known, not reported.
    assert "missing_root_candidate" not in rca_scores([missing(None)])["overall"]


def test_the_never_alerted_roots_the_topology_implies_are_scored_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def ranked(*assets: str) -> Ranking:
        top = [RankedCandidate(asset_id=a, name=a, probability=0.5) for a in assets]
        return Ranking(
            model="m", asset_id=assets[0], name=assets[0], confidence=0.5, candidates=top, explanation="x"
        )

    def missing(ranking: Ranking | None, candidate: bool) -> Verdict:
        return Verdict("device_down", "ast_sw", False, 3, ranking, root_candidate=candidate)

    got = rca_scores(
        [
            missing(ranked("ast_sw", "b"), True),  # implied, named first
            missing(ranked("b", "c", "ast_sw"), True),  # implied, third
            missing(ranked("b", "c", "d"), True),  # implied, not in the top 3
            missing(ranked("b"), False),  # no registry path: not implied
        ]
    )["overall"]
    assert got["missing_root"] == 4 and got["missing_root_candidate"] == 3
    assert got["missing_root_top1"] == pytest.approx(1 / 4)
    assert got["implied_root_top1"] == pytest.approx(1 / 3)
    assert got["implied_root_top3"] == pytest.approx(2 / 3)
    rca_report({"overall": got, "kinds": {}}, sys.stdout)
    out = capsys.readouterr().out
    assert "root missing, implied by the topology: 3 faults, top-1 0.333, top-3 0.667" in out
    assert "impl_top1" in out.splitlines()[0]


def test_the_live_verdicts_know_the_candidates_from_the_scenarios_registry() -> None:
    scenario = generate(3)
    topology, members, latest = correlated(scenario)
    rows, titles = [], {}
    for incident_id, ms in members.items():
        for m in ms:
            rows.append((incident_id, m.asset_id, m.event, m.opened_at, m.joined_at))
            titles[(incident_id, m.asset_id, m.event, m.opened_at)] = (m.alert_id, m.title)
    rankings = {i: r.model_dump(mode="json") if r else None for i, r in latest.items()}
    live = live_verdicts([scenario], rows, rankings, titles)
    offline = verdicts(scenario, [(ms, latest.get(i)) for i, ms in members.items()], topology)
    assert [v.root_candidate for v in live] == [v.root_candidate for v in offline]
    assert all(v.root_candidate is not None for v in live)
    # Without the members' titles (an older caller), candidates are not computed.
    assert all(v.root_candidate is None for v in live_verdicts([scenario], rows, rankings))
