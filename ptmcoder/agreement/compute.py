"""Every coefficient of a rating matrix with its n, bootstrap interval and reading.

:func:`compute_coefficients` is what ``ptmcoder agree`` prints: one
:class:`Coefficient` per metric name. All coefficients share one set of
bootstrap resamples of units (see :mod:`ptmcoder.agreement.bootstrap`).

With more than two raters, ``cohen_kappa`` is Light's (1971) kappa and
``scott_pi`` the mean of the pairwise Scott's pi, each over the pairs of raters
that coded units in common; ``fleiss_kappa`` is Fleiss' kappa (Gwet's
generalisation when the number of ratings per unit varies).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ptmcoder.agreement import coefficients as co
from ptmcoder.agreement.bootstrap import (
    DEFAULT_RESAMPLES,
    bootstrap_sums,
    finish_all,
    percentile_interval,
)
from ptmcoder.agreement.data import SET_SEPARATOR, RatingMatrix, code_number
from ptmcoder.errors import PtmcoderError

METRICS = (
    "percent_agreement",
    "cohen_kappa",
    "scott_pi",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "krippendorff_alpha_masi",
    "per_code_kappa",
)


@dataclass
class Coefficient:
    """One agreement coefficient with its interval, sample size and reading.

    ``value`` is None when the data leave the coefficient undefined; ``note``
    then says why (e.g. "undefined: all ratings are one category (expected
    agreement = 1)")."""

    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_units: int
    n_raters: int
    method: str
    ci_method: str
    interpretation: str
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n_units,
            "n_raters": self.n_raters,
            "method": self.method,
            "ci_method": self.ci_method,
            "interpretation": self.interpretation,
            "note": self.note,
        }
        out.update(self.extra)
        return out


@dataclass
class _Measure:
    """A coefficient as one statistic, or the mean over several (pairs, codes)."""

    name: str
    method: str
    parts: list[co.Statistic]
    labels: list[str]
    n_raters: int
    mean: bool = False
    notes: list[str] = field(default_factory=list)
    n_units: int | None = None


def _embed(stat: co.Statistic, rows: np.ndarray, n_units: int) -> co.Statistic:
    """The same statistic over all ``n_units`` units (zero rows elsewhere)."""
    full = np.zeros((n_units, stat.stats.shape[1]))
    full[rows] = stat.stats
    return co.Statistic(full, stat.finish, stat.reason, stat.n_units)


def _values_for_level(matrix: RatingMatrix, level: str) -> list[float] | None:
    if level not in ("interval", "ratio"):
        return None
    values = []
    for cat in matrix.categories:
        number = code_number(cat[0]) if len(cat) == 1 else None
        if number is None:
            raise PtmcoderError(
                f"{level} alpha needs numeric codes; {SET_SEPARATOR.join(cat)!r} is not a number",
                hint="use --alpha-level nominal (or ordinal for ordered codes)",
            )
        values.append(number)
    return values


def _pair_rows(matrix: RatingMatrix, i: int, j: int) -> np.ndarray:
    return np.flatnonzero((matrix.codes[:, i] >= 0) & (matrix.codes[:, j] >= 0))


def _pair_measure(matrix: RatingMatrix, name: str, kind: str, weights: str | None) -> _Measure:
    r = len(matrix.raters)
    k = matrix.n_categories
    parts: list[co.Statistic] = []
    labels: list[str] = []
    notes: list[str] = []
    for i, j in itertools.combinations(range(r), 2):
        rows = _pair_rows(matrix, i, j)
        a, b = matrix.codes[rows, i], matrix.codes[rows, j]
        if kind == "cohen":
            stat = co.cohen_kappa_statistic(a, b, weights, n_categories=k)
        else:
            stat = co.scott_pi_statistic(a, b, n_categories=k)
        parts.append(_embed(stat, rows, matrix.n_units))
        labels.append(f"{matrix.raters[i]}~{matrix.raters[j]}")
    w = weights if weights and weights != "none" else None
    if kind == "cohen":
        method = (
            "Cohen's kappa" if r == 2 else "Light's kappa (mean of pairwise Cohen's kappa)"
        ) + (f", {w} weights" if w else "")
    else:
        method = "Scott's pi" if r == 2 else "mean of pairwise Scott's pi"
    if w:
        notes.append(
            "weights follow the category order "
            + " < ".join(matrix.category_names()[:8])
            + (" ..." if k > 8 else "")
        )
    n_units = int(((matrix.codes >= 0).sum(axis=1) >= 2).sum()) if r > 2 else None
    return _Measure(name, method, parts, labels, r, mean=r > 2, notes=notes, n_units=n_units)


