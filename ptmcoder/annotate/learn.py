"""Learning the codes from human-coded units, chosen by cross-validation.

:func:`learn` gets the human-coded units as a 0/1 matrix ``Y`` (unit x code, so a
unit may carry several codes) and one or more *representations* of every unit
(``tfidf``: word 1-2 gram and character 3-5 gram TF-IDF of the text and of the
title; ``minilm``: MiniLM vectors pooled over chunks covering the whole unit;
``combined``: both side by side). For every representation and linear learner
(scikit-learn ``LogisticRegression`` and ``LinearSVC``, at the strengths in ``LEARNERS``) it
computes K-fold *out-of-fold* scores, one binary model per code (one-vs-rest), and
keeps the candidate with the best out-of-fold macro F1. Then, on the chosen
candidate's out-of-fold scores only (human-coded units, never a unit scored by a
model that saw its label):

- each code's raw score is **calibrated** into a probability (isotonic regression
  with at least 1,000 units, Platt's sigmoid below), scikit-learn's
  ``IsotonicRegression`` / ``LogisticRegression``;
- each code gets its own **threshold** (the one maximising that code's F1);
- the **decision rule** is chosen: ``threshold`` (every code whose probability
  reaches its threshold, so 0..k codes), ``top1+threshold`` (the most probable
  code, plus any other reaching its threshold) or ``top1`` (the most probable code
  only), whichever has the highest out-of-fold macro F1 (ties: the earlier one);
  when the humans gave at most one code to 95% or more of their units, only
  ``top1`` (:func:`decisions_for`): the annotator codes as the coders did;

Human-coded units keep their out-of-fold scores (cross-fitting); every other unit
is scored by the models refitted on all human-coded units. Special codes
(false positive, none) are exclusive: when one is the most probable code it is
the only code, otherwise special codes are not assigned beside others.

The selection score is slightly optimistic for the winner (it is the best of
several); the benchmark measures on held-out data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: learner name -> regularisation strengths tried
LEARNERS: dict[str, tuple[float, ...]] = {"logreg": (4.0,), "svm": (0.1, 0.5)}
#: characters of a unit read by the word / character n-gram vectorizers (cost bound)
WORD_CHARS = 8_000
CHAR_CHARS = 2_000
REPRESENTATIONS = ("tfidf", "minilm", "combined")
#: decision rules, tried in this order (a later one must be strictly better)
DECISIONS = ("threshold", "top1+threshold", "top1")


@dataclass
class Learned:
    """What :func:`learn` chose and every unit's scores."""

    codes: list[str]
    #: codes that had a model (at least 2 positive and 2 negative human-coded units)
    modelled: list[str]
    representation: str
    learner: str
    #: the linear learner's regularisation strength (None for the fine-tuned encoder
    #: and the ensemble)
    C: float | None
    decision: str
    calibration: str
    thresholds: dict[str, float]
    cv_macro_f1: float
    cv_per_code_f1: dict[str, float]
    candidates: list[dict[str, Any]]
    folds: int
    n_labelled: int
    #: rows in the order of the units passed: raw (uncalibrated) and calibrated scores
    raw: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    proba: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The chosen classifier in words, for records and the manifest.

        >>> Learned(["a"], ["a"], "tfidf", "logreg", 4.0, "top1", "sigmoid", {}, 0.8, {},
        ...         [], 5, 10).describe()
        'a scikit-learn logreg classifier (one-vs-rest) on tfidf features'
        """
        if self.learner.startswith("ensemble of "):
            return (
                f"an ensemble (mean calibrated probability) of {self.learner[12:]} on "
                f"{self.representation.replace('+', ' and ')}"
            )
        if self.learner == "minilm-finetuned":
            return "MiniLM fine-tuned on the human codes"
        return (
            f"a scikit-learn {self.learner} classifier (one-vs-rest) on "
            f"{self.representation} features"
        )

    def manifest(self) -> dict[str, Any]:
        """The ``learner`` entry of the run manifest."""
        return {
            "representation": self.representation,
            "learner": self.learner,
            "C": self.C,
            "decision": self.decision,
            "calibration": self.calibration,
            "thresholds": {c: round(t, 4) for c, t in self.thresholds.items()},
            "cv": {
                "folds": self.folds,
                "labelled_units": self.n_labelled,
                "macro_f1": round(self.cv_macro_f1, 4),
                "per_code_f1": {c: round(v, 4) for c, v in self.cv_per_code_f1.items()},
                "candidates": self.candidates,
                "note": "out-of-fold scores on the human-coded units; the best of "
                "several candidates, so slightly optimistic",
            },
            "codes_without_model": [c for c in self.codes if c not in self.modelled],
            "representations_skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def _title(text: str) -> str:
    """The title of a unit text (``Title: ...`` up to the blank line), else its first line."""
    if text.startswith("Title: "):
        return text[7:].split("\n\n", 1)[0]
    return text.strip().split("\n", 1)[0]


def tfidf_features(texts: list[str]) -> Any:
    """Word 1-2 grams (first ``WORD_CHARS`` characters) and character 3-5 grams within
    words (first ``CHAR_CHARS`` characters) of the whole text, plus word 1-2 and character
    2-5 grams of the title at half weight; sublinear tf, stacked."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=200_000, lowercase=True
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=3, max_features=100_000
    )
    title_word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    title_char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    safe = [t if t.strip() else "empty" for t in texts]
    titles = [_title(t) or "empty" for t in safe]
    blocks = [
        word.fit_transform([t[:WORD_CHARS] for t in safe]) * (0.5**0.5),
        char.fit_transform([t[:CHAR_CHARS] for t in safe]) * (0.5**0.5),
        title_word.fit_transform(titles) * 0.5,
        title_char.fit_transform(titles) * 0.5,
    ]
    return hstack(blocks).tocsr()


