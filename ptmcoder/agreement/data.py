"""From a long table (``unit, rater, code``) to the units x raters matrix the
coefficients read.

A unit may carry several codes per rater. Each (unit, rater) cell becomes one
*category*: the sorted set of its codes (a single code is a one-element set).
Single-label coefficients therefore treat ``{a, b}`` as a category of its own
and say so in their note; the set-valued view (MASI alpha, per-code kappa)
reads the sets themselves.

A row with an empty ``code`` means the rater saw the unit and gave no code; it
is counted as a missing rating, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import pandas as pd

from ptmcoder.errors import PtmcoderError

SET_SEPARATOR = " + "


class Diagnostics(TypedDict):
    """What :meth:`RatingMatrix.diagnostics` counts."""

    units: int
    raters: int
    categories: int
    ratings: int
    units_with_one_rating: int
    units_with_no_rating: int
    multi_label_cells: int
    raters_without_labels: list[str]
    missing_code_rows: dict[str, int]  # rater -> rows without a code (only raters with some)


@dataclass
class RatingMatrix:
    """Units x raters category indices (-1 = missing) and the category sets."""

    units: list[str]
    raters: list[str]
    codes: np.ndarray  # (U, R) int32, -1 missing
    categories: list[tuple[str, ...]]  # index -> sorted code tuple
    missing_rows: dict[str, int] = field(default_factory=dict)  # rater -> rows without code

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    def category_names(self) -> list[str]:
        return [SET_SEPARATOR.join(c) for c in self.categories]

    @property
    def multi_label_cells(self) -> int:
        multi = np.array([len(c) > 1 for c in self.categories] + [False])
        return int(multi[self.codes].sum())  # index -1 reads the trailing False

    def counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Units x categories: how many raters put each unit in each category."""
        codes = self.codes if rows is None else self.codes[rows]
        u = codes.shape[0]
        k = self.n_categories
        out = np.zeros((u, k), dtype=np.float64)
        uu, rr = np.nonzero(codes >= 0)
        np.add.at(out, (uu, codes[uu, rr]), 1.0)
        return out

    def subset(self, raters: list[str]) -> RatingMatrix:
        idx = [self.raters.index(r) for r in raters]
        return RatingMatrix(
            self.units,
            list(raters),
            self.codes[:, idx],
            self.categories,
            {r: self.missing_rows.get(r, 0) for r in raters},
        )

    def restrict(self, raters: list[str], *, min_ratings: int = 1) -> RatingMatrix:
        """Only ``raters``, and only the units that at least ``min_ratings`` of them coded."""
        sub = self.subset(raters)
        keep = (sub.codes >= 0).sum(axis=1) >= min_ratings
        return RatingMatrix(
            [u for u, k in zip(sub.units, keep, strict=True) if k],
            sub.raters,
            sub.codes[keep],
            sub.categories,
            sub.missing_rows,
        )

    def ratings_per_unit(self) -> np.ndarray:
        return (self.codes >= 0).sum(axis=1)

    def code_vocabulary(self) -> list[str]:
        return sorted({c for cat in self.categories for c in cat})

    def binary(self, code: str) -> np.ndarray:
        """(U, R) 0/1 whether each rating contains ``code``; -1 where missing."""
        has = np.array([code in cat for cat in self.categories] + [False], dtype=np.int32)
        out = has[self.codes]
        out[self.codes < 0] = -1
        return out

    def diagnostics(self) -> Diagnostics:
        per_unit = self.ratings_per_unit()
        per_rater = (self.codes >= 0).sum(axis=0)
        return {
            "units": self.n_units,
            "raters": len(self.raters),
            "categories": self.n_categories,
            "ratings": int(per_unit.sum()),
            "units_with_one_rating": int((per_unit == 1).sum()),
            "units_with_no_rating": int((per_unit == 0).sum()),
            "multi_label_cells": self.multi_label_cells,
            "raters_without_labels": [
                r for r, n in zip(self.raters, per_rater, strict=True) if n == 0
            ],
            "missing_code_rows": {k: v for k, v in self.missing_rows.items() if v},
        }


def code_number(code: str) -> float | None:
    """The number a code spells (``"2"``, ``"0.5"``), or None: how ordinal, interval and
    ratio coefficients read codes as values.

    >>> code_number("10"), code_number("bug")
    (10.0, None)
    """
    try:
        return float(code)
    except ValueError:
        return None


def category_sort_key(cat: tuple[str, ...]) -> tuple:
    """Numeric single codes in numeric order first (so ordinal and weighted
    coefficients read 2 < 10), then everything else in text order."""
    number = code_number(cat[0]) if len(cat) == 1 else None
    if number is not None:
        return (0, number, cat)
    return (1, 0.0, cat)


