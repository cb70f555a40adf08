"""One entry point for agreement: :func:`evaluate` takes what ``ptmcoder agree``
takes and returns an :class:`AgreementResult` holding the views asked for.

A view is one entry of :data:`VIEWS`: a function ``(AgreementInputs, AgreeOptions)
-> ViewResult``. A new view (for example a same-unit comparison or a calibration
table) is a function registered there. ``ptmcoder agree`` and a study's agree stage
call :func:`evaluate` (the stage once per view it keeps); the report renders what the
stage wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from ptmcoder.errors import PtmcoderError

#: the rater name of the adjudicated labels (:func:`ptmcoder.agreement.io.read_gold`)
GOLD = "gold"


class AgreeOptions(BaseModel):
    """Everything ``ptmcoder agree`` can set."""

    model_config = ConfigDict(extra="forbid")

    #: long tables (unit,rater,code) and/or annotations.jsonl files / run directories
    inputs: list[str] = []
    #: a run (``latest``, id, id prefix or path) whose annotations join the inputs
    run: str | None = None
    #: adjudicated labels (unit,code) as rater ``gold``
    gold: str | None = None
    codebook: str | None = None
    level: str | None = None
    metrics: list[str] = []
    weights: Literal["none", "linear", "quadratic"] = "none"
    alpha_level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal"
    n_boot: int = 1000
    seed: int = 0
    annotators: list[str] = []
    humans: list[str] = []
    view: str = "summary"
    #: cost-benefit margin of the Alternative Annotator Test
    epsilon: float = 0.2
    #: vs-humans: triads with fewer common units are shown but left out of the means
    min_n: int = 20
    #: vs-humans: the human ratings of the ceiling: the first two per unit, in table
    #: order (independent), or all, conflict-resolution ratings included
    ratings: Literal["independent", "all"] = "independent"
    #: calibration: where to write the reliability diagram
    png: str | None = None


@dataclass
class AgreementInputs:
    """The ratings after reading, gold merging and level mapping."""

    ratings: pd.DataFrame
    gold: pd.DataFrame | None
    annotators: list[str]
    humans: list[str]
    raters: list[str]
    #: whether the user named the raters (--annotators / --humans)
    selected: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class ViewResult:
    """One view: its JSON payload, the rich renderables of its table(s), and notes."""

    name: str
    data: Any
    renderables: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class AgreementResult:
    options: AgreeOptions
    inputs: AgreementInputs
    views: dict[str, ViewResult]

    @property
    def notes(self) -> list[str]:
        return [*self.inputs.notes, *(n for v in self.views.values() for n in v.notes)]


# -- inputs --------------------------------------------------------------------------------


def load_inputs(options: AgreeOptions) -> AgreementInputs:
    """Read the inputs, merge the gold labels, map to the codebook level, pick raters."""
    from ptmcoder.agreement.io import annotations_to_long, map_to_level, read_gold, read_long_table

    notes: list[str] = []
    sources: list[Path] = []
    renames: dict[Path, dict[str, str] | None] = {}
    for given in map(Path, options.inputs):
        if given.is_dir() and not (given / "annotations.jsonl").is_file():
            stores = run_stores(str(given))  # a study's run directory: its raters' stores
            renames.update(dict(stores))
            sources += [store for store, _ in stores]
        else:
            sources.append(given)
    if options.run:
        stores = run_stores(options.run)
        renames.update(dict(stores))
        sources += [store for store, _ in stores]
    if not sources:
        raise PtmcoderError(
            "no input given", hint="pass a long table (unit,rater,code) and/or --run RUN"
        )
    frames, run_raters = [], []
    for src in sources:
        if src.is_dir() or src.suffix.lower() == ".jsonl":
            df = _as_raters(annotations_to_long(src), renames.get(src))
            notes += df.attrs.get("notes", [])
            run_raters += sorted(df["rater"].dropna().unique().tolist())
            failed = df.attrs.get("failed", {})
            failures = ", ".join(f"{k} {v}" for k, v in failed.items())
            notes.append(
                f"{src}: {df.attrs.get('records', 0)} annotation records"
                + (f", failed (counted as missing ratings): {failures}" if failed else "")
            )
        else:
            df = read_long_table(src)
        frames.append(df[["unit", "rater", "code"]])
    gold = read_gold(options.gold) if options.gold else None
    if options.run:
        _require_shared(options.run, frames, sources, gold, options.gold)
    frames, run_raters = mark_repeats(frames, sources, run_raters)
    ratings = pd.concat(frames, ignore_index=True)
    if options.level and not options.codebook:
        raise PtmcoderError(
            "--level needs --codebook", hint="e.g. --codebook tan2024 --level category"
        )
    if options.codebook:
        level = options.level or "leaf"
        ratings = map_to_level(ratings, options.codebook, level)
        notes += ratings.attrs.get("notes", [])
        if gold is not None:
            gold = map_to_level(gold, options.codebook, level)
            notes += [f"gold: {n}" for n in gold.attrs.get("notes", [])]
    if gold is not None and options.view not in GOLD_APART:
        # the adjudicated labels are one more rater, "gold", in these views
        ratings = pd.concat([ratings[["unit", "rater", "code"]], gold], ignore_index=True)
    raters = sorted(ratings["rater"].dropna().unique().tolist())
    annotators = options.annotators or list(dict.fromkeys(run_raters))
    humans = options.humans or [r for r in raters if r not in annotators]
    for r in [*annotators, *humans]:
        if r not in raters:
            raise PtmcoderError(
                f"rater {r!r} is not in the inputs", hint=f"raters are: {', '.join(raters)}"
            )
    selected = bool(options.annotators or options.humans)
    return AgreementInputs(ratings, gold, annotators, humans, raters, selected, notes)


def _require_shared(
    run_ref: str,
    frames: list[pd.DataFrame],
    sources: list[Path],
    gold: pd.DataFrame | None,
    gold_file: str | None,
) -> None:
    """Refuse a ``--run`` that shares no unit with the labels (the long tables and the
    gold labels): every annotator-human figure would be empty, silently (often
    ``latest`` is another study's run)."""
    from ptmcoder.runs import resolve_run

    coded: set[str] = set()
    labelled: set[str] = set()
    files = []
    for frame, source in zip(frames, sources, strict=True):
        if _is_run(source):
            coded |= set(frame["unit"].dropna().astype(str))
        else:
            labelled |= set(frame["unit"].dropna().astype(str))
            files.append(str(source))
    if gold is not None and gold_file:
        labelled |= set(gold["unit"].dropna().astype(str))
        files.append(gold_file)
    if labelled and not coded & labelled:
        run = resolve_run(run_ref)
        named = f"run {run.id}" + (f" ({run_ref})" if run_ref != run.id else "")
        raise PtmcoderError(
            f"{named} shares no unit with the labels ({', '.join(files)}): the run coded "
            f"{len(coded)} unit(s), the labels cover {len(labelled)}, none in common",
            hint="is this the run you meant? `ptmcoder runs list` shows the runs; pass --run ID",
        )


def run_stores(ref: str) -> list[tuple[Path, dict[str, str] | None]]:
    """The annotation stores of run ``ref`` (either origin), each with the renaming of
    its annotator to the rater's name in a study (None: an annotate run, whose
    records already name their annotators)."""
    from ptmcoder.runs import resolve_run

    run = resolve_run(ref)
    out: list[tuple[Path, dict[str, str] | None]] = []
    for rater in run.raters():
        if rater.store is run:
            return [(run.path, None)]
        out.append((rater.store.path, {rater.annotator: rater.name}))
    return out or [(run.path, None)]


def _as_raters(df: pd.DataFrame, rename: dict[str, str] | None) -> pd.DataFrame:
    """A store's rows under its raters' names (only the renamed annotators' rows)."""
    if rename is None:
        return df
    out = df[df["rater"].isin(list(rename))].copy()
    out["rater"] = out["rater"].map(rename).astype(df["rater"].dtype)
    out.attrs.update(df.attrs)
    return out


def _is_run(source: Path) -> bool:
    return source.is_dir() or source.suffix.lower() == ".jsonl"


def mark_repeats(
    frames: list[pd.DataFrame], sources: list[Path], run_raters: list[str]
) -> tuple[list[pd.DataFrame], list[str]]:
    """The same annotator in several runs is one repeat per run: NAME#r1, NAME#r2, ...
    (see :mod:`ptmcoder.agreement.sameunit` for the replication summary)."""
    from collections import Counter

    is_run = [_is_run(s) for s in sources]
    names = [set(f["rater"].dropna()) if r else set() for f, r in zip(frames, is_run, strict=True)]
    counts = Counter(n for ns in names for n in ns)
    repeated = {n for n, c in counts.items() if c > 1}
    if not repeated:
        return frames, run_raters
    seen: Counter = Counter()
    out = []
    for frame, ns in zip(frames, names, strict=True):
        mapping = {}
        for n in sorted(ns & repeated):
            seen[n] += 1
            mapping[n] = f"{n}#r{seen[n]}"
        out.append(frame.assign(rater=frame["rater"].replace(mapping)) if mapping else frame)
    raters = [r for f, run in zip(out, is_run, strict=True) if run for r in f["rater"].dropna()]
    return out, list(dict.fromkeys(sorted(set(raters))))


def _diagnostics(matrix) -> list[str]:
    d = matrix.diagnostics()
    out = [
        f"{d['units']} units, {d['raters']} raters, {d['ratings']} ratings, "
        f"{d['categories']} categories"
    ]
    if d["units_with_one_rating"]:
        out.append(
            f"{d['units_with_one_rating']} unit(s) coded by a single rater "
            "(no agreement information)"
        )
    if d["raters_without_labels"]:
        out.append("rater(s) with no labels: " + ", ".join(d["raters_without_labels"]))
    if d["missing_code_rows"]:
        out.append(
            "rows without a code (missing ratings): "
            + ", ".join(f"{k} {n}" for k, n in d["missing_code_rows"].items())
        )
    if d["multi_label_cells"]:
        out.append(f"{d['multi_label_cells']} rating(s) carry several codes")
    return out


# -- the views -----------------------------------------------------------------------------


def _all_selected(inputs: AgreementInputs) -> list[str] | None:
    return list(dict.fromkeys([*inputs.annotators, *inputs.humans])) or None


def view_summary(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    """The headline coefficients. Without gold labels: every coefficient pooled over
    the raters (all, or those named), which the title lists. With ``--gold``, the gold
    is never pooled: the headline leads with each annotator against the gold (each pair
    on the units both coded), then the humans' own agreement (their ceiling), then, when
    annotators are among the raters, all of them pooled; every section names its raters."""
    from ptmcoder.agreement.compute import METRICS, compute_coefficients
    from ptmcoder.agreement.data import rating_matrix
    from ptmcoder.agreement.views import pair_coefficients, render_headline, render_summary

    raters = _all_selected(inputs) if inputs.selected else None
    metrics = options.metrics or None
    kwargs: dict[str, Any] = dict(
        weights=options.weights,
        alpha_level=options.alpha_level,
        n_boot=options.n_boot,
        seed=options.seed,
    )
    if inputs.gold is None:
        matrix = rating_matrix(inputs.ratings, raters=raters)
        coefs = compute_coefficients(matrix, metrics, **kwargs)
        return ViewResult(
            "summary",
            {name: c.to_json() for name, c in coefs.items()},
            [
                render_summary(
                    coefs, f"Agreement of {_who(matrix.raters)} on {matrix.n_units} units"
                )
            ],
            _diagnostics(matrix),
        )
    # the gold judges; it is never one of the raters a headline coefficient pools
    pooled = [r for r in (raters or inputs.raters) if r != GOLD]
    judged = [r for r in inputs.annotators if r in pooled] or pooled
    humans = [r for r in inputs.humans if r in pooled and r not in judged]
    ratings = inputs.ratings[inputs.ratings["rater"] != GOLD]  # joined when another view asked
    both = rating_matrix(pd.concat([ratings, inputs.gold], ignore_index=True))
    sections: list[tuple[str, dict]] = []
    vs_gold = {}
    for name in judged:
        vs_gold[name] = pair_coefficients(both, name, GOLD, metrics or METRICS, **kwargs)
        sections.append((f"{name} vs gold", vs_gold[name]))
    data: dict[str, Any] = {
        "gold": {"units": int(inputs.gold.dropna(subset=["code"])["unit"].nunique())},
        "vs_gold": {name: _json(coefs) for name, coefs in vs_gold.items()},
        "humans": None,
        "pooled": None,
    }

    def pool(names: list[str]) -> tuple[dict[str, Any], Any]:
        matrix = rating_matrix(ratings, raters=names)
        coefs = compute_coefficients(matrix, metrics, **kwargs)
        return coefs, matrix

    notes: list[str] = []
    if len(humans) >= 2:
        coefs, matrix = pool(humans)
        data["humans"] = {"raters": humans, "coefficients": _json(coefs)}
        sections.append((f"humans' ceiling: {_who(humans)}", coefs))
    if len(pooled) >= 2 and pooled != humans:
        coefs, matrix = pool(pooled)
        data["pooled"] = {"raters": pooled, "coefficients": _json(coefs)}
        sections.append((f"pooled: {_who(pooled)}", coefs))
        notes += _diagnostics(matrix)
    title = f"Agreement against the gold ({data['gold']['units']} units), never pooled with it"
    return ViewResult("summary", data, [render_headline(sections, title)], notes)


def _json(coefs: dict[str, Any]) -> dict[str, Any]:
    return {name: c.to_json() for name, c in coefs.items()}


def _who(raters: list[str], shown: int = 6) -> str:
    """``3 raters (E1, E2, E3)``; a long list is cut after ``shown`` names."""
    names = ", ".join(raters[:shown]) + (", ..." if len(raters) > shown else "")
    return f"{len(raters)} rater{'s' if len(raters) != 1 else ''} ({names})"


def view_pairwise(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    from ptmcoder.agreement import views as v
    from ptmcoder.agreement.data import rating_matrix

    matrix = rating_matrix(inputs.ratings, raters=_all_selected(inputs))
    metric = options.metrics[0] if options.metrics else "cohen_kappa"
    pairs = v.pairwise(
        matrix, metric, weights=options.weights, n_boot=options.n_boot, seed=options.seed
    )
    data = {"metric": metric, "raters": matrix.raters, "pairs": pairs.to_dict(orient="records")}
    return ViewResult("pairwise", data, list(v.render_pairwise(pairs, matrix.raters)))


def view_per_code(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    from ptmcoder.agreement import views as v
    from ptmcoder.agreement.data import rating_matrix

    matrix = rating_matrix(inputs.ratings, raters=_all_selected(inputs))
    table = v.per_code_table(matrix, n_boot=options.n_boot, seed=options.seed)
    data = {"method": table.attrs.get("method"), "codes": table.to_dict(orient="records")}
    return ViewResult("per-code", data, [v.render_per_code(table)])


def view_confusion(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    from ptmcoder.agreement import views as v
    from ptmcoder.agreement.data import rating_matrix

    a = (inputs.annotators or inputs.raters)[0]
    b: str | None
    if inputs.gold is not None:
        b = "gold"
    else:
        b = next((r for r in (inputs.humans or inputs.raters) if r != a), None)
    if b is None:
        raise PtmcoderError(
            "a confusion matrix needs two raters", hint="pass --annotators A --humans B"
        )
    table = v.confusion_matrix(rating_matrix(inputs.ratings, raters=[a, b]), a, b)
    data = {
        "rows": a,
        "columns": b,
        "labels": list(table.columns),
        "matrix": table.to_numpy().tolist(),
    }
    return ViewResult("confusion", data, [v.render_confusion(table)])


def _needs_annotators_and_humans(inputs: AgreementInputs, view: str) -> None:
    if not inputs.annotators:
        raise PtmcoderError(
            f"--view {view} needs the annotator(s)", hint="pass --annotators NAME or --run RUN"
        )
    if not inputs.humans:
        raise PtmcoderError(f"--view {view} needs human coders", hint="pass --humans A,B,C")


def view_vs_humans(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    """Each annotator against every pair of humans on the units all three coded
    (:mod:`ptmcoder.agreement.sameunit`), the replication over repeats, and each
    annotator against the gold labels when given."""
    from ptmcoder.agreement.sameunit import (
        against_gold,
        render_gold,
        render_replication,
        render_same_unit,
        replication,
        same_unit_comparison,
    )

    _needs_annotators_and_humans(inputs, "vs-humans")
    df, ann, hum = inputs.ratings, inputs.annotators, inputs.humans
    n_boot, seed, weights = options.n_boot, options.seed, _weights(options)
    result = same_unit_comparison(
        df,
        annotators=ann,
        humans=hum,
        min_n=options.min_n,
        n_boot=n_boot,
        seed=seed,
        weights=weights,
        ratings=options.ratings,
    )
    notes = [_ratings_note(result)]
    for name, s in result.summary.items():
        left = s.triads_below_min_n + s.triads_undefined
        if left:
            notes.append(
                f"{name}: {left} triad(s) left out of the means ({s.triads_below_min_n} "
                f"with n < {options.min_n}, {s.triads_undefined} undefined)"
            )
    repeats = replication(
        df,
        humans=hum,
        annotators=ann,
        min_n=options.min_n,
        weights=weights,
        ratings=options.ratings,
    )
    vs_gold = (
        against_gold(df, inputs.gold, annotators=ann, n_boot=n_boot, seed=seed, weights=weights)
        if inputs.gold is not None
        else {}
    )
    data = {
        **result.to_json(),
        "replication": {k: r.to_json() for k, r in repeats.items()},
        "gold": vs_gold,
    }
    tables = list(render_same_unit(result))
    if repeats:
        tables.append(render_replication(repeats))
    if vs_gold:
        tables.append(render_gold(vs_gold))
    return ViewResult("vs-humans", data, tables, notes)


def _ratings_note(result: Any) -> str:
    """Which human ratings the same-unit ceiling uses, and how many distinct units."""
    from ptmcoder.agreement.sameunit import RATINGS_LABEL

    units = ", ".join(f"{name} {s.n_units}" for name, s in result.summary.items())
    line = f"same units: {RATINGS_LABEL[result.ratings]}; distinct units in the means: {units}"
    hr = result.human_ratings
    if hr is not None and hr.left_out:
        line += (
            f"; {hr.left_out} later human rating(s) on {hr.units_with_more} unit(s) left out "
            "(conflict resolution; --all-ratings includes them)"
        )
    return line


def view_pairs(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    """Each annotator against each human and against the gold labels (or, without
    them, the human consensus), beside every human-human pair, each pair on the units
    both raters coded, with its n and bootstrap CI (:func:`~ptmcoder.agreement.views.
    annotator_vs_humans`)."""
    from ptmcoder.agreement import views as v

    _needs_annotators_and_humans(inputs, "pairs")
    table = v.annotator_vs_humans(
        inputs.ratings,
        annotators=inputs.annotators,
        humans=inputs.humans,
        gold=inputs.gold,
        seed=options.seed,
        n_boot=options.n_boot,
        weights=_weights(options),
    )
    return ViewResult("pairs", table.to_dict(orient="records"), [v.render_vs_humans(table)])


def _weights(options: AgreeOptions) -> str | None:
    return None if options.weights == "none" else options.weights


def view_calibration(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    """ECE (10 bins), Brier score and the reliability diagram of each annotator's
    confidences against the gold labels, before and after cross-fitted isotonic
    recalibration (:mod:`ptmcoder.agreement.calibration`)."""
    from ptmcoder.agreement.calibration import (
        calibration_table,
        read_confidences,
        reliability_png,
        render_calibration,
    )

    if inputs.gold is None:
        raise PtmcoderError("--view calibration needs --gold", hint="pass --gold FILE (unit,code)")
    sources = [Path(p) for p in options.inputs]
    renames = dict(run_stores(options.run)) if options.run else {}
    sources += list(renames)
    # confidences come from the runs (and from long tables that carry a confidence column)
    preds = pd.concat(
        [_as_raters(read_confidences(s), renames.get(s)) for s in sources], ignore_index=True
    )
    preds = preds[preds["confidence"].notna()]
    if options.codebook:  # the gold labels are at this level too (load_inputs)
        from ptmcoder.agreement.io import map_to_level

        preds = map_to_level(preds, options.codebook, options.level or "leaf")
    results = calibration_table(
        preds,
        inputs.gold,
        annotators=options.annotators or None,
        recalibrate="isotonic",
        seed=options.seed,
        n_boot=options.n_boot,
    )
    notes = []
    if options.png:
        notes.append(f"reliability diagram: {reliability_png(results, options.png)}")
    data = {name: c.to_json() for name, c in results.items()}
    return ViewResult("calibration", data, [render_calibration(results)], notes)


def view_aat(inputs: AgreementInputs, options: AgreeOptions) -> ViewResult:
    from ptmcoder.agreement.aat import alt_test, render_alt_test

    _needs_annotators_and_humans(inputs, "aat")
    results = [
        alt_test(inputs.ratings, annotator=a, humans=inputs.humans, epsilon=options.epsilon)
        for a in inputs.annotators
    ]
    return ViewResult(
        "aat",
        {r.annotator: r.to_json() for r in results},
        [render_alt_test(r) for r in results],
        [f"note: {n}" for r in results for n in r.notes],
    )


#: every view by name; register a new one here (one entry, one function)
#: views that compare raters with the gold labels instead of counting them as a rater
GOLD_APART = ("summary", "vs-humans", "pairs", "aat", "calibration")

VIEWS: dict[str, Callable[[AgreementInputs, AgreeOptions], ViewResult]] = {
    "summary": view_summary,
    "pairwise": view_pairwise,
    "per-code": view_per_code,
    "confusion": view_confusion,
    "vs-humans": view_vs_humans,
    "pairs": view_pairs,
    "aat": view_aat,
    "calibration": view_calibration,
}


def evaluate(options: AgreeOptions | None = None, *, views=None, **kwargs) -> AgreementResult:
    """Agreement on the inputs of ``options`` (or keyword arguments of
    :class:`AgreeOptions`): the view ``options.view``, or every view named in
    ``views``. Each view's figures are in ``result.views[name].data``, its tables in
    ``.renderables`` and what to tell the user in ``result.notes``. The gold labels
    join the ratings as rater ``gold`` unless ``options.view`` is one of
    :data:`GOLD_APART` (which compare against them)."""
    options = options or AgreeOptions(**kwargs)
    names = list(views) if views is not None else [options.view]
    unknown = [n for n in names if n not in VIEWS]
    if unknown:
        raise PtmcoderError(
            f"unknown view(s) {', '.join(unknown)}", hint=f"views are: {', '.join(VIEWS)}"
        )
    inputs = load_inputs(options)
    return AgreementResult(options, inputs, {n: VIEWS[n](inputs, options) for n in names})
