"""A cascade of annotators with a guarantee: the study file's ``[route]``.

The annotate stage codes the tiers in order (:func:`run_cascade`):

1. the first tier codes every unit of the study;
2. its records are routed (:func:`ptmcoder.review.routing.route_units`, what ``ptmcoder
   route`` decides for a run): Learn-then-Test on the calibration units chooses the
   lowest confidence threshold whose accepted units agree with the humans at
   ``>= target``, tested at ``delta / k`` for the ``k`` tiers;
3. the next tier codes **only** the units the tier before escalated (a corpus
   ``<corpus>-route-<tier>`` holding just them: an LLM tier makes no call for a unit an
   earlier tier accepted), calibration units among them included: its threshold is
   chosen, the same way, on its own records of the calibration units that reached it
   (the guarantee of a tier is about the units that reach it, so it needs those, and
   only those);
4. what the last tier escalates goes to people: the review stage builds its queue from
   it and an audit sample of the accepted units (``review build --route``).

With probability ``>= 1 - delta`` every tier's guarantee holds at once (Bonferroni over
the tiers), so the accepted units together agree at ``>= target``. A later tier's
calibration units are those the earlier tiers escalated, with thresholds chosen on the
same units; as in Jung et al.'s cascaded selective evaluation ("Trust or Escalate", ICLR
2025) the later tier's test takes them as a sample of the units that reach it.

Outputs, in ``annotate/route/`` (the annotation records are not touched):
``<tier>.json`` (each tier's decision, as ``ptmcoder route`` writes it, read by
:func:`ptmcoder.review.routing.read_route`), ``cascade.json`` (the cascade as one
decision, which the review stage queues from) and ``route.json`` (unit -> tier,
threshold, confidence, codes for every accepted unit; the per-tier accounting: read by
:func:`ptmcoder.pipeline.rundir.read_cascade`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ptmcoder.errors import ConfigError
from ptmcoder.files import write_json
from ptmcoder.pipeline.config import RaterConfig, StudyConfig
from ptmcoder.pipeline.rundir import CASCADE_FILE, ROUTE_FILE, route_dir
from ptmcoder.review.routing import (
    RouteDecision,
    UnitCodes,
    gold_codes,
    route_path,
    route_units,
    unit_codes_from_records,
    write_route,
)
from ptmcoder.runs import RaterSource, Run, rater_usage

#: codes one tier: (rater, corpus to code, that corpus's fingerprint, cascade settings)
CodeTier = Callable[[RaterConfig, str, str, dict[str, Any]], dict[str, Any]]


def calibration_file(config: StudyConfig, resolve: Callable[[str], Path], out: Path) -> Path:
    """The calibration units' human codes as a file ``gold_codes`` reads: the configured
    file, or (``[agree] gold_rater``) its rows of that rater written to ``out``."""
    where = config.calibration_gold()
    if not where["file"]:
        raise ConfigError("route: no calibration gold", hint="set route.gold or agree.gold")
    path = resolve(where["file"])
    if not where["rater"]:
        return path
    from ptmcoder.tables import read_long_table

    raw = read_long_table(path, required=("unit", "rater", "code"))
    rows = raw[raw["rater"] == where["rater"]]
    if rows.empty:
        raise ConfigError(f"{where['file']}: no rows of gold_rater {where['rater']!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False)
    return out


def subset_corpus(corpus: str, units: list[str], name: str) -> str:
    """Save the units ``units`` of ``corpus`` (in the corpus's order) as corpus ``name``
    (replaced), the one a later tier codes; returns its name."""
    from ptmcoder.corpus.store import load_corpus, save_corpus

    frame = load_corpus(corpus)
    keep = set(units)
    part = frame[frame["id"].astype(str).isin(keep)]
    save_corpus(part, name, {"from": corpus, "cascade": name}, replace=True)
    return name


def _tier_records(store: Path, annotator: str) -> list[dict[str, Any]]:
    return [r for r in Run(store).records() if r.get("annotator") == annotator]


def run_cascade(
    config: StudyConfig,
    out_dir: Path,
    corpus: str,
    fingerprint: str,
    calibration: Path,
    code: CodeTier,
) -> dict[str, Any]:
    """Code and route the tiers of ``config.route`` in order (module doc): ``code``
    codes one tier (the annotate stage's adapter, on the corpus given); returns the
    cascade's summary (also written to ``annotate/route/route.json``)."""
    from ptmcoder.annotate.runner import corpus_fingerprint
    from ptmcoder.corpus.units import load_units

    route = config.route
    assert route is not None
    raters = {r.name: r for r in config.annotate.raters}
    k = len(route.tiers)
    delta_tier = route.delta / k
    gold = gold_codes(calibration, config.annotate.codebook)
    folder = route_dir(out_dir)
    decisions: list[RouteDecision] = []
    coded: dict[str, dict[str, UnitCodes]] = {}
    tiers: list[dict[str, Any]] = []
    reaching, tier_corpus, tier_fp = None, corpus, fingerprint
    for i, name in enumerate(route.tiers):
        rater = raters[name]
        if i > 0:
            reaching = decisions[-1].escalated
            if not reaching:
                tiers.append(_unreached(rater, i))
                continue
            tier_corpus = subset_corpus(corpus, reaching, f"{corpus}-route-{name}")
            tier_fp = corpus_fingerprint(load_units(tier_corpus).to_dict("records"))
        session = code(rater, tier_corpus, tier_fp, {"tier": i, "units": tier_fp})
        if session.get("interrupted"):
            raise KeyboardInterrupt
        store = out_dir / name
        coded[name] = unit_codes_from_records(_tier_records(store, rater.annotator))
        decision = route_units(
            coded[name],
            gold,
            target=route.target,
            delta=delta_tier,
            method=route.method,
            per_code=False,
            rater=name,
            source=f"{out_dir.parent.name}/annotate/{name}",
            min_n=route.min_n,
        )
        write_route(decision, route_path(out_dir, name))
        decisions.append(decision)
        usage = rater_usage(RaterSource(name, Run(store), rater.annotator))
        tiers.append(_tier_summary(decision, usage, i, session))
    whole = cascade_decision(decisions, delta=route.delta)
    write_route(whole, folder / CASCADE_FILE)
    summary = _summary(config, decisions, whole, tiers, coded, len(gold))
    write_json(folder / ROUTE_FILE, summary)
    from ptmcoder.report.sections import routing_section

    # the report's Routing section, as shaped when the cascade ran (no audit decided)
    return {**summary, "section": routing_section(summary)}


def _unreached(rater: RaterConfig, index: int) -> dict[str, Any]:
    return {
        "tier": rater.name,
        "index": index,
        "annotator": rater.annotator,
        "reached": 0,
        "note": "the tier before escalated no unit: not asked",
    }


def _tier_summary(
    decision: RouteDecision, usage: dict[str, Any], index: int, session: dict[str, Any]
) -> dict[str, Any]:
    chosen = next(
        (t for t in decision.tests if t["threshold"] == decision.threshold and decision.threshold),
        None,
    )
    return {
        "tier": decision.rater,
        "index": index,
        "annotator": usage["annotator"],
        "model": usage.get("model"),
        "reached": decision.n_units,
        "threshold": decision.threshold,
        "target": decision.target,
        "delta": decision.delta,
        "method": decision.method,
        "accepted": len(decision.accepted),
        "escalated": len(decision.escalated),
        "coverage": decision.coverage,
        "n_calibration": decision.n_calibration,
        "calibration_accepted": decision.calibration_accepted,
        "calibration_agreeing": decision.calibration_agreeing,
        #: the chosen threshold's own lower bound at 1 - delta (None: none chosen)
        "bound": chosen["guaranteed"] if chosen else None,
        "guarantee": decision.guarantee,
        "records": usage["records"],
        "cached_records": usage["cached_records"],
        "errors": usage["errors"],
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cost_usd": usage["cost_usd"],
        "calls_this_session": session.get("calls", 0),
        "notes": decision.notes,
    }


def _summary(
    config: StudyConfig,
    decisions: list[RouteDecision],
    whole: RouteDecision,
    tiers: list[dict[str, Any]],
    coded: dict[str, dict[str, UnitCodes]],
    n_gold: int,
) -> dict[str, Any]:
    route = config.route
    assert route is not None
    accepted: dict[str, dict[str, Any]] = {}
    for d in decisions:
        for u in d.accepted:
            unit = coded[d.rater][u]
            accepted[u] = {
                "tier": d.rater,
                "threshold": d.threshold,
                "confidence": unit.confidence,
                "codes": sorted(unit.codes),
                "guarantee": f"agreement >= {d.target:g} with probability >= {1 - d.delta:g}",
            }
    asked = [t for t in tiers if t.get("reached")]
    last = asked[-1] if asked else None
    n_units = whole.n_units
    saved = None
    if last is not None:
        calls = int(last["records"])
        per_call = (last["cost_usd"] / calls) if last.get("cost_usd") and calls else None
        saved = {
            "tier": last["tier"],
            "all_units": n_units,
            "calls": calls,
            "saved": n_units - calls,
            "saved_share": (n_units - calls) / n_units if n_units else None,
            "cost_saved_usd": per_call * (n_units - calls) if per_call is not None else None,
        }
    where = config.calibration_gold()
    return {
        "target": route.target,
        "delta": route.delta,
        "delta_per_tier": route.delta / len(route.tiers),
        "method": route.method,
        "calibration": {**where, "units": n_gold},
        "tiers": tiers,
        "overall": {
            "accepted": len(whole.accepted),
            "escalated": len(whole.escalated),
            "units": n_units,
            "coverage": whole.coverage,
            "n_calibration": whole.n_calibration,
            "calibration_accepted": whole.calibration_accepted,
            "calibration_agreeing": whole.calibration_agreeing,
            "guarantee": whole.guarantee,
            "records": sum(int(t.get("records") or 0) for t in asked),
            "cost_usd": _total(t.get("cost_usd") for t in asked),
        },
        "saved": saved,
        "accepted_units": dict(sorted(accepted.items())),
        "escalated_units": whole.escalated,
        "decision": f"{route_dir(Path('annotate')).as_posix()}/{CASCADE_FILE}",
    }


def _total(values: Any) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known), 6) if known else None


