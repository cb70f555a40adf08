"""Routing with a guarantee: accept the annotator's codes where they provably agree
with the humans, escalate the rest.

From human-coded calibration units, choose the lowest confidence threshold ``t`` such
that, on the units the annotator codes with top-code confidence ``>= t``, its codes agree
with the humans' at a rate of at least ``target`` with probability at least ``1 - delta``
over the draw of the calibration units. This is Learn-then-Test (Angelopoulos, Bates,
Candès, Jordan and Lei, "Learn then Test: Calibrating predictive algorithms to achieve
risk control", arXiv 2110.01052, 2021) with fixed-sequence testing (used for LLM judges
by Jung, Brahman and Choi, "Trust or Escalate", ICLR 2025):

- the candidate thresholds ``t_1 > t_2 > ...`` are a grid fixed before looking at the
  data (:data:`DEFAULT_THRESHOLDS`, or the caller's);
- for each ``t_j`` the null is ``H_j: P(agree | confidence >= t_j) < target``; with
  ``k`` agreeing units among the ``n`` accepted calibration units, its p-value is the
  exact binomial tail ``P(Binomial(n, target) >= k)`` (:func:`binomial_p_value`, the
  test whose inversion is the one-sided Clopper-Pearson bound) or LTT's
  Hoeffding-Bentkus p-value (:func:`hoeffding_bentkus_p_value`);
- walk from the highest threshold down, rejecting while ``p <= delta``, and stop at the
  first ``p > delta``; the chosen threshold is the last one rejected (the lowest with a
  guarantee). Fixed-sequence testing controls the family-wise error at ``delta``
  without any multiplicity correction, so the chosen threshold's agreement is
  ``>= target`` with probability ``>= 1 - delta``.

Thresholds accepting fewer than :func:`min_accepted` calibration units are passed over
(neither rejected nor a stop): there no outcome could reject, and testing them would end
the walk at the top of the grid. Which are passed over depends on the calibration
confidences only, never on the agreements.

**Agreement of a unit**: the annotator's set of codes equals the gold's set of codes
(single-code units: its code is the gold code; multi-code units: the same codes, none
missing, none extra). A unit whose record is an error or carries no code has no
confidence: it is never accepted.

**Per code** (:func:`learn_then_test_per_code`): one threshold per code (the
annotator's top code), each from the calibration units with that top code, by the same
fixed-sequence walk at level ``delta / m`` for the ``m`` codes (Bonferroni over codes),
so that with probability ``>= 1 - delta`` every code's accepted units agree at
``>= target`` at once (and hence so do all accepted units together).

**Design**: the guarantee is about the population the calibration units are an
independent, equal-probability sample of. Unequal inclusion probabilities (a stratified
gold sample) are refused rather than weighted: the exact test has no weighted form.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from ptmcoder.errors import ConfigError, InputRecordError, NotFoundError, PtmcoderError

#: the default grid: 1.00, 0.99, ..., 0.00 (fixed before the data are seen)
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(1.0 - i / 100, 2) for i in range(101))

ROUTE_DIR = "route"


class Method(StrEnum):
    BINOMIAL = "binomial"
    HOEFFDING_BENTKUS = "hoeffding-bentkus"


class NoGuaranteeError(PtmcoderError):
    """No threshold reaches the target agreement with the stated probability."""


# -- p-values ----------------------------------------------------------------------


def _check_counts(k: int, n: int, target: float) -> None:
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise ValueError(f"k and n must be integers, got k={k!r}, n={n!r}")
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")


def binomial_p_value(k: int, n: int, target: float) -> float:
    """Exact p-value of ``H0: p < target`` from ``k`` agreeing units of ``n``:
    ``P(Binomial(n, target) >= k)`` (the most favourable null ``p = target``). Rejecting
    at ``delta`` is the same as the one-sided Clopper-Pearson lower bound at level
    ``1 - delta`` exceeding ``target``. ``n = 0`` gives 1.

    >>> round(binomial_p_value(20, 20, 0.9), 6)  # 0.9 ** 20
    0.121577
    >>> round(binomial_p_value(22, 22, 0.9), 6)  # 0.9 ** 22 < 0.10: rejected at 0.10
    0.098477
    >>> binomial_p_value(0, 0, 0.9)
    1.0
    """
    _check_counts(k, n, target)
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, binom.sf(k - 1, n, target)))


def _h1(a: float, b: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(a) from Bernoulli(b) (LTT's h1)."""
    out = 0.0
    if a > 0:
        out += a * math.log(a / b)
    if a < 1:
        out += (1 - a) * math.log((1 - a) / (1 - b))
    return out


