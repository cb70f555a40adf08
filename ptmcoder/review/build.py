"""Filling a run's review queue: which units (and crosswalk suggestions) a person
should look at, and why.

Each item carries every reason that applies, with its size:

- ``annotator_error``: an annotator's record is an error row (API, malformed answer...);
- ``possible_injection``: a record's ``flags`` holds a prompt-injection flag;
- ``disagreement``: the raters (human coders and annotators) gave different code
  sets; ``size`` = 1 - share of raters in the largest group of identical sets;
- ``low_confidence``: an annotator's confidence in a code it assigned is below
  ``confidence_below``;
- ``low_agreement_code``: the unit carries a code whose per-code agreement (binary
  Fleiss' kappa over all raters, :mod:`ptmcoder.agreement`) is below
  ``agreement_below``;
- ``mapping``: a crosswalk suggestion (subject, predicate, object of a mapping set);
- ``audit``: a seeded random sample of the units nobody questions (every rater
  agreed, no other reason), so that the error rate of what nobody reviews is
  estimated (``review status``) rather than assumed to be zero.

With a routing decision (``ptmcoder route``, :mod:`ptmcoder.review.routing`;
``BuildOptions.route``) the queue holds only the units the routing escalated (reason
``escalated``, with the threshold and the guarantee in its detail, plus any other reason
that applies) and the audit sample, drawn from the units it accepted (stratum
``accepted``): the audit is what makes a failed guarantee visible.

Items are ordered by priority (errors and injections first, then disagreements by
size, low confidence, low-agreement codes, mappings, the audit sample). A rebuild
adds the items and reasons that are new and keeps every decision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ptmcoder.errors import ConfigError, InputRecordError, NotFoundError, PtmcoderError
from ptmcoder.review.store import Item, ReviewStore, open_store, queue_path
from ptmcoder.runs import Run, resolve_run, utcnow


class Reason(StrEnum):
    ANNOTATOR_ERROR = "annotator_error"
    POSSIBLE_INJECTION = "possible_injection"
    DISAGREEMENT = "disagreement"
    LOW_CONFIDENCE = "low_confidence"
    LOW_AGREEMENT_CODE = "low_agreement_code"
    ESCALATED = "escalated"
    MAPPING = "mapping"
    AUDIT = "audit"


#: base priority of each reason; the item's priority is its highest reason's
#: base plus that reason's size (0..1), so larger disagreements come first
PRIORITY: dict[Reason, float] = {
    Reason.ANNOTATOR_ERROR: 60.0,
    Reason.POSSIBLE_INJECTION: 50.0,
    Reason.DISAGREEMENT: 40.0,
    Reason.ESCALATED: 35.0,
    Reason.LOW_CONFIDENCE: 30.0,
    Reason.LOW_AGREEMENT_CODE: 20.0,
    Reason.MAPPING: 15.0,
    Reason.AUDIT: 10.0,
}

GOLD_RATER = "gold"
#: reasons that queue a unit even when a routing accepted it
SAFETY = (Reason.ANNOTATOR_ERROR.value, Reason.POSSIBLE_INJECTION.value)


class BuildOptions(BaseModel):
    """What ``review build`` queues; see the module doc for the reasons."""

    model_config = ConfigDict(extra="forbid")

    #: adjudicated labels (unit,code or a long table), shown as rater ``gold``
    gold: str | None = None
    #: human codes, a long table unit (or unit_id), rater, code
    humans: str | None = None
    #: queue only these reasons (None: all)
    reasons: list[Reason] | None = None
    audit_size: int = Field(default=20, ge=0)
    seed: int = 13
    confidence_below: float = Field(default=0.5, ge=0.0, le=1.0)
    agreement_below: float = 0.4
    #: a routing decision (a ``route/<rater>.json`` file, a run directory holding one,
    #: or "" for the run's own): queue only the units it escalated (and accepted ones
    #: with an error or a possible injection), and audit the ones it accepted
    route: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["route"] is None:  # the options a queue built without routing recorded
            del data["route"]
        return data


@dataclass
class BuildResult:
    path: Path
    run_id: str
    added: int
    updated: int
    items: int
    by_reason: dict[str, int] = field(default_factory=dict)
    units: int = 0
    low_agreement_codes: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: with a routing decision: its file, guarantee, accepted and escalated counts
    routing: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        extra = {"routing": self.routing} if self.routing is not None else {}
        return {
            "queue": str(self.path),
            "run_id": self.run_id,
            "units": self.units,
            "added": self.added,
            "updated": self.updated,
            "items": self.items,
            "by_reason": self.by_reason,
            "low_agreement_codes": self.low_agreement_codes,
            "warnings": self.warnings,
        } | extra


# -- inputs ------------------------------------------------------------------------


def run_records(run: Run) -> list[dict[str, Any]]:
    """Every rater's annotation records as dicts, each under its rater's name (a
    study's rater, or the annotator of an annotate run): the one place this package
    reads them, through the project's one reader (validated; a torn last line left
    out)."""
    from ptmcoder.annotate.records import read_annotations

    out = []
    for rater in run.raters():
        if rater.store is run:  # an annotate run: every record is its own rater's
            return [r.model_dump(mode="json") for r in read_annotations(run.path).records]
        for r in read_annotations(rater.store.path).records:
            out.append({**r.model_dump(mode="json"), "annotator": rater.name})
    return out


def read_humans(path: str | Path) -> pd.DataFrame:
    """Human codes as ``unit, rater, code`` from a long table (the one reader,
    :func:`ptmcoder.tables.read_long_table`; an empty code: the rater saw the unit and
    gave no code)."""
    from ptmcoder.tables import read_long_table

    table = read_long_table(
        path, hint="a human label table needs columns unit (or unit_id), rater, code"
    )
    return table[["unit", "rater", "code"]]


def _codes_by_rater(df: pd.DataFrame) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for unit, rater, code in df[["unit", "rater", "code"]].itertuples(index=False):
        codes = out.setdefault(str(unit), {}).setdefault(str(rater), set())
        if isinstance(code, str) and code.strip():
            codes.add(code.strip())
    return out


def _units_text(corpus_ref: str | None, ids: set[str], warnings: list[str]) -> dict[str, dict]:
    if not corpus_ref:
        warnings.append("the run's manifest names no corpus; items show no unit text")
        return {}
    from ptmcoder.corpus.units import load_units

    try:
        frame = load_units(corpus_ref)
    except PtmcoderError as exc:
        warnings.append(f"corpus {corpus_ref!r} not readable ({exc.message}); no unit text")
        return {}
    frame = frame[frame["id"].isin(ids)]
    out: dict[str, dict] = {}
    for row in frame.to_dict("records"):
        tags = row.get("tags")
        if tags is None or (isinstance(tags, float) and np.isnan(tags)):
            tags = []
        out[str(row["id"])] = {
            "title": row.get("title") or "",
            "body": row.get("body") or "",
            "url": row.get("url") or "",
            "tags": [str(t) for t in list(tags)],
        }
    return out


def _is_injection_flag(flag: Any) -> bool:
    text = (
        flag
        if isinstance(flag, str)
        else str(flag.get("type", ""))
        if isinstance(flag, dict)
        else ""
    )
    return "injection" in text.lower()


# -- the build ---------------------------------------------------------------------


def _proposal(raters: list[dict[str, Any]]) -> tuple[list[str], str]:
    """What ``accept`` accepts: the gold codes if given, else the largest group of
    identical code sets (ties: the first annotator's set)."""
    for r in raters:
        if r["kind"] == GOLD_RATER:
            return r["codes"], "gold"
    sets = [tuple(r["codes"]) for r in raters if r["kind"] != GOLD_RATER and not r.get("error")]
    if not sets:
        return [], "none"
    counts = Counter(sets)
    top = max(counts.values())
    best = [s for s in sets if counts[s] == top]
    source = "consensus" if len(counts) == 1 else "majority" if len(best) == top else "tie"
    return list(best[0]), source


def _require_shared(
    run: Run, run_ref: str, run_units: set[str], labels: pd.DataFrame, source: str
) -> None:
    """Refuse labels that share no unit with the run (the wrong run, often ``latest``):
    a queue built from them would hold the annotators' codes only, silently."""
    units = set(labels["unit"].dropna().astype(str))
    if units and not units & run_units:
        named = f"run {run.id}" + (f" ({run_ref})" if run_ref != run.id else "")
        raise ConfigError(
            f"{named} shares no unit with {source}: the run coded {len(run_units)} unit(s), "
            f"the file labels {len(units)}, none in common",
            hint="is this the run you meant? `ptmcoder runs list` shows the runs; give its id",
        )


def build_queue(run_ref: str, options: BuildOptions | None = None) -> BuildResult:
    """Fill (or refill) the review queue of run ``run_ref``; see the module doc."""
    options = options or BuildOptions()
    wanted = set(options.reasons or list(Reason))
    run = resolve_run(run_ref)
    decision = None
    if options.route is not None:
        from ptmcoder.review.routing import read_route

        decision = read_route(options.route or run.path)
        wanted.add(Reason.ESCALATED)
    config = run.coding_manifest().config.model_dump(mode="json")
    records = run_records(run)
    if not records:
        raise NotFoundError(
            f"run {run.id} has no annotation records", hint="annotate first: ptmcoder annotate"
        )
    warnings: list[str] = []

    per_unit: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        unit = str(rec["unit_id"])
        codes = [c for c in rec.get("codes") or [] if isinstance(c, dict)]
        per_unit.setdefault(unit, []).append(
            {
                "name": rec.get("annotator", "?"),
                "kind": "annotator",
                "codes": sorted({c["code"] for c in codes}),
                "details": [
                    {
                        "code": c["code"],
                        "confidence": c.get("confidence"),
                        "rationale": c.get("rationale"),
                        "evidence": c.get("evidence"),
                        "evidence_found": c.get("evidence_found"),
                    }
                    for c in codes
                ],
                "error": rec.get("error_type"),
                "error_message": rec.get("error"),
                "flags": list(rec.get("flags") or []),
                "model": rec.get("model"),
            }
        )
    run_units = set(per_unit)
    humans_long = None
    if options.humans:
        humans_long = read_humans(options.humans)
        _require_shared(run, run_ref, run_units, humans_long, options.humans)
        humans_long = humans_long[humans_long["unit"].isin(run_units)]
        for unit, by_rater in _codes_by_rater(humans_long).items():
            for rater, coded in sorted(by_rater.items()):
                per_unit[unit].append({"name": rater, "kind": "human", "codes": sorted(coded)})
    if options.gold:
        from ptmcoder.agreement.io import read_gold

        gold = read_gold(options.gold)
        _require_shared(run, run_ref, run_units, gold, options.gold)
        gold = gold[gold["unit"].isin(run_units)]
        for unit, by_rater in _codes_by_rater(gold).items():
            per_unit[unit].append(
                {"name": GOLD_RATER, "kind": GOLD_RATER, "codes": sorted(by_rater[GOLD_RATER])}
            )

    # per-code agreement over every rater (humans and annotators, not gold)
    low_codes: dict[str, float | None] = {}
    low_codes_n: dict[str, int | None] = {}
    if Reason.LOW_AGREEMENT_CODE in wanted:
        rows = [
            (unit, r["name"], code)
            for unit, raters in per_unit.items()
            for r in raters
            if r["kind"] != GOLD_RATER and not r.get("error")
            for code in (r["codes"] or [None])
        ]
        long = pd.DataFrame(rows, columns=["unit", "rater", "code"]).astype("string")
        if long["rater"].nunique() >= 2:
            from ptmcoder.agreement import agreement

            try:
                coef = agreement(long, metrics=["per_code_kappa"], n_boot=0)["per_code_kappa"]
                for code, value in (coef.extra.get("codes") or {}).items():
                    v = value.get("value")
                    if v is not None and v < options.agreement_below:
                        low_codes[code] = v
                        low_codes_n[code] = value.get("n")
            except PtmcoderError as exc:
                warnings.append(f"per-code agreement not computed: {exc.message}")

    accepted_units: set[str] = set()
    if decision is not None:
        accepted_units = set(decision.accepted) & run_units
        outside = len(run_units - set(decision.accepted) - set(decision.escalated))
        if not accepted_units and not set(decision.escalated) & run_units:
            raise ConfigError(
                f"the routing decision ({decision.source}, rater {decision.rater}) names "
                f"none of run {run.id}'s {len(run_units)} units",
                hint="route this run: ptmcoder route RUN --gold FILE",
            )
        if outside:
            warnings.append(f"{outside} unit(s) the routing decision does not name: escalated")
    texts = _units_text(config.get("corpus"), run_units, warnings)
    codebook_id = config.get("codebook_id") or config.get("codebook")
    new_items: list[Item] = []
    unquestioned: list[str] = []
    for unit in sorted(per_unit):
        raters = per_unit[unit]
        reasons: list[dict[str, Any]] = []
        errors = [r for r in raters if r.get("error")]
        if errors:
            reasons.append(
                {
                    "reason": Reason.ANNOTATOR_ERROR.value,
                    "size": 1.0,
                    "detail": ", ".join(f"{r['name']}: {r['error']}" for r in errors),
                }
            )
        flagged = [r for r in raters if any(_is_injection_flag(f) for f in r.get("flags", []))]
        if flagged:
            reasons.append(
                {
                    "reason": Reason.POSSIBLE_INJECTION.value,
                    "size": 1.0,
                    "detail": ", ".join(r["name"] for r in flagged),
                }
            )
        voting = [r for r in raters if r["kind"] != GOLD_RATER and not r.get("error")]
        sets = Counter(tuple(r["codes"]) for r in voting)
        if len(sets) > 1:
            size = 1.0 - max(sets.values()) / len(voting)
            reasons.append(
                {
                    "reason": Reason.DISAGREEMENT.value,
                    "size": round(size, 4),
                    "detail": f"{len(sets)} different code sets among {len(voting)} raters",
                }
            )
        low = [
            (r["name"], d["code"], d["confidence"])
            for r in voting
            for d in r.get("details", [])
            if d.get("confidence") is not None and d["confidence"] < options.confidence_below
        ]
        if low:
            lowest = min(c for _, _, c in low)
            reasons.append(
                {
                    "reason": Reason.LOW_CONFIDENCE.value,
                    "size": round(1.0 - lowest, 4),
                    "detail": ", ".join(f"{n} {code} {c:.2f}" for n, code, c in low),
                }
            )
        in_play = sorted({c for r in voting for c in r["codes"]} & set(low_codes))
        if in_play:
            reasons.append(
                {
                    "reason": Reason.LOW_AGREEMENT_CODE.value,
                    "size": round(1.0 - max(0.0, min(low_codes[c] or 0.0 for c in in_play)), 4),
                    "detail": ", ".join(
                        f"{c} kappa {low_codes[c]:.2f} (n={low_codes_n[c]} units)" for c in in_play
                    ),
                }
            )
        if decision is not None and unit in accepted_units:
            if not errors and not flagged:
                unquestioned.append(unit)  # the audit's pool: the accepted units
                continue
            # accepted, yet an error or a possible injection: queued for that alone
            reasons = [r for r in reasons if r["reason"] in SAFETY]
        elif decision is not None:
            reasons.insert(0, _escalated_reason(decision, unit))
        reasons = [r for r in reasons if r["reason"] in wanted]
        if not reasons:
            if len(sets) <= 1 and not errors and not flagged:
                unquestioned.append(unit)
            continue
        new_items.append(_unit_item(unit, raters, reasons, texts.get(unit), codebook_id))

    path = queue_path(run)
    with open_store(path) as store:
        if Reason.AUDIT in wanted and options.audit_size:
            new_items.extend(
                _audit_items(store, unquestioned, per_unit, texts, codebook_id, options)
                if decision is None
                else _audit_items(
                    store,
                    unquestioned,
                    per_unit,
                    texts,
                    codebook_id,
                    options,
                    stratum="accepted",
                    what=f"units the routing accepted ({decision.guarantee})",
                )  # fmt: skip
            )
        added, updated = store.upsert_items(new_items, now=utcnow(), options=options.as_dict())
        items = store.items()
    by_reason: Counter[str] = Counter()
    for item in items:
        by_reason.update(item.reason_names)
    return BuildResult(
        path=path,
        run_id=run.id,
        added=added,
        updated=updated,
        items=len(items),
        by_reason=dict(sorted(by_reason.items())),
        units=len(per_unit),
        low_agreement_codes=low_codes,
        warnings=warnings,
        routing=None
        if decision is None
        else {
            "rater": decision.rater,
            "mode": decision.mode,
            "threshold": decision.threshold,
            "thresholds": decision.thresholds,
            "guarantee": decision.guarantee,
            "accepted": len(accepted_units),
            "escalated": len(run_units - accepted_units),
        },
    )


def _escalated_reason(decision: Any, unit: str) -> dict[str, Any]:
    """The ``escalated`` reason of a unit the routing did not accept: why, and the
    tier's threshold and guarantee."""
    why = decision.why_escalated.get(unit, "not in the routing decision")
    return {
        "reason": Reason.ESCALATED.value,
        "size": 0.0,
        "detail": f"{decision.rater}: {why}; accepted units: {decision.guarantee}",
        "tier": decision.rater,
        "threshold": decision.threshold if decision.mode == "overall" else decision.thresholds,
        "target": decision.target,
        "delta": decision.delta,
    }


def _priority(reasons: list[dict[str, Any]]) -> float:
    return max(PRIORITY[Reason(r["reason"])] + float(r.get("size") or 0.0) for r in reasons)


def _unit_item(
    unit: str,
    raters: list[dict[str, Any]],
    reasons: list[dict[str, Any]],
    text: dict | None,
    codebook_id: str | None,
) -> Item:
    proposal, source = _proposal(raters)
    detail = {
        "unit": text or {"title": "", "body": "", "url": "", "tags": []},
        "unit_text_found": text is not None,
        "raters": raters,
        "proposal": proposal,
        "proposal_source": source,
        "codebook": codebook_id,
    }
    return Item(
        id=0,
        key=f"unit:{unit}",
        kind="unit",
        unit_id=unit,
        priority=_priority(reasons),
        reasons=reasons,
        detail=detail,
    )


def _audit_items(
    store: ReviewStore,
    unquestioned: list[str],
    per_unit: dict[str, list[dict[str, Any]]],
    texts: dict[str, dict],
    codebook_id: str | None,
    options: BuildOptions,
    *,
    stratum: str = "unquestioned",
    what: str = "units where every rater agreed",
) -> list[Item]:
    """A seeded random sample of ``audit_size`` units of the pool ``unquestioned`` (the
    units nobody questions, or the ones a routing accepted). The order is a fixed
    permutation of the sorted unit ids, so a rebuild keeps the units already sampled
    and only tops the sample up."""
    existing = store.items()
    queued = {i.unit_id for i in existing if i.kind == "unit"}
    have = sum(1 for i in existing if Reason.AUDIT.value in i.reason_names)
    need = options.audit_size - have
    if need <= 0:
        return []
    pool = sorted(u for u in unquestioned if u not in queued)
    order = np.random.default_rng(options.seed).permutation(len(pool))
    chosen = [pool[i] for i in order[:need]]
    # each of the pool's units had the same chance of this draw: its inclusion
    # probability, exported with the gold (a design-weighted estimate reads it)
    probability = len(chosen) / len(pool) if pool else None
    items = []
    for unit in chosen:
        reasons = [
            {
                "reason": Reason.AUDIT.value,
                "size": 0.0,
                "detail": f"random audit sample (seed {options.seed}) of "
                f"{len(unquestioned)} {what}",
                "inclusion_probability": probability,
                "population": len(pool),
                "stratum": stratum,
            }
        ]
        items.append(_unit_item(unit, per_unit[unit], reasons, texts.get(unit), codebook_id))
    return items


def add_mapping_items(
    run_ref: str, suggestions: list[dict[str, Any]], *, mapping_set: str | Path
) -> tuple[int, int]:
    """Queue crosswalk suggestions of ``mapping_set`` (dicts with subject_id,
    object_id, predicate and optionally confidence, subject_label, object_label,
    subject_source, object_source, justification) as mapping items."""
    run = resolve_run(run_ref)
    items = []
    for s in suggestions:
        missing = [k for k in ("subject_id", "object_id", "predicate") if not s.get(k)]
        if missing:
            raise InputRecordError(
                str(mapping_set), f"suggestion {s!r}"[:80], missing[0], "missing value"
            )
        confidence = s.get("confidence")
        size = float(confidence) if confidence not in (None, "") else 0.0
        key = f"mapping:{mapping_set}:{s['subject_id']}:{s['object_id']}"
        items.append(
            Item(
                id=0,
                key=key,
                kind="mapping",
                unit_id=None,
                priority=PRIORITY[Reason.MAPPING] + (1.0 - size),
                reasons=[
                    {
                        "reason": Reason.MAPPING.value,
                        "size": round(1.0 - size, 4),
                        "detail": f"crosswalk suggestion {s['subject_id']} {s['predicate']} "
                        f"{s['object_id']}",
                    }
                ],
                detail={k: v for k, v in s.items() if v not in (None, "")},
                mapping={
                    "mapping_set": str(mapping_set),
                    "subject_id": str(s["subject_id"]),
                    "object_id": str(s["object_id"]),
                    "predicate": str(s["predicate"]),
                },
            )
        )
    with open_store(queue_path(run)) as store:
        return store.upsert_items(
            items, now=utcnow(), options={"mappings": str(mapping_set), "n": len(items)}
        )


def mapping_suggestions(mapping_set: str | Path) -> list[dict[str, Any]]:
    """The suggestions (rows nobody reviewed yet) of a crosswalk mapping set, read by
    the crosswalk module's one reader (``ptmcoder.crosswalk.load_mapping_set``)."""
    from ptmcoder.crosswalk import load_mapping_set

    out = []
    for row in load_mapping_set(mapping_set).mappings:
        if row.status != "suggestion":
            continue
        out.append(
            {
                "subject_id": row.subject_id,
                "object_id": row.object_id,
                "predicate": row.predicate_id,
                "confidence": row.confidence,
                "subject_label": row.subject_label or None,
                "object_label": row.object_label or None,
                "justification": row.mapping_justification or None,
            }
        )
    return out
