"""``ptmcoder stats sample-size``: Cochran's sample size (registered by the stats group)."""

from __future__ import annotations

import click

from ptmcoder.console import print_json


@click.command("sample-size")
@click.option(
    "--population",
    "-N",
    type=int,
    required=True,
    help="Population size N (e.g. 2829 PTM-related questions).",
)
@click.option("--confidence", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option(
    "--margin",
    type=float,
    default=0.05,
    show_default=True,
    help="Margin of error (half-width of the confidence interval).",
)
@click.option(
    "--p",
    "p",
    type=float,
    default=0.5,
    show_default=True,
    help="Expected proportion (0.5 is the most conservative).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the inputs and the size as JSON.")
def sample_size(population: int, confidence: float, margin: float, p: float, as_json: bool) -> None:
    """Print the sample size for a proportion: Cochran (1977) with finite population
    correction (2829 -> 339, 802 -> 260 at 95% / 5%)."""
    from ptmcoder.corpus.sampling import cochran_sample_size
    from ptmcoder.errors import PtmcoderError

    try:
        n = cochran_sample_size(population, confidence, margin, p)
    except PtmcoderError as exc:
        raise click.UsageError(exc.message) from exc
    if as_json:
        print_json(
            {
                "population": population,
                "confidence": confidence,
                "margin": margin,
                "p": p,
                "sample_size": n,
            }
        )
    else:
        click.echo(n)


@click.group("sample")
def sample() -> None:
    """Samples with a known design: the units humans should code (``sample gold``)."""


@sample.command("gold")
@click.argument("run_ref", metavar="RUN")
@click.option("--size", "-n", type=click.IntRange(min=1), required=True, help="Units to draw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--strata",
    default=None,
    help="Stratify by the annotator's 'code', its 'confidence' (quartiles) or a corpus "
    "field (platform, project, ...); default: a uniform random sample.",
)
@click.option(
    "--allocation",
    type=click.Choice(["proportional", "equal"]),
    default="proportional",
    show_default=True,
    help="How the size is shared among strata ('equal' oversamples rare strata).",
)
@click.option("--rater", default=None, help="The rater whose codes stratify (default: first).")
@click.option(
    "--out",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    help="A folder (or a .csv) for gold_sample.csv and gold_design.json "
    "(default: the run's gold/ folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the design and units as JSON.")
def gold(
    run_ref: str,
    size: int,
    seed: int,
    strata: str | None,
    allocation: str,
    rater: str | None,
    out: str | None,
    as_json: bool,
) -> None:
    """Draw the units humans should code from RUN's coded units, each with its
    inclusion probability (uniform or stratified), for prediction-powered estimates
    (``stats prevalence``)."""
    from rich.table import Table

    from ptmcoder.console import fmt_number, make_console
    from ptmcoder.inference.gold_sample import draw_gold

    drawn = draw_gold(
        run_ref, size, seed=seed, strata=strata, rater=rater, allocation=allocation, out=out
    )
    if as_json:
        print_json(drawn.to_json())
        return
    console = make_console()
    design = drawn.design
    table = Table(title=f"gold sample of run {design['run']}: {design['design']}, seed {seed}")
    for col in ("stratum", "units (N_h)", "drawn (n_h)", "inclusion probability"):
        table.add_column(col, justify="left" if col == "stratum" else "right")
    for name, s in design["strata"].items():
        table.add_row(
            name, str(s["population"]), str(s["sampled"]), fmt_number(s["probability"], 4)
        )
    console.print(table)
    console.print(f"{design['size']} of {design['population']} units: {drawn.csv_path}")
    console.print(f"design: {drawn.design_path}", highlight=False)
