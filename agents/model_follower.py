"""The correlate stage's side of the model registry: fold `ems.models` records, install the live model.

`apply(raw)` folds one record (returning why it was refused, for a dead letter, or None);
`install(core)` puts the live model's ranker on the correlator when the live version changed. The
shipped model ranks while nothing was activated. With `rca_model` other than `default` (`off`, or a
file chosen by configuration), the configuration wins and the registry is only followed.
"""

from __future__ import annotations

from ems.ml.correlation.engine import Correlator
from ems.ml.rca.rank import Ranker, default_ranker
from ems.ml.rca.registry import ModelRegistry
from ems.schemas.model_registry import ModelActivated, ModelPublished
from ems.streams.codecs import decode


class ModelFollower:
    """The registry as the stage saw it, and the ranker of its live version."""

    def __init__(self, rca_model: str = "default") -> None:
        self.follows = rca_model == "default"
        self.registry = ModelRegistry(default_ranker().version)
        self.ranker: Ranker = default_ranker()

    @property
    def live(self) -> str:
        return self.ranker.version if self.follows else "chosen by configuration"

    def apply(self, raw: bytes | None) -> str | None:
        """Fold one record of `ems.models`; the reason when it is refused (the registry is unchanged)."""
        before = self.registry.copy()
        try:
            self.registry.apply(decode(raw, (ModelPublished, ModelActivated)))
            self._load()
        except ValueError as exc:  # DecodeError, RegistryError, a model of other features
            self.registry = before
            return str(exc)
        return None

    def _load(self) -> None:
        """The live version's ranker (unpacked once per change of the live version)."""
        if self.registry.active == self.ranker.version:
            return
        forest = self.registry.live_forest()
        self.ranker = Ranker(forest) if forest is not None else default_ranker()

    def install(self, core: Correlator) -> bool:
        """Put the live ranker on `core` (between batches); True when it changed the model."""
        if not self.follows or core.ranker is self.ranker:
            return False
        core.ranker = self.ranker
        return True
