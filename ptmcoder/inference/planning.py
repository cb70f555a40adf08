"""How many human codes bring the widest interval to a target width.

The PPI++ variance at ``n`` gold units out of ``N`` annotated ones, with power tuning
``lambda`` (Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453, Sec. 2.2 and
Example 6.1)::

    V(n, lambda) = (s_Y^2 - 2 lambda c + lambda^2 s_f^2) / n + lambda^2 s_f^2 / N
    lambda*(n) = c / ((1 + n/N) s_f^2), clipped to [0, 1]

with ``s_Y^2`` the humans' variance, ``s_f^2`` the annotator's and ``c`` their
covariance, all read from the gold already coded (:func:`moments_from_gold`) or, with
no gold yet, from an assumed accuracy (:func:`moments_from_accuracy`). The interval's
width is ``2 z sqrt(V)``, decreasing in ``n``; :func:`needed_n` finds the smallest
``n`` reaching a target width by bisection. Where the annotator is too weak to help
(:func:`.ppi.too_weak`) the classical width ``2 z s_Y / sqrt(n)`` is used, as the
estimates themselves do. Planning assumes future gold is drawn uniformly at random:
a group holding a share ``N_g / N`` of the units receives that share of new gold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.ppi import normalised_weights, too_weak, weighted_correlation, z_value


class PlanningError(PtmcoderError):
    """A plan that cannot be made from the inputs (target width, accuracy, no units)."""


@dataclass(frozen=True)
class Moments:
    """The variances and covariance the PPI++ width depends on (module doc)."""

    var_y: float
    var_f: float
    cov: float
    correlation: float
    ppi_helps: bool


def moments_from_gold(Y: Any, Yhat: Any, var_f: float, *, w: Any = None) -> Moments:
    """Human variance and annotator-human covariance on the gold (weighted by the
    design), the annotator's variance ``var_f`` over every annotated unit.

    >>> m = moments_from_gold([1, 0, 1, 0], [1, 0, 1, 1], 0.25)
    >>> (m.var_y, m.cov, m.ppi_helps)
    (0.25, 0.125, False)
    """
    y = np.asarray(Y, dtype=float)
    yh = np.asarray(Yhat, dtype=float)
    wn = normalised_weights(w, y.size)
    my, mh = np.average(y, weights=wn), np.average(yh, weights=wn)
    var_y = float(np.average((y - my) ** 2, weights=wn))
    cov = float(np.average((y - my) * (yh - mh), weights=wn))
    r = weighted_correlation(y, yh, wn)
    return Moments(var_y, float(var_f), cov, r, not too_weak(r, y.size))


def moments_from_accuracy(share: float, accuracy: float) -> Moments:
    """Moments when no gold is coded yet: the annotator's share ``share`` of units with
    the code, and an assumed ``accuracy`` (the chance its yes/no for the code on a unit
    matches the humans', errors symmetric): the human share is
    ``p = (share - (1 - a)) / (2a - 1)`` (clipped to [0, 1]) and
    ``cov = p a - p share``.

    >>> m = moments_from_accuracy(0.3, 0.9)
    >>> round(m.var_y, 4), round(m.cov, 4), round(m.correlation, 3)
    (0.1875, 0.15, 0.756)
    """
    if not 0.5 < accuracy <= 1:
        raise PlanningError(f"accuracy must be in (0.5, 1], got {accuracy}")
    if not 0 <= share <= 1:
        raise PlanningError(f"share must be in [0, 1], got {share}")
    p = min(max((share - (1 - accuracy)) / (2 * accuracy - 1), 0.0), 1.0)
    var_y, var_f = p * (1 - p), share * (1 - share)
    cov = p * accuracy - p * share
    r = cov / math.sqrt(var_y * var_f) if var_y > 0 and var_f > 0 else float("nan")
    return Moments(var_y, var_f, cov, r, math.isfinite(r) and r > 0)


def ppi_width(m: Moments, n: float, N: float, alpha: float = 0.05) -> float:
    """The expected width of the 95% interval at ``n`` gold units (module doc).

    >>> round(ppi_width(Moments(0.25, 0.25, 0.0, 0.0, False), 100, 10_000), 4)
    0.196
    """
    z = z_value(alpha)
    if not m.ppi_helps or m.var_f <= 0:
        return 2 * z * math.sqrt(m.var_y / n)
    lam = min(max(m.cov / ((1 + n / N) * m.var_f), 0.0), 1.0)
    var = (m.var_y - 2 * lam * m.cov + lam * lam * m.var_f) / n + lam * lam * m.var_f / N
    return 2 * z * math.sqrt(max(var, 0.0))


def needed_n(m: Moments, N: int, width: float, alpha: float = 0.05) -> int:
    """The smallest ``n`` (2 <= n <= N) whose expected width is at most ``width``;
    ``N`` when even coding every unit by hand is needed.

    >>> needed_n(Moments(0.25, 0.25, 0.0, 0.0, False), 10_000, 0.196)
    100
    """
    if width <= 0:
        raise PlanningError(f"target width must be > 0, got {width}")
    if N < 2 or ppi_width(m, N, N, alpha) > width:
        return N
    lo, hi = 2, N
    if ppi_width(m, lo, N, alpha) <= width:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ppi_width(m, mid, N, alpha) <= width:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class PlanRow:
    """One (code, group) cell: its current width and the gold it needs."""

    code: str
    group: str
    n_gold: int
    n_annotated: int
    width_now: float | None
    needed_in_group: int
    needed_total: int
    method: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "group": self.group,
            "n_gold": self.n_gold,
            "n_annotated": self.n_annotated,
            "width_now": self.width_now,
            "needed_in_group": self.needed_in_group,
            "needed_total": self.needed_total,
            "method": self.method,
        }


@dataclass
class GoldPlan:
    """How many human codes the target width needs: per cell, the widest, the total."""

    width: float
    rows: list[PlanRow]
    n_gold: int
    n_annotated: int
    needed_total: int
    additional: int
    basis: str
    notes: list[str]

    @property
    def widest(self) -> PlanRow:
        return max(self.rows, key=lambda r: (r.needed_total, r.code, r.group))

    def to_json(self) -> dict[str, Any]:
        w = self.widest
        return {
            "target_width": self.width,
            "n_gold": self.n_gold,
            "n_annotated": self.n_annotated,
            "needed_total": self.needed_total,
            "additional": self.additional,
            "widest": {"code": w.code, "group": w.group},
            "basis": self.basis,
            "rows": [r.to_json() for r in self.rows],
            "notes": self.notes,
        }


def plan_cells(
    cells: list[tuple[str, str, int, int, float | None, Moments]],
    N_total: int,
    n_gold: int,
    width: float,
    *,
    basis: str,
    alpha: float = 0.05,
) -> GoldPlan:
    """A :class:`GoldPlan` from cells ``(code, group, n_gold, N_group, width_now,
    moments)``: each cell's needed ``n`` in its group, scaled by ``N / N_group`` to the
    total a uniform draw needs; the plan needs the largest.

    >>> m = Moments(0.25, 0.25, 0.0, 0.0, False)
    >>> plan_cells([("x", "(all)", 50, 10_000, 0.27, m)], 10_000, 50, 0.196, basis="b").additional
    50
    """
    if width <= 0:
        raise PlanningError(f"target width must be > 0, got {width}")
    if not cells:
        raise PlanningError("nothing to plan: no code in any group")
    rows = []
    for code, group, n, N_g, now, m in cells:
        need = needed_n(m, N_g, width, alpha)
        total = min(N_total, math.ceil(need * N_total / N_g)) if N_g else N_total
        method = "PPI++" if m.ppi_helps else "classical (annotator too weak to help)"
        rows.append(PlanRow(code, group, n, N_g, now, need, total, method))
    needed = max(r.needed_total for r in rows)
    notes = []
    if any(r.needed_in_group >= r.n_annotated for r in rows):
        notes.append("some cells need every unit coded by hand to reach the width")
    return GoldPlan(width, rows, n_gold, N_total, needed, max(0, needed - n_gold), basis, notes)


__all__ = [
    "GoldPlan",
    "Moments",
    "PlanRow",
    "PlanningError",
    "moments_from_accuracy",
    "moments_from_gold",
    "needed_n",
    "plan_cells",
    "ppi_width",
]


def plan_gold(
    annotations: Any,
    gold: Any = None,
    *,
    width: float,
    accuracy: float | None = None,
    rater: str | None = None,
    by: str | None = None,
    units: Any = None,
    codes: list[str] | None = None,
    design: Any = None,
    assume_random: bool = False,
    alpha: float = 0.05,
    sources: tuple[str, str, str] = ("annotations", "gold", "design"),
) -> GoldPlan:
    """How many more human codes bring the widest PPI++ interval (every code, every
    group with ``by``) to ``width``: from the observed annotator-human agreement on
    ``gold`` (arguments as :func:`ptmcoder.inference.prevalence.prevalence`), or, with
    no gold, from an assumed per-code ``accuracy`` of the annotator (module doc).

    >>> import pandas as pd
    >>> ann = pd.DataFrame({"unit": [str(i) for i in range(1000)], "rater": "m",
    ...                     "code": ["x" if i % 4 == 0 else "y" for i in range(1000)]})
    >>> plan_gold(ann, width=0.1, accuracy=0.9).needed_total
    126
    """
    from ptmcoder.inference.prevalence import ALL, coding_tables

    if gold is None and accuracy is None:
        raise PlanningError("no gold yet: give the annotator's assumed accuracy to plan from")
    t = coding_tables(
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
    C = len(t.codes)
    group_sets: list[tuple[str, np.ndarray]] = [(ALL, np.ones(t.N, dtype=bool))]
    if by is not None:
        group_sets += [(name, t.unit_group == g) for g, name in enumerate(t.groups)]
    cells = []
    pred = t.annotated[t.gold_index].astype(float)
    gold_group = t.unit_group[t.gold_index]
    w_all = t.design.weights if t.design is not None else None
    for name, mask in group_sets:
        N_g = int(mask.sum())
        share = t.annotated[mask].mean(axis=0) if N_g else np.zeros(C)
        gmask = np.ones(t.n, dtype=bool) if name == ALL else gold_group == t.groups.index(name)
        n_g = int(gmask.sum())
        for c in range(C):
            var_f = float(share[c] * (1 - share[c]))
            if t.design is not None and n_g >= 2:
                w = None if w_all is None else w_all[gmask]
                m = moments_from_gold(t.human[gmask, c], pred[gmask, c], var_f, w=w)
                now: float | None = ppi_width(m, n_g, N_g, alpha)
            elif accuracy is not None:
                m, now = moments_from_accuracy(float(share[c]), accuracy), None
            else:
                raise PlanningError(
                    f"group {name!r} has {n_g} gold unit(s): too few to read the agreement from",
                    hint="give an assumed --accuracy, or plan without --by",
                )
            cells.append((t.codes[c], name, n_g, N_g, now, m))
    basis = (
        f"observed annotator-human agreement on {t.n} gold units"
        if t.design is not None
        else f"an assumed accuracy of {accuracy} per code (no gold yet)"
    )
    plan = plan_cells(cells, t.N, t.n, width, basis=basis, alpha=alpha)
    plan.notes = (
        t.notes + plan.notes + ["planning assumes new gold units are drawn uniformly at random"]
    )
    return plan


__all__ += ["plan_gold"]
