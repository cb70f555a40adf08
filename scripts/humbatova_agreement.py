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
