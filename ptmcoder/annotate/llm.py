"""The LLM annotator: one unit in, one :class:`Annotation` out, never an exception.

For each unit it renders the versioned prompt (shared system prefix, the unit as
data), asks for structured output (the client falls back to JSON mode where the
endpoint lacks JSON schema), parses each answer with :func:`parse_answer`, and
on an unusable answer sends **one** repair request quoting the problem. What is
still unusable becomes an error record (counted and sent to review).

With ``samples`` > 1 (self-consistency) it asks for K answers (``n=K`` in one
request; extra requests when the endpoint returns fewer) and records each
code's vote share as its confidence; a code is assigned when at least half of
the valid samples assign it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ptmcoder.annotate.base import Unit
from ptmcoder.annotate.injection import injection_flags
from ptmcoder.annotate.leakage import LeakageGuard
from ptmcoder.annotate.parse import AnswerError, ParsedAnswer, parse_answer
from ptmcoder.annotate.prompt import (
    Example,
    allowed_codes,
    build_messages,
    normalise_level,
    output_schema,
    render_system,
    truncate,
)
from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.codebook import Codebook
from ptmcoder.corpus.units import unit_text
from ptmcoder.llm.base import ChatMessage, ChatModel, ChatRequest, Completion
from ptmcoder.llm.openai_client import is_local_host
from ptmcoder.llm.prompts import PromptTemplate

REPAIR = (
    "Your previous answer could not be used: {problem}. Answer again with one JSON "
    'object only, exactly of the shape {{"codes": [{{"code": ..., "rationale": ..., '
    '"evidence": ..., "confidence": ...}}], "none": ...}}, using only these code '
    "ids: {codes}."
)


#: rationale and evidence cap (characters) in the schema sent to a local endpoint
LOCAL_TEXT_CHARS = 200


async def close_model(model: Any) -> None:
    """Close a chat model's connections and its response cache (best effort)."""
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


def error_type_for(exc: BaseException) -> ErrorType:
    kind = getattr(exc, "kind", None)
    return ErrorType.TIMEOUT if kind == "timeout" else ErrorType.API


def is_fatal(exc: BaseException) -> bool:
    """Errors that would fail every unit the same way (bad key, unknown model, endpoint
    down): the run stops instead of writing an error row per unit, so a rerun can
    finish those units once the setting is fixed."""
    kind = getattr(exc, "kind", None)
    status = getattr(exc, "status", None)
    return kind == "connection" or (kind == "client" and status in (401, 403, 404))


@dataclass
class LLMSettings:
    samples: int = 1
    temperature: float | None = None
    max_unit_tokens: int | None = 2000
    max_output_tokens: int | None = 1024
    seed: int = 13
    shots: int = 0

    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["temperature"] = self.effective_temperature()
        return out


@dataclass
class Tally:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    latency_s: float = 0.0
    from_cache: int = 0
    repairs: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cached_input_tokens += completion.cached_input_tokens
        self.latency_s += completion.latency_s
        self.from_cache += int(completion.from_cache)


