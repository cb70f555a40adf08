"""Difficulty of PTM-related questions against the rest (Tan et al. 2024, RQ2).

Three metrics, per group (PTM-related / PTM-unrelated) and per PTM tag (Table II):

- ``%no acc``: share of questions without an accepted answer, with the two-
  proportion chi-square test between the groups (:mod:`.proportion`), with and
  without Yates' correction;
- response time: ``accepted_answer_at - created_at`` in minutes over questions
  with an accepted answer: n, mean, median, quartiles and a log-binned histogram
  for the distribution chart (Tan's Fig. 2);
- ``PD = mean(answer_count) / mean(view_count)`` (Yang et al. 2016, Tan's [28]).

One streamed pass over the Parquet file (see :mod:`.engine` for why and what it
costs): numpy reductions batch by batch, per-tag rows over PTM-related units only.

By challenge category (Tan et al.'s categories, coded by an annotator): %no acc per
category with the proportion test of each category against the rest
(:func:`difficulty_by_category`). When the categories come from an annotator these
treat its codes as truth; given human categories on a random sample of the coded
questions (``gold`` with its ``design``), each category's share without an accepted
answer is also estimated corrected for the annotator's errors, beside the naive one,
with the category-vs-rest difference, its Wald z test (z squared is the 1-df
chi-square) and Cohen's h from the corrected shares
(:func:`ptmcoder.inference.outcomes.outcome_by_code`). The population is every
question the annotator coded that the corpus holds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.design import GoldDesign
from ptmcoder.inference.outcomes import OutcomeResult, outcome_by_code
from ptmcoder.stats.engine import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PTM_RULE,
    PtmRule,
    check_columns,
    connect,
    map_ptm,
    plain_tags,
    timestamp_us,
)
from ptmcoder.stats.proportion import ProportionTestResult, two_proportion_test

#: histogram bins per decade of minutes for the response-time distribution
BINS_PER_DECADE = 4


@dataclass(frozen=True)
class DifficultyRow:
    """One row of Table II: a group (``ptm``/``non-ptm``) or a tag."""

    name: str
    n: int
    no_acc: int
    pct_no_acc: float
    n_response: int
    rt_mean_min: float
    rt_median_min: float
    rt_q1_min: float
    rt_q3_min: float
    mean_answers: float
    mean_views: float
    pd: float


@dataclass
class DifficultyResult:
    source: str
    ptm_rule: dict
    since: str | None
    groups: list[DifficultyRow]
    tags: list[DifficultyRow]
    tests: list[ProportionTestResult]
    histogram: dict[str, list[tuple[float, float, int]]]  # group -> (lo, hi, count)
    negative_response_times: int
    accepted_without_time: int = 0
    figures: list[str] = field(default_factory=list)
    #: %no acc by the annotator's challenge category (naive, and corrected with gold)
    categories: CategoryDifficulty | None = None

    def group(self, name: str) -> DifficultyRow:
        return next(g for g in self.groups if g.name == name)

    def draw_figures(self, out_dir: Path) -> list[str]:
        """%no acc per group and tag (``no_acc.png``) and, when some question has an
        accepted answer with a date, Tan et al.'s Fig. 2 (``response_time.png``) into
        ``out_dir``; their paths are added to :attr:`figures` and returned."""
        from ptmcoder.stats import plots

        drawn = []
        bars = [(r.name, r.n, r.pct_no_acc) for r in [*self.groups, *self.tags] if r.n > 0]
        if bars:
            drawn.append(str(plots.no_acc_chart(bars, Path(out_dir) / "no_acc.png")))
        if self.histogram:
            path = Path(out_dir) / "response_time.png"
            chart = plots.response_time_chart(self.histogram, path, bins_per_decade=BINS_PER_DECADE)
            drawn.append(str(chart))
        self.figures += drawn
        return drawn

    def to_dict(self) -> dict:
        return {
            "analysis": "difficulty (Tan et al. 2024, RQ2)",
            "source": self.source,
            "ptm_rule": self.ptm_rule,
            "since": self.since,
            "groups": [asdict(g) for g in self.groups],
            "tags": [asdict(t) for t in self.tags],
            "proportion_tests": [t.to_dict() for t in self.tests],
            "response_time_histogram": {
                g: [{"lo_min": lo, "hi_min": hi, "n": n} for lo, hi, n in rows]
                for g, rows in self.histogram.items()
            },
            "excluded_negative_response_times": self.negative_response_times,
            "accepted_without_time": self.accepted_without_time,
            "categories": self.categories.to_dict() if self.categories else None,
            "figures": self.figures,
        }


@dataclass(frozen=True)
class CategoryRow:
    """One challenge category as the annotator coded it: questions, how many have no
    accepted answer, and their share."""

    name: str
    n: int
    no_acc: int
    pct_no_acc: float


@dataclass
class CategoryDifficulty:
    """%no acc per challenge category: the annotator's counts with the proportion test
    of each category against the rest (Yates' correction, as R's ``prop.test``), and,
    given a gold sample, the shares corrected for annotation error."""

    n_questions: int
    rows: list[CategoryRow]
    tests: list[ProportionTestResult]
    corrected: OutcomeResult | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "n_questions": self.n_questions,
            "rows": [asdict(r) for r in self.rows],
            "proportion_tests": [t.to_dict() for t in self.tests],
            "corrected": self.corrected.to_json() if self.corrected else None,
            "notes": self.notes,
        }


def no_accepted_answer(units: pd.DataFrame) -> pd.Series:
    """1.0 where a question has no accepted answer (neither an accepted answer id nor
    its date, as the group rows count it), indexed by unit id.

    >>> no_accepted_answer(pd.DataFrame({"id": ["a", "b"], "accepted_answer_id": [7, None],
    ...                                  "accepted_answer_at": [None, None]})).tolist()
    [0.0, 1.0]
    """
    missing = [c for c in ("id", "accepted_answer_id", "accepted_answer_at") if c not in units]
    if missing:
        raise PtmcoderError(f"%no acc needs column(s) {', '.join(missing)}")
    acc = units["accepted_answer_id"].notna() | units["accepted_answer_at"].notna()
    return pd.Series((~acc).to_numpy(float), index=units["id"].astype(str).to_numpy())


def _accepted_columns(path: Path, categories: pd.DataFrame) -> pd.DataFrame:
    """``id, accepted_answer_id, accepted_answer_at`` of the corpus rows coded in
    ``categories`` (one filtered Parquet read)."""
    import pyarrow.parquet as pq

    wanted = pa.array(pd.unique(categories["unit"].astype(str)).tolist(), pa.string())
    table = pq.read_table(path, columns=["id", "accepted_answer_id", "accepted_answer_at"])
    table = table.filter(pc.is_in(table["id"].cast(pa.string()), value_set=wanted))
    return table.to_pandas()


def difficulty_by_category(
    units: pd.DataFrame,
    categories: pd.DataFrame,
    *,
    gold: pd.DataFrame | None = None,
    design: GoldDesign | None = None,
    confidence: float = 0.95,
) -> CategoryDifficulty:
    """%no acc per challenge category of ``units`` (``id, accepted_answer_id,
    accepted_answer_at``) coded in ``categories`` (a long table ``unit, code``: the
    annotator's), with each category's proportion test against the rest; with ``gold``
    (the humans' ``unit, code`` on a sample) and its ``design``
    (:func:`ptmcoder.inference.design.gold_design`), the corrected shares beside them.
    The questions are those of ``categories`` found in ``units``; a question given a
    special or empty code counts as in no category.

    >>> u = pd.DataFrame({"id": list("abcd"), "accepted_answer_id": [1, None, None, 2],
    ...                   "accepted_answer_at": [None] * 4})
    >>> cats = pd.DataFrame({"unit": list("abcd"), "code": ["x", "x", "y", "y"]})
    >>> [(r.name, r.n, r.no_acc) for r in difficulty_by_category(u, cats).rows]
    [('x', 2, 1), ('y', 2, 1)]
    """
    if (gold is None) != (design is None):
        raise PtmcoderError("corrected categories need both the gold codes and their design")
    for col in ("unit", "code"):
        if col not in categories.columns:
            raise PtmcoderError(f"categories: missing column {col}")
    y = no_accepted_answer(units)
    coded = pd.unique(categories["unit"].astype(str))
    inside = pd.Index(coded).isin(y.index)
    notes = []
    if not inside.all():
        notes.append(f"{int((~inside).sum())} coded unit(s) not in the corpus, left out")
    y = y[y.index.isin(coded)]
    y = y[~y.index.duplicated()]
    if y.empty:
        raise PtmcoderError("no coded question is in the corpus")
    cats = categories.dropna(subset=["code"]).assign(unit=lambda f: f["unit"].astype(str))
    cats = cats[cats["unit"].isin(y.index)].drop_duplicates(["unit", "code"])
    rows, tests = [], []
    total, total_no = len(y), int(y.sum())
    for name, part in sorted(cats.groupby(cats["code"].astype(str)), key=lambda kv: kv[0]):
        vals = y.loc[part["unit"]].to_numpy()
        n, x = int(vals.size), int(vals.sum())
        rows.append(CategoryRow(name, n, x, x / n if n else math.nan))
        if 0 < n < total:
            try:
                tests.append(
                    two_proportion_test(
                        x,
                        n,
                        total_no - x,
                        total - n,
                        correction=True,
                        confidence=confidence,
                        labels=(name, "(rest)"),
                    )
                )
            except PtmcoderError as exc:
                notes.append(f"{name}: no proportion test ({exc})")
    corrected = None
    if gold is not None and design is not None:
        corrected = outcome_by_code(
            y,
            cats[["unit", "code"]],
            gold,
            design,
            alpha=1 - confidence,
            name="no accepted answer",
        )
        notes += corrected.notes
    return CategoryDifficulty(total, rows, tests, corrected, notes)


_NEEDED = [
    "created_at",
    "accepted_answer_id",
    "accepted_answer_at",
    "answer_count",
    "view_count",
    "tags",
]


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _row(name: str, rec: tuple) -> DifficultyRow:
    n, no_acc, n_rt, rt_mean, rt_q, mean_answers, mean_views = rec
    q1, median, q3 = rt_q if rt_q is not None else (None, None, None)
    ma, mv = _num(mean_answers), _num(mean_views)
    return DifficultyRow(
        name=name,
        n=int(n),
        no_acc=int(no_acc),
        pct_no_acc=(no_acc / n) if n else math.nan,
        n_response=int(n_rt),
        rt_mean_min=_num(rt_mean),
        rt_median_min=_num(median),
        rt_q1_min=_num(q1),
        rt_q3_min=_num(q3),
        mean_answers=ma,
        mean_views=mv,
        pd=(ma / mv) if mv and not math.isnan(mv) else math.nan,
    )


def _quartiles(x: np.ndarray) -> tuple[float, float, float] | None:
    """Quartiles by linear interpolation at ``q * (n - 1)``, DuckDB's ``quantile_cont``
    and numpy's default (``lo + (hi - lo) * d``; equal to the SQL version of this
    module up to one unit in the last place)."""
    if not x.size:
        return None
    rn = np.array([0.25, 0.5, 0.75]) * (x.size - 1)
    lo, hi = np.floor(rn).astype(np.int64), np.ceil(rn).astype(np.int64)
    part = np.partition(x, np.unique(np.concatenate([lo, hi])))
    q1, q2, q3 = (
        float(part[a]) if a == b else float(part[a] + (part[b] - part[a]) * (r - a))
        for r, a, b in zip(rn.tolist(), lo.tolist(), hi.tolist(), strict=True)
    )
    return q1, q2, q3


def _counts(cols: dict) -> dict[str, int | float]:
    """Counts and sums of one batch's rows (``cols`` as :func:`_batch_columns` makes)."""
    out: dict[str, int | float] = {
        "n": len(cols["acc"]),
        "no_acc": len(cols["acc"]) - int(np.count_nonzero(cols["acc"])),
        "negative": int(np.count_nonzero(cols["negative"])),
        "no_time": int(np.count_nonzero(cols["no_time"])),
    }
    for key, count_key, col in (
        ("answers", "n_answers", cols["answer_count"]),
        ("views", "n_views", cols["view_count"]),
    ):
        out[key] = pc.sum(col).as_py() or 0
        out[count_key] = len(col) - col.null_count
    return out


def _bins(rt: np.ndarray) -> np.ndarray:
    """Counts per log bin ``floor(log10(max(rt, 1)) * BINS_PER_DECADE)``: a bincount, no sort."""
    if not rt.size:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(np.floor(np.log10(np.maximum(rt, 1.0)) * BINS_PER_DECADE).astype(np.int64))


class _Group:
    """Running sums of one group (PTM-related or not) over the record batches."""

    def __init__(self) -> None:
        self.n = self.no_acc = self.negative = self.no_time = 0
        self.answers = self.n_answers = self.views = self.n_views = 0
        self.rt: list[np.ndarray] = []
        self.hist = np.zeros(0, dtype=np.int64)  # counts per log bin of response time

    _COUNTS = ("n", "no_acc", "negative", "no_time", "answers", "n_answers", "views", "n_views")

    def minus(self, part: _Group) -> _Group:
        """The rows of this group that are not in ``part`` (counts and sums only)."""
        rest = _Group()
        for key in self._COUNTS:
            setattr(rest, key, getattr(self, key) - getattr(part, key))
        return rest

    def add(self, counts: dict[str, int | float]) -> None:
        for key in self._COUNTS:
            setattr(self, key, getattr(self, key) + counts[key])

    def add_rt(self, rt: np.ndarray, hist: np.ndarray) -> None:
        """Keep response times and add their bin counts (:func:`_bins`)."""
        self.rt.append(rt)
        if hist.size > self.hist.size:
            hist = hist.copy()
            hist[: self.hist.size] += self.hist
            self.hist = hist
        else:
            self.hist[: hist.size] += hist

    def record(self) -> tuple:
        """n, no_acc, n_rt, mean rt, quartiles of rt, mean answers, mean views."""
        rt = np.concatenate(self.rt) if self.rt else np.empty(0)
        quartiles = _quartiles(rt)
        return (
            self.n,
            self.no_acc,
            rt.size,
            float(rt.mean()) if rt.size else None,
            quartiles,
            self.answers / self.n_answers if self.n_answers else None,
            self.views / self.n_views if self.n_views else None,
        )


def _values(arr: pa.Array) -> np.ndarray:
    """The int64 value buffer of ``arr`` as a numpy view, null slots included (no copy)."""
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr)]


