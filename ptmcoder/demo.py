"""The demo: the whole workflow, offline, on bundled real human-coded data.

Humbatova et al. (ICSE 2020) screened 477 Stack Overflow questions with two to
three human evaluators each (``ptmcoder/data/samples/humbatova_so_*.csv``, real
labels, see ATTRIBUTION.md). The demo

1. imports the question titles as a corpus;
2. codes them against the ``humbatova-screening`` codebook with the offline
   embedded annotator, zero-shot (code descriptions only) and few-shot (a
   model fitted on the adjudicated labels of *other* units: cross-fitted, so
   no unit is coded by a model that saw its own label);
3. scores each annotator against each human evaluator and the adjudicated
   label, beside the evaluators' agreement with each other (the human ceiling).

Everything it writes goes to the workspace (``corpora/``, ``runs/``), each run
with its manifest; :func:`run_demo` returns the tables the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from ptmcoder.paths import samples_dir

DEMO_CORPUS = "demo-humbatova"
DEMO_CODEBOOK = "humbatova-screening"
TITLES_FILE = "humbatova_so_titles.csv"
LABELS_FILE = "humbatova_so_labels.csv"
FINAL_FILE = "humbatova_so_final.csv"
MODES = ("zero-shot", "few-shot")


@dataclass
class DemoResult:
    corpus_units: int
    runs: dict[str, Path]
    annotator_records: dict[str, int]
    annotator_errors: dict[str, int]
    humans: list[str]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _rater_name(embedder: str, mode: str) -> str:
    return f"{embedder}/{mode}"


def run_demo(
    *,
    modes: tuple[str, ...] = MODES,
    embedder: str = "embedded",
    limit: int | None = None,
    seed: int = 13,
    n_boot: int = 1000,
    progress: bool = True,
    stderr: Console | None = None,
    status: Callable[[str], None] | None = None,
) -> DemoResult:
    """Import, annotate (one run per mode) and score agreement; see the module doc."""
    from ptmcoder.agreement.io import annotations_to_long, read_gold, read_long_table
    from ptmcoder.agreement.views import annotator_vs_humans
    from ptmcoder.annotate.runner import AnnotateOptions, annotate
    from ptmcoder.corpus.store import import_corpus

    say = status or (lambda _msg: None)
    samples = samples_dir()
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown demo mode {mode!r}; use {', '.join(MODES)}")

    say(f"1/3 importing {TITLES_FILE} as corpus {DEMO_CORPUS!r}")
    summary = import_corpus(
        [samples / TITLES_FILE],
        DEMO_CORPUS,
        mapping={"id": "id", "url": "url", "title": "title"},
        platform="stackoverflow",
        replace=True,
    )

    runs: dict[str, Path] = {}
    records: dict[str, int] = {}
    errors: dict[str, int] = {}
    frames = []
    for mode in modes:
        say(f"2/3 annotating with {embedder} ({mode})")
        options = AnnotateOptions(
            codebook=DEMO_CODEBOOK,
            corpus=DEMO_CORPUS,
            annotators=[embedder],
            limit=limit,
            seed=seed,
            progress=progress,
            train=str(samples / FINAL_FILE) if mode == "few-shot" else None,
            train_raters=["final"] if mode == "few-shot" else [],
        )
        result = annotate(options, stderr=stderr)
        runs[mode] = result.run.path
        long = annotations_to_long(result.run.path)
        name = _rater_name(embedder, mode)
        long["rater"] = name
        records[name] = int(long.attrs.get("records", len(long)))
        errors[name] = int(sum(dict(long.attrs.get("failed", {})).values()))
        frames.append(long[["unit", "rater", "code"]])

    say("3/3 scoring agreement with the human evaluators")
    annotated = pd.concat(frames, ignore_index=True)
    units = set(annotated["unit"])
    humans_long = read_long_table(samples / LABELS_FILE)
    humans_long = humans_long[humans_long["unit"].isin(units)]
    gold = read_gold(samples / FINAL_FILE)
    gold = gold[gold["unit"].isin(units)]
    humans = sorted(humans_long["rater"].dropna().unique())
    long_all = pd.concat([annotated, humans_long[["unit", "rater", "code"]]], ignore_index=True)
    annotators = [_rater_name(embedder, m) for m in modes]
    table = annotator_vs_humans(
        long_all, annotators=annotators, humans=humans, gold=gold, seed=seed, n_boot=n_boot
    )
    notes = [
        "few-shot: fitted on the adjudicated ('final') labels of other units, cross-fitted "
        "(no unit is coded by a model that saw its own label); compared with the same "
        "adjudicated labels it is an out-of-fold estimate",
        "human pairs compare evaluators on the units both coded; n is that overlap",
    ]
    for mode, path in runs.items():
        (path / "demo_agreement.csv").write_text(table.to_csv(index=False), encoding="utf-8")
        notes.append(f"{mode} run: {path}")
    return DemoResult(
        corpus_units=summary.units,
        runs=runs,
        annotator_records=records,
        annotator_errors=errors,
        humans=humans,
        table=table,
        notes=notes,
    )
