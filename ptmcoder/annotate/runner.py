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
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ptmcoder.annotate.options import AnnotateOptions, RunConfig, resume_options
from ptmcoder.annotate.prompt import allowed_codes, load_prompt, normalise_level
from ptmcoder.annotate.records import Annotation
from ptmcoder.annotate.units import load_units
from ptmcoder.codebook import Codebook, codebook_hash, load_codebook
from ptmcoder.errors import ConfigError, NotFoundError
from ptmcoder.llm.openai_client import check_base_url
from ptmcoder.paths import workspace
from ptmcoder.progress import progress_bar
from ptmcoder.runs import (
    CacheStats,
    CodebookRef,
    CorpusRef,
    Counts,
    Manifest,
    PromptRef,
    Run,
    RunStatus,
    Session,
    create_run,
    list_run_ids,
    resolve_run,
    utcnow,
)


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


#: ``embedded:KIND``: what the embedded annotator may use (see annotate/supervised.py)
EMBEDDED_KINDS = ("minilm", "tfidf", "finetune")


def _annotator_kind(spec: str) -> str:
    if spec == "embedded" or spec.startswith("embedded:"):
        if ":" in spec and spec.split(":", 1)[1] not in EMBEDDED_KINDS:
            raise ConfigError(
                f"unknown embedded annotator {spec!r}",
                hint="use embedded, " + ", ".join(f"embedded:{k}" for k in EMBEDDED_KINDS),
            )
        return "embedded"
    if spec.startswith("openai:") or spec.startswith("langchain:"):
        return "llm"
    raise ConfigError(
        f"unknown annotator {spec!r}",
        hint="use embedded, embedded:tfidf, embedded:finetune, openai:MODEL or "
        "langchain:PROVIDER:MODEL",
    )


def _config_snapshot(options: AnnotateOptions, book: Codebook) -> RunConfig:
    config = options.model_dump(exclude={"progress", "retry_errors"})  # per session
    return RunConfig(
        **config,
        codebook_id=book.id,
        codebook_version=book.version,
        codebook_hash=codebook_hash(book),
    ).model_copy(update={"level": normalise_level(options.level)})