def _batch_columns(batch: pa.RecordBatch) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per-row accepted flag, response time in minutes and its validity, for one batch."""
    acc_id = batch.column("accepted_answer_id").is_valid().to_numpy(zero_copy_only=False)
    at = timestamp_us(batch.column("accepted_answer_at"))
    created = timestamp_us(batch.column("created_at"))
    at_ok = at.is_valid().to_numpy(zero_copy_only=False)
    both = at_ok & created.is_valid().to_numpy(zero_copy_only=False)
    diff = _values(at) - _values(created)  # meaningless where not both, never read there
    has_rt = both & (diff >= 0)
    # DuckDB's epoch_ms(interval) / 60000.0: whole milliseconds, then minutes
    rt = (diff // 1000) / 60000.0
    cols = {
        "acc": acc_id | at_ok,
        "negative": both & (diff < 0),
        "no_time": acc_id & ~at_ok,
        "answer_count": batch.column("answer_count"),
        "view_count": batch.column("view_count"),
    }
    return cols, rt, has_rt


def _subset(cols: dict, rows: np.ndarray) -> dict:
    taken = pa.array(rows)
    return {k: (v.take(taken) if isinstance(v, pa.Array) else v[rows]) for k, v in cols.items()}


def _tag_rows(
    parts: list[pa.Table], wanted: list[str] | tuple[str, ...] | None, limit: int | None
) -> list[DifficultyRow]:
    """Per-tag rows from the (tag, unit) rows of PTM units: the tags in ``wanted`` (every
    tag when None), most frequent first (ties by name), the first ``limit`` of them.

    Grouped in numpy, with the same statistics as the groups (:meth:`_Group.record`).
    """
    if not parts:
        return []
    t = pa.concat_tables(parts).combine_chunks()
    if wanted:
        t = t.filter(pc.fill_null(pc.is_in(t["tag"], value_set=pa.array(wanted)), False))
    if t.num_rows == 0:
        return []
    codes = t["tag"].chunk(0).dictionary_encode()  # one chunk: combined, and rows left
    names = codes.dictionary.to_pylist()
    code = codes.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    names.append(None)  # a null tag is a group of its own, as in SQL GROUP BY
    counts = np.bincount(code, minlength=len(names))
    order = sorted(
        np.flatnonzero(counts).tolist(),
        key=lambda c: (-counts[c], names[c] is None, names[c] or ""),
    )
    if limit is not None:
        order = order[:limit]
    acc = t["acc"].chunk(0).to_numpy(zero_copy_only=False)
    rt = t["rt"].chunk(0).to_numpy(zero_copy_only=False)  # NaN where there is no time
    answers = t["answer_count"].chunk(0).to_numpy(zero_copy_only=False).astype(np.float64)
    views = t["view_count"].chunk(0).to_numpy(zero_copy_only=False).astype(np.float64)
    rows = []
    for c in order:
        sel = code == c
        r = rt[sel]
        r = r[~np.isnan(r)]
        a, v = answers[sel], views[sel]
        a, v = a[~np.isnan(a)], v[~np.isnan(v)]
        rec = (
            int(counts[c]),
            int(counts[c] - np.count_nonzero(acc[sel])),
            r.size,
            float(r.mean()) if r.size else None,
            _quartiles(r),
            float(a.sum()) / a.size if a.size else None,
            float(v.sum()) / v.size if v.size else None,
        )
        rows.append(_row(names[c], rec))
    return rows


@dataclass
class _Part:
    """What one record batch adds: :func:`_reduce`'s result."""

    all_counts: dict
    ptm_counts: dict
    ptm_rt: np.ndarray
    ptm_hist: np.ndarray
    other_rt: np.ndarray
    other_hist: np.ndarray
    per_tag: pa.Table | None


