"""Resolution time of PTM-related vs other GitHub issues (Banyongrakkul et al. 2025, RQ2).

Sec. III-C of the paper, step by step:

- resolution time is the number of days from an issue's creation to its
  closure; an issue closed on the day it was opened takes 0 days. Days are
  counted between UTC calendar dates (:func:`resolution_days`);
- the comparison runs on a balanced stratified sample of closed issues: per
  project as many non-PTM as PTM issues, projects where either group has no
  closed issue dropped (the corpus sampler
  ``ptmcoder.corpus.sampling.balanced_stratified_sample``);
- one-sided Mann-Whitney U test, H1: PTM-related issues take longer
  (:func:`scipy.stats.mannwhitneyu`, ``alternative="greater"``), with Cliff's
  delta (CI) and the rank-biserial correlation;
- Kruskal-Wallis H test across the top-level challenge themes of the closed
  PTM-related issues (:func:`scipy.stats.kruskal`) with epsilon squared; an issue
  with challenges under several themes counts in each of them, as each
  challenge does in the paper's per-theme averages;
- chi-square test of independence of issue types between the two groups of the
  sample (:func:`scipy.stats.chi2_contingency`) with Cramér's V;
- mean and median resolution time per theme and sub-theme;
- given human themes on a random sample of the closed PTM-related issues (``gold_themes``
  with its ``design``), each theme's mean resolution time corrected for the annotator's
  errors, beside the naive one (the annotator's themes as truth) and the humans' alone,
  with the differences between themes and against the rest, and a Wald test of equal
  means (:func:`ptmcoder.inference.outcomes.outcome_by_code`). The population is every
  closed PTM-related issue (an issue without a theme carries none). The rank tests
  (Mann-Whitney, Kruskal-Wallis) stay on the annotator's themes: PPI corrects means.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as _st

from ptmcoder.codebook import Codebook
from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.design import GoldDesign
from ptmcoder.inference.outcomes import OutcomeResult, outcome_by_code
from ptmcoder.stats.distribution import unit_column
from ptmcoder.stats.effect_sizes import (
    CliffsDelta,
    cliffs_delta,
    cramers_v,
    epsilon_squared,
    rank_biserial_from_u,
)
from ptmcoder.tables import read_ids, read_table

PTM, NON_PTM = "ptm", "non-ptm"


def resolution_days(created_at: pd.Series, closed_at: pd.Series) -> pd.Series:
    """Whole days between the UTC calendar dates of creation and closure (same day = 0);
    NaN where the issue is not closed."""
    c = pd.to_datetime(created_at, utc=True).dt.normalize()
    d = pd.to_datetime(closed_at, utc=True).dt.normalize()
    days = (d - c).dt.days.astype("float64")
    if (days < 0).any():
        bad = int((days < 0).sum())
        raise PtmcoderError(f"{bad} issue(s) close before they open; check created_at/closed_at")
    return days


@dataclass(frozen=True)
class Summary:
    name: str
    n: int
    mean: float
    median: float
    minimum: float
    maximum: float


def summarize(name: str, values) -> Summary:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return Summary(name, 0, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        name, int(v.size), float(v.mean()), float(np.median(v)), float(v.min()), float(v.max())
    )


@dataclass(frozen=True)
class MannWhitneyResult:
    test: str
    alternative: str
    u: float
    p_value: float
    n_x: int
    n_y: int
    rank_biserial: float
    cliffs: CliffsDelta

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cliffs"] = self.cliffs.to_dict()
        return out


def mann_whitney_greater(x, y, *, confidence: float = 0.95) -> MannWhitneyResult:
    """One-sided Mann-Whitney U, H1: ``x`` (PTM) stochastically greater than ``y``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size == 0 or y.size == 0:
        raise PtmcoderError(f"the Mann-Whitney test needs both groups (n = {x.size}, {y.size})")
    res = _st.mannwhitneyu(x, y, alternative="greater")
    return MannWhitneyResult(
        test="Mann-Whitney U (one-sided)",
        alternative="greater",
        u=float(res.statistic),
        p_value=float(res.pvalue),
        n_x=int(x.size),
        n_y=int(y.size),
        rank_biserial=rank_biserial_from_u(float(res.statistic), x.size, y.size),
        cliffs=cliffs_delta(x, y, confidence=confidence),
    )


@dataclass(frozen=True)
class KruskalResult:
    test: str
    h: float
    df: int
    p_value: float
    n: dict[str, int]
    epsilon_squared: float

    def to_dict(self) -> dict:
        return asdict(self)


