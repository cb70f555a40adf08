"""An annotator against the human coders on the same units.

For every annotator ``A`` and every pair of humans ``(H1, H2)`` the *triad* is
the set of units all three coded. On it, and only on it, we compute
``kappa(A, H1)``, ``kappa(A, H2)`` and ``kappa(H1, H2)`` (Cohen 1960), each with
its n and a percentile bootstrap interval over the triad's units. Comparing an
annotator's kappas on its units with the humans' kappas on *other* units is not
a comparison: third coders are typically added to conflicted units, so human
pairs that only overlap there are biased low.

Leave one human out. In a triad, leaving ``H2`` out and keeping ``H1`` as the
reference compares ``kappa(A, H1)`` with ``kappa(H2, H1)``: could ``A`` have
replaced ``H2``? Leaving ``H1`` out gives ``kappa(A, H2)`` against the same
``kappa(H1, H2)``. Averaging the two gives the triad's contribution:
``(kappa(A,H1) + kappa(A,H2)) / 2`` beside ``kappa(H1,H2)``. The Alternative
Annotator Test (:mod:`ptmcoder.agreement.aat`, Calderon et al. 2025) uses the
same construction per unit (the left-out human against the annotator, both
scored against the remaining humans) and turns it into a test with a margin;
this view reports the chance-corrected effect size behind it.

Which human ratings. By default (``ratings="independent"``) only the ratings
made independently enter: per unit, the ratings of the first two humans who
coded it, in the order of the table's rows (a ratings file lists a unit's
evaluators in the order they were assigned; Humbatova et al.'s sheets list
Evaluator1..Evaluator4, the third and fourth added to resolve a conflict). Each
unit then belongs to exactly one pair of humans, so it enters one triad per
annotator and counts once in every mean. ``ratings="all"`` keeps every rating,
conflict-resolution ratings included, as the view did before: a unit coded by
three or four humans enters three or six triads and counts in each. Third coders
are added where the first two disagreed, so with all ratings the humans' ceiling
is biased low.

Summary per annotator, over the triads with at least ``min_n`` units and all
three kappas defined: the n-weighted mean of its kappas against humans, the
n-weighted mean of the human-human kappas over the same triads, and their
difference. The interval of each comes from one set of bootstrap resamples of
the *distinct units* in those triads (a cluster bootstrap: a unit drawn once
enters every triad it belongs to with its multiplicity, and each triad's kappas
and weight are recomputed on the resample; Davison & Hinkley 1997, sec. 3.8), so
the difference is paired and a unit in several triads is one draw, not several.
The draws are ``numpy.random.default_rng(seed).integers(0, N, (n_boot, N))`` over
the N distinct units in sorted order (:func:`ptmcoder.agreement.bootstrap.
bootstrap_sums`). Triads below ``min_n`` are shown but left out of the means, and
counted.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich.table import Table

from ptmcoder.agreement import coefficients as co
from ptmcoder.agreement.bootstrap import (
    DEFAULT_RESAMPLES,
    bootstrap_sums,
    finish_all,
    percentile_interval,
)
from ptmcoder.agreement.data import RatingMatrix, rating_matrix
from ptmcoder.console import fmt_ci, fmt_number
from ptmcoder.errors import PtmcoderError
from ptmcoder.tables import LONG_COLUMNS, as_long_table

DEFAULT_MIN_N = 20
KAPPAS = ("kappa_annotator_a", "kappa_annotator_b", "kappa_humans")
#: which human ratings the view uses (see the module docstring)
Ratings = Literal["independent", "all"]
RATINGS: tuple[str, ...] = ("independent", "all")
RATINGS_LABEL = {
    "independent": "independent ratings only (the first two human ratings of each unit, "
    "in table order)",
    "all": "all ratings, conflict-resolution ratings included (a unit counts in every "
    "triad it enters)",
}


@dataclass(frozen=True)
class HumanRatings:
    """What :func:`independent_ratings` kept: (unit, human) ratings kept and left out,
    and the units that had a third or later human rating."""

    kept: int
    left_out: int
    units_with_more: int

    def to_json(self) -> dict[str, int]:
        return {
            "kept": self.kept,
            "left_out": self.left_out,
            "units_with_more": self.units_with_more,
        }


def independent_ratings(
    long_df: pd.DataFrame, humans: Sequence[str]
) -> tuple[pd.DataFrame, HumanRatings]:
    """The long table with, per unit, only the ratings of the first two humans who
    coded it, in the order of the table's rows (rows with a code; a rater's several
    rows for one unit are one rating). Other raters' rows are kept as they are.

    >>> df = pd.DataFrame({"unit": ["u", "u", "u", "u"], "rater": ["E1", "ann", "E4", "E2"],
    ...                    "code": ["a", "a", "b", "a"]})
    >>> kept, counts = independent_ratings(df, ["E1", "E2", "E4"])
    >>> kept["rater"].tolist(), counts.left_out
    (['E1', 'ann', 'E4'], 1)
    """
    df = _long(long_df)
    code = df["code"].astype("string")
    is_human = df["rater"].isin(list(humans)).to_numpy()
    coded = is_human & code.notna().to_numpy() & (code.fillna("") != "").to_numpy()
    first = df.loc[coded, ["unit", "rater"]].drop_duplicates()
    rank = first.groupby("unit", sort=False).cumcount().to_numpy()
    keep = pd.MultiIndex.from_frame(first[rank < 2])
    cells = pd.MultiIndex.from_frame(df[["unit", "rater"]])
    mask = ~is_human | cells.isin(keep)
    counts = HumanRatings(
        kept=int((rank < 2).sum()),
        left_out=int((rank >= 2).sum()),
        units_with_more=int(first["unit"][rank >= 2].nunique()),
    )
    return df[mask].reset_index(drop=True), counts


@dataclass
class Triad:
    """One annotator and one pair of humans on the units all three coded."""

    annotator: str
    human_a: str
    human_b: str
    n: int
    kappas: dict[str, float | None]
    intervals: dict[str, tuple[float | None, float | None]]
    used: bool
    below_min_n: bool
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "annotator": self.annotator,
            "human_a": self.human_a,
            "human_b": self.human_b,
            "n": self.n,
        }
        for key in KAPPAS:
            out[key] = self.kappas[key]
            out[f"{key}_ci_low"], out[f"{key}_ci_high"] = self.intervals[key]
        out["used"] = self.used
        out["note"] = self.note
        return out


@dataclass
class Summary:
    """n-weighted means over an annotator's usable triads, with paired intervals from a
    bootstrap over their distinct units."""

    annotator: str
    annotator_vs_humans: float | None
    humans_vs_humans: float | None
    difference: float | None
    intervals: dict[str, tuple[float | None, float | None]]
    triads_used: int
    triads_below_min_n: int
    triads_undefined: int
    n_units: int  # distinct units in the triads used
    triad_units: int = 0  # sum of n over the triads used (equals n_units with independent ratings)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("annotator_vs_humans", "humans_vs_humans", "difference"):
            out[key] = getattr(self, key)
            low, high = self.intervals[key]
            if key == "difference":
                out["ci_low"], out["ci_high"] = low, high
            else:
                out[f"{key}_ci_low"], out[f"{key}_ci_high"] = low, high
        out.update(
            triads_used=self.triads_used,
            triads_below_min_n=self.triads_below_min_n,
            triads_undefined=self.triads_undefined,
            n=self.n_units,
            triad_units=self.triad_units,
        )
        return out


@dataclass
class SameUnitResult:
    triads: list[Triad]
    summary: dict[str, Summary]
    min_n: int
    n_boot: int
    seed: int
    weights: str | None = None
    ratings: str = "independent"
    human_ratings: HumanRatings | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "triads": [t.to_json() for t in self.triads],
            "summary": {name: s.to_json() for name, s in self.summary.items()},
            "min_n": self.min_n,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "ratings": self.ratings,
            "ratings_label": RATINGS_LABEL[self.ratings],
            "human_ratings": self.human_ratings.to_json() if self.human_ratings else None,
            "ci_method": (
                f"percentile bootstrap over the distinct units of the triads used "
                f"(a unit in several triads is one draw), {self.n_boot} resamples"
                if self.n_boot
                else "none"
            ),
        }

    def triad_frame(self) -> pd.DataFrame:
        return pd.DataFrame([t.to_json() for t in self.triads])


def _long(df: pd.DataFrame) -> pd.DataFrame:
    return as_long_table(df, "the long table")[list(LONG_COLUMNS)]


def _triad_stats(
    matrix: RatingMatrix, a: int, h1: int, h2: int, weights: str | None
) -> tuple[np.ndarray, list[co.Statistic]]:
    codes = matrix.codes
    rows = np.flatnonzero((codes[:, a] >= 0) & (codes[:, h1] >= 0) & (codes[:, h2] >= 0))
    k = matrix.n_categories
    ca, c1, c2 = codes[rows, a], codes[rows, h1], codes[rows, h2]
    stats = [
        co.cohen_kappa_statistic(ca, c1, weights, n_categories=k),
        co.cohen_kappa_statistic(ca, c2, weights, n_categories=k),
        co.cohen_kappa_statistic(c1, c2, weights, n_categories=k),
    ]
    return rows, stats


def _no_triad(n_categories: int) -> tuple[np.ndarray, list[co.Statistic]]:
    """A triad without units (a human with no independent rating)."""
    none = np.array([], dtype=np.int64)
    stat = co.cohen_kappa_statistic([], [], n_categories=n_categories)
    return none, [stat, stat, stat]


def same_unit_comparison(
    long_df: pd.DataFrame,
    *,
    annotators: Sequence[str],
    humans: Sequence[str],
    min_n: int = DEFAULT_MIN_N,
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    weights: str | None = None,
    level: float = 0.95,
    ratings: Ratings = "independent",
) -> SameUnitResult:
    """Every annotator against every pair of humans on the units all three coded.

    ``long_df`` has columns ``unit`` (or ``unit_id``), ``rater``, ``code``; a
    rating with several codes is one category (its code set), as everywhere in
    :mod:`ptmcoder.agreement`. Kappa is Cohen's (``weights``: none, linear,
    quadratic). ``ratings``: ``"independent"`` (the first two human ratings of
    each unit in table order, :func:`independent_ratings`) or ``"all"``
    (conflict-resolution ratings included). See the module docstring for the
    construction."""
    annotators, humans = list(annotators), list(humans)
    if not annotators:
        raise PtmcoderError("the same-unit view needs at least one annotator")
    if len(humans) < 2:
        raise PtmcoderError(
            "the same-unit view needs at least two human coders",
            hint="pass --humans H1,H2 (human-human agreement is the yardstick)",
        )
    overlap = set(annotators) & set(humans)
    if overlap:
        raise PtmcoderError(
            f"rater(s) {', '.join(sorted(overlap))} are both annotator and human",
            hint="list each rater once, in --annotators or --humans",
        )
    if min_n < 1:
        raise PtmcoderError(f"min_n must be at least 1, got {min_n}")
    if n_boot < 0:
        raise PtmcoderError(f"n_boot must be >= 0, got {n_boot}")
    if ratings not in RATINGS:
        raise PtmcoderError(
            f"ratings must be one of {', '.join(RATINGS)}, got {ratings!r}",
            hint="independent: the first two human ratings per unit; all: every rating",
        )
    table = _long(long_df)
    counts = None
    absent: set[str] = set()  # humans whose every rating came after two others
    if ratings == "independent":
        rating_matrix(table, raters=[*annotators, *humans])  # unknown raters: the same error
        table, counts = independent_ratings(table, humans)
        absent = set(humans) - set(table["rater"].dropna().astype(str))
    matrix = rating_matrix(table, raters=[r for r in [*annotators, *humans] if r not in absent])
    pos = {r: i for i, r in enumerate(matrix.raters)}
    triads: list[Triad] = []
    summary: dict[str, Summary] = {}
    for t_index, a_name in enumerate(annotators):
        mine: list[Triad] = []
        parts: list[tuple[np.ndarray, list[co.Statistic]]] = []
        for p_index, (h1, h2) in enumerate(itertools.combinations(humans, 2)):
            if absent & {h1, h2}:
                rows, stats = _no_triad(matrix.n_categories)
            else:
                rows, stats = _triad_stats(matrix, pos[a_name], pos[h1], pos[h2], weights)
            parts.append((rows, stats))
            n = int(rows.size)
            kappas: dict[str, float | None] = {}
            reasons: list[str] = []
            for key, stat in zip(KAPPAS, stats, strict=True):
                try:
                    kappas[key] = stat.value()
                except co.UndefinedCoefficient as exc:
                    kappas[key] = None
                    reasons.append(f"{key}: {exc.message}")
            intervals: dict[str, tuple[float | None, float | None]] = dict.fromkeys(
                KAPPAS, (None, None)
            )
            if n_boot > 0 and n > 0:
                # the triad's own interval: a bootstrap over its units
                boot = bootstrap_sums(stats, n_boot=n_boot, seed=seed + 7919 * t_index + p_index)
                draws = np.column_stack(
                    [finish_all(s, b) for s, b in zip(stats, boot, strict=True)]
                )
                for j, key in enumerate(KAPPAS):
                    if kappas[key] is not None:
                        iv = percentile_interval(draws[:, j], level)
                        intervals[key] = (iv.low, iv.high)
            if absent & {h1, h2}:
                who = " and ".join(sorted(absent & {h1, h2}))
                notes = [f"no independent rating by {who} (only later ratings)"]
            elif n == 0:
                notes = ["no unit coded by all three"]
            elif n < min_n:
                notes = [f"n < {min_n}: left out of the means"]
            else:
                notes = reasons
            used = n >= min_n and not reasons
            mine.append(
                Triad(
                    a_name,
                    h1,
                    h2,
                    n,
                    kappas,
                    intervals,
                    used,
                    n < min_n,
                    "; ".join(notes) or None,
                )
            )
        triads += mine
        summary[a_name] = _summarise(a_name, mine, parts, n_boot, seed, level)
    return SameUnitResult(triads, summary, min_n, n_boot, seed, weights, ratings, counts)


def _on_pool(stat: co.Statistic, at: np.ndarray, n_pool: int) -> co.Statistic:
    """``stat`` over the pool of ``n_pool`` units: its rows at positions ``at``, rows of
    zeros elsewhere (units outside the triad add nothing to its sums)."""
    padded = np.zeros((n_pool, stat.stats.shape[1]))
    padded[at] = stat.stats
    return co.Statistic(padded, stat.finish, stat.reason, stat.n_units)


def _summarise(
    name: str,
    triads: list[Triad],
    parts: list[tuple[np.ndarray, list[co.Statistic]]],
    n_boot: int,
    seed: int,
    level: float,
) -> Summary:
    """n-weighted means over the used triads; intervals from one cluster bootstrap over
    the distinct units of those triads (the module docstring)."""
    chosen = [i for i, t in enumerate(triads) if t.used]
    used = [triads[i] for i in chosen]
    below = sum(1 for t in triads if t.below_min_n)
    undefined = sum(1 for t in triads if not t.used and not t.below_min_n)
    intervals: dict[str, tuple[float | None, float | None]] = {
        k: (None, None) for k in ("annotator_vs_humans", "humans_vs_humans", "difference")
    }
    if not used:
        return Summary(name, None, None, None, intervals, 0, below, undefined, 0, 0)
    n = np.array([t.n for t in used], dtype=np.float64)
    w = n / n.sum()
    k = np.array([[t.kappas[key] for key in KAPPAS] for t in used], dtype=np.float64)
    ann = float(w @ ((k[:, 0] + k[:, 1]) / 2))
    hum = float(w @ k[:, 2])
    pool = np.unique(np.concatenate([parts[i][0] for i in chosen]))  # sorted unit indices
    if n_boot > 0:
        pooled = [
            _on_pool(stat, np.searchsorted(pool, parts[i][0]), pool.size)
            for i in chosen
            for stat in parts[i][1]
        ]
        boot = bootstrap_sums(pooled, n_boot=n_boot, seed=seed)
        d = np.stack([finish_all(s, b) for s, b in zip(pooled, boot, strict=True)], axis=1).reshape(
            n_boot, len(used), 3
        )
        n_b = np.stack([boot[3 * j + 2][:, 0] for j in range(len(used))], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_b = n_b / n_b.sum(axis=1, keepdims=True)
            ann_b = (((d[:, :, 0] + d[:, :, 1]) / 2) * w_b).sum(axis=1)
            hum_b = (d[:, :, 2] * w_b).sum(axis=1)
        for key, vals in (
            ("annotator_vs_humans", ann_b),
            ("humans_vs_humans", hum_b),
            ("difference", ann_b - hum_b),
        ):
            iv = percentile_interval(vals, level)
            intervals[key] = (iv.low, iv.high)
    return Summary(
        name,
        ann,
        hum,
        ann - hum,
        intervals,
        len(used),
        below,
        undefined,
        int(pool.size),
        int(n.sum()),
    )


def against_gold(
    long_df: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    annotators: Sequence[str],
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    weights: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Cohen's kappa of each annotator with the adjudicated labels (``gold``:
    columns ``unit, code``) on the units both have, with n and bootstrap CI."""
    from ptmcoder.agreement.views import pair_coefficients

    g = _long(gold.assign(rater="gold") if "rater" not in gold.columns else gold)
    g = g.assign(rater="gold")
    df = pd.concat([_long(long_df), g], ignore_index=True)
    matrix = rating_matrix(df, raters=[*annotators, "gold"])
    out = {}
    for a in annotators:
        c = pair_coefficients(
            matrix, a, "gold", ["cohen_kappa"], weights=weights, n_boot=n_boot, seed=seed
        )["cohen_kappa"]
        out[a] = {
            "kappa": c.value,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
            "n": c.n_units,
            "note": c.note,
        }
    return out


