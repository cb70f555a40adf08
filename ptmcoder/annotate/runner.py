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

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ptmcoder.annotate.base import AnnotatorContext
from ptmcoder.annotate.options import AnnotateOptions, RunConfig, resume_options
from ptmcoder.annotate.prompt import allowed_codes, normalise_level
from ptmcoder.annotate.records import Annotation
from ptmcoder.annotate.registry import build_annotator, registered
from ptmcoder.codebook import Codebook, codebook_hash, load_codebook
from ptmcoder.corpus.units import load_units
from ptmcoder.errors import ConfigError, NotFoundError, PtmcoderError
from ptmcoder.llm.openai_client import check_base_url
from ptmcoder.llm.prompts import load_prompt
from ptmcoder.manifest import (
    CacheStats,
    CodebookRef,
    CorpusRef,
    Counts,
    Manifest,
    PromptRef,
    RunStatus,
    Session,
)
from ptmcoder.paths import runs_dir
from ptmcoder.progress import progress_bar
from ptmcoder.runs import Run, create_run, half_made, list_run_ids, resolve_run, utcnow


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
    #: the run's current records that are errors (every session's)
    error_records: int = 0

    @property
    def all_failed(self) -> bool:
        """Every record of the run is an error: nothing asked for was coded."""
        return self.records > 0 and self.error_records == self.records


class AllRecordsFailed(PtmcoderError):
    """Every record of a run is an error (a refused key, an endpoint down, a wrong
    model name): the command produced nothing a user asked for. The records are kept
    (they say why each unit failed), and ``--retry-errors`` codes those units again."""

    def __init__(self, result: AnnotateResult) -> None:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.errors.items()))
        super().__init__(
            f"run {result.run.id}: all {result.records} record(s) are errors"
            + (f" ({kinds} this session)" if kinds else "")
            + "; no unit was coded",
            hint=f"the records are kept in {result.run.annotations_path}; fix the cause "
            f"(`ptmcoder runs show {result.run.id}` lists the errors), then "
            f"`ptmcoder annotate --run {result.run.id} --retry-errors`",
        )


def check_result(result: AnnotateResult) -> AnnotateResult:
    """``result``, or :class:`AllRecordsFailed` when every record of its run is an error."""
    if result.all_failed:
        raise AllRecordsFailed(result)
    return result


def config_snapshot(options: AnnotateOptions, book: Codebook) -> RunConfig:
    """The manifest's ``config``: the options without the per-session ones, and the
    codebook's id, version and hash."""
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
    if not any(registered(a).llm for a in options.annotators):
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
        if not options.codebook or not options.corpus:
            missing = [name for name in ("codebook", "corpus") if not getattr(options, name)]
            raise ConfigError(
                f"run {existing.id}'s manifest names no {' and no '.join(missing)}",
                hint="its manifest.json config was edited or cut short; start a new run",
            )
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
        half = run_ref is not None and half_made(runs_dir() / run_ref)
        raise ConfigError(
            "--codebook, --corpus and --annotator are needed to start a run"
            + (
                f"; run {run_ref} was killed before its manifest was written, so it "
                "cannot be resumed"
                if half
                else ""
            ),
            hint=f"start it again with `ptmcoder annotate --run {run_ref}` and those options "
            "(the half-made directory is replaced)"
            if half
            else "or pass --run ID to resume an existing run",
        )
    for spec in options.annotators:
        registered(spec)  # an unknown spec is refused before the run exists
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
        run = create_run(config_snapshot(options, book), run_id=ref.name, root=ref.parent)
    else:
        run = create_run(config_snapshot(options, book), run_id=run_ref or None)
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


def _code(
    context: AnnotatorContext, common: dict[str, Any], run: Run, ledger: _Ledger
) -> dict[str, Any] | None:
    """Build ``context.spec``'s annotator through the registry and append one record per
    pending unit, each durably before the next is taken. Returns the annotator's
    manifest entry (None when it had nothing to code)."""
    annotator = build_annotator(context)
    if annotator is None:
        return None
    if registered(context.spec).llm:  # its records name the prompt they were coded with
        common = {**common, "prompt_version": context.prompt.id}
    if context.pending:
        ledger.live = context.live_stats
        shown = context.options.progress and getattr(annotator, "shows_progress", True)
        with progress_bar(context.console, shown) as progress:
            task = progress.add_task(context.spec, total=len(context.pending))
            for record in annotator.annotate(
                context.pending, common={**common, "created_at": utcnow()}
            ):
                run.append(record)  # durably, before the next record is taken
                ledger.record(record)
                progress.advance(task)
    return annotator.describe()


def annotate(
    options: AnnotateOptions,
    *,
    run_ref: str | None = None,
    stderr: Console | None = None,
    expect_corpus: str | None = None,
) -> AnnotateResult:
    """Create or resume a run and annotate every pending (unit, annotator) pair.
    ``expect_corpus``: the corpus fingerprint (:func:`corpus_fingerprint`) the units
    must have (a study's raters code the version taken at the annotate stage's start);
    another is refused before any unit is coded."""
    stderr = stderr or Console(stderr=True)
    run, options, book, resumed = prepare_run(options, run_ref)
    warn = lambda msg: stderr.print(f"[yellow]warning:[/yellow] {msg}")  # noqa: E731
    for note in run.notes:
        stderr.print(f"[yellow]recovered:[/yellow] {note}")
    try:
        return _annotate_run(run, options, book, resumed, stderr, warn, expect_corpus)
    except Exception:
        if not resumed and not run.annotations_path.exists():
            # refused before its first record (an unknown corpus or prompt, an annotator
            # that cannot be built): a refused run leaves nothing behind
            shutil.rmtree(run.path, ignore_errors=True)
            with contextlib.suppress(OSError):  # and the runs folder it made, if empty
                run.path.parent.rmdir()
        raise


def _annotate_run(
    run: Run,
    options: AnnotateOptions,
    book: Codebook,
    resumed: bool,
    stderr: Console,
    warn: Callable[[str], None],
    expect_corpus: str | None = None,
) -> AnnotateResult:
    started = time.perf_counter()
    interrupted = False
    with run:
        manifest = run.manifest()
        template = load_prompt(options.prompt)
        assert options.corpus, "prepare_run refuses a run without a corpus"
        frame = load_units(options.corpus)
        all_units = frame.to_dict("records")
        todo_units = all_units[: options.limit] if options.limit is not None else all_units
        fingerprint = corpus_fingerprint(todo_units)
        if expect_corpus is not None and fingerprint != expect_corpus:
            raise ConfigError(
                f"the corpus {options.corpus!r} was replaced after the run started: "
                f"{run.path} would code units {fingerprint[:19]}, the run started on "
                f"{expect_corpus[:19]}",
                hint="every rater of a run codes one version of the corpus; run the study "
                "again (its import stage restores the study's corpus), or import the new "
                "corpus under another name",
            )
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
                context = AnnotatorContext(
                    spec=spec,
                    options=options,
                    book=book,
                    run_path=run.path,
                    units=all_units,
                    pending=pending,
                    console=stderr,
                    warn=warn,
                    prompt=template,
                    labels=labels,
                    train_units=train_units,
                    single_code=training.single_code if training is not None else None,
                )
                meta = _code(context, common, run, ledger)
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
        error_records=sum(1 for r in records if r.get("error_type")),
    )
