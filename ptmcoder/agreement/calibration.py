"""Are an annotator's confidences probabilities? Calibration against adjudicated labels.

For every unit an annotator coded and the gold table labels, the annotator's
*top-label* prediction is its code with the highest confidence; the event is
"that code is in the gold code set" and the forecast is its confidence
(top-label calibration, Guo et al. 2017, sec. 2). Reported:

- the expected calibration error over ``n_bins`` equal-width bins,
  ``ECE = sum_b (n_b / n) |acc(b) - conf(b)|`` (Naeini et al. 2015; Guo et al.
  2017, eq. 3), bins ``[0, 0.1], (0.1, 0.2], ...`` as in scikit-learn's
  ``calibration_curve`` (a confidence on an edge falls in the lower bin);
- the Brier score of the same forecasts, ``mean((conf - correct)^2)`` (Brier 1950);
- the reliability-diagram data (per bin: count, mean confidence, accuracy) and
  a matplotlib PNG of it.

Degenerate confidences are reported, never scored: when every forecast has the
same confidence (all 0.0, say, or all 0.9) the confidences cannot tell a right code
from a wrong one, and an ECE or Brier score would grade only the constant's distance
from the accuracy; :attr:`Calibration.degenerate` says so and both are None. Units
whose top confidence is shared by several codes (the top label then is the first of
them by name) are counted in :attr:`Calibration.ties`.

:func:`cross_fitted_calibration` maps raw confidences to probabilities with
isotonic regression or Platt scaling (scikit-learn), fitted on the human-coded
units of the *other* folds only, so no unit's calibrated probability saw its
own label; ECE before and after shows what calibration buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from rich.table import Table

from ptmcoder.errors import PtmcoderError
from ptmcoder.tables import as_long_table

DEFAULT_BINS = 10
METHODS = ("isotonic", "platt")


@dataclass
class Calibration:
    """ECE, Brier score and reliability bins of one annotator's confidences."""

    annotator: str
    n: int
    ece: float | None
    brier: float | None
    accuracy: float | None
    mean_confidence: float | None
    bins: list[dict[str, Any]] = field(default_factory=list)
    n_bins: int = DEFAULT_BINS
    without_confidence: int = 0  # predictions left out: no confidence given
    note: str | None = None
    #: 95% bootstrap intervals over units: {"ece": (low, high), "brier": ...} (the ECE's
    #: bias-corrected, see :func:`bootstrap_intervals`)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: the bootstrap's estimate of the ECE's upward bias (mean resampled ECE - ECE)
    ece_bias: float | None = None
    #: why the confidences were not scored (e.g. every one is 0.000), else None
    degenerate: str | None = None
    #: units whose top confidence several codes share (top label: the first by name)
    ties: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "n": self.n,
            "ece": self.ece,
            "brier": self.brier,
            "accuracy": self.accuracy,
            "mean_confidence": self.mean_confidence,
            "n_bins": self.n_bins,
            "bins": self.bins,
            "without_confidence": self.without_confidence,
            "note": self.note,
            "degenerate": self.degenerate,
            "ties": self.ties,
            "ece_bias": self.ece_bias,
            **{
                f"{k}_{side}": v[i]
                for k, v in self.intervals.items()
                for i, side in enumerate(("ci_low", "ci_high"))
            },
        }


