"""Reading what ``stats prevalence`` and ``stats plan-gold`` estimate from: a run (or a
long table ``unit, rater, code``), a gold file, its design and a ``by`` field, each
through its one reader (:func:`ptmcoder.agreement.io.read_long_table`,
:func:`ptmcoder.tables.read_long_table`, :func:`ptmcoder.runs.resolve_run`,
:func:`ptmcoder.corpus.units.load_units`), then handing them to
:func:`~ptmcoder.inference.prevalence.prevalence` or
:func:`~ptmcoder.inference.planning.plan_gold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.errors import NotFoundError, PtmcoderError
from ptmcoder.inference.planning import GoldPlan, plan_gold
from ptmcoder.inference.prevalence import PrevalenceResult, prevalence


@dataclass
class Inputs:
    """The annotator's long table, where it came from, its corpus and codebook."""

    annotations: pd.DataFrame
    source: str
    rater: str | None
    corpus: str | None = None
    codebook: str | None = None
    notes: list[str] = field(default_factory=list)


def read_annotations(source: str, rater: str | None = None) -> Inputs:
    """The codes to correct: a long table file (CSV, Parquet, JSON lines of records),
    or a run reference (``latest``, an id, a prefix, a path) whose rater ``rater``
    (default: its only rater) is read from its records. A failed record counts as a
    unit given no code, and is counted in the notes."""
    from ptmcoder.agreement.io import annotations_to_long, read_long_table

    path = Path(source)
    if path.is_file():
        return Inputs(read_long_table(path), str(path), rater)
    from ptmcoder.runs import resolve_run

    run = resolve_run(source)
    raters = run.raters()
    if rater is None and len(raters) > 1:
        raise PtmcoderError(
            f"run {run.id} has {len(raters)} raters: {', '.join(r.name for r in raters)}",
            hint="name the annotator whose codes to correct with --rater",
        )
    chosen = run.rater(rater)
    long = annotations_to_long(chosen.store.path)
    failed = int((long.attrs.get("failed") or {}).get(chosen.annotator, 0))
    long = long[long["rater"] == chosen.annotator].assign(rater=chosen.name)
    config = run.coding_manifest().config
    notes = list(long.attrs.get("notes") or [])
    if failed:
        notes.append(f"{failed} failed record(s) counted as units given no code")
    return Inputs(long, f"run {run.id}", chosen.name, config.corpus, config.codebook, notes)


def _read_gold(path: str | Path) -> pd.DataFrame:
    from ptmcoder.tables import read_long_table

    if not Path(path).exists():
        raise NotFoundError(f"gold file not found: {path}")
    return read_long_table(
        path, required=("unit", "code"), hint="gold codes need columns unit and code"
    )


def _read_design(path: str | Path) -> pd.DataFrame:
    from ptmcoder.tables import read_table

    if not Path(path).exists():
        raise NotFoundError(f"design file not found: {path}")
    frame = read_table(path, header_hint="unit,inclusion_probability")
    if "unit" not in frame.columns and "unit_id" in frame.columns:
        frame = frame.rename(columns={"unit_id": "unit"})
    return frame


def _prepare(
    source: str,
    gold: str | Path | None,
    *,
    rater: str | None,
    by: str | None,
    level: str | None,
    codebook: str | None,
) -> tuple[Inputs, pd.DataFrame | None, pd.DataFrame | None]:
    inputs = read_annotations(source, rater)
    gold_frame = _read_gold(gold) if gold is not None else None
    if level is not None:
        from ptmcoder.agreement.io import map_to_level

        book = codebook or inputs.codebook
        if not book:
            raise PtmcoderError(f"--level {level}: which codebook?", hint="name it with --codebook")
        inputs.annotations = map_to_level(inputs.annotations, book, level)
        inputs.notes += list(inputs.annotations.attrs.get("notes") or [])
        if gold_frame is not None:
            extra = [c for c in gold_frame.columns if c not in ("unit", "rater", "code")]
            mapped = map_to_level(
                gold_frame.assign(rater="gold")[["unit", "rater", "code"]], book, level
            )
            gold_frame = mapped.merge(
                gold_frame[["unit", *extra]].drop_duplicates("unit"), on="unit", how="left"
            )
    units = None
    if by is not None and by not in inputs.annotations.columns:
        if not inputs.corpus:
            raise PtmcoderError(
                f"--by {by}: {inputs.source} has no column {by!r} and names no corpus",
                hint="add the column to the long table",
            )
        from ptmcoder.corpus.units import load_units

        units = load_units(inputs.corpus)
    return inputs, gold_frame, units


def prevalence_from_files(
    source: str,
    gold: str | Path,
    *,
    design: str | Path | None = None,
    by: str | None = None,
    rater: str | None = None,
    assume_random: bool = False,
    level: str | None = None,
    codebook: str | None = None,
    alpha: float = 0.05,
) -> PrevalenceResult:
    """:func:`~ptmcoder.inference.prevalence.prevalence` of a run or long table
    ``source`` against the gold file ``gold`` (``ptmcoder stats prevalence``)."""
    inputs, gold_frame, units = _prepare(
        source, gold, rater=rater, by=by, level=level, codebook=codebook
    )
    assert gold_frame is not None
    result = prevalence(
        inputs.annotations,
        gold_frame,
        rater=inputs.rater,
        by=by,
        units=units,
        design=_read_design(design) if design is not None else None,
        assume_random=assume_random,
        alpha=alpha,
        sources=(inputs.source, str(gold), str(design or "design")),
    )
    result.notes = inputs.notes + result.notes
    return result


def plan_gold_from_files(
    source: str,
    gold: str | Path | None = None,
    *,
    width: float,
    accuracy: float | None = None,
    design: str | Path | None = None,
    by: str | None = None,
    rater: str | None = None,
    assume_random: bool = False,
    level: str | None = None,
    codebook: str | None = None,
    alpha: float = 0.05,
) -> GoldPlan:
    """:func:`~ptmcoder.inference.planning.plan_gold` of a run or long table
    (``ptmcoder stats plan-gold``)."""
    inputs, gold_frame, units = _prepare(
        source, gold, rater=rater, by=by, level=level, codebook=codebook
    )
    plan = plan_gold(
        inputs.annotations,
        gold_frame,
        width=width,
        accuracy=accuracy,
        rater=inputs.rater,
        by=by,
        units=units,
        design=_read_design(design) if design is not None else None,
        assume_random=assume_random,
        alpha=alpha,
        sources=(inputs.source, str(gold or "gold"), str(design or "design")),
    )
    plan.notes = inputs.notes + plan.notes
    return plan


__all__: list[Any] = ["Inputs", "plan_gold_from_files", "prevalence_from_files", "read_annotations"]
