"""Does the online model learned from feedback help? `python -m ems.ml.rca.online_eval`.

A simulated operator gives feedback on the feedback seeds' scenarios (`--feedback-seeds`, in seed
order): every fault's main incident whose verdict is wrong is corrected (`--feedback wrong`, the
default), or every one is labelled, right verdicts confirmed (`--feedback all`). Each label is
learned at once, so later verdicts are ranked by the blend as the stage would rank them. Then the
held-out seeds (`--held-out`) are ranked by the forest alone and by the forest blended with the
online model (frozen), and top-1 / top-3 are printed overall, per fault kind and for the faults whose
root never alerted in its incident. The forest is the shipped model unless `--forest FILE` (e.g. one
trained on a couple of scenarios: a deliberately weak forest) or `--forest-seeds` trains one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ems.ml.rca.evaluate import Verdict, _main, scores
from ems.ml.rca.forest import Forest
from ems.ml.rca.online import LEARNING_RATE, MAX_WEIGHT, K, OnlineModel, label_groups
from ems.ml.rca.rank import Ranker


def _grouped(seed: int, family: str):
    from ems.ml.rca.train import correlated
    from ems.ml.scenarios import generate

    scenario = generate(seed, family=family)
    topology, members, _ = correlated(scenario)
    return scenario, topology, list(members.values())


def learn_feedback(
    ranker: Ranker, online: OnlineModel, seeds: list[int], family: str, mode: str = "wrong"
) -> dict[str, int]:
    """The simulated operator over the seeds' scenarios; counts of verdicts seen, wrong and learned."""
    seen = wrong = 0
    for seed in seeds:
        scenario, topology, incidents = _grouped(seed, family)
        for verdict, members in _main(scenario, [(m, None) for m in incidents]):
            ranking = ranker.rank(members, topology, online)
            seen += 1
            right = ranking is not None and ranking.asset_id == verdict.root
            wrong += not right
            if mode == "all" or not right:
                online.learn(verdict.root, label_groups(verdict.root, members, topology))
    return {
        "verdicts": seen,
        "wrong": wrong,
        "learned": online.labels,
        "skipped": sum(online.skipped.values()),
    }


def held_out(ranker: Ranker, online: OnlineModel, seeds: list[int], family: str) -> dict:
    """Scores (`rca.evaluate.scores`) of the forest alone and of the blend on the held-out seeds, and
    how many faults only one of them names."""
    items: dict[str, list[Verdict]] = {"forest": [], "blend": []}
    for seed in seeds:
        scenario, topology, incidents = _grouped(seed, family)
        for key, model in (("forest", None), ("blend", online)):
            ranked = [(m, ranker.rank(m, topology, model)) for m in incidents]
            items[key] += [v for v, _ in _main(scenario, ranked)]
    right = {
        k: [v.ranking is not None and v.ranking.asset_id == v.root for v in vs] for k, vs in items.items()
    }
    paired = list(zip(right["forest"], right["blend"], strict=True))
    return {
        **{k: scores(v) for k, v in items.items()},
        "only_forest": sum(f and not b for f, b in paired),
        "only_blend": sum(b and not f for f, b in paired),
    }


def report(result: dict, out: TextIO) -> None:
    forest, blend = result["forest"], result["blend"]
    cols = (("top1", "top-1"), ("top3", "top-3"), ("missing_root_top1", "silent top-1"))
    print(
        f"{forest['overall']['faults']} faults ({forest['overall']['missing_root']} silent roots)", file=out
    )
    print(f"{'ranking':24}" + "".join(f"{h:>14}" for _, h in cols), file=out)
    for name, row in (("forest", forest["overall"]), ("forest + online", blend["overall"])):
        print(f"{name:24}" + "".join(f"{row[c]:>14.3f}" for c, _ in cols), file=out)
    diff = "".join(f"{blend['overall'][c] - forest['overall'][c]:>+14.3f}" for c, _ in cols)
    print(f"{'difference':24}{diff}", file=out)
    print(f"{'top-1 per kind':18}{'faults':>8}{'forest':>9}{'+online':>9}", file=out)
    for kind, row in forest["kinds"].items():
        print(f"{kind:18}{row['faults']:>8}{row['top1']:>9.3f}{blend['kinds'][kind]['top1']:>9.3f}", file=out)
    only = f"{result['only_blend']} faults; by the forest only: {result['only_forest']}"
    print(f"named by the blend only: {only}", file=out)


def main(argv: list[str] | None = None) -> int:
    from ems.ml.evaluate import seed_range
    from ems.ml.rca.drift import retrain
    from ems.ml.rca.rank import DEFAULT_MODEL
    from ems.ml.scenarios import FAMILIES

    parser = argparse.ArgumentParser(
        prog="python -m ems.ml.rca.online_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--family", default="campus", choices=sorted(FAMILIES), help="scenario topology family"
    )
    parser.add_argument("--feedback-seeds", default="1-60", help="seeds the simulated operator labels")
    parser.add_argument("--held-out", default="101-130", help="seeds both rankings are scored on")
    parser.add_argument("--feedback", choices=("wrong", "all"), default="wrong", help="what is labelled")
    parser.add_argument("--forest", type=Path, default=DEFAULT_MODEL, help="the forest's model file")
    parser.add_argument("--forest-seeds", help="train the forest on these campus seeds instead")
    parser.add_argument("--k", type=float, default=K, help="labels at which the online part weighs half")
    parser.add_argument("--max-weight", type=float, default=MAX_WEIGHT, help="the online part's cap")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="the online SGD's")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.forest_seeds:
        with tempfile.TemporaryDirectory() as tmp:
            forest = retrain(args.forest_seeds, "campus", "81-82", "rca-rf-weak", Path(tmp) / "weak.json")
    else:
        forest = Forest.load(args.forest)
    ranker, online = Ranker(forest), OnlineModel(args.k, args.learning_rate, args.max_weight)
    fed = learn_feedback(ranker, online, seed_range(args.feedback_seeds), args.family, args.feedback)
    print(
        f"forest {forest.version}; {args.family} feedback seeds {args.feedback_seeds} ({args.feedback}): "
        f"{fed['verdicts']} verdicts, {fed['wrong']} wrong, {fed['learned']} labels learned, "
        f"{fed['skipped']} skipped; weight {online.weight:.3f} (k {args.k:g})"
    )
    print(f"held-out {args.family} seeds {args.held_out}:", end=" ")
    report(held_out(ranker, online, seed_range(args.held_out), args.family), sys.stdout)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