def hoeffding_bentkus_p_value(k: int, n: int, target: float) -> float:
    """Hoeffding-Bentkus p-value of ``H0: p < target`` (LTT, arXiv 2110.01052; as
    MAPIE's ``compute_hoeffding_bentkus_p_value``), for the loss ``1 - agree`` with risk
    level ``alpha = 1 - target`` and empirical risk ``R = (n - k) / n``:
    ``min(exp(-n h1(min(R, alpha), alpha)), e * P(Binomial(n, alpha) <= ceil(n R)))``.
    Valid for any loss in [0, 1]; for 0/1 agreement it is more conservative than
    :func:`binomial_p_value`.

    >>> round(hoeffding_bentkus_p_value(22, 22, 0.9), 6)  # exp(-22 log(1/0.9))
    0.098477
    >>> hoeffding_bentkus_p_value(90, 100, 0.9) >= binomial_p_value(90, 100, 0.9)
    True
    """
    _check_counts(k, n, target)
    if n == 0:
        return 1.0
    from scipy.stats import binom

    alpha = 1.0 - target
    risk = (n - k) / n
    hoeffding = math.exp(-n * _h1(min(risk, alpha), alpha))
    bentkus = math.e * float(binom.cdf(math.ceil(n * risk - 1e-12), n, alpha))
    return float(min(1.0, hoeffding, bentkus))


def p_value(k: int, n: int, target: float, method: Method | str = Method.BINOMIAL) -> float:
    """The p-value of ``method`` (:class:`Method`)."""
    method = Method(method)
    if method is Method.BINOMIAL:
        return binomial_p_value(k, n, target)
    return hoeffding_bentkus_p_value(k, n, target)


def lower_bound(k: int, n: int, delta: float, method: Method | str = Method.BINOMIAL) -> float:
    """The guaranteed level at one threshold alone: the largest ``target`` whose null
    ``p < target`` the test rejects at ``delta`` (for the binomial test, the one-sided
    Clopper-Pearson lower bound ``Beta(delta; k, n - k + 1)``); 0 when none.

    >>> round(lower_bound(22, 22, 0.1), 4)  # 0.1 ** (1 / 22)
    0.9006
    >>> lower_bound(0, 10, 0.1)
    0.0
    """
    _check_delta(delta)
    _check_counts(k, n, 0.5)
    if n == 0 or k == 0:
        return 0.0
    method = Method(method)
    if method is Method.BINOMIAL:
        from scipy.stats import beta

        return float(beta.ppf(delta, k, n - k + 1))
    lo, hi = 0.0, k / n  # p-value rises with target; bisect on (0, k/n]
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid <= 0.0 or p_value(k, n, mid, method) <= delta:
            lo = mid
        else:
            hi = mid
    return lo


@functools.lru_cache(maxsize=256)
def min_accepted(target: float, delta: float, method: Method | str = Method.BINOMIAL) -> int:
    """The fewest accepted calibration units a threshold needs to be tested: the smallest
    ``n`` from which on (up to 2000) an observed agreement halfway between ``target`` and
    1 always rejects. A rule fixed by ``target`` and ``delta`` alone; with fewer units
    only near-perfect agreement could reject, and a stop there ends the walk.

    >>> min_accepted(0.9, 0.1), min_accepted(0.8, 0.1)
    (65, 32)
    """
    _check_delta(delta)
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    halfway = (1.0 + target) / 2
    fails = [
        n
        for n in range(1, 2001)
        if p_value(math.ceil(n * halfway - 1e-9), n, target, method) > delta
    ]
    return fails[-1] + 1 if fails else 1


def _check_delta(delta: float) -> None:
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")


# -- the walk ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdTest:
    """One candidate threshold on the calibration units."""

    threshold: float
    n: int  #: calibration units accepted (confidence >= threshold)
    k: int  #: of them, agreeing with the humans
    observed: float | None  #: k / n
    p_value: float | None  #: None: passed over (n below the minimum)
    guaranteed: float  #: this threshold's own lower bound at 1 - delta
    rejected: bool  #: rejected in the fixed sequence (before the first stop)
    calibration_coverage: float  #: n / calibration units


