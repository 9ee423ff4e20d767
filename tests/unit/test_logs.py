"""The repeat filter: one line per cause per interval during an outage, with the count."""

from __future__ import annotations

import logging

from ems.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "aiokafka"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_of_a_cause_are_held_back_then_counted() -> None:
    clock = Clock()
    f = RepeatFilter(interval=10, clock=clock)
    assert f.filter(_record("Unable to connect to node %s: %s", 1, "refused"))
    passed = 0
    for i in range(500):  # one retry every 20 ms for 10 s, each with another address in the text
        clock.now = i * 0.02
        passed += f.filter(_record("Unable to connect to node %s: %s", i, "refused"))
    assert passed == 0
    clock.now = 10.5
    record = _record("Unable to connect to node %s: %s", 7, "refused")
    assert f.filter(record)
    assert record.getMessage() == "Unable to connect to node 7: refused (500 more like this in the last 10 s)"


def test_other_causes_and_info_lines_pass() -> None:
    f = RepeatFilter(interval=10, clock=Clock())
    assert f.filter(_record("a %s", 1))
    assert f.filter(_record("b %s", 1))  # another template
    assert f.filter(_record("a %s", 1, name="ems.worker"))  # another logger
    assert f.filter(_record("a %s", 1, level=logging.ERROR))  # another level
    for _ in range(3):
        assert f.filter(_record("progress %s", 1, level=logging.INFO))
    assert not f.filter(_record("a %s", 2))


def test_a_swallowed_record_with_mapping_args_formats_safely() -> None:
    clock = Clock()
    f = RepeatFilter(interval=1, clock=clock)
    first = logging.LogRecord("x", logging.WARNING, __file__, 1, "%(what)s down", ({"what": "db"},), None)
    assert f.filter(first)
    assert not f.filter(
        logging.LogRecord("x", logging.WARNING, __file__, 1, "%(what)s down", ({"what": "db"},), None)
    )
    clock.now = 2
    last = logging.LogRecord("x", logging.WARNING, __file__, 1, "%(what)s down", ({"what": "db"},), None)
    assert f.filter(last)
    assert last.getMessage() == "db down (1 more like this in the last 2 s)"