class LLMAnnotator:
    """Codes units with a chat model (see the module docstring)."""

    def __init__(
        self,
        name: str,
        model: ChatModel,
        model_name: str,
        book: Codebook,
        level: str | None,
        template: PromptTemplate,
        settings: LLMSettings,
        *,
        examples_for: Callable[[dict[str, Any]], list[Example]] | None = None,
        cost: Callable[[str, int, int, int], float | None] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.model_name = model_name
        self.book = book
        self.level = normalise_level(level)
        self.template = template
        self.settings = settings
        self.codes = allowed_codes(book, level)
        self.system = render_system(template, book, level)
        self.guard = LeakageGuard(book)
        endpoint = getattr(getattr(model, "inner", model), "base_url", None)
        local = bool(endpoint) and is_local_host(endpoint)
        self.schema = output_schema(self.codes, max_text_chars=LOCAL_TEXT_CHARS if local else None)
        self.examples_for = examples_for
        self.cost = cost
        self.stats = {
            "requests": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "repairs": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "llm",
            "model": self.model_name,
            "parameters": self.settings.as_dict(),
            "structured_output": getattr(
                getattr(self.model, "inner", self.model), "structured", "json_schema"
            ),
            "method": f"few-shot:{self.settings.shots}" if self.examples_for else "zero-shot",
        }

    def messages(self, unit: dict[str, Any]) -> tuple[list[ChatMessage], str, bool, int]:
        text, truncated = truncate(unit_text(unit), self.settings.max_unit_tokens, self.model_name)
        examples = self.examples_for(unit) if self.examples_for else []
        cited = self.guard.matches(unit)  # leave out codebook examples that cite this unit
        system = (
            render_system(self.template, self.book, self.level, cited) if cited else self.system
        )
        messages = build_messages(
            self.template,
            system,
            str(unit["id"]),
            text,
            examples=examples,
            truncated=truncated,
        )
        return messages, text, truncated, len(examples)

    def request(self, messages: list[ChatMessage], n: int, seed: int | None) -> ChatRequest:
        return ChatRequest(
            model=self.model_name,
            messages=messages,
            temperature=self.settings.effective_temperature(),
            max_tokens=self.settings.max_output_tokens,
            seed=seed,
            n=n,
            json_schema=self.schema,
            json_mode=True,
        )

    def _discard(self, request: ChatRequest) -> None:
        """An unusable answer is never kept in the response cache (when there is one)."""
        discard = getattr(self.model, "discard", None)
        if discard is not None:
            discard(request)

    async def _call(self, request: ChatRequest, tally: Tally) -> Completion:
        completion = await self.model.complete(request)
        tally.add(completion)
        return completion

    def first_request(self, unit: dict[str, Any]) -> ChatRequest:
        """The unit's first request (what ``--batch`` submits)."""
        messages = self.messages(unit)[0]
        return self.request(messages, self.settings.samples, self.settings.seed)

    async def annotate_unit(
        self,
        unit: dict[str, Any],
        common: dict[str, Any],
        *,
        first: Completion | BaseException | None = None,
    ) -> Annotation:
        """Code one unit. ``first`` is the answer to :meth:`first_request` when it was
        obtained elsewhere (the Batch API); repairs and missing samples still go
        through the model."""
        uid = str(unit["id"])
        started = time.perf_counter()
        tally = Tally()
        base = dict(
            unit_id=uid,
            annotator=self.name,
            model=self.model_name,
            samples=self.settings.samples,
            example_excluded=sorted(self.guard.matches(unit)),
            # a post that tells the model what to do; a codebook text that names or
            # quotes this very unit (in-sample for that code: :mod:`.leakage`)
            flags=injection_flags(unit_text(unit), self.codes) + self.guard.flags(unit),
            **common,
        )
        if not unit_text(unit).strip():
            return Annotation(
                **base, error_type=ErrorType.NO_TEXT, error="the unit has no text", latency_s=0.0
            )
        messages, text, truncated, shots = self.messages(unit)
        method = f"few-shot:{shots}" if shots else "zero-shot"
        base.update(truncated=truncated, method=method)
        k = self.settings.samples
        try:
            texts: list[str] = []
            first_request = self.request(messages, k, self.settings.seed)
            if first is None:
                completion = await self._call(first_request, tally)
            elif isinstance(first, BaseException):
                raise first
            else:
                completion = first
                tally.add(completion)
            texts.extend(completion.texts[:k])
            extra = 0
            while len(texts) < k and extra < k:  # the endpoint ignored n
                extra += 1
                more = await self._call(
                    self.request(messages, 1, self.settings.seed + extra), tally
                )
                texts.extend(more.texts[:1])
            parsed = [parse_answer(t, self.codes, text) for t in texts]
            valid = [p for p in parsed if isinstance(p, ParsedAnswer)]
            repaired = False
            cut = [r for r in completion.finish_reasons[:k] if r == "length"]
            if not valid and cut:  # a longer answer would hit the cap again: no repair
                return self._finish(
                    Annotation(
                        **base,
                        error_type=ErrorType.OUTPUT_TRUNCATED,
                        error=f"the answer stopped at the cap of "
                        f"{self.settings.max_output_tokens} output tokens "
                        "(raise --max-output-tokens)",
                        raw_answer=(texts[0] if texts else "")[:2000],
                    ),
                    tally,
                    started,
                )
            if not valid:
                first_error = (
                    next(p for p in parsed if isinstance(p, AnswerError))
                    if parsed
                    else AnswerError(ErrorType.EMPTY, "no answer")
                )
                repair_messages = [
                    *messages,
                    ChatMessage(role="assistant", content=texts[0] if texts else ""),
                    ChatMessage(
                        role="user",
                        content=REPAIR.format(
                            problem=first_error.message, codes=", ".join(self.codes)
                        ),
                    ),
                ]
                tally.repairs += 1
                self._discard(first_request)
                repair = self.request(repair_messages, 1, self.settings.seed)
                again = await self._call(repair, tally)
                answer = again.texts[0] if again.texts else None
                result = parse_answer(answer, self.codes, text)
                if isinstance(result, AnswerError):
                    self._discard(repair)
                    return self._finish(
                        Annotation(
                            **base,
                            error_type=result.error_type,
                            error=f"{result.message} (after one repair request; first answer: "
                            f"{first_error.message})",
                            raw_answer=(answer or "")[:2000],
                        ),
                        tally,
                        started,
                    )
                valid = [result]
                repaired = True
        except Exception as exc:  # LLMError after the client's retries
            if is_fatal(exc) or not hasattr(exc, "kind"):
                raise
            return self._finish(
                Annotation(**base, error_type=error_type_for(exc), error=str(exc)[:1000]),
                tally,
                started,
            )
        invalid = len(parsed) - len([p for p in parsed if isinstance(p, ParsedAnswer)])
        if len(valid) == 1 and k == 1:
            codes = valid[0].codes
            scores = None
        else:
            codes, scores = vote(valid)
        return self._finish(
            Annotation(
                **base,
                codes=codes,
                scores=scores,
                repaired=repaired,
                invalid_samples=invalid if k > 1 else 0,
            ),
            tally,
            started,
        )

    def annotate(
        self,
        units: Sequence[Unit],
        *,
        common: dict[str, Any] | None = None,
        concurrency: int = 8,
    ) -> Iterator[Annotation]:
        """Code ``units`` with up to ``concurrency`` requests in flight, yielding each
        record as soon as its unit is done (the :class:`~ptmcoder.annotate.base.Annotator`
        interface). Stopping the iteration (or Ctrl-C) cancels what is in flight; the
        model's connections and cache are closed at the end."""
        from ptmcoder.runs import utcnow

        loop = asyncio.new_event_loop()
        gate = asyncio.Semaphore(max(1, concurrency))
        base = dict(common or {})

        async def one(unit: Unit) -> Annotation:
            async with gate:
                return await self.annotate_unit(dict(unit), {**base, "created_at": utcnow()})

        pending = {loop.create_task(one(u)) for u in units}
        try:
            while pending:
                done, pending = loop.run_until_complete(
                    asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                )
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(close_model(self.model))
            loop.close()

    def _finish(self, record: Annotation, tally: Tally, started: float) -> Annotation:
        record.input_tokens = tally.input_tokens
        record.output_tokens = tally.output_tokens
        record.cached_input_tokens = tally.cached_input_tokens
        record.latency_s = round(time.perf_counter() - started, 4)
        record.cached = tally.requests > 0 and tally.from_cache == tally.requests
        if self.cost is not None and tally.requests > tally.from_cache:
            record.cost_usd = self.cost(
                self.model_name, tally.input_tokens, tally.output_tokens, tally.cached_input_tokens
            )
        else:
            record.cost_usd = 0.0 if tally.requests and tally.from_cache == tally.requests else None
        self.stats["requests"] += tally.requests
        self.stats["cache_hits"] += tally.from_cache
        self.stats["cache_misses"] += tally.requests - tally.from_cache
        self.stats["repairs"] += tally.repairs
        self.stats["input_tokens"] += tally.input_tokens
        self.stats["output_tokens"] += tally.output_tokens
        if record.cost_usd:
            self.stats["cost_usd"] = round(self.stats["cost_usd"] + record.cost_usd, 6)
        return record


def vote(answers: list[ParsedAnswer]) -> tuple[list[CodeAssignment], dict[str, float]]:
    """Self-consistency: each code's vote share over the valid samples; codes with a
    share of at least one half are assigned (rationale and evidence from the first
    sample that gave the code)."""
    n = len(answers)
    votes: dict[str, int] = {}
    first: dict[str, CodeAssignment] = {}
    for answer in answers:
        for assignment in answer.codes:
            votes[assignment.code] = votes.get(assignment.code, 0) + 1
            first.setdefault(assignment.code, assignment)
    scores = {code: round(v / n, 4) for code, v in votes.items()}
    chosen = sorted((c for c in votes if votes[c] * 2 >= n), key=lambda c: -votes[c])
    codes = [
        first[c].model_copy(update={"confidence": scores[c], "votes": votes[c]}) for c in chosen
    ]
    return codes, scores