@dataclass(frozen=True)
class Routing:
    """The result of :func:`learn_then_test`: the chosen ``threshold`` (None: no
    threshold has a guarantee, accept nothing) and every threshold tested."""

    target: float
    delta: float
    method: str
    threshold: float | None
    n_calibration: int
    min_accepted: int
    tests: list[ThresholdTest] = field(default_factory=list)

    @property
    def best_guaranteed(self) -> float:
        """The highest level any single threshold's bound reaches (for saying how far
        the target is out of reach)."""
        return max((t.guaranteed for t in self.tests), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _validate(
    confidence: Sequence[float | None] | np.ndarray,
    agree: Sequence[bool] | np.ndarray,
    target: float,
    delta: float,
) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    _check_delta(delta)
    conf = np.array([np.nan if c is None else c for c in confidence], dtype=float)
    ok = np.asarray(agree)
    if conf.ndim != 1 or ok.ndim != 1 or len(conf) != len(ok):
        raise ValueError(
            f"confidence and agree must be 1-d of one length, got {conf.shape} and {ok.shape}"
        )
    if ok.dtype != bool:
        if not np.isin(ok, (0, 1)).all():
            raise ValueError("agree must hold booleans (or 0/1)")
        ok = ok.astype(bool)
    finite = conf[~np.isnan(conf)]
    if ((finite < 0) | (finite > 1)).any():
        raise ValueError("confidences must lie in [0, 1] (None or NaN: no confidence)")
    return conf, ok


def _grid(thresholds: Sequence[float] | None) -> list[float]:
    grid = list(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    if not grid:
        raise ValueError("no candidate thresholds")
    if any(not 0.0 <= t <= 1.0 for t in grid):
        raise ValueError("thresholds must lie in [0, 1]")
    return sorted(set(float(t) for t in grid), reverse=True)


def learn_then_test(
    confidence: Sequence[float | None] | np.ndarray,
    agree: Sequence[bool] | np.ndarray,
    *,
    target: float,
    delta: float,
    method: Method | str = Method.BINOMIAL,
    thresholds: Sequence[float] | None = None,
    min_n: int | None = None,
) -> Routing:
    """The lowest threshold whose accepted calibration units certify agreement
    ``>= target`` with probability ``>= 1 - delta`` (module doc): fixed-sequence testing
    from the highest candidate down, stopping at the first p-value above ``delta``.

    ``confidence``: each calibration unit's top-code confidence (None/NaN: an error row
    or no code, never accepted); ``agree``: whether its codes equal the gold's.

    >>> conf = [0.99] * 10 + [0.95] * 60 + [0.75] * 30
    >>> agree = [True] * 70 + [True] * 15 + [False] * 15
    >>> r = learn_then_test(conf, agree, target=0.9, delta=0.1, thresholds=[0.99, 0.9, 0.7])
    >>> r.threshold, [(t.threshold, t.n, t.k, t.p_value is None, t.rejected) for t in r.tests]
    (0.9, [(0.99, 10, 10, True, False), (0.9, 70, 70, False, True), (0.7, 100, 85, False, False)])
    """
    conf, ok = _validate(confidence, agree, target, delta)
    method = Method(method)
    grid = _grid(thresholds)
    m = min_accepted(target, delta, method) if min_n is None else int(min_n)
    n_cal = len(conf)
    with np.errstate(invalid="ignore"):
        tests: list[ThresholdTest] = []
        chosen: float | None = None
        walking = True
        for t in grid:
            accepted = conf >= t  # NaN compares False: never accepted
            n, k = int(accepted.sum()), int(ok[accepted].sum())
            p = p_value(k, n, target, method) if n >= m else None
            rejected = walking and p is not None and p <= delta
            if rejected:
                chosen = t
            elif walking and p is not None:
                walking = False
            tests.append(
                ThresholdTest(
                    threshold=t,
                    n=n,
                    k=k,
                    observed=k / n if n else None,
                    p_value=p,
                    guaranteed=lower_bound(k, n, delta, method),
                    rejected=rejected,
                    calibration_coverage=n / n_cal if n_cal else 0.0,
                )
            )
    return Routing(
        target=target,
        delta=delta,
        method=method.value,
        threshold=chosen,
        n_calibration=n_cal,
        min_accepted=m,
        tests=tests,
    )


@dataclass(frozen=True)
class PerCodeRouting:
    """One :class:`Routing` per code (the annotator's top code), each at
    ``delta / len(codes)`` (Bonferroni over codes)."""

    target: float
    delta: float
    method: str
    codes: dict[str, Routing]

    @property
    def delta_per_code(self) -> float:
        return self.delta / len(self.codes) if self.codes else self.delta

    @property
    def thresholds(self) -> dict[str, float | None]:
        return {c: r.threshold for c, r in self.codes.items()}

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "delta_per_code": self.delta_per_code}


def learn_then_test_per_code(
    confidence: Sequence[float | None] | np.ndarray,
    agree: Sequence[bool] | np.ndarray,
    top_code: Sequence[str | None],
    *,
    target: float,
    delta: float,
    method: Method | str = Method.BINOMIAL,
    thresholds: Sequence[float] | None = None,
    codes: Sequence[str] | None = None,
    min_n: int | None = None,
) -> PerCodeRouting:
    """A threshold per code: :func:`learn_then_test` on the calibration units whose top
    code is that code, at ``delta / m`` for the ``m`` codes (``codes``, default the top
    codes seen in calibration), so all codes' guarantees hold together with probability
    ``>= 1 - delta`` (Bonferroni). A code without calibration units gets no threshold.

    >>> r = learn_then_test_per_code([0.9] * 160, [True] * 80 + [False] * 80,
    ...                              ["a"] * 80 + ["b"] * 80, target=0.9, delta=0.1,
    ...                              thresholds=[0.9], min_n=30)
    >>> r.thresholds, r.delta_per_code
    ({'a': 0.9, 'b': None}, 0.05)
    """
    conf, ok = _validate(confidence, agree, target, delta)
    tops = np.array([None if c is None else str(c) for c in top_code], dtype=object)
    if len(tops) != len(conf):
        raise ValueError(f"top_code has {len(tops)} entries for {len(conf)} units")
    names = sorted(
        {str(c) for c in (codes if codes is not None else tops.tolist()) if c is not None}
    )
    if not names:
        raise ValueError("no codes: no calibration unit has a top code")
    share = delta / len(names)
    out = {}
    for code in names:
        mask = tops == code
        out[code] = learn_then_test(
            conf[mask], ok[mask], target=target, delta=share, method=method,
            thresholds=thresholds, min_n=min_n,
        )  # fmt: skip
    return PerCodeRouting(target=target, delta=delta, method=Method(method).value, codes=out)


def agrees(annotator: Iterable[str], gold: Iterable[str]) -> bool:
    """A unit's agreement: the annotator's code set equals the gold's (module doc).

    >>> agrees(["bug"], {"bug"}), agrees(["bug", "question"], ["bug"]), agrees([], [])
    (True, False, True)
    """
    return set(annotator) == set(gold)


# -- a run's units -----------------------------------------------------------------


@dataclass(frozen=True)
class UnitCodes:
    """One unit as the annotator coded it: its codes, top code and that code's
    confidence (None: an error row, no code, or no confidence given)."""

    codes: frozenset[str]
    top_code: str | None
    confidence: float | None


def unit_codes_from_records(records: Sequence[Mapping[str, Any]]) -> dict[str, UnitCodes]:
    """Each unit's codes from annotation records (dicts as ``annotations.jsonl`` holds
    them); the top code is the one with the highest confidence. An error row, a record
    without codes or a top code without confidence has no confidence."""
    out: dict[str, UnitCodes] = {}
    for rec in records:
        unit = str(rec["unit_id"])
        codes = [c for c in rec.get("codes") or [] if isinstance(c, dict) and c.get("code")]
        if rec.get("error_type") or not codes:
            out[unit] = UnitCodes(frozenset(str(c["code"]) for c in codes), None, None)
            continue
        scored = [c for c in codes if isinstance(c.get("confidence"), int | float)]
        top = max(scored, key=lambda c: float(c["confidence"])) if scored else None
        out[unit] = UnitCodes(
            frozenset(str(c["code"]) for c in codes),
            str(top["code"]) if top else None,
            float(top["confidence"]) if top else None,
        )
    return out


def unit_codes_from_table(path: str | Path, rater: str) -> dict[str, UnitCodes]:
    """Each unit's codes from a long table ``unit, rater, code, confidence`` (rows of
    ``rater``; the one long-table reader); an empty code with no other row: no code."""
    from ptmcoder.tables import read_long_table

    hint = "a run given as a table needs columns unit, rater, code, confidence"
    table = read_long_table(path, required=("unit", "rater", "code", "confidence"), hint=hint)
    rows = table[table["rater"].astype(str) == rater]
    if rows.empty:
        raters = sorted(table["rater"].dropna().astype(str).unique())
        raise NotFoundError(
            f"{path}: no rows of rater {rater!r}", hint=f"raters: {', '.join(raters) or 'none'}"
        )
    import pandas as pd

    conf = pd.to_numeric(rows["confidence"], errors="coerce")
    bad = rows[(conf.isna() & rows["confidence"].notna()) | (conf < 0) | (conf > 1)]
    if len(bad):
        unit, value = bad.iloc[0]["unit"], bad.iloc[0]["confidence"]
        raise InputRecordError(
            str(path), f"a row of unit {unit}", "confidence", f"{value!r} is not in [0, 1]"
        )
    out: dict[str, UnitCodes] = {}
    for unit, group in rows.assign(confidence=conf).groupby("unit", sort=True):
        coded = group[group["code"].fillna("").astype(str).str.strip() != ""]
        scored = coded.dropna(subset=["confidence"])
        top = scored.loc[scored["confidence"].idxmax()] if len(scored) else None
        out[str(unit)] = UnitCodes(
            frozenset(coded["code"].astype(str).str.strip()),
            None if top is None else str(top["code"]).strip(),
            None if top is None else float(top["confidence"]),
        )
    return out


def gold_codes(path: str | Path, codebook: str | None = None) -> dict[str, frozenset[str]]:
    """Each gold unit's code set (:func:`ptmcoder.agreement.io.read_gold`), labels read
    through ``codebook``'s aliases when given (NLBSE's ``feature`` is ``enhancement``).
    A gold file with unequal ``inclusion_probability`` values is refused (module doc)."""
    from ptmcoder.agreement.io import read_gold
    from ptmcoder.tables import read_long_table

    gold = read_gold(path)
    design = read_long_table(path, required=("unit", "code"), hint="gold: unit, code")
    if "inclusion_probability" in design.columns:
        values = set(design["inclusion_probability"].dropna().astype(float).round(12))
        if len(values) > 1:
            raise ConfigError(
                f"{path}: the calibration units were drawn with unequal inclusion "
                f"probabilities ({len(values)} different values)",
                hint="the guarantee needs an equal-probability sample of the run's units; "
                "draw one (`ptmcoder sample gold RUN` without --strata) or give one stratum",
            )
    labels = gold["code"].tolist()
    if codebook:
        from ptmcoder.agreement.io import resolve_labels
        from ptmcoder.codebook import load_codebook

        labels, _ = resolve_labels(labels, load_codebook(codebook))
    out: dict[str, set[str]] = {}
    for unit, code in zip(gold["unit"].astype(str), labels, strict=True):
        codes = out.setdefault(unit, set())
        if isinstance(code, str) and code.strip():
            codes.add(code.strip())
    return {u: frozenset(c) for u, c in out.items()}


# -- a routing decision ------------------------------------------------------------


@dataclass
class RouteDecision:
    """A run's routing: the guarantee, the thresholds tested (with the run's coverage at
    each), and which of the run's units are accepted or escalated. Written to
    ``runs/<id>/route/<rater>.json`` by :func:`write_route`, read by :func:`read_route`."""

    target: float
    delta: float
    method: str
    rater: str
    source: str  #: the run id or the table's path
    mode: str  #: "overall" (one threshold) or "per-code" (a threshold per top code)
    threshold: float | None  #: overall mode: the chosen threshold
    thresholds: dict[str, float | None]  #: per-code mode: each code's threshold
    delta_per_code: float | None
    coverage: float  #: accepted / run units
    n_units: int
    n_calibration: int  #: gold units the run coded (the calibration set)
    calibration_accepted: int
    calibration_agreeing: int
    accepted: list[str]
    escalated: list[str]
    why_escalated: dict[str, str]  #: unit -> reason
    tests: list[dict[str, Any]]  #: overall: one row per threshold; per code: with "code"
    per_code: dict[str, dict[str, Any]]  #: by top code: threshold, units, accepted, calibration
    notes: list[str] = field(default_factory=list)

    @property
    def guarantee(self) -> str:
        """The promise in words (overall, or per code)."""
        if not self.accepted:
            return (
                f"no threshold guarantees agreement >= {self.target:g} with probability >= "
                f"{1 - self.delta:g}; nothing accepted"
            )
        scope = "on every code's accepted units" if self.mode == "per-code" else "on accepted units"
        return (
            f"agreement with humans >= {self.target:g} {scope} with probability >= "
            f"{1 - self.delta:g}, at coverage {self.coverage:.3f} "
            f"({len(self.accepted)} of {self.n_units} units)"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "guarantee": self.guarantee}


def route_units(
    units: dict[str, UnitCodes],
    gold: dict[str, frozenset[str]],
    *,
    target: float,
    delta: float,
    method: Method | str,
    per_code: bool,
    rater: str,
    source: str,
    thresholds: Sequence[float] | None = None,
    min_n: int | None = None,
) -> RouteDecision:
    """Route ``units`` (one annotator's codes) with the gold units among them as the
    calibration set: :func:`route` for a run read, and a cascade's tier
    (:mod:`ptmcoder.pipeline.cascade`)."""
    cal = sorted(set(units) & set(gold))
    if not cal:
        raise ConfigError(
            f"{source}: the gold shares no unit with the run's {len(units)} unit(s)",
            hint="the gold must label units this run coded (its calibration units)",
        )
    conf = [units[u].confidence for u in cal]
    ok = [agrees(units[u].codes, gold[u]) for u in cal]
    ids = sorted(units)
    run_conf = np.array(
        [np.nan if units[u].confidence is None else units[u].confidence for u in ids]
    )
    run_top = np.array([units[u].top_code for u in ids], dtype=object)
    cut = np.full(len(ids), np.nan)  # each run unit's threshold
    tests: list[dict[str, Any]] = []
    per: dict[str, dict[str, Any]] = {}
    uncoded = len(set(gold) - set(units))
    notes = [f"{uncoded} gold unit(s) not coded by the run, left out"] if uncoded else []

    def rows(r: Routing, mask: np.ndarray, code: str | None) -> None:
        n_mask = int(mask.sum())
        for t in r.tests:
            covered = int((run_conf[mask] >= t.threshold).sum()) if n_mask else 0
            row = {**asdict(t), "run_accepted": covered, "run_units": n_mask}
            row["coverage"] = covered / n_mask if n_mask else 0.0
            tests.append({"code": code, **row} if code is not None else row)

    threshold: float | None = None
    chosen_codes: dict[str, float | None] = {}
    delta_code: float | None = None
    with np.errstate(invalid="ignore"):
        if per_code:
            # the codes share delta: the run's top codes, known before any agreement
            codes = sorted({c for c in run_top if c is not None})
            result = learn_then_test_per_code(
                conf,
                ok,
                [units[u].top_code for u in cal],
                target=target,
                delta=delta,
                method=method,
                thresholds=thresholds,
                codes=codes,
                min_n=min_n,
            )
            delta_code = result.delta_per_code
            for code, r in result.codes.items():
                mask = run_top == code
                rows(r, mask, code)
                chosen_codes[code] = r.threshold
                if r.threshold is not None:
                    cut[mask] = r.threshold
        else:
            r = learn_then_test(
                conf, ok, target=target, delta=delta, method=method, thresholds=thresholds,
                min_n=min_n,
            )  # fmt: skip
            rows(r, np.ones(len(ids), dtype=bool), None)
            threshold = r.threshold
            if threshold is not None:
                cut[:] = threshold
        accepted_mask = run_conf >= cut  # NaN (no confidence or no threshold): False
    accepted = [u for u, a in zip(ids, accepted_mask, strict=True) if a]
    escalated = [u for u, a in zip(ids, accepted_mask, strict=True) if not a]
    why = {
        u: "no confidence (an error row or no code)"
        if units[u].confidence is None
        else (f"no threshold for code {units[u].top_code}" if per_code else "no threshold")
        if np.isnan(cut[i])
        else f"confidence {units[u].confidence:.3f} < threshold {cut[i]:g}"
        for i, u in enumerate(ids)
        if not accepted_mask[i]
    }
    cal_set = set(cal)
    acc_cal = [u for u in accepted if u in cal_set]
    for code in sorted({c for c in run_top if c is not None}):
        members = [u for u in ids if units[u].top_code == code]
        in_cal = [u for u in cal if units[u].top_code == code]
        acc_set = set(accepted)
        per[code] = {
            "threshold": chosen_codes.get(code) if per_code else threshold,
            "units": len(members),
            "accepted": sum(u in acc_set for u in members),
            "calibration_n": len(in_cal),
            "calibration_accepted": sum(u in acc_set for u in in_cal),
            "calibration_agreeing": sum(
                u in acc_set and agrees(units[u].codes, gold[u]) for u in in_cal
            ),
        }
    return RouteDecision(
        target=target,
        delta=delta,
        method=Method(method).value,
        rater=rater,
        source=source,
        mode="per-code" if per_code else "overall",
        threshold=threshold,
        thresholds=chosen_codes,
        delta_per_code=delta_code,
        coverage=len(accepted) / len(ids) if ids else 0.0,
        n_units=len(ids),
        n_calibration=len(cal),
        calibration_accepted=len(acc_cal),
        calibration_agreeing=sum(agrees(units[u].codes, gold[u]) for u in acc_cal),
        accepted=accepted,
        escalated=escalated,
        why_escalated=why,
        tests=tests,
        per_code=per,
        notes=notes,
    )


def route(
    run_ref: str,
    gold: str | Path,
    *,
    target: float,
    delta: float,
    rater: str | None = None,
    per_code: bool = False,
    method: Method | str = Method.BINOMIAL,
    thresholds: Sequence[float] | None = None,
    min_n: int | None = None,
) -> tuple[RouteDecision, Path | None]:
    """Route the units of ``run_ref`` (a run, or a long table ``unit, rater, code,
    confidence`` with ``rater``) with the gold's units as calibration set; returns the
    decision and the run's route file to write it to (None for a table)."""
    if not 0.0 < target < 1.0:
        raise ConfigError(f"--target must be in (0, 1), got {target}")
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"--delta must be in (0, 1), got {delta}")
    if not Path(gold).exists():
        raise NotFoundError(f"gold file not found: {gold}")
    out: Path | None = None
    if Path(run_ref).is_file():
        if not rater:
            raise ConfigError(f"{run_ref} is a table: whose codes?", hint="add --rater NAME")
        units, name, where, codebook = unit_codes_from_table(run_ref, rater), rater, run_ref, None
    else:
        from ptmcoder.runs import resolve_run

        run = resolve_run(run_ref)
        source = run.rater(rater)
        records = [
            r
            for r in source.store.records()
            if source.store is not run or r.get("annotator") == source.name
        ]
        if not records:
            raise NotFoundError(
                f"run {run.id} has no annotation records for rater {source.name}",
                hint="annotate first: ptmcoder annotate",
            )
        units, name, where = unit_codes_from_records(records), source.name, run.id
        codebook, out = source.store.manifest().config.codebook, route_path(run.path, name)
    decision = route_units(
        units, gold_codes(gold, codebook), target=target, delta=delta, method=method,
        per_code=per_code, rater=name, source=str(where), thresholds=thresholds, min_n=min_n,
    )  # fmt: skip
    return decision, out