def _as_str(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def rating_matrix(long_df: pd.DataFrame, *, raters: list[str] | None = None) -> RatingMatrix:
    """Build the rating matrix from a long table with columns unit, rater, code."""
    missing = [c for c in ("unit", "rater", "code") if c not in long_df.columns]
    if missing:
        raise PtmcoderError(
            f"the long table has no column(s) {', '.join(missing)}",
            hint="expected columns: unit, rater, code (one row per code)",
        )
    df = pd.DataFrame(
        {
            "unit": _as_str(long_df["unit"]),
            "rater": _as_str(long_df["rater"]),
            "code": _as_str(long_df["code"]),
        }
    )
    bad = df["unit"].isna() | df["rater"].isna() | (df["unit"] == "") | (df["rater"] == "")
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise PtmcoderError(f"row {first + 1} of the long table has no unit or no rater")
    df.loc[df["code"] == "", "code"] = pd.NA
    all_raters = sorted(df["rater"].unique().tolist())
    if raters is not None:
        unknown = [r for r in raters if r not in set(all_raters)]
        if unknown:
            raise PtmcoderError(
                f"rater(s) not in the table: {', '.join(unknown)}",
                hint=f"raters are: {', '.join(all_raters)}",
            )
        all_raters = list(raters)
        df = df[df["rater"].isin(all_raters)]
    no_code = df["code"].isna()
    missing_rows = df[no_code].groupby("rater").size().to_dict()
    fast = _single_code_matrix(df, no_code.to_numpy(), all_raters)
    if fast is not None:
        units, codes, uniq = fast
        return RatingMatrix(
            units, all_raters, codes, uniq, {r: int(missing_rows.get(r, 0)) for r in all_raters}
        )
    units = sorted(df["unit"].unique().tolist())
    coded = df[~no_code].drop_duplicates()
    # one category per (unit, rater): the sorted tuple of its codes
    coded = coded.sort_values(["unit", "rater", "code"])
    grouped = coded.groupby(["unit", "rater"], sort=False)["code"]
    sizes = grouped.size()
    if (sizes == 1).all():
        keys = sizes.index
        cats = coded["code"].to_numpy(dtype=object)
        cat_tuples = pd.Series([(c,) for c in cats], index=keys)
    else:
        joined = grouped.agg("\x1f".join)
        cat_tuples = pd.Series(
            [tuple(v.split("\x1f")) for v in joined.tolist()], index=joined.index
        )
    uniq = sorted(set(cat_tuples.tolist()), key=category_sort_key)
    cat_index = {c: i for i, c in enumerate(uniq)}
    unit_pos = pd.Index(units).get_indexer(cat_tuples.index.get_level_values(0))
    rater_pos = pd.Index(all_raters).get_indexer(cat_tuples.index.get_level_values(1))
    codes = np.full((len(units), len(all_raters)), -1, dtype=np.int32)
    codes[unit_pos, rater_pos] = np.array(
        [cat_index[c] for c in cat_tuples.tolist()], dtype=np.int32
    )
    return RatingMatrix(
        units, all_raters, codes, uniq, {r: int(missing_rows.get(r, 0)) for r in all_raters}
    )


def _single_code_matrix(
    df: pd.DataFrame, no_code: np.ndarray, raters: list[str]
) -> tuple[list[str], np.ndarray, list[tuple[str, ...]]] | None:
    """The matrix in integer arithmetic when every (unit, rater) cell holds one
    distinct code (the common case); None when some cell holds several, which the
    general path in :func:`rating_matrix` handles. Same units, order and categories."""
    unit_ids, unit_index = pd.factorize(df["unit"], sort=True)
    rater_ids, rater_index = pd.factorize(df["rater"])
    rater_pos = pd.Index(raters).get_indexer(rater_index)[rater_ids]
    has = ~no_code
    code_ids, code_index = pd.factorize(df["code"][has])
    n_r, n_c = len(raters), max(len(code_index), 1)
    key = (unit_ids[has].astype(np.int64) * n_r + rater_pos[has]) * n_c + code_ids
    key.sort()
    key = key[np.r_[True, np.diff(key) != 0]] if key.size else key  # repeated rows count once
    cell = key // n_c
    if cell.size > 1 and not (np.diff(cell) > 0).all():
        return None
    code_of = key % n_c
    used = np.flatnonzero(np.bincount(code_of, minlength=n_c))
    cats: list[tuple[str, ...]] = sorted(
        ((str(code_index[i]),) for i in used), key=category_sort_key
    )
    position = {c[0]: i for i, c in enumerate(cats)}
    lookup = np.full(n_c, -1, dtype=np.int32)
    for i in used:
        lookup[i] = position[str(code_index[i])]
    units = [str(u) for u in unit_index.to_numpy(dtype=object)]
    codes = np.full((len(units), n_r), -1, dtype=np.int32)
    codes[cell // n_r, cell % n_r] = lookup[code_of]
    return units, codes, cats
