"""The anomaly stage's pure core: river Half-Space Trees per metric family -> MetricAnomaly raises/clears."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.agents.anomaly_worker import AnomalyWorker, config_of
from ems.ml.anomaly.detector import AnomalyConfig, Detector
from ems.ml.anomaly.events import EVENT, feed
from ems.schemas.observation import EventBody, MetricSample, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(seconds=10)


def record(values: list[float], start: int = 0, asset: str = "r1", tenant: str | None = None) -> Observation:
    """One metrics observation: `values` of cpu{core=0} every 10 s from sample number `start`."""
    samples = [
        MetricSample(name="cpu", value=v, labels={"core": "0"}, at=T0 + (start + i) * STEP)
        for i, v in enumerate(values)
    ]
    return Observation(
        event_id=f"m-{asset}-{start}",
        occurred_at=T0 + (start + len(values)) * STEP,
        source="nms",
        asset_id=asset,
        tenant=tenant,
        body=MetricsBody(samples=samples),
    )


def run(values: list[float], config: AnomalyConfig | None = None, per_record: int = 50) -> list[Observation]:
    detector = Detector(config or AnomalyConfig())
    out: list[Observation] = []
    for i in range(0, len(values), per_record):
        out += feed(detector, record(values[i : i + per_record], start=i))
    return out


def noise(rng: random.Random, n: int, level: float = 50.0, sd: float = 2.0) -> list[float]:
    return [level + rng.gauss(0, sd) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_a_steady_series_raises_nothing(seed: int) -> None:
    rng = random.Random(seed)
    assert run(noise(rng, 2000)) == []
    assert run([rng.lognormvariate(3, 0.6) for _ in range(2000)]) == []  # skewed, heavy-tailed
    assert run([float(i % 37) for i in range(2000)]) == []  # a sawtooth counter


@pytest.mark.parametrize("seed", range(5))
def test_a_level_shift_raises_one_anomaly_then_clears_it(seed: int) -> None:
    rng = random.Random(seed)
    values = noise(rng, 300) + noise(rng, 20, level=80) + noise(rng, 100)
    raised, cleared = run(values)
    assert isinstance(raised.body, EventBody) and isinstance(cleared.body, EventBody)
    assert (raised.body.event, raised.body.severity) == (EVENT, "warning")
    assert (cleared.body.event, cleared.body.severity) == (EVENT, "ok")
    # Raised at the fifth anomalous sample (EMS_ANOMALY_CONSECUTIVE), cleared at the fifth normal one.
    assert raised.occurred_at == T0 + 304 * STEP
    assert cleared.occurred_at == T0 + 324 * STEP
    assert raised.asset_id == cleared.asset_id == "r1"
    assert raised.body.resource == cleared.body.resource == "cpu{core=0}"
    attrs = raised.body.attributes
    assert attrs["metric"] == "cpu" and attrs["labels"] == {"core": "0"}
    assert attrs["value"] == values[304] and attrs["score"] >= 0.93 and 45 < attrs["usual"] < 55


@pytest.mark.parametrize("seed", range(5))
def test_a_smaller_shift_raises_and_a_lone_spike_does_not(seed: int) -> None:
    rng = random.Random(seed)
    smaller = run(noise(rng, 300) + noise(rng, 20, level=62) + noise(rng, 100))  # 6 standard deviations
    assert [o.body.severity for o in smaller][:1] == ["warning"]
    assert [o.body.severity for o in smaller][-1] == "ok"
    assert run(noise(rng, 300) + [500.0] * 4 + noise(rng, 100)) == []  # 4 samples are not 5 in a row


def test_no_verdict_before_the_warm_up() -> None:
    config = AnomalyConfig(warmup=30, window=100)
    rng = random.Random(1)
    # A jump at sample 10 of a new series: nothing, its level is not known yet.
    assert run(noise(rng, 10) + [500.0] * 9 + noise(rng, 300), config) == []
    # A warm family, then a new series of it jumping within its first 30 samples: nothing either.
    detector = Detector(config)
    assert feed(detector, record(noise(rng, 300), asset="r1")) == []
    assert feed(detector, record(noise(rng, 20) + [500.0] * 9, asset="r2")) == []
    # The same jump on a series after its 30 warm-up samples is an anomaly.
    out = feed(detector, record(noise(rng, 30) + [500.0] * 5, asset="r3"))
    assert [(o.asset_id, o.body.severity) for o in out] == [("r3", "warning")]


def test_a_family_scores_only_after_its_window() -> None:
    rng = random.Random(2)
    # Warm series (30) but a family with fewer than 100 learned samples: a jump at 60 raises nothing.
    assert run(noise(rng, 60) + [500.0] * 9 + noise(rng, 10), AnomalyConfig(window=100)) == []


def test_the_same_log_gives_the_same_events_whatever_the_batching() -> None:
    rng = random.Random(3)
    values = noise(rng, 300) + noise(rng, 15, level=90) + noise(rng, 200) + noise(rng, 12, level=10)
    values += noise(rng, 100)
    first = [encode(o) for o in run(values)]
    assert len(first) == 4
    assert [encode(o) for o in run(values)] == first
    assert [encode(o) for o in run(values, per_record=7)] == first


def test_a_lasting_new_level_becomes_normal() -> None:
    rng = random.Random(4)
    config = AnomalyConfig(adapt_after=120, warmup=30)
    out = run(noise(rng, 300) + noise(rng, 400, level=80), config)
    assert [o.body.severity for o in out] == ["warning", "ok"]
    # Cleared once the new level has been anomalous 120 times and learned again (30 samples).
    assert T0 + (300 + 120 + 30) * STEP <= out[1].occurred_at < T0 + 500 * STEP


def test_tenants_and_label_sets_are_separate_series() -> None:
    rng = random.Random(5)
    detector = Detector()
    base = noise(rng, 300)
    assert feed(detector, record(base, tenant="a")) == []
    assert feed(detector, record(base, tenant="b")) == []
    out = feed(detector, record([500.0] * 5, start=300, tenant="b"))
    assert [(o.tenant, o.body.severity) for o in out] == [("b", "warning")]
    assert {k[0] for k in detector.families} == {"a", "b"}


def test_the_stage_takes_its_settings_and_never_commits_a_replay() -> None:
    settings = Settings.of_env({"EMS_ANOMALY_CONSECUTIVE": "4", "EMS_ANOMALY_WARMUP": "40"})
    assert (config_of(settings).consecutive, config_of(settings).warmup) == (4, 40)
    worker = AnomalyWorker(settings)
    worker.publish_from = {0: 100, 1: 100}
    tp0, tp1 = TopicPartition(worker.topics[0], 0), TopicPartition(worker.topics[0], 1)

    def msg(tp: TopicPartition, offset: int) -> ConsumerRecord:
        return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"", 0, 0, 0, [])

    batch = {tp0: [msg(tp0, 98), msg(tp0, 99)], tp1: [msg(tp1, 99), msg(tp1, 100)]}
    assert worker.offsets_to_commit(batch) == {tp1: 101}


def test_adapting_before_raising_is_refused() -> None:
    with pytest.raises(ValueError, match="anomaly_adapt_after"):
        Settings.of_env({"EMS_ANOMALY_ADAPT_AFTER": "5", "EMS_ANOMALY_CONSECUTIVE": "5"})


class _Letters:
    def __init__(self) -> None:
        self.rejected: list[str] = []

    async def reject(self, reason: str, record: object) -> None:
        self.rejected.append(reason)


async def test_an_unreadable_metrics_record_is_skipped_and_counted_not_dead_lettered() -> None:
    """The metrics projection dead-letters it: the anomaly stage only counts it (shown in /health)."""
    worker = AnomalyWorker(Settings())
    tp = TopicPartition(worker.topics[0], 0)
    before = worker.status.skipped
    letters = _Letters()
    bad = ConsumerRecord(tp.topic, 0, 5, 0, 0, None, b"{not json", 0, 0, 9, [])
    await worker.handle({tp: [bad]}, producer=None, dead=letters)  # nothing to publish: never used
    assert letters.rejected == [] and worker.status.skipped == before + 1
    assert worker.status.snapshot()["skipped"] == before + 1
