"""``ptmcoder agree``: agreement between coders, annotators against humans."""

from __future__ import annotations

import click

#: the views of ``agreement.evaluate.VIEWS``, spelt here so that ``--help`` imports no
#: pandas (a test keeps the two equal)
VIEWS = (
    "summary",
    "pairwise",
    "per-code",
    "confusion",
    "vs-humans",
    "pairs",
    "aat",
    "calibration",
)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


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
    type=click.Choice(list(VIEWS)),
    default="summary",
    show_default=True,
    help="What to show: coefficients over all raters, the pairwise matrix, per-code table, "
    "confusion matrix, annotators vs humans on the same units, the Alternative Annotator "
    "Test, or the calibration of the annotators' confidences against --gold.",
)
@click.option(
    "--epsilon",
    type=float,
    default=0.2,
    show_default=True,
    help="Cost-benefit margin of the Alternative Annotator Test "
    "(0.2 experts, 0.15 skilled, 0.1 crowd).",
)
@click.option(
    "--min-n",
    "min_n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="vs-humans: triads (annotator + two humans) with fewer common units are shown "
    "but left out of the means.",
)
@click.option(
    "--all-ratings",
    "all_ratings",
    is_flag=True,
    help="vs-humans: the humans' ceiling uses every human rating, conflict-resolution "
    "ratings included (default: only the first two ratings of each unit, in table order, "
    "which were made independently).",
)
@click.option(
    "--png",
    "png",
    default=None,
    type=click.Path(dir_okay=False),
    help="calibration: write the reliability diagram to this PNG.",
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
    min_n,
    all_ratings,
    png,
    as_json,
):
    """Agreement between coders: every coefficient with its n, 95% bootstrap CI and
    Landis & Koch reading; annotators against each human beside the human-human
    ceiling; per-code and confusion views; the Alternative Annotator Test.

    INPUTS are long tables (CSV or Parquet: unit,rater,code, one row per code) or
    annotations.jsonl files / run directories."""
    from ptmcoder.agreement.evaluate import AgreeOptions, evaluate
    from ptmcoder.console import make_console, print_json

    options = AgreeOptions(
        inputs=list(inputs),
        run=run,
        gold=gold,
        codebook=codebook,
        level=level,
        metrics=list(metrics),
        weights=weights,
        alpha_level=alpha_level,
        n_boot=n_boot,
        seed=seed,
        annotators=_split(annotators),
        humans=_split(humans),
        view=view,
        epsilon=epsilon,
        min_n=min_n,
        ratings="all" if all_ratings else "independent",
        png=png,
    )
    result = evaluate(options)
    status = make_console(stderr=True)
    for note in result.notes:
        status.print(note, markup=False)
    shown = result.views[view]
    if as_json:
        print_json(shown.data)
        return
    out = make_console()
    for renderable in shown.renderables:
        out.print(renderable)
