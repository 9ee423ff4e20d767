"""Routing: which receivers an alert goes to, and the idempotency key of each notification.

Pure: the same alert fields and rules give the same receivers, so a replay routes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from ems.noise.matchers import Fields, matches_all
from ems.notify.config import RouteConfig


def receivers_for(routes: Sequence[RouteConfig], fields: Fields) -> list[str]:
    """The receivers of the routes matching `fields`, in order, each once. Routes are tried in order;
    a match ends the search unless the route sets `continue`. A route without matchers matches all."""
    out: list[str] = []
    for route in routes:
        if not matches_all(route.compiled(), fields):
            continue
        out += [name for name in route.receivers if name not in out]
        if not route.continue_:
            break
    return out


def notification_key(alert_id: str, version: int, receiver: str) -> str:
    """The idempotency key of the notification of one alert change to one receiver: the sender skips
    a key already delivered, and receivers get it (a header) to drop a copy."""
    return f"{alert_id}:{version}:{receiver}"
