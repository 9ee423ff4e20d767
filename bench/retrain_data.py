"""The retrain benchmark's pure part (`ems.bench.retrain`): an event log of ~100,000 alerts as the
correlate stage would have written it, with operators' feedback, without Kafka.

`corpus(alerts, seeds)` runs each scenario of `seeds` (`ems.ml.scenarios`) through the pure pipeline
(`ems.ml.offline`: normalize, dedupe, the correlator ranking with the shipped model), one
`IncidentBatch` per `BATCH_CHANGES` alert changes as the stage publishes one per input batch. The
networks of all the seeds form one registry (their asset ids are distinct): one deployment.
Correlating 1,000 scenarios would take longer than the retrain being measured, so the scenarios'
decisions are **repeated** until `alerts` alerts are covered: copy `r` of a scenario is the same
faults on the same assets again, with its incident and alert ids renamed (`inc_` -> `inc_r<r>-`,
`alr_` -> `alr_r<r>-`, in the encoded records), i.e. new incidents and alerts on one network.

Feedback: one incident in `FEEDBACK_EVERY` (by a stable hash of its id) among those whose most common
label is a fault gets an `incident.root_cause` command naming the true root: `confirm` when the
shipped model named it, else `correct` (the model's misses) — when the API would accept it (the root
is a member's asset or among the model's top 3).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from functools import cache

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.engine import Correlator
from ems.ml.evaluate import final_members
from ems.ml.offline import alert_changes
from ems.ml.rca.train import labelled_incidents
from ems.ml.scenarios import generate
from ems.schemas.asset import AssetChanged
from ems.schemas.command import Command
from ems.schemas.incident import IncidentBatch, IncidentChanged, Member
from ems.streams.codecs import encode

BATCH_CHANGES = 20  # alert changes per correlation step (one IncidentBatch each)
FEEDBACK_EVERY = 3  # one fault incident in 3 gets feedback


@dataclass
class Scenario:
    """One correlated scenario: its encoded batches and what one copy of it holds."""

    seed: int
    batches: list[bytes]
    alerts: int  # distinct alerts (alert ids) the stage received
    alert_changes: int  # AlertChanged records the stage consumed
    decisions: int  # IncidentChanged records written
    roots: dict[str, tuple[str, str | None]]  # fault incident id -> (true root, the model's verdict)


@dataclass
class Corpus:
    """The log to write: incident batches, asset snapshots, feedback commands, and its counts."""

    incidents: list[bytes] = field(default_factory=list)
    assets: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value)
    feedback: list[tuple[bytes, bytes]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def renamed(raw: bytes, copy: int) -> bytes:
    """Copy `copy` of an encoded record: its incident and alert ids renamed (copy 0: unchanged)."""
    if copy == 0:
        return raw
    return raw.replace(b'"inc_', b'"inc_r%d-' % copy).replace(b'"alr_', b'"alr_r%d-' % copy)


def rename_id(ident: str, copy: int) -> str:
    return ident if copy == 0 else ident.replace("inc_", f"inc_r{copy}-", 1)


@cache
def correlated(seed: int) -> tuple[Scenario, list]:
    """The scenario of `seed` through the pure pipeline: its batches and its assets (kept: the same
    seed is not correlated twice in a process)."""
    scenario = generate(seed)
    assets = [s.asset() for s in scenario.network.specs.values()]
    correlator = Correlator(replace(CorrelationConfig(), rca_model="default"))
    for asset in assets:
        correlator.asset(asset)
    changes = alert_changes(scenario.observations())
    records: list[IncidentChanged] = []
    batches: list[bytes] = []
    for start in range(0, len(changes), BATCH_CHANGES):
        for change in changes[start : start + BATCH_CHANGES]:
            correlator.apply(change)
        if out := correlator.flush():
            records += out
            batches.append(encode(IncidentBatch(changes=out, seq=len(batches) + 1)))
    members: dict[str, list[Member]] = defaultdict(list)
    for incident_id, m in final_members(records):
        members[incident_id].append(m)
    verdict = {r.incident.incident_id: r.incident.rca for r in records}
    by_members = {id(ms): i for i, ms in members.items()}
    roots = {}
    for ms, root in labelled_incidents(scenario, members):
        incident_id = by_members[id(ms)]
        rca = verdict.get(incident_id)
        # What the API accepts (`feedback.check_feedback`): a member's asset or a ranked candidate.
        allowed = {m.asset_id for m in ms} | {c.asset_id for c in (rca.candidates if rca else ())}
        if root in allowed:
            roots[incident_id] = (root, rca.asset_id if rca else None)
    alerts = len({c.alert.alert_id for c in changes})
    return Scenario(seed, batches, alerts, len(changes), len(records), roots), assets


def feedback_of(scenario: Scenario, copy: int) -> list[Command]:
    """The feedback commands of one copy of a scenario."""
    out = []
    for incident_id, (root, named) in sorted(scenario.roots.items()):
        target = rename_id(incident_id, copy)
        if int.from_bytes(hashlib.sha256(target.encode()).digest()[:4], "big") % FEEDBACK_EVERY:
            continue
        verdict = "confirm" if named == root else "correct"
        args = {"asset_id": root, "verdict": verdict, "model_asset_id": named}
        out.append(Command(name="incident.root_cause", target=target, actor="bench", args=args))
    return out


def corpus(alerts: int, seeds: list[int], progress=lambda _: None) -> Corpus:
    """Batches covering at least `alerts` alerts: the scenarios of `seeds`, repeated (module doc)."""
    out = Corpus()
    scenarios = []
    for seed in seeds:
        scenario, assets = correlated(seed)
        scenarios.append(scenario)
        for asset in assets:
            record = AssetChanged(kind="created", asset=asset, cause=f"bench-{asset.asset_id}", actor="bench")
            out.assets.append((asset.asset_id.encode(), encode(record)))
        progress(f"scenario {seed}: {scenario.alerts} alerts, {scenario.decisions} decisions")
    copy = 0
    while out.counts["alerts"] < alerts:
        for scenario in scenarios:
            out.incidents += [renamed(b, copy) for b in scenario.batches]
            for cmd in feedback_of(scenario, copy):
                out.feedback.append((cmd.target.encode(), encode(cmd)))
                out.counts["corrections"] += cmd.args["verdict"] == "correct"
            out.counts["alerts"] += scenario.alerts
            out.counts["alert_changes"] += scenario.alert_changes
            out.counts["decisions"] += scenario.decisions
            out.counts["fault_incidents"] += len(scenario.roots)
            if out.counts["alerts"] >= alerts:
                break
        copy += 1
    out.counts["copies"] = copy
    out.counts["feedback"] = len(out.feedback)
    out.counts["batches"] = len(out.incidents)
    out.counts["assets"] = len(out.assets)
    out.counts["incident_bytes"] = sum(map(len, out.incidents))
    return out
