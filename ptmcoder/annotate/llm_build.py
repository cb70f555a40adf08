"""The LLM annotators' builder (``openai:MODEL``, ``langchain:PROVIDER:MODEL``).

:func:`build` makes the chat model (wrapped in the response cache), the few-shot
example chooser (examples from the human codes of ``--train`` placed in the prompt,
``--shots``) and the :class:`~ptmcoder.annotate.llm.LLMAnnotator`, and returns it as the
run drives it (:class:`LLMRun`): live with ``concurrency`` requests in flight, or
through the provider's batch API with ``--batch``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from ptmcoder.annotate.base import AnnotatorContext, Unit
from ptmcoder.annotate.llm import LLMAnnotator, LLMSettings, close_model
from ptmcoder.annotate.options import AnnotateOptions
from ptmcoder.annotate.records import Annotation
from ptmcoder.codebook import Codebook, codebook_hash
from ptmcoder.paths import workspace
from ptmcoder.runs import utcnow


def build(context: AnnotatorContext) -> LLMRun:
    """The LLM annotator for ``context.spec`` with its model, cache and examples; its
    live counters are exposed as ``context.live_stats``."""
    options, book, template = context.options, context.book, context.prompt
    model, model_name, notes = make_llm_model(context.spec, options, book, template.id)
    units = with_training_units(context.units, context.train_units)
    examples_for, fewshot_meta = examples_function(options, units, context.labels, context.warn)
    settings = LLMSettings(
        samples=options.samples,
        temperature=options.temperature,
        max_unit_tokens=options.max_unit_tokens,
        max_output_tokens=options.max_output_tokens,
        seed=options.seed,
        shots=options.shots if examples_for else 0,
    )
    annotator = LLMAnnotator(
        context.spec,
        model,
        model_name,
        book,
        options.level,
        template,
        settings,
        examples_for=examples_for,
        cost=cost_function(),
    )
    if fewshot_meta:
        notes["few_shot"] = fewshot_meta
    context.live_stats = annotator.stats
    endpoint = getattr(getattr(model, "inner", model), "base_url", None)
    return LLMRun(
        annotator,
        notes,
        concurrency=effective_concurrency(options, endpoint),
        batch_dir=context.run_path if options.batch else None,
        console=context.console,
    )


class LLMRun:
    """An :class:`~ptmcoder.annotate.llm.LLMAnnotator` as a run drives it: live with
    ``concurrency`` requests in flight, or (``batch_dir`` given) through the batch API,
    whose state is kept in ``batch_dir``. Its description adds the endpoint notes and,
    once it has coded, the request statistics and the structured-output mode used."""

    def __init__(
        self,
        annotator: LLMAnnotator,
        notes: dict[str, Any],
        *,
        concurrency: int,
        batch_dir: Path | None,
        console: Console,
    ) -> None:
        self.annotator, self.notes = annotator, notes
        self.name = annotator.name
        self.concurrency, self.batch_dir, self.console = concurrency, batch_dir, console
        #: a batch job reports its own progress
        self.shows_progress = batch_dir is None
        self.batch_state: dict[str, Any] | None = None
        self.ran = False

    @property
    def stats(self) -> dict[str, Any]:
        return self.annotator.stats

    def describe(self) -> dict[str, Any]:
        meta = {**self.annotator.describe(), **self.notes}
        if not self.ran:
            return meta
        if self.batch_state is not None:
            meta["batch"] = {
                k: self.batch_state.get(k)
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
        model = self.annotator.model
        meta["stats"] = self.annotator.stats
        meta["structured_output_used"] = getattr(
            getattr(model, "inner", model), "response_format_mode", None
        )
        return meta

    def annotate(
        self, units: Sequence[Unit], *, common: dict[str, Any] | None = None
    ) -> Iterator[Annotation]:
        self.ran = True
        common = dict(common or {})
        if self.batch_dir is None:
            yield from self.annotator.annotate(units, common=common, concurrency=self.concurrency)
            return
        records, self.batch_state = run_batch(
            self.annotator, [dict(u) for u in units], common, self.batch_dir, self.console
        )
        yield from records


def with_training_units(
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
    notes["base_url_host"] = endpoint_host(getattr(model, "base_url", None) or options.base_url)
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


def endpoint_host(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def cost_function() -> Callable[[str, int, int, int], float | None]:
    """Cost per record, with the price table read once (not once per unit)."""
    from ptmcoder.llm.pricing import estimate_cost, load_prices

    table = load_prices()

    def cost(model: str, inp: int, out: int, cached: int) -> float | None:
        return estimate_cost(model, inp, out, cached_input_tokens=cached, table=table)

    return cost


def examples_function(
    options: AnnotateOptions,
    units: list[dict[str, Any]],
    labels: dict[str, list[str]] | None,
    warn: Callable[[str], None],
):
    """``examples_for(unit)`` choosing few-shot examples (placed in the prompt) from the
    human-coded units, and what the manifest records about them; (None, None) without
    human codes or ``--shots``."""
    if not labels or options.shots <= 0:
        return None, None
    from ptmcoder.annotate.fewshot import select_examples
    from ptmcoder.annotate.prompt import Example
    from ptmcoder.corpus.units import unit_text
    from ptmcoder.llm.embed import make_embedder

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


def run_batch(
    annotator: LLMAnnotator,
    pending: list[dict[str, Any]],
    common: dict[str, Any],
    state_dir: Path,
    stderr: Console,
) -> tuple[list[Annotation], dict[str, Any]]:
    """Submit the pending units' first requests through the LLM layer's BatchRunner
    (resumable: its state is kept in ``state_dir``, the run directory), then parse each
    answer like a live one (repairs go through the live endpoint). Returns the records
    and the batch state (ids and status, for the manifest)."""
    from ptmcoder.llm.batch import BatchRunner
    from ptmcoder.llm.errors import LLMError

    model = annotator.model
    inner = getattr(model, "inner", model)  # the batch bypasses the response cache
    runner = BatchRunner(inner, state_dir, progress=stderr.file)
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
        await close_model(model)
        return out

    return asyncio.run(drive()), runner.load_state()
