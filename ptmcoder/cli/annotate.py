"""``ptmcoder annotate``: code a corpus with one or more annotators into a run."""

from __future__ import annotations

import shlex
import sys

import click

from ptmcoder.console import make_console, print_json, safe_text
from ptmcoder.llm.base import STRUCTURED_MODES

#: option fields whose click parameter has another name
_PARAMS = {"prompt": "prompt_id", "cache": "no_cache", "progress": "no_progress"}


def _options(params: dict):
    """AnnotateOptions from the command's parameters, with only what the user set
    (a resumed run keeps its own settings for the rest)."""
    from ptmcoder.annotate.options import AnnotateOptions

    values = {
        name: params[name]
        for name in AnnotateOptions.model_fields
        if name not in _PARAMS and name in params
    }
    values.update(
        prompt=params["prompt_id"],
        cache=not params["no_cache"],
        progress=not params["no_progress"],
        annotators=list(params["annotators"]),
        train_raters=list(params["train_raters"]),
    )
    ctx = click.get_current_context()
    given = {
        name: value
        for name, value in values.items()
        if ctx.get_parameter_source(_PARAMS.get(name, name))
        not in (None, click.core.ParameterSource.DEFAULT)
    }
    return AnnotateOptions(**given)


def _render_plan(options, as_json: bool) -> None:
    from ptmcoder.annotate.plan import make_plan, render_plan

    result = make_plan(options)
    if as_json:
        print_json(result.as_dict())
    else:
        render_plan(result, make_console())


def _render_result(result, as_json: bool, stderr) -> None:
    resume = f"ptmcoder annotate --run {shlex.quote(result.run.id)}"
    if as_json:
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
            stderr.print(
                safe_text(f"  {unit} [{annotator}]: {message[:160]}"), markup=False, highlight=False
            )
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


def _repeat(options, k: int, run_ref, stderr, as_json: bool) -> None:
    """``--repeat K``: K runs of the same units, seeds ``seed .. seed+K-1``."""
    from ptmcoder.annotate.runner import AllRecordsFailed
    from ptmcoder.annotate.runner import annotate as run_annotate
    from ptmcoder.errors import PtmcoderError

    if run_ref:
        raise PtmcoderError("--repeat starts new runs", hint="drop --run, or drop --repeat")
    runs = []
    failed = None
    for i in range(k):
        stderr.print(f"repeat {i + 1} of {k} (seed {options.seed + i})")
        result = run_annotate(options.model_copy(update={"seed": options.seed + i}), stderr=stderr)
        runs.append(
            {
                "repeat": i + 1,
                "seed": options.seed + i,
                "run_id": result.run.id,
                "path": str(result.run.path),
                "records": result.records,
                "errors": dict(result.errors),
            }
        )
        failed = result if result.all_failed else None
        if failed is not None:
            break  # the next repeats would fail the same way
    if as_json:
        print_json({"repeats": runs})
    if failed is not None:
        raise AllRecordsFailed(failed)
    if as_json:
        return
    out = make_console()
    for r in runs:
        out.print(
            f"repeat {r['repeat']} (seed {r['seed']}): run {r['run_id']}, {r['records']} records"
        )
    out.print(
        "agreement over the repeats: ptmcoder agree HUMANS.csv "
        + " ".join(shlex.quote(r["path"]) for r in runs)
        + " --view vs-humans"
    )


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
    help="embedded (offline default), embedded:tfidf, embedded:minilm, embedded:finetune "
    "(fine-tunes MiniLM on the --train codes; minutes on CPU, cached), openai:MODEL or "
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
    help="Human codes: the offline annotator learns from them (supervised), an LLM takes its "
    "--shots examples from them (few-shot); a long table unit,rater,code "
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
    "--learn-max-texts",
    type=click.IntRange(min=0),
    help="Embedded annotator with --train: MiniLM joins the cross-validation when the "
    "human-coded and coded units hold at most N distinct texts (default 2000; a count, "
    "never a time, so the choice is the same on any machine).",
)
@click.option(
    "--learn-budget",
    type=click.FloatRange(min=0),
    hidden=True,
    help="No longer used (a time budget made results depend on machine load); ignored "
    "with a note in the manifest. Use --learn-max-texts.",
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
    default=None,
    help="LLM requests in flight at once [default: 8; 1 for an endpoint on this machine].",
)
@click.option(
    "--structured",
    type=click.Choice(STRUCTURED_MODES),
    default="auto",
    show_default=True,
    help="How to ask for structured output; auto probes the endpoint once per model "
    "and falls back (json_schema -> json_object -> none) when the endpoint refuses a mode.",
)
@click.option(
    "--max-output-tokens",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Cap on the tokens of one answer; an answer cut off at the cap is an "
    "'output_truncated' error row.",
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
    help="Seed for sampling, the learner's folds and the order of few-shot examples.",
)
@click.option(
    "--prompt",
    "prompt_id",
    default="apply_codebook.v1",
    show_default=True,
    help="Prompt version from prompts/.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Code the same units K times, one run per repeat with seed, seed+1, ...; "
    "`ptmcoder agree HUMANS RUN1 RUN2 ... --view vs-humans` then reports the mean and SD.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary (or plan) as JSON.")
def annotate(**params) -> None:
    """Code the units of a corpus against a codebook, one record per unit and annotator.

    Records go to runs/<id>/annotations.jsonl with a manifest.json. Interrupted runs
    (Ctrl-C, a crash, even kill -9) resume with --run ID: done units are skipped and
    every unit ends with exactly one record per annotator.
    """
    stderr = make_console(stderr=True)
    if not params["plan"] and not params["as_json"] and not params["no_progress"]:
        stderr.print("ptmcoder annotate: starting...", highlight=False)  # before heavy imports
    from ptmcoder.annotate.runner import annotate as run_annotate
    from ptmcoder.annotate.runner import check_result

    options = _options(params)
    if params["plan"]:
        _render_plan(options, params["as_json"])
        return
    if params["repeat"] > 1:
        _repeat(options, params["repeat"], params["run_ref"], stderr, params["as_json"])
        return
    try:
        result = run_annotate(options, run_ref=params["run_ref"], stderr=stderr)
    except KeyboardInterrupt:  # pragma: no cover - interrupted before the run loop
        stderr.print("interrupted")
        sys.exit(130)
    _render_result(result, params["as_json"], stderr)
    check_result(result)  # every record an error: non-zero, the records kept