def _check(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError("confidence and correct must be 1-D arrays of the same length")
    if p.size and ((p < 0).any() or (p > 1).any() or not np.isfinite(p).all()):
        raise ValueError("confidences must lie in [0, 1]")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("correct must be 0/1 (or bool)")
    return p, y


def bin_index(p: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Equal-width bin of each confidence; an edge value falls in the lower bin
    (as ``sklearn.calibration.calibration_curve(strategy="uniform")``)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p, side="left")


def calibration_stats(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = DEFAULT_BINS,
    annotator: str = "",
) -> Calibration:
    """ECE, Brier score and reliability bins of top-label forecasts.

    Constant confidences are degenerate: reported, not scored.

    >>> c = calibration_stats([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1])
    >>> round(c.ece, 3), round(c.brier, 3)
    (0.4, 0.285)
    >>> c = calibration_stats([0.0, 0.0, 0.0], [1, 0, 0])
    >>> c.ece, c.brier, c.degenerate
    (None, None, 'every confidence is 0.000: the confidences carry no information')
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p, y = _check(confidence, correct)
    n = int(p.size)
    if n == 0:
        return Calibration(annotator, 0, None, None, None, None, [], n_bins, note="no forecasts")
    idx = bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=p, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=y, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        item: dict[str, Any] = {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "count": int(count[b]),
            "mean_confidence": None,
            "accuracy": None,
        }
        if count[b]:
            item["mean_confidence"] = float(conf_sum[b] / count[b])
            item["accuracy"] = float(acc_sum[b] / count[b])
            ece += count[b] / n * abs(item["accuracy"] - item["mean_confidence"])
        bins.append(item)
    if p.min() == p.max():
        why = f"every confidence is {p[0]:.3f}: the confidences carry no information"
        return Calibration(
            annotator,
            n,
            None,
            None,
            float(y.mean()),
            float(p.mean()),
            bins,
            n_bins,
            note=f"not scored: {why}",
            degenerate=why,
        )
    return Calibration(
        annotator,
        n,
        float(ece),
        float(np.mean((p - y) ** 2)),
        float(y.mean()),
        float(p.mean()),
        bins,
        n_bins,
    )


def bootstrap_intervals(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = DEFAULT_BINS,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals (resampling units) of the ECE and the Brier score.

    The Brier score is a mean: its interval is the percentile one. The binned ECE is
    biased upward (an absolute value of noisy bin gaps), and a resample, with its
    repeated units, is more so: the percentile interval of a well calibrated annotator
    can lie wholly above the ECE it is meant to cover (the demo printed 0.032 with
    [0.036, 0.088]). So the ECE's interval is the percentile interval shifted by the
    bootstrap's bias estimate, ``b = mean(ECE*) - ECE`` (Efron & Tibshirani 1993,
    sec. 10.2), floored at 0; ``b`` is returned as ``ece_bias`` (low = high = b).

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.5, 1.0, 400)
    >>> y = (rng.uniform(size=400) < p).astype(float)
    >>> ece = calibration_stats(p, y).ece
    >>> iv = bootstrap_intervals(p, y, n_boot=500)
    >>> iv["ece"][0] <= ece <= iv["ece"][1], iv["ece_bias"][0] > 0
    (True, True)
    """
    p, y = _check(confidence, correct)
    if p.size == 0 or n_boot <= 0:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, p.size, size=(n_boot, p.size))
    pb, yb = p[idx], y[idx]
    bins = bin_index(pb, n_bins) + (np.arange(n_boot) * n_bins)[:, None]
    size = n_boot * n_bins
    conf = np.bincount(bins.ravel(), weights=pb.ravel(), minlength=size).reshape(n_boot, n_bins)
    acc = np.bincount(bins.ravel(), weights=yb.ravel(), minlength=size).reshape(n_boot, n_bins)
    ece = np.abs(acc - conf).sum(axis=1) / p.size  # sum_b n_b/n |acc_b/n_b - conf_b/n_b|
    brier = ((pb - yb) ** 2).mean(axis=1)
    tail = (1 - level) / 2 * 100
    point = calibration_stats(p, y, n_bins=n_bins).ece
    bias = float(ece.mean() - point) if point is not None else 0.0
    out: dict[str, tuple[float, float]] = {}
    lo, hi = np.percentile(ece - bias, [tail, 100 - tail])
    out["ece"] = (max(0.0, float(lo)), max(0.0, float(hi)))
    lo, hi = np.percentile(brier, [tail, 100 - tail])
    out["brier"] = (float(lo), float(hi))
    out["ece_bias"] = (bias, bias)
    return out


