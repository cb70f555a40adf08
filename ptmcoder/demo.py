"""The demo: ``ptmcoder run studies/demo.toml``, offline, on bundled real data.

Humbatova et al. (ICSE 2020) screened 477 Stack Overflow questions with two to
three human evaluators each (``ptmcoder/data/samples/humbatova_so_*.csv``, real
labels, see ATTRIBUTION.md). The demo study (``studies/demo.toml``)

1. imports the question titles as a corpus;
2. codes them against the ``humbatova-screening`` codebook with the offline
   embedded annotator in two settings, two raters of one run: zero-shot (code
   descriptions only) and supervised (fitted on the adjudicated labels of *other*
   units: cross-fitted, so no unit is coded by a model that saw its own label);
3. scores each annotator against each human evaluator and the adjudicated label,
   beside the evaluators' agreement with each other, with n and bootstrap CIs;
4. builds the review queue, translates the units carrying a Humbatova taxonomy leaf
   into Banyongrakkul et al.'s themes (where those modules are installed), counts the
   code distributions, and writes the report.

A second run skips every stage whose inputs are unchanged (0 annotator calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ptmcoder.pipeline import PipelineResult, StudyConfig, find_study, run_study

DEMO_STUDY = "demo"
EMBEDDERS = ("embedded", "embedded:tfidf")


def demo_overrides(
    *, embedder: str | None = None, limit: int | None = None, n_boot: int | None = None
) -> Callable[[StudyConfig], StudyConfig]:
    """Command-line overrides of the demo study (each changes the affected stages' hashes)."""
    if embedder is not None and embedder not in EMBEDDERS:
        raise ValueError(f"unknown demo embedder {embedder!r}; use {', '.join(EMBEDDERS)}")

    def apply(config: StudyConfig) -> StudyConfig:
        config = config.model_copy(deep=True)
        if embedder is not None:
            for rater in config.annotate.raters:
                rater.annotator = embedder
        if limit is not None:
            config.annotate.limit = limit
        if n_boot is not None:
            config.agree.bootstrap = n_boot
            config.stats.bootstrap = n_boot
        return config

    return apply


def run_demo(
    *,
    embedder: str | None = None,
    limit: int | None = None,
    n_boot: int | None = None,
    new: bool = False,
    say: Callable[[str], None] | None = None,
    stderr: Any = None,
    progress: bool = False,
) -> PipelineResult:
    """Run the bundled demo study; see the module docstring."""
    return run_study(
        find_study(DEMO_STUDY),
        new=new,
        overrides=demo_overrides(embedder=embedder, limit=limit, n_boot=n_boot),
        say=say,
        stderr=stderr,
        progress=progress,
    )
