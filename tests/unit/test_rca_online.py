"""The online root-cause model learned from operator feedback (docs/rca.md "Online model"): a label moves
the ranking of a similar incident, a rebuild from the same commands gives the same state, bad commands
are skipped with their reason, and with no label (or the setting off) the forest ranks alone; the
evaluation's simulated operator (`online_eval`)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.agents.correlate_worker import CorrelateWorker, config_from
from ems.agents.feedback_follower import FeedbackFollower
from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.features import build
from ems.ml.rca.online import Memberships, OnlineModel, learn_label
from ems.ml.rca.rank import default_ranker
from ems.schemas.asset import Asset
from ems.schemas.command import Command
from ems.schemas.incident import IncidentBatch
from ems.schemas.observation import Observation
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from tests.unit.helpers import T0, asset, asset_obs

SITES = 6
CONFIG = CorrelationConfig(rca_online_k=5.0)


def sites() -> list[Asset]:
    """A poller behind a WAN router; sites of a switch with two servers behind it."""
    out = [asset("wan", "router"), asset("noc", "server", [("connected_to", "wan")], tags=["poller"])]
    for s in range(SITES):
        out.append(asset(f"s{s}-sw", "switch", [("connected_to", "wan")]))
        out += [asset(f"s{s}-srv{j}", "server", [("connected_to", f"s{s}-sw")]) for j in range(2)]
    return out


def outages() -> list[Observation]:
    """Each site's switch and servers down, an hour apart: one incident per site."""
    out = []
    for s in range(SITES):
        at = 3600 * s
        out += [asset_obs(at, f"s{s}-sw"), asset_obs(at + 2, f"s{s}-srv0"), asset_obs(at + 3, f"s{s}-srv1")]
    return out


@pytest.fixture(scope="module")
def world():
    """The correlator after the outages, its records, and each site's incident id."""
    core, records = correlate(alert_changes(outages()), sites())
    memberships = Memberships()
    memberships.apply(records)
    by_site = {}
    for iid, members in memberships.incidents.items():
        names = {m.asset_id for m in members.values()}
        for s in range(SITES):
            if f"ast_s{s}-sw" in names:
                by_site[s] = iid
    assert len(by_site) == SITES
    return core, records, memberships, by_site


def feedback(incident_id: str, asset_id: str, at: int = 0) -> Command:
    return Command(
        name="incident.root_cause",
        target=incident_id,
        actor="op",
        args={"asset_id": asset_id, "verdict": "correct"},
        occurred_at=T0 + timedelta(seconds=at),
    )


@dataclass(frozen=True)
class Msg:
    """What the follower reads of a Kafka record."""

    partition: int
    offset: int
    timestamp: int
    value: bytes | None


def test_labels_move_the_ranking_of_a_similar_incident(world) -> None:
    core, _, memberships, by_site = world
    ranker, online = default_ranker(), OnlineModel(k=1.0, max_weight=1.0)
    members = memberships.members(by_site[5])
    before = ranker.rank(members, core.topology, online)
    assert before.asset_id == "ast_s5-sw" and before.blend is None  # no label: the forest alone
    assert before == ranker.rank(members, core.topology)
    for s in range(4):  # the operators say: here it is always the first server
        assert (
            learn_label(online, memberships, core.topology, feedback(by_site[s], f"ast_s{s}-srv0"))[0] is None
        )
    after = ranker.rank(members, core.topology, online)
    assert online.labels == 4 and online.weight == pytest.approx(0.8)
    assert after.asset_id == "ast_s5-srv0"
    blend = after.blend
    assert blend.labels == 4 and blend.weight == 0.8 and blend.online > blend.forest
    assert after.confidence == pytest.approx(0.2 * blend.forest + 0.8 * blend.online, abs=1e-3)
    assert after.reasons and after.evidence  # the forest's explanation stays
    scores = dict(
        zip(
            (c.asset_id for c in build(members, core.topology)),
            online.score(c.values for c in build(members, core.topology)),
            strict=True,
        )
    )
    assert scores["ast_s5-srv0"] > max(scores["ast_s5-sw"], scores["ast_s5-srv1"])


