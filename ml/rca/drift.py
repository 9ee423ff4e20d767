"""A model drifted by a changed topology against its retrained successor: `python -m ems.ml.rca.drift`.

Model A is the shipped model (trained on the `campus` family) unless `--a-seeds` trains one; model B
is retrained on scenarios of the changed family (`--family`, `datacenter` unless told) through the
path `ems retrain --scenarios` takes (`train.run`: the same features, forest parameters and file).
Both rank the same held-out scenarios of the changed family, seeds neither was trained on; top-1 and
top-3, overall and for the faults whose root never alerted in its incident, are printed for A, B and
B - A. The claim "the retrained model beats the drifted one" holds when B's top-1 is above A's:
exit 0, otherwise exit 1 with the reason.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ems.ml.rca.forest import Forest

COLUMNS = (
    ("top1", "top-1"),
    ("top3", "top-3"),
    ("missing_root_top1", "silent top-1"),
    ("missing_root_top3", "silent top-3"),
)


def retrain(seeds: str, family: str, validate: str, version: str, out: Path) -> Forest:
    """Train on `family` scenarios of `seeds` as `ems retrain --scenarios --family FAMILY` does."""
    from ems.ml.rca import train

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(
        [
            "--seeds",
            seeds,
            "--family",
            family,
            "--validate",
            validate,
            "--version",
            version,
            "--out",
            str(out),
        ]
    )
    if train.run(args) != 0:
        raise RuntimeError(f"training on {family} seeds {seeds} failed")
    return Forest.load(out)


def compare(a: Forest, b: Forest, held_out: list[int], family: str) -> dict:
    """A's and B's scores (`rca.evaluate.scores`: overall and per kind) on the held-out scenarios of
    `family`, each grouped once by the pure pipeline, and the paired count of faults only one names."""
    from ems.ml.rca.evaluate import scores, verdicts
    from ems.ml.rca.rank import Ranker
    from ems.ml.rca.train import correlated
    from ems.ml.scenarios import generate

    rankers = {"a": Ranker(a), "b": Ranker(b)}
    items: dict[str, list] = {"a": [], "b": []}
    for seed in held_out:
        scenario = generate(seed, family=family)
        topology, members, _ = correlated(scenario)
        for key, ranker in rankers.items():
            incidents = [(m, ranker.rank(m, topology)) for m in members.values()]
            items[key] += verdicts(scenario, incidents, topology, ranker)
    right = {
        k: [v.ranking is not None and v.ranking.asset_id == v.root for v in vs] for k, vs in items.items()
    }
    paired = list(zip(right["a"], right["b"], strict=True))
    return {
        "a": scores(items["a"]),
        "b": scores(items["b"]),
        "only_a": sum(x and not y for x, y in paired),
        "only_b": sum(y and not x for x, y in paired),
    }


def report(result: dict, a_name: str, b_name: str, out: TextIO) -> bool:
    """Print A, B and B - A, overall and per kind (top-1); True when B's top-1 beats A's."""
    a, b = result["a"]["overall"], result["b"]["overall"]
    print(f"{a['faults']} faults, {a['missing_root']} whose root never alerted in its incident", file=out)
    print(f"{'model':44}" + "".join(f"{h:>14}" for _, h in COLUMNS), file=out)
    for name, row in ((f"A {a_name}", a), (f"B {b_name}", b)):
        print(f"{name:44}" + "".join(f"{row[c]:>14.3f}" for c, _ in COLUMNS), file=out)
    print(f"{'B - A':44}" + "".join(f"{b[c] - a[c]:>+14.3f}" for c, _ in COLUMNS), file=out)
    print(f"{'top-1 per kind':18}{'faults':>8}{'A':>8}{'B':>8}{'B - A':>8}", file=out)
    for kind, row_a in result["a"]["kinds"].items():
        row_b = result["b"]["kinds"][kind]
        diff = row_b["top1"] - row_a["top1"]
        cells = f"{row_a['faults']:>8}{row_a['top1']:>8.3f}{row_b['top1']:>8.3f}{diff:>+8.3f}"
        print(f"{kind:18}{cells}", file=out)
    print(f"named by B only: {result['only_b']} faults; by A only: {result['only_a']}", file=out)
    beaten = b["top1"] > a["top1"]
    if beaten:
        print(f"claim holds: B beats A on top-1 by {b['top1'] - a['top1']:+.3f}", file=out)
    else:
        print(
            f"claim does NOT hold: B's top-1 {b['top1']:.3f} is not above A's {a['top1']:.3f} "
            "(the features carry over to this topology, or B had too few training scenarios)",
            file=out,
        )
    return beaten


def main(argv: list[str] | None = None) -> int:
    from ems.ml.evaluate import seed_range
    from ems.ml.rca.rank import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="python -m ems.ml.rca.drift", description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="datacenter", help="the changed topology family")
    parser.add_argument("--a-seeds", help="train A on these campus seeds (default: the shipped model)")
    parser.add_argument("--a-family", default="campus", help="the family A is trained on with --a-seeds")
    parser.add_argument("--b-seeds", default="1-60", help="B's training seeds (of --family)")
    parser.add_argument("--b-family", help="train B on another family (a control: default --family)")
    parser.add_argument("--validate", default="81-100", help="validation seeds of the trained models")
    parser.add_argument("--held-out", default="101-130", help="held-out seeds of --family both are scored on")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        if args.a_seeds:
            a = retrain(args.a_seeds, args.a_family, args.validate, "rca-rf-drift-a", Path(tmp) / "a.json")
            a_name = f"{a.version} ({args.a_family} {args.a_seeds})"
        else:
            a = Forest.load(DEFAULT_MODEL)
            a_name = f"{a.version} (shipped, campus)"
        b_family = args.b_family or args.family
        b = retrain(args.b_seeds, b_family, args.validate, "rca-rf-drift-b", Path(tmp) / "b.json")
    b_name = f"{b.version} ({b_family} {args.b_seeds})"
    result = compare(a, b, seed_range(args.held_out), args.family)
    print(f"held-out {args.family} seeds {args.held_out}:", end=" ")
    beaten = report(result, a_name, b_name, sys.stdout)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0 if beaten else 1


if __name__ == "__main__":
    sys.exit(main())