def _reduce(batch: pa.RecordBatch, ptm: np.ndarray) -> _Part:
    """One batch reduced to counts, response times and the PTM units' (tag, unit) rows.

    Runs in :func:`.engine.map_ptm`'s worker threads, one batch per call, no shared state.
    """
    cols, rt, has_rt = _batch_columns(batch)
    rows = np.flatnonzero(ptm)
    ptm_cols = _subset(cols, rows)
    ptm_rt = rt[rows][has_rt[rows]]
    other_rt = rt[has_rt & ~ptm]
    per_tag = None
    if rows.size:
        unit_tags = plain_tags(batch.column("tags").take(pa.array(rows)))
        parent = pc.list_parent_indices(unit_tags)
        rt_ptm = pa.array(rt[rows], mask=~has_rt[rows])
        per_tag = pa.table(
            {
                "tag": pc.list_flatten(unit_tags),
                "acc": pa.array(ptm_cols["acc"]).take(parent),
                "rt": rt_ptm.take(parent),
                "answer_count": ptm_cols["answer_count"].take(parent),
                "view_count": ptm_cols["view_count"].take(parent),
            }
        )
    return _Part(
        all_counts=_counts(cols),
        ptm_counts=_counts(ptm_cols),
        ptm_rt=ptm_rt,
        ptm_hist=_bins(ptm_rt),
        other_rt=other_rt,
        other_hist=_bins(other_rt),
        per_tag=per_tag,
    )