def test_a_rebuild_from_the_same_commands_gives_the_same_state(world) -> None:
    core, records, _, by_site = world
    commands = [feedback(by_site[s], f"ast_s{s}-srv{s % 2}") for s in range(4)]
    msgs = [Msg(s % 2, s // 2, 1000 + s, encode(c)) for s, c in enumerate(commands)]
    live = FeedbackFollower(CONFIG)
    live.decisions(records)
    for m in msgs:  # one by one, as batches arrive
        live.apply([m], core.topology)
    live.apply(msgs[:2], core.topology)  # read twice (the rebuild's read overlaps): learned once
    rebuilt = FeedbackFollower(CONFIG)
    rebuilt.decisions(records)
    rebuilt.apply(list(reversed(msgs)), core.topology)  # the whole topic, partitions interleaved
    assert live.model.labels == rebuilt.model.labels == 4
    assert live.model.state() == rebuilt.model.state()
    assert live.summary == "online model: 4 labels learned, 0 skipped"
    rows = [c.values for c in build(rebuilt.memberships.members(by_site[5]), core.topology)]
    assert live.model.score(rows) == rebuilt.model.score(rows)
    other = FeedbackFollower(CONFIG)  # another order of the same labels learns another state
    other.decisions(records)
    other.apply([Msg(i, 0, 2000 - i, m.value) for i, m in enumerate(msgs)], core.topology)
    assert other.model.state() != rebuilt.model.state()


def test_a_restart_learns_the_recorded_rows_and_gets_the_live_model(world) -> None:
    core, records, _, by_site = world
    commands = [feedback(by_site[s], f"ast_s{s}-srv0") for s in range(3)]
    commands.append(feedback("inc_unknown", "ast_s0-sw"))  # skipped: recorded with its reason
    msgs = [Msg(0, i, 1000 + i, encode(c)) for i, c in enumerate(commands)]
    live = FeedbackFollower(CONFIG)
    live.decisions(records)
    live.apply(msgs[:2], core.topology)
    first = live.take()
    live.apply(msgs[2:], core.topology)
    labels = first + live.take()
    assert live.take() == [] and [lb.offset for lb in labels] == [0, 1, 2, 3]
    assert labels[3].skipped == "an incident the stage does not know" and labels[3].groups == []
    assert [len(lb.groups) for lb in labels[:3]] == [2, 2, 2]  # with and without the root's alerts
    assert live.positions() == {"commands:0": 4}
    # What the records carry survives the codec (the stage publishes them in an IncidentBatch).
    batch = decode(encode(IncidentBatch(labels=labels, positions=live.positions())), IncidentBatch)
    # The incidents change after the feedback (here: every member leaves site 0's incident), which
    # re-reading the commands against the later members would learn differently.
    changed = Memberships()
    changed.apply(records)
    changed.incidents[by_site[0]] = dict(list(changed.incidents[by_site[0]].items())[:1])
    again = FeedbackFollower(CONFIG)
    again.memberships = changed
    again.apply(msgs, core.topology)
    assert again.model.state() != live.model.state()
    restarted = FeedbackFollower(CONFIG)
    restarted.memberships = changed
    restarted.restore(batch.labels, batch.positions)
    assert restarted.model.state() == live.model.state()
    assert restarted.summary == live.summary == "online model: 3 labels learned, 1 skipped"
    restarted.apply(msgs, core.topology)  # the commands read again after a crash: already taken
    assert restarted.take() == [] and restarted.model.state() == live.model.state()


def test_a_full_record_leaves_the_rest_for_later_and_no_stamp_skews_a_partition(world) -> None:
    core, records, _, by_site = world
    # Partition 0's offset 1 was stamped before its offset 0 (two API processes' clocks): both count.
    stamps = {(0, 0): 50, (0, 1): 40, (1, 0): 45}
    msgs = [
        Msg(p, o, t, encode(feedback(by_site[i], f"ast_s{i}-srv0")))
        for i, ((p, o), t) in enumerate(stamps.items())
    ]
    follower = FeedbackFollower(CONFIG, budget=1)  # one label fills a record
    follower.decisions(records)
    taken = follower.apply(msgs, core.topology)
    [first] = follower.take()
    assert (first.partition, first.offset) == (1, 0)  # the earliest stamp of the partitions' heads
    assert taken.resume == {0: 0} and follower.positions() == {"commands:1": 1}
    got = []
    while len(got) < 2:  # the consumer reads them again from `resume`, a record each
        follower.apply([m for m in msgs if m.offset >= taken.resume.get(m.partition, 1)], core.topology)
        got += [(lb.partition, lb.offset) for lb in follower.take()]
        taken.resume = {0: 1}
    assert got == [(0, 0), (0, 1)] and follower.model.labels == 3


def test_an_incident_batch_of_v2_reads_as_v3_without_labels() -> None:
    old = {
        "type": "incident_batch",
        "schema_version": 2,
        "event_id": "b1",
        "changes": [],
        "positions": {"alerts:0": 5},
        "seq": 3,
    }
    batch = decode(orjson.dumps(old), IncidentBatch)
    assert batch.schema_version == 3 and batch.labels == [] and batch.positions == {"alerts:0": 5}


def test_bad_feedback_is_skipped_with_its_reason(world) -> None:
    core, records, memberships, by_site = world
    online = OnlineModel()
    bad = [
        (feedback("inc_unknown", "ast_s0-sw"), "an incident the stage does not know"),
        (feedback(by_site[0], "ast_s3-sw"), "the asset is not a candidate of the incident"),
        (Command(name="incident.root_cause", target=by_site[0], actor="op", args={}), "no asset_id"),
    ]
    for cmd, reason in bad:
        assert learn_label(online, memberships, core.topology, cmd)[0] == reason
    ack = Command(name="alert.ack", target="fp", actor="op", args={})
    assert learn_label(online, memberships, core.topology, ack)[0] is None  # not feedback: ignored
    assert online.labels == 0 and sum(online.skipped.values()) == 3
    assert online.skipped["an incident the stage does not know"] == 1
    follower = FeedbackFollower()
    follower.decisions(records)
    msgs = [Msg(0, i, i, encode(c)) for i, (c, _) in enumerate(bad)] + [Msg(0, 3, 3, b"\x00not a command")]
    msgs.append(Msg(0, 4, 4, b'{"name": "incident.root_cause", "target": '))  # feedback, cut short
    applied = follower.apply(msgs, core.topology)
    assert applied.skipped == [r for _, r in bad]
    assert applied.unreadable == 1  # the stage's `skipped`; other commands are not decoded
    assert follower.summary == "online model: 0 labels learned, 3 skipped"
    good = Msg(1, 0, 9, encode(feedback(by_site[0], "ast_s0-srv0")))
    [failed] = follower.apply([good], topology=None).skipped  # the code fails on it: skipped, not raised
    assert failed.startswith("failed on it: ") and follower.model.labels == 0


async def test_the_stage_counts_undecodable_feedback_in_its_skipped() -> None:
    worker = CorrelateWorker(Settings.of_env({"EMS_CORRELATION_GATHER": "0"}))
    worker.core = Correlator(worker.config)
    value = b'{"name": "incident.root_cause", "target": '
    msg = ConsumerRecord(worker.commands_topic, 0, 0, 0, 0, None, value, 0, 0, len(value), [])
    before = worker.status.skipped
    await worker.handle({TopicPartition(worker.commands_topic, 0): [msg]}, producer=None, dead=None)
    assert worker.status.skipped == before + 1 and worker.feedback.model.labels == 0


def test_memberships_follow_merges_and_departures(world) -> None:
    _, records, memberships, by_site = world
    moved = records[-1].model_copy(deep=True)
    fold = Memberships()
    fold.apply(records)
    assert {m.asset_id for m in fold.members(by_site[1])} == {"ast_s1-sw", "ast_s1-srv0", "ast_s1-srv1"}
    state = moved.incident.model_copy(update={"incident_id": by_site[1], "merged_into": by_site[0]})
    fold.apply([moved.model_copy(update={"incident": state, "members": []})])
    assert fold.members(by_site[1]) == fold.members(by_site[0])
    small = Memberships(kept=2)
    small.apply(records)
    assert len(small.incidents) == 2 and small.members(by_site[0]) is None


def test_the_weight_grows_with_the_labels_up_to_its_cap(world) -> None:
    core, records, memberships, by_site = world
    online = OnlineModel(k=2.0, max_weight=0.5)
    weights = [online.weight]
    for s in range(4):
        learn_label(online, memberships, core.topology, feedback(by_site[s], f"ast_s{s}-srv0"))[0]
        weights.append(online.weight)
    assert weights == [0.0, 1 / 3, 0.5, 0.5, 0.5]
    ranking = default_ranker().rank(memberships.members(by_site[5]), core.topology, online)
    assert ranking.blend.weight == 0.5 and ranking.blend.labels == 4


def test_the_settings_turn_it_off_and_set_its_weight() -> None:
    config = config_from(Settings(rca_online=False, rca_online_k=7.0, rca_online_max_weight=0.2))
    assert (config.rca_online, config.rca_online_k, config.rca_online_max_weight) == (False, 7.0, 0.2)
    follower = FeedbackFollower(config)
    assert follower.model is None and follower.summary == "online model off"
    on = FeedbackFollower(config_from(Settings(rca_online_k=7.0, rca_online_max_weight=0.2)))
    assert (on.model.k, on.model.max_weight) == (7.0, 0.2)
    with pytest.raises(ValueError, match="k must be above 0"):
        OnlineModel(k=0)
    with pytest.raises(ValueError, match="max_weight must be within 0-1"):
        OnlineModel(max_weight=1.5)


def test_the_evaluation_learns_the_wrong_verdicts_and_scores_both_rankings() -> None:
    from ems.ml.rca.online_eval import held_out, learn_feedback, report

    ranker, online = default_ranker(), OnlineModel()
    fed = learn_feedback(ranker, online, [1, 2, 3], "datacenter", "wrong")
    assert fed["wrong"] == fed["learned"] + fed["skipped"] and fed["learned"] > 0
    assert fed["verdicts"] > fed["wrong"]
    frozen = OnlineModel(max_weight=0.0)  # learned, but weighs nothing: the blend is the forest
    learn_feedback(ranker, frozen, [1], "datacenter", "all")
    same = held_out(ranker, frozen, [101], "datacenter")
    assert same["forest"] == same["blend"] and same["only_blend"] == same["only_forest"] == 0
    out = io.StringIO()
    report(held_out(ranker, online, [101], "datacenter"), out)
    assert "forest + online" in out.getvalue() and "named by the blend only" in out.getvalue()
