"""Operator commands on `ems.commands`: what the API appends for every write (ack, assign, asset edits...).

A command names what to do (`name`, e.g. `alert.ack`, `asset.create`), the entity it acts on
(`target`, the partition key: an alert's fingerprint, an asset id), who asked (`actor`) and why
(`reason`), with name-specific `args`. The API validates the args before appending (so a bad
command is a 4xx, not a dead letter); the agent that owns the entity validates again and applies it.
A command the agent refuses (e.g. an invalid transition) goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Text, json_object

MAX_ARGS_BYTES = 256 * 1024  # the API's request body limit (EMS_MAX_PAYLOAD_BYTES) by default


class Command(Record):
    """One operator write, keyed by the entity it targets."""

    TYPE: ClassVar[str] = "command"
    VERSION: ClassVar[int] = 1

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z]+\.[a-z_]+$")
    target: Text(256, 1) = Field(description="Entity id; the partition key")
    actor: Text(256, 1) = Field(description="User (or team/system) who asked")
    reason: Text(4096) = Field("", description="Free-text comment kept in the history")
    args: json_object(max_bytes=MAX_ARGS_BYTES) = Field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The part before the dot: `alert` or `asset`; each domain's agent takes only its own."""
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.target
