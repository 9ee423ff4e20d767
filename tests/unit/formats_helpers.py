"""Shared bits of the format translator tests: sample payloads and the pipeline's own normalizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import normalizer_from
from ems.api.formats.common import Severities
from ems.schemas.event import Event
from ems.schemas.observation import Observation
from ems.settings import Settings

DATA = Path(__file__).parent.parent / "data" / "ingest"
SETTINGS = Settings()
SEVERITIES = Severities.of(SETTINGS.severity_order, SETTINGS.clearing_severities)
NORMALIZER = normalizer_from(SETTINGS)
LIFECYCLE = LifecyclePolicy.of(SETTINGS)


def sample(name: str) -> Any:
    """A sample payload from tests/data/ingest (see its README for the sources)."""
    return json.loads((DATA / name).read_text())


def normalized(obs: Observation) -> Event:
    """The event the normalize stage makes of `obs` (fingerprint included)."""
    return NORMALIZER.normalize(obs, 0, 0)
