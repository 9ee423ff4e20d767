"""Escalation policies (`EMS_NOTIFY_ESCALATIONS`), pure: a notified alert on a route naming a policy is
notified step by step until it is acknowledged, shelved, resolved, closed or expired.

A policy is `{name, steps: [{notify: ["schedule:NAME" | "user:NAME" | "receiver:NAME"], wait}], repeat}`.
Step 1 fires at the event time of the alert's notified firing decision; each next step `wait` after the
one before (the last step's wait leads to step 1 again while `repeat` rounds are left). Who a step
reaches is decided at its own time: a schedule's user on call then (`ems.notify.oncall`), a user's
receivers, a receiver. Each fired step is ONE `NotificationDecided` under the escalation id
`<alert id>:esc<version>` (the version that started it) with number n (1, 2, ... across rounds), so its
deliveries' keys `<alert id>:esc<version>:<n>:<receiver>` name the alert, the episode and the step.

The clock is passed in (`advance(at)`: the stage's event-time clock); due escalations are found with
`ems.agents.timers.TimerIndex`, as the groups are. The state is `EscalationState` records: `changed()`
gives the snapshots to publish with a batch, `restore` folds them back after a restart, so a fired step
is never fired again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ems.agents.timers import TimerIndex
from ems.notify.config import Duration, RouteConfig
from ems.notify.oncall import ScheduleConfig, UserConfig, UserName, on_call
from ems.notify.routing import notification_key
from ems.schemas.notification import Delivery, EscalationState, NotificationDecided

STOPPED_BY = frozenset({"acknowledged", "shelved", "resolved", "closed", "expired"})
Target = Annotated[str, Field(pattern=r"^(schedule|user|receiver):[A-Za-z0-9_.@-]{1,64}$")]


class StepConfig(BaseModel):
    """Notify `notify`, then wait `wait` for an acknowledgement before the next step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notify: list[Target] = Field(min_length=1)
    wait: Duration = Field(900.0, ge=0, le=86_400 * 7)


class PolicyConfig(BaseModel):
    """An escalation policy: its steps, run `repeat` more rounds after the first while unacknowledged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: UserName
    steps: list[StepConfig] = Field(min_length=1, max_length=20)
    repeat: int = Field(0, ge=0, le=100)


def escalation_id(alert_id: str, version: int) -> str:
    """The id of the escalation an alert's firing version `version` started."""
    return f"{alert_id}:esc{version}"


def check_escalations(
    policies: Sequence[PolicyConfig],
    routes: Sequence[RouteConfig],
    users: Sequence[UserConfig],
    schedules: Sequence[ScheduleConfig],
    receivers: Sequence[str],
) -> None:
    """Policy names unique, their targets known, routes name known policies; ValueError naming the field."""
    names = [p.name for p in policies]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"notify_escalations: names used twice: {', '.join(twice)}")
    known = {
        "schedule": {s.name for s in schedules},
        "user": {u.name for u in users},
        "receiver": set(receivers),
    }
    for i, policy in enumerate(policies):
        for j, step in enumerate(policy.steps):
            for target in step.notify:
                kind, name = target.split(":", 1)
                if name not in known[kind]:
                    raise ValueError(f"notify_escalations.{i}.steps.{j}.notify: unknown {kind} {name!r}")
    for i, route in enumerate(routes):
        if route.escalation is not None and route.escalation not in names:
            raise ValueError(f"notify_routes.{i}.escalation: unknown escalation policy {route.escalation!r}")


