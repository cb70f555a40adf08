"""The report's sections shaped for reading: stage outputs in, rows and sentences out.

Every value here is a field of a stage output (or a proportion and its interval from
two such fields); the templates only lay the rows out, so no dict or list reaches the
page as Python writes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: fewer shared units than this and a pair's kappa is flagged
SMALL_N = 10

#: what each reason of the review queue means (review.build)
REASONS = {
    "disagreement": "the raters (annotators, humans, gold) gave different codes",
    "low_agreement_code": "a code whose agreement over all raters is below the threshold",
    "low_confidence": "an annotator's confidence below the threshold",
    "audit": "a random sample of units nobody questioned, to estimate the error rate",
    "error": "a failed annotation record",
    "mapping": "a mapping suggestion to confirm",
}


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (Wilson 1927;
    Agresti & Coull 1998, eq. 2): ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.
    None when ``n`` is 0.

    >>> tuple(round(x, 4) for x in wilson(3, 10))
    (0.1078, 0.6032)
    """
    if n <= 0:
        return None, None
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n = {n}, got {k}")
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - level) / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def portable_path(path: Any, run_dir: Path) -> str:
    """A path as a shared report may show it: relative to the run directory when
    inside it, relative to the ptmcoder home (the directory holding ``runs/``) when
    inside that, else only the file name, never an absolute path."""
    if not path:
        return "–"
    p = Path(str(path))
    if not p.is_absolute():
        return p.as_posix()
    run_dir = Path(run_dir).resolve()
    for root in (run_dir, run_dir.parent.parent):
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
    return p.name


def review_section(
    review: dict[str, Any] | None, raters: list[str], humans: list[str], run_dir: Path
) -> dict[str, Any] | None:
    """The review stage's output as tables: items by reason and state, the audit
    estimate, the adjudicators and their agreement, each with a sentence when empty."""
    if review is None:
        return None
    status = review.get("status") or {}
    build = review.get("build") or {}
    states = ("pending", "skipped", "decided")
    by_state = status.get("by_state") or {}
    rows = []
    for reason, counts in (status.get("by_reason") or {}).items():
        row = {s: int(counts.get(s, 0)) for s in states}
        rows.append(
            {
                "reason": reason,
                "meaning": REASONS.get(reason, ""),
                **row,
                "total": sum(row.values()),
            }
        )
    total = {s: int(by_state.get(s, 0)) for s in states}
    audit = dict(status.get("audit") or {})
    sampled = int(audit.get("sampled") or 0)
    if audit.get("n"):
        audit["sentence"] = (
            f"{audit['errors']} error(s) in {audit['n']} decided audit item(s) of {sampled} sampled"
        )
    elif sampled:
        audit["sentence"] = f"{sampled} unit(s) sampled for the audit; none decided yet"
    else:
        audit["sentence"] = (
            "no audit sample: the audit draws from units that no reason put in the queue, "
            "and none was left"
        )
    agreement = status.get("adjudicator_agreement")
    if agreement:
        agreement = dict(agreement)
        agreement["adjudicators_text"] = ", ".join(agreement.get("adjudicators") or [])
    adjudicators = [
        {"name": k, "decisions": v} for k, v in (status.get("adjudicators") or {}).items()
    ]
    low_codes = [
        {"code": k, "kappa": v} for k, v in (build.get("low_agreement_codes") or {}).items()
    ]
    return {
        "queue": portable_path(status.get("queue") or build.get("queue"), run_dir),
        "run_id": status.get("run_id"),
        "raters": raters,
        "humans": humans,
        "n_items": status.get("items"),
        "by_state": total,
        "reasons": rows,
        "audit": audit,
        "adjudicators": adjudicators,
        "agreement": agreement,
        "conflicts": status.get("conflicts") or 0,
        "notes": list(status.get("notes") or []) + list(build.get("warnings") or []),
        "low_agreement_codes": low_codes,
    }


def share_table(dist: dict[str, Any], level: str) -> dict[str, Any]:
    """One rater's code distribution with one denominator: every code (special ones
    such as ``unclear`` included) as a share of the units with a successful record,
    with its Wilson 95% interval."""
    n = int(dist.get("n_records") or 0)
    rows = []
    for r, special in [(r, False) for r in dist["levels"].get(level, [])] + [
        (r, True) for r in dist.get("special") or []
    ]:
        units = int(r.get("units") or 0)
        low, high = wilson(units, n)
        rows.append(
            {
                "id": r["id"],
                "special": special,
                "units": units,
                "codings": r.get("challenges"),
                "share": units / n if n else None,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return {"n": n, "n_coded": dist.get("n_coded"), "rows": rows}


def pair_note(
    n: Any, value: Any, low: Any, high: Any, *, binary: bool = False, explained: bool = False
) -> str:
    """Why a reader should not take a pair's (or a code's) kappa at face value, or ''.
    ``explained``: the result already carries a note on why it is undefined."""
    if not n:
        return "" if explained else "no unit coded by both: nothing to compare"
    if value is None:
        return "" if explained else "kappa undefined: one answer only on every unit"
    notes = []
    if n < SMALL_N:
        notes.append(f"n = {n}: too few units for a stable kappa")
    if low is not None and high is not None and low == high:
        if value == 0:
            notes.append(
                "0 with a zero-width interval: one side never (or always) gives this code "
                "on these units, so kappa is 0 by construction, not a measured agreement"
                if binary
                else "0 with a zero-width interval: observed agreement equals chance "
                "agreement in every resample (too few units or codes to measure more)"
            )
        else:
            notes.append("zero-width interval: every resample gave the same value")
    return "; ".join(notes)


def annotate_pairs(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **p,
            "why": pair_note(
                p.get("n"),
                p.get("cohen_kappa"),
                p.get("cohen_kappa_ci_low"),
                p.get("cohen_kappa_ci_high"),
                explained=bool(p.get("note")),
            ),
        }
        for p in pairs
    ]


def annotate_per_code(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **r,
            "why": pair_note(
                r.get("n"), r.get("kappa"), r.get("ci_low"), r.get("ci_high"), binary=True
            ),
        }
        for r in rows
    ]


