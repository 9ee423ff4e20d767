"""Human ticket numbers per type from a per-type sequence."""

from __future__ import annotations

import pytest

from ems.itsm.numbers import TicketNumberError, format_number, next_number, parse_number
from ems.itsm.states import UnknownTicketType


def test_each_type_has_its_own_prefix_and_sequence() -> None:
    sequences: dict[str, int] = {}
    issued = []
    for kind in ("incident", "incident", "change", "problem", "incident", "change"):
        number, sequences = next_number(sequences, kind)
        issued.append(number)
    assert issued == ["INC0000001", "INC0000002", "CHG0000001", "PRB0000001", "INC0000003", "CHG0000002"]
    assert sequences == {"incident": 3, "change": 2, "problem": 1}
    assert next_number({"incident": 1233}, "incident")[0] == "INC0001234"


def test_numbers_round_trip_and_grow_past_seven_digits() -> None:
    assert format_number("problem", 10_000_000) == "PRB10000000"
    for number in ("INC0001234", "PRB10000000", "CHG0000001"):
        kind, sequence = parse_number(number)
        assert format_number(kind, sequence) == number
    assert parse_number(" inc0001234 ") == ("incident", 1234)


@pytest.mark.parametrize("text", ["INC123", "INC0000000", "REQ0000001", "INC00012a4", "", "0001234"])
def test_what_is_not_a_number_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(TicketNumberError, match="INC0000001, PRB0000001, CHG0000001") as caught:
        parse_number(text)
    assert caught.value.field == "number"


def test_bad_sequences_and_types() -> None:
    for sequence in (0, -1, True, 1.0):
        with pytest.raises(TicketNumberError):
            format_number("incident", sequence)  # type: ignore[arg-type]
    with pytest.raises(UnknownTicketType):
        next_number({}, "request")
