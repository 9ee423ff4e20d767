"""The correlate stage's side of operator feedback: the online root-cause model (docs/rca.md "Online model").

The stage follows `ems.commands` beside its inputs. `decisions(records)` folds the stage's own
incident records (each incident's current members); `apply(messages, topology)` learns from the
`incident.root_cause` commands among the messages, in the order of their append time, then
partition (each partition's in offset order), and skips any offset already seen, so a command read
twice is learned once. Each feedback command taken becomes a `LearnedLabel` (the rows learned, or
why not), which the stage publishes with its next record (`take`) beside the commands' positions
(`positions`); a restart learns those rows again in order (`restore`) and reads the commands after
them: the model it gets is the live one, whatever changed in the incidents or the topology since.
Other commands are ignored (their own stages dead-letter what they cannot read); a feedback command
that cannot be learned is logged, counted and recorded with its reason, never stops the stage, and
one that cannot be decoded is logged with the reason and counted apart (`Applied.unreadable`: the
stage's `skipped`, the command router dead-letters it). `install(core)` puts the model on the
correlator. With `rca_online` off nothing is kept or learned.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.correlation.topology import Topology
from ems.ml.rca.feedback import COMMAND
from ems.ml.rca.online import Memberships, OnlineModel, learn_label
from ems.schemas.command import Command
from ems.schemas.incident import IncidentChanged, LabelRow, LearnedLabel
from ems.schemas.limits import printable
from ems.streams.codecs import DecodeError, decode
from ems.streams.failures import Failure, classify, describe

log = logging.getLogger(__name__)
MARK = COMMAND.encode()  # a cheap test before decoding: most commands are about alerts and assets
# Labels of one record at most (a label is ~5 kB, up to ~70 kB; `ems.incidents` takes 8 MB records):
# past it the rest of the commands wait for the next batch (`Applied.resume`).
LABEL_BYTES = 2 * 1024 * 1024


def in_order(messages: Iterable[ConsumerRecord]) -> list[ConsumerRecord]:
    """The messages by append time across partitions, each partition's kept in offset order (a later
    offset stamped earlier must not pass an earlier one, or the earlier would count as seen)."""
    parts: dict[int, list[ConsumerRecord]] = {}
    for msg in messages:
        parts.setdefault(msg.partition, []).append(msg)
    runs = [sorted(run, key=lambda m: m.offset) for _, run in sorted(parts.items())]
    return list(heapq.merge(*runs, key=lambda m: (m.timestamp, m.partition)))


@dataclass
class Applied:
    """What one `FeedbackFollower.apply` skipped: the reasons of the feedback commands not learned, how
    many records that looked like feedback could not be decoded, and the commands left for the next
    record once this one's labels reached the budget."""

    skipped: list[str] = field(default_factory=list)
    unreadable: int = 0
    resume: dict[int, int] = field(default_factory=dict)  # partition -> first offset left for later


class FeedbackFollower:
    """The online model, the memberships it learns against and the command offsets it learned."""

    def __init__(self, config: CorrelationConfig | None = None, budget: int = LABEL_BYTES) -> None:
        cfg = config or CorrelationConfig()
        self.model = (
            OnlineModel(cfg.rca_online_k, max_weight=cfg.rca_online_max_weight) if cfg.rca_online else None
        )
        self.memberships = Memberships()
        self.next: dict[int, int] = {}  # commands partition -> the offset after the last one seen
        self.pending: list[LearnedLabel] = []  # labels taken since the last `take`, in order
        self.pending_bytes = 0
        self.budget = budget

    def restore(self, labels: Iterable[LearnedLabel], positions: dict[str, int]) -> None:
        """Learn the labels of the stage's own records again, in order (the rows they kept, so the
        model is the one the live stage had), and resume the commands after their positions."""
        self.next = {
            int(key.partition(":")[2]): offset
            for key, offset in positions.items()
            if key.startswith("commands:")
        }
        if self.model is None:
            return
        for label in labels:
            if label.skipped is not None:
                self.model.skip(label.skipped)
            elif label.asset_id is not None:
                self.model.learn(label.asset_id, label.groups)

    def take(self) -> list[LearnedLabel]:
        """The labels taken since the last call (for the next record), in order."""
        taken, self.pending, self.pending_bytes = self.pending, [], 0
        return taken

    def positions(self) -> dict[str, int]:
        """'commands:<partition>' -> the offset after the last command seen."""
        return {f"commands:{p}": offset for p, offset in sorted(self.next.items())}

    def decisions(self, records: Iterable[IncidentChanged]) -> None:
        """Fold the stage's own incident records (restored or just published)."""
        if self.model is not None:
            self.memberships.apply(records)

    def apply(self, messages: Iterable[ConsumerRecord], topology: Topology) -> Applied:
        """Learn from the feedback commands among `messages`; what was skipped, and where to read
        again when the record filled up. Each label learned is logged (a rebuild's, restored from
        the records, are summed up in `summary`)."""
        out = Applied()
        for msg in in_order(messages):
            if msg.offset < self.next.get(msg.partition, 0):
                continue
            if self.pending_bytes >= self.budget:  # the record is full: the rest waits for the next
                out.resume.setdefault(msg.partition, msg.offset)
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
            if cmd.name != COMMAND:
                continue
            before, groups = self.model.labels, []
            try:
                reason, groups = learn_label(self.model, self.memberships, topology, cmd)
            except Exception as exc:  # a label the code fails on must not stop the stage
                if classify(exc) is Failure.TRANSIENT:
                    raise
                log.exception("correlate: failed on feedback %s", cmd.event_id)
                reason = self.model.skip(f"failed on it: {describe(exc)}")
            label = _label(cmd, msg, reason, groups)
            self.pending.append(label)
            self.pending_bytes += len(label.model_dump_json())
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
            elif self.model.labels > before:
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


def _label(cmd: Command, msg: ConsumerRecord, reason: str | None, groups: list) -> LearnedLabel:
    asset = cmd.args.get("asset_id")
    return LearnedLabel(
        command=cmd.event_id,
        partition=msg.partition,
        offset=msg.offset,
        incident_id=cmd.target[:128],
        asset_id=asset[:128] if isinstance(asset, str) and asset else None,
        skipped=printable(reason)[:512] if reason else None,  # an error's text may hold a NUL
        groups=[[LabelRow(asset_id=c.asset_id, values=list(c.values)) for c in g] for g in groups],
    )
