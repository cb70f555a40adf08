"""Active learning: which units a human should code next.

:func:`suggest` ranks the not yet human-coded units by *uncertainty* of the learned
model and spreads the choice by *diversity*: greedily, each next unit maximises

    uncertainty(u) + diversity_weight * (1 - max cosine(u, already human-coded or chosen))

over the ``pool_factor * k`` most uncertain units (a k-center-greedy compromise, as in
Sener and Savarese, "Active learning for convolutional neural networks: a core-set
approach", ICLR 2018, combined with uncertainty sampling, Lewis and Gale, SIGIR 1994).

Uncertainty of a unit: with the ``top1`` and ``top1+threshold`` decisions, one minus the
margin between its two most probable codes (Scheffer et al., "Active hidden Markov models
for information extraction", IDA 2001); with ``threshold``, the largest closeness of a
code's probability to that code's threshold (1 at the threshold, 0 at 0 or 1).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def uncertainty(proba: np.ndarray, thresholds: np.ndarray, decision: str) -> np.ndarray:
    if proba.shape[0] == 0:
        return np.zeros(0)
    if decision in ("top1", "top1+threshold") and proba.shape[1] > 1:
        top2 = np.sort(proba, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    span = np.maximum(thresholds, 1.0 - thresholds)[None, :]
    return np.max(1.0 - np.abs(proba - thresholds[None, :]) / span, axis=1)


def _unit_rows(X: Any) -> Any:
    if hasattr(X, "toarray"):
        from sklearn.preprocessing import normalize

        return normalize(X)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _cos(A: Any, B: Any) -> np.ndarray:
    out = A @ B.T
    return out.toarray() if hasattr(out, "toarray") else np.asarray(out)


def suggest(
    proba: np.ndarray,
    X_pool: Any,
    X_coded: Any,
    k: int,
    *,
    thresholds: np.ndarray,
    decision: str = "top1+threshold",
    diversity_weight: float = 1.0,
    pool_factor: int = 10,
) -> list[tuple[int, float]]:
    """``k`` (pool index, uncertainty) pairs, in the order chosen (see module doc)."""
    n = proba.shape[0]
    if k <= 0 or n == 0:
        return []
    u = uncertainty(proba, thresholds, decision)
    order = np.argsort(-u, kind="stable")[: min(n, max(k, pool_factor * k))]
    P = _unit_rows(X_pool[order])
    if X_coded is not None and X_coded.shape[0]:
        C = _unit_rows(X_coded)
        nearest = np.zeros(len(order))
        for start in range(0, C.shape[0], 2000):
            nearest = np.maximum(nearest, _cos(P, C[start : start + 2000]).max(axis=1))
    else:
        nearest = np.zeros(len(order))
    chosen: list[tuple[int, float]] = []
    available = np.ones(len(order), dtype=bool)
    for _ in range(min(k, len(order))):
        gain = u[order] + diversity_weight * (1.0 - nearest)
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        available[best] = False
        chosen.append((int(order[best]), float(u[order[best]])))
        nearest = np.maximum(nearest, _cos(P, P[best]).ravel())
    return chosen


def random_choice(n: int, k: int, seed: int) -> list[int]:
    return [int(i) for i in np.random.default_rng(seed).permutation(n)[:k]]


def write_suggestions(
    annotator: Any, run_dir: Path, k: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """Propose ``k`` of the units the supervised annotator scored but no human coded;
    write ``suggestions.csv`` in the run directory (rank, unit, uncertainty, most
    probable code and its probability). Returns the manifest entry."""
    learned = annotator.learned
    n_lab = learned.n_labelled
    rep = learned.representation
    # diversity is measured in a representation with vectors (a fine-tuned encoder keeps
    # none: its ensemble partner's, else the first one computed)
    base = rep if rep in annotator.features else rep.split("+")[0]
    if base not in annotator.features:
        base = next(iter(annotator.features))
    X_lab, X_other = annotator.features[base]
    # the units no human coded under any id (those matched to a human-coded unit are not)
    rest = np.flatnonzero(annotator.fitted.source[n_lab:] < 0)
    proba = annotator.fitted.proba[n_lab + rest]
    X_other = X_other[rest]
    thresholds = np.array([learned.thresholds.get(c, 1.0) for c in learned.codes])
    picks = suggest(proba, X_other, X_lab, k, thresholds=thresholds, decision=learned.decision)
    path = run_dir / "suggestions.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "unit", "uncertainty", "top_code", "top_probability"])
        for rank, (i, unc) in enumerate(picks, start=1):
            top = int(np.argmax(proba[i]))
            writer.writerow(
                [
                    rank,
                    annotator.ids[n_lab + int(rest[i])],
                    round(unc, 4),
                    learned.codes[top],
                    round(float(proba[i, top]), 4),
                ]
            )
    say(f"{len(picks)} unit(s) proposed for a human to code next: {path}")
    return {
        "file": path.name,
        "units": len(picks),
        "method": "uncertainty + diversity (greedy k-center over the most uncertain units)",
        "representation": rep,
        "diversity_representation": base,
    }