def _measures(
    matrix: RatingMatrix,
    metrics: Sequence[str],
    *,
    weights: str | None,
    alpha_level: str,
    n_categories: int | None,
) -> list[_Measure]:
    r = len(matrix.raters)
    counts = matrix.counts()
    out: list[_Measure] = []
    for name in metrics:
        if name == "percent_agreement":
            out.append(
                _Measure(
                    name,
                    "share of agreeing rater pairs per unit, averaged",
                    [co.percent_agreement_statistic(counts)],
                    [name],
                    r,
                )
            )
        elif name == "cohen_kappa":
            out.append(_pair_measure(matrix, name, "cohen", weights))
        elif name == "scott_pi":
            out.append(_pair_measure(matrix, name, "scott", None))
        elif name == "fleiss_kappa":
            varying = (
                len(set(matrix.ratings_per_unit()[matrix.ratings_per_unit() >= 2].tolist())) > 1
            )
            method = "Fleiss' kappa" + (
                " (Gwet's generalisation: ratings per unit vary)" if varying else ""
            )
            out.append(_Measure(name, method, [co.fleiss_kappa_statistic(counts)], [name], r))
        elif name == "krippendorff_alpha":
            values = _values_for_level(matrix, alpha_level)
            stat = co.krippendorff_alpha_statistic(counts, alpha_level, values)
            notes = []
            if alpha_level == "ordinal":
                notes.append(
                    "ordinal order: "
                    + " < ".join(matrix.category_names()[:8])
                    + (" ..." if matrix.n_categories > 8 else "")
                )
            out.append(
                _Measure(
                    name, f"Krippendorff's alpha, {alpha_level}", [stat], [name], r, notes=notes
                )
            )
        elif name == "gwet_ac1":
            q = n_categories or matrix.n_categories
            out.append(
                _Measure(
                    name,
                    f"Gwet's AC1 (q = {q} categories)",
                    [co.gwet_ac1_statistic(counts, q)],
                    [name],
                    r,
                )
            )
        elif name == "krippendorff_alpha_masi":
            delta = co.masi_matrix([frozenset(c) for c in matrix.categories])
            stat = co.krippendorff_alpha_statistic(counts, delta=delta)
            notes = (
                []
                if matrix.multi_label_cells
                else ["every rating is a single code, so MASI alpha equals nominal alpha"]
            )
            out.append(
                _Measure(
                    name,
                    "Krippendorff's alpha, MASI distance over code sets",
                    [stat],
                    [name],
                    r,
                    notes=notes,
                )
            )
        elif name == "per_code_kappa":
            out.append(per_code_measure(matrix))
        else:
            raise PtmcoderError(
                f"unknown metric {name!r}", hint=f"metrics are: {', '.join(METRICS)}"
            )
    return out


def per_code_measure(matrix: RatingMatrix) -> _Measure:
    """Binary kappa of each code (present / absent in a rating): Cohen's kappa
    for two raters, Fleiss' kappa (Gwet's generalisation) for more."""
    r = len(matrix.raters)
    parts, labels = [], []
    for code in matrix.code_vocabulary():
        binary = matrix.binary(code)
        if r == 2:
            rows = _pair_rows(matrix, 0, 1)
            stat = _embed(
                co.cohen_kappa_statistic(binary[rows, 0], binary[rows, 1], n_categories=2),
                rows,
                matrix.n_units,
            )
        else:
            counts = np.stack([(binary == 0).sum(axis=1), (binary == 1).sum(axis=1)], axis=1)
            stat = co.fleiss_kappa_statistic(counts.astype(np.float64))
        parts.append(stat)
        labels.append(code)
    method = (
        "binary Cohen's kappa per code" if r == 2 else "binary Fleiss' kappa per code"
    ) + "; value = unweighted mean over codes"
    return _Measure("per_code_kappa", method, parts, labels, r, mean=True)


