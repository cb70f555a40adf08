"""Tokens per unit: the shared-prefix layout (codebook in the system message, the
unit last) against a naive layout (one user message: the unit first, then the
codebook), and the share of each request that a provider's prompt cache can
serve. Offline (tiktoken via the LLM layer); no model call.

    python benchmarks/bench_prompt_tokens.py [--codebook ID] [--model gpt-4o-mini]

Prefix caching (OpenAI, Anthropic, Gemini) applies to the longest *identical
leading* token run of a request; OpenAI caches from 1,024 tokens in 128-token
steps. In the naive layout the unit comes first, so no two requests share a
prefix beyond a few tokens and nothing is cacheable.
"""

from __future__ import annotations

import argparse
import statistics

from ptmcoder.annotate.options import DEFAULT_PROMPT
from ptmcoder.annotate.prompt import build_messages, render_system
from ptmcoder.codebook import load_codebook
from ptmcoder.corpus.units import load_units, unit_text
from ptmcoder.llm.base import ChatMessage
from ptmcoder.llm.prompts import load_prompt
from ptmcoder.llm.tokens import count_chat_tokens, count_tokens


def cacheable(prefix_tokens: int, minimum: int = 1024, step: int = 128) -> int:
    return 0 if prefix_tokens < minimum else (prefix_tokens // step) * step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codebook", default="tan2024")
    p.add_argument("--corpus", default="humbatova_so")
    p.add_argument("--model", default="gpt-4o-mini")
    args = p.parse_args()
    book = load_codebook(args.codebook)
    template = load_prompt(DEFAULT_PROMPT)
    system = render_system(template, book, None)
    units = load_units(args.corpus).to_dict("records")
    prefix = count_tokens(system, args.model)
    shared, naive = [], []
    for u in units:
        text = unit_text(u)
        msgs = build_messages(template, system, str(u["id"]), text)
        shared.append(count_chat_tokens(msgs, args.model))
        # the same instructions and codebook, but after the unit in one user message
        naive_msgs = [ChatMessage(role="user", content=f"Code this unit:\n{text}\n\n{system}")]
        naive.append(count_chat_tokens(naive_msgs, args.model))
    n = len(units)
    mean_shared = statistics.mean(shared)
    mean_naive = statistics.mean(naive)
    cached = cacheable(prefix)
    print(
        f"codebook {book.id}: {len(book.leaves())} leaves + {len(book.special)} special; "
        f"{n} units from {args.corpus}; tokenizer of {args.model}"
    )
    print(f"shared system prefix: {prefix} tokens (identical for every unit)")
    print(
        f"shared-prefix layout: {mean_shared:.1f} input tokens/unit; cacheable "
        f"{cached} tokens/unit after the first request ({cached / mean_shared:.1%}); "
        f"uncached {mean_shared - cached:.1f} tokens/unit"
    )
    print(
        f"naive layout (unit first): {mean_naive:.1f} input tokens/unit; cacheable 0 "
        f"(no common leading run)"
    )
    print(
        f"billed-equivalent tokens/unit at a 50% cached-input discount: shared "
        f"{mean_shared - cached * 0.5:.1f} vs naive {mean_naive:.1f} "
        f"({1 - (mean_shared - cached * 0.5) / mean_naive:.1%} less)"
    )


if __name__ == "__main__":
    main()
