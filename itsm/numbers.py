"""Human ticket numbers: a type prefix and a per-type sequence, zero-padded to 7 digits (INC0001234).

The sequence is state the caller keeps (the ticket stage's table); these functions only format, parse and
advance it. Past 9,999,999 a number simply grows an eighth digit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ems.itsm.states import TICKET_TYPES, check_type

PREFIXES: dict[str, str] = {"incident": "INC", "problem": "PRB", "change": "CHG"}
TYPES_BY_PREFIX: dict[str, str] = {prefix: kind for kind, prefix in PREFIXES.items()}
DIGITS = 7
_NUMBER = re.compile(rf"^(INC|PRB|CHG)(\d{{{DIGITS},}})$")
assert set(PREFIXES) == set(TICKET_TYPES)


class TicketNumberError(ValueError):
    """Not a ticket number (the API answers 404 or 422 naming `field`)."""

    field = "number"


def format_number(ticket_type: str, sequence: int) -> str:
    """INC0001234 from ("incident", 1234); sequences start at 1."""
    check_type(ticket_type)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise TicketNumberError(f"sequence {sequence!r} is not a positive integer")
    return f"{PREFIXES[ticket_type]}{sequence:0{DIGITS}d}"


def parse_number(number: str) -> tuple[str, int]:
    """("incident", 1234) from INC0001234 (any case, surrounding blanks ignored)."""
    match = _NUMBER.match(number.strip().upper()) if isinstance(number, str) else None
    if not match or int(match.group(2)) < 1:
        prefixes = ", ".join(f"{p}{'0' * (DIGITS - 1)}1" for p in PREFIXES.values())
        raise TicketNumberError(f"{number!r} is not a ticket number like {prefixes}")
    return TYPES_BY_PREFIX[match.group(1)], int(match.group(2))


def next_number(sequences: Mapping[str, int], ticket_type: str) -> tuple[str, dict[str, int]]:
    """The next number of `ticket_type` and the advanced sequences (last number issued per type)."""
    issued = sequences.get(check_type(ticket_type), 0) + 1
    return format_number(ticket_type, issued), {**sequences, ticket_type: issued}