def render_gold(results: dict[str, dict[str, Any]]) -> Table:
    t = Table(title="Annotator vs adjudicated labels (Cohen's kappa, 95% bootstrap CI)")
    for col in ("annotator", "n", "kappa", "95% CI"):
        t.add_column(col, justify="left" if col == "annotator" else "right")
    for name, r in results.items():
        t.add_row(name, str(r["n"]), fmt_number(r["kappa"]), fmt_ci(r["ci_low"], r["ci_high"]))
    return t


# -- replication -----------------------------------------------------------------

REPEAT_SUFFIX = re.compile(r"^(?P<base>.+)#r(?P<k>\d+)$")


def split_repeat(rater: str) -> tuple[str, int | None]:
    """``"llm#r2"`` -> ``("llm", 2)``; a name without the suffix -> ``(name, None)``."""
    m = REPEAT_SUFFIX.match(rater)
    return (m.group("base"), int(m.group("k"))) if m else (rater, None)


def repeat_groups(raters: Sequence[str]) -> dict[str, list[str]]:
    """Annotators coded several times: base name -> its repeat raters (``name#rK``),
    in repeat order; only bases with two or more repeats."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for r in raters:
        base, k = split_repeat(r)
        if k is not None:
            groups.setdefault(base, []).append((k, r))
    return {b: [r for _, r in sorted(v)] for b, v in groups.items() if len(v) >= 2}


@dataclass
class Replication:
    """An annotator's agreement with the humans over its repeats (seeds, samples)."""

    annotator: str
    repeats: list[str]
    values: list[float | None]  # per repeat: n-weighted mean kappa against the humans
    mean: float | None
    sd: float | None  # sample SD (ddof 1) over the repeats where the value is defined
    per_human: dict[str, dict[str, Any]]  # human -> mean, sd, n (mean common units)

    def to_json(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "values": self.values,
            "mean": self.mean,
            "sd": self.sd,
            "k": len(self.repeats),
            "per_human": self.per_human,
        }


