"""``ptmcoder demo``: ``ptmcoder run studies/demo.toml``, offline, on bundled real data."""

from __future__ import annotations

import shlex

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
@click.option(
    "--workspace",
    "workspace",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the demo writes everything (corpora, runs, reviews, caches, locks): default "
    "$PTMCODER_HOME, else ./ptmcoder-demo; `--workspace .` writes into the current directory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stage outcomes as JSON.")
def demo(
    embedder: str | None,
    limit: int | None,
    n_boot: int | None,
    new: bool,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Run the demo study (studies/demo.toml): import 477 real Stack Overflow questions
    screened by Humbatova et al.'s evaluators, code them offline with the embedded
    annotator zero-shot and supervised by human codes, score agreement with each human,
    build the review queue, map, count and write the report. A second run skips what is
    up to date."""
    from ptmcoder.cli.run import render_result
    from ptmcoder.demo import demo_workspace, run_demo
    from ptmcoder.paths import workspace as current_workspace

    err = make_console(stderr=True)
    where = demo_workspace(workspace)
    err.print(f"demo workspace: {where}", highlight=False)
    result = run_demo(
        workspace=where,
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
    env = "" if where == current_workspace() else f"PTMCODER_HOME={shlex.quote(str(where))} "
    out.print(f"compare the two settings: {env}ptmcoder compare latest", highlight=False)
