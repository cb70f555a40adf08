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