def route_path(run_dir: Path, rater: str) -> Path:
    """Where a run's routing decision for ``rater`` lives: ``<run>/route/<rater>.json``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in rater)
    return Path(run_dir) / ROUTE_DIR / f"{safe}.json"


def write_route(decision: RouteDecision, path: Path) -> Path:
    """Write the decision durably (:func:`ptmcoder.files.write_json`)."""
    from ptmcoder.files import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, decision.to_json())


def read_route(path: str | Path) -> RouteDecision:
    """The one reader of a routing decision file (written by :func:`write_route`);
    given a run directory, its only ``route/*.json``."""
    import json

    path = Path(path)
    if path.is_dir():
        found = sorted((path / ROUTE_DIR).glob("*.json"))
        if not found:
            raise NotFoundError(
                f"run {path.name} has no routing decision",
                hint="route it first: ptmcoder route RUN --gold FILE",
            )
        if len(found) > 1:
            raise ConfigError(
                f"run {path.name} has routing decisions for {len(found)} raters",
                hint="give one with --route-file: " + ", ".join(str(f) for f in found),
            )
        path = found[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"routing decision not found: {path}") from None
    except ValueError as exc:
        raise InputRecordError(str(path), "file", None, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputRecordError(str(path), "file", None, "not a JSON object")
    data.pop("guarantee", None)
    names = set(RouteDecision.__dataclass_fields__)
    if set(data) != names:
        raise InputRecordError(
            str(path), "file", None, "not a routing decision (fields differ)",
            hint=f"written by `ptmcoder route`; fields: {', '.join(sorted(names))}",
        )  # fmt: skip
    return RouteDecision(**data)
