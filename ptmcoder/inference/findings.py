"""The Findings table: each code's share of units, naive beside corrected.

One row per (rater, code, group) of the stats stage's ``findings`` output (or of
``ptmcoder stats prevalence --json``): the annotator alone (naive), the humans alone
(classical, on the gold sample) and PPI++, each with its 95% interval and n, the
effective number of human codes, the census share when the study knows it, and a flag
when the naive interval excludes the corrected estimate: *annotation error changes this
conclusion* (the naive figure would be reported with a confidence it does not have).
The run summary and the report both render these rows.
"""

from __future__ import annotations

from typing import Any

#: the words of the flag
CHANGES = "annotation error changes this conclusion"


def findings_rows(findings: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of the Findings table from a ``findings`` output (empty when there is none).

    >>> est = {"code": "a", "n_gold": 100, "n_annotated": 470,
    ...        "naive": {"estimate": 0.9, "ci_low": 0.87, "ci_high": 0.93},
    ...        "classical": {"estimate": 0.63, "ci_low": 0.54, "ci_high": 0.73},
    ...        "ppi": {"estimate": 0.62, "ci_low": 0.53, "ci_high": 0.71}}
    >>> rows = findings_rows({"raters": {"m": {"estimates": [est]}}, "census": {"a": 0.65}})
    >>> rows[0]["flag"], rows[0]["census"]
    ('annotation error changes this conclusion', 0.65)
    """
    if not findings:
        return []
    census = findings.get("census") or {}
    rows = []
    for rater, result in (findings.get("raters") or {}).items():
        for est in result.get("estimates") or []:
            naive, ppi = est.get("naive") or {}, est.get("ppi") or {}
            flag = None
            point, low, high = ppi.get("estimate"), naive.get("ci_low"), naive.get("ci_high")
            if point is not None and low is not None and high is not None:
                if not float(low) <= float(point) <= float(high):
                    flag = CHANGES
            rows.append(
                {
                    "rater": rater,
                    "code": est.get("code"),
                    "group": est.get("group"),
                    "n_gold": est.get("n_gold"),
                    "n_annotated": est.get("n_annotated"),
                    "naive": naive,
                    "classical": est.get("classical") or {},
                    "ppi": ppi,
                    "effective_n": est.get("effective_n"),
                    "census": census.get(str(est.get("code"))),
                    "note": est.get("note"),
                    "flag": flag,
                }
            )
    return rows


__all__ = ["CHANGES", "findings_rows"]
