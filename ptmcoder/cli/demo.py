"""``ptmcoder demo``: the main job, offline, on bundled real human-coded data."""

from __future__ import annotations

import os

import click

from ptmcoder.console import make_console, print_json


@click.command()
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["zero-shot", "few-shot"]),
    help="Embedded annotator modes to run (repeatable; default both).",
)
@click.option(
    "--embedder",
    type=click.Choice(["embedded", "embedded:tfidf"]),
    default="embedded",
    show_default=True,
    help="The offline annotator: MiniLM sentence embeddings, or the TF-IDF fallback.",
)
@click.option("--limit", type=int, default=None, help="Code only the first N units.")
@click.option(
    "--bootstrap",
    "n_boot",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals.",
)
@click.option(
    "--seed",
    type=int,
    default=13,
    show_default=True,
    help="Seed for cross-fitting and the bootstrap.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the agreement table as JSON.")
def demo(
    modes: tuple[str, ...], embedder: str, limit: int | None, n_boot: int, seed: int, as_json: bool
) -> None:
    """Import 477 real Stack Overflow questions screened by Humbatova et al.'s human
    evaluators, code them offline with the embedded annotator, and print its
    agreement with each human beside the humans' agreement with each other."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from ptmcoder.agreement.views import render_vs_humans
    from ptmcoder.demo import MODES, run_demo

    err = make_console(stderr=True)
    result = run_demo(
        modes=modes or MODES,
        embedder=embedder,
        limit=limit,
        seed=seed,
        n_boot=n_boot,
        stderr=err,
        status=lambda m: err.print(f"[bold]{m}[/]"),
    )
    if as_json:
        print_json(
            {
                "corpus_units": result.corpus_units,
                "runs": {k: str(v) for k, v in result.runs.items()},
                "annotator_records": result.annotator_records,
                "annotator_errors": result.annotator_errors,
                "humans": result.humans,
                "agreement": result.table.to_dict(orient="records"),
                "notes": result.notes,
            }
        )
        return
    out = make_console()
    out.print(
        f"Corpus: {result.corpus_units} Stack Overflow questions (titles), "
        f"codebook humbatova-screening; human evaluators: {', '.join(result.humans)}; "
        "gold = adjudicated final tag."
    )
    for name, n in result.annotator_records.items():
        out.print(f"  {name}: {n} records, {result.annotator_errors[name]} error rows")
    out.print(render_vs_humans(result.table, metrics=("percent_agreement", "cohen_kappa")))
    for note in result.notes:
        out.print(f"note: {note}")
