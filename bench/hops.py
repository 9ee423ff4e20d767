"""In-process cost of each hop of the events path, in µs per observation (`python -m ems.bench.hops`).

No servers: the bench's own observations are decoded and normalized (in full, and as the normalize
stage reads canonical ones: checked in plain Python, normalized to the Event's JSON form), grouped
into EventBatch records as the normalize stage does, folded by the lifecycle stage's `process_batch`
against an in-memory table, and the AlertChangedBatch records it produces are decoded and mapped to
rows by the alerts projection. Each step is timed on its own, best of `--repeat` runs (the minimum
is the figure least disturbed by other processes on a shared machine), and each hop's decode is
timed both with full validation (`decode`) and as a trusted internal record (`decode_trusted`).
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from ems.agents.dedupe_batch import BatchConfig, process_batch
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import events_value, normalizer_from
from ems.agents.normalize_worker import record_defaults as defaults
from ems.agents.severity import SeverityPolicy
from ems.agents.timers import TimerIndex as timers
from ems.bench.pipeline import _records
from ems.projections.alerts import AlertsProjection
from ems.projections.base import units_of
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.alert_command import EVENTS_TOPIC_RECORDS
from ems.schemas.event_canonical import canonical_event
from ems.schemas.observation import Observation
from ems.settings import Settings
from ems.streams.chunks import fitted_chunks
from ems.streams.codecs import decode, decode_trusted
from ems.streams.partitioning import partition_for


def best(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of `repeat` runs of `fn`, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        gc.collect()  # each run starts from the same collector state
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def messages(values: list[bytes], topic: str = "t") -> list[SimpleNamespace]:
    """Consumed-record stand-ins (`topic`, `partition`, `offset`, `key`, `value`, `timestamp`)."""
    return [
        SimpleNamespace(topic=topic, partition=0, offset=i, key=None, value=v, timestamp=1_700_000_000_000)
        for i, v in enumerate(values)
    ]


def build(n: int, assets: int, settings: Settings) -> dict[str, Any]:
    """Each hop's input bytes, made by the stages' own code from `n` bench observations."""
    raw = messages([value for _, value, _ in _records(n, assets, probe_every=100, run="hops")])
    core = normalizer_from(settings)
    grouped: dict[int, list[dict[str, Any]]] = {}
    per_record = settings.events_per_record
    for msg in raw:
        event = core.normalize_canonical(canonical_event(msg.value), 0, msg.offset)
        part = partition_for(event["fingerprint"].encode(), settings.partitions)
        grouped.setdefault(part, []).append(event)
    batches = [
        value
        for part, events in grouped.items()
        for value in fitted_chunks(events, functools.partial(events_value, part), per_record)
    ]
    config = BatchConfig(LifecyclePolicy.of(settings), settings.partitions, settings.events_per_record)
    result = process_batch(messages(batches), {}, timers(), config)
    changes = [value for values in result.outputs.values() for value in values]
    return {"raw": raw, "events": messages(batches), "alerts": messages(changes), "config": config}


def profile(n: int, assets: int, repeat: int) -> list[tuple[str, float]]:
    """(step, µs per observation) for each step of the events path."""
    settings = Settings()
    data = build(n, assets, settings)
    raw, events, alerts, config = data["raw"], data["events"], data["alerts"], data["config"]
    core = normalizer_from(settings)
    projection = AlertsProjection(SeverityPolicy.of(settings.severity_order, settings.clearing_severities))
    observations = [decode(m.value, Observation, defaults(m)) for m in raw]
    event_records = [decode(m.value, EVENTS_TOPIC_RECORDS) for m in events]
    change_records = [decode(m.value, AlertChangedBatch) for m in alerts]
    items = [event.model_dump(mode="json") for record in event_records for event in record.events]
    checked = [canonical_event(m.value) for m in raw]

    def run(fn: Callable[[], Any]) -> float:
        return best(fn, repeat) / len(raw) * 1e6

    def each(values: list[Any], fn: Callable[[Any], Any]) -> Callable[[], Any]:
        return lambda: [fn(v) for v in values]

    def chunks() -> list[bytes]:
        return list(fitted_chunks(items, functools.partial(events_value, 0), settings.events_per_record))

    obs, ev, ac = Observation, EVENTS_TOPIC_RECORDS, AlertChangedBatch
    steps = [
        (
            "raw: decode Observation (validated)",
            each(raw, lambda m: decode(m.value, obs, defaults(m))),
        ),
        ("normalize", each(observations, lambda o: core.normalize(o, 0, 0))),
        ("raw: check a canonical event observation", each(raw, lambda m: canonical_event(m.value))),
        ("normalize the checked observation", each(checked, lambda o: core.normalize_canonical(o, 0, 0))),
        ("encode EventBatch", chunks),
        ("events: decode EventBatch (validated)", each(events, lambda m: decode(m.value, ev))),
        ("events: decode EventBatch (trusted)", each(events, lambda m: decode_trusted(m.value, ev))),
        (
            "dedupe: process_batch (trusted decode included)",
            lambda: process_batch(events, {}, timers(), config),
        ),
        ("alerts: decode AlertChangedBatch (validated)", each(alerts, lambda m: decode(m.value, ac))),
        ("alerts: decode AlertChangedBatch (trusted)", each(alerts, lambda m: decode_trusted(m.value, ac))),
        ("alerts projection: rows", each(change_records, lambda r: units_of(projection, r))),
    ]
    print(
        f"# {len(raw)} observations, {len(items)} events in {len(events)} EventBatch records, "
        f"{sum(len(r.changes) for r in change_records)} alert changes in {len(alerts)} records; "
        f"best of {repeat}, µs per observation"
    )
    return [(name, run(fn)) for name, fn in steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=20_000)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, us in profile(args.observations, args.assets, args.repeat):
        print(f"{us:8.2f}  {name}")


if __name__ == "__main__":
    main()
