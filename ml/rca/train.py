"""Train the root-cause forest on generated scenarios: `python -m ems.ml.rca.train`.

For each scenario (`ems.ml.scenarios`, seeds disjoint from the evaluation's 101-130), the pure
pipeline (`ems.ml.offline`) groups the alerts into incidents; each incident whose most common label
is a fault gives one sample per candidate (`features.build`, the code the correlate stage runs),
labelled 1 for the fault's true root asset, and once more without the root's own alerts (as if lost:
the root must then be named from what the topology implies). scikit-learn fits a Random Forest
(fixed random state: the same seeds give the same file); its trees are written as JSON
(`forest.py`) with the training metrics and the scores on validation seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.topology import Topology
from ems.ml.evaluate import final_members
from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.features import NAMES, build
from ems.ml.rca.forest import Forest
from ems.ml.rca.rank import DEFAULT_MODEL
from ems.ml.scenarios import FAMILIES, Scenario, generate
from ems.schemas.incident import Member

TRAIN_SEEDS = "1-60"
VALIDATION_SEEDS = "81-100"
VERSION = "rca-rf-4"
PARAMS = {"n_estimators": 80, "max_depth": 10, "min_samples_leaf": 3, "class_weight": "balanced"}


def correlated(scenario: Scenario, model: str = "off") -> tuple[Topology, dict[str, list[Member]], dict]:
    """The pure pipeline over the scenario: its topology, each incident's final members and its last
    ranking (by the model `model`: default, off or a file)."""
    config = replace(CorrelationConfig(), rca_model=model)
    assets = [s.asset() for s in scenario.network.specs.values()]
    correlator, records = correlate(alert_changes(scenario.observations()), assets, config)
    members: dict[str, list[Member]] = defaultdict(list)
    for incident_id, m in final_members(records):
        members[incident_id].append(m)
    latest = {r.incident.incident_id: r.incident.rca for r in records}
    return correlator.topology, dict(sorted(members.items())), latest


def labelled_incidents(scenario: Scenario, incidents: dict[str, list[Member]]) -> list[tuple[list, str]]:
    """(members, true root asset) of each incident whose most common label is a fault."""
    truth = scenario.truth()
    faults = {f.label: f for f in scenario.faults}
    out = []
    for members in incidents.values():
        labels = Counter(truth.get((e.asset_id, e.event, e.opened_at), "?") for e in members)
        label = labels.most_common(1)[0][0]
        if label in faults:
            out.append((members, faults[label].root))
    return out


def samples(seeds: list[int], family: str = "campus") -> tuple[list[tuple[float, ...]], list[int]]:
    """Feature rows and labels (1: the true root) of every candidate of the seeds' fault incidents
    (scenarios of the topology `family`)."""
    rows, labels = [], []
    for seed in seeds:
        scenario = generate(seed, family=family)
        topology, incidents, _ = correlated(scenario)
        for members, root in labelled_incidents(scenario, incidents):
            more_rows, more_labels = incident_rows(members, root, topology)
            rows += more_rows
            labels += more_labels
    return rows, labels


def incident_rows(
    members: list[Member], root: str, topology: Topology
) -> tuple[list[tuple[float, ...]], list[int]]:
    """Feature rows and labels (1: `root`) of an incident's candidates (`features.build`, the code the
    correlate stage runs), also without the root's own alerts (lost, or a silent device: the root must
    then be named from what the topology implies). Used for scenarios and for `ems retrain --log`."""
    rows, labels = [], []
    without = [m for m in members if m.asset_id != root]
    for group in (members, without) if len(without) < len(members) and without else (members,):
        for c in build(group, topology):
            rows.append(c.values)
            labels.append(int(c.asset_id == root))
    return rows, labels


def fit(rows: list[tuple[float, ...]], labels: list[int], version: str, metrics: dict) -> Forest:
    from sklearn.ensemble import RandomForestClassifier  # here: scikit-learn costs every process ~1 s

    # Every core (n_jobs=-1): each tree's seed is drawn from random_state before any is built, so the
    # trees, and the file, are the same whatever the number of cores.
    model = RandomForestClassifier(random_state=7, n_jobs=-1, **PARAMS).fit(rows, labels)
    importance = {n: round(float(v), 4) for n, v in zip(NAMES, model.feature_importances_, strict=True)}
    return Forest.from_sklearn(model, NAMES, version, {**metrics, "importance": importance})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training options (also those of `ems retrain --scenarios`)."""
    parser.add_argument("--seeds", default=TRAIN_SEEDS, help="training scenario seeds")
    parser.add_argument("--validate", default=VALIDATION_SEEDS, help="validation seeds (not trained on)")
    parser.add_argument(
        "--family", default="campus", choices=sorted(FAMILIES), help="topology family of the scenarios"
    )
    parser.add_argument("--version", default=VERSION, help="the model version recorded with verdicts")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="model file to write")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.ml.rca.train", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Train on the scenarios of `args.seeds`, validate, write the model file."""
    from ems.ml.evaluate import seed_range
    from ems.ml.rca.evaluate import rca_scores
    from ems.ml.rca.rank import Ranker

    started = time.monotonic()
    family = getattr(args, "family", "campus")
    if family != "campus" and (
        Path(args.out).resolve() == DEFAULT_MODEL.resolve() or args.version == VERSION
    ):
        print(
            f"error: --out and --version: a model trained on the {family} family needs its own file and "
            f"version (the shipped {DEFAULT_MODEL.name}, {VERSION}, is trained on campus)",
            file=sys.stderr,
        )
        return 2
    rows, labels = samples(seed_range(args.seeds), family)
    print(f"{len(rows)} candidates ({sum(labels)} roots) from {family} seeds {args.seeds}", file=sys.stderr)
    metrics = {"train_seeds": args.seeds, "candidates": len(rows), "roots": sum(labels), "params": PARAMS}
    if family != "campus":  # the shipped file's metrics stay as they were
        metrics["family"] = family
    forest = fit(rows, labels, args.version, metrics)
    scores = rca_scores(seed_range(args.validate), Ranker(forest), family)
    forest.metrics["validation"] = {"seeds": args.validate, **scores["overall"]}
    forest.dump(args.out)
    print(
        f"validation seeds {args.validate}: top-1 {scores['overall']['top1']:.3f}, "
        f"top-3 {scores['overall']['top3']:.3f}; wrote {args.out} in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
