import pytest

from ems.agents.normalize import Rejected
from ems.schemas.observation import MetricSample, MetricsBody, Observation
from tests.unit.helpers import NORMALIZER, observation


def test_defaults_and_provenance() -> None:
    obs = observation(title="", tags=["b", "a", "b"], service=["web"])
    ev = NORMALIZER.normalize(obs, raw_partition=3, raw_offset=41)
    assert ev.event_id == obs.event_id == ev.observation_id
    assert ev.resource == "ast_router_01" and ev.title == "NodeDown"
    assert ev.tags == ["a", "b"] and ev.service == ["web"]
    assert (ev.raw_partition, ev.raw_offset) == (3, 41)
    assert ev.occurred_at == obs.occurred_at


def test_resource_given_wins_and_changes_fingerprint() -> None:
    a = NORMALIZER.normalize(observation(resource="eth0"), 0, 0)
    b = NORMALIZER.normalize(observation(resource="eth1"), 0, 1)
    assert a.resource == "eth0" and a.fingerprint != b.fingerprint


def test_severity_is_not_part_of_the_fingerprint() -> None:
    a = NORMALIZER.normalize(observation(severity="critical"), 0, 0)
    b = NORMALIZER.normalize(observation(severity="ok"), 0, 1)
    assert a.fingerprint == b.fingerprint


def test_unknown_severity_is_rejected_with_reason() -> None:
    with pytest.raises(Rejected, match="unknown severity 'apocalyptic'"):
        NORMALIZER.normalize(observation(severity="apocalyptic"), 0, 0)


def test_only_event_observations_are_normalized() -> None:
    obs = Observation(
        source="nms", asset_id="a", body=MetricsBody(samples=[MetricSample(name="cpu", value=1)])
    )
    with pytest.raises(TypeError):
        NORMALIZER.normalize(obs, 0, 0)
