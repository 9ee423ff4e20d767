"""Routing: which receivers an alert goes to, and the idempotency key of each notification.

Pure: the same alert fields and rules give the same receivers, so a replay routes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from ems.noise.matchers import Fields, matches_all
from ems.notify.config import RouteConfig


def matching_routes(routes: Sequence[RouteConfig], fields: Fields) -> list[int]:
    """The indexes of the routes matching `fields`. Routes are tried in order; a match ends the search
    unless the route sets `continue`. A route without matchers matches all."""
    out: list[int] = []
    for i, route in enumerate(routes):
        if not matches_all(route.compiled(), fields):
            continue
        out.append(i)
        if not route.continue_:
            break
    return out


def receivers_for(routes: Sequence[RouteConfig], fields: Fields) -> list[str]:
    """The receivers of the routes matching `fields`, in order, each once."""
    out: list[str] = []
    for i in matching_routes(routes, fields):
        out += [name for name in routes[i].receivers if name not in out]
    return out


def notification_key(alert_id: str, version: int, receiver: str) -> str:
    """The idempotency key of the notification of one alert change to one receiver: the sender skips
    a key already delivered, and receivers get it (a header) to drop a copy."""
    return f"{alert_id}:{version}:{receiver}"
