"""The model registry read model from `ems.models` (infra/migrations/022_rca_models.sql).

A publication is one `rca_models` row (the first one of a version wins, as in the registry's fold);
an activation replaces the `rca_model_live` row when its `seq` is higher (an activation appended
concurrently with another one of the same `seq` is refused by the fold and kept out here alike).
Activations naming unknown versions are refused by the CLI before they are appended.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.model_registry import ModelActivated, ModelPublished

MODEL_COLUMNS = ("version", "published_at", "actor", "sha256", "model_bytes", "metrics", "training")
LIVE_COLUMNS = ("slot", "version", "previous", "reason", "actor", "at", "seq")


class RcaModelsProjection:
    """ModelPublished -> rca_models; ModelActivated -> rca_model_live."""

    name = "rca_models"
    topic = "models"
    record_type = (ModelPublished, ModelActivated)
    models = Upsert("rca_models", MODEL_COLUMNS, conflict=("version",))
    live = Upsert("rca_model_live", LIVE_COLUMNS, conflict=("slot",), version="seq")
    upserts = (models, live)

    def rows(self, record: ModelPublished | ModelActivated) -> Iterable[tuple[Upsert, Row]]:
        if isinstance(record, ModelPublished):
            yield (
                self.models,
                (
                    record.version,
                    record.occurred_at,
                    record.actor,
                    record.sha256,
                    len(record.model),
                    Jsonb(record.metrics),
                    Jsonb(record.training),
                ),
            )
            return
        yield (
            self.live,
            (
                "active",
                record.version,
                list(record.previous),
                record.reason,
                record.actor,
                record.occurred_at,
                record.seq,
            ),
        )