def _mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=np.float64)
    if vals.size == 0:
        return None, None
    return float(vals.mean()), (float(vals.std(ddof=1)) if vals.size >= 2 else None)


def replication(
    long_df: pd.DataFrame,
    *,
    humans: Sequence[str],
    annotators: Sequence[str] | None = None,
    min_n: int = DEFAULT_MIN_N,
    weights: str | None = None,
    ratings: Ratings = "independent",
) -> dict[str, Replication]:
    """Mean and SD over repeats of each annotator's agreement with the humans.

    Repeats are raters named ``<annotator>#r<K>`` (what ``annotate --repeat K``
    writes; any table can name them so). Per repeat the value is the same-unit
    summary (n-weighted mean of its kappas against humans over the triads with
    ``n >= min_n``, on the human ratings ``ratings`` selects) when there are two or
    more humans, else Cohen's kappa with the one human on their common units; per
    human, Cohen's kappa on common units."""
    long_df = _long(long_df)
    raters = sorted(long_df["rater"].dropna().astype(str).unique().tolist())
    groups = repeat_groups(annotators if annotators else raters)
    out: dict[str, Replication] = {}
    if not groups:
        return out
    reps = [r for rs in groups.values() for r in rs]
    matrix = rating_matrix(long_df, raters=[*reps, *humans])
    pos = {r: i for i, r in enumerate(matrix.raters)}
    summary = (
        same_unit_comparison(
            long_df,
            annotators=reps,
            humans=humans,
            min_n=min_n,
            n_boot=0,
            weights=weights,
            ratings=ratings,
        ).summary
        if len(humans) >= 2
        else {}
    )
    for base, rs in groups.items():
        pair: dict[str, list[tuple[float | None, int]]] = {h: [] for h in humans}
        for r in rs:
            for h in humans:
                i, j = pos[r], pos[h]
                rows = (matrix.codes[:, i] >= 0) & (matrix.codes[:, j] >= 0)
                try:
                    k = co.cohen_kappa(
                        matrix.codes[rows, i],
                        matrix.codes[rows, j],
                        weights,
                        n_categories=matrix.n_categories,
                    )
                except co.UndefinedCoefficient:
                    k = None
                pair[h].append((k, int(rows.sum())))
        if summary:
            values = [summary[r].annotator_vs_humans for r in rs]
        else:
            values = [pair[humans[0]][i][0] for i in range(len(rs))]
        mean, sd = _mean_sd(values)
        per_human = {}
        for h, items in pair.items():
            m, d = _mean_sd([k for k, _ in items])
            per_human[h] = {"mean": m, "sd": d, "n": float(np.mean([n for _, n in items]))}
        out[base] = Replication(base, rs, values, mean, sd, per_human)
    return out