def kruskal_groups(groups: dict[str, list[float]]) -> KruskalResult:
    """Kruskal-Wallis H across ``groups`` (at least two non-empty)."""
    kept = {k: np.asarray(v, dtype=float) for k, v in groups.items() if len(v) > 0}
    if len(kept) < 2:
        raise PtmcoderError(f"Kruskal-Wallis needs at least two non-empty groups, got {len(kept)}")
    res = _st.kruskal(*kept.values())
    n = sum(v.size for v in kept.values())
    return KruskalResult(
        test="Kruskal-Wallis H",
        h=float(res.statistic),
        df=len(kept) - 1,
        p_value=float(res.pvalue),
        n={k: int(v.size) for k, v in kept.items()},
        epsilon_squared=epsilon_squared(float(res.statistic), n),
    )


@dataclass(frozen=True)
class IndependenceResult:
    test: str
    chi2: float
    df: int
    p_value: float
    correction: bool
    table: dict[str, dict[str, int]]
    n: dict[str, int]
    cramers_v: float

    def to_dict(self) -> dict:
        return asdict(self)


def chi2_independence(
    groups: pd.Series, categories: pd.Series, *, correction: bool = True
) -> IndependenceResult:
    """Chi-square test of independence of ``categories`` between ``groups``.
    ``correction`` (Yates) only acts on 2x2 tables, as in scipy."""
    tab = pd.crosstab(groups.astype(str), categories.astype(str))
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        raise PtmcoderError(
            f"the independence test needs at least 2 groups and 2 categories, "
            f"got a {tab.shape[0]}x{tab.shape[1]} table"
        )
    chi2, p, df, _ = _st.chi2_contingency(tab.to_numpy(), correction=correction)
    n = int(tab.to_numpy().sum())
    return IndependenceResult(
        test="chi-square test of independence",
        chi2=float(chi2),
        df=int(df),
        p_value=float(p),
        correction=bool(correction and df == 1),
        table={g: {c: int(v) for c, v in row.items()} for g, row in tab.iterrows()},
        n={g: int(v) for g, v in tab.sum(axis=1).items()},
        cramers_v=cramers_v(
            _st.chi2_contingency(tab.to_numpy(), correction=False)[0], n, tab.shape
        ),
    )


# -- inputs ----------------------------------------------------------------------


