"""The share of units carrying each code, corrected for annotation error.

:func:`prevalence` takes the annotator's codes on every unit and human (gold) codes
on a sample of them, both as long tables ``unit, rater, code`` (a unit may carry
several codes; a share is over units), and returns, per code (and per group of a
``by`` field, with the differences between groups), three estimates side by side:
naive (annotator only), classical (humans only) and PPI++ (both; :mod:`.ppi`), each
with its 95% interval, the gold and annotated ``n`` and the effective number of human
codes the annotator was worth. Gold units are weighted by their design
(:mod:`.design`).

The work is vectorised: the annotated codes become one boolean units x codes matrix,
each (group, code) cell needs only its count and sum (:func:`.ppi.ppi_mean_from_sums`),
and only the gold units (a few hundred or thousand) are looked at one cell at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.design import GoldDesign, gold_design
from ptmcoder.inference.ppi import Interval, difference, naive_from_sums, ppi_mean_from_sums

#: the group of every annotated unit when there is no ``by`` (and the overall rows)
ALL = "(all)"
#: the group of a unit whose ``by`` field is empty
MISSING_GROUP = "(missing)"
#: with more groups than this, each group is compared with the largest, not every pair
MAX_PAIRWISE = 6


class PrevalenceError(PtmcoderError):
    """Inputs from which no share can be estimated (named units, columns, raters)."""


@dataclass
class CodingTables:
    """The inputs of every estimate, as arrays: the annotated units' codes and groups,
    the gold units' human and annotator codes, groups and design."""

    codes: list[str]
    groups: list[str]
    unit_group: np.ndarray  # (N,) group index of each annotated unit
    annotated: np.ndarray  # (N, C) bool: the annotator gave unit i code c
    gold_index: np.ndarray  # (n,) row of each gold unit in ``annotated``
    human: np.ndarray  # (n, C) float: humans gave gold unit j code c
    design: GoldDesign | None  # None: no gold yet (planning from an assumed accuracy)
    rater: str
    by: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def N(self) -> int:
        return int(self.annotated.shape[0])

    @property
    def n(self) -> int:
        return int(self.gold_index.size)


