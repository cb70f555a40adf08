"""Sampling designs of the studies, seeded and reproducible.

Each design returns a :class:`SampleResult`: the sampled units and a record of
how they were drawn (design, parameters, seed, population sizes, overlap,
per-project table), which is written next to the sample. Draws do not depend on
the row order of the input: units are sorted by ``id`` before sampling, and a
NumPy ``default_rng(seed)`` picks positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ptmcoder.errors import PtmcoderError


@dataclass
class SampleResult:
    """``units``: the sample (a DataFrame); ``record``: how it was drawn (JSON-able)."""

    units: pd.DataFrame
    record: dict[str, Any] = field(default_factory=dict)


def cochran_sample_size(
    population: int, confidence: float = 0.95, margin: float = 0.05, p: float = 0.5
) -> int:
    """Sample size for estimating a proportion, with finite population correction.

    Cochran (1977), *Sampling Techniques*, 3rd ed., Wiley, eqs. 4.2 and 4.3::

        n0 = z^2 p (1 - p) / e^2          z: the two-sided normal quantile of the
        n  = n0 / (1 + (n0 - 1) / N)      confidence level, e: the margin, N: population

    rounded up. With p = 0.5 (the most conservative) this reproduces the samples
    of Tan et al. (339 of 2,829 PTM-related questions) and Banyongrakkul et al.
    (260 of 802 issues):

    >>> cochran_sample_size(2829)
    339
    >>> cochran_sample_size(802)
    260
    >>> cochran_sample_size(100_000, confidence=0.99, margin=0.01)
    14228
    """
    if isinstance(population, bool) or not isinstance(population, int | np.integer):
        raise PtmcoderError(f"population must be an integer, got {population!r}")
    if population < 1:
        raise PtmcoderError(f"population must be at least 1, got {population}")
    if not 0 < confidence < 1:
        raise PtmcoderError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    if not 0 < margin < 1:
        raise PtmcoderError(f"margin must be between 0 and 1 (exclusive), got {margin}")
    if not 0 < p < 1:
        raise PtmcoderError(f"p must be between 0 and 1 (exclusive), got {p}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n0 = z * z * p * (1 - p) / (margin * margin)
    n = n0 / (1 + (n0 - 1) / population)
    # Guard against float noise turning an exact integer into the next one up.
    return min(int(population), math.ceil(round(n, 9)))


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    if "id" not in df.columns:
        raise PtmcoderError("the units have no 'id' column")
    return df.sort_values("id", kind="stable").reset_index(drop=True)


def tan_sample(
    df: pd.DataFrame,
    *,
    confidence: float = 0.95,
    margin: float = 0.05,
    score_min: int = 1,
    high_score: int = 9,
    seed: int = 0,
) -> SampleResult:
    """Tan et al. (2024), Sec. VI-B: random plus high-score sampling.

    Keep units with ``score >= score_min`` (the "high-quality" population N);
    draw a simple random sample of ``cochran_sample_size(N, confidence,
    margin)`` units; add every unit with ``score >= high_score``; report the
    overlap. In the paper: N = 2,829, 339 random, 116 high-score, 25 overlap,
    430 in total. The sample has two extra boolean columns, ``in_random`` and
    ``in_high_score``.
    """
    if "score" not in df.columns:
        raise PtmcoderError("the units have no 'score' column")
    if high_score < score_min:
        raise PtmcoderError(f"high_score ({high_score}) is below score_min ({score_min})")
    score = pd.to_numeric(df["score"], errors="coerce")
    population = _by_id(df[score >= score_min])
    N = len(population)
    if N == 0:
        raise PtmcoderError(
            f"no unit has score >= {score_min} (of {len(df)} units)",
            hint="check the corpus has scores, or lower --score-min",
        )
    n = cochran_sample_size(N, confidence, margin)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(N, size=n, replace=False))
    in_random = np.zeros(N, dtype=bool)
    in_random[picked] = True
    in_high = (pd.to_numeric(population["score"]) >= high_score).to_numpy()
    keep = in_random | in_high
    units = population[keep].copy()
    units["in_random"] = in_random[keep]
    units["in_high_score"] = in_high[keep]
    units = units.reset_index(drop=True)
    overlap = int((in_random & in_high).sum())
    record = {
        "design": "tan",
        "reference": "Tan et al., Challenges of Using Pre-trained Models: the Practitioners' "
        "Perspective, Sec. VI-B",
        "parameters": {
            "confidence": confidence,
            "margin": margin,
            "score_min": score_min,
            "high_score": high_score,
        },
        "seed": seed,
        "population": {"units": len(df), "score_at_least_min": N},
        "sample_size_formula": "Cochran (1977) with finite population correction, p=0.5",
        "random_sample": n,
        "high_score": int(in_high.sum()),
        "overlap": overlap,
        "total": int(keep.sum()),
    }
    return SampleResult(units, record)


def _as_bool(series: pd.Series, name: str) -> pd.Series:
    if series.isna().any():
        raise PtmcoderError(
            f"column {name!r} has {int(series.isna().sum())} missing value(s)",
            hint="the group column must be boolean (PTM-related or not)",
        )
    values = set(series.unique().tolist())
    if not values <= {False, True}:  # 0 and 1 compare equal to False and True
        raise PtmcoderError(
            f"column {name!r} is not boolean: values {sorted(map(str, values))[:5]}"
        )
    return series.astype(bool)


def balanced_stratified_sample(
    df: pd.DataFrame,
    *,
    group_col: str,
    project_col: str = "project",
    closed_only: bool = True,
    seed: int = 0,
) -> SampleResult:
    """Banyongrakkul et al. (2025), Sec. III-C: balanced PTM / non-PTM groups per project.

    ``group_col`` is a boolean column (True: PTM-related). Per project (sorted by
    name), with k = min(#PTM, #non-PTM) among the (closed, when ``closed_only``)
    issues, draw k of each group at random: the PTM side shrinks where non-PTM
    issues are too few, and projects where a group is empty are dropped. In the
    paper: 401 + 401 = 802 issues over 27 projects. ``record["per_project"]``
    lists, per project, the available and sampled counts of both groups.
    """
    for col in (group_col, project_col):
        if col not in df.columns:
            raise PtmcoderError(
                f"the units have no {col!r} column",
                hint=f"columns: {', '.join(map(str, df.columns))}",
            )
    data = df
    n_closed = None
    if closed_only:
        if "state" not in df.columns:
            raise PtmcoderError("closed_only needs a 'state' column")
        data = df[df["state"] == "closed"]
        n_closed = len(data)
        if n_closed == 0:
            no_state = int(df["state"].isna().sum())
            raise PtmcoderError(
                f"no closed issue among {len(df)} units"
                + (f" ({no_state} have no state)" if no_state else ""),
                hint="the design samples closed issues; use --all-states to sample every issue",
            )
    data = _by_id(data)
    group = _as_bool(data[group_col], group_col)
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    table = []
    for project in sorted(data[project_col].dropna().unique().tolist()):
        in_project = (data[project_col] == project).to_numpy()
        ptm = np.flatnonzero(in_project & group.to_numpy())
        non = np.flatnonzero(in_project & ~group.to_numpy())
        k = min(len(ptm), len(non))
        row = {
            "project": project,
            "ptm_available": len(ptm),
            "non_ptm_available": len(non),
            "ptm_sampled": k,
            "non_ptm_sampled": k,
            "dropped": k == 0,
        }
        table.append(row)
        if k:
            picked.extend(rng.choice(ptm, size=k, replace=False).tolist())
            picked.extend(rng.choice(non, size=k, replace=False).tolist())
    if not picked:
        raise PtmcoderError(
            f"no project has both PTM-related and other issues (PTM-related: "
            f"{int(group.sum())}, other: {int((~group).sum())}, over {len(table)} project(s)); "
            "the sample would be empty",
            hint="check the PTM group (--ptm-labels / --ptm-ids) matches the corpus",
        )
    units = data.iloc[sorted(picked)].reset_index(drop=True)
    n_ptm = int(sum(r["ptm_sampled"] for r in table))
    record = {
        "design": "banyongrakkul",
        "reference": "Banyongrakkul et al., PTM reuse challenges in downstream projects, "
        "Sec. III-C (stratified sampling for resolution time)",
        "parameters": {
            "group_col": group_col,
            "project_col": project_col,
            "closed_only": closed_only,
        },
        "seed": seed,
        "population": {
            "units": len(df),
            "closed": n_closed,
            "ptm": int(group.sum()),
            "non_ptm": int((~group).sum()),
            "projects": len(table),
            "units_without_project": int(data[project_col].isna().sum()),
        },
        "ptm_sampled": n_ptm,
        "non_ptm_sampled": n_ptm,
        "total": len(units),
        "projects_kept": sum(1 for r in table if not r["dropped"]),
        "projects_dropped": [r["project"] for r in table if r["dropped"]],
        "per_project": table,
    }
    return SampleResult(units, record)


# -- drawing and saving a sample of a stored corpus (``ptmcoder corpus sample``) ----------


def ptm_column(df: pd.DataFrame, ptm_labels: str | None, ptm_ids: str | None) -> pd.Series:
    """Whether each unit is PTM-related: it carries any of the comma-separated
    ``ptm_labels`` tags, or its id is in the file ``ptm_ids`` (exactly one)."""
    if ptm_labels and not ptm_ids:
        wanted = {x.strip() for x in ptm_labels.split(",") if x.strip()}
        return df["tags"].map(lambda tags: tags is not None and bool(wanted & set(tags)))
    if ptm_ids and not ptm_labels:
        from ptmcoder.tables import read_ids

        return df["id"].isin(read_ids(ptm_ids))
    raise PtmcoderError(
        "the banyongrakkul design needs the PTM group",
        hint="give exactly one of --ptm-labels LABEL,... or --ptm-ids FILE",
    )


@dataclass
class DrawnSample:
    """A sample saved beside its corpus: the units, how they were drawn, where."""

    name: str
    units: pd.DataFrame
    record: dict
    path: str
    record_path: str
    out_corpus: str | None = None


def simple_random_sample(df: pd.DataFrame, n: int, *, seed: int = 0) -> SampleResult:
    """A simple random sample of ``n`` units (all of them when ``n`` is larger),
    drawn from the units ordered by id so that the draw does not depend on the
    corpus's row order."""
    ordered = df.sort_values("id", kind="stable").reset_index(drop=True)
    picked = ordered.sample(n=min(n, len(ordered)), random_state=seed)
    return SampleResult(picked, {"design": "random", "seed": seed, "size": int(n)})


def draw_sample(
    corpus: str,
    design: str,
    *,
    sample_name: str | None = None,
    out_corpus: str | None = None,
    seed: int = 0,
    size: int | None = None,
    confidence: float = 0.95,
    margin: float = 0.05,
    score_min: int = 1,
    high_score: int = 9,
    ptm_labels: str | None = None,
    ptm_ids: str | None = None,
    group_column: str | None = None,
    project_column: str = "project",
    all_states: bool = False,
    replace: bool = False,
) -> DrawnSample:
    """Draw a seeded sample of the stored corpus ``corpus`` and save it as
    ``corpora/<corpus>/samples/<sample_name>`` with its record, and (``out_corpus``)
    as a corpus of its own. Designs: ``tan`` (:func:`tan_sample`), ``banyongrakkul``
    (:func:`balanced_stratified_sample`; the PTM group from ``ptm_labels``,
    ``ptm_ids`` or a boolean ``group_column``), ``random`` (``size`` units) and
    ``cochran`` (Cochran's size for ``confidence`` and ``margin``). ``ptmcoder
    corpus sample`` and a study's sample stage both call this."""
    from ptmcoder.corpus.store import load_corpus, save_corpus, save_sample

    df = load_corpus(corpus)
    if design == "tan":
        result = tan_sample(
            df,
            confidence=confidence,
            margin=margin,
            score_min=score_min,
            high_score=high_score,
            seed=seed,
        )
    elif design == "banyongrakkul":
        if group_column is not None and not (ptm_labels or ptm_ids):
            if group_column not in df.columns:
                raise PtmcoderError(
                    f"corpus {corpus!r} has no column {group_column!r} marking PTM-related units",
                    hint="give --ptm-labels or --ptm-ids, or name the column",
                )
            df = df.assign(is_ptm=df[group_column].fillna(False).astype(bool))
        else:
            df = df.assign(is_ptm=ptm_column(df, ptm_labels, ptm_ids))
        result = balanced_stratified_sample(
            df,
            group_col="is_ptm",
            project_col=project_column,
            closed_only=not all_states,
            seed=seed,
        )
        result.record["parameters"]["ptm_labels"] = ptm_labels
        result.record["parameters"]["ptm_ids"] = ptm_ids
        result.record["parameters"]["group_column"] = group_column
    elif design in ("random", "cochran"):
        n = cochran_sample_size(len(df), confidence, margin) if design == "cochran" else size
        if n is None:
            raise PtmcoderError("the random design needs a sample size", hint="give --size N")
        result = simple_random_sample(df, n, seed=seed)
        result.record["design"] = design
    else:
        raise PtmcoderError(
            f"unknown design {design!r}", hint="designs: tan, banyongrakkul, random, cochran"
        )
    sample_name = sample_name or f"{design}-seed{seed}"
    data, meta = save_sample(corpus, sample_name, result.units, result.record)
    if out_corpus:
        save_corpus(result.units, out_corpus, {"from": corpus, **result.record}, replace=replace)
    return DrawnSample(sample_name, result.units, result.record, str(data), str(meta), out_corpus)


#: how a stratified gold sample shares its size among strata
ALLOCATIONS = ("proportional", "equal")


def gold_sample(
    units: pd.DataFrame,
    size: int,
    *,
    seed: int = 0,
    stratum: str | None = None,
    allocation: str = "proportional",
) -> SampleResult:
    """The units humans should code, each with its **inclusion probability**: a simple
    random sample of ``size`` units of ``units`` (column ``id``), or, with ``stratum``
    (a column), a stratified one: stratum h of N_h units gets n_h units, drawn at
    random, and each of them has probability n_h / N_h (Cochran 1977, ch. 5).
    ``proportional`` shares ``size`` as N_h / N (largest remainders, at least one per
    stratum while the size allows); ``equal`` gives every stratum the same n_h (capped
    at N_h, the rest shared among the others): rare codes get enough human codes for
    their own estimate, and the weights 1 / p undo the oversampling.

    Returned units: ``id``, ``stratum`` (None without strata), ``inclusion_probability``
    and the input's other columns; the record states the design per stratum.

    >>> df = pd.DataFrame({"id": [f"u{i}" for i in range(10)], "code": ["a"] * 8 + ["b"] * 2})
    >>> s = gold_sample(df, 4, seed=1, stratum="code", allocation="equal")
    >>> sorted(s.units.groupby("stratum")["inclusion_probability"].first().items())
    [('a', 0.25), ('b', 1.0)]
    >>> gold_sample(df, 5, seed=1).units["inclusion_probability"].unique().tolist()
    [0.5]
    """
    if allocation not in ALLOCATIONS:
        raise PtmcoderError(
            f"unknown allocation {allocation!r}", hint=f"use one of {', '.join(ALLOCATIONS)}"
        )
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise PtmcoderError(f"the gold sample size must be a positive integer, got {size!r}")
    if stratum is not None and stratum not in units.columns:
        raise PtmcoderError(f"the units have no column {stratum!r} to stratify by")
    ordered = units.drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)
    if ordered.empty:
        raise PtmcoderError("no units to sample from")
    size = min(int(size), len(ordered))
    rng = np.random.default_rng(seed)
    labels = (
        ordered[stratum].astype(object).where(ordered[stratum].notna(), "(none)").astype(str)
        if stratum is not None
        else pd.Series("(all)", index=ordered.index)
    )
    population = labels.value_counts().sort_index()
    take = _allocate(population, size, allocation)
    picked: list[pd.DataFrame] = []
    strata: dict[str, dict[str, Any]] = {}
    for name, N_h in population.items():
        n_h = int(take[name])
        members = ordered[labels == name]
        chosen = members.iloc[np.sort(rng.permutation(len(members))[:n_h])]
        p = n_h / int(N_h)
        picked.append(
            chosen.assign(
                stratum=None if stratum is None else name, inclusion_probability=round(p, 12)
            )
        )
        strata[str(name)] = {"population": int(N_h), "sampled": n_h, "probability": p}
    sample = pd.concat(picked).sort_values("id", kind="stable").reset_index(drop=True)
    record = {
        "design": "stratified" if stratum is not None else "uniform",
        "seed": seed,
        "size": size,
        "population": int(len(ordered)),
        "stratum": stratum,
        "allocation": allocation if stratum is not None else None,
        "strata": strata,
    }
    return SampleResult(sample, record)


