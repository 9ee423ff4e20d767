"""Priority from impact x urgency, impact from the business impact score and the asset criticality."""

from __future__ import annotations

import pytest

from ems.itsm.priority import (
    HIGH,
    LOW,
    MEDIUM,
    Priority,
    PriorityInputError,
    impact_from_business,
    parse_priority,
    priority,
    ticket_priority,
)


def test_the_matrix_cell_by_cell() -> None:
    grid = [[str(priority(i, u)) for u in (1, 2, 3)] for i in (1, 2, 3)]
    assert grid == [["P1", "P2", "P3"], ["P2", "P3", "P4"], ["P3", "P4", "P4"]]
    assert priority("high", "Low") == Priority.P3 and priority(" medium ", 2) == Priority.P3


@pytest.mark.parametrize(
    ("score", "criticality", "expected"),
    [
        (None, None, LOW),
        (0, None, LOW),
        (29.9, None, LOW),
        (30, None, MEDIUM),
        (69.99, None, MEDIUM),
        (70, None, HIGH),
        (100, None, HIGH),
        (None, 1, LOW),
        (None, 2, LOW),
        (None, 3, MEDIUM),
        (None, 4, HIGH),
        (None, 5, HIGH),
        (None, 0, LOW),  # 0: criticality unknown (an incident's impact without assets)
        (10, 5, HIGH),  # the higher of the two wins
        (80, 1, HIGH),
        (45, 2, MEDIUM),
    ],
)
def test_impact_defaults_from_score_and_criticality(score, criticality, expected) -> None:
    assert impact_from_business(score, criticality) == expected


def test_a_given_impact_wins_over_the_derived_one() -> None:
    assert ticket_priority("high", score=95, criticality=5) == (Priority.P1, HIGH)
    assert ticket_priority("high", "low", score=95, criticality=5) == (Priority.P3, LOW)
    assert ticket_priority(2, criticality=3) == (Priority.P3, MEDIUM)
    assert ticket_priority(3) == (Priority.P4, LOW)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: priority(0, 1), "impact"),
        (lambda: priority(1, 4), "urgency"),
        (lambda: priority(True, 1), "impact"),
        (lambda: priority("urgent", 1), "impact"),
        (lambda: impact_from_business(101), "impact_score"),
        (lambda: impact_from_business(-1), "impact_score"),
        (lambda: impact_from_business(float("nan")), "impact_score"),
        (lambda: impact_from_business(None, 6), "criticality"),
        (lambda: impact_from_business(None, 2.5), "criticality"),  # type: ignore[arg-type]
        (lambda: parse_priority("P5"), "priority"),
    ],
)
def test_bad_inputs_name_their_field(call, field) -> None:
    with pytest.raises(PriorityInputError) as caught:
        call()
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_priorities_parse_and_print_as_p1_to_p4() -> None:
    assert [parse_priority(v) for v in ("P1", "p2", " P3 ", 4)] == list(Priority)
    assert str(Priority.P2) == "P2" and Priority.P1 < Priority.P4
