"""The ``embedded`` annotators' builder: offline, no endpoint.

``embedded[:KIND]`` learns from the human codes of ``--train`` when they can train a
model (:mod:`ptmcoder.annotate.supervised`), and otherwise codes zero-shot by
similarity to the code descriptions (:mod:`ptmcoder.annotate.embedded`), saying why.
"""

from __future__ import annotations

from ptmcoder.annotate import embedded, supervised
from ptmcoder.annotate.base import Annotator, AnnotatorContext


def build(context: AnnotatorContext) -> Annotator | None:
    """The prepared embedded annotator for ``context.spec``; None when every unit has
    its record already (nothing is loaded or fitted)."""
    if not context.pending:
        return None
    spec, warn = context.spec, context.warn
    kind = spec.split(":", 1)[1] if ":" in spec else "auto"
    if context.labels:
        learned = supervised.build(context, kind)
        if learned is not None:
            return learned
        warn(
            "too few human-coded units (or one code only) for the supervised learner; "
            "zero-shot used"
        )
    if context.options.suggest:
        warn("--suggest needs human codes (--train) to learn from; no suggestions written")
    if kind == "finetune":
        warn(f"{spec} needs human codes (--train) to fine-tune on; zero-shot MiniLM used")
        kind = "minilm"
    return embedded.build(context, kind)