def _allocate(population: pd.Series, size: int, allocation: str) -> dict[str, int]:
    """Stratum -> sample size (module doc of :func:`gold_sample`)."""
    names = list(population.index)
    N = {n: int(population[n]) for n in names}
    take = {n: 0 for n in names}
    if allocation == "equal":
        left, open_ = size, [n for n in names]
        while left > 0 and open_:
            share = max(1, left // len(open_))
            for n in list(open_):
                add = min(share, N[n] - take[n], left)
                take[n] += add
                left -= add
                if take[n] >= N[n]:
                    open_.remove(n)
                if left == 0:
                    break
        return take
    total = sum(N.values())
    exact = {n: size * N[n] / total for n in names}
    take = {n: min(N[n], int(exact[n])) for n in names}
    if size >= len(names):  # every stratum at least one unit
        for n in names:
            take[n] = max(take[n], 1)
    left = size - sum(take.values())
    order = sorted(names, key=lambda n: (-(exact[n] - int(exact[n])), n))
    while left > 0:
        moved = False
        for n in order:
            if left and take[n] < N[n]:
                take[n] += 1
                left -= 1
                moved = True
        if not moved:
            break
    while left < 0:  # the floor of one overshot: take from the largest strata
        n = max(names, key=lambda k: (take[k] - exact[k], take[k]))
        take[n] -= 1
        left += 1
    return take
