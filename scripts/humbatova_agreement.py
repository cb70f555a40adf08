"""Human-human agreement of Humbatova et al.'s (ICSE 2020) labelling rounds, computed
with ptmcoder.agreement.

    python scripts/humbatova_agreement.py [--data ../shared/data/humbatova_dlfaults_taxonomy]
        [--out humbatova_agreement] [--bootstrap 1000] [--seed 0]

Reads ``labelling_rounds_all_combined.csv`` (1,059 items; Evaluator1..4 with
Tag1..4) and writes long tables (unit = item link, rater = evaluator id,
code) that ``ptmcoder agree`` reads directly:

- ``humbatova_coarse_long.csv``: the screening outcome of each tag ("false
  positive" -> false-positive, "generic" -> generic, any other non-empty tag ->
  dl-fault). "unclear" is a tag too and counts as dl-fault under this rule;
- ``humbatova_coarse4_long.csv``: the same with "unclear" kept as its own outcome
  (sensitivity check);
- ``humbatova_tags_long.csv``: the raw free-text tags, normalised (lower case,
  whitespace collapsed), for exact-match agreement.

An evaluator listed without a tag (all of round 2's Evaluator2) is a row with an
empty code: a missing rating, counted, not dropped. Then prints every number
per round and overall, and the ``ptmcoder agree`` commands that reproduce them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from ptmcoder.agreement.compute import compute_coefficients
from ptmcoder.agreement.data import rating_matrix

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "humbatova_dlfaults_taxonomy"
)
COARSE_METRICS = [
    "percent_agreement",
    "krippendorff_alpha",
    "fleiss_kappa",
    "gwet_ac1",
    "cohen_kappa",
]
TAG_METRICS = ["percent_agreement", "krippendorff_alpha"]


def normalise(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None
    text = re.sub(r"\s+", " ", tag.strip().lower())
    return text or None


def coarse(tag: object, keep_unclear: bool = False) -> str | None:
    if not isinstance(tag, str):  # no tag: a missing rating
        return None
    if tag == "false positive":
        return "false-positive"
    if tag == "generic":
        return "generic"
    if keep_unclear and tag == "unclear":
        return "unclear"
    return "dl-fault"


def long_tables(rounds: pd.DataFrame) -> dict[str, pd.DataFrame]:
    rows = []
    for rec in rounds.itertuples(index=False):
        for i in range(1, 5):
            rater = getattr(rec, f"Evaluator{i}")
            if not isinstance(rater, str) or not rater.strip():
                continue
            tag = normalise(getattr(rec, f"Tag{i}"))
            rows.append((rec.Link, rater.strip(), tag, rec.round, rec.EntityType, i))
    raw = pd.DataFrame(rows, columns=["unit", "rater", "tag", "round", "entity_type", "position"])
    out = {}
    for name, fn in (
        ("coarse", lambda t: coarse(t)),
        ("coarse4", lambda t: coarse(t, True)),
        ("tags", lambda t: t if isinstance(t, str) else None),
    ):
        df = raw.assign(code=raw["tag"].map(fn))[
            ["unit", "rater", "code", "round", "entity_type", "tag", "position"]
        ]
        out[name] = df.rename(columns={"tag": "raw_tag"})
        # the first two evaluator columns only, raters by position: later evaluators
        # were often added to resolve a conflict, which biases multi-rater agreement down
        first = df[df["position"] <= 2].assign(
            rater=lambda d: "Evaluator" + d["position"].astype(str)
        )
        out[f"{name}_first2"] = first.rename(columns={"tag": "raw_tag"})
    return out


def weighted_mean_interval(
    long: pd.DataFrame, pairs: pd.DataFrame, n_boot: int, seed: int
) -> tuple[float, float]:
    """95% percentile interval of the n-weighted mean pair kappa, resampling the
    items of each pair independently (strata = pairs)."""
    import numpy as np

    from ptmcoder.agreement import coefficients as co
    from ptmcoder.agreement.bootstrap import bootstrap_sums, finish_all

    matrix = rating_matrix(long[["unit", "rater", "code"]])
    draws, weights = [], []
    for i, row in enumerate(pairs.itertuples()):
        a, b = matrix.raters.index(row.rater_a), matrix.raters.index(row.rater_b)
        rows = (matrix.codes[:, a] >= 0) & (matrix.codes[:, b] >= 0)
        stat = co.cohen_kappa_statistic(
            matrix.codes[rows, a], matrix.codes[rows, b], n_categories=matrix.n_categories
        )
        draws.append(finish_all(stat, bootstrap_sums([stat], n_boot=n_boot, seed=seed + i)[0]))
        weights.append(int(rows.sum()))
    w = np.array(weights, dtype=float) / sum(weights)
    mean = np.column_stack(draws) @ w
    low, high = np.nanpercentile(mean, [2.5, 97.5])
    return float(low), float(high)


def independent_vs_resolution(
    raw: pd.DataFrame, n_boot: int, seed: int, granularity: str = "coarse4"
) -> list[str]:
    """Markdown tables that keep the two kinds of human ratings apart.

    - *independent coding*: the first two evaluator columns of an item; Cohen's
      kappa per evaluator pair on the items both coded there;
    - *conflict resolution*: a third or fourth evaluator, added to an item (mostly
      when the first two disagreed); kappa of the resolver with each of the first
      two, and of the first two with each other, on the same items.
    """
    from ptmcoder.agreement.views import pair_coefficients, pairwise

    code = raw["code"]
    lines = [f"\n## human-human, independent coding vs conflict resolution ({granularity})\n"]
    first2 = raw[raw["position"] <= 2]
    pairs = pairwise(rating_matrix(first2[["unit", "rater", "code"]]), n_boot=n_boot, seed=seed)
    lines.append("Independent coding (first two evaluator columns), Cohen's kappa per pair:\n")
    lines.append("| evaluator pair | n items | kappa [95% CI] |")
    lines.append("|---|---|---|")
    used = pairs[pairs["n"] > 0]
    for row in used.itertuples():
        value = (
            "undefined"
            if row.value is None or pd.isna(row.value)
            else (
                f"{row.value:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
                if row.ci_low is not None
                else f"{row.value:.3f}"
            )
        )
        lines.append(f"| {row.rater_a}-{row.rater_b} | {row.n} | {value} |")
    n = used["n"].to_numpy(dtype=float)
    k = pd.to_numeric(used["value"], errors="coerce").to_numpy(dtype=float)
    ok = ~pd.isna(k)
    low, high = weighted_mean_interval(first2, used[ok], n_boot, seed)
    lines.append(
        f"\nn-weighted mean over {int(ok.sum())} pairs: "
        f"{(n[ok] * k[ok]).sum() / n[ok].sum():.3f} [{low:.3f}, {high:.3f}] "
        f"(n = {int(n[ok].sum())} item-pairs; CI: items resampled within each pair); "
        f"unweighted mean {k[ok].mean():.3f}\n"
    )
    # position-based: who resolved, against whom
    wide = raw.assign(code=code).pivot_table(
        index="unit", columns="position", values="code", aggfunc="first"
    )
    has3 = wide[3].notna() if 3 in wide.columns else pd.Series(False, index=wide.index)
    both = wide[1].notna() & wide[2].notna()
    disagree = both & (wide[1] != wide[2])
    lines.append(
        f"First two disagree on {int((disagree & has3).sum())} of {int((both & has3).sum())} "
        f"items that got a third evaluator, and on {int((disagree & ~has3).sum())} of "
        f"{int((both & ~has3).sum())} items that did not.\n"
    )
    lines.append("Conflict resolution (items with a third evaluator), Cohen's kappa by column:\n")
    lines.append("| ratings compared | kind | n items | kappa [95% CI] |")
    lines.append("|---|---|---|---|")
    sub = raw[raw["unit"].isin(wide.index[has3])]
    for a, b, kind in (
        (1, 2, "independent, on conflicted items"),
        (3, 1, "resolver vs first"),
        (3, 2, "resolver vs second"),
    ):
        long = sub[sub["position"].isin([a, b])].assign(
            rater=lambda d: "p" + d["position"].astype(str)
        )
        m = rating_matrix(long[["unit", "rater", "code"]])
        c = pair_coefficients(m, f"p{a}", f"p{b}", ["cohen_kappa"], n_boot=n_boot, seed=seed)[
            "cohen_kappa"
        ]
        lines.append(f"| Evaluator{a} vs Evaluator{b} column | {kind} | {c.n_units} | {fmt(c)} |")
    return lines


def evaluate(df: pd.DataFrame, metrics: list[str], n_boot: int, seed: int) -> dict:
    matrix = rating_matrix(df)
    coefs = compute_coefficients(matrix, metrics, n_boot=n_boot, seed=seed)
    return {"diagnostics": matrix.diagnostics(), "coefs": coefs}


def fmt(c) -> str:
    if c.value is None:
        return f"undefined ({c.note})"
    return f"{c.value:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("humbatova_agreement"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rounds = pd.read_csv(args.data / "labelling_rounds_all_combined.csv")
    tables = long_tables(rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(args.out / f"humbatova_{name}_long.csv", index=False)

    lines = []
    for granularity, metrics in (
        ("coarse", COARSE_METRICS),
        ("coarse_first2", COARSE_METRICS),
        ("coarse4", COARSE_METRICS),
        ("coarse4_first2", COARSE_METRICS),
        ("tags", TAG_METRICS),
        ("tags_first2", TAG_METRICS),
    ):
        df = tables[granularity]
        lines.append(f"\n## {granularity}\n")
        lines.append("| round | items | ratings | missing | " + " | ".join(metrics) + " |")
        lines.append("|---|---|---|---|" + "---|" * len(metrics))
        groups = [(str(r), g) for r, g in df.groupby("round")] + [("all", df)]
        for label, g in groups:
            res = evaluate(g, metrics, args.bootstrap, args.seed)
            d = res["diagnostics"]
            missing = sum(d["missing_code_rows"].values())
            cells = [f"{fmt(res['coefs'][m])} n={res['coefs'][m].n_units}" for m in metrics]
            lines.append(
                f"| {label} | {d['units']} | {d['ratings']} | {missing} | "
                + " | ".join(cells)
                + " |"
            )
    lines += independent_vs_resolution(tables["coarse4"], args.bootstrap, args.seed)
    print("\n".join(lines))

    interviews = args.data / "Interviews" / "interview_open_coding.xlsx"
    if interviews.exists():
        sheet = pd.read_excel(interviews)
        rows = []
        for i, rec in sheet.iterrows():
            for col, rater in (("Evaluator 1", "E1"), ("Evaluator 2", "E2")):
                tag = normalise(rec[col])
                rows.append((f"row{i}", rater, None if tag in (None, "-") else tag))
        df = pd.DataFrame(rows, columns=["unit", "rater", "code"])
        df.to_csv(args.out / "humbatova_interviews_long.csv", index=False)
        res = evaluate(df, TAG_METRICS, args.bootstrap, args.seed)
        d = res["diagnostics"]
        print(
            f"\n## interviews (open coding, 2 evaluators; {d['units']} tag rows, "
            f"{d['units_with_one_rating']} tagged by one evaluator only)"
        )
        for m in TAG_METRICS:
            c = res["coefs"][m]
            print(f"- {m}: {fmt(c)} n={c.n_units}")
    print(
        f"\nlong tables written to {args.out}/; reproduce one cell with e.g.\n"
        f"  ptmcoder agree {args.out}/humbatova_coarse_long.csv "
        f"--bootstrap {args.bootstrap} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
