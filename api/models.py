"""`GET /api/v1/models`: the root-cause model registry as the `rca_models` projection shows it
(docs/rca.md "Model registry"). Read-only: models are published and rolled back with `ems retrain
--log --publish` and `ems model ...`, appended to `ems.models`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ems.api.routing import Call, Endpoint
from ems.projections.rca_models import LIVE_COLUMNS, MODEL_COLUMNS

MODELS_SQL = f"SELECT {', '.join(MODEL_COLUMNS)} FROM rca_models ORDER BY published_at, version"
LIVE_SQL = f"SELECT {', '.join(LIVE_COLUMNS)} FROM rca_model_live WHERE slot = 'active'"


class Live(BaseModel):
    version: str = Field(description="the model ranking new incidents")
    shipped: bool = Field(description="the model shipped in ml/models/ (nothing published is live)")
    previous: list[str] = Field(description="versions live before it, oldest first (a rollback: the last)")
    reason: str | None = Field(description="publish, activate or rollback; none while the shipped one is")
    actor: str | None
    at: datetime | None


class PublishedModel(BaseModel):
    version: str
    published_at: datetime
    actor: str
    sha256: str = Field(description="of the model's JSON")
    model_bytes: int = Field(description="the encoded model's size on ems.models")
    metrics: dict[str, Any] = Field(description="training size, held-out scores, feature importances")
    training: dict[str, Any] = Field(description="what it was trained on: range, scenario seeds")


class ModelList(BaseModel):
    live: Live
    models: list[PublishedModel] = Field(description="published versions, oldest first")


def shipped_version() -> str:
    from ems.ml.rca.rank import default_ranker  # loaded once, on the first call

    return default_ranker().version


async def models_list(call: Call) -> Any:
    async with call.state.pool.connection() as conn:
        models = await (await conn.execute(MODELS_SQL)).fetchall()
        live = await (await conn.execute(LIVE_SQL)).fetchone()
    shipped = shipped_version()
    if live is None:
        now = {"version": shipped, "shipped": True, "previous": [], "reason": None, "actor": None, "at": None}
    else:
        now = {k: live[k] for k in ("version", "previous", "reason", "actor", "at")}
        now["shipped"] = live["version"] == shipped
    return {"live": now, "models": [dict(m) for m in models]}


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/models",
        models_list,
        permission="read:incidents",
        summary="The root-cause models published, with their metrics, and the live one",
        description="From the `ems.models` registry (docs/rca.md): `ems retrain --log --publish` "
        "publishes, `ems model rollback` returns to the previous version; the correlate stage ranks "
        "with the live one.",
        response=ModelList,
        tags=("incidents",),
    ),
]
