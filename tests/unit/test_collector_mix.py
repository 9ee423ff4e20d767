"""The collector-mix generator (bench/collector_mix_data.py): proportions, the collector's shape, faults."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from ems.bench.collector_mix_data import Fleet, probe
from ems.collectors.snmp_collector import Poller
from ems.collectors.snmp_config import Device
from ems.collectors.snmp_discovery import natural_key
from ems.collectors.snmp_thresholds import Thresholds
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, MetricsBody, Observation
from ems.streams.codecs import decode, encode

START = 1_700_000_000.0
DEVICE_SERIES = {"snmp_latency_ms", "packet_loss_pct", "sys_uptime_s", "cpu_util_pct"}
INTERFACE_SERIES = {
    "if_in_bps",
    "if_out_bps",
    "if_in_util_pct",
    "if_out_util_pct",
    "if_in_errors_ps",
    "if_out_errors_ps",
    "if_in_discards_ps",
    "if_out_discards_ps",
}


@pytest.fixture(scope="module")
def rounds() -> list[list[Observation]]:
    fleet = Fleet(200, START)
    return [list(fleet.round(r)) for r in range(1, 7)]


def test_at_least_90_percent_of_observations_carry_samples_and_events_are_present(rounds):
    kinds = Counter(o.body.kind for one in rounds for o in one)
    assert kinds["metrics"] / (kinds["metrics"] + kinds["event"]) >= 0.9
    assert kinds["event"] >= 0.03 * kinds["metrics"]


def test_a_poll_carries_device_interface_and_system_series(rounds):
    obs = next(o for o in rounds[1] if o.asset_id == asset_id_for(natural_key("bench-00007", "")))
    by_name = Counter(s.name for s in obs.body.samples)
    assert set(by_name) >= DEVICE_SERIES
    assert all(by_name[name] == 4 for name in INTERFACE_SERIES)  # one per interface
    assert by_name["storage_used_pct"] == 2  # the disk and the physical memory
    interfaces = {s.labels["interface"] for s in obs.body.samples if s.name in INTERFACE_SERIES}
    assert interfaces == {"Gi0/0", "Gi0/1", "Gi0/2", "Gi0/3"}
    assert obs.occurred_at.timestamp() == START + 2 * 60


def test_records_are_what_the_collectors_poller_publishes(rounds):
    """The envelope the Poller wraps a body in (source, asset, key, type) is the generator's, and every
    record survives the codec the pipeline reads it with."""
    sent: list[Observation] = []

    async def sink(topic: str, record) -> None:
        sent.append(record)

    poller = Poller(None, Device(host="10.0.0.1"), Thresholds(), sink)  # type: ignore[arg-type]
    for obs in rounds[0][:50]:
        asyncio.run(poller._emit(obs.asset_id, obs.body))
        ours, theirs = obs.model_dump(exclude={"event_id", "occurred_at"}), sent[-1]
        assert ours == theirs.model_dump(exclude={"event_id", "occurred_at"})
        assert obs.key == theirs.key
        assert decode(encode(obs), Observation) == obs


def _events(rounds) -> list[tuple[str, str, str | None, str]]:
    return [
        (o.asset_id, o.body.event, o.body.resource, o.body.severity)
        for one in rounds
        for o in one
        if isinstance(o.body, EventBody)
    ]


def test_severity_changes_clears_and_duplicates_are_in_the_mix(rounds):
    history: dict[tuple, list[str]] = {}
    for asset, event, resource, severity in _events(rounds):
        history.setdefault((asset, event, resource), []).append(severity)
    storage = [h for (_, e, _), h in history.items() if e == "Threshold storage_used_pct"]
    assert any(h[:3] == ["warning", "critical", "ok"] for h in storage)  # change, then clear
    links = [h for (_, e, _), h in history.items() if e == "LinkDown"]
    assert any("major,major,ok" in ",".join(h) for h in links)  # re-sent after a restart: a duplicate
    assert any(h[:2] == ["major", "ok"] for h in links)
    unreachable = [h for (_, e, _), h in history.items() if e == "Device Unreachable"]
    assert unreachable and all(h[:2] == ["critical", "ok"] for h in unreachable)  # once per outage


def test_every_clear_follows_an_open_alert_so_the_read_models_can_count_it(rounds):
    """A clear with no alert opens nothing; the bench counts events by the alerts they folded into."""
    open_: set[tuple] = set()
    for asset, event, resource, severity in _events(rounds):
        key = (asset, event, resource)
        if severity == "ok":
            assert key in open_
            open_.discard(key)
        else:
            open_.add(key)


def test_probes_are_a_new_device_poll_and_a_device_unreachable():
    metrics, event = probe(3, START)
    assert isinstance(metrics.body, MetricsBody) and len(metrics.body.samples) >= 30
    assert event.body.event == "Device Unreachable" and event.body.severity == "critical"
    assert metrics.asset_id != event.asset_id and probe(4, START)[0].asset_id != metrics.asset_id