def _named(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _long(frame: pd.DataFrame, what: str, required: tuple[str, ...]) -> pd.DataFrame:
    from ptmcoder.tables import as_long_table

    return as_long_table(frame, what, required=required)


def coding_tables(
    annotations: pd.DataFrame,
    gold: pd.DataFrame | None,
    *,
    rater: str | None = None,
    by: str | None = None,
    units: pd.DataFrame | None = None,
    codes: list[str] | None = None,
    design: pd.DataFrame | None = None,
    assume_random: bool = False,
    sources: tuple[str, str, str] = ("annotations", "gold", "design"),
) -> CodingTables:
    """The arrays behind :func:`prevalence` (its doc says what each argument is);
    ``gold=None`` gives the annotated part only (for planning before any gold)."""
    ann = _long(annotations, sources[0], ("unit", "rater", "code"))
    gold = (
        _long(gold, sources[1], ("unit", "code"))
        if gold is not None
        else pd.DataFrame(
            {"unit": pd.Series([], dtype="string"), "code": pd.Series([], dtype="string")}
        )
    )
    raters = pd.unique(ann["rater"].dropna()).tolist()
    if rater is None:
        if len(raters) != 1:
            raise PrevalenceError(
                f"{sources[0]}: {len(raters)} raters ({_named([str(r) for r in raters])}); "
                "say whose codes to correct",
                hint="name the annotator with --rater",
            )
        rater = str(raters[0])
    elif rater not in raters:
        raise PrevalenceError(
            f"{sources[0]}: no rater {rater!r}",
            hint=f"raters: {_named([str(r) for r in raters]) or 'none'}",
        )
    ann = ann[ann["rater"] == rater]
    unit_codes, unit_ids = pd.factorize(ann["unit"], sort=False)
    if (unit_codes < 0).any():
        raise PrevalenceError(f"{sources[0]}: {int((unit_codes < 0).sum())} row(s) without a unit")
    unit_ids = pd.Index(unit_ids.astype(str))
    N = unit_ids.size
    if N == 0:
        raise PrevalenceError(f"{sources[0]}: rater {rater!r} annotated no units")
    gold_codes = pd.unique(gold["code"].dropna().astype(str)).tolist()
    if codes is None:
        ann_codes = pd.unique(ann["code"].dropna().astype(str)).tolist()
        codes = sorted(set(ann_codes) | set(gold_codes))
    if not codes:
        raise PrevalenceError("no codes: neither the annotator nor the humans gave any")
    code_pos = pd.Index(codes)
    ci = code_pos.get_indexer(ann["code"].astype(object).where(ann["code"].notna(), None))
    keep = ci >= 0
    annotated = np.zeros((N, len(codes)), dtype=bool)
    annotated[unit_codes[keep], ci[keep]] = True

    notes: list[str] = []
    # groups
    if by is None:
        groups, unit_group = [ALL], np.zeros(N, dtype=np.int64)
    else:
        unit_group, groups = _group_values(ann, unit_codes, unit_ids, by, units, sources[0])
    if not len(gold):
        empty = np.zeros(0, dtype=np.int64)
        return CodingTables(
            codes,
            groups,
            unit_group,
            annotated,
            empty,
            np.zeros((0, len(codes))),
            None,
            rater,
            by,
            notes,
        )
    # gold
    dsn = gold_design(
        gold, design, assume_random=assume_random, source=sources[1], design_source=sources[2]
    )
    gold_index = pd.Index(unit_ids).get_indexer(dsn.units)
    absent = [u for u, i in zip(dsn.units, gold_index, strict=True) if i < 0]
    if absent:
        raise PrevalenceError(
            f"{sources[1]}: {len(absent)} gold unit(s) not among rater {rater!r}'s "
            f"annotated units: {_named(absent)}",
            hint="the gold sample must be drawn from the annotated units "
            "(ptmcoder sample gold RUN)",
        )
    human = np.zeros((len(dsn.units), len(codes)))
    gp = pd.Index(dsn.units).get_indexer(gold["unit"].astype(str))
    gc = code_pos.get_indexer(gold["code"].astype(object).where(gold["code"].notna(), None))
    ok = gc >= 0
    human[gp[ok], gc[ok]] = 1.0
    dropped = sorted(set(gold_codes) - set(codes))
    if dropped:
        notes.append(f"gold codes outside the chosen codes, ignored: {_named(dropped)}")
    if dsn.assumed_random:
        notes.append(
            "the gold sample was ASSUMED to be a uniform random sample of the annotated units"
        )
    return CodingTables(
        codes, groups, unit_group, annotated, gold_index, human, dsn, rater, by, notes
    )


def _group_values(
    ann: pd.DataFrame,
    unit_codes: np.ndarray,
    unit_ids: pd.Index,
    by: str,
    units: pd.DataFrame | None,
    source: str,
) -> tuple[np.ndarray, list[str]]:
    """The group index of each annotated unit and the groups (sorted): the ``by``
    value, from ``units`` (``id`` or ``unit`` column) or a column of the annotations
    (its first row per unit); empty values are :data:`MISSING_GROUP`."""
    if units is not None:
        key = "unit" if "unit" in units.columns else "id"
        if key not in units.columns or by not in units.columns:
            have = ", ".join(str(c) for c in units.columns if c not in ("body", "title"))
            raise PrevalenceError(f"--by {by}: not a field of the units (fields: {have})")
        index = pd.Index(units[key].astype(str))
        if not index.is_unique:
            index, frame = (
                pd.Index(units[key].astype(str).drop_duplicates()),
                units.drop_duplicates(key),
            )
        else:
            frame = units
        pos = index.get_indexer(unit_ids)
        column = frame[by].to_numpy(dtype=object)
        values = np.full(unit_ids.size, None, dtype=object)
        hit = pos >= 0
        values[hit] = column[pos[hit]]
    elif by in ann.columns:
        first = np.empty(unit_ids.size, dtype=np.int64)
        first[unit_codes[::-1]] = np.arange(unit_codes.size)[::-1]
        values = ann[by].iloc[first].to_numpy(dtype=object)
    else:
        raise PrevalenceError(
            f"--by {by}: no column {by!r} in {source} and no corpus units to read it from",
            hint="add the column to the long table, or give a run whose corpus has the field",
        )
    values = np.where(pd.isna(values), MISSING_GROUP, values)
    try:
        group_index, uniq = pd.factorize(values)
    except TypeError:  # unhashable: a list per unit
        raise PrevalenceError(
            f"--by {by}: a list-valued field (tags) cannot split units into groups"
        ) from None
    if any(isinstance(v, list | tuple | np.ndarray) for v in uniq):
        raise PrevalenceError(
            f"--by {by}: a list-valued field (tags) cannot split units into groups"
        )
    names = np.array([str(v) for v in uniq], dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[group_index], [str(v) for v in names[order]]


@dataclass(frozen=True)
class CodeEstimate:
    """One code's share in one group (``(all)`` for every annotated unit)."""

    code: str
    group: str
    n_gold: int
    n_annotated: int
    naive: Interval
    classical: Interval | None
    ppi: Interval | None
    lam: float | None
    correlation: float | None
    effective_n: float | None
    note: str | None

    def to_json(self, with_group: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if with_group:
            out["group"] = self.group
        out |= {
            "n_gold": self.n_gold,
            "n_annotated": self.n_annotated,
            "naive": self.naive.to_json(),
            "classical": self.classical.to_json() if self.classical else None,
            "ppi": self.ppi.to_json() if self.ppi else None,
            "lambda": self.lam,
            "correlation": _finite(self.correlation),
            "effective_n": _finite(self.effective_n),
            "note": self.note,
        }
        return out


@dataclass(frozen=True)
class GroupDifference:
    """One code's share in ``group`` minus its share in ``versus``."""

    code: str
    group: str
    versus: str
    naive: Interval
    classical: Interval | None
    ppi: Interval | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "group": self.group,
            "versus": self.versus,
            "naive": self.naive.to_json(),
            "classical": self.classical.to_json() if self.classical else None,
            "ppi": self.ppi.to_json() if self.ppi else None,
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass
class PrevalenceResult:
    """Every code's naive, classical and PPI++ share (per group with ``by``), the
    differences between groups, and how the inputs were read."""

    estimates: list[CodeEstimate]
    differences: list[GroupDifference]
    rater: str
    by: str | None
    codes: list[str]
    groups: list[str]
    n_annotated: int
    n_gold: int
    design: str
    assumed_random: bool
    alpha: float
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "estimates": [e.to_json(self.by is not None) for e in self.estimates],
            "differences": [d.to_json() for d in self.differences],
            "rater": self.rater,
            "by": self.by,
            "codes": self.codes,
            "groups": self.groups if self.by else None,
            "n_annotated": self.n_annotated,
            "n_gold": self.n_gold,
            "design": self.design,
            "assumed_random": self.assumed_random,
            "confidence": 1 - self.alpha,
            "methods": {
                "naive": "annotator's codes on every annotated unit; Wald interval "
                "(ignores annotation error)",
                "classical": "human codes on the gold units only, weighted "
                "1/inclusion_probability (Hajek); Wald interval (Wilson when every gold "
                "unit agrees)",
                "ppi": "PPI++ with power tuning (Angelopoulos, Duchi & Zrnic 2023, "
                "arXiv:2311.01453), as ppi_py.ppi_mean_ci; the classical interval where "
                "the annotator-human correlation is below 1/sqrt(n-2)",
                "effective_n": "n_gold * var(classical) / var(ppi): human codes the "
                "annotator was worth",
                "differences": "Var(a - b) = Var(a) + Var(b), disjoint groups "
                "(Sarndal, Swensson & Wretman 1992, Sec. 10.3-10.5)",
            },
            "notes": self.notes,
        }


def estimate(
    tables: CodingTables,
    *,
    alpha: float = 0.05,
    groups: list[str] | None = None,
    guard: bool = True,
) -> PrevalenceResult:
    """Every estimate of :func:`prevalence` from its :class:`CodingTables`."""
    t = tables
    if t.design is None or t.n == 0:
        raise PrevalenceError(
            "no gold units: a corrected share needs human codes on a sample of the units"
        )
    C, G = len(t.codes), len(t.groups)
    counts = np.bincount(t.unit_group, minlength=G)
    sums = np.zeros((G, C))
    for c in range(C):
        sums[:, c] = np.bincount(t.unit_group, weights=t.annotated[:, c], minlength=G)
    pred = t.annotated[t.gold_index].astype(float)
    gold_group = t.unit_group[t.gold_index]
    weights = t.design.weights
    report = list(range(G))
    if groups is not None:
        unknown = [g for g in groups if g not in t.groups]
        if unknown:
            raise PrevalenceError(
                f"--by {t.by}: no group(s) {_named(unknown)}; groups: {_named(t.groups, 20)}"
            )
        report = [t.groups.index(g) for g in groups]
    cells: list[tuple[str, int, float, int, np.ndarray]] = []
    if t.by is not None:  # the overall rows first
        all_mask = np.ones(t.n, dtype=bool)
        cells += [(ALL, t.N, float(sums[:, c].sum()), c, all_mask) for c in range(C)]
    for g in report:
        mask = gold_group == g
        cells += [(t.groups[g], int(counts[g]), float(sums[g, c]), c, mask) for c in range(C)]
    estimates = [_cell(t, pred, weights, alpha, guard, *cell) for cell in cells]
    by_key = {(e.group, e.code): e for e in estimates}
    differences: list[GroupDifference] = []
    if t.by is not None and len(report) > 1:
        names = [t.groups[g] for g in report]
        if len(names) <= MAX_PAIRWISE:
            pairs = list(combinations(names, 2))
        else:
            ref = max(names, key=lambda name: counts[t.groups.index(name)])
            pairs = [(name, ref) for name in names if name != ref]
        for code in t.codes:
            for a, b in pairs:
                ea, eb = by_key[(a, code)], by_key[(b, code)]
                differences.append(
                    GroupDifference(
                        code,
                        a,
                        b,
                        difference(ea.naive, eb.naive, alpha=alpha),
                        difference(ea.classical, eb.classical, alpha=alpha)
                        if ea.classical and eb.classical
                        else None,
                        difference(ea.ppi, eb.ppi, alpha=alpha) if ea.ppi and eb.ppi else None,
                    )
                )
    notes = list(t.notes)
    fallbacks = sum(1 for e in estimates if e.note and e.note.startswith("PPI = classical"))
    if fallbacks:
        notes.append(
            f"{fallbacks} of {len(estimates)} estimate(s) report the classical interval as "
            "PPI: the annotator-human correlation r on the gold is too low for the annotator "
            "to help at this n (below 1/sqrt(n-2), or undefined)"
        )
    return PrevalenceResult(
        estimates,
        differences,
        t.rater,
        t.by,
        t.codes,
        t.groups,
        t.N,
        t.n,
        t.design.description,
        t.design.assumed_random,
        alpha,
        notes,
    )


def share_interval(interval: Interval) -> Interval:
    """An interval for a share, cut to [0, 1] (a share cannot leave it; the standard
    error, which differences between groups use, is kept).

    >>> share_interval(Interval(0.01, -0.02, 0.04, 0.015, "x")).ci_low
    0.0
    """
    return replace(interval, ci_low=max(interval.ci_low, 0.0), ci_high=min(interval.ci_high, 1.0))


def _cell(
    t: CodingTables,
    pred: np.ndarray,
    weights: np.ndarray | None,
    alpha: float,
    guard: bool,
    group: str,
    N: int,
    total: float,
    c: int,
    mask: np.ndarray,
) -> CodeEstimate:
    naive = share_interval(naive_from_sums(N, total, total, alpha=alpha))
    n = int(mask.sum())
    if n == 0:
        return CodeEstimate(
            t.codes[c],
            group,
            0,
            N,
            naive,
            None,
            None,
            None,
            None,
            None,
            "no gold unit in this group",
        )
    w = None if weights is None else weights[mask]
    est = ppi_mean_from_sums(
        t.human[mask, c], pred[mask, c], N, total, total, w=w, alpha=alpha, guard=guard
    )
    return CodeEstimate(
        t.codes[c],
        group,
        n,
        N,
        naive,
        share_interval(est.classical),
        share_interval(est.ppi),
        est.lam,
        est.correlation,
        est.effective_n,
        est.note,
    )


def prevalence(
    annotations: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    rater: str | None = None,
    by: str | None = None,
    units: pd.DataFrame | None = None,
    groups: list[str] | None = None,
    codes: list[str] | None = None,
    design: pd.DataFrame | None = None,
    assume_random: bool = False,
    alpha: float = 0.05,
    sources: tuple[str, str, str] = ("annotations", "gold", "design"),
    guard: bool = True,
) -> PrevalenceResult:
    """Each code's share of units, naive, classical and PPI++ (module doc).

    ``annotations``: long table ``unit, rater, code`` (a row with an empty code: the
    unit was annotated with no code); ``rater``: whose codes (needed when there are
    several). ``gold``: long table ``unit, code`` (any rater column is ignored: every
    row is the humans'), optionally ``inclusion_probability``; ``design``: a table
    ``unit, inclusion_probability`` instead (``gold_sample.csv``); with neither,
    ``assume_random=True`` takes the gold as a uniform random sample. ``by``: a field
    splitting units into groups, read from ``units`` (``id``/``unit`` and the field) or
    from a column of ``annotations``; ``groups`` limits the groups reported. ``codes``:
    the codes (default: every code either gave), already at the level wanted.
    ``sources``: the names of the three inputs in messages (their files); ``guard``:
    the small-cell guard of :func:`~ptmcoder.inference.ppi.ppi_mean_from_sums` (off:
    ppi_py's intervals exactly). Every share's interval is cut to [0, 1].

    >>> ann = pd.DataFrame({"unit": list("abcdef"), "rater": "m", "code": list("xxyxyy")})
    >>> gold = pd.DataFrame({"unit": list("abcd"), "code": list("xyyx")})
    >>> r = prevalence(ann, gold, assume_random=True)
    >>> [(e.code, e.n_gold, e.n_annotated, round(e.naive.estimate, 3)) for e in r.estimates]
    [('x', 4, 6, 0.5), ('y', 4, 6, 0.5)]
    """
    tables = coding_tables(
        annotations,
        gold,
        rater=rater,
        by=by,
        units=units,
        codes=codes,
        design=design,
        assume_random=assume_random,
        sources=sources,
    )
    return estimate(tables, alpha=alpha, groups=groups, guard=guard)


__all__ = [
    "ALL",
    "CodeEstimate",
    "CodingTables",
    "GroupDifference",
    "PrevalenceError",
    "PrevalenceResult",
    "coding_tables",
    "estimate",
    "prevalence",
]