def top_label_forecasts(
    predictions: pd.DataFrame, gold: pd.DataFrame, annotator: str
) -> tuple[pd.DataFrame, int]:
    """Per unit the annotator's highest-confidence code (of codes that tie, the first
    by name), its confidence and whether the gold code set holds it; units without gold
    are left out. Returns the table (``attrs['ties']``: units whose top confidence
    several codes share) and how many coded units gave no confidence."""
    rows = predictions[predictions["rater"] == annotator].dropna(subset=["code"])
    rows = rows[rows["unit"].isin(set(gold["unit"].dropna()))]
    no_conf = rows.groupby("unit")["confidence"].apply(lambda s: s.isna().all())
    missing = int(no_conf.sum())
    rows = rows.dropna(subset=["confidence"])
    if rows.empty:
        return pd.DataFrame(columns=["unit", "code", "confidence", "correct"]), missing
    rows = rows.assign(confidence=rows["confidence"].astype(float))
    best = rows.groupby("unit")["confidence"].transform("max")
    ties = int((rows[rows["confidence"] == best].groupby("unit").size() > 1).sum())
    top = rows.sort_values(["unit", "confidence", "code"], ascending=[True, False, True])
    top = top.drop_duplicates("unit")
    gold_sets = gold.dropna(subset=["code"]).groupby("unit")["code"].agg(set)
    correct = [c in gold_sets.get(u, set()) for u, c in zip(top["unit"], top["code"], strict=True)]
    out = pd.DataFrame(
        {
            "unit": top["unit"].to_numpy(),
            "code": top["code"].to_numpy(),
            "confidence": top["confidence"].to_numpy(),
            "correct": correct,
        }
    )
    out.attrs["ties"] = ties
    return out, missing


def calibration_table(
    predictions: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    annotators: Sequence[str] | None = None,
    n_bins: int = DEFAULT_BINS,
    recalibrate: str | None = None,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, Calibration]:
    """Calibration of each annotator (default: every rater with a confidence)
    against ``gold`` (columns ``unit, code``). ``predictions`` is a long table
    ``unit`` (or ``unit_id``), ``rater``, ``code``, ``confidence``. With
    ``recalibrate`` (isotonic or platt), each annotator also gets a
    ``<name> (calibrated, <method>)`` entry from :func:`cross_fitted_calibration`."""
    if "unit" not in predictions.columns and "unit_id" in predictions.columns:
        predictions = as_long_table(predictions, "predictions", required=("unit",))
    if "confidence" not in predictions.columns:
        raise PtmcoderError(
            "the annotations carry no confidence column",
            hint="calibration needs an annotator that gives a confidence per code",
        )
    if gold is None or gold.empty:
        raise PtmcoderError("calibration needs adjudicated labels", hint="pass --gold FILE")
    names = (
        list(annotators)
        if annotators
        else sorted(
            predictions.loc[predictions["confidence"].notna(), "rater"].dropna().unique().tolist()
        )
    )
    if not names:
        raise PtmcoderError("no rater gives a confidence", hint="pass --annotators NAME")
    out: dict[str, Calibration] = {}
    for name in names:
        top, missing = top_label_forecasts(predictions, gold, name)
        cal = calibration_stats(top["confidence"], top["correct"], n_bins=n_bins, annotator=name)
        cal.without_confidence = missing
        cal.ties = int(top.attrs.get("ties", 0))
        out[name] = cal
        if cal.degenerate:  # nothing to score, nothing to recalibrate
            continue
        cal.intervals = bootstrap_intervals(
            top["confidence"], top["correct"], n_bins=n_bins, n_boot=n_boot, seed=seed
        )
        cal.ece_bias = cal.intervals.pop("ece_bias", (None, None))[0]
        if recalibrate and len(top) >= 2 * folds:
            p = cross_fitted_calibration(
                top["confidence"].to_numpy(),
                top["correct"].to_numpy(),
                method=recalibrate,
                folds=folds,
                seed=seed,
            )
            label = f"{name} (calibrated, {recalibrate}, {folds}-fold cross-fitted)"
            after = calibration_stats(p, top["correct"], n_bins=n_bins, annotator=label)
            if not after.degenerate:
                after.intervals = bootstrap_intervals(
                    p, top["correct"], n_bins=n_bins, n_boot=n_boot, seed=seed
                )
                after.ece_bias = after.intervals.pop("ece_bias", (None, None))[0]
            out[label] = after
    return out


