"""The root-cause model registry on `ems.models` (compacted): models published and which one is live.

`ModelPublished` carries a trained model whole (the forest's JSON, zlib-compressed and base64-encoded,
with its SHA-256) and its metrics, keyed `model:<version>` so compaction keeps every version.
`ModelActivated` names the live version and the versions live before it (newest last: what a rollback
returns to) and its `seq`, keyed `active` so compaction keeps the latest. See docs/rca.md "Model registry".
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Positive, Text, json_object

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
MAX_MODEL_BYTES = 6 * 1024 * 1024  # the encoded model; the topic takes 8 MiB records
Version = Text(64, 1)
Reason = Literal["publish", "activate", "rollback"]


class ModelPublished(Record):
    """A trained root-cause model, stored whole with its metrics."""

    TYPE: ClassVar[str] = "model_published"
    VERSION: ClassVar[int] = 1

    version: str = Field(pattern=VERSION_PATTERN, description="the model version recorded with verdicts")
    actor: Text(256, 1) = Field(description="who published it")
    metrics: json_object(max_keys=128, max_bytes=1024 * 1024) = Field(default_factory=dict)
    training: json_object(max_bytes=64 * 1024) = Field(
        default_factory=dict, description="what it was trained on: range, offsets, scenario seeds"
    )
    encoding: Literal["zlib+base64"] = "zlib+base64"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the model's JSON before compression")
    model: str = Field(min_length=1, max_length=MAX_MODEL_BYTES, description="the model file, encoded")

    @property
    def key(self) -> str:
        return f"model:{self.version}"


class ModelActivated(Record):
    """Which model version ranks from now on; `previous` the versions live before it, oldest first."""

    TYPE: ClassVar[str] = "model_activated"
    VERSION: ClassVar[int] = 1

    version: Version
    seq: Positive = Field(
        description="the registry's activation count after this one: a record not "
        "above the count already applied (appended concurrently) is refused"
    )
    previous: list[Version] = Field(default_factory=list, max_length=1000)
    reason: Reason
    actor: Text(256, 1)

    @property
    def key(self) -> str:
        return "active"
