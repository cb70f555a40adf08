"""``ptmcoder agree``: agreement between coders, annotators against humans."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ptmcoder.errors import PtmcoderError

VIEWS = ("summary", "pairwise", "per-code", "confusion", "vs-humans", "aat")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _load_inputs(
    inputs: tuple[str, ...], run: str | None, status
) -> tuple[pd.DataFrame, list[str]]:
    from ptmcoder.agreement.io import annotations_to_long, read_long_table

    frames: list[pd.DataFrame] = []
    run_raters: list[str] = []
    sources = [Path(p) for p in inputs]
    if run:
        from ptmcoder.runs import resolve_run

        sources.append(resolve_run(run).path)
    if not sources:
        raise PtmcoderError(
            "no input given", hint="pass a long table (unit,rater,code) and/or --run RUN"
        )
    for src in sources:
        if src.is_dir() or src.suffix.lower() == ".jsonl":
            df = annotations_to_long(src)
            for note in df.attrs.get("notes", []):
                status.print(f"note: {note}", markup=False)
            failed = df.attrs.get("failed", {})
            run_raters += sorted(df["rater"].dropna().unique().tolist())
            status.print(
                f"{src}: {df.attrs.get('records', 0)} annotation records"
                + (
                    ", failed (counted as missing ratings): "
                    + ", ".join(f"{k} {v}" for k, v in failed.items())
                    if failed
                    else ""
                )
            )
        else:
            df = read_long_table(src)
        frames.append(df[["unit", "rater", "code"]])
    return pd.concat(frames, ignore_index=True), list(dict.fromkeys(run_raters))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=True))
@click.option(
    "--run",
    "run",
    default=None,
    help="A run id (runs/<id>/annotations.jsonl) or run directory "
    "whose annotations join the inputs.",
)
@click.option(
    "--gold",
    "gold",
    default=None,
    type=click.Path(),
    help="Adjudicated labels (unit,code) to compare annotators against.",
)
@click.option(
    "--codebook",
    "codebook",
    default=None,
    help="Codebook id or YAML path, to evaluate at a level of its hierarchy.",
)
@click.option(
    "--level",
    "level",
    default=None,
    help="Codebook level to evaluate at (a level name, or 'leaf'); needs --codebook.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Restrict to this coefficient (repeatable): percent_agreement, cohen_kappa, "
    "scott_pi, fleiss_kappa, krippendorff_alpha, gwet_ac1, krippendorff_alpha_masi, "
    "per_code_kappa.",
)
@click.option(
    "--weights",
    type=click.Choice(["none", "linear", "quadratic"]),
    default="none",
    show_default=True,
    help="Weights of Cohen's kappa for ordered codes.",
)
@click.option(
    "--alpha-level",
    "alpha_level",
    type=click.Choice(["nominal", "ordinal", "interval", "ratio"]),
    default="nominal",
    show_default=True,
    help="Level of measurement of Krippendorff's alpha.",
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of units for the 95% intervals (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--annotators",
    default=None,
    help="Comma-separated raters that are annotators (default with --run: the run's annotators).",
)
@click.option(
    "--humans",
    default=None,
    help="Comma-separated raters that are human coders (default: every other rater).",
)
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    default="summary",
    show_default=True,
    help="What to show: coefficients over all raters, the pairwise matrix, per-code table, "
    "confusion matrix, annotator vs humans, or the Alternative Annotator Test.",
)
@click.option(
    "--epsilon",
    type=float,
    default=0.2,
    show_default=True,
    help="Cost-benefit margin of the Alternative Annotator Test "
    "(0.2 experts, 0.15 skilled, 0.1 crowd).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def agree(
    inputs,
    run,
    gold,
    codebook,
    level,
    metrics,
    weights,
    alpha_level,
    n_boot,
    seed,
    annotators,
    humans,
    view,
    epsilon,
    as_json,
):
    """Agreement between coders: every coefficient with its n, 95% bootstrap CI and
    Landis & Koch reading; annotators against each human beside the human-human
    ceiling; per-code and confusion views; the Alternative Annotator Test.

    INPUTS are long tables (CSV or Parquet: unit,rater,code, one row per code) or
    annotations.jsonl files / run directories."""
    from ptmcoder.agreement import views as v
    from ptmcoder.agreement.aat import alt_test, render_alt_test
    from ptmcoder.agreement.compute import compute_coefficients
    from ptmcoder.agreement.data import rating_matrix
    from ptmcoder.agreement.io import map_to_level, read_gold
    from ptmcoder.console import make_console, print_json

    out = make_console()
    status = make_console(stderr=True)
    df, run_raters = _load_inputs(inputs, run, status)
    gold_df = read_gold(gold) if gold else None
    if level and not codebook:
        raise PtmcoderError(
            "--level needs --codebook", hint="e.g. --codebook tan2024 --level category"
        )
    if codebook:
        lvl = level or "leaf"
        df = map_to_level(df, codebook, lvl)
        for note in df.attrs.get("notes", []):
            status.print(f"note: {note}", markup=False)
        if gold_df is not None:
            gold_df = map_to_level(gold_df, codebook, lvl)
            for note in gold_df.attrs.get("notes", []):
                status.print(f"note (gold): {note}", markup=False)
    if gold_df is not None and view not in ("vs-humans", "aat"):
        # the adjudicated labels are one more rater, "gold", in these views
        df = pd.concat([df[["unit", "rater", "code"]], gold_df], ignore_index=True)
    all_raters = sorted(df["rater"].dropna().unique().tolist())
    ann = _split(annotators) or run_raters
    hum = _split(humans) or [r for r in all_raters if r not in ann]
    for r in [*ann, *hum]:
        if r not in all_raters:
            raise PtmcoderError(
                f"rater {r!r} is not in the inputs", hint=f"raters are: {', '.join(all_raters)}"
            )

    if view == "summary":
        selected = list(dict.fromkeys([*ann, *hum])) if (annotators or humans) else None
        matrix = rating_matrix(df, raters=selected)
        _diagnose(matrix, status)
        coefs = compute_coefficients(
            matrix,
            list(metrics) or None,
            weights=weights,
            alpha_level=alpha_level,
            n_boot=n_boot,
            seed=seed,
        )
        if as_json:
            print_json({name: c.to_json() for name, c in coefs.items()})
        else:
            out.print(
                v.render_summary(
                    coefs, f"Agreement of {len(matrix.raters)} raters on {matrix.n_units} units"
                )
            )
        return
    if view == "pairwise":
        matrix = rating_matrix(df, raters=list(dict.fromkeys([*ann, *hum])) or None)
        metric = metrics[0] if metrics else "cohen_kappa"
        pairs = v.pairwise(matrix, metric, weights=weights, n_boot=n_boot, seed=seed)
        if as_json:
            print_json(
                {
                    "metric": metric,
                    "raters": matrix.raters,
                    "pairs": pairs.to_dict(orient="records"),
                }
            )
        else:
            for table in v.render_pairwise(pairs, matrix.raters):
                out.print(table)
        return
    if view == "per-code":
        matrix = rating_matrix(df, raters=list(dict.fromkeys([*ann, *hum])) or None)
        table = v.per_code_table(matrix, n_boot=n_boot, seed=seed)
        if as_json:
            print_json(
                {"method": table.attrs.get("method"), "codes": table.to_dict(orient="records")}
            )
        else:
            out.print(v.render_per_code(table))
        return
    if view == "confusion":
        a = (ann or all_raters)[0]
        b = (
            "gold"
            if gold_df is not None
            else next((r for r in (hum or all_raters) if r != a), None)
        )
        if b is None:
            raise PtmcoderError(
                "a confusion matrix needs two raters", hint="pass --annotators A --humans B"
            )
        matrix = rating_matrix(df, raters=[a, b])
        table = v.confusion_matrix(matrix, a, b)
        if as_json:
            print_json(
                {
                    "rows": a,
                    "columns": b,
                    "labels": list(table.columns),
                    "matrix": table.to_numpy().tolist(),
                }
            )
        else:
            out.print(v.render_confusion(table))
        return
    if not ann:
        raise PtmcoderError(
            f"--view {view} needs the annotator(s)", hint="pass --annotators NAME or --run RUN"
        )
    if not hum:
        raise PtmcoderError(f"--view {view} needs human coders", hint="pass --humans A,B,C")
    if view == "vs-humans":
        pair_metrics = list(metrics) or list(v.PAIR_METRICS)
        table = v.annotator_vs_humans(
            df,
            annotators=ann,
            humans=hum,
            gold=gold_df,
            seed=seed,
            n_boot=n_boot,
            metrics=pair_metrics,
            weights=weights,
        )
        if table.attrs.get("no_consensus"):
            status.print(
                f"{table.attrs['no_consensus']} unit(s) have no human majority "
                "and are left out of the consensus"
            )
        if as_json:
            ceiling = v.human_ceiling(table) if "cohen_kappa" in table.columns else {}
            print_json({"rows": table.to_dict(orient="records"), "ceiling": ceiling})
        else:
            out.print(v.render_vs_humans(table, pair_metrics))
        return
    # aat
    results = [alt_test(df, annotator=a, humans=hum, epsilon=epsilon) for a in ann]
    if as_json:
        print_json({r.annotator: r.to_json() for r in results})
    else:
        for r in results:
            out.print(render_alt_test(r))
            for note in r.notes:
                status.print(f"note: {note}")


def _diagnose(matrix, status) -> None:
    d = matrix.diagnostics()
    status.print(
        f"{d['units']} units, {d['raters']} raters, {d['ratings']} ratings, "
        f"{d['categories']} categories"
    )
    if d["units_with_one_rating"]:
        status.print(
            f"{d['units_with_one_rating']} unit(s) coded by a single rater "
            "(no agreement information)"
        )
    if d["raters_without_labels"]:
        status.print("rater(s) with no labels: " + ", ".join(d["raters_without_labels"]))
    if d["missing_code_rows"]:
        status.print(
            "rows without a code (missing ratings): "
            + ", ".join(f"{k} {n}" for k, n in d["missing_code_rows"].items())
        )
    if d["multi_label_cells"]:
        status.print(f"{d['multi_label_cells']} rating(s) carry several codes")
