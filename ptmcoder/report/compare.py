"""Comparing two raters: of two runs (an ``annotate`` run or a study, in any mix), or
two raters of one run.

For raters A and B (each with the gold labels of its run as the reference):

- the differences between their settings (the manifests' config snapshots);
- per code, Cohen's kappa of A and of B against the reference (binary: code present
  or absent) on the units A, B and the reference all coded, each with a percentile
  bootstrap CI, and the difference kappa_B - kappa_A with a *paired* bootstrap CI
  (the same resampled units for both; Efron & Tibshirani 1993, ch. 13), stated
  significant at 95% when the interval excludes 0;
- the units whose code sets changed, counted by transition and listed;
- cost, tokens and time of each;
- the shift in the code distribution (:func:`ptmcoder.stats.shift.distribution_shift`):
  on the units both sides coded (paired), Stuart-Maxwell and Bhapkar tests of marginal
  homogeneity and McNemar per code with the difference of paired proportions and the
  discordant-pairs odds ratio; on samples of different units, the chi-square test of
  homogeneity with a bias-adjusted Cramér's V.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ptmcoder.agreement.bootstrap import check_resamples
from ptmcoder.agreement.coefficients import cohen_kappa_statistic
from ptmcoder.errors import PtmcoderError
from ptmcoder.manifest import Origin
from ptmcoder.pipeline.rundir import codes_by_unit, rater_codings, read_reference
from ptmcoder.runs import Run, rater_usage
from ptmcoder.stats.shift import distribution_shift, indicators


def _kappa(a: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each binary column (code present or absent) under unit
    weights ``w`` (boot x n; one row of ones for the estimate): agreement's
    :func:`~ptmcoder.agreement.coefficients.cohen_kappa_statistic`, whose sums over
    units make a weighted resample one matrix product. a, g: n x K; returns boot x K."""
    out = np.full((w.shape[0], a.shape[1]), np.nan)
    for j in range(a.shape[1]):
        x, y = a[:, j].astype(int).tolist(), g[:, j].astype(int).tolist()
        stat = cohen_kappa_statistic(x, y, n_categories=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, j] = stat.finish(w @ stat.stats)
    return out


def paired_per_code(
    codes_a: dict[str, list[str]],
    codes_b: dict[str, list[str]],
    reference: dict[str, list[str]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[list[dict[str, Any]], int]:
    """Per code: kappa of A and of B against the reference on the shared units, each
    with a bootstrap CI, and kappa_B - kappa_A with a paired bootstrap CI."""
    n_boot = check_resamples(n_boot)
    shared = sorted(set(codes_a) & set(codes_b) & set(reference))
    labels = sorted({c for d in (codes_a, codes_b, reference) for u in shared for c in d[u]})
    if not shared or not labels:
        return [], len(shared)
    a = indicators(codes_a, shared, labels)
    b = indicators(codes_b, shared, labels)
    g = indicators(reference, shared, labels)
    one = np.ones((1, len(shared)))
    ka, kb = _kappa(a, g, one)[0], _kappa(b, g, one)[0]
    rng = np.random.default_rng(seed)
    w = (
        rng.multinomial(len(shared), np.full(len(shared), 1 / len(shared)), size=n_boot)
        if n_boot > 0
        else np.zeros((0, len(shared)))
    )
    ba, bb = _kappa(a, g, w), _kappa(b, g, w)
    alpha = (1 - level) / 2

    def ci(values: np.ndarray) -> tuple[float | None, float | None]:
        values = values[np.isfinite(values)]
        if values.size < max(10, n_boot // 2):
            return None, None
        return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))

    rows = []
    for j, code in enumerate(labels):
        la, ha = ci(ba[:, j])
        lb, hb = ci(bb[:, j])
        ld, hd = ci(bb[:, j] - ba[:, j])
        va = None if np.isnan(ka[j]) else float(ka[j])
        vb = None if np.isnan(kb[j]) else float(kb[j])
        diff = None if va is None or vb is None else vb - va
        if ld is None or hd is None or diff is None:
            verdict = "undefined"
        else:
            verdict = "significant" if (ld > 0 or hd < 0) else "not significant"
        rows.append(
            {
                "code": code,
                "n": len(shared),
                "reference_with_code": int(g[:, j].sum()),
                "kappa_a": va,
                "kappa_a_ci_low": la,
                "kappa_a_ci_high": ha,
                "kappa_b": vb,
                "kappa_b_ci_low": lb,
                "kappa_b_ci_high": hb,
                "difference": diff,
                "difference_ci_low": ld,
                "difference_ci_high": hd,
                "verdict": verdict,
            }
        )
    return rows, len(shared)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        out = {}
        for i, v in enumerate(data):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: data}


