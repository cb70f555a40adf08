"""Agreement between coders: every annotator against the human coders, with the
human ceiling beside it.

- :mod:`~ptmcoder.agreement.coefficients`: the coefficients as pure functions
  (percent agreement, Cohen's kappa, Scott's pi, Fleiss' kappa, Krippendorff's
  alpha incl. MASI, Gwet's AC1) with their sources;
- :mod:`~ptmcoder.agreement.bootstrap`: the seeded, vectorised bootstrap over units;
- :mod:`~ptmcoder.agreement.compute`: all coefficients of a table with n, CI and reading;
- :mod:`~ptmcoder.agreement.views`: pairwise matrix, annotator vs humans, per code, confusion;
- :mod:`~ptmcoder.agreement.sameunit`: an annotator against every pair of humans on the
  units all three coded (leave one human out), n-weighted means, replication over repeats;
- :mod:`~ptmcoder.agreement.calibration`: ECE, Brier score, reliability diagram,
  cross-fitted recalibration of confidences against adjudicated labels;
- :mod:`~ptmcoder.agreement.aat`: the Alternative Annotator Test (Calderon et al. 2025);
- :mod:`~ptmcoder.agreement.io`: long tables, run annotations, gold labels, codebook levels.
"""

from ptmcoder.agreement.aat import AltTestResult, alt_test, render_alt_test
from ptmcoder.agreement.coefficients import (
    UndefinedCoefficient,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    landis_koch,
    masi_distance,
    percent_agreement,
    scott_pi,
)
from ptmcoder.agreement.compute import METRICS, Coefficient, compute_coefficients
from ptmcoder.agreement.data import RatingMatrix, rating_matrix
from ptmcoder.agreement.io import annotations_to_long, map_to_level, read_gold, read_long_table
from ptmcoder.agreement.views import (
    annotator_vs_humans,
    confusion_matrix,
    human_ceiling,
    human_consensus,
    pairwise,
    per_code_table,
    render_confusion,
    render_pairwise,
    render_per_code,
    render_summary,
    render_vs_humans,
)


def agreement(long_df, metrics=None, **kwargs) -> dict[str, Coefficient]:
    """Every coefficient (default: all of :data:`METRICS`) of a long table."""
    return compute_coefficients(rating_matrix(long_df), metrics, **kwargs)


__all__ = [
    "METRICS",
    "AltTestResult",
    "Coefficient",
    "RatingMatrix",
    "UndefinedCoefficient",
    "agreement",
    "alt_test",
    "annotations_to_long",
    "annotator_vs_humans",
    "cohen_kappa",
    "compute_coefficients",
    "confusion_matrix",
    "fleiss_kappa",
    "gwet_ac1",
    "human_ceiling",
    "human_consensus",
    "krippendorff_alpha",
    "landis_koch",
    "map_to_level",
    "masi_distance",
    "pairwise",
    "per_code_table",
    "percent_agreement",
    "rating_matrix",
    "read_gold",
    "read_long_table",
    "render_alt_test",
    "render_confusion",
    "render_pairwise",
    "render_per_code",
    "render_summary",
    "render_vs_humans",
    "scott_pi",
]