def difficulty(
    path: Path,
    *,
    rule: PtmRule = DEFAULT_PTM_RULE,
    since: str | None = None,
    top_k: int = 6,
    tags: list[str] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    temp_directory: str | None = None,
    categories: pd.DataFrame | None = None,
    gold: pd.DataFrame | None = None,
    design: GoldDesign | None = None,
) -> DifficultyResult:
    """Tan et al.'s three difficulty metrics for PTM-related vs other units of ``path``.

    Per-tag rows cover ``tags`` when given, else the ``top_k`` most frequent tags
    among PTM-related units (restricted to the PTM tag list in tag mode). With
    ``categories`` (the annotator's long table ``unit, code``), %no acc per category
    (:func:`difficulty_by_category`), corrected for annotation error when ``gold`` and
    its ``design`` are given.

    One streamed pass (:func:`.engine.map_ptm`): group counts and sums are kept
    running, response times are kept as float arrays for the exact median and
    quartiles (8 bytes per answered question), and only PTM-related units are
    expanded into (tag, unit) rows, grouped per tag at the end.
    """
    con = connect(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)
    check_columns(con, path, _NEEDED + ([rule.column] if rule.column else []))
    # Sums run over all rows and over the (few) PTM rows; the others are the difference,
    # so the 99% of non-PTM rows are never copied, only their response times.
    all_g, ptm_g = _Group(), _Group()
    other_rt = _Group()  # response times of the other rows
    per_tag: list[pa.Table] = []
    for part in map_ptm(path, rule, _NEEDED, _reduce, since=since, threads=threads):
        all_g.add(part.all_counts)
        ptm_g.add(part.ptm_counts)
        ptm_g.add_rt(part.ptm_rt, part.ptm_hist)
        other_rt.add_rt(part.other_rt, part.other_hist)
        if part.per_tag is not None:
            per_tag.append(part.per_tag)
    other_g = all_g.minus(ptm_g)
    other_g.rt, other_g.hist = other_rt.rt, other_rt.hist
    groups = [_row(label, g.record()) for label, g in (("ptm", ptm_g), ("non-ptm", other_g)) if g.n]
    negative = ptm_g.negative + other_g.negative
    no_time = ptm_g.no_time + other_g.no_time

    con.close()
    tag_rows = _tag_rows(per_tag, tags or rule.tags, None if tags else top_k)

    tests: list[ProportionTestResult] = []
    if len(groups) == 2:
        a, b = groups
        for corr in (False, True):
            tests.append(
                two_proportion_test(
                    a.no_acc, a.n, b.no_acc, b.n, correction=corr, labels=("ptm", "non-ptm")
                )
            )

    histogram: dict[str, list[tuple[float, float, int]]] = {}
    for label, g in (("non-ptm", other_g), ("ptm", ptm_g)):
        if g.hist.any():
            histogram[label] = [
                (10 ** (b / BINS_PER_DECADE), 10 ** ((b + 1) / BINS_PER_DECADE), int(g.hist[b]))
                for b in np.flatnonzero(g.hist).tolist()
            ]
    by_category = None
    if categories is not None:
        by_category = difficulty_by_category(
            _accepted_columns(path, categories), categories, gold=gold, design=design
        )
    elif gold is not None:
        raise PtmcoderError(
            "a gold sample corrects the annotator's categories: give them too",
            hint="--run RUN (a run or a long table unit,code) with --gold",
        )
    return DifficultyResult(
        categories=by_category,
        source=str(path),
        ptm_rule=rule.to_dict(),
        since=since,
        groups=groups,
        tags=tag_rows,
        tests=tests,
        histogram=histogram,
        negative_response_times=negative,
        accepted_without_time=no_time,
    )