def settings_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _flatten(a), _flatten(b)
    rows = []
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key) != fb.get(key):
            rows.append({"key": key, "a": fa.get(key), "b": fb.get(key)})
    return rows


@dataclass
class Side:
    run_dir: Path
    rater: str
    summary: dict[str, Any]
    codes: dict[str, list[str]]
    reference: dict[str, list[str]] | None
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.run_dir.name}:{self.rater}"


def load_side(
    run_dir: Path, rater: str | None, *, index: int = 0, gold: pd.DataFrame | None = None
) -> Side:
    """One rater of a run of either origin (by name, or the ``index``-th rater), its
    codes, and its reference: ``gold`` when given (``unit, code``), else the gold
    labels a study's agree stage used, else none."""
    run = Run(Path(run_dir))
    manifest = run.manifest()
    source = run.rater(rater, index=index)
    codings = rater_codings(run.path)
    # one rule with the stats stage: a unit without codes (a failed record) is left out
    codes = codes_by_unit(codings[codings["rater"] == source.name])
    if gold is None and manifest.origin is Origin.STUDY:
        gold = read_reference(run.path)
    reference = codes_by_unit(gold) if gold is not None else None
    store = source.store.manifest()
    settings = store.config.model_dump(mode="json")
    for key in ("progress", "base_url", "concurrency", "rpm", "tpm", "timeout", "max_retries"):
        settings.pop(key, None)
    config = {
        "study_id": manifest.study.id if manifest.study else None,
        "ptmcoder_version": manifest.ptmcoder_version,
        "git_commit": manifest.git_commit,
        "annotator": source.annotator,
        "annotate": settings,
        "prompt": store.prompt.model_dump() if store.prompt else None,
        "agree": (manifest.study.config.get("agree") if manifest.study else None),
    }
    return Side(run.path, source.name, rater_usage(source), codes, reference, config)


@dataclass
class CompareResult:
    a: Side
    b: Side
    settings: list[dict[str, Any]]
    per_code: list[dict[str, Any]]
    shared_units: int
    transitions: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    cost: list[dict[str, Any]]
    shift: dict[str, Any]
    bootstrap: int
    seed: int
    notes: list[str] = field(default_factory=list)
    reference: str = "gold labels of each run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": {"run": str(self.a.run_dir), "rater": self.a.rater, "label": self.a.label},
            "b": {"run": str(self.b.run_dir), "rater": self.b.rater, "label": self.b.label},
            "settings_differences": self.settings,
            "agreement_per_code": {
                "reference": self.reference,
                "shared_units": self.shared_units,
                "bootstrap": self.bootstrap,
                "seed": self.seed,
                "rows": self.per_code,
            },
            "transitions": self.transitions,
            "changed_units": self.changed,
            "units_compared": len(set(self.a.codes) & set(self.b.codes)),
            "cost": self.cost,
            "distribution_shift": self.shift,
            "notes": self.notes,
        }


