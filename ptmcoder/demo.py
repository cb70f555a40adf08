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

The demo writes only inside its workspace (:func:`demo_workspace`): ``$PTMCODER_HOME``
when set, else ``ptmcoder-demo/`` in the current directory, so running it from a
checkout leaves no ``corpora/``, ``runs/``, ``cache/`` or ``locks/`` beside the
code; ``--workspace .`` asks for the current directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptmcoder.paths import use_workspace, workspace
from ptmcoder.pipeline import PipelineResult, StudyConfig, find_study, run_study

DEMO_STUDY = "demo"
EMBEDDERS = ("embedded", "embedded:tfidf")
#: the demo's own workspace, in the current directory, when $PTMCODER_HOME is unset
DEMO_WORKSPACE = "ptmcoder-demo"


def demo_workspace(given: str | Path | None = None) -> Path:
    """Where the demo writes everything: ``given``, else ``$PTMCODER_HOME``, else
    ``ptmcoder-demo/`` in the current directory."""
    if given is not None:
        return Path(given).expanduser().resolve()
    if os.environ.get("PTMCODER_HOME"):
        return workspace()
    return (Path.cwd() / DEMO_WORKSPACE).resolve()


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
    workspace: str | Path | None = None,
) -> PipelineResult:
    """Run the bundled demo study in :func:`demo_workspace` (``workspace``); see the
    module docstring."""
    with use_workspace(demo_workspace(workspace)):
        return run_study(
            find_study(DEMO_STUDY),
            new=new,
            overrides=demo_overrides(embedder=embedder, limit=limit, n_boot=n_boot),
            say=say,
            stderr=stderr,
            progress=progress,
        )
