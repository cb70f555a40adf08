"""``annotate --plan``: what a run would send and cost, before any call.

Renders the prompt for every unit (the first ``sample`` units when the corpus is
large, scaled up), counts tokens offline with the LLM layer's tokenizer,
estimates the cost with its price table (with and without the provider caching
the shared system prefix) and keeps one rendered prompt to show. It makes no
model call and writes no run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from ptmcoder.annotate.prompt import build_messages, normalise_level, render_system, truncate
from ptmcoder.annotate.registry import registered
from ptmcoder.codebook import codebook_hash, load_codebook
from ptmcoder.corpus.units import load_units, unit_text
from ptmcoder.errors import ConfigError
from ptmcoder.llm.factory import parse_spec
from ptmcoder.llm.pricing import estimate_cost, load_prices
from ptmcoder.llm.prompts import load_prompt
from ptmcoder.llm.tokens import count_chat_tokens, count_tokens

#: assumed answer length per sample (a JSON object with one or two codes)
OUTPUT_TOKENS_PER_SAMPLE = 150


@dataclass
class AnnotatorPlan:
    annotator: str
    model: str | None
    kind: str
    units: int
    requests: int = 0
    input_tokens: int = 0
    prefix_tokens: int = 0
    output_tokens: int = 0
    truncated_units: int = 0
    cost_usd: float | None = None
    cost_usd_prefix_cached: float | None = None
    note: str | None = None


@dataclass
class Plan:
    codebook: str
    codebook_hash: str
    level: str
    prompt_id: str
    prompt_sha256: str
    units: int
    counted_units: int
    annotators: list[AnnotatorPlan] = field(default_factory=list)
    example_system: str = ""
    example_user: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "codebook": self.codebook,
            "codebook_hash": self.codebook_hash,
            "level": self.level,
            "prompt": {"id": self.prompt_id, "sha256": self.prompt_sha256},
            "units": self.units,
            "counted_units": self.counted_units,
            "annotators": [a.__dict__ for a in self.annotators],
            "example_prompt": {"system": self.example_system, "user": self.example_user},
            "calls_made": 0,
        }


def make_plan(options: Any, *, sample: int = 500) -> Plan:
    if not options.codebook or not options.corpus or not options.annotators:
        raise ConfigError("--plan needs --codebook, --corpus and --annotator")
    book = load_codebook(options.codebook)
    template = load_prompt(options.prompt)
    frame = load_units(options.corpus, limit=options.limit)
    units = frame.to_dict("records")
    counted = units[:sample]
    scale = len(units) / len(counted) if counted else 0.0
    system = render_system(template, book, options.level)
    plan = Plan(
        book.id,
        codebook_hash(book),
        normalise_level(options.level),
        template.id,
        template.sha256,
        len(units),
        len(counted),
    )
    prices = load_prices()
    for spec in options.annotators:
        if not registered(spec).llm:
            plan.annotators.append(
                AnnotatorPlan(
                    spec,
                    None,
                    "embedded",
                    len(units),
                    cost_usd=0.0,
                    cost_usd_prefix_cached=0.0,
                    note="offline: no calls, no cost",
                )
            )
            continue
        model = parse_spec(spec)[2]
        ap = AnnotatorPlan(spec, model, "llm", len(units))
        ap.prefix_tokens = count_tokens(system, model)
        total_in = 0
        for unit in counted:
            text, truncated = truncate(unit_text(unit), options.max_unit_tokens, model)
            ap.truncated_units += int(truncated)
            messages = build_messages(template, system, str(unit["id"]), text, truncated=truncated)
            total_in += count_chat_tokens(messages, model)
            if not plan.example_user:
                plan.example_system = messages[0].content
                plan.example_user = messages[1].content
        requests = len(units)
        ap.requests = requests
        ap.input_tokens = round(total_in * scale)
        ap.output_tokens = requests * OUTPUT_TOKENS_PER_SAMPLE * options.samples
        ap.truncated_units = round(ap.truncated_units * scale)
        if options.shots:
            ap.note = (
                f"few-shot examples ({options.shots} per unit) are not counted; "
                "they add to each user message"
            )
        ap.cost_usd = estimate_cost(model, ap.input_tokens, ap.output_tokens, table=prices)
        cached = ap.prefix_tokens * max(0, requests - 1)
        ap.cost_usd_prefix_cached = estimate_cost(
            model, ap.input_tokens, ap.output_tokens, cached_input_tokens=cached, table=prices
        )
        if ap.cost_usd is None:
            ap.note = (ap.note + "; " if ap.note else "") + f"no price known for {model!r}"
        plan.annotators.append(ap)
    return plan


def render_plan(plan: Plan, console: Console) -> None:
    from rich.table import Table

    console.print(
        f"plan: {plan.units} units, codebook {plan.codebook} (level {plan.level}), "
        f"prompt {plan.prompt_id} {plan.prompt_sha256[:19]}; no call made"
    )
    if plan.counted_units < plan.units:
        console.print(f"  tokens counted on the first {plan.counted_units} units and scaled")
    table = Table(
        "annotator",
        "requests",
        "input tokens",
        "shared prefix/request",
        "output tokens (est.)",
        "truncated",
        "cost USD",
        "cost USD (prefix cached)",
    )

    def money(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    for a in plan.annotators:
        table.add_row(
            a.annotator,
            str(a.requests),
            f"{a.input_tokens:,}",
            f"{a.prefix_tokens:,}",
            f"{a.output_tokens:,}",
            str(a.truncated_units),
            money(a.cost_usd),
            money(a.cost_usd_prefix_cached),
        )
    console.print(table)
    for a in plan.annotators:
        if a.note:
            console.print(f"  {a.annotator}: {a.note}")
    if plan.example_user:
        console.rule("system message (identical for every unit)")
        console.print(plan.example_system, markup=False, highlight=False)
        console.rule("user message (first unit)")
        console.print(plan.example_user, markup=False, highlight=False)
