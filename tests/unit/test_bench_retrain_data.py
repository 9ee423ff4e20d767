"""The retrain benchmark's log (`ems.bench.retrain_data`): copies of a scenario's decisions are new
incidents and alerts on the same registry, and every feedback command labels one of them."""

from __future__ import annotations

from ems.bench.retrain_data import corpus, renamed
from ems.ml.rca.feedback import labels_from
from ems.ml.rca.replay import MemberFold, decode_decisions
from ems.schemas.asset import AssetChanged
from ems.schemas.command import Command
from ems.streams.codecs import decode


def test_copies_rename_incidents_and_alerts_and_the_feedback_labels_them() -> None:
    one = corpus(1, [102])
    two = corpus(one.counts["alerts"] + 1, [102])  # one copy is not enough: a second one
    assert two.counts["alerts"] == 2 * one.counts["alerts"]
    assert (one.counts["copies"], two.counts["copies"]) == (1, 2)
    n = len(one.incidents)
    assert renamed(two.incidents[0], 1) == two.incidents[n] != two.incidents[0]
    assert len(two.assets) == len(one.assets)  # one registry: the copies reuse the assets
    fold = MemberFold()
    for value in two.incidents:
        fold.add(decode_decisions(value))
    incidents = fold.incidents()
    originals = [i for i in incidents if not i.startswith("inc_r1-")]
    assert len(incidents) == 2 * len(originals) > 5
    for i in originals:
        copy = incidents["inc_r1-" + i.removeprefix("inc_")]
        assert [(m.asset_id, m.event) for m in copy] == [(m.asset_id, m.event) for m in incidents[i]]
        assert all(m.alert_id.startswith("alr_r1-") for m in copy)
    labels = labels_from(decode(v, Command) for _, v in two.feedback)
    assert labels and set(labels) <= set(incidents)
    assets = {decode(v, AssetChanged).asset.asset_id for _, v in two.assets}
    for label in labels.values():
        assert label.asset_id in assets
        assert label.verdict in ("confirm", "correct")
    assert two.counts["feedback"] == len(labels) < two.counts["fault_incidents"]
