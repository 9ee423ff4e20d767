"""The model registry without Kafka: the fold of `ems.models` records (publish, activate, rollback,
refusals), the model carried whole, and the correlate stage's follower swapping its ranker
(docs/rca.md "Model registry")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ems.agents.model_follower import ModelFollower
from ems.cli import main
from ems.ml.correlation.engine import Correlator
from ems.ml.rca.forest import Forest
from ems.ml.rca.rank import DEFAULT_MODEL, default_ranker
from ems.ml.rca.registry import ModelRegistry, RegistryError, pack, unpack
from ems.model_cli import lines
from ems.projections.rca_models import RcaModelsProjection
from ems.schemas.model_registry import ModelActivated
from ems.streams.codecs import decode, encode

SHIPPED = default_ranker().version


def model(version: str) -> Forest:
    """The shipped forest under another version (a few trees: packing stays fast)."""
    forest = Forest.load(DEFAULT_MODEL)
    return replace(forest, version=version, trees=forest.trees[:5])


def published(registry: ModelRegistry, *versions: str) -> ModelRegistry:
    for v in versions:
        for record in registry.publish(pack(model(v), "ops"), "ops"):
            registry.apply(decode(encode(record), type(record)))  # as read back from the topic
    return registry


def test_the_shipped_model_is_live_until_a_publication_and_rollback_returns_to_it() -> None:
    registry = ModelRegistry(SHIPPED)
    assert registry.active == SHIPPED and registry.live_forest() is None
    with pytest.raises(RegistryError, match="no previous version.*the shipped one"):
        registry.rollback("ops")
    published(registry, "m-1")
    assert registry.active == "m-1" and registry.previous == [SHIPPED]
    assert registry.live_forest().version == "m-1"
    registry.apply(registry.rollback("ops"))
    assert registry.active == SHIPPED and registry.previous == []
    assert [e.version for e in registry.entries()] == ["m-1"]  # still published: can be activated again


def test_rollbacks_walk_back_through_the_versions_that_were_live() -> None:
    registry = published(ModelRegistry(SHIPPED), "m-1", "m-2", "m-3")
    assert registry.previous == [SHIPPED, "m-1", "m-2"]
    registry.apply(registry.rollback("ops"))
    assert (registry.active, registry.previous) == ("m-2", [SHIPPED, "m-1"])
    registry.apply(registry.rollback("ops", to=SHIPPED))
    assert (registry.active, registry.previous) == (SHIPPED, [])
    registry.apply(registry.activate("m-3", "ops"))
    assert (registry.active, registry.previous) == ("m-3", [SHIPPED])
    with pytest.raises(RegistryError, match="m-2 was not live before m-3"):
        registry.rollback("ops", to="m-2")


def test_unknown_versions_and_clashing_publications_are_refused_and_change_nothing() -> None:
    registry = published(ModelRegistry(SHIPPED), "m-1")
    with pytest.raises(RegistryError, match="unknown model version nope"):
        registry.activate("nope", "ops")
    with pytest.raises(RegistryError, match="unknown model version nope"):
        registry.apply(
            ModelActivated(version="nope", seq=9, previous=[SHIPPED], reason="activate", actor="x")
        )
    with pytest.raises(RegistryError, match="live already"):
        registry.activate("m-1", "ops")
    other = pack(replace(model("m-1"), trees=model("m-1").trees[:2]), "ops")
    with pytest.raises(RegistryError, match="published before with another model"):
        registry.apply(other)
    with pytest.raises(RegistryError, match="published already"):
        registry.publish(pack(model("m-1"), "ops"), "ops")
    with pytest.raises(RegistryError, match="the shipped model's"):
        registry.publish(pack(model(SHIPPED), "ops"), "ops")
    assert (registry.active, registry.previous) == ("m-1", [SHIPPED])
    registry.apply(pack(model("m-1"), "ops"))  # the same model read again (a replay): no change
    assert len(registry.entries()) == 1


def test_of_two_changes_made_from_the_same_state_the_first_appended_wins() -> None:
    registry = published(ModelRegistry(SHIPPED), "m-1", "m-2")
    first, second = registry.rollback("ops"), registry.rollback("ann", to=SHIPPED)
    assert first.seq == second.seq == registry.seq + 1
    registry.apply(first)
    with pytest.raises(RegistryError, match="appended concurrently with another change, not applied"):
        registry.apply(second)
    assert (registry.active, registry.previous) == ("m-1", [SHIPPED])
    registry.apply(registry.activate("m-2", "ops"))  # made from the current state: applied
    assert registry.active == "m-2"


def test_a_published_model_is_carried_whole_and_checked() -> None:
    forest = Forest.load(DEFAULT_MODEL)
    record = pack(replace(forest, version="m-full"), "ops", {"range": {"since": "2026-11-01"}})
    assert len(encode(record)) < 400_000  # compressed: far below the topic's 8 MiB records
    back = unpack(decode(encode(record), type(record)))
    assert back.trees == forest.trees and back.names == forest.names
    x = (0.5,) * len(forest.names)
    assert back.predict(x) == forest.predict(x)
    tampered = record.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(RegistryError, match="SHA-256 does not match"):
        unpack(tampered)
    with pytest.raises(RegistryError, match="cannot decode"):
        unpack(record.model_copy(update={"model": "not base64!"}))


def test_the_follower_swaps_the_correlators_ranker_and_refuses_bad_records() -> None:
    follower, core = ModelFollower(), Correlator()
    assert core.ranker is default_ranker()
    assert follower.install(core) is False
    registry = ModelRegistry(SHIPPED)
    for record in registry.publish(pack(model("m-1"), "ops"), "ops"):
        assert follower.apply(encode(record)) is None
        registry.apply(record)
    assert follower.install(core) is True and core.ranker.version == "m-1"
    assert follower.apply(b"{not json") is not None
    bad = ModelActivated(version="nope", seq=2, previous=[SHIPPED, "m-1"], reason="activate", actor="x")
    assert "unknown model version nope" in follower.apply(encode(bad))
    assert follower.install(core) is False and core.ranker.version == "m-1"
    assert follower.apply(encode(registry.rollback("ops"))) is None
    assert follower.install(core) is True and core.ranker is default_ranker()


def test_a_model_of_other_features_is_refused_by_the_follower() -> None:
    follower = ModelFollower()
    odd = replace(model("m-odd"), names=("a", "b"))
    records = ModelRegistry(SHIPPED).publish(pack(odd, "ops"), "ops")
    assert follower.apply(encode(records[0])) is None
    assert "trained on other features" in follower.apply(encode(records[1]))
    assert follower.registry.active == SHIPPED and follower.ranker is default_ranker()


def test_a_configured_model_wins_over_the_registry() -> None:
    follower, core = ModelFollower("off"), Correlator()
    core.ranker = None
    for record in ModelRegistry(SHIPPED).publish(pack(model("m-1"), "ops"), "ops"):
        follower.apply(encode(record))
    assert follower.install(core) is False and core.ranker is None


def test_the_list_marks_the_live_version_and_where_a_rollback_returns() -> None:
    registry = ModelRegistry(SHIPPED)
    assert lines(registry) == [f"* {SHIPPED:<32} shipped (ml/models/)"]
    scored = replace(model("m-2"), metrics={"held_out": {"model": {"incidents": 4, "top1": 0.75}}})
    for record in registry.publish(pack(model("m-1"), "ops"), "ops"):
        registry.apply(record)
    for record in registry.publish(pack(scored, "ann"), "ann"):
        registry.apply(record)
    shown = lines(registry)
    assert shown[0].startswith(f"  {SHIPPED}") and shown[1].startswith("  m-1") and " by ops" in shown[1]
    assert shown[2].startswith("* m-2") and shown[2].endswith("by ann held-out top-1 0.75 of 4")
    assert shown[3] == "rollback returns to m-1"


def test_the_projection_keeps_each_version_and_the_live_one_by_seq() -> None:
    projection, registry = RcaModelsProjection(), ModelRegistry(SHIPPED)
    published_record, activated = registry.publish(pack(model("m-1"), "ops", {"seeds": "1-2"}), "ops")
    [(upsert, row)] = projection.rows(published_record)
    assert upsert is projection.models and row[0] == "m-1" and row[2] == "ops"
    assert row[4] == len(published_record.model) and row[6].obj == {"seeds": "1-2"}
    [(upsert, row)] = projection.rows(activated)
    assert upsert is projection.live
    assert row == ("active", "m-1", [SHIPPED], "publish", "ops", activated.occurred_at, 1)
    # A higher seq replaces the live row; of two rows of one seq (two changes made from the same
    # state) the first appended stays, as in the registry's fold.
    later = (*row[:-1], 2)
    assert projection.live.collapse([row, later]) == [later]
    rival = ("active", SHIPPED, [], "rollback", "ann", activated.occurred_at, 1)
    assert projection.live.collapse([row, rival]) == [row]


def test_commands_refused_before_kafka_is_asked(tmp_path, capsys) -> None:
    (tmp_path / "not-a-model.json").write_text('{"version": "x"}')
    assert main(["model", "publish", str(tmp_path / "not-a-model.json")]) == 2
    assert "not a root-cause model" in capsys.readouterr().err
    assert main(["retrain", "--scenarios", "--publish"]) == 2
    assert "--publish goes with --log" in capsys.readouterr().err
    assert main(["retrain", "--log", "--publish", "--version", "bad version!"]) == 2
    assert "--version 'bad version!'" in capsys.readouterr().err
