"""Estimates from an annotator's codes on every unit plus human codes on a sample.

- :mod:`.ppi`: naive, classical and PPI++ means (wrapping ``ppi_py``) and the
  differences between groups;
- :mod:`.design`: the gold sample's inclusion probabilities (or an assumed uniform one);
- :mod:`.prevalence`: each code's share of units, per group, three ways
  (:func:`prevalence`);
- :mod:`.planning`: how many more human codes reach a target width (:func:`plan_gold`);
- :mod:`.inputs`: the same from a run or long table and a gold file (the CLI's entry);
- :mod:`.gold_sample`: drawing the human sample with a known design (``sample gold``).
"""

from __future__ import annotations

from ptmcoder.inference.planning import GoldPlan, plan_gold
from ptmcoder.inference.ppi import Interval, MeanEstimate, ppi_mean, ppi_mean_from_sums
from ptmcoder.inference.prevalence import PrevalenceResult, prevalence

__all__ = [
    "GoldPlan",
    "Interval",
    "MeanEstimate",
    "PrevalenceResult",
    "plan_gold",
    "ppi_mean",
    "ppi_mean_from_sums",
    "prevalence",
]