def corpus_fingerprint(units: list[dict[str, Any]]) -> str:
    """``sha256:`` of the canonical JSON of the units' ids, titles and bodies, in order:
    what a run codes. Resuming against a corpus with another fingerprint is refused."""
    digest = hashlib.sha256()
    for unit in units:
        item = [str(unit.get("id")), str(unit.get("title") or ""), str(unit.get("body") or "")]
        digest.update(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def _check_endpoint(options: AnnotateOptions) -> None:
    """Refuse an endpoint with credentials (--base-url or $OPENAI_BASE_URL) before
    anything is created that would record it."""
    if not any(_annotator_kind(a) == "llm" for a in options.annotators):
        return
    for url in (options.base_url, os.environ.get("OPENAI_BASE_URL")):
        if url:
            check_base_url(url)


def prepare_run(
    options: AnnotateOptions, run_ref: str | None
) -> tuple[Run, AnnotateOptions, Codebook, bool]:
    """Create a run, or open ``run_ref`` to resume it (a new id or path creates a run
    there). Resuming with answer-changing options other than the run's is refused,
    naming them (:func:`~ptmcoder.annotate.options.resume_options`)."""
    if options.base_url:
        check_base_url(options.base_url)  # before anything records it
    existing: Run | None = None
    if run_ref:
        try:
            existing = resolve_run(run_ref)
        except NotFoundError:
            if run_ref in list_run_ids():
                raise
            existing = None
    if existing is not None:
        manifest = existing.manifest()
        options = resume_options(options, manifest.config)
        _check_endpoint(options)
        book = load_codebook(options.codebook)
        stored_hash = manifest.config.codebook_hash or ""
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
    _check_endpoint(options)
    book = load_codebook(options.codebook)
    normalise = normalise_level(options.level)
    if normalise != "leaf":
        book.level_index(normalise)  # raises with the known levels
    ref = Path(run_ref) if run_ref else None
    if ref is not None and (ref.is_absolute() or len(ref.parts) > 1):  # a new run by path
        run = create_run(_config_snapshot(options, book), run_id=ref.name, root=ref.parent)
    else:
        run = create_run(_config_snapshot(options, book), run_id=run_ref or None)
    return run, options, book, False


# -- building annotators ------------------------------------------------------------------


def _training_for(
    options: AnnotateOptions,
    book: Codebook,
    all_units: list[dict[str, Any]],
    warn: Callable[[str], None],
) -> Any:
    """The human-coded units of ``--train`` (:mod:`ptmcoder.annotate.training`): their
    codes through the codebook's aliases and level, every unknown code named with its
    count, units from ``--train-corpus`` when they are not in the coded corpus."""
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


def _with_training_units(
    all_units: list[dict[str, Any]], train_units: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ids = {str(u["id"]) for u in all_units}
    return all_units + [u for u in train_units if str(u["id"]) not in ids]


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
        structured=options.structured,
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


def effective_concurrency(options: AnnotateOptions, base_url: str | None) -> int:
    """``--concurrency``, or its default: 1 for a local endpoint, 8 otherwise.

    A local runtime (llama.cpp, node-llama-cpp, Ollama) keeps only the previous
    request's prompt tokens: one request at a time keeps the codebook prefix warm,
    while parallel requests evict it and share the same few cores (measured in
    docs/local-models.md).

    >>> effective_concurrency(AnnotateOptions(), "http://127.0.0.1:8080/v1")
    1
    >>> effective_concurrency(AnnotateOptions(), "https://api.openai.com/v1")
    8
    >>> effective_concurrency(AnnotateOptions(concurrency=3), "http://localhost:1/v1")
    3
    """
    from ptmcoder.llm.openai_client import is_local_host

    if options.concurrency is not None:
        return max(1, options.concurrency)
    return 1 if base_url and is_local_host(base_url) else 8


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


class _Ledger:
    """The session's trace in the manifest: written when the session starts (before any
    work) and flushed as records are appended (every ``every`` seconds or ``batch``
    records, whichever comes first), so a killed session leaves its start, its counts
    and its cache counters behind, short of at most the last few records."""

    def __init__(
        self, run: Run, manifest: Manifest, session: Session, every: float = 1.0, batch: int = 20
    ):
        self.run, self.manifest, self.session, self.every = run, manifest, session, every
        self.batch, self._since = batch, 0
        self.base_cache = manifest.cache.model_copy()
        self.done_cache = CacheStats()  # of annotators that have finished this session
        self.live: dict[str, Any] | None = None  # the running LLM annotator's stats
        self.errors: Counter = Counter()
        self.error_units: list[tuple[str, str, str]] = []
        self._last = time.monotonic()
        manifest.sessions.append(session)
        self.flush()

    @property
    def cache(self) -> CacheStats:
        live = self.live or {}
        return CacheStats(
            hits=self.done_cache.hits + live.get("cache_hits", 0),
            misses=self.done_cache.misses + live.get("cache_misses", 0),
        )

    def record(self, record: Annotation) -> None:
        self.session.written += 1
        if record.error_type:
            self.errors[record.error_type.value] += 1
            self.error_units.append((record.unit_id, record.annotator, record.error or ""))
        self._since += 1
        if self._since >= self.batch or time.monotonic() - self._last >= self.every:
            self.flush()

    def annotator_done(self) -> None:
        self.done_cache, self.live = self.cache, None

    def flush(self) -> None:
        cache = self.cache
        self.session.errors = dict(self.errors)
        self.session.cache = cache
        self.manifest.cache = CacheStats(
            hits=self.base_cache.hits + cache.hits, misses=self.base_cache.misses + cache.misses
        )
        self.run.write_manifest(self.manifest)
        self._last, self._since = time.monotonic(), 0


def _check_corpus(run: Run, manifest: Manifest, fingerprint: str) -> None:
    stored = manifest.corpus.fingerprint if manifest.corpus else None
    if stored is not None and stored != fingerprint:
        raise ConfigError(
            f"the corpus {manifest.config.corpus!r} changed since run {run.id} started: "
            f"its units were {stored[:19]}, now {fingerprint[:19]}",
            hint="a run codes the units it was started on; restore that corpus, or start "
            "a new run for the new one",
        )


def annotate(
    options: AnnotateOptions, *, run_ref: str | None = None, stderr: Console | None = None
) -> AnnotateResult:
    """Create or resume a run and annotate every pending (unit, annotator) pair."""
    stderr = stderr or Console(stderr=True)
    run, options, book, resumed = prepare_run(options, run_ref)
    warn = lambda msg: stderr.print(f"[yellow]warning:[/yellow] {msg}")  # noqa: E731
    started = time.perf_counter()
    interrupted = False
    with run:
        manifest = run.manifest()
        template = load_prompt(options.prompt)
        frame = load_units(options.corpus)
        all_units = frame.to_dict("records")
        todo_units = all_units[: options.limit] if options.limit is not None else all_units
        fingerprint = corpus_fingerprint(todo_units)
        _check_corpus(run, manifest, fingerprint)
        session = Session(started_at=utcnow(), resumed=resumed, pid=os.getpid())
        level = normalise_level(options.level)
        manifest.status = RunStatus.RUNNING
        manifest.codebook = CodebookRef(
            id=book.id,
            version=book.version,
            hash=codebook_hash(book),
            level=level,
            allowed_codes=allowed_codes(book, options.level),
        )
        manifest.prompt = PromptRef(id=template.id, sha256=template.sha256)
        manifest.corpus = CorpusRef(
            ref=options.corpus,
            source=frame.attrs.get("source"),
            units_in_corpus=len(all_units),
            fingerprint=fingerprint,
        )
        manifest.seed = options.seed
        manifest.counts.units = len(todo_units)
        ledger = _Ledger(run, manifest, session)  # the session's start, durably, before work
        retried = run.supersede_errors(options.annotators) if options.retry_errors else []
        if retried:
            stderr.print(
                f"retrying {len(retried)} unit(s) whose record is an error "
                f"(earlier records kept in {run.superseded_path.name})"
            )
        session.retried = len(retried)
        done = run.done_keys()
        training = _training_for(options, book, all_units, warn)
        labels = training.labels if training is not None else None
        train_units = training.units if training is not None else []
        if training is not None:
            manifest.training = training.stats
        if options.train and not labels:
            warn(
                f"--train {options.train}: no usable human codes (check --train-rater and "
                "that the codes belong to the codebook); coding zero-shot"
            )
        annotators_meta = {a["name"]: a for a in manifest.annotators}
        common = {
            "run_id": run.id,
            "codebook_id": book.id,
            "codebook_hash": codebook_hash(book),
            "level": level,
        }
        try:
            for spec in options.annotators:
                pending = [u for u in todo_units if (str(u["id"]), spec) not in done]
                session.skipped += len(todo_units) - len(pending)
                if _annotator_kind(spec) == "embedded":  # no prompt: prompt_version None
                    meta = _run_embedded(
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
                        ledger,
                        train_units=train_units,
                    )
                else:
                    llm_common = {**common, "prompt_version": template.id}
                    meta = _run_llm(
                        spec,
                        options,
                        book,
                        template,
                        run,
                        _with_training_units(all_units, train_units),
                        pending,
                        labels,
                        llm_common,
                        stderr,
                        warn,
                        ledger,
                    )
                ledger.annotator_done()
                if meta is not None or spec not in annotators_meta:
                    old = annotators_meta.get(spec, {})
                    annotators_meta[spec] = {**old, **(meta or {"name": spec}), "name": spec}
        except KeyboardInterrupt:
            interrupted = True
        finally:
            records = run.records()
            by_annotator = {}
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
            session.finished_at = utcnow()
            session.seconds = round(time.perf_counter() - started, 3)
            session.interrupted = interrupted
            manifest.annotators = list(annotators_meta.values())
            manifest.counts = Counts.model_validate(
                {
                    "units": len(todo_units),
                    "records": len(records),
                    "errors": sum(1 for r in records if r.get("error_type")),
                    "by_annotator": by_annotator,
                }
            )
            manifest.status = (
                RunStatus.COMPLETE
                if complete
                else (RunStatus.INTERRUPTED if interrupted else RunStatus.INCOMPLETE)
            )
            ledger.flush()
    return AnnotateResult(
        run=run,
        written=session.written,
        skipped=session.skipped,
        errors=ledger.errors,
        error_units=ledger.error_units,
        records=len(records),
        units=len(todo_units),
        interrupted=interrupted,
        cache=session.cache.model_dump(),
        retried=len(retried),
    )


def _run_embedded(
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
    ledger,
    train_units=(),
):
    kind = spec.split(":", 1)[1] if ":" in spec else "auto"
    if not pending:
        return None
    if labels:
        from ptmcoder.annotate.supervised import run_supervised

        done = run_supervised(
            spec,
            kind,
            options,
            book,
            run,
            pending,
            labels,
            train_units,
            common,
            stderr,
            on_record=ledger.record,
        )
        if done is not None:
            return done[0]
        warn("too few human-coded units (or one code only) for few-shot; zero-shot used")
    from ptmcoder.annotate.embedded import EmbeddedAnnotator, EmbeddedConfig, make_embedder

    if options.suggest:
        warn("--suggest needs human codes (--train) to learn from; no suggestions written")
    if kind == "finetune":
        warn(f"{spec} needs human codes (--train) to fine-tune on; zero-shot MiniLM used")
        kind = "minilm"
    stderr.print(f"{spec}: loading the embedder", highlight=False)
    embedder = make_embedder(kind, warn=warn)
    config = EmbeddedConfig(
        temperature=options.embedded_temperature,
        multi_threshold=options.multi_threshold,
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
    t1 = time.perf_counter()
    with progress_bar(stderr, options.progress) as progress:
        task = progress.add_task(f"{spec}", total=len(pending))
        for record in annotator.annotate(pending, common={**common, "created_at": utcnow()}):
            run.append(record)
            ledger.record(record)
            written += 1
            progress.advance(task)
    elapsed = time.perf_counter() - t1
    meta["units_per_second"] = round(written / elapsed, 2) if elapsed > 0 else None
    return meta


def _run_llm(
    spec, options, book, template, run, all_units, pending, labels, common, stderr, warn, ledger
):
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
        return meta
    ledger.live = annotator.stats
    if options.batch:
        records, state = _run_batch(annotator, model, pending, common, run, stderr, warn)
        for record in records:
            run.append(record)
            ledger.record(record)
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
        meta["structured_output_used"] = getattr(
            getattr(model, "inner", model), "response_format_mode", None
        )
        return meta

    endpoint = getattr(getattr(model, "inner", model), "base_url", None)
    with progress_bar(stderr, options.progress) as progress:
        task = progress.add_task(spec, total=len(pending))
        concurrency = effective_concurrency(options, endpoint)
        for record in annotator.annotate(pending, common=common, concurrency=concurrency):
            run.append(record)  # durably, before the next record is taken
            ledger.record(record)
            progress.advance(task)
    meta["stats"] = annotator.stats
    meta["structured_output_used"] = getattr(
        getattr(model, "inner", model), "response_format_mode", None
    )
    return meta


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
    from ptmcoder.annotate.llm import close_model

    await close_model(model)