def render_replication(results: dict[str, Replication]) -> Table:
    t = Table(title="Replication: agreement with the humans over repeats (mean, sample SD)")
    for col in ("annotator", "repeats", "mean", "SD", "per repeat"):
        t.add_column(col, justify="left" if col in ("annotator", "per repeat") else "right")
    for name, r in results.items():
        t.add_row(
            name,
            str(len(r.repeats)),
            fmt_number(r.mean),
            fmt_number(r.sd),
            ", ".join(fmt_number(v) for v in r.values),
        )
    return t


def render_same_unit(result: SameUnitResult) -> list[Table]:
    """The triads (every kappa with its interval and n) and the summary per annotator,
    whose title says which human ratings it uses."""
    title = (
        "Annotator vs humans on the same units (Cohen's kappa, 95% bootstrap CI "
        f"over the triad's units, {result.n_boot} resamples; "
        f"{RATINGS_LABEL[result.ratings]})"
    )
    t = Table(title=title)
    for col in ("annotator", "human a", "human b", "n"):
        t.add_column(col, justify="right" if col == "n" else "left", no_wrap=True)
    for col in ("kappa(A, a)", "kappa(A, b)", "kappa(a, b)"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("note")
    for tr in result.triads:
        cells = [f"{fmt_number(tr.kappas[k])}\n{fmt_ci(*tr.intervals[k])}" for k in KAPPAS]
        t.add_row(tr.annotator, tr.human_a, tr.human_b, str(tr.n), *cells, tr.note or "")
    s = Table(
        title=f"n-weighted means over triads with n >= {result.min_n} "
        "(leave one human out; difference = annotator - humans; 95% CI: bootstrap over "
        f"the distinct units; {RATINGS_LABEL[result.ratings]})"
    )
    for col in (
        "annotator",
        "vs humans",
        "humans vs humans",
        "difference",
        "triads used",
        "left out (n < min)",
        "left out (undefined)",
        "n units",
        "triad units",
    ):
        s.add_column(col, justify="left" if col == "annotator" else "right", no_wrap=True)
    for name, m in result.summary.items():
        s.add_row(
            name,
            f"{fmt_number(m.annotator_vs_humans)}\n{fmt_ci(*m.intervals['annotator_vs_humans'])}",
            f"{fmt_number(m.humans_vs_humans)}\n{fmt_ci(*m.intervals['humans_vs_humans'])}",
            f"{fmt_number(m.difference)}\n{fmt_ci(*m.intervals['difference'])}",
            str(m.triads_used),
            str(m.triads_below_min_n),
            str(m.triads_undefined),
            str(m.n_units),
            str(m.triad_units),
        )
    return [t, s]


__all__ = [
    "DEFAULT_MIN_N",
    "RATINGS",
    "RATINGS_LABEL",
    "HumanRatings",
    "independent_ratings",
    "against_gold",
    "render_gold",
    "SameUnitResult",
    "Summary",
    "Triad",
    "Replication",
    "render_replication",
    "render_same_unit",
    "repeat_groups",
    "replication",
    "same_unit_comparison",
    "split_repeat",
]
