"""`ems retrain --log`: train the root-cause forest on the event log, labelled by the operators.

1. Read (`log_reader`): the incident decisions of a range of `ems.incidents`, every
   `incident.root_cause` command of `ems.commands`, the asset registry of `ems.assets`.
2. Each incident's members after the decisions read (`replay.MemberFold`, folded while reading); its label is
   the operators' latest feedback (`feedback.labels_from`). Incidents without feedback are skipped
   (the topology root is not used as a label: it is what the model is to improve on).
3. A stable hash of the incident id holds out a share of the labelled incidents (`--held-out`).
   The others give feature rows through `train.incident_rows` (`features.build`, the code the
   correlate stage runs), optionally with scenario rows (`--scenario-seeds`); the forest is fitted
   with the same parameters as the shipped model.
4. The held-out incidents are ranked by the new model and by the current one (`--baseline`):
   top-1 / top-3. The model is written as `<model-dir>/<version>.json` with these metrics; the
   shipped default is never overwritten.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from ems.ml.correlation.topology import Topology
from ems.ml.evaluate import final_members
from ems.ml.rca.features import build, candidates_of
from ems.ml.rca.feedback import Label, labels_from
from ems.ml.rca.forest import Forest
from ems.ml.rca.rank import DEFAULT_MODEL, Ranker
from ems.schemas.incident import IncidentChanged, Member


def incidents_of(changes: Iterable[IncidentChanged]) -> dict[str, list[Member]]:
    """Each incident's current members after `changes`."""
    out: dict[str, list[Member]] = defaultdict(list)
    for incident_id, member in final_members(changes):
        out[incident_id].append(member)
    return dict(sorted(out.items()))


