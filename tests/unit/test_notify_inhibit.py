"""Inhibition rules as configuration (`EMS_NOTIFY_INHIBIT_RULES`, notify/inhibit.py) in the notification
stage's core: a firing source mutes its targets, the sources survive a restore, bad rules are refused
naming the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ems.agents.notify import Notifier
from ems.notify.config import RouteConfig
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.notification import NotificationBatch
from ems.settings import Settings
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RULE = {
    "id": "down-mutes-unreachable",
    "source": 'event="NodeDown"',
    "target": [{"name": "event", "op": "=", "value": "Unreachable"}],
    "equal": ["environment"],
}


def change(
    alert_id: str, event: str, version: int, kind: str, minutes: float, env: str = "prod"
) -> AlertChanged:
    at = T0 + timedelta(minutes=minutes)
    status = "resolved" if kind == "resolved" else "open"
    state = AlertState(
        alert_id=alert_id, fingerprint=f"fp-{alert_id}", status=status, severity="critical",
        event_count=version, duplicate_count=version - 1, first_seen=T0, last_seen=at,
        last_event_id=f"e{version}", source="nms", event=event, resource=alert_id, environment=env,
        version=version,
    )  # fmt: skip
    transition = Transition(kind=kind, event_id=f"e{version}", at=at, severity="critical", status=status)
    return AlertChanged(alert=state, transitions=[transition], events_applied=1)


def notifier() -> Notifier:
    rules = Settings(notify_inhibit_rules=[RULE]).notify_inhibit_rules
    return Notifier(
        [RouteConfig(matchers='event="Unreachable"', receivers=["hook"])],
        inhibit_rules=[r.rule() for r in rules],
    )


def test_a_firing_source_mutes_its_targets_until_it_ends_even_across_a_restore() -> None:
    live = notifier()
    source = live.on_change(change("router", "NodeDown", 1, "opened", 0))
    assert source.notify and source.deliveries == []  # no route: notified nowhere, so no resolve later
    target = live.on_change(change("host", "Unreachable", 1, "opened", 1))
    assert not target.notify and target.deliveries == []
    assert target.inhibited_by == [{"rule_id": "down-mutes-unreachable", "source_id": "router"}]
    other_env = live.on_change(change("lab", "Unreachable", 1, "opened", 1, env="lab"))
    assert other_env.notify and other_env.inhibited_by == []  # `equal` disagrees
    first = live.batch([source, target, other_env])

    # The source resolves undecided (it was notified nowhere): the batch records that it ended.
    assert live.on_change(change("router", "NodeDown", 2, "resolved", 2)) is None
    second = live.batch([])
    assert second.ended == {"router": 2} and live.batch([]).ended == {}
    assert decode(encode(second), NotificationBatch) == second

    restored = notifier()
    restored.restore([first])  # before the end: the source still fires
    assert not restored.on_change(change("host", "Unreachable", 2, "severity_changed", 3)).notify
    restored = notifier()
    restored.restore([second, first])  # the highest version wins, whatever the order
    again = restored.on_change(change("host", "Unreachable", 2, "severity_changed", 3))
    assert again.notify and [d.receiver for d in again.deliveries] == ["hook"]
    assert live.on_change(change("host", "Unreachable", 2, "severity_changed", 3)) == again


def test_no_rules_keep_no_firing_alerts_and_write_no_ended() -> None:
    plain = Notifier([RouteConfig(receivers=["hook"])])
    plain.on_change(change("router", "NodeDown", 1, "opened", 0))
    assert plain.firing.fields == {} and plain.batch([]).ended == {}


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        ([{**RULE, "source": 'event=~"("'}], "inhibit rule 'down-mutes-unreachable'"),
        ([{**RULE, "source": []}], "needs at least one source matcher"),
        ([{**RULE, "equal": ["attributes.site"]}], "attributes.site not kept for firing alerts"),
        ([{**RULE, "target": 'colour="red"'}], "unknown field"),
        ([RULE, RULE], "ids used twice: down-mutes-unreachable"),
        ([{**RULE, "id": ""}], "id"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(rules: list, reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(notify_inhibit_rules=rules)
    assert reason in str(err.value)