def _combine(values: np.ndarray, mean: bool) -> np.ndarray:
    """values: (B, parts) -> (B,)"""
    if not mean:
        return values[:, 0]
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _evaluate(measure: _Measure, boot: list[np.ndarray] | None, n_boot: int) -> Coefficient:
    point_parts: list[float | None] = []
    reasons: list[str] = []
    for stat, label in zip(measure.parts, measure.labels, strict=True):
        try:
            point_parts.append(stat.value())
        except co.UndefinedCoefficient as exc:
            point_parts.append(None)
            reasons.append(f"{label}: {exc.message}" if measure.mean else exc.message)
    notes = list(measure.notes)
    defined = [v for v in point_parts if v is not None]
    n_units = (
        measure.n_units
        if measure.n_units is not None
        else max((p.n_units for p in measure.parts), default=0)
    )
    value: float | None
    if not measure.parts:
        value = None
        notes.insert(
            0,
            "undefined: no codes"
            if measure.name == "per_code_kappa"
            else "undefined: needs at least two raters",
        )
    elif not defined:
        value = None
        uniq = sorted(set(r.split(": ", 1)[1] if measure.mean else r for r in reasons))
        notes.insert(0, "; ".join(uniq))
    else:
        value = float(np.mean(defined)) if measure.mean else defined[0]
        if measure.mean and reasons:
            notes.append(
                f"{len(reasons)} of {len(measure.parts)} left out of the mean ("
                + "; ".join(reasons[:3])
                + (" ..." if len(reasons) > 3 else "")
                + ")"
            )
    ci_low = ci_high = None
    extra: dict[str, Any] = {}
    if boot is not None and value is not None and n_boot > 0:
        per_part = (
            np.column_stack([finish_all(s, b) for s, b in zip(measure.parts, boot, strict=True)])
            if measure.parts
            else np.zeros((n_boot, 0))
        )
        if measure.mean:  # average over the parts defined in the full sample
            keep = np.array([v is not None for v in point_parts])
            per_part = per_part[:, keep]
        draws = _combine(per_part, measure.mean)
        interval = percentile_interval(draws)
        ci_low, ci_high = interval.low, interval.high
        if interval.n_defined < interval.n_boot:
            notes.append(
                f"{interval.n_boot - interval.n_defined} of {interval.n_boot} "
                "bootstrap resamples undefined and left out of the interval"
            )
    if measure.mean and measure.parts:
        key = "codes" if measure.name == "per_code_kappa" else "pairs"
        extra[key] = {}
        for i, (label, v) in enumerate(zip(measure.labels, point_parts, strict=True)):
            item: dict[str, Any] = {"value": v, "n": measure.parts[i].n_units}
            if boot is not None and n_boot > 0 and v is not None:
                iv = percentile_interval(finish_all(measure.parts[i], boot[i]))
                item["ci_low"], item["ci_high"] = iv.low, iv.high
            else:
                item["ci_low"] = item["ci_high"] = None
            if v is None:
                item["note"] = next(
                    (r.split(": ", 1)[1] for r in reasons if r.startswith(label + ": ")), None
                )
            extra[key][label] = item
    ci_method = f"percentile bootstrap over units, {n_boot} resamples" if n_boot > 0 else "none"
    return Coefficient(
        measure.name,
        value,
        ci_low,
        ci_high,
        int(n_units),
        measure.n_raters,
        measure.method,
        ci_method,
        _reading(measure.name, value),
        "; ".join(notes) if notes else None,
        extra,
    )


#: Landis & Koch's scale reads chance-corrected coefficients; raw agreement has no reading.
NOT_CHANCE_CORRECTED = frozenset({"percent_agreement"})


def _reading(name: str, value: float | None) -> str:
    """The Landis & Koch (1977) reading, or ``n/a`` for coefficients it does not apply to."""
    return "n/a (not chance-corrected)" if name in NOT_CHANCE_CORRECTED else co.landis_koch(value)


