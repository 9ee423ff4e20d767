"""The model registry as a fold of `ems.models`: which root-cause models exist and which one ranks.

`ModelRegistry` applies `ModelPublished` / `ModelActivated` records in log order (`apply`) and makes
the records of the next change (`publish`, `activate`, `rollback`), refusing with `RegistryError`
what the fold would refuse: a version never published, a version published twice with another
model, a rollback with no previous version. Nothing is live until an activation: the shipped model
(`shipped`, its version) ranks meanwhile, and is where a rollback of the first activation returns.
Pure: no Kafka (the CLI and the correlate stage read and append the records).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass

from ems.ml.rca.forest import Forest
from ems.schemas.model_registry import ModelActivated, ModelPublished


class RegistryError(ValueError):
    """A registry change or record refused; the message says why."""


def pack(forest: Forest, actor: str, training: dict | None = None) -> ModelPublished:
    """The record publishing `forest`."""
    raw = forest.to_json()
    return ModelPublished(
        version=forest.version,
        actor=actor,
        metrics=forest.metrics,
        training=training or {},
        sha256=hashlib.sha256(raw).hexdigest(),
        model=base64.b64encode(zlib.compress(raw, 9)).decode(),
    )


def unpack(record: ModelPublished) -> Forest:
    """The forest a record carries; RegistryError when it is corrupt or not the version it claims."""
    try:
        raw = zlib.decompress(base64.b64decode(record.model, validate=True))
    except (ValueError, zlib.error) as exc:
        raise RegistryError(f"model {record.version}: cannot decode ({exc})") from None
    if hashlib.sha256(raw).hexdigest() != record.sha256:
        raise RegistryError(f"model {record.version}: its SHA-256 does not match the model carried")
    try:
        forest = Forest.from_json(raw, f"model {record.version}")
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    if forest.version != record.version:
        raise RegistryError(f"model {record.version}: the model carried is version {forest.version}")
    return forest


@dataclass(frozen=True)
class Entry:
    """A published version, as `ems model list` shows it."""

    version: str
    published_at: str
    actor: str
    sha256: str
    metrics: dict
    training: dict


class ModelRegistry:
    """The state of `ems.models` after the records applied."""

    def __init__(self, shipped: str) -> None:
        self.shipped = shipped
        self.published: dict[str, ModelPublished] = {}  # in publication order
        self.active: str = shipped
        self.previous: list[str] = []  # live before `active`, oldest first
        self.seq = 0  # the seq of the last activation applied

    def known(self, version: str) -> bool:
        return version == self.shipped or version in self.published

    # -- the fold --------------------------------------------------------------------------------
    def apply(self, record: ModelPublished | ModelActivated) -> None:
        """Fold one record; RegistryError (nothing changed) when it cannot be applied."""
        if isinstance(record, ModelPublished):
            old = self.published.get(record.version)
            if record.version == self.shipped:
                raise RegistryError(f"version {record.version} is the shipped model's: choose another")
            if old is not None and old.sha256 != record.sha256:
                raise RegistryError(f"version {record.version} was published before with another model")
            if old is None:
                self.published[record.version] = record
            return
        unknown = [v for v in (record.version, *record.previous) if not self.known(v)]
        if unknown:
            raise RegistryError(f"unknown model version {unknown[0]}: never published")
        if record.seq <= self.seq:
            raise RegistryError(
                f"activation {record.seq} of {record.version} comes after activation {self.seq}: "
                "appended concurrently with another change, not applied"
            )
        self.active, self.previous, self.seq = record.version, list(record.previous), record.seq

    # -- the next change -------------------------------------------------------------------------
    def publish(self, record: ModelPublished, actor: str) -> list[ModelPublished | ModelActivated]:
        """Publish `record` and make it live: the records to append, checked against the fold."""
        if record.version in self.published:
            raise RegistryError(
                f"version {record.version} is published already: choose another version "
                f"(`ems model activate {record.version}` makes it live again)"
            )
        trial = self.copy()
        trial.apply(record)
        return [record, trial.activate(record.version, actor, "publish")]

    def activate(self, version: str, actor: str, reason: str = "activate") -> ModelActivated:
        """Make a published version live; the one live now becomes the previous."""
        if not self.known(version):
            raise RegistryError(f"unknown model version {version}: `ems model list` shows the published ones")
        if version == self.active:
            raise RegistryError(f"model {version} is live already")
        return ModelActivated(
            version=version,
            seq=self.seq + 1,
            previous=[*self.previous, self.active],
            reason=reason,
            actor=actor,
        )

    def rollback(self, actor: str, to: str | None = None) -> ModelActivated:
        """Return to the version live before this one (or to `to`, one of those live before)."""
        if not self.previous:
            raise RegistryError(
                f"no previous version to roll back to: {self.active} is the first live model"
                + (" (the shipped one)" if self.active == self.shipped else "")
            )
        if to is None:
            to = self.previous[-1]
        if to not in self.previous:
            live = ", ".join(reversed(self.previous))
            raise RegistryError(f"{to} was not live before {self.active}: roll back to one of {live}")
        cut = len(self.previous) - 1 - self.previous[::-1].index(to)
        return ModelActivated(
            version=to, seq=self.seq + 1, previous=self.previous[:cut], reason="rollback", actor=actor
        )

    # -- reading ---------------------------------------------------------------------------------
    def copy(self) -> ModelRegistry:
        other = ModelRegistry(self.shipped)
        other.published, other.active = dict(self.published), self.active
        other.previous, other.seq = list(self.previous), self.seq
        return other

    def entries(self) -> list[Entry]:
        """The published versions, oldest first."""
        return [
            Entry(r.version, r.occurred_at.isoformat(), r.actor, r.sha256, r.metrics, r.training)
            for r in self.published.values()
        ]

    def live_forest(self) -> Forest | None:
        """The live model's forest; None while the shipped one is live."""
        record = self.published.get(self.active)
        return unpack(record) if record is not None else None
