"""Notification configuration: receivers and routing rules (`EMS_NOTIFY_RECEIVERS`, `EMS_NOTIFY_ROUTES`).

Both are JSON lists in the environment (pydantic-settings reads them). A route's `matchers` are
Alertmanager matchers (`ems.noise.matchers`) in the text form or as `[{name, op, value}]`; a bad one
is refused when the settings are read, naming the route and the matcher. Webhook secrets are
`SecretStr`: never logged, never in a record.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ems.noise.matchers import Matcher, MatcherError, as_matchers

ReceiverName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class MatcherSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = ""


class ReceiverConfig(BaseModel):
    """One receiver: `webhook` (JSON body signed with HMAC-SHA256), `slack` (incoming webhook) or
    `email` (over the SMTP server of `EMS_NOTIFY_SMTP_*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ReceiverName
    type: Literal["webhook", "slack", "email"]
    url: str | None = Field(None, pattern=r"^https?://\S+$", description="webhook, slack: where to POST")
    secret: SecretStr | None = Field(None, description="webhook: the HMAC-SHA256 key")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default_factory=list, description="email: the recipients"
    )

    @model_validator(mode="after")
    def _complete(self) -> ReceiverConfig:
        if self.type in ("webhook", "slack") and not self.url:
            raise ValueError(f"receiver {self.name!r}: a {self.type} receiver needs url")
        if self.type == "webhook" and self.secret is None:
            raise ValueError(f"receiver {self.name!r}: a webhook receiver needs secret (to sign its body)")
        if self.type == "email" and not self.to:
            raise ValueError(f"receiver {self.name!r}: an email receiver needs to (recipients)")
        return self


class RouteConfig(BaseModel):
    """A routing rule: the alerts all `matchers` match go to `receivers`. Rules are tried in order;
    the first match ends the search unless it sets `continue` (as in Alertmanager)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    matchers: str | list[MatcherSpec] = Field(default_factory=list)
    receivers: list[ReceiverName] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: str | list[MatcherSpec]) -> str | list[MatcherSpec]:
        compiled(value)
        return value

    def compiled(self) -> tuple[Matcher, ...]:
        return compiled(self.matchers)


def compiled(spec: str | list[MatcherSpec]) -> tuple[Matcher, ...]:
    """The core's matchers of a route; a ValueError naming the matcher at fault."""
    try:
        if isinstance(spec, str):
            return as_matchers(spec)
        return tuple(Matcher(m.name, m.op, m.value) for m in spec)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


def check_routes(routes: list[RouteConfig], receivers: list[ReceiverConfig], smtp_host: str | None) -> None:
    """Every route names known receivers, names are unique, and email has a server; ValueError if not."""
    names = [r.name for r in receivers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"notify_receivers: names used twice: {', '.join(twice)}")
    for i, route in enumerate(routes):
        unknown = [n for n in route.receivers if n not in names]
        if unknown:
            raise ValueError(f"notify_routes.{i}.receivers: unknown receiver(s) {', '.join(unknown)}")
    if smtp_host is None and any(r.type == "email" for r in receivers):
        raise ValueError("notify_smtp_host: an email receiver needs an SMTP server")
