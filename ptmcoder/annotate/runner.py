"""The annotation run: units × annotators → ``runs/<id>/annotations.jsonl``.

:func:`annotate` is what ``ptmcoder annotate`` calls. It creates (or resumes) a
run directory, writes the manifest first (so even a killed run is described),
then lets every annotator code the units that have no record yet for it:

- the embedded annotator works through the units in batches;
- an LLM annotator is driven by asyncio over units with at most
  ``concurrency`` requests in flight; the LLM layer's client applies the
  RPM/TPM limiter and the retries.

Each record is appended durably the moment it exists (see :mod:`ptmcoder.runs`),
so an interrupted run, even by ``kill -9``, resumes with ``--run ID`` and ends
with every unit annotated exactly once per annotator.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ptmcoder.annotate.prompt import DEFAULT_PROMPT, allowed_codes, load_prompt, normalise_level
from ptmcoder.annotate.records import Annotation
from ptmcoder.annotate.units import load_units
from ptmcoder.codebook import Codebook, codebook_hash, load_codebook
from ptmcoder.errors import ConfigError, NotFoundError
from ptmcoder.llm.openai_client import check_base_url
from ptmcoder.paths import workspace
from ptmcoder.runs import Run, create_run, list_run_ids, resolve_run, utcnow

#: settings that may change when a run is resumed (they do not change the answers)
OPERATIONAL = (
    "base_url",
    "concurrency",
    "rpm",
    "tpm",
    "timeout",
    "max_retries",
    "cache",
    "progress",
    "retry_errors",
)


@dataclass
class AnnotateOptions:
    """Everything ``ptmcoder annotate`` can set; stored in the manifest as ``config``."""

    codebook: str | None = None
    corpus: str | None = None
    annotators: list[str] = field(default_factory=list)
    level: str | None = None
    limit: int | None = None
    prompt: str = DEFAULT_PROMPT
    samples: int = 1
    temperature: float | None = None
    max_unit_tokens: int | None = 2000
    max_output_tokens: int | None = 1024
    train: str | None = None
    train_raters: list[str] = field(default_factory=list)
    #: the corpus the --train units are in, when not the one coded (a train/test split)
    train_corpus: str | None = None
    #: seconds the embedded learner may spend embedding uncached texts with MiniLM
    #: (None: the time coding the units at 50 units/s takes)
    learn_budget: float | None = None
    #: propose this many not yet human-coded units for a human to code next
    suggest: int = 0
    shots: int = 0
    seed: int = 13
    embedded_temperature: float = 0.05
    multi_threshold: float = 0.5
    folds: int = 5
    batch: bool = False
    # operational
    base_url: str | None = None
    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    timeout: float = 60.0
    max_retries: int = 6
    cache: bool = True
    progress: bool = True
    #: on resume, take the error records out (to superseded.jsonl) and code those
    #: units again, asking the model afresh (not the cache)
    retry_errors: bool = False


@dataclass
class AnnotateResult:
    run: Run
    written: int
    skipped: int
    errors: Counter
    error_units: list[tuple[str, str, str]]
    records: int
    units: int
    interrupted: bool = False
    cache: dict[str, int] = field(default_factory=dict)
    #: error records superseded by this session (--retry-errors)
    retried: int = 0


def _annotator_kind(spec: str) -> str:
    if spec == "embedded" or spec.startswith("embedded:"):
        return "embedded"
    if spec.startswith("openai:") or spec.startswith("langchain:"):
        return "llm"
    raise ConfigError(
        f"unknown annotator {spec!r}",
        hint="use embedded, embedded:tfidf, openai:MODEL or langchain:PROVIDER:MODEL",
    )


def _config_snapshot(options: AnnotateOptions, book: Codebook) -> dict[str, Any]:
    config = asdict(options)
    config.pop("progress", None)
    config.pop("retry_errors", None)  # a per-session choice, recorded in the session
    config["level"] = normalise_level(options.level)
    config["codebook_id"] = book.id
    config["codebook_version"] = book.version
    config["codebook_hash"] = codebook_hash(book)
    # never a key: only the *name* of the variable the key is read from
    config["api_key_env"] = "OPENAI_API_KEY"
    return config


def _merge_resume(options: AnnotateOptions, stored: dict[str, Any]) -> AnnotateOptions:
    """On resume the stored config wins; only operational settings may change."""
    merged = dict(stored)
    for name in ("codebook", "corpus"):
        given = getattr(options, name)
        if given and given != stored.get(name):
            raise ConfigError(
                f"--{name} {given!r} differs from the run's {stored.get(name)!r}",
                hint="omit it when resuming, or start a new run",
            )
    if options.annotators and sorted(options.annotators) != sorted(stored.get("annotators", [])):
        raise ConfigError(
            "--annotator differs from the run's annotators "
            f"({', '.join(stored.get('annotators', []))})",
            hint="omit --annotator when resuming, or start a new run",
        )
    for name in OPERATIONAL:
        value = getattr(options, name)
        if name in ("base_url", "rpm", "tpm") and value is None:
            continue
        merged[name] = value
    known = {f for f in AnnotateOptions.__dataclass_fields__}
    return AnnotateOptions(**{k: v for k, v in merged.items() if k in known})


def prepare_run(
    options: AnnotateOptions, run_ref: str | None
) -> tuple[Run, AnnotateOptions, Codebook, bool]:
    """Create a run, or open ``run_ref`` to resume it (a new id creates a run with it)."""
    if options.base_url:
        check_base_url(options.base_url)  # before anything records it
    existing: Run | None = None
    if run_ref:
        try:
            existing = resolve_run(run_ref)
        except NotFoundError:
            if os.sep in run_ref or run_ref in list_run_ids():
                raise
            existing = None
    if existing is not None:
        manifest = existing.manifest()
        options = _merge_resume(options, manifest["config"])
        book = load_codebook(options.codebook)
        stored_hash = manifest["config"].get("codebook_hash")
        if codebook_hash(book) != stored_hash:
            raise ConfigError(
                f"codebook {book.id!r} changed since run {existing.id} started "
                f"({stored_hash[:19]} -> {codebook_hash(book)[:19]})",
                hint="start a new run; a run codes with one codebook version",
            )
        return existing, options, book, True
    if not options.codebook or not options.corpus or not options.annotators:
        raise ConfigError(
            "--codebook, --corpus and --annotator are needed to start a run",
            hint="or pass --run ID to resume an existing run",
        )
    for spec in options.annotators:
        _annotator_kind(spec)
    if len(set(options.annotators)) != len(options.annotators):
        raise ConfigError("an annotator is listed twice")
    if options.samples < 1:
        raise ConfigError("--samples must be at least 1")
    book = load_codebook(options.codebook)
    normalise = normalise_level(options.level)
    if normalise != "leaf":
        book.level_index(normalise)  # raises with the known levels
    run = create_run(_config_snapshot(options, book), run_id=run_ref or None)
    return run, options, book, False


# -- building annotators ------------------------------------------------------------------


def _training_for(
    options: AnnotateOptions,
    book: Codebook,
    all_units: list[dict[str, Any]],
    warn: Callable[[str], None],
) -> Any:
    """The human-coded units of ``--train`` (:mod:`ptmcoder.annotate.training`)."""
    if not options.train:
        return None
    from ptmcoder.annotate.training import load_training

    return load_training(
        options.train,
        book,
        options.level,
        all_units,
        raters=options.train_raters or None,
        train_corpus=options.train_corpus,
        corpus_name=options.corpus,
        warn=warn,
    )


def make_llm_model(
    spec: str, options: AnnotateOptions, book: Codebook, prompt_id: str
) -> tuple[Any, str, dict[str, Any]]:
    """The chat model for ``openai:MODEL`` / ``langchain:PROVIDER:MODEL``, wrapped in the
    response cache. Returns (model, model name, notes for the manifest)."""
    from ptmcoder.llm.cache import CachedChatModel, ResponseCache
    from ptmcoder.llm.factory import make_chat_model, parse_spec

    notes: dict[str, Any] = {}
    model_name = parse_spec(spec)[2]
    model = make_chat_model(
        spec,
        base_url=options.base_url,
        rpm=options.rpm,
        tpm=options.tpm,
        timeout=options.timeout,
        max_retries=options.max_retries,
    )
    notes["base_url_host"] = _host(getattr(model, "base_url", None) or options.base_url)
    if options.cache:
        path = workspace() / "cache" / "responses.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        model = CachedChatModel(
            model, ResponseCache(path), prompt_id, codebook_hash(book), refresh=options.retry_errors
        )
        notes["cache"] = str(path)
    else:
        notes["cache"] = "disabled (--no-cache)"
    return model, model_name, notes


def _host(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _cost_function() -> Callable[[str, int, int, int], float | None]:
    """Cost per record, with the price table read once (not once per unit)."""
    from ptmcoder.llm.pricing import estimate_cost, load_prices

    table = load_prices()

    def cost(model: str, inp: int, out: int, cached: int) -> float | None:
        return estimate_cost(model, inp, out, cached_input_tokens=cached, table=table)

    return cost


def _examples_function(
    options: AnnotateOptions,
    book: Codebook,
    units: list[dict[str, Any]],
    labels: dict[str, list[str]] | None,
    warn: Callable[[str], None],
):
    """``examples_for(unit)`` choosing few-shot examples from human-coded units."""
    if not labels or options.shots <= 0:
        return None, None
    from ptmcoder.annotate.embedded import make_embedder
    from ptmcoder.annotate.fewshot import select_examples
    from ptmcoder.annotate.prompt import Example, unit_text

    pool = [u for u in units if str(u["id"]) in labels and unit_text(u).strip()]
    if not pool:
        warn("no human-coded unit of --train is in the corpus; no few-shot examples")
        return None, None
    embedder = make_embedder("auto", warn=warn)
    embedder.fit([unit_text(u) for u in units])
    vectors = embedder.encode([unit_text(u) for u in pool])
    ids = [str(u["id"]) for u in pool]
    texts = [unit_text(u) for u in pool]
    pool_labels = [labels[i] for i in ids]
    cache: dict[str, Any] = dict(zip(ids, vectors, strict=True))

    def examples_for(unit: dict[str, Any]) -> list[Example]:
        uid = str(unit["id"])
        vec = cache.get(uid)
        if vec is None:
            vec = embedder.encode([unit_text(unit)])[0]
        chosen = select_examples(
            uid,
            vec,
            ids,
            vectors,
            pool_labels,
            options.shots,
            seed=options.seed,
            unit_text=unit_text(unit),
            pool_texts=texts,
        )
        return [Example(ids[i], texts[i], pool_labels[i]) for i in chosen]

    return examples_for, {
        "embedder": embedder.name,
        "pool": len(pool),
        "k": options.shots,
        "selection": "most similar per distinct label set, then most "
        "similar; shuffled per unit; never the unit itself",
    }


# -- the run ----------------------------------------------------------------------------


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


def annotate(
    options: AnnotateOptions, *, run_ref: str | None = None, stderr: Console | None = None
) -> AnnotateResult:
    """Create or resume a run and annotate every pending (unit, annotator) pair."""
    stderr = stderr or Console(stderr=True)
    run, options, book, resumed = prepare_run(options, run_ref)
    warn = lambda msg: stderr.print(f"[yellow]warning:[/yellow] {msg}")  # noqa: E731
    session = {"started_at": utcnow(), "resumed": resumed, "pid": os.getpid()}
    started = time.perf_counter()
    written = 0
    skipped = 0
    errors: Counter = Counter()
    error_units: list[tuple[str, str, str]] = []
    interrupted = False
    cache_stats = {"hits": 0, "misses": 0}
    with run:
        manifest = run.manifest()
        template = load_prompt(options.prompt)
        frame = load_units(options.corpus)
        all_units = frame.to_dict("records")
        todo_units = all_units[: options.limit] if options.limit is not None else all_units
        retried = run.supersede_errors(options.annotators) if options.retry_errors else []
        if retried:
            stderr.print(
                f"retrying {len(retried)} unit(s) whose record is an error "
                f"(earlier records kept in {run.superseded_path.name})"
            )
        session["retried"] = len(retried)
        done = run.done_keys()
        training = _training_for(options, book, all_units, warn)
        labels = training.labels if training is not None else None
        train_units = training.units if training is not None else []
        if options.train and not labels:
            warn(
                f"--train {options.train}: no usable human codes (check --train-rater and "
                "that the codes belong to the codebook); coding zero-shot"
            )
        annotators_meta = {a["name"]: a for a in manifest.get("annotators", [])}
        common = {
            "run_id": run.id,
            "codebook_id": book.id,
            "codebook_hash": codebook_hash(book),
            "level": normalise_level(options.level),
        }
        manifest.update(
            {
                "status": "running",
                "codebook": {
                    "id": book.id,
                    "version": book.version,
                    "hash": codebook_hash(book),
                    "level": normalise_level(options.level),
                    "allowed_codes": allowed_codes(book, options.level),
                },
                "prompt": {"id": template.id, "sha256": template.sha256},
                "corpus": {
                    "ref": options.corpus,
                    "source": frame.attrs.get("source"),
                    "units_in_corpus": len(all_units),
                },
                "seed": options.seed,
            }
        )
        if training is not None:
            manifest["training"] = training.stats
        manifest.setdefault("counts", {})["units"] = len(todo_units)
        run.write_manifest(manifest)
        try:
            for spec in options.annotators:
                pending = [u for u in todo_units if (str(u["id"]), spec) not in done]
                skipped += len(todo_units) - len(pending)
                kind = _annotator_kind(spec)
                if kind == "embedded":
                    meta, n, errs = _run_embedded(
                        spec,
                        options,
                        book,
                        run,
                        all_units,
                        pending,
                        labels,
                        common,
                        stderr,
                        warn,
                        train_units=train_units,
                    )
                else:
                    meta, n, errs, stats = _run_llm(
                        spec,
                        options,
                        book,
                        template,
                        run,
                        _with_training_units(all_units, train_units),
                        pending,
                        labels,
                        common,
                        stderr,
                        warn,
                    )
                    cache_stats["hits"] += stats.get("cache_hits", 0)
                    cache_stats["misses"] += stats.get("cache_misses", 0)
                if meta is not None or spec not in annotators_meta:
                    old = annotators_meta.get(spec, {})
                    annotators_meta[spec] = {**old, **(meta or {"name": spec})}
                    annotators_meta[spec]["name"] = spec
                written += n
                for rec in errs:
                    errors[rec.error_type.value] += 1
                    error_units.append((rec.unit_id, spec, rec.error or ""))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            records = run.records()
            by_annotator: dict[str, Any] = {}
            for spec in options.annotators:
                mine = [r for r in records if r["annotator"] == spec]
                ids = {r["unit_id"] for r in mine}
                by_annotator[spec] = {
                    "records": len(mine),
                    "unique_units": len(ids),
                    "errors": dict(Counter(r["error_type"] for r in mine if r.get("error_type"))),
                    "pending": sum(1 for u in todo_units if str(u["id"]) not in ids),
                }
            complete = all(v["pending"] == 0 for v in by_annotator.values())
            manifest = run.manifest()
            session.update(
                {
                    "finished_at": utcnow(),
                    "seconds": round(time.perf_counter() - started, 3),
                    "written": written,
                    "skipped": skipped,
                    "errors": dict(errors),
                    "interrupted": interrupted,
                    "cache": dict(cache_stats),
                }
            )
            manifest.setdefault("sessions", []).append(session)
            totals = manifest.get("cache", {"hits": 0, "misses": 0})
            manifest["cache"] = {
                "hits": totals.get("hits", 0) + cache_stats["hits"],
                "misses": totals.get("misses", 0) + cache_stats["misses"],
            }
            manifest["annotators"] = list(annotators_meta.values())
            manifest["counts"] = {
                "units": len(todo_units),
                "records": len(records),
                "errors": sum(1 for r in records if r.get("error_type")),
                "by_annotator": by_annotator,
            }
            manifest["status"] = (
                "complete" if complete else ("interrupted" if interrupted else "incomplete")
            )
            run.write_manifest(manifest)
    return AnnotateResult(
        run=run,
        written=written,
        skipped=skipped,
        errors=errors,
        error_units=error_units,
        records=len(records),
        units=len(todo_units),
        interrupted=interrupted,
        cache=cache_stats,
        retried=len(retried),
    )


def _with_training_units(
    all_units: list[dict[str, Any]], train_units: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ids = {str(u["id"]) for u in all_units}
    return all_units + [u for u in train_units if str(u["id"]) not in ids]


def _run_embedded(
    spec, options, book, run, all_units, pending, labels, common, stderr, warn, train_units=()
):
    kind = spec.split(":", 1)[1] if ":" in spec else "auto"
    if not pending:
        return None, 0, []
    if labels:
        from ptmcoder.annotate.supervised import run_supervised

        done = run_supervised(
            spec, kind, options, book, run, pending, labels, train_units, common, stderr
        )
        if done is not None:
            return done
        warn("too few human-coded units (or one code only) for few-shot; zero-shot used")
    from ptmcoder.annotate.embedded import EmbeddedAnnotator, EmbeddedConfig, make_embedder

    if options.suggest:
        warn("--suggest needs human codes (--train) to learn from; no suggestions written")
    stderr.print(f"{spec}: loading the embedder", highlight=False)
    embedder = make_embedder(kind, warn=warn)
    config = EmbeddedConfig(
        temperature=options.embedded_temperature,
        multi_threshold=options.multi_threshold,
        folds=options.folds,
        seed=options.seed,
    )
    annotator = EmbeddedAnnotator(
        book, options.level, embedder, name=spec, config=config, cache_dir=run.path / "embeddings"
    )
    t0 = time.perf_counter()
    annotator.prepare(all_units)
    prep = time.perf_counter() - t0
    meta = annotator.describe()
    meta["model_load_seconds"] = round(embedder.load_seconds, 3)
    meta["prepare_seconds"] = round(prep, 3)
    written = 0
    errors: list[Annotation] = []
    t1 = time.perf_counter()
    with _progress(stderr, options.progress) as progress:
        task = progress.add_task(f"{spec}", total=len(pending))
        for record in annotator.annotate(pending, common={**common, "created_at": utcnow()}):
            run.append(record)
            written += 1
            if record.error_type:
                errors.append(record)
            progress.advance(task)
    elapsed = time.perf_counter() - t1
    meta["units_per_second"] = round(written / elapsed, 2) if elapsed > 0 else None
    return meta, written, errors


def _run_llm(spec, options, book, template, run, all_units, pending, labels, common, stderr, warn):
    from ptmcoder.annotate.llm import LLMAnnotator, LLMSettings

    model, model_name, notes = make_llm_model(spec, options, book, template.id)
    examples_for, fewshot_meta = _examples_function(options, book, all_units, labels, warn)
    settings = LLMSettings(
        samples=options.samples,
        temperature=options.temperature,
        max_unit_tokens=options.max_unit_tokens,
        max_output_tokens=options.max_output_tokens,
        seed=options.seed,
        shots=options.shots if examples_for else 0,
    )
    annotator = LLMAnnotator(
        spec,
        model,
        model_name,
        book,
        options.level,
        template,
        settings,
        examples_for=examples_for,
        cost=_cost_function(),
    )
    meta = {**annotator.describe(), **notes}
    if fewshot_meta:
        meta["few_shot"] = fewshot_meta
    if not pending:
        return meta, 0, [], annotator.stats
    if options.batch:
        records, state = _run_batch(annotator, model, pending, common, run, stderr, warn)
        errors = []
        for record in records:
            run.append(record)
            if record.error_type:
                errors.append(record)
        meta["batch"] = {
            k: state.get(k)
            for k in (
                "batch_id",
                "input_file_id",
                "output_file_id",
                "error_file_id",
                "status",
                "requests",
                "input_sha256",
            )
        }
        meta["stats"] = annotator.stats
        return meta, len(records), errors, annotator.stats
    written = 0
    errors: list[Annotation] = []

    async def drive() -> None:
        nonlocal written
        semaphore = asyncio.Semaphore(max(1, options.concurrency))

        async def one(unit: dict[str, Any]) -> Annotation:
            async with semaphore:
                return await annotator.annotate_unit(unit, {**common, "created_at": utcnow()})

        with _progress(stderr, options.progress) as progress:
            task = progress.add_task(spec, total=len(pending))
            tasks = [asyncio.ensure_future(one(u)) for u in pending]
            try:
                for future in asyncio.as_completed(tasks):
                    record = await future
                    run.append(record)  # durably, before the next record is awaited
                    written += 1
                    if record.error_type:
                        errors.append(record)
                    progress.advance(task)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await _close(model)

    asyncio.run(drive())
    meta["stats"] = annotator.stats
    return meta, written, errors, annotator.stats


def _run_batch(
    annotator, model, pending, common, run, stderr, warn
) -> tuple[list[Annotation], dict[str, Any]]:
    """Submit the pending units' first requests through the LLM layer's BatchRunner
    (resumable: its state is kept in the run directory), then parse each answer like
    a live one (repairs go through the live endpoint). Returns the records and the
    batch state (ids and status, for the manifest)."""
    from ptmcoder.llm.batch import BatchRunner
    from ptmcoder.llm.errors import LLMError

    inner = getattr(model, "inner", model)  # the batch bypasses the response cache
    runner = BatchRunner(inner, run.path, progress=stderr.file)
    requests = {str(u["id"]): annotator.first_request(u) for u in pending}

    async def drive() -> list[Annotation]:
        results = await runner.run(requests)
        out = []
        for unit in pending:
            first = results.get(str(unit["id"]))
            if first is None:
                first = LLMError("the batch returned no result", kind="response")
            out.append(
                await annotator.annotate_unit(unit, {**common, "created_at": utcnow()}, first=first)
            )
        await _close(model)
        return out

    return asyncio.run(drive()), runner.load_state()


async def _close(model: Any) -> None:
    for obj in (model, getattr(model, "inner", None)):
        close = getattr(obj, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
    cache = getattr(model, "cache", None)
    if cache is not None and hasattr(cache, "close"):
        cache.close()
