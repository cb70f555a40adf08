"""A study: one TOML file, its stages, and the engine that keeps them up to date.

- :mod:`~ptmcoder.pipeline.config`: the study file (:class:`StudyConfig`) and the stages;
- :mod:`~ptmcoder.pipeline.stages`: one adapter per stage, each calling the library
  function its CLI command calls, and the inputs that decide whether it is up to date;
- :mod:`~ptmcoder.pipeline.rundir`: a study run's stage outputs, the one place the
  report and the comparison read them;
- :mod:`~ptmcoder.pipeline.runner`: :func:`run_study`, the up-to-date engine.
"""

from __future__ import annotations

from ptmcoder.pipeline.config import STAGES, Stage, StudyConfig, find_study, load_study
from ptmcoder.pipeline.runner import PipelineResult, StageOutcome, run_study

__all__ = [
    "STAGES",
    "PipelineResult",
    "Stage",
    "StageOutcome",
    "StudyConfig",
    "find_study",
    "load_study",
    "run_study",
]
