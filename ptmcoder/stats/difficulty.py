"""Difficulty of PTM-related questions against the rest (Tan et al. 2024, RQ2).

Three metrics, per group (PTM-related / PTM-unrelated) and per PTM tag (Table II):

- ``%no acc``: share of questions without an accepted answer, with the two-
  proportion chi-square test between the groups (:mod:`.proportion`), with and
  without Yates' correction;
- response time: ``accepted_answer_at - created_at`` in minutes over questions
  with an accepted answer: n, mean, median, quartiles and a log-binned histogram
  for the distribution chart (Tan's Fig. 2);
- ``PD = mean(answer_count) / mean(view_count)`` (Yang et al. 2016, Tan's [28]).

Runs as DuckDB aggregations over the Parquet file (see :mod:`.engine` for why),
so only a few dozen numbers ever reach Python whatever the corpus size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptmcoder.stats.engine import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PTM_RULE,
    PtmRule,
    check_columns,
    connect,
    tag_list_sql,
    units_relation_sql,
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

    def group(self, name: str) -> DifficultyRow:
        return next(g for g in self.groups if g.name == name)

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
            "figures": self.figures,
        }


_METRICS = """
    count(*) AS n,
    count(*) FILTER (WHERE NOT acc) AS no_acc,
    count(rt) AS n_rt,
    avg(rt) AS rt_mean,
    quantile_cont(rt, [0.25, 0.5, 0.75]) AS rt_q,
    avg(answer_count) AS mean_answers,
    avg(view_count) AS mean_views
"""


def _base_sql(path: Path, rule: PtmRule, since: str | None) -> str:
    return f"""
        SELECT {rule.sql()} AS ptm,
               (accepted_answer_id IS NOT NULL OR accepted_answer_at IS NOT NULL) AS acc,
               CASE WHEN accepted_answer_at >= created_at
                    THEN epoch_ms(accepted_answer_at - created_at) / 60000.0 END AS rt,
               (accepted_answer_at < created_at) AS rt_negative,
               (accepted_answer_id IS NOT NULL AND accepted_answer_at IS NULL) AS acc_no_time,
               answer_count, view_count,
               CASE WHEN ptm THEN tags END AS ptm_tags
        FROM {units_relation_sql(path, since=since)}"""


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
) -> DifficultyResult:
    """Tan et al.'s three difficulty metrics for PTM-related vs other units of ``path``.

    Per-tag rows cover ``tags`` when given, else the ``top_k`` most frequent tags
    among PTM-related units (restricted to the PTM tag list in tag mode).
    """
    con = connect(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)
    needed = [
        "created_at",
        "accepted_answer_id",
        "accepted_answer_at",
        "answer_count",
        "view_count",
        "tags",
    ] + ([rule.column] if rule.column else [])
    check_columns(con, path, needed)
    # One pass over the Parquet file into a narrow table (about 30 bytes a row; DuckDB
    # spills it past memory_limit); the queries below then never re-read the file.
    con.execute(f"CREATE TEMP TABLE d AS {_base_sql(path, rule, since)}")

    recs = con.execute(
        f"SELECT ptm, {_METRICS}, count(*) FILTER (WHERE rt_negative), "
        "count(*) FILTER (WHERE acc_no_time) FROM d GROUP BY ptm"
    ).fetchall()
    by = {bool(r[0]): r for r in recs}
    groups = [
        _row(label, by[flag][1:8])
        for flag, label in ((True, "ptm"), (False, "non-ptm"))
        if flag in by
    ]
    negative = sum(int(r[8]) for r in recs)
    no_time = sum(int(r[9]) for r in recs)

    wanted = tags or rule.tags
    tag_filter = f"list_contains({tag_list_sql(wanted)}, tag)" if wanted else "true"
    limit = "" if tags else f"LIMIT {int(top_k)}"
    tag_recs = con.execute(f"""
        SELECT tag, {_METRICS}
        FROM (SELECT unnest(ptm_tags) AS tag, * EXCLUDE (ptm_tags) FROM d WHERE ptm)
        WHERE {tag_filter} GROUP BY tag ORDER BY n DESC, tag {limit}""").fetchall()
    tag_rows = [_row(r[0], r[1:]) for r in tag_recs]

    tests: list[ProportionTestResult] = []
    if len(groups) == 2:
        a, b = groups
        for corr in (False, True):
            tests.append(
                two_proportion_test(
                    a.no_acc, a.n, b.no_acc, b.n, correction=corr, labels=("ptm", "non-ptm")
                )
            )

    hist_recs = con.execute(f"""
        SELECT ptm, floor(log10(greatest(rt, 1.0)) * {BINS_PER_DECADE}) AS b, count(*)
        FROM d WHERE rt IS NOT NULL GROUP BY ptm, b ORDER BY ptm, b""").fetchall()
    histogram: dict[str, list[tuple[float, float, int]]] = {}
    for flag, b, n in hist_recs:
        lo = 10 ** (b / BINS_PER_DECADE)
        hi = 10 ** ((b + 1) / BINS_PER_DECADE)
        histogram.setdefault("ptm" if flag else "non-ptm", []).append((lo, hi, int(n)))
    con.close()
    return DifficultyResult(
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
