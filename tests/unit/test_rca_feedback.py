"""Operator root-cause feedback: the checks of the command, its projection, and the labels a retrain
takes from the log (docs/rca.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.ml.rca.feedback import check_feedback, labels_from
from ems.projections.rca_feedback import RcaFeedbackProjection
from ems.schemas.command import Command

T0 = datetime(2026, 3, 1, tzinfo=UTC)
INCIDENT = {
    "assets": ["core", "sw1", "srv1"],
    "root_asset_id": "core",
    "rca": {"asset_id": "core", "candidates": [{"asset_id": "core"}, {"asset_id": "wan"}]},
}
ALERTS = {"a-core": "core", "a-sw1": "sw1"}


def test_a_confirm_of_the_named_asset_and_a_correction_to_a_member_or_candidate_pass() -> None:
    assert check_feedback("core", "a-core", "confirm", INCIDENT, ALERTS) is None
    assert check_feedback("sw1", None, "correct", INCIDENT, ALERTS) is None
    assert check_feedback("wan", None, "correct", INCIDENT, ALERTS) is None  # a silent candidate


@pytest.mark.parametrize(
    ("asset", "alert", "verdict", "field", "words"),
    [
        ("elsewhere", None, "correct", "asset_id", "neither a member's asset nor a candidate"),
        ("sw1", None, "confirm", "verdict", "the model named 'core'"),
        ("core", "a-other", "confirm", "alert_id", "not an alert of the incident"),
        ("core", "a-sw1", "confirm", "alert_id", "an alert of 'sw1', not of 'core'"),
    ],
)
def test_bad_feedback_names_the_field_and_why(asset, alert, verdict, field, words) -> None:
    problem = check_feedback(asset, alert, verdict, INCIDENT, ALERTS)
    assert problem is not None and problem.field == field and words in problem.reason


def test_without_any_root_cause_a_confirm_is_refused_and_the_topology_root_can_be_confirmed() -> None:
    bare = {"assets": ["sw1"], "root_asset_id": None, "rca": None}
    problem = check_feedback("sw1", None, "confirm", bare, ALERTS)
    assert problem is not None and "no root cause to confirm" in problem.reason
    assert check_feedback("sw1", None, "correct", bare, ALERTS) is None
    topology_only = {**bare, "root_asset_id": "sw1"}
    assert check_feedback("sw1", None, "confirm", topology_only, ALERTS) is None


def feedback(incident: str, asset: str, minutes: int, verdict: str = "correct", **args) -> Command:
    return Command(
        name="incident.root_cause",
        target=incident,
        actor="olga",
        occurred_at=T0 + timedelta(minutes=minutes),
        args={"asset_id": asset, "verdict": verdict, **args},
    )


def test_labels_are_the_latest_feedback_per_incident_and_other_commands_are_ignored() -> None:
    log = [
        feedback("inc-1", "core", 5, "confirm"),
        feedback("inc-1", "sw1", 9),  # corrected later: wins
        feedback("inc-2", "db", 7),
        feedback("inc-2", "app", 3),  # older, though later in the log
        Command(name="check.create", target="chk", actor="olga", args={"spec": {}}),
    ]
    labels = labels_from(log)
    assert {i: (lab.asset_id, lab.verdict) for i, lab in labels.items()} == {
        "inc-1": ("sw1", "correct"),
        "inc-2": ("db", "correct"),
    }
    assert labels["inc-1"].actor == "olga" and labels["inc-1"].at == T0 + timedelta(minutes=9)


def test_the_projection_writes_one_row_per_feedback_command_and_none_for_others() -> None:
    p = RcaFeedbackProjection()
    cmd = feedback("inc-1", "core", 1, "confirm", alert_id="a-core", comment="yes", tenant=None)
    [(upsert, row)] = list(p.rows(cmd))
    got = dict(zip(upsert.columns, row, strict=True))
    assert got["command_id"] == cmd.event_id and got["incident_id"] == "inc-1"
    assert (got["asset_id"], got["alert_id"], got["verdict"]) == ("core", "a-core", "confirm")
    assert got["actor"] == "olga" and got["comment"] == "yes"
    assert list(p.rows(Command(name="check.create", target="c", actor="x", args={"spec": {}}))) == []
