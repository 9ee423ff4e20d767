"""Ticket priority P1-P4 from impact x urgency (ServiceNow's 3x3 matrix), impact defaulting from the business.

Impact and urgency are 1 (high), 2 (medium) or 3 (low). The matrix:

                urgency 1   urgency 2   urgency 3
    impact 1       P1          P2          P3
    impact 2       P2          P3          P4
    impact 3       P3          P4          P4

(ServiceNow's 3/3 cell is "5 - planning"; with four priorities it is P4.)

When the caller gives no impact, it comes from what the platform knows: the business impact score of the
alert or correlated incident (0-100: >= 70 high, >= 30 medium, else low) and the criticality of the asset
(1-5: 4-5 high, 3 medium, 1-2 low; 0 or none: unknown). The higher of the two known wins; neither known: low.
"""

from __future__ import annotations

from enum import IntEnum

HIGH, MEDIUM, LOW = 1, 2, 3
LEVEL_NAMES = {"high": HIGH, "medium": MEDIUM, "low": LOW}
SCORE_HIGH, SCORE_MEDIUM = 70.0, 30.0  # business impact score bands
CRITICALITY_HIGH, CRITICALITY_MEDIUM = 4, 3  # asset criticality bands


class Priority(IntEnum):
    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4

    def __str__(self) -> str:
        return self.name


# MATRIX[impact - 1][urgency - 1]
MATRIX: tuple[tuple[Priority, ...], ...] = (
    (Priority.P1, Priority.P2, Priority.P3),
    (Priority.P2, Priority.P3, Priority.P4),
    (Priority.P3, Priority.P4, Priority.P4),
)


class PriorityInputError(ValueError):
    """A bad impact, urgency, score or criticality; `field` names it (the API answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def level(field: str, value: int | str) -> int:
    """1, 2 or 3 from a number or the names high / medium / low."""
    if isinstance(value, str):
        if value.strip().lower() in LEVEL_NAMES:
            return LEVEL_NAMES[value.strip().lower()]
        raise PriorityInputError(field, f"{value!r} is not one of 1, 2, 3, high, medium, low")
    if isinstance(value, bool) or not isinstance(value, int) or value not in (HIGH, MEDIUM, LOW):
        raise PriorityInputError(field, f"{value!r} is not one of 1 (high), 2 (medium), 3 (low)")
    return value


def impact_from_business(score: float | None = None, criticality: int | None = None) -> int:
    """Impact level from a business impact score (0-100) and an asset criticality (1-5; 0 = unknown)."""
    levels = []
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
            raise PriorityInputError("impact_score", f"{score!r} is not a number from 0 to 100")
        levels.append(HIGH if score >= SCORE_HIGH else MEDIUM if score >= SCORE_MEDIUM else LOW)
    if criticality is not None and criticality != 0:
        if isinstance(criticality, bool) or not isinstance(criticality, int) or not 1 <= criticality <= 5:
            raise PriorityInputError("criticality", f"{criticality!r} is not an integer from 1 to 5")
        high = criticality >= CRITICALITY_HIGH
        levels.append(HIGH if high else MEDIUM if criticality >= CRITICALITY_MEDIUM else LOW)
    return min(levels, default=LOW)


def priority(impact: int | str, urgency: int | str) -> Priority:
    """The matrix cell of an impact and an urgency (each 1-3 or high / medium / low)."""
    return MATRIX[level("impact", impact) - 1][level("urgency", urgency) - 1]


def ticket_priority(
    urgency: int | str,
    impact: int | str | None = None,
    *,
    score: float | None = None,
    criticality: int | None = None,
) -> tuple[Priority, int]:
    """(priority, impact used): the given impact, or the one derived from score and criticality."""
    used = level("impact", impact) if impact is not None else impact_from_business(score, criticality)
    return priority(used, urgency), used


def parse_priority(value: str | int) -> Priority:
    """P1-P4 from 'P1'...'P4' (any case) or 1-4."""
    text = str(value).strip().upper().removeprefix("P")
    if text in {"1", "2", "3", "4"}:
        return Priority(int(text))
    raise PriorityInputError("priority", f"{value!r} is not one of P1, P2, P3, P4")