def combine(tfidf: Any, dense: np.ndarray, weight: float = 1.0) -> Any:
    from scipy.sparse import csr_matrix, hstack

    return hstack([tfidf, csr_matrix(dense * weight)]).tocsr()


def _model(learner: str, C: float, seed: int) -> Any:
    if learner == "logreg":
        from sklearn.linear_model import LogisticRegression

        # liblinear's dual coordinate descent visits the units in a random order: seeded
        # here, it draws from numpy's global state (the 4th decimal of a score then
        # differed between two runs of the same command)
        return LogisticRegression(
            C=C,
            solver="liblinear",
            dual=True,
            class_weight="balanced",
            max_iter=1000,
            random_state=seed,
        )
    if learner == "svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=C, class_weight="balanced", random_state=seed)
    raise ValueError(f"unknown learner {learner!r}")


def _fit_scores(learner, C, seed, X_fit, Y_fit, X_out, modelled_idx) -> np.ndarray:
    out = np.zeros((X_out.shape[0], Y_fit.shape[1]), dtype=np.float64)
    for j in modelled_idx:
        y = Y_fit[:, j]
        if y.min() == y.max():  # this fold has one class only for this code
            out[:, j] = 1e3 if y[0] else -1e3
            continue
        model = _model(learner, C, seed)
        model.fit(X_fit, y)
        out[:, j] = model.decision_function(X_out)
    return out


