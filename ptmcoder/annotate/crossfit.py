"""Nested cross-fitting: no unit's code depends on its own label in any way.

:func:`ptmcoder.annotate.learn.learn` is the *whole* learner: it chooses the
representation and the linear learner by an inner cross-validation, then fits the
calibration, the per-code thresholds and the decision rule on out-of-fold scores. Used
once on every human-coded unit, its choices saw each unit's label, and a human-coded
unit scored from it is scored with its own label in the selection: a reviewer's outer
5-fold over the whole pipeline gave kappa 0.308-0.314 against the adjudicated label
where the single cross-fit printed 0.371.

:func:`cross_fit` runs the whole learner again inside each of K outer folds (fold k:
learned from the other folds' units only) and codes fold k's human-coded units with it,
together with every coded unit taken to be one of them (same text, same title, an added
body: :mod:`ptmcoder.annotate.near_duplicates`). Near-duplicate human-coded units share a
fold. The units no human coded, and that match none, are coded by the learner fitted
on every human-coded unit. Representations are fitted without labels (TF-IDF
vocabularies and MiniLM vectors see every text, never a code).

The reported score is the outer one: macro F1 of the outer folds' codes against the
humans' over **every** code some human used or the learner assigned, a code the learner
could not model (fewer than 2 positive units) counting as all misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptmcoder.annotate.learn import Learned, fold_ids, learn, predictions

#: ``scored`` factory for a learner that brings its own scores (the fine-tuned encoder):
#: (rows of the labelled units it learns from, labelled rows it scores, other rows it
#: scores) -> the ``scored`` callable of :func:`learn`
ScoredFactory = Callable[
    [np.ndarray, np.ndarray, np.ndarray], Callable[[], tuple[str, np.ndarray, np.ndarray]]
]


@dataclass
class CrossFitted:
    """What :func:`cross_fit` learned, and every unit's scores and codes."""

    #: the learner fitted on every human-coded unit (codes the unmatched units)
    full: Learned
    #: fold k's learner, fitted without fold k's human-coded units
    folds: list[Learned]
    #: outer fold of each human-coded unit
    fold_of: np.ndarray
    #: per row (human-coded units, then the others): calibrated and raw scores, codes
    proba: np.ndarray = field(repr=False)
    raw: np.ndarray = field(repr=False)
    chosen: np.ndarray = field(repr=False)
    #: per row: the outer fold whose learner scored it, -1 for the full learner
    source: np.ndarray = field(repr=False)
    #: outer macro F1 over every code a human used or the learner assigned
    cv_macro_f1: float = 0.0
    cv_per_code_f1: dict[str, float] = field(default_factory=dict)
    n_labelled: int = 0

    def learner_of(self, row: int) -> Learned:
        """The learner that scored ``row``."""
        k = int(self.source[row])
        return self.full if k < 0 else self.folds[k]

    def manifest(self) -> dict[str, Any]:
        """The ``cross_fitting`` entry of the manifest's learner."""
        return {
            "outer_folds": len(self.folds),
            "labelled_units": self.n_labelled,
            "macro_f1": round(self.cv_macro_f1, 4),
            "per_code_f1": {c: round(v, 4) for c, v in self.cv_per_code_f1.items()},
            "codes_scored": sorted(self.cv_per_code_f1),
            "fold_choices": [
                {
                    "fold": k,
                    "learned_from": f.n_labelled,
                    "representation": f.representation,
                    "learner": f.learner,
                    "C": f.C,
                    "decision": f.decision,
                    "inner_macro_f1": round(f.cv_macro_f1, 4),
                }
                for k, f in enumerate(self.folds)
            ],
            "units_scored_by_fold_learners": int(np.sum(self.source >= 0)),
            "units_scored_by_full_learner": int(np.sum(self.source < 0)),
            "note": "each human-coded unit (and each coded unit matched to one) is coded by "
            "the whole learner (representation and learner choice, calibration, thresholds, "
            "decision rule) fitted without its outer fold; the score covers every code, "
            "those without a model counting as misses",
        }


def _stack(a: Any, b: Any) -> Any:
    from scipy.sparse import issparse, vstack

    if issparse(a) or issparse(b):
        return vstack([a, b]).tocsr()
    return np.vstack([a, b])


