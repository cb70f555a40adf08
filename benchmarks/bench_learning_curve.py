"""Learning curve on NLBSE'24: test macro F1 of the learned annotator after 50, 100, 200,
400 and 1,500 human-coded train units, the units chosen at random or by active learning
(:func:`ptmcoder.annotate.active.suggest`: uncertainty + diversity), for several seeds.
Offline; TF-IDF features and a fixed learner so every point costs the same.

    python benchmarks/bench_learning_curve.py [--seeds 3] [--sizes 50,100,200,400,1500]

Both strategies start from the same random 50 units of a seed; "active" then asks the
model trained so far for the next batch (up to the next size) among the remaining train
units. Human labels are the NLBSE train labels (never invented); the test split is never
seen by the selection.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "nlbse24_issue_classification"
CODES = ["bug", "question", "enhancement"]
NLBSE_TO_CODE = {"bug": "bug", "question": "question", "feature": "enhancement"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sizes", default="50,100,200,400,1500")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument(
        "--diversity-weight",
        type=float,
        default=1.0,
        help="weight of diversity beside uncertainty in active selection (0: uncertainty only)",
    )
    args = p.parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from scipy.sparse import vstack

    from ptmcoder.annotate.active import random_choice, suggest
    from ptmcoder.annotate.learn import learn, macro_f1, predictions, tfidf_features

    sizes = [int(s) for s in args.sizes.split(",")]
    train = pd.read_csv(args.data / "issues_train.csv", keep_default_na=False)
    test = pd.read_csv(args.data / "issues_test.csv", keep_default_na=False)
    texts = list("Title: " + train.title + "\n\n" + train.body)
    texts += list("Title: " + test.title + "\n\n" + test.body)
    t0 = time.perf_counter()
    X = tfidf_features(texts)
    X_train, X_test = X[: len(train)], X[len(train) :]
    Y = np.array([[int(NLBSE_TO_CODE[g] == c) for c in CODES] for g in train.label])
    Y_test = np.array([[int(NLBSE_TO_CODE[g] == c) for c in CODES] for g in test.label])
    fixed = {"svm": (0.5,)}
    print(f"features {X.shape} in {time.perf_counter() - t0:.1f} s; learner fixed: {fixed}")

    def evaluate(chosen: list[int]) -> tuple[float, object, np.ndarray]:
        rest = [i for i in range(len(train)) if i not in set(chosen)]
        other = vstack([X_train[rest], X_test]) if rest else X_test
        learned = learn(
            CODES, Y[chosen], {"tfidf": (X_train[chosen], other)}, folds=3, learners=fixed
        )
        pred = predictions(learned)[len(chosen) + len(rest) :]
        return macro_f1(Y_test, pred, list(range(len(CODES))))[0], learned, np.array(rest)

    rows = []
    for seed in range(args.seeds):
        start = random_choice(len(train), sizes[0], seed)
        for strategy in ("random", "active"):
            chosen = list(start)
            order = [i for i in random_choice(len(train), len(train), seed) if i not in start]
            learned, rest = None, np.array([], dtype=int)  # set by the first evaluate()
            for size in sizes:
                if size > len(chosen):
                    need = size - len(chosen)
                    if strategy == "random" or size >= len(train):
                        taken = set(chosen)
                        chosen += [i for i in order if i not in taken][:need]
                    else:
                        n_lab = len(chosen)
                        pool_proba = learned.proba[n_lab : n_lab + len(rest)]
                        thresholds = np.array([learned.thresholds.get(c, 1.0) for c in CODES])
                        picks = suggest(
                            pool_proba,
                            X_train[rest],
                            X_train[chosen],
                            need,
                            thresholds=thresholds,
                            decision=learned.decision,
                            diversity_weight=args.diversity_weight,
                        )
                        chosen += [int(rest[i]) for i, _ in picks]
                f1, learned, rest = evaluate(chosen)
                rows.append({"seed": seed, "strategy": strategy, "units": size, "macro_f1": f1})
                print(f"seed {seed} {strategy:6s} {size:5d} units: test macro F1 {f1:.3f}")
    table = pd.DataFrame(rows).groupby(["units", "strategy"])["macro_f1"]
    summary = table.agg(["mean", "std", "count"]).unstack("strategy")
    print("\nmacro F1 on the 1,500 test issues, mean (sd) over seeds")
    for size in sizes:
        parts = [
            f"{s} {summary.loc[size, ('mean', s)]:.3f} ({summary.loc[size, ('std', s)]:.3f})"
            for s in ("random", "active")
        ]
        print(f"{size:5d} human-coded units: " + "; ".join(parts))


if __name__ == "__main__":
    main()