def unit_titles(run_dir: Path, units: list[str]) -> dict[str, dict[str, Any]]:
    """Title and URL of each unit from the corpus the run coded, where the corpus is
    still there and has them; ``{}`` otherwise (the comparison never fails for it)."""
    if not units:
        return {}
    from ptmcoder.corpus.store import load_corpus

    try:
        corpus = Run(Path(run_dir)).coding_manifest().corpus
        frame = load_corpus(corpus.ref) if corpus and corpus.ref else None
    except (PtmcoderError, OSError, ValueError):
        return {}
    if frame is None or "id" not in frame:
        return {}
    wanted = set(units)
    frame = frame[frame["id"].astype(str).isin(wanted)]
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        title, url = row.get("title"), row.get("url")
        out[str(row["id"])] = {
            "title": title if isinstance(title, str) and title else None,
            "url": url
            if isinstance(url, str) and url.startswith(("https://", "http://"))
            else None,
        }
    return out


def _key(codes: list[str]) -> str:
    return "+".join(sorted(set(codes))) or "(none)"


def compare(
    run_a: Path,
    run_b: Path | None = None,
    *,
    rater_a: str | None = None,
    rater_b: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    gold: pd.DataFrame | None = None,
) -> CompareResult:
    """Compare two runs of either origin, or (``run_b`` None) two raters of one run.
    ``gold`` (``unit, code``) is the reference for both; without it each study run's
    own gold labels are."""
    a = load_side(run_a, rater_a, index=0, gold=gold)
    b = load_side(run_b or run_a, rater_b, index=0 if run_b is not None else 1, gold=gold)
    if a.run_dir == b.run_dir and a.rater == b.rater:
        raise PtmcoderError("both sides are the same rater", hint="name two raters")
    notes = []
    reference = a.reference
    per_code: list[dict[str, Any]]
    if reference is None or b.reference is None:
        per_code, shared = [], 0
        notes.append(
            "no gold labels for one of the sides (give --gold FILE): per-code agreement "
            "not computed"
        )
    else:
        if a.reference != b.reference:
            notes.append("the runs' gold labels differ; the reference is run A's")
        per_code, shared = paired_per_code(a.codes, b.codes, reference, n_boot=n_boot, seed=seed)
    both = sorted(set(a.codes) & set(b.codes))
    counter: Counter = Counter()
    changed: list[dict[str, Any]] = []
    for unit in both:
        ka, kb = _key(a.codes[unit]), _key(b.codes[unit])
        if ka != kb:
            counter[(ka, kb)] += 1
            ref = _key(reference.get(unit, [])) if reference and unit in reference else None
            changed.append({"unit": unit, "a": ka, "b": kb, "reference": ref})
    titles = unit_titles(a.run_dir, [str(c["unit"]) for c in changed])
    for c in changed:
        c.update(titles.get(str(c["unit"]), {"title": None, "url": None}))
    transitions = [
        {"from": f, "to": t, "units": n}
        for (f, t), n in sorted(counter.items(), key=lambda x: -x[1])
    ]
    cost = []
    for side in (a, b):
        s = side.summary
        cost.append(
            {
                "side": side.label,
                "records": s.get("records"),
                "errors": s.get("errors"),
                "input_tokens": s.get("input_tokens"),
                "output_tokens": s.get("output_tokens"),
                "cost_usd": s.get("cost_usd"),
                "seconds": s.get("seconds"),
                "latency_mean_s": s.get("latency_mean_s"),
            }
        )
    shift = distribution_shift(a.codes, b.codes, n_boot=n_boot, seed=seed)
    return CompareResult(
        a=a,
        b=b,
        settings=settings_diff(a.config, b.config),
        per_code=per_code,
        shared_units=shared,
        transitions=transitions,
        changed=changed,
        cost=cost,
        shift=shift,
        bootstrap=n_boot,
        seed=seed,
        notes=notes,
        reference="the --gold file" if gold is not None else "the gold labels of run A",
    )


def compare_frame(result: CompareResult) -> pd.DataFrame:
    return pd.DataFrame(result.per_code)