def outer_f1(Y: np.ndarray, pred: np.ndarray, codes: list[str]) -> tuple[float, dict[str, float]]:
    """Macro F1 over every code some human used or the learner assigned (a code with
    no model scores 0 when humans used it).

    >>> Y = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]])
    >>> P = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool)
    >>> outer_f1(Y, P, ["a", "b", "c"])
    (0.6666666666666666, {'a': 0.6666666666666666, 'b': 0.6666666666666666})
    """
    per: dict[str, float] = {}
    for j, code in enumerate(codes):
        y, p = Y[:, j] > 0, pred[:, j]
        denom = int(y.sum() + p.sum())
        if denom:
            per[code] = float(2 * np.sum(y & p) / denom)
    return (float(np.mean(list(per.values()))) if per else 0.0), per


def cross_fit(
    codes: list[str],
    Y: np.ndarray,
    features: dict[str, tuple[Any, Any]],
    other_fold: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    special: list[str] | None = None,
    folds: int = 5,
    seed: int = 13,
    status: Callable[[str], None] | None = None,
    scored: ScoredFactory | None = None,
    single: bool | None = None,
) -> CrossFitted:
    """Nested cross-fitting (module doc). ``features``: representation -> (matrix of the
    human-coded units, matrix of the other units); ``other_fold[i]``: -1 for another
    unit matched to no human-coded unit, else the index of the human-coded unit it is
    taken to be (its fold's learner codes it). ``groups``: near-duplicate groups of the
    human-coded units (kept in one fold). ``single``: as :func:`learn`'s."""
    say = status or (lambda _m: None)
    n, n_other = len(Y), len(other_fold)
    counts = Y.sum(axis=0)
    usable = [int(c) for c in counts if c >= 2]
    k_folds = max(2, min(folds, min(usable) if usable else 2))
    fold_of = fold_ids(Y, k_folds, seed, groups)
    matched = np.asarray(other_fold, dtype=np.int64)
    other_fold_k = np.where(matched >= 0, fold_of[np.maximum(matched, 0)], -1)

    n_codes = len(codes)
    proba = np.zeros((n + n_other, n_codes))
    raw = np.zeros((n + n_other, n_codes))
    chosen = np.zeros((n + n_other, n_codes), dtype=bool)
    source = np.full(n + n_other, -1, dtype=np.int64)
    fold_learners: list[Learned] = []
    all_lab = np.arange(n)
    for k in range(k_folds):
        train = np.flatnonzero(fold_of != k)
        test = np.flatnonzero(fold_of == k)
        others = np.flatnonzero(other_fold_k == k)
        say(f"outer fold {k + 1} of {k_folds}: learning from {len(train)}, coding {len(test)}")
        feats = {
            rep: (X_lab[train], _stack(X_lab[test], X_other[others]))
            if X_other is not None
            else (X_lab[train], X_lab[test])
            for rep, (X_lab, X_other) in features.items()
        }
        learned = learn(
            codes,
            Y[train],
            feats,
            special=special,
            folds=folds,
            seed=seed,
            scored=scored(train, test, others) if scored else None,
            single=single,
        )
        fold_learners.append(learned)
        picked = predictions(learned, special)[len(train) :]
        rows = np.concatenate([test, n + others])
        proba[rows] = learned.proba[len(train) :]
        raw[rows] = learned.raw[len(train) :]
        chosen[rows] = picked
        source[rows] = k
    rest = np.flatnonzero(other_fold_k < 0)
    say(f"the full learner: learning from {n} units, coding {len(rest)} others")
    full_feats = {
        rep: (X_lab, X_other[rest] if X_other is not None else None)
        for rep, (X_lab, X_other) in features.items()
    }
    full = learn(
        codes,
        Y,
        full_feats,
        special=special,
        folds=folds,
        seed=seed,
        status=status,
        scored=scored(all_lab, np.zeros(0, dtype=np.int64), rest) if scored else None,
        single=single,
    )
    if len(rest):
        rows = n + rest
        proba[rows] = full.proba[n:]
        raw[rows] = full.raw[n:]
        chosen[rows] = predictions(full, special)[n:]
    score, per = outer_f1(Y, chosen[:n], codes)
    say(f"outer {k_folds}-fold macro F1 over {len(per)} codes: {score:.3f}")
    return CrossFitted(
        full=full,
        folds=fold_learners,
        fold_of=fold_of,
        proba=proba,
        raw=raw,
        chosen=chosen,
        source=source,
        cv_macro_f1=score,
        cv_per_code_f1=per,
        n_labelled=n,
    )


__all__ = ["CrossFitted", "ScoredFactory", "cross_fit", "outer_f1"]
