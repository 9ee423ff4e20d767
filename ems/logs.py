"""Logging set-up for every `ems` process: one line per cause per interval during an outage.

While a server is away, clients retry several times a second and each retry logs the same warning
(aiokafka alone writes one line per connection attempt). `RepeatFilter` lets the first record of a
cause through, swallows its repeats for `interval` seconds and then lets the next one through with
how many it swallowed: `… (412 more like this in the last 10 s)`. A cause is the logger, the level
and the message template (the text before `%` formatting), so the same failure with a different
address or offset still counts as the same cause. INFO and DEBUG records are never held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RepeatFilter(logging.Filter):
    """Drops WARNING+ records whose cause already logged within `interval` seconds (see module)."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval, self.clock = interval, clock
        self._causes: dict[tuple, tuple[float, int]] = {}  # cause -> (window start, swallowed)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        cause = (record.name, record.levelno, str(record.msg), exc)
        now = self.clock()
        started, swallowed = self._causes.get(cause, (None, 0))
        if started is not None and now - started < self.interval:
            self._causes[cause] = (started, swallowed + 1)
            return False
        self._causes[cause] = (now, 0)
        if len(self._causes) > 10_000:  # causes are templates; this only guards against a leak
            self._causes = {cause: (now, 0)}
        if swallowed:
            more = f"{swallowed} more like this in the last {now - started:.0f} s"
            record.msg = f"{record.getMessage()} ({more})"
            record.args = None
        return True


def setup_logging(verbose: bool = False) -> None:
    """Root logging to stderr with the repeat filter on its handler (idempotent)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
    logging.getLogger("httpx").setLevel(logging.WARNING)


def faust_logging_config() -> dict:
    """`logging_config` for `faust.Worker`: Faust replaces the root handlers at start; this keeps
    the format of the other `ems` processes and the repeat filter."""
    return {
        "merge": True,
        "formatters": {"ems": {"format": FORMAT}},
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "ems",
                "filters": ["repeats"],
            }
        },
    }