def fold_ids(Y: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Folds stratified by each unit's rarest code (round-robin after a seeded shuffle).
    ``groups`` (one id per unit): units of one group share a fold, stratified by the
    rarest code of any member (near-duplicates, :mod:`ptmcoder.annotate.near_duplicates`);
    with every unit its own group the folds are those without ``groups``."""
    rng = np.random.default_rng(seed)
    if groups is None:
        groups = np.arange(len(Y))
    order, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank = np.argsort(first, kind="stable")  # groups in the order of their first member
    G = np.zeros((len(order), Y.shape[1]), dtype=Y.dtype)
    np.maximum.at(G, inverse, Y)
    G = G[rank]
    freq = Y.sum(axis=0)
    key = np.array(
        [int(np.argmin(np.where(row > 0, freq, np.inf))) if row.any() else -1 for row in G]
    )
    fold_of_group = np.zeros(len(G), dtype=int)
    for k in np.unique(key):
        members = rng.permutation(np.flatnonzero(key == k))
        fold_of_group[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    position = np.empty(len(rank), dtype=int)
    position[rank] = np.arange(len(rank))
    return fold_of_group[position[inverse]]


def out_of_fold(learner, C, seed, X, Y, fold_of, modelled_idx) -> np.ndarray:
    raw = np.zeros(Y.shape, dtype=np.float64)
    for k in np.unique(fold_of):
        test = fold_of == k
        raw[test] = _fit_scores(learner, C, seed, X[~test], Y[~test], X[test], modelled_idx)
    return raw


class Calibrator:
    """Per-code map raw score -> probability (isotonic from 1,000 units, else Platt)."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.models: dict[int, Any] = {}

    def fit(self, raw: np.ndarray, Y: np.ndarray, modelled_idx: list[int]) -> Calibrator:
        for j in modelled_idx:
            if self.method == "isotonic":
                from sklearn.isotonic import IsotonicRegression

                m = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                m.fit(raw[:, j], Y[:, j])
            else:
                from sklearn.linear_model import LogisticRegression

                m = LogisticRegression(C=1e4)
                m.fit(raw[:, j : j + 1], Y[:, j])
            self.models[j] = m
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        out = np.zeros(raw.shape, dtype=np.float64)
        for j, m in self.models.items():
            if self.method == "isotonic":
                out[:, j] = m.predict(raw[:, j])
            else:
                out[:, j] = m.predict_proba(raw[:, j : j + 1])[:, 1]
        return out


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The probability threshold maximising F1 of one code (ties: the middle one)."""
    candidates = np.unique(np.round(p, 6))
    if len(candidates) > 200:
        candidates = np.quantile(p, np.linspace(0, 1, 201))
    best, best_t = -1.0, 0.5
    for t in candidates:
        pred = p >= t
        tp = float(np.sum(pred & (y > 0)))
        f1 = 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0
        if f1 > best + 1e-12:
            best, best_t = f1, float(t)
    return best_t


def decide(
    proba: np.ndarray, thresholds: np.ndarray, decision: str, special_idx: list[int]
) -> np.ndarray:
    """0/1 codes per unit from calibrated probabilities (see module doc)."""
    if decision == "top1":
        pred = np.zeros(proba.shape, dtype=bool)
    else:
        pred = proba >= thresholds[None, :]
    if decision in ("top1", "top1+threshold"):
        pred[np.arange(len(proba)), np.argmax(proba, axis=1)] = True
    if special_idx:
        top = np.argmax(proba, axis=1)
        for i in range(len(pred)):
            if top[i] in special_idx and pred[i, top[i]]:
                pred[i] = False
                pred[i, top[i]] = True
            elif pred[i].sum() > 1:
                pred[i, special_idx] = False
    return pred


def macro_f1(Y: np.ndarray, pred: np.ndarray, idx: list[int]) -> tuple[float, list[float]]:
    per = []
    for j in idx:
        y, p = Y[:, j] > 0, pred[:, j]
        denom = y.sum() + p.sum()
        per.append(float(2 * np.sum(y & p) / denom) if denom else 0.0)
    return (float(np.mean(per)) if per else 0.0), per


#: share of human-coded units with at most one code above which the humans are taken
#: to code one code per unit (then so does the learner)
SINGLE_LABEL_SHARE = 0.95


def decisions_for(Y: np.ndarray) -> tuple[str, ...]:
    """The decision rules to choose among: only ``top1`` when the humans gave at most
    one code to at least :data:`SINGLE_LABEL_SHARE` of their units (a macro F1 over
    codes would otherwise favour giving two codes to units the humans gave one),
    else every rule of :data:`DECISIONS`.

    >>> decisions_for(np.array([[1, 0], [0, 1], [1, 0]]))
    ('top1',)
    >>> decisions_for(np.array([[1, 1], [0, 1], [1, 0]]))
    ('threshold', 'top1+threshold', 'top1')
    """
    if len(Y) and float(np.mean((Y > 0).sum(axis=1) <= 1)) >= SINGLE_LABEL_SHARE:
        return ("top1",)
    return DECISIONS


def _policy(raw, Y, modelled_idx, special_idx, single=None):
    """Calibration, thresholds and decision rule fitted on out-of-fold raw scores."""
    method = "isotonic" if len(Y) >= 1000 else "sigmoid"
    cal = Calibrator(method).fit(raw, Y, modelled_idx)
    proba = cal.transform(raw)
    thresholds = np.ones(Y.shape[1])
    for j in modelled_idx:
        thresholds[j] = best_threshold(proba[:, j], Y[:, j])
    best = None
    for decision in ("top1",) if single else decisions_for(Y):
        pred = decide(proba, thresholds, decision, special_idx)
        score, per = macro_f1(Y, pred, modelled_idx)
        if best is None or score > best[0] + 1e-9:
            best = (score, per, decision)
    return cal, thresholds, best


def learn(
    codes: list[str],
    Y: np.ndarray,
    features: dict[str, tuple[Any, Any]],
    *,
    special: list[str] | None = None,
    folds: int = 5,
    seed: int = 13,
    learners: dict[str, tuple[float, ...]] | None = None,
    status: Callable[[str], None] | None = None,
    scored: Callable[[], tuple[str, np.ndarray, np.ndarray]] | None = None,
    single: bool | None = None,
) -> Learned:
    """Choose and fit (see module doc). ``features``: representation name ->
    (matrix of the human-coded units, matrix of the other units); rows of ``Y``
    follow the first matrix. Returned ``raw``/``proba`` rows: the human-coded
    units (out of fold) then the other units.

    ``scored``, when given, is a learner that brings its own scores (the fine-tuned
    encoder of :mod:`ptmcoder.annotate.finetune`): called once, it returns (name,
    out-of-fold raw scores of the human-coded units, raw scores of the others). It
    competes with the best linear candidate, and so does their *ensemble*: the mean of
    the two candidates' calibrated probabilities.

    ``single``: True when the coders gave one code per unit (decided from their
    ratings, :func:`ptmcoder.annotate.training.load_training`; a consensus of two
    disagreeing coders carries two codes, so ``Y`` alone can look multi-label): only
    ``top1``. None: decided from ``Y`` (:func:`decisions_for`)."""
    started = time.perf_counter()
    learners = learners or LEARNERS
    n = len(Y)
    counts = Y.sum(axis=0)
    modelled_idx = [j for j in range(len(codes)) if 2 <= counts[j] <= n - 2]
    special_idx = [codes.index(c) for c in (special or []) if c in codes]
    folds = max(2, min(folds, int(min(counts[modelled_idx])) if modelled_idx else 2))
    fold_of = fold_ids(Y, folds, seed)
    candidates = []
    best: tuple | None = None
    C: float | None  # None for a learner that brings its own scores

    def consider(rep: str, learner: str, C: float | None, raw: np.ndarray, t0: float, said: str):
        """Policy on out-of-fold scores ``raw``; the candidate is recorded and reported."""
        cal, thresholds, (score, per, decision) = _policy(raw, Y, modelled_idx, special_idx, single)
        candidates.append(
            {
                "representation": rep,
                "learner": learner,
                "C": C,
                "cv_macro_f1": round(score, 4),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        if status:
            status(f"{said}: macro F1 {score:.3f}")
        return score, per, decision, cal, thresholds

    for rep, (X_lab, _) in features.items():
        for learner, Cs in learners.items():
            for C in Cs:
                t0 = time.perf_counter()
                raw = out_of_fold(learner, C, seed, X_lab, Y, fold_of, modelled_idx)
                score, per, decision, cal, thresholds = consider(
                    rep, learner, C, raw, t0, f"cross-validating {rep} + {learner} (C={C})"
                )
                if best is None or score > best[0] + 1e-9:
                    best = (score, per, decision, rep, learner, C, raw, cal, thresholds)
    if best is None:
        raise ValueError("no representation to learn from")
    score, per, decision, rep, learner, C, raw_lab, cal, thresholds = best
    X_lab, X_other = features[rep]
    if X_other is not None and X_other.shape[0]:
        raw_other = _fit_scores(learner, C, seed, X_lab, Y, X_other, modelled_idx)
        raw = np.vstack([raw_lab, raw_other])
    else:
        raw = raw_lab
    if scored is not None:
        t0 = time.perf_counter()
        name, own_lab, own_other = scored()
        own_raw = np.vstack([own_lab, own_other])
        own_fit = consider(name, name, None, own_lab, t0, f"cross-validated {name}")
        ensemble = f"ensemble of {learner} and {name}"
        # the mean of the two candidates' calibrated probabilities (own_fit[3]: its calibrator)
        ens_raw = (cal.transform(raw) + own_fit[3].transform(own_raw)) / 2.0
        ens_fit = consider(
            f"{rep}+{name}",
            ensemble,
            None,
            ens_raw[:n],
            time.perf_counter(),
            "cross-validated " + ensemble,
        )
        for cand_rep, cand_learner, cand_raw, fit in (
            (name, name, own_raw, own_fit),
            (f"{rep}+{name}", ensemble, ens_raw, ens_fit),
        ):
            if fit[0] > score + 1e-9:
                score, per, decision, cal, thresholds = fit
                rep, learner, C, raw = cand_rep, cand_learner, None, cand_raw
    proba = cal.transform(raw)
    modelled = [codes[j] for j in modelled_idx]
    return Learned(
        codes=codes,
        modelled=modelled,
        representation=rep,
        learner=learner,
        C=C,
        decision=decision,
        calibration=cal.method,
        thresholds={codes[j]: float(thresholds[j]) for j in modelled_idx},
        cv_macro_f1=score,
        cv_per_code_f1=dict(zip(modelled, per, strict=True)),
        candidates=candidates,
        folds=folds,
        n_labelled=n,
        raw=raw,
        proba=proba,
        seconds=time.perf_counter() - started,
    )


def predictions(learned: Learned, special: list[str] | None = None) -> np.ndarray:
    """0/1 codes for every row of ``learned.proba`` with the chosen decision rule."""
    thresholds = np.array([learned.thresholds.get(c, 1.01) for c in learned.codes])
    special_idx = [learned.codes.index(c) for c in (special or []) if c in learned.codes]
    return decide(learned.proba, thresholds, learned.decision, special_idx)