def cascade_decision(tiers: Sequence[RouteDecision], *, delta: float) -> RouteDecision:
    """The routing of a cascade as one decision (what ``review build --route`` reads):
    a unit is accepted when a tier accepted it, escalated when the last tier it reached
    escalated it. Each tier was tested at ``delta / len(tiers)`` on the calibration
    units that reached it, so with probability ``>= 1 - delta`` every tier's accepted
    units agree at ``>= target`` at once (Bonferroni), and hence so do all accepted
    units together: the guarantee stated is the overall one, at ``delta``.

    >>> a = RouteDecision(0.9, 0.05, "binomial", "a", "r", "overall", 0.8, {}, None, 0.5,
    ...     4, 4, 2, 2, ["u1", "u2"], ["u3", "u4"], {"u3": "x", "u4": "y"}, [], {})
    >>> b = RouteDecision(0.9, 0.05, "binomial", "b", "r", "overall", 0.7, {}, None, 0.5,
    ...     2, 2, 1, 1, ["u3"], ["u4"], {"u4": "z"}, [], {})
    >>> c = cascade_decision([a, b], delta=0.1)
    >>> c.accepted, c.escalated, c.why_escalated, c.thresholds, c.coverage
    (['u1', 'u2', 'u3'], ['u4'], {'u4': 'b: z'}, {'a': 0.8, 'b': 0.7}, 0.75)
    """
    if not tiers:
        raise ValueError("a cascade needs at least one tier")
    first = tiers[0]
    accepted = sorted(u for t in tiers for u in t.accepted)
    reached_last: dict[str, str] = {}
    for t in tiers:  # the last tier a unit reached says why it was escalated
        for u in t.escalated:
            reached_last[u] = f"{t.rater}: {t.why_escalated.get(u, 'escalated')}"
        for u in t.accepted:
            reached_last.pop(u, None)
    escalated = sorted(reached_last)
    n_units = first.n_units
    notes = [f"tier {t.rater}: {n}" for t in tiers for n in t.notes]
    return RouteDecision(
        target=first.target,
        delta=delta,
        method=first.method,
        rater=" > ".join(t.rater for t in tiers),
        source=first.source,
        mode="cascade",
        threshold=None,
        thresholds={t.rater: t.threshold for t in tiers},
        delta_per_code=None,
        coverage=len(accepted) / n_units if n_units else 0.0,
        n_units=n_units,
        n_calibration=first.n_calibration,
        calibration_accepted=sum(t.calibration_accepted for t in tiers),
        calibration_agreeing=sum(t.calibration_agreeing for t in tiers),
        accepted=accepted,
        escalated=escalated,
        why_escalated=reached_last,
        tests=[{"tier": t.rater, **row} for t in tiers for row in t.tests],
        per_code={},
        notes=notes,
    )