def held_out(incident_id: str, share: float) -> bool:
    """Whether the incident is held out for evaluation: a stable hash of its id, so a retrain over a
    longer range keeps the incidents it held out before."""
    digest = hashlib.sha256(incident_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def split(
    incidents: dict[str, list], labels: dict[str, Label], topology: Topology, share: float
) -> tuple[list[str], list[str], Counter]:
    """(training ids, held-out ids, skipped by reason) of the labelled incidents."""
    train, test, skipped = [], [], Counter()
    for incident_id, label in sorted(labels.items()):
        members = incidents.get(incident_id)
        if not members:
            skipped["no decisions in the range"] += 1
            continue
        if label.asset_id not in candidates_of(members, topology):
            skipped["the labelled root is not a candidate (topology changed?)"] += 1
            continue
        (test if held_out(incident_id, share) else train).append(incident_id)
    skipped["no feedback"] = len(set(incidents) - set(labels))
    return train, test, skipped


def top_k(ranker: Ranker, ids: list[str], incidents: dict, labels: dict, topology: Topology) -> dict:
    """top-1 / top-3 of `ranker` over the incidents `ids` (labels: the operators')."""
    return scored({"model": ranker.forest}, ids, incidents, labels, topology)["model"]


def scored(
    forests: dict[str, Forest], ids: list[str], incidents: dict, labels: dict, topology: Topology
) -> dict:
    """top-1 / top-3 of each forest over the incidents `ids`, each incident's features built once; the
    order is `Ranker.scored`'s (probability, then alerting first, then asset id)."""
    hits = {name: [0, 0] for name in forests}
    built = [build(incidents[i], topology) for i in ids]
    rows = [c.values for candidates in built for c in candidates]
    for name, forest in forests.items():
        p = iter(forest.probabilities(rows))
        for incident_id, candidates in zip(ids, built, strict=True):
            order = sorted((-next(p), c.alert_id is None, c.asset_id) for c in candidates)
            ranked = [asset for _, _, asset in order[:3]]
            root = labels[incident_id].asset_id
            hits[name][0] += ranked[:1] == [root]
            hits[name][1] += root in ranked
    n = len(ids)
    return {
        name: {
            "incidents": n,
            "top1": round(top1 / n, 3) if n else None,
            "top3": round(top3 / n, 3) if n else None,
        }
        for name, (top1, top3) in hits.items()
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `ems retrain --log`."""
    g = parser.add_argument_group("--log: retrain on the event log")
    g.add_argument("--since", type=datetime.fromisoformat, help="incident decisions at or after (ISO-8601)")
    g.add_argument("--until", type=datetime.fromisoformat, help="incident decisions before (ISO-8601)")
    g.add_argument("--from-offset", type=int, help="first offset of each ems.incidents partition")
    g.add_argument("--to-offset", type=int, help="offset to stop at (exclusive) in each partition")
    g.add_argument("--held-out", type=float, default=0.25, help="share of labelled incidents held out")
    g.add_argument("--scenario-seeds", default="", help="also train on these generated scenarios (1-60)")
    g.add_argument("--baseline", default="default", help="the model compared on the held-out incidents")
    g.add_argument("--model-dir", type=Path, default=Path("rca-models"), help="where the model file goes")
    g.add_argument(
        "--publish",
        action="store_true",
        help="also publish the model on ems.models and make it live (running stages swap to it)",
    )


def run(args: argparse.Namespace) -> int:
    """Steps 1-4 (module docstring); prints the metrics. 2: nothing to train on."""
    from ems.ml.rca.log_reader import Range, read
    from ems.ml.rca.rank import ranker_from
    from ems.ml.rca.train import PARAMS, fit, incident_rows, samples
    from ems.settings import get_settings

    version = args.version or "rca-rf-log-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or args.model_dir / f"{version}.json"
    if out.resolve() == DEFAULT_MODEL.resolve():
        print(f"error: {out} is the shipped default model: choose another --out", file=sys.stderr)
        return 2
    if args.publish and (refused := _unpublishable(version)):
        print(f"error: {refused}", file=sys.stderr)
        return 2
    started, cpu = time.monotonic(), time.process_time()
    span = Range(args.since, args.until, args.from_offset, args.to_offset)
    try:
        log = read(get_settings(), span)
    except (KafkaError, OSError) as exc:
        print(f"error: cannot read the event log from Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    read_s, read_cpu = time.monotonic() - started, time.process_time() - cpu
    incidents = log.members.incidents()
    labels = labels_from(log.feedback)
    train, test, skipped = split(incidents, labels, log.topology, args.held_out)
    replay = {
        "records": log.records,
        "decisions": log.members.decisions,
        "member_entries": log.members.entries,
        "unreadable": log.unreadable,
        "seconds": round(read_s, 2),
        "seconds_per_topic": {k: round(v, 2) for k, v in log.seconds.items()},
        "decisions_per_s": round(log.members.decisions / read_s) if read_s else None,
        "offsets": log.offsets,
    }
    print(
        f"read {log.records} records ({log.members.decisions} decisions, {len(incidents)} incidents) and "
        f"{len(log.feedback)} feedback commands in {read_s:.1f} s; labelled: {len(train)} to train, "
        f"{len(test)} held out; skipped: {dict(skipped)}",
        file=sys.stderr,
    )
    phases = {"replay_s": read_s, "replay_cpu_s": read_cpu}
    phases["split_s"], mark = time.monotonic() - started - read_s, time.monotonic()
    rows, y = [], []
    for incident_id in train:
        more, more_y = incident_rows(incidents[incident_id], labels[incident_id].asset_id, log.topology)
        rows += more
        y += more_y
    if args.scenario_seeds:
        from ems.ml.evaluate import seed_range

        more, more_y = samples(seed_range(args.scenario_seeds), getattr(args, "family", "campus"))
        rows += more
        y += more_y
    phases["features_s"], mark = time.monotonic() - mark, time.monotonic()
    if not rows or len(set(y)) < 2:
        print(
            "error: nothing to train on: no labelled incident with more than one candidate in the range "
            "(POST /api/v1/incidents/{id}/root-cause labels them; --scenario-seeds adds generated ones)",
            file=sys.stderr,
        )
        return 2
    metrics: dict[str, Any] = {
        "source": "log",
        "range": {k: str(v) for k, v in vars(span).items() if v is not None},
        "replay": replay,
        "labelled": {"train": len(train), "held_out": len(test), "skipped": dict(skipped)},
        "scenario_seeds": args.scenario_seeds,
        "candidates": len(rows),
        "roots": sum(y),
        "params": PARAMS,
    }
    forest = fit(rows, y, version, metrics)
    phases["fit_s"], mark = time.monotonic() - mark, time.monotonic()
    baseline = ranker_from(args.baseline)
    forests = {"model": forest} if baseline is None else {"model": forest, "baseline": baseline.forest}
    scores = scored(forests, test, incidents, labels, log.topology)
    if baseline is not None:
        scores["baseline"] = {"version": baseline.version, **scores["baseline"]}
    forest.metrics["held_out"] = scores
    phases["held_out_s"] = time.monotonic() - mark
    phases["total_cpu_s"] = time.process_time() - cpu
    forest.metrics["phases"] = {k: round(v, 2) for k, v in phases.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    forest.dump(out)
    for name, s in scores.items():
        print(f"held out, {name}: {s['incidents']} incidents, top-1 {s['top1']}, top-3 {s['top3']}")
    print(f"wrote {out} ({version}) in {time.monotonic() - started:.1f} s")
    if args.publish:
        return _publish(forest, metrics["range"], args)
    return 0


def _unpublishable(version: str) -> str | None:
    """Why `version` could not be published (checked before training), or None."""
    import asyncio

    from ems.model_cli import read_registry
    from ems.schemas.model_registry import VERSION_PATTERN
    from ems.settings import get_settings

    if not re.match(VERSION_PATTERN, version):
        return f"--version {version!r}: letters, digits and . _ : - only, at most 64 characters"
    try:
        registry, _ = asyncio.run(read_registry(get_settings()))
    except (KafkaError, OSError) as exc:
        return f"cannot read the model registry from Kafka: {type(exc).__name__}: {exc}"
    return f"--version {version} is published already: choose another" if registry.known(version) else None


def _publish(forest: Any, span: dict, args: argparse.Namespace) -> int:
    """`--publish`: append the model to the registry and make it live (refused: exit 2)."""
    from ems.ml.rca.registry import RegistryError
    from ems.model_cli import default_actor, publish
    from ems.settings import get_settings

    training = {"source": "log", "range": span, "scenario_seeds": args.scenario_seeds}
    try:
        print(publish(get_settings(), forest, default_actor(), training))
    except RegistryError as exc:
        print(f"error: not published: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, OSError) as exc:
        print(f"error: not published: cannot reach Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0