class Escalator:
    """The escalations by id, the running one of each alert, and their next steps' due times."""

    def __init__(
        self,
        policies: Sequence[PolicyConfig] = (),
        users: Sequence[UserConfig] = (),
        schedules: Sequence[ScheduleConfig] = (),
    ) -> None:
        self.policies = {p.name: p for p in policies}
        self.users = {u.name: u for u in users}
        self.schedules = {s.name: s for s in schedules}
        self.escalations: dict[str, EscalationState] = {}
        self.running: dict[str, str] = {}  # alert id -> id of its running escalation
        self.due = TimerIndex()
        self.due.mark_built(0)
        self._changed: set[str] = set()

    def restore(self, states: Iterable[EscalationState]) -> None:
        """Fold published snapshots (a later one of an escalation replaces the earlier)."""
        for state in states:
            self._put(state.model_copy(deep=True))

    def changed(self) -> list[EscalationState]:
        """Snapshots of the escalations changed since the last call (to publish with the batch)."""
        out = [self.escalations[e].model_copy(deep=True) for e in sorted(self._changed)]
        self._changed.clear()
        return out

    def start(self, policy: str, alert_id: str, version: int, shown: Mapping, at: datetime) -> str | None:
        """A notified firing change of an alert on a route naming `policy`: its escalation starts, step 1
        due at `at`, unless one runs for the alert already. Returns the id of the one started."""
        if alert_id in self.running or policy not in self.policies:
            return None
        state = EscalationState(
            escalation_id=escalation_id(alert_id, version),
            alert_id=alert_id,
            version=version,
            policy=policy,
            alert=dict(shown),
            started_at=at,
            next_at=at,
        )
        self._put(state)
        return state.escalation_id

    def stop(self, alert_id: str, status: str, at: datetime) -> str | None:
        """An alert change leaving it `status`: an acknowledgement (or shelve, resolve, close, expiry) ends
        its running escalation before any step due after `at`. Returns the id of the one stopped."""
        esc = self.running.get(alert_id)
        if esc is None or status not in STOPPED_BY:
            return None
        state = self.escalations[esc]
        state.next_at, state.stopped, state.stopped_at = None, status, at
        self._put(state)
        return esc

    def advance(self, clock: datetime) -> list[NotificationDecided]:
        """Every step due by `clock`, in due order, each at its own due time."""
        out: list[NotificationDecided] = []
        while keys := self.due.pop_due(0, clock):
            for key in keys:
                made = self._fire(self.escalations[key.decode()])
                if made is not None:
                    out.append(made)
        return out

    def _fire(self, state: EscalationState) -> NotificationDecided | None:
        assert state.next_at is not None
        at, policy = state.next_at, self.policies.get(state.policy)
        if policy is None:  # the policy was removed from the settings since it started
            state.next_at, state.stopped, state.stopped_at = None, "policy removed", at
            self._put(state)
            return None
        n = state.fired + 1
        step = policy.steps[(n - 1) % len(policy.steps)]
        receivers, reached = self._receivers(step.notify, at)
        total = len(policy.steps) * (policy.repeat + 1)
        state.fired = n
        state.next_at = at + timedelta(seconds=step.wait) if n < total else None
        state.stopped = None if n < total else "done"
        self._put(state)
        esc = state.escalation_id
        index, round_ = (n - 1) % len(policy.steps) + 1, (n - 1) // len(policy.steps) + 1
        reason = (
            f"escalation {policy.name!r} of {state.alert_id} (version {state.version}): step {index}"
            f"{f' (round {round_})' if round_ > 1 else ''}, unacknowledged since "
            f"{state.started_at.isoformat()}"
            f"; notifies {', '.join(reached)}"
        )
        return NotificationDecided(
            event_id=f"{state.escalation_id}:{n}",
            occurred_at=at,
            alert_id=state.escalation_id,
            version=n,
            kind="firing",
            alert=dict(state.alert),
            notify=True,
            reasons=[reason if receivers else reason + "; no receiver"],
            deliveries=[Delivery(key=notification_key(esc, n, r), receiver=r) for r in receivers],
            escalation={"policy": policy.name, "alert_id": state.alert_id, "version": state.version,
                        "step": index, "round": round_},
        )  # fmt: skip

    def _receivers(self, targets: Sequence[str], at: datetime) -> tuple[list[str], list[str]]:
        """The receivers `targets` reach at `at`, each once, and what each target resolved to."""
        out: list[str] = []
        reached: list[str] = []
        for target in targets:
            kind, name = target.split(":", 1)
            if kind == "receiver":
                names = [name]
                reached.append(target)
            else:
                schedule = self.schedules.get(name) if kind == "schedule" else None
                user = name if kind == "user" else on_call(schedule, at) if schedule else "nobody"
                names = list(self.users[user].receivers) if user in self.users else []
                reached.append(f"{target} ({user})" if kind == "schedule" else target)
            out += [r for r in names if r not in out]
        return out, reached

    def _put(self, state: EscalationState) -> None:
        self.escalations[state.escalation_id] = state
        if state.next_at is None:
            if self.running.get(state.alert_id) == state.escalation_id:
                del self.running[state.alert_id]
        else:
            self.running[state.alert_id] = state.escalation_id
        self.due.set(0, state.escalation_id.encode(), state.next_at)
        self._changed.add(state.escalation_id)
