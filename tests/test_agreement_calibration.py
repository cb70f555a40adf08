"""Calibration: ECE and Brier against scikit-learn's own computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from ptmcoder.agreement.calibration import (
    calibration_stats,
    calibration_table,
    cross_fitted_calibration,
    reliability_png,
)


def forecasts(n: int = 500, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 1.0, n)
    y = rng.random(n) < p**2  # over-confident
    return p, y


def test_ece_and_brier_match_scikit_learn():
    p, y = forecasts()
    cal = calibration_stats(p, y)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts, _ = np.histogram(p, bins=np.linspace(0, 1, 11))
    counts = counts[counts > 0]
    expected_ece = float(np.sum(counts / len(p) * np.abs(prob_true - prob_pred)))
    assert cal.ece == pytest.approx(expected_ece, abs=1e-12)
    assert cal.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    filled = [b for b in cal.bins if b["count"]]
    assert [b["accuracy"] for b in filled] == pytest.approx(prob_true)
    assert [b["mean_confidence"] for b in filled] == pytest.approx(prob_pred)
    assert sum(b["count"] for b in cal.bins) == cal.n == len(p)


def test_cross_fitted_isotonic_lowers_ece_of_overconfident_scores():
    p, y = forecasts(2000)
    before = calibration_stats(p, y).ece
    q = cross_fitted_calibration(p, y, method="isotonic", folds=5, seed=0)
    after = calibration_stats(q, y).ece
    assert after < before / 2
    platt = cross_fitted_calibration(p, y, method="platt", folds=5, seed=0)
    assert calibration_stats(platt, y).ece < before


def long_predictions() -> tuple[pd.DataFrame, pd.DataFrame]:
    p, y = forecasts(300)
    units = [f"u{i}" for i in range(len(p))]
    gold = pd.DataFrame({"unit": units, "code": np.where(y, "a", "b")})
    rows = [(u, "emb", "a", float(c)) for u, c in zip(units, p, strict=True)]
    rows += [(u, "emb", "b", float(1 - c) / 5) for u, c in zip(units, p, strict=True)]
    return pd.DataFrame(rows, columns=["unit", "rater", "code", "confidence"]), gold


def test_table_uses_the_top_label_against_gold(tmp_path):
    preds, gold = long_predictions()
    res = calibration_table(preds, gold, recalibrate="isotonic")
    emb = res["emb"]
    top = preds[preds["code"] == "a"]
    correct = (gold.set_index("unit").loc[top["unit"], "code"] == "a").to_numpy()
    assert emb.n == 300
    assert emb.brier == pytest.approx(brier_score_loss(correct, top["confidence"]))
    assert any("calibrated" in name for name in res)
    png = reliability_png(res, tmp_path / "rel.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_calibration_view(run_cli, tmp_path):
    preds, gold = long_predictions()
    preds.to_csv(tmp_path / "pred.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    png = tmp_path / "rel.png"
    result = run_cli(
        "agree",
        tmp_path / "pred.csv",
        "--gold",
        tmp_path / "gold.csv",
        "--view",
        "calibration",
        "--png",
        png,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["emb"]["n"] == 300 and len(out["emb"]["bins"]) == 10
    assert png.exists()
    result = run_cli("agree", tmp_path / "pred.csv", "--view", "calibration")
    assert result.exit_code == 1 and "--gold" in result.stderr


def test_bootstrap_intervals_recompute_each_resample_independently():
    from ptmcoder.agreement.calibration import bootstrap_intervals

    p, y = forecasts(200)
    iv = bootstrap_intervals(p, y, n_boot=50, seed=4)
    idx = np.random.default_rng(4).integers(0, p.size, size=(50, p.size))
    eces = [calibration_stats(p[i], y[i]).ece for i in idx]
    briers = [brier_score_loss(y[i], p[i]) for i in idx]
    # the ECE's interval is the percentile one shifted by the bootstrap's bias estimate
    bias = float(np.mean(eces)) - calibration_stats(p, y).ece
    assert iv["ece_bias"] == pytest.approx((bias, bias))
    shifted = np.percentile(np.array(eces) - bias, [2.5, 97.5])
    assert iv["ece"] == pytest.approx(tuple(np.maximum(shifted, 0.0)))
    assert iv["brier"] == pytest.approx(tuple(np.percentile(briers, [2.5, 97.5])))


def test_calibration_view_maps_the_predictions_to_the_level_of_the_gold(run_cli, tmp_path):
    """With --codebook and --level the gold labels are lifted to the level; the
    predictions must be too, or every leaf code counts as wrong."""
    pred = pd.DataFrame(
        {
            "unit": [f"u{i}" for i in range(40)],
            "rater": "emb",
            "code": ["MLM.construction"] * 40,
            "confidence": [0.9] * 40,
        }
    )
    gold = pd.DataFrame({"unit": [f"u{i}" for i in range(40)], "code": ["MLM.construction"] * 40})
    pred.to_csv(tmp_path / "pred.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    result = run_cli(
        "agree",
        tmp_path / "pred.csv",
        "--gold",
        tmp_path / "gold.csv",
        "--codebook",
        "tan2024",
        "--level",
        "sub-category",
        "--view",
        "calibration",
        "--bootstrap",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["emb"]["accuracy"] == 1.0


@pytest.mark.parametrize("value", [0.0, 0.7])
def test_constant_confidences_are_reported_not_scored(run_cli, tmp_path, value):
    """A model that gives every code the same confidence (0.0 here: an ECE of 0.130
    used to be printed for it with no word) gets no ECE or Brier score, a note that
    its confidences carry no information, and a count of the units where codes tie."""
    rng = np.random.default_rng(3)
    units = [f"u{i}" for i in range(60)]
    gold = pd.DataFrame({"unit": units, "code": rng.choice(["a", "b"], 60)})
    rows = [(u, "flat", c, value) for u in units for c in ("a", "b")]
    preds = pd.DataFrame(rows, columns=["unit", "rater", "code", "confidence"])
    res = calibration_table(preds, gold, recalibrate="isotonic", n_boot=50)
    flat = res["flat"]
    assert flat.ece is None and flat.brier is None and flat.intervals == {}
    assert (
        flat.degenerate == f"every confidence is {value:.3f}: the confidences carry no information"
    )
    assert flat.ties == 60 and flat.n == 60
    # the top label of a tie is the first code by name: accuracy is the share of gold 'a'
    assert flat.accuracy == pytest.approx((gold["code"] == "a").mean())
    assert list(res) == ["flat"]  # nothing recalibrated from nothing

    preds.to_csv(tmp_path / "pred.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    args = (
        "agree",
        tmp_path / "pred.csv",
        "--gold",
        tmp_path / "gold.csv",
        "--view",
        "calibration",
    )
    out = json.loads(run_cli(*args, "--bootstrap", "0", "--json").stdout)["flat"]
    assert (out["ece"], out["brier"], out["ties"]) == (None, None, 60)
    assert out["degenerate"].startswith(f"every confidence is {value:.3f}")
    table = run_cli(*args, "--bootstrap", "0", env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ flat"))
    assert row.count("not scored") == 3  # ECE, Brier and the note
    assert "carry no information" in row and "60 unit(s) tie" in row


def test_varied_confidences_are_scored_and_ties_counted():
    preds, gold = long_predictions()
    preds.loc[preds.index[:5], "confidence"] = 0.0  # five units: code a at 0.0 ...
    preds.loc[preds.index[300:305], "confidence"] = 0.0  # ... and code b at 0.0 too
    emb = calibration_table(preds, gold, n_boot=0)["emb"]
    assert emb.degenerate is None and emb.ece is not None
    assert emb.ties == 5


def test_ece_interval_contains_the_ece_of_a_well_calibrated_annotator():
    """The reported case: a well calibrated annotator's percentile interval lay wholly
    above its ECE (0.032 [0.036, 0.088]); the bias-corrected one contains it."""
    from ptmcoder.agreement.calibration import bootstrap_intervals

    rng = np.random.default_rng(4)
    p = rng.uniform(0.3, 1.0, 470)
    y = (rng.uniform(size=470) < p).astype(float)
    ece = calibration_stats(p, y).ece
    idx = np.random.default_rng(0).integers(0, p.size, size=(1000, p.size))
    eces = np.array([calibration_stats(p[i], y[i]).ece for i in idx])
    assert np.percentile(eces, 2.5) > ece  # the plain percentile interval excludes it
    iv = bootstrap_intervals(p, y, n_boot=1000, seed=0)
    assert iv["ece"][0] <= ece <= iv["ece"][1]