def cross_fitted_calibration(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    method: str = "isotonic",
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Calibrated probabilities: each fold's confidences mapped by isotonic
    regression (Zadrozny & Elkan 2002) or Platt scaling (Platt 1999, a logistic
    regression on the score) fitted on the other folds' human-coded units."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    p, y = _check(confidence, correct)
    if p.size < 2 * folds:
        raise ValueError(f"need at least {2 * folds} forecasts for {folds} folds, got {p.size}")
    out = np.empty_like(p)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(p):
        if np.unique(y[train]).size < 2:  # one class only: its rate is the best estimate
            out[test] = y[train].mean()
        elif method == "isotonic":
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            out[test] = model.fit(p[train], y[train]).predict(p[test])
        else:
            model = LogisticRegression()
            model.fit(p[train, None], y[train])
            out[test] = model.predict_proba(p[test, None])[:, 1]
    return out


def reliability_png(results: dict[str, Calibration], path: str | Path) -> Path:
    """The reliability diagram (accuracy against mean confidence per bin, the
    diagonal for perfect calibration) of each annotator, as a PNG: each point labelled
    with its bin's count, empty bins and degenerate (unscored) annotators left out
    (:func:`ptmcoder.stats.plots.reliability_figure`)."""
    from ptmcoder.stats.plots import plt, reliability_figure

    path = Path(path)
    curves = {
        name: {"bins": cal.bins, "ece": cal.ece, "n": cal.n}
        for name, cal in results.items()
        if not cal.degenerate
    }
    fig = reliability_figure(curves, n_bins=next(iter(results.values())).n_bins)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def render_calibration(results: dict[str, Calibration]) -> Table:
    t = Table(title="Calibration against gold (top-label, 10 equal-width bins)")
    for col in ("annotator", "n", "ECE", "Brier", "accuracy", "mean confidence", "no conf."):
        t.add_column(col, justify="left" if col == "annotator" else "right")
    notes = {name: _note(c) for name, c in results.items()}
    if any(notes.values()):
        t.add_column("note")

    from ptmcoder.console import fmt_ci, fmt_number

    def f(v: float | None) -> str:
        return fmt_number(v)

    def ci(c: Calibration, key: str) -> str:
        iv = c.intervals.get(key)
        return "\n" + fmt_ci(*iv) if iv else ""

    for name, c in results.items():
        t.add_row(
            name,
            str(c.n),
            "not scored" if c.degenerate else f(c.ece) + ci(c, "ece"),
            "not scored" if c.degenerate else f(c.brier) + ci(c, "brier"),
            f(c.accuracy),
            f(c.mean_confidence),
            str(c.without_confidence),
            *([notes[name]] if any(notes.values()) else []),
        )
    return t


def _note(c: Calibration) -> str:
    """What a reader must know before reading a row: degenerate confidences, ties."""
    parts = [c.note] if c.note else []
    if c.ece_bias is not None and c.ece is not None and c.ece_bias > 0.25 * c.ece:
        parts.append(
            f"the binned ECE is biased upward by about {c.ece_bias:.3f} at this n (bootstrap); "
            "its interval is bias-corrected"
        )
    if c.ties:
        parts.append(f"{c.ties} unit(s) tie for the top confidence (first code by name taken)")
    return "; ".join(parts)


def read_confidences(path: str | Path) -> pd.DataFrame:
    """``unit, rater, code, confidence`` of a long table (its ``confidence``
    column) or of a run's annotation records (each code's confidence; failed
    records carry none)."""
    from ptmcoder.agreement.io import read_long_table
    from ptmcoder.annotate.records import read_annotations

    path = Path(path)
    if not (path.is_dir() or path.suffix.lower() == ".jsonl"):
        df = read_long_table(path)
        if "confidence" not in df.columns:
            df["confidence"] = np.nan
        df["confidence"] = pd.to_numeric(df["confidence"], errors="coerce")
        return df[["unit", "rater", "code", "confidence"]]
    rows = [
        (rec.unit_id, rec.annotator, a.code, a.confidence)
        for rec in read_annotations(path).records
        if rec.ok
        for a in rec.codes
    ]
    df = pd.DataFrame(rows, columns=["unit", "rater", "code", "confidence"])
    df["confidence"] = df["confidence"].astype(float)
    return df


__all__ = [
    "Calibration",
    "bin_index",
    "bootstrap_intervals",
    "calibration_stats",
    "calibration_table",
    "cross_fitted_calibration",
    "reliability_png",
    "render_calibration",
    "top_label_forecasts",
]
