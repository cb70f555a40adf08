"""The annotators ``ptmcoder annotate`` knows, keyed by the prefix of their spec.

An annotator spec is ``PREFIX`` or ``PREFIX:REST`` (``embedded``, ``embedded:tfidf``,
``openai:gpt-4o-mini``, ``langchain:anthropic:claude-3-5-haiku``). :data:`REGISTRY`
maps each prefix to its builder, a function ``build(context) -> Annotator | None``
named as ``"module:function"`` and imported only when used (so torch is never loaded
for an LLM run). Adding an annotator is one new module with its builder and one entry
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from ptmcoder.errors import ConfigError

if TYPE_CHECKING:
    from ptmcoder.annotate.base import Annotator, AnnotatorContext


@dataclass(frozen=True)
class Registered:
    """One annotator family: how its specs look and where its builder lives."""

    prefix: str
    #: ``"module:function"``: ``function(context)`` returns the prepared annotator, or
    #: None when it has nothing to code
    builder: str
    #: the specs shown in help and error messages
    examples: tuple[str, ...]
    #: the words allowed after ``PREFIX:`` (None: anything, such as a model name)
    variants: tuple[str, ...] | None = None
    #: the prefix alone is a spec (``embedded``)
    bare: bool = False
    #: an LLM annotator: it calls an endpoint and its records carry the prompt version
    llm: bool = False

    def check(self, spec: str) -> None:
        rest = spec.split(":", 1)[1] if ":" in spec else None
        if rest is None or self.variants is None or rest in self.variants:
            return
        allowed = [self.prefix] if self.bare else []
        allowed += [f"{self.prefix}:{v}" for v in self.variants]
        raise ConfigError(
            f"unknown {self.prefix} annotator {spec!r}", hint="use " + ", ".join(allowed)
        )

    def build(self, context: AnnotatorContext) -> Annotator | None:
        module, function = self.builder.split(":")
        return getattr(import_module(module), function)(context)


REGISTRY: dict[str, Registered] = {
    entry.prefix: entry
    for entry in (
        Registered(
            "embedded",
            "ptmcoder.annotate.embedded_build:build",
            examples=("embedded", "embedded:tfidf", "embedded:finetune"),
            variants=("minilm", "tfidf", "finetune"),
            bare=True,
        ),
        Registered(
            "openai", "ptmcoder.annotate.llm_build:build", examples=("openai:MODEL",), llm=True
        ),
        Registered(
            "langchain",
            "ptmcoder.annotate.llm_build:build",
            examples=("langchain:PROVIDER:MODEL",),
            llm=True,
        ),
    )
}


def registered(spec: str) -> Registered:
    """The registry entry of ``spec``; a :class:`~ptmcoder.errors.ConfigError` naming
    the known specs when there is none.

    >>> registered("embedded:tfidf").prefix, registered("openai:gpt-4o-mini").llm
    ('embedded', True)
    """
    entry = REGISTRY.get(spec.split(":", 1)[0])
    if entry is None or (":" not in spec and not entry.bare):
        examples = [e for r in REGISTRY.values() for e in r.examples]
        raise ConfigError(
            f"unknown annotator {spec!r}",
            hint="use " + ", ".join(examples[:-1]) + " or " + examples[-1],
        )
    entry.check(spec)
    return entry


def build_annotator(context: AnnotatorContext) -> Annotator | None:
    """The prepared annotator for ``context.spec`` (see :class:`Registered`)."""
    return registered(context.spec).build(context)