def human_ceiling(agree: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per annotator, humans vs humans on the same units (the same-unit view), where
    defined: the value and its interval."""
    out = {}
    for name, r in (((agree or {}).get("same_unit") or {}).get("summary") or {}).items():
        if r.get("humans_vs_humans") is not None:
            out[name] = {
                "value": r["humans_vs_humans"],
                "low": r.get("humans_vs_humans_ci_low"),
                "high": r.get("humans_vs_humans_ci_high"),
                "n": r.get("n"),
            }
    return out


def _statement(target: Any, delta: Any, accepted: int, reached: int, coverage: Any) -> str:
    if not accepted:
        return (
            f"no threshold guarantees agreement >= {target:g} with probability >= "
            f"{1 - delta:g}; nothing accepted"
        )
    return (
        f"agreement with humans >= {target:g} with probability >= {1 - delta:g} "
        f"at coverage {coverage:.3f} ({accepted} of {reached} units)"
    )


def routing_section(
    route: dict[str, Any] | None, audit: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """A cascade's accounting (``annotate/route/route.json``, :mod:`ptmcoder.pipeline.cascade`)
    as rows and sentences: per tier and overall, the guarantee at its coverage with the
    calibration n; each tier's calls, tokens and cost; the calls saved against coding
    every unit with the last machine tier; and the realized agreement on the audited
    accepted units (:func:`routing_audit`)."""
    if not route:
        return None
    target, delta = route["target"], route["delta"]
    tiers = []
    for t in route.get("tiers") or []:
        reached = int(t.get("reached") or 0)
        if not reached:
            tiers.append({**t, "statement": t.get("note") or "not reached", "asked": False})
            continue
        n_cal, k_acc = int(t["n_calibration"]), int(t["calibration_accepted"])
        tiers.append(
            {
                **t,
                "asked": True,
                "coverage_all": t["accepted"] / route["overall"]["units"]
                if route["overall"]["units"]
                else None,
                "observed": t["calibration_agreeing"] / k_acc if k_acc else None,
                "calibration": f"n={n_cal}; {t['calibration_agreeing']} of {k_acc} accepted agree",
                "statement": _statement(target, t["delta"], t["accepted"], reached, t["coverage"]),
            }
        )
    overall = dict(route["overall"])
    overall["statement"] = _statement(
        target, delta, overall["accepted"], overall["units"], overall["coverage"]
    )
    k_acc = int(overall["calibration_accepted"])
    overall["calibration"] = (
        f"n={overall['n_calibration']}; {overall['calibration_agreeing']} of {k_acc} accepted agree"
    )
    saved = route.get("saved")
    if saved:
        cost = saved.get("cost_saved_usd")
        saved = {
            **saved,
            "sentence": f"the cascade asked {saved['tier']} for {saved['calls']} of "
            f"{saved['all_units']} units: {saved['saved']} of {saved['all_units']} calls saved "
            f"against coding every unit with it"
            + (f" (about ${cost:.4f} at its mean cost per call)" if cost is not None else ""),
        }
    cal = route.get("calibration") or {}
    return {
        "target": target,
        "delta": delta,
        "delta_per_tier": route.get("delta_per_tier"),
        "method": route.get("method"),
        "calibration": f"{cal.get('file')} ({cal.get('source')}"
        + (f", rater {cal['rater']}" if cal.get("rater") else "")
        + f"; {cal.get('units')} units with human codes)",
        "tiers": tiers,
        "overall": overall,
        "saved": saved,
        "audit": routing_audit(audit),
        "decision": route.get("decision"),
    }


def routing_audit(audit: dict[str, Any] | None) -> dict[str, Any]:
    """The realized agreement on the audited accepted units
    (:func:`ptmcoder.pipeline.rundir.route_audit`) with a sentence, also when none
    has been decided."""
    audit = dict(audit or {})
    n, sampled = int(audit.get("n") or 0), int(audit.get("sampled") or 0)
    if n:
        audit["sentence"] = (
            f"{audit['agreeing']} of {n} decided audit item(s) agree with the accepted codes "
            f"({sampled} sampled)"
        )
    elif sampled:
        audit["sentence"] = f"no audited unit decided yet ({sampled} accepted units sampled)"
    else:
        audit["sentence"] = "no audited unit decided yet (no accepted unit sampled)"
    return audit
