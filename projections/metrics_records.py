"""Reading `ems.metrics` records fast: parsed, not re-validated.

The normalize stage validates every observation at the raw topic and publishes each metrics
observation to `ems.metrics` in its canonical form (`ems.schemas.metrics_canonical`): as it came
when it was canonical already, else `encode` of the validated record. `read_metrics` reads such a
record with orjson and `read_canonical`'s plain checks, about a fifth of the cost of the full
decode. Anything else (an older schema version, a record a stage did not write, a replay of log
written before canonical records) goes through the full decode, so every record gives the rows it
gave before, and a record the full decode refuses raises its `DecodeError`, with the field and the
reason, which the runner dead-letters.
"""

from __future__ import annotations

from ems.schemas.metrics_canonical import MetricsRecord, Sample, canonical, from_observation
from ems.schemas.observation import Observation
from ems.streams.codecs import decode

__all__ = ["MetricsRecord", "Sample", "from_observation", "read_metrics"]


def read_metrics(raw: bytes | None, defaults: dict[str, object] | None = None) -> MetricsRecord:
    """The record's samples, parsed without re-validation when canonical (module docstring); else
    the full decode, with `defaults` for the envelope fields a record lacks (`codecs.decode`)."""
    record = canonical(raw)
    if record is None:  # not as normalize writes it: the full decode reads it or says why not
        record = from_observation(decode(raw, Observation, defaults=defaults))
    return record
