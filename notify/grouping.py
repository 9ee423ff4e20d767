"""Alertmanager's grouping of notifications, pure: the alerts a route with `group_by` takes are gathered
in groups (one per route and values of its group_by fields) and notified together, on event time.

- A new group waits `group_wait` from its first alert's event time, then is flushed: ONE notification
  (per receiver of the route) listing its firing, then its resolved alerts.
- After that it is looked at every `group_interval`: notified again when an alert joined, changed (a
  newer firing version) or resolved since the last notification, or when `repeat_interval` has passed
  since it while alerts still fire; otherwise nothing is sent.
- Resolved alerts leave the group once a flush has looked at them; a group left without alerts ends
  (the next alert with the same values starts it again, with `group_wait`).

The clock is passed in (`advance(at)`: the latest event time read, never back); no wall clock is read.
Due groups are found with `ems.agents.timers.TimerIndex`. The state is `GroupState` records: `changed()`
gives the snapshots to publish with a batch, `restore` folds them back after a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from ems.agents.timers import TimerIndex
from ems.noise.matchers import values_of
from ems.notify.config import ALL_LABELS, RouteConfig
from ems.notify.routing import notification_key
from ems.schemas.notification import Delivery, GroupedAlert, GroupState, NotificationDecided

MAX_LISTED = 500  # alerts listed in one notification (the counts are in its reasons)
_DEFAULT = RouteConfig(receivers=["default"], group_by=[])  # timing of a group whose route was removed


class Grouper:
    """The groups by id, which groups each alert is in, the clock and the groups' flush times."""

    def __init__(self, routes: Sequence[RouteConfig]) -> None:
        self.routes = tuple(routes)
        self.groups: dict[str, GroupState] = {}
        self.member: dict[str, set[str]] = {}  # alert id -> ids of the groups holding it
        self.clock: datetime | None = None
        self.due = TimerIndex()
        self.due.mark_built(0)
        self._changed: set[str] = set()

    def grouped(self, route: int) -> bool:
        """Whether route `route` groups its alerts (has `group_by`)."""
        return self.routes[route].group_by is not None

    def restore(self, groups: Iterable[GroupState], clock: datetime | None) -> None:
        """Fold published snapshots (a later one of a group replaces the earlier) and the clock."""
        for group in groups:
            old = self.groups.get(group.group_id)
            for alert_id in old.alerts if old else ():
                self._forget(alert_id, group.group_id)
            self.groups[group.group_id] = group = group.model_copy(deep=True)
            for alert_id in group.alerts:
                self.member.setdefault(alert_id, set()).add(group.group_id)
            self.due.set(0, group.group_id.encode(), group.next_flush)
        self._tick(clock)

    def changed(self) -> list[GroupState]:
        """Snapshots of the groups changed since the last call (to publish with the batch)."""
        out = [self.groups[g].model_copy(deep=True) for g in sorted(self._changed)]
        self._changed.clear()
        return out

    def holds(self, alert_id: str) -> bool:
        return bool(self.member.get(alert_id))

    def key(self, route: int, fields: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """The id and labels of the group of `route` an alert with `fields` belongs to."""
        names = self.routes[route].group_by or []
        if names == [ALL_LABELS]:
            labels = {"alert_id": str(fields.get("alert_id"))}
        else:
            labels = {name: ",".join(sorted(values_of(fields, name))) for name in names}
        digest = hashlib.sha256(orjson.dumps([route, labels], option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"grp_{digest[:20]}", labels

    def add(
        self, route: int, alert_id: str, version: int, fields: Mapping[str, Any], shown: dict, at: datetime
    ) -> str:
        """A notified firing change of an alert on grouped `route`: it joins (or is updated in) its
        group, which a new group flushes `group_wait` after `at`. Returns the group id."""
        group_id, labels = self.key(route, fields)
        for other in list(self.member.get(alert_id, ())):  # its group_by values changed: it moves
            if other != group_id and self.groups[other].route == route:
                self.groups[other].alerts.pop(alert_id, None)
                self.groups[other].sent.pop(alert_id, None)
                self._forget(alert_id, other)
                self._changed.add(other)
        group = self.groups.get(group_id)
        if group is None:
            receivers = list(self.routes[route].receivers)
            group = GroupState(group_id=group_id, route=route, labels=labels, receivers=receivers)
            self.groups[group_id] = group
        if group.next_flush is None:
            group.next_flush = at + timedelta(seconds=self.routes[route].group_wait)
            self.due.set(0, group_id.encode(), group.next_flush)
        group.alerts[alert_id] = GroupedAlert(version=version, firing=True, at=at, alert=shown)
        self.member.setdefault(alert_id, set()).add(group_id)
        self._changed.add(group_id)
        return group_id

    def resolve(self, alert_id: str, version: int, shown: dict, at: datetime, announce: bool) -> list[str]:
        """A resolve of an alert: in each of its groups it is resolved until the next flush, which lists
        it when `announce` (the resolve was notified, not muted). Returns the group ids."""
        out = sorted(self.member.get(alert_id, ()))
        for group_id in out:
            alert = GroupedAlert(version=version, firing=False, at=at, alert=shown, announce=announce)
            self.groups[group_id].alerts[alert_id] = alert
            self._changed.add(group_id)
        return out

    def advance(self, at: datetime) -> list[NotificationDecided]:
        """Move the clock to `at` (never back) and flush every group due by then, in due order."""
        self._tick(at)
        assert self.clock is not None
        made = (self._flush(self.groups[key.decode()]) for key in self.due.pop_due(0, self.clock))
        return [d for d in made if d is not None]

    def _tick(self, at: datetime | None) -> None:
        if at is not None and (self.clock is None or at > self.clock):
            self.clock = at

    def _flush(self, group: GroupState) -> NotificationDecided | None:
        assert group.next_flush is not None and self.clock is not None
        route = self._route(group.route)
        step = timedelta(seconds=route.group_interval)
        at = group.next_flush + step * ((self.clock - group.next_flush) // step)  # the last tick by the clock
        alerts = sorted(group.alerts.items())
        firing = [(i, a) for i, a in alerts if a.firing]
        resolved = [(i, a) for i, a in alerts if not a.firing]
        changed = any(group.sent.get(i) != a.version for i, a in firing)
        ended = any(a.announce and i in group.sent for i, a in resolved)
        repeat_at = group.last_sent and group.last_sent + timedelta(seconds=route.repeat_interval)
        repeat = repeat_at is not None and at >= repeat_at
        made = None
        if changed or ended or (firing and repeat):
            group.flushes += 1
            made = self._decision(group, at, [a for _, a in firing], [a for _, a in resolved if a.announce])
            group.sent = {i: a.version for i, a in firing}
            group.last_sent = at
        for alert_id, _ in resolved:
            group.alerts.pop(alert_id)
            group.sent.pop(alert_id, None)
            self._forget(alert_id, group.group_id)
        if group.alerts:
            group.next_flush = at + step
        else:
            group.next_flush, group.last_sent, group.sent = None, None, {}
        self.due.set(0, group.group_id.encode(), group.next_flush)
        self._changed.add(group.group_id)
        return made

    def _decision(
        self, group: GroupState, at: datetime, firing: list[GroupedAlert], resolved: list[GroupedAlert]
    ) -> NotificationDecided:
        n, key = group.flushes, group.group_id
        labels = ", ".join(f"{k}={v!r}" for k, v in group.labels.items()) or "all alerts of the route"
        listed = [a.alert for a in (*firing, *resolved)]
        reason = f"group {group.group_id} ({labels}): {len(firing)} firing, {len(resolved)} resolved"
        if len(listed) > MAX_LISTED:
            reason += f"; the first {MAX_LISTED} listed"
        return NotificationDecided(
            event_id=f"{group.group_id}:{n}",
            occurred_at=at,
            alert_id=group.group_id,
            version=n,
            kind="firing" if firing else "resolved",
            alert=dict(group.labels),
            notify=True,
            reasons=[reason],
            deliveries=[Delivery(key=notification_key(key, n, r), receiver=r) for r in group.receivers],
            group_id=group.group_id,
            alerts=listed[:MAX_LISTED],
        )

    def _route(self, index: int) -> RouteConfig:
        return self.routes[index] if index < len(self.routes) else _DEFAULT

    def _forget(self, alert_id: str, group_id: str) -> None:
        groups = self.member.get(alert_id)
        if groups is not None:
            groups.discard(group_id)
            if not groups:
                del self.member[alert_id]
