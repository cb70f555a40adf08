"""``ptmcoder demo``: ``ptmcoder run studies/demo.toml``, offline, on bundled real data."""

from __future__ import annotations

import click

from ptmcoder.console import make_console, print_json


@click.command()
@click.option(
    "--embedder",
    type=click.Choice(["embedded", "embedded:tfidf"]),
    default=None,
    help="The offline annotator: MiniLM sentence embeddings (the study's default), or the "
    "TF-IDF fallback.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Code the first N units.")
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(min=0),
    default=None,
    help="Bootstrap resamples for the confidence intervals (the study's default: 1000).",
)
@click.option("--new", is_flag=True, help="Start a new run instead of updating the last one.")
@click.option("--json", "as_json", is_flag=True, help="Print the stage outcomes as JSON.")
def demo(
    embedder: str | None, limit: int | None, n_boot: int | None, new: bool, as_json: bool
) -> None:
    """Run the demo study (studies/demo.toml): import 477 real Stack Overflow questions
    screened by Humbatova et al.'s evaluators, code them offline with the embedded
    annotator zero-shot and supervised by human codes, score agreement with each human,
    build the review queue, map, count and write the report. A second run skips what is
    up to date."""
    from ptmcoder.cli.run import render_result
    from ptmcoder.demo import run_demo

    err = make_console(stderr=True)
    result = run_demo(
        embedder=embedder,
        limit=limit,
        n_boot=n_boot,
        new=new,
        say=lambda m: err.print(f"[bold]{m}[/]"),
        stderr=err,
        progress=not as_json,
    )
    if as_json:
        print_json(result.to_dict())
        return
    out = make_console()
    render_result(result, out)
    out.print(f"compare the two settings: ptmcoder compare {result.run_dir}")
