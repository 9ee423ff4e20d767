"""Ticket status machines: every allowed move works, every other one is refused naming the allowed ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.itsm.states import (
    INITIAL,
    TRANSITIONS,
    Lifecycle,
    PendingReasonRequired,
    TransitionNotAllowed,
    UnknownStatus,
    UnknownTicketType,
    allowed_transitions,
    transition,
)

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)

EXPECTED = {
    "incident": {
        ("new", "in_progress"),
        ("new", "on_hold"),
        ("new", "resolved"),
        ("in_progress", "on_hold"),
        ("in_progress", "resolved"),
        ("on_hold", "in_progress"),
        ("on_hold", "resolved"),
        ("resolved", "closed"),
        ("resolved", "in_progress"),
    },
    "problem": {
        ("new", "assessed"),
        ("assessed", "root_cause_known"),
        ("root_cause_known", "fix_in_progress"),
        ("fix_in_progress", "resolved"),
        ("resolved", "closed"),
    },
    "change": {
        ("draft", "assessment"),
        ("assessment", "approved"),
        ("assessment", "rejected"),
        ("approved", "scheduled"),
        ("rejected", "closed"),
        ("scheduled", "implementing"),
        ("implementing", "review"),
        ("review", "closed"),
    },
}


def at(ticket_type: str, status: str) -> Lifecycle:
    """A ticket sitting in `status` (a resolved one resolved at T0, an on-hold one with a reason)."""
    reason = "awaiting_caller" if status == "on_hold" else None
    return Lifecycle(ticket_type, status, reason, T0 if status == "resolved" else None)  # type: ignore[arg-type]


def test_the_machines_are_the_ones_the_issue_lists() -> None:
    for kind, moves in EXPECTED.items():
        table = {(a, b) for a, targets in TRANSITIONS[kind].items() for b in targets}
        assert table == moves, kind
    assert INITIAL == {"incident": "new", "problem": "new", "change": "draft"}
    assert Lifecycle.start("change").status == "draft"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_allowed_move_is_applied(kind: str) -> None:
    for current, target in sorted(EXPECTED[kind]):
        reason = "awaiting_vendor" if target == "on_hold" else None
        moved = transition(at(kind, current), target, T0 + timedelta(hours=1), pending_reason=reason)
        assert moved.status == target and moved.ticket_type == kind


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_disallowed_move_is_refused_naming_the_allowed_ones(kind: str) -> None:
    statuses = list(TRANSITIONS[kind])
    refused = 0
    for current in statuses:
        allowed = tuple(b for a, b in sorted(EXPECTED[kind]) if a == current)
        for target in statuses:
            if (current, target) in EXPECTED[kind]:
                continue
            with pytest.raises(TransitionNotAllowed) as caught:
                transition(at(kind, current), target, T0, pending_reason="awaiting_caller")
            error = caught.value
            assert set(error.allowed) == set(allowed)
            assert (error.current, error.target) == (current, target)
            message = str(error)
            assert f"from {current} to {target}" in message
            assert all(name in message.split("allowed from")[1] for name in allowed)
            if not allowed:
                assert "none (final status)" in message
            refused += 1
    assert refused == len(statuses) ** 2 - len(EXPECTED[kind])


def test_on_hold_needs_a_known_pending_reason_and_leaving_it_clears_the_reason() -> None:
    working = Lifecycle.start("incident")
    with pytest.raises(PendingReasonRequired, match="pending_reason is required") as caught:
        transition(working, "on_hold", T0)
    assert caught.value.field == "pending_reason"
    with pytest.raises(PendingReasonRequired, match="'lunch' is not one of"):
        transition(working, "on_hold", T0, pending_reason="lunch")
    held = transition(working, "on_hold", T0, pending_reason="awaiting_vendor")
    assert held.pending_reason == "awaiting_vendor"
    assert transition(held, "in_progress", T0).pending_reason is None


def test_a_resolved_incident_reopens_within_the_window_only() -> None:
    resolved = transition(Lifecycle("incident", "in_progress"), "resolved", T0)
    assert resolved.resolved_at == T0
    reopened = transition(resolved, "in_progress", T0 + timedelta(days=3), reopen_days=3)
    assert reopened.status == "in_progress" and reopened.resolved_at is None
    assert allowed_transitions(resolved, T0 + timedelta(days=3, seconds=1), 3) == ("closed",)
    with pytest.raises(TransitionNotAllowed, match="reopen window of 3 days") as caught:
        transition(resolved, "in_progress", T0 + timedelta(days=3, seconds=1), reopen_days=3)
    assert caught.value.allowed == ("closed",)
    closed = transition(resolved, "closed", T0 + timedelta(days=4))
    assert closed.resolved_at == T0
    with pytest.raises(TransitionNotAllowed, match="allowed from closed: none"):
        transition(closed, "in_progress", T0 + timedelta(days=4))


def test_unknown_types_and_statuses_are_named() -> None:
    with pytest.raises(UnknownTicketType, match="'request'.*incident, problem, change") as caught:
        Lifecycle.start("request")
    assert caught.value.field == "type"
    with pytest.raises(UnknownStatus, match="'assessed'.*new, in_progress"):
        transition(Lifecycle.start("incident"), "assessed", T0)
