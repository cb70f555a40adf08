"""``ptmcoder annotate``: code a corpus with one or more annotators into a run."""

from __future__ import annotations

import shlex
import sys

import click

from ptmcoder.console import make_console


@click.command("annotate")
@click.option("--codebook", "codebook", help="Codebook id (e.g. tan2024) or path to a YAML file.")
@click.option(
    "--corpus",
    help="Corpus name, a .parquet file, or a CSV/JSONL file with id and "
    "title columns (bundled sample: humbatova_so).",
)
@click.option(
    "--annotator",
    "annotators",
    multiple=True,
    help="embedded (offline default), embedded:tfidf, openai:MODEL or "
    "langchain:PROVIDER:MODEL. Repeat to add annotators; each is a separate rater.",
)
@click.option("--level", help="Codebook level to code at (default: the leaf codes).")
@click.option("--limit", type=click.IntRange(min=1), help="Code only the first N units.")
@click.option(
    "--run",
    "run_ref",
    help="Resume this run (id, prefix or 'latest'); a new id starts a run with that id.",
)
@click.option(
    "--plan",
    is_flag=True,
    help="Render prompts, count tokens and estimate cost; make no model call and write no run.",
)
@click.option(
    "--base-url",
    help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL). The "
    "key is read from $OPENAI_API_KEY only.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Self-consistency: K answers per unit; confidence = each code's vote share.",
)
@click.option(
    "--temperature", type=float, help="Sampling temperature (default 0, or 0.7 with --samples > 1)."
)
@click.option(
    "--train",
    help="Human codes for few-shot learning: a long table unit,rater,code "
    "(file, or bundled sample name such as humbatova_so).",
)
@click.option(
    "--train-rater",
    "train_raters",
    multiple=True,
    help="Use only these raters of --train (repeatable; default all, consensus).",
)
@click.option(
    "--train-corpus",
    help="Corpus the --train units are in, when it is not the one coded (a train/test "
    "split: learn on one corpus, code another).",
)
@click.option(
    "--learn-budget",
    type=click.FloatRange(min=0),
    help="Embedded annotator with --train: seconds it may spend embedding uncached texts "
    "with MiniLM (default: the time coding the units at 50 units/s takes).",
)
@click.option(
    "--suggest",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Embedded annotator with --train: propose N not yet human-coded units to code "
    "next (uncertainty + diversity), written to the run's suggestions.csv.",
)
@click.option(
    "--shots",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="LLM annotators: number of human-coded examples per prompt (needs --train).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="LLM requests in flight at once.",
)
@click.option("--rpm", type=float, help="Requests-per-minute limit for LLM annotators.")
@click.option("--tpm", type=float, help="Tokens-per-minute limit for LLM annotators.")
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for one LLM answer before retrying.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    help="Retries of 429/5xx/timeouts per request.",
)
@click.option(
    "--max-unit-tokens",
    type=click.IntRange(min=16),
    default=2000,
    show_default=True,
    help="Truncate longer units to this many tokens (recorded per record).",
)
@click.option("--no-cache", is_flag=True, help="Do not use the SQLite response cache.")
@click.option(
    "--retry-errors",
    is_flag=True,
    help="With --run: code again the units whose record is an error (API, timeout, "
    "malformed answer...), asking the model afresh; the error records move to "
    "superseded.jsonl so each unit keeps one current record.",
)
@click.option("--batch", is_flag=True, help="Send LLM requests through the provider's Batch API.")
@click.option(
    "--seed",
    type=int,
    default=13,
    show_default=True,
    help="Seed for sampling, few-shot folds and example order.",
)
@click.option(
    "--prompt",
    "prompt_id",
    default="apply_codebook.v1",
    show_default=True,
    help="Prompt version from prompts/.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary (or plan) as JSON.")
def annotate(
    codebook,
    corpus,
    annotators,
    level,
    limit,
    run_ref,
    plan,
    base_url,
    samples,
    temperature,
    train,
    train_raters,
    train_corpus,
    learn_budget,
    suggest,
    shots,
    concurrency,
    rpm,
    tpm,
    timeout,
    max_retries,
    max_unit_tokens,
    no_cache,
    retry_errors,
    batch,
    seed,
    prompt_id,
    no_progress,
    as_json,
) -> None:
    """Code the units of a corpus against a codebook, one record per unit and annotator.

    Records go to runs/<id>/annotations.jsonl with a manifest.json. Interrupted runs
    (Ctrl-C, a crash, even kill -9) resume with --run ID: done units are skipped and
    every unit ends with exactly one record per annotator.
    """
    stderr = make_console(stderr=True)
    if not plan and not as_json and not no_progress:
        stderr.print("ptmcoder annotate: starting...", highlight=False)
    from ptmcoder.annotate.runner import AnnotateOptions

    options = AnnotateOptions(
        codebook=codebook,
        corpus=corpus,
        annotators=list(annotators),
        level=level,
        limit=limit,
        prompt=prompt_id,
        samples=samples,
        temperature=temperature,
        max_unit_tokens=max_unit_tokens,
        train=train,
        train_raters=list(train_raters),
        train_corpus=train_corpus,
        learn_budget=learn_budget,
        suggest=suggest,
        shots=shots,
        seed=seed,
        batch=batch,
        base_url=base_url,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        timeout=timeout,
        max_retries=max_retries,
        cache=not no_cache,
        progress=not no_progress,
        retry_errors=retry_errors,
    )
    if plan:
        from ptmcoder.annotate.plan import make_plan, render_plan

        result = make_plan(options)
        if as_json:
            from ptmcoder.console import print_json

            print_json(result.as_dict())
        else:
            render_plan(result, make_console())
        return

    from ptmcoder.annotate.runner import annotate as run_annotate

    try:
        result = run_annotate(options, run_ref=run_ref, stderr=stderr)
    except KeyboardInterrupt:  # pragma: no cover - interrupted before the run loop
        stderr.print("interrupted")
        sys.exit(130)
    resume = f"ptmcoder annotate --run {shlex.quote(result.run.id)}"
    if as_json:
        from ptmcoder.console import print_json

        print_json(
            {
                "run_id": result.run.id,
                "path": str(result.run.path),
                "units": result.units,
                "written": result.written,
                "skipped": result.skipped,
                "records": result.records,
                "errors": dict(result.errors),
                "cache": result.cache,
                "retried": result.retried,
                "interrupted": result.interrupted,
            }
        )
    else:
        out = make_console()
        out.print(
            f"run {result.run.id}: {result.written} records written, {result.skipped} "
            f"already done, {result.records} in total for {result.units} units"
        )
        out.print(f"  {result.run.path / 'annotations.jsonl'}")
    if result.cache["hits"] or result.cache["misses"]:
        stderr.print(f"cache: {result.cache['hits']} hits, {result.cache['misses']} misses")
    if result.errors:
        total = sum(result.errors.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.errors.items()))
        stderr.print(f"[yellow]{total} error record(s)[/yellow] ({kinds}); they go to review:")
        for unit, annotator, message in result.error_units[:20]:
            stderr.print(f"  {unit} [{annotator}]: {message[:160]}", markup=False)
        if len(result.error_units) > 20:
            stderr.print(
                f"  ... and {len(result.error_units) - 20} more "
                f"(`ptmcoder runs show {result.run.id}`)"
            )
    if result.interrupted:
        stderr.print(
            f"[yellow]interrupted.[/yellow] Records so far are saved; resume with: {resume}",
            markup=True,
        )
        sys.exit(130)