def row_patterns(codes: np.ndarray) -> np.ndarray:
    """Ids ``0..G-1`` numbering the distinct rows of the (units x raters) codes."""
    if codes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    base = int(codes.max(initial=-1)) + 2
    if codes.shape[1] and base ** codes.shape[1] < 2**62:
        key = (codes.astype(np.int64) + 1) @ (base ** np.arange(codes.shape[1], dtype=np.int64))
        return pd.factorize(key)[0].astype(np.int64)
    return np.unique(codes, axis=0, return_inverse=True)[1].ravel().astype(np.int64)


def compute_coefficients(
    matrix: RatingMatrix,
    metrics: Sequence[str] | None = None,
    *,
    weights: str | None = None,
    alpha_level: str = "nominal",
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_categories: int | None = None,
) -> dict[str, Coefficient]:
    """Every requested coefficient (default: all of :data:`METRICS`) of ``matrix``."""
    metrics = list(metrics or METRICS)
    for name in metrics:
        if name not in METRICS:
            raise PtmcoderError(
                f"unknown metric {name!r}", hint=f"metrics are: {', '.join(METRICS)}"
            )
    if weights not in (None, *co.WEIGHTS):
        raise PtmcoderError(f"unknown weights {weights!r}", hint="use none, linear or quadratic")
    if alpha_level not in co.ALPHA_LEVELS:
        raise PtmcoderError(
            f"unknown alpha level {alpha_level!r}", hint=f"use {', '.join(co.ALPHA_LEVELS)}"
        )
    measures = _measures(
        matrix, metrics, weights=weights, alpha_level=alpha_level, n_categories=n_categories
    )
    flat = [p for m in measures for p in m.parts]
    boot_flat = None
    if n_boot > 0:
        # every statistic is a function of a unit's row of codes: units with the same
        # row are one pattern for the bootstrap (see ptmcoder.agreement.bootstrap)
        boot_flat = bootstrap_sums(
            flat, n_boot=n_boot, seed=seed, groups=row_patterns(matrix.codes)
        )
    out: dict[str, Coefficient] = {}
    pos = 0
    diag = matrix.diagnostics()
    for m in measures:
        boot = boot_flat[pos : pos + len(m.parts)] if boot_flat is not None else None
        pos += len(m.parts)
        coef = _evaluate(m, boot, n_boot)
        extra_notes = []
        if diag["raters_without_labels"]:
            extra_notes.append(
                "rater(s) with no labels: " + ", ".join(diag["raters_without_labels"])
            )
        if diag["units_with_one_rating"] and m.name not in ("cohen_kappa", "scott_pi"):
            extra_notes.append(
                f"{diag['units_with_one_rating']} unit(s) coded by a single rater "
                "carry no agreement information"
                + (" (they count in AC1's category shares)" if m.name == "gwet_ac1" else "")
            )
        if diag["multi_label_cells"] and m.name not in (
            "krippendorff_alpha_masi",
            "per_code_kappa",
        ):
            extra_notes.append(
                f"{diag['multi_label_cells']} rating(s) carry several codes; "
                "this coefficient treats each code set as one category"
            )
        if extra_notes:
            coef.note = "; ".join(([coef.note] if coef.note else []) + extra_notes)
        if m.name == "cohen_kappa" and len(matrix.raters) == 2 and coef.value is not None:
            coef.extra.update(_analytic_cohen(matrix, weights))
        out[m.name] = coef
    return out


def _analytic_cohen(matrix: RatingMatrix, weights: str | None) -> dict[str, Any]:
    """Asymptotic interval of Cohen's kappa from statsmodels (Fleiss, Cohen,
    Everitt 1969 variance)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    rows = _pair_rows(matrix, 0, 1)
    k = matrix.n_categories
    table = np.zeros((k, k))
    np.add.at(table, (matrix.codes[rows, 0], matrix.codes[rows, 1]), 1)
    wt = (
        None
        if not weights or weights == "none"
        else ("linear" if weights == "linear" else "quadratic")
    )
    try:
        res = cohens_kappa(table, wt=wt)
        low, high = float(res.kappa_low), float(res.kappa_upp)
    except Exception:  # statsmodels fails on degenerate tables; the bootstrap CI stands
        return {}
    if not (np.isfinite(low) and np.isfinite(high)):
        return {}
    return {
        "ci_analytic_low": low,
        "ci_analytic_high": high,
        "ci_analytic_method": "asymptotic normal (statsmodels cohens_kappa)",
    }
