"""The pipeline's pure cores without Kafka: observations -> events -> alert changes -> incidents.

Normalize and the dedupe/lifecycle fold are the stages' own cores (`ems.agents`), so the offline
evaluation sees the same alerts and episodes as the real pipeline; only the transport is missing.
"""

from __future__ import annotations

from collections.abc import Iterable

from ems.agents.dedupe import fold
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import normalizer_from
from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.correlation.episodes import in_time_order
from ems.schemas.alert import AlertChanged, Tracked
from ems.schemas.asset import Asset
from ems.schemas.incident import IncidentChanged
from ems.schemas.observation import Observation
from ems.settings import Settings


def alert_changes(
    observations: Iterable[Observation], settings: Settings | None = None
) -> list[AlertChanged]:
    """The alert changes the dedupe stage would publish, one per observation, in time order."""
    settings = settings or Settings()
    normalizer = normalizer_from(settings)
    policy = LifecyclePolicy.of(settings)
    state: dict[str, Tracked | None] = {}
    out = []
    ordered = sorted(observations, key=lambda o: (o.occurred_at, o.event_id))
    for offset, obs in enumerate(ordered):
        event = normalizer.normalize(obs, 0, offset)
        result = fold(state.get(event.fingerprint), [event], policy)
        state[event.fingerprint] = result.tracked
        if (change := result.change()) is not None:
            out.append(change)
    return out


def folded_changes(
    observations: Iterable[Observation], settings: Settings | None = None
) -> list[AlertChanged]:
    """The alert changes of a stream compressed into one dedupe batch: one change per alert folding
    all of its events (the worst case of a replay), in fingerprint order."""
    settings = settings or Settings()
    normalizer = normalizer_from(settings)
    policy = LifecyclePolicy.of(settings)
    events: dict[str, list] = {}
    ordered = sorted(observations, key=lambda o: (o.occurred_at, o.event_id))
    for offset, obs in enumerate(ordered):
        event = normalizer.normalize(obs, 0, offset)
        events.setdefault(event.fingerprint, []).append(event)
    out = []
    for fingerprint in sorted(events):
        if (change := fold(None, events[fingerprint], policy).change()) is not None:
            out.append(change)
    return out


def correlate_in_time_order(
    changes: Iterable[AlertChanged], assets: Iterable[Asset], config: CorrelationConfig | None = None
) -> tuple[Correlator, list[IncidentChanged]]:
    """As the stage does with one input batch: the steps of every change in event-time order."""
    correlator = Correlator(config)
    for asset in assets:
        correlator.asset(asset)
    accepted = [(None, c) for c in changes if correlator.accept(c)]
    for _, step in in_time_order(accepted):
        correlator.step(step)
    return correlator, correlator.flush()


def correlate(
    changes: Iterable[AlertChanged],
    assets: Iterable[Asset],
    config: CorrelationConfig | None = None,
    flush_every: int = 1,
) -> tuple[Correlator, list[IncidentChanged]]:
    """Run the correlator over `changes` (after the assets), flushing every `flush_every` changes."""
    correlator = Correlator(config)
    for asset in assets:
        correlator.asset(asset)
    records: list[IncidentChanged] = []
    for n, change in enumerate(changes, 1):
        correlator.apply(change)
        if n % flush_every == 0:
            records.extend(correlator.flush())
    records.extend(correlator.flush())
    return correlator, records
