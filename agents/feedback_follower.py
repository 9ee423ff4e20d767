"""The correlate stage's side of operator feedback: the online root-cause model (docs/rca.md "Online model").

The stage follows `ems.commands` beside its inputs. `decisions(records)` folds the stage's own
incident records (each incident's current members); `apply(messages, topology)` learns from the
`incident.root_cause` commands among the messages, in the order of their append time, then partition
and offset — the order a rebuild replays the whole topic in — and skips any offset already learned,
so a command read twice (the rebuild's read overlapping the consumer's) is learned once. Other
commands are ignored (their own stages dead-letter what they cannot read); a feedback command that
cannot be learned is logged and counted with its reason, never stops the stage, and one that cannot
be decoded is logged with the reason and counted apart (`Applied.unreadable`: the stage's `skipped`,
the command router dead-letters it). `install(core)` puts the model on the correlator. With
`rca_online` off nothing is kept or learned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.correlation.topology import Topology
from ems.ml.rca.feedback import COMMAND
from ems.ml.rca.online import Memberships, OnlineModel, learn_command
from ems.schemas.command import Command
from ems.schemas.incident import IncidentChanged
from ems.streams.codecs import DecodeError, decode
from ems.streams.failures import Failure, classify, describe

log = logging.getLogger(__name__)
MARK = COMMAND.encode()  # a cheap test before decoding: most commands are about alerts and assets


@dataclass
class Applied:
    """What one `FeedbackFollower.apply` skipped: the reasons of the feedback commands not learned, and
    how many records that looked like feedback could not be decoded."""

    skipped: list[str] = field(default_factory=list)
    unreadable: int = 0


class FeedbackFollower:
    """The online model, the memberships it learns against and the command offsets it learned."""

    def __init__(self, config: CorrelationConfig | None = None) -> None:
        cfg = config or CorrelationConfig()
        self.model = (
            OnlineModel(cfg.rca_online_k, max_weight=cfg.rca_online_max_weight) if cfg.rca_online else None
        )
        self.memberships = Memberships()
        self.next: dict[int, int] = {}  # commands partition -> the offset after the last one seen

    def decisions(self, records: Iterable[IncidentChanged]) -> None:
        """Fold the stage's own incident records (restored or just published)."""
        if self.model is not None:
            self.memberships.apply(records)

    def apply(self, messages: Iterable[ConsumerRecord], topology: Topology, live: bool = True) -> Applied:
        """Learn from the feedback commands among `messages`; what was skipped. Each label learned
        `live` is logged (a rebuild's are summed up in `summary`)."""
        out = Applied()
        for msg in sorted(messages, key=lambda m: (m.timestamp, m.partition, m.offset)):
            if msg.offset < self.next.get(msg.partition, 0):
                continue
            self.next[msg.partition] = msg.offset + 1
            if self.model is None or msg.value is None or MARK not in msg.value:
                continue
            try:
                cmd = decode(msg.value, Command)
            except DecodeError as exc:  # the command router dead-letters it
                log.warning("correlate: feedback at %d:%d not read: %s", msg.partition, msg.offset, exc)
                out.unreadable += 1
                continue
            before = self.model.labels
            try:
                reason = learn_command(self.model, self.memberships, topology, cmd)
            except Exception as exc:  # a label the code fails on must not stop the stage
                if classify(exc) is Failure.TRANSIENT:
                    raise
                log.exception("correlate: failed on feedback %s", cmd.event_id)
                reason = self.model.skip(f"failed on it: {describe(exc)}")
            if reason:
                log.warning(
                    "correlate: feedback %s on %s at %d:%d not learned: %s",
                    cmd.event_id,
                    cmd.target,
                    msg.partition,
                    msg.offset,
                    reason,
                )
                out.skipped.append(reason)
            elif live and self.model.labels > before:
                log.info(
                    "correlate: online model learned feedback %s on %s (%d labels)",
                    cmd.event_id,
                    cmd.target,
                    self.model.labels,
                )
        return out

    def install(self, core: Correlator) -> None:
        core.online = self.model

    @property
    def summary(self) -> str:
        if self.model is None:
            return "online model off"
        skipped = sum(self.model.skipped.values())
        return f"online model: {self.model.labels} labels learned, {skipped} skipped"
