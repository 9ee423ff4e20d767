"""A stage appending one clock command (`ticket.tick`, `heartbeat.tick`, ...) to `ems.commands` every
`tick_interval` s, so the stages that decide on event time (SLA sweeps, heartbeat expiries) move on
while no other record comes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from ems.schemas.command import Command
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import close_quietly, make_producer, settle
from ems.streams.stage import Stage


def clock_command(name: str, target: str, at: datetime | None = None) -> Command:
    """The command `name` on `target` from the ticker, at `at` (default: now)."""
    return Command(name=name, target=target, actor="ticker", **({"occurred_at": at} if at else {}))


class CommandTicker(Stage):
    """Appends `clock_command(command, target)` (the wall clock) every `tick_interval` s."""

    def __init__(self, settings: Settings, stage: str, command: str, target: str) -> None:
        super().__init__(stage)
        self.settings, self.command, self.target = settings, command, target
        self.topic = settings.topic("commands")

    async def run(self) -> None:
        producer = make_producer(self.settings)
        try:
            await producer.start()
            self.status.running()
            while not self.stopping:
                record = clock_command(self.command, self.target)
                await settle([await producer.send(self.topic, value=encode(record), key=record.key.encode())])
                self.status.progress(1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.tick_interval)
        finally:
            await close_quietly(producer)