def load_issues(
    path: Path,
    *,
    ptm_labels: list[str] | None = None,
    ptm_column: str | None = None,
    ptm_ids: Path | None = None,
    issue_types: str | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """The units of a corpus Parquet file with a boolean ``ptm`` column, marked by
    any of ``ptm_labels``, by the boolean ``ptm_column`` or by the ids in ``ptm_ids``
    (exactly one); and the name of the issue-type column, which ``issue_types``
    names in the corpus or as a file ``unit,issue_type`` joined on the unit id."""
    if sum(x is not None for x in (ptm_labels, ptm_column, ptm_ids)) != 1:
        raise PtmcoderError("give exactly one of --ptm-labels, --ptm-column or --ptm-ids")
    df = pd.read_parquet(path)
    if ptm_column is not None:
        if ptm_column not in df.columns:
            raise PtmcoderError(f"no column {ptm_column!r} in {path}")
        df["ptm"] = df[ptm_column].fillna(False).astype(bool)
    elif ptm_labels is not None:
        wanted = set(ptm_labels)
        df["ptm"] = df["tags"].map(lambda ts: ts is not None and bool(wanted & set(ts)))
    elif ptm_ids is not None:
        df["ptm"] = df["id"].astype(str).isin(read_ids(ptm_ids))
    if not issue_types or issue_types in df.columns:
        return df, issue_types or None
    t = read_table(Path(issue_types), header_hint="unit,issue_type")
    ucol = unit_column(t, issue_types)
    tcol = next((c for c in ("issue_type", "type", "code") if c in t.columns), None)
    if tcol is None:
        raise PtmcoderError(f"{issue_types}: no issue_type column")
    df = df.merge(
        t[[ucol, tcol]].rename(columns={ucol: "id", tcol: "issue_type"}), on="id", how="left"
    )
    return df, "issue_type"


def read_themes(path: Path, book: Codebook) -> pd.DataFrame:
    """A long table ``unit,code`` lifted to themes by :func:`theme_table`."""
    t = read_table(Path(path), header_hint="unit,code")
    return theme_table(t.rename(columns={unit_column(t, str(path)): "unit"}), book)


def read_gold_themes(
    path: Path,
    book: Codebook,
    *,
    design: Path | None = None,
    assume_random: bool = False,
) -> tuple[pd.DataFrame, GoldDesign]:
    """The humans' themes from a gold long table ``unit,code`` (optionally with
    ``inclusion_probability``), lifted by :func:`theme_table`, and the gold sample's
    design: from ``design`` (``unit,inclusion_probability``, what ``ptmcoder sample
    gold`` writes), the gold's own column, or assumed uniform when ``assume_random``
    (:func:`ptmcoder.inference.design.gold_design` says how to give one otherwise)."""
    from ptmcoder.inference.outcomes import read_gold_sample

    gold, dsn = read_gold_sample(path, design=design, assume_random=assume_random)
    return theme_table(gold, book), dsn


# -- sampling --------------------------------------------------------------------


def balanced_sample(
    df: pd.DataFrame, *, group_col: str = "ptm", project_col: str = "project", seed: int = 0
) -> tuple[pd.DataFrame, dict]:
    """The balanced stratified sample of closed issues (the corpus sampler)."""
    from ptmcoder.corpus.sampling import balanced_stratified_sample

    result = balanced_stratified_sample(
        df, group_col=group_col, project_col=project_col, closed_only=True, seed=seed
    )
    return result.units, dict(result.record)


# -- the analysis ----------------------------------------------------------------


@dataclass
class ResolutionResult:
    source: str
    n_closed: dict[str, int]
    sample_record: dict
    groups: list[Summary]
    mann_whitney: MannWhitneyResult
    kruskal: KruskalResult | None
    issue_types: IndependenceResult | None
    themes: list[Summary]
    sub_themes: list[Summary]
    figures: list[str] = field(default_factory=list)
    #: the resolution times (days) behind the box plots: group or ``theme:<id>`` -> values
    days: dict[str, list[float]] = field(default_factory=dict, repr=False)
    #: what was left out on the way in (codes the codebook lacks), to report
    notes: list[str] = field(default_factory=list)
    #: per-theme mean days naive, humans only and PPI++ (given a gold sample)
    corrected: OutcomeResult | None = None

    def draw_figures(self, out_dir: Path) -> list[str]:
        """Box plots of the groups and (with themes) of the themes, into ``out_dir``;
        their paths are added to :attr:`figures` and returned."""
        from ptmcoder.stats import plots

        groups = {"PTM": self.days[PTM], "non-PTM": self.days[NON_PTM]}
        drawn = [
            plots.box_plots(
                groups,
                Path(out_dir) / "resolution_groups.png",
                title="Resolution time, balanced sample",
                ylabel="days",
            )
        ]
        themes = {k.split(":", 1)[1]: v for k, v in self.days.items() if k.startswith("theme:")}
        if themes:
            drawn.append(
                plots.box_plots(
                    themes,
                    Path(out_dir) / "resolution_themes.png",
                    title="Resolution time of PTM-related issues per theme",
                    ylabel="days",
                )
            )
        self.figures += [str(f) for f in drawn]
        return [str(f) for f in drawn]

    def to_dict(self) -> dict:
        return {
            "analysis": "resolution time (Banyongrakkul et al. 2025, RQ2)",
            "source": self.source,
            "unit": "days (same day = 0)",
            "n_closed": self.n_closed,
            "sample": self.sample_record,
            "groups": [asdict(g) for g in self.groups],
            "mann_whitney": self.mann_whitney.to_dict(),
            "kruskal_wallis": self.kruskal.to_dict() if self.kruskal else None,
            "issue_types": self.issue_types.to_dict() if self.issue_types else None,
            "themes": [asdict(t) for t in self.themes],
            "sub_themes": [asdict(t) for t in self.sub_themes],
            "themes_corrected": self.corrected.to_json() if self.corrected else None,
            "figures": self.figures,
        }


def theme_table(
    codes: pd.DataFrame, book: Codebook, *, unit_col: str = "unit", code_col: str = "code"
) -> pd.DataFrame:
    """unit, code -> unit, theme (level 0), sub_theme (level 1, if any), one row per
    distinct (unit, theme, sub_theme). Codes are lifted with
    :meth:`~ptmcoder.codebook.Codebook.map_codes`; special codes are left out and codes
    the codebook lacks are counted in ``attrs['unknown']`` (code -> rows) and
    described in ``attrs['notes']``."""
    units = codes[unit_col].astype(str).tolist()
    raw = codes[code_col].tolist()
    themes = book.map_codes(raw, book.levels[0])
    subs = book.map_codes(raw, book.levels[1]) if len(book.levels) > 1 else None
    special = {n.id for n in book.special}
    rows = []
    for i, (unit, theme) in enumerate(zip(units, themes.codes, strict=True)):
        if theme is None or theme in special:
            continue
        rows.append((unit, theme, subs.codes[i] if subs is not None else None))
    out = pd.DataFrame(rows, columns=["unit", "theme", "sub_theme"]).drop_duplicates()
    out.attrs["unknown"] = dict(themes.unknown)
    out.attrs["notes"] = themes.notes(f"codebook {book.id}")
    return out


def resolution(
    units: pd.DataFrame,
    *,
    source: str = "<memory>",
    themes: pd.DataFrame | None = None,
    issue_type_col: str | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    chi2_correction: bool = True,
    gold_themes: pd.DataFrame | None = None,
    design: GoldDesign | None = None,
) -> ResolutionResult:
    """Banyongrakkul et al.'s RQ2 on ``units`` (unit schema plus a boolean ``ptm``
    column; ``themes`` from :func:`theme_table`). With ``gold_themes`` (the humans'
    themes, :func:`theme_table` of the gold codes) and the gold ``design`` (its units,
    given a theme or not, and inclusion probabilities:
    :func:`ptmcoder.inference.design.gold_design`), the per-theme means are also
    corrected for annotation error (:attr:`ResolutionResult.corrected`)."""
    if (gold_themes is None) != (design is None):
        raise PtmcoderError("the corrected themes need both gold_themes and its design")
    if gold_themes is not None and (themes is None or not len(themes)):
        raise PtmcoderError(
            "a gold sample corrects the annotator's themes: give the themes too",
            hint="--themes FILE (or --run RUN) with --gold",
        )
    missing = [c for c in ("id", "created_at", "closed_at", "project", "ptm") if c not in units]
    if missing:
        raise PtmcoderError(f"the resolution analysis needs column(s) {', '.join(missing)}")
    df = units.copy()
    df["ptm"] = df["ptm"].fillna(False).astype(bool)
    df["days"] = resolution_days(df["created_at"], df["closed_at"])
    if "state" not in df.columns:
        df["state"] = np.where(df["closed_at"].notna(), "closed", "open")
    closed = df[df["days"].notna() & (df["state"] == "closed")]
    if closed.empty:
        raise PtmcoderError(
            f"no closed issue with a closing date among {len(df)} units",
            hint="resolution time needs GitHub issues with state closed and "
            "closed_at (see ptmcoder corpus info)",
        )
    n_closed = {PTM: int(closed["ptm"].sum()), NON_PTM: int((~closed["ptm"]).sum())}
    sample, record = balanced_sample(closed, group_col="ptm", seed=seed)
    x = sample.loc[sample["ptm"], "days"].to_numpy()
    y = sample.loc[~sample["ptm"], "days"].to_numpy()
    mw = mann_whitney_greater(x, y, confidence=confidence)
    groups = [summarize(PTM, x), summarize(NON_PTM, y)]
    record = {**record, "n": {PTM: int(x.size), NON_PTM: int(y.size)}}

    issue_types = None
    if issue_type_col:
        if issue_type_col not in sample.columns:
            raise PtmcoderError(f"no issue-type column {issue_type_col!r}")
        typed = sample[sample[issue_type_col].notna()]
        issue_types = chi2_independence(
            typed["ptm"].map({True: PTM, False: NON_PTM}),
            typed[issue_type_col],
            correction=chi2_correction,
        )

    kr, theme_rows, sub_rows, values = None, [], [], {PTM: x, NON_PTM: y}
    if themes is not None and len(themes):
        ptm_closed = closed[closed["ptm"]][["id", "days"]].rename(columns={"id": "unit"})
        joined = themes.merge(ptm_closed, on="unit", how="inner")
        per_theme = joined.drop_duplicates(["unit", "theme"])
        by_theme = {t: g["days"].tolist() for t, g in per_theme.groupby("theme", sort=True)}
        theme_rows = sorted((summarize(t, v) for t, v in by_theme.items()), key=lambda s: -s.mean)
        sub = joined.dropna(subset=["sub_theme"]).drop_duplicates(["unit", "sub_theme"])
        sub_rows = sorted(
            (summarize(t, g["days"]) for t, g in sub.groupby("sub_theme")), key=lambda s: -s.mean
        )
        if len(by_theme) >= 2:
            kr = kruskal_groups(by_theme)
        values.update({f"theme:{t}": v for t, v in by_theme.items()})
    corrected = None
    if gold_themes is not None and design is not None and themes is not None:
        ptm_days = closed.loc[closed["ptm"], ["id", "days"]]
        corrected = outcome_by_code(
            pd.Series(ptm_days["days"].to_numpy(float), index=ptm_days["id"].astype(str)),
            themes[["unit", "theme"]],
            gold_themes[["unit", "theme"]],
            design,
            alpha=1 - confidence,
            name="resolution days",
            code_col="theme",
        )
    return ResolutionResult(
        source=source,
        n_closed=n_closed,
        sample_record=record,
        groups=groups,
        mann_whitney=mw,
        kruskal=kr,
        issue_types=issue_types,
        themes=theme_rows,
        sub_themes=sub_rows,
        days={k: [float(x) for x in v] for k, v in values.items()},
        notes=(list(themes.attrs.get("notes", [])) if themes is not None else [])
        + (corrected.notes if corrected else []),
        corrected=corrected,
    )
