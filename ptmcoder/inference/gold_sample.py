"""The human sample of a run, drawn with a known design (``ptmcoder sample gold``).

Prediction-powered estimates combine an annotator's codes on every unit with human
codes on a *random* subsample; their intervals are valid only when the probability
of each unit entering that subsample is known. :func:`draw_gold` draws it from a run's
coded units and writes each unit's **inclusion probability** beside it:

- uniform: n of the N coded units, each with probability n / N;
- stratified by the annotator's code (``code``: its most confident code, ``(none)``
  when it gave none, ``(error)`` for an error record), by its confidence (``confidence``:
  quartiles of the top confidence), or by a field of the corpus (``platform``,
  ``project``, a year column...): n_h of the N_h units of stratum h, probability
  n_h / N_h (:func:`ptmcoder.corpus.sampling.gold_sample`). Stratifying on what the
  annotator said is allowed because the probabilities are known; the estimators
  weight each human code by 1 / p.

The sample is written as ``gold_sample.csv`` (``unit, stratum, inclusion_probability,
title, url``: what the humans code, in a long table ``unit,rater,code`` of their own)
and ``gold_design.json`` (the design per stratum, the run, the seed), in the run's
``gold/`` folder unless ``out`` says otherwise. ``stats prevalence --design`` reads the
CSV's probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.errors import PtmcoderError
from ptmcoder.files import write_json, write_text

#: strata taken from the run's records (any other name is a corpus field)
RECORD_STRATA = ("code", "confidence")


@dataclass
class GoldDraw:
    """A drawn gold sample: the units, the design, the files written."""

    units: pd.DataFrame
    design: dict[str, Any]
    csv_path: Path
    design_path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "sample": str(self.csv_path),
            "design_file": str(self.design_path),
            "units": self.units[["unit", "stratum", "inclusion_probability"]].to_dict("records"),
        }


def _top(record: dict[str, Any]) -> tuple[str, float | None]:
    """The record's most confident code and its confidence (``(error)``, ``(none)``)."""
    if record.get("error_type"):
        return "(error)", None
    codes = [c for c in record.get("codes") or [] if isinstance(c, dict)]
    if not codes:
        return "(none)", None
    best = max(codes, key=lambda c: (c.get("confidence") or 0.0, c.get("code") or ""))
    conf = best.get("confidence")
    return str(best["code"]), float(conf) if conf is not None else None


def draw_gold(
    run_ref: str,
    size: int,
    *,
    seed: int = 0,
    strata: str | None = None,
    rater: str | None = None,
    allocation: str = "proportional",
    out: str | Path | None = None,
) -> GoldDraw:
    """Draw the human sample of run ``run_ref`` (module doc). ``rater``: whose codes
    stratify (default: the run's first rater)."""
    from ptmcoder.corpus.sampling import gold_sample
    from ptmcoder.runs import resolve_run

    run = resolve_run(run_ref)
    source = run.rater(rater)
    records = source.store.records()
    if not records:
        raise PtmcoderError(
            f"run {run.id}: rater {source.name!r} has no records to sample from",
            hint="annotate first, or name another rater with --rater",
        )
    rows = []
    for rec in records:
        if source.store is run and rec.get("annotator") != source.annotator:
            continue
        code, conf = _top(rec)
        rows.append({"id": str(rec["unit_id"]), "code": code, "confidence": conf})
    frame = pd.DataFrame(rows).drop_duplicates("id", keep="last")
    corpus = run.coding_manifest().config.corpus
    texts = _corpus_fields(corpus, set(frame["id"]))
    if texts is not None:
        frame = frame.merge(texts, on="id", how="left")
    column = None
    if strata == "code":
        column = "code"
    elif strata == "confidence":
        conf = pd.to_numeric(frame["confidence"], errors="coerce")
        if conf.notna().sum() < 4 or conf.nunique() < 2:
            raise PtmcoderError(
                f"rater {source.name!r} gives too few distinct confidences to stratify by",
                hint="stratify by code or by a corpus field",
            )
        quartile = pd.qcut(conf.rank(method="first"), 4, labels=["q1", "q2", "q3", "q4"])
        frame["confidence_quartile"] = quartile.astype(object).where(conf.notna(), "(none)")
        column = "confidence_quartile"
    elif strata:
        if texts is None or strata not in frame.columns:
            have = sorted(c for c in frame.columns if c not in ("id", "code", "confidence"))
            raise PtmcoderError(
                f"--strata {strata}: not 'code', 'confidence' or a field of corpus "
                f"{corpus!r}" + (f" (its fields: {', '.join(have)})" if have else ""),
            )
        column = strata
    drawn = gold_sample(frame, size, seed=seed, stratum=column, allocation=allocation)
    units = drawn.units.rename(columns={"id": "unit"})
    for col in ("title", "url"):
        if col not in units.columns:
            units[col] = ""
    units = units[["unit", "stratum", "inclusion_probability", "title", "url"]]
    design = {
        **drawn.record,
        "strata_by": strata or None,
        "run": run.id,
        "rater": source.name,
        "corpus": corpus,
        "note": "inclusion_probability: the chance this unit had of being drawn; "
        "estimates weight each human code by 1 / inclusion_probability",
    }
    folder = Path(out) if out is not None else run.path / "gold"
    if folder.suffix == ".csv":
        csv_path, design_path = folder, folder.with_name(folder.stem + "_design.json")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, design_path = folder / "gold_sample.csv", folder / "gold_design.json"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_text(csv_path, units.to_csv(index=False))
    write_json(design_path, design)
    return GoldDraw(units, design, csv_path, design_path)


def _corpus_fields(corpus: str | None, ids: set[str]) -> pd.DataFrame | None:
    """The corpus's fields of the run's units (``id`` and every column but the text),
    or None when the run names no readable corpus."""
    if not corpus:
        return None
    from ptmcoder.corpus.units import load_units

    try:
        frame = load_units(corpus)
    except PtmcoderError:
        return None
    frame = frame[frame["id"].astype(str).isin(ids)].copy()
    frame["id"] = frame["id"].astype(str)
    keep = [c for c in frame.columns if c not in ("body",)]
    out = frame[keep]
    for col in out.columns:  # list-valued fields (tags) cannot stratify
        if out[col].map(lambda v: isinstance(v, list | tuple)).any():
            out = out.drop(columns=col)
    return out


__all__ = ["RECORD_STRATA", "GoldDraw", "draw_gold"]
