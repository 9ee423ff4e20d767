"""Parts of a ticket kept apart from `ems.schemas.ticket`: attachments (links to files kept elsewhere)
and a change's window (when it runs; the maintenance window it opens while scheduled).

`ticket.attach` / `ticket.detach` add and remove an attachment; `ticket.change_window` sets a change's
window while it is in draft or assessment (agents/desk_actions.py, agents/change_window.py).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ems.schemas.limits import Name, Offset, Text, Time
from ems.schemas.suppression import When, WindowId

AttachmentId = Annotated[str, Field(min_length=5, max_length=64, pattern=r"^att_[A-Za-z0-9_-]+$")]
MAX_ATTACHMENTS = 100  # per ticket (every change carries the ticket's whole snapshot)
WINDOW_STATUSES = ("draft", "assessment")  # a change's window is set while it is in one of these


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class AttachmentFields(_Model):
    """A link to a file kept elsewhere."""

    name: Text(200, 1)
    url: Text(2048, 1) = Field(description="http(s) URL of the file, at most 2048 characters")
    content_type: Text(256, 1) | None = Field(None, description="e.g. text/plain")
    size: Offset | None = Field(None, description="in bytes")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        return http_url(url)


class AttachArgs(AttachmentFields):
    """`attach`: an attachment with its id (the API's, `att_…`)."""

    attachment_id: AttachmentId


def http_url(url: str) -> str:
    """`url` when it is an absolute http(s) URL with a host and no white space; ValueError otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    if any(c.isspace() for c in url):
        raise ValueError("must not contain white space")
    return url


class DetachArgs(_Model):
    """`detach`: remove an attachment (it stays in the history)."""

    attachment_id: AttachmentId


class Attachment(_Model):
    attachment_id: AttachmentId
    name: Text(200, 1)
    url: Text(2048, 1)
    content_type: Text(256, 1) | None = None
    size: Offset | None = None
    at: Time
    by: Name
    removed_at: Time | None = None
    removed_by: Name | None = None


class ChangeWindowArgs(_Model):
    """`change_window` (and `change_window` at create): when a change runs, `[start, end)`. It touches
    the ticket's linked assets and its business services."""

    start: When
    end: When

    @model_validator(mode="after")
    def _ordered(self) -> ChangeWindowArgs:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ChangeWindow(ChangeWindowArgs):
    """A change's window on the ticket: while the change is scheduled, the maintenance window
    `window_id` covers it (until `cancelled_at`, when the change left its schedule early)."""

    window_id: WindowId | None = None
    cancelled_at: Time | None = None
