"""The options of ``ptmcoder annotate`` and how a resumed run checks them.

:class:`AnnotateOptions` is what the command (or a notebook) sets;
:class:`~ptmcoder.manifest.RunConfig` is the snapshot written to ``manifest.json``
as ``config`` (defined with the manifest, below the stages):
the options that change the answers, the operational ones, and the codebook's id,
version and hash. Both reject unknown keys. Resuming a run compares the options
a user *set* (``model_fields_set``) with the snapshot: an answer-changing option
that differs is refused, naming the field (:func:`resume_options`).
"""

from __future__ import annotations

from typing import Any

import pydantic

from ptmcoder.errors import ConfigError, Problem, ValidationError, problems_from
from ptmcoder.manifest import (
    ANSWERING,
    DEFAULT_PROMPT,
    OPERATIONAL,
    AnsweringSettings,
    OperationalSettings,
    RunConfig,
)

__all__ = [
    "ANSWERING",
    "DEFAULT_PROMPT",
    "OPERATIONAL",
    "AnnotateOptions",
    "RunConfig",
    "differing_fields",
    "option_flag",
    "resume_options",
]

#: option fields whose command-line flag is spelled otherwise
_FLAGS = {"annotators": "annotator", "train_raters": "train-rater", "cache": "no-cache"}


def option_flag(name: str) -> str:
    """The ``ptmcoder annotate`` flag of an option field: ``train_raters`` ->
    ``--train-rater``."""
    return "--" + _FLAGS.get(name, name.replace("_", "-"))


class AnnotateOptions(AnsweringSettings, OperationalSettings):
    """Everything ``ptmcoder annotate`` can set; :class:`RunConfig` is its snapshot."""

    progress: bool = True
    #: on resume, take the error records out (to superseded.jsonl) and code those
    #: units again, asking the model afresh (not the cache)
    retry_errors: bool = False

    def __init__(self, **data: Any) -> None:
        """Validated at the edge: a value out of range, NaN or an infinity is a
        :class:`~ptmcoder.errors.ValidationError` naming the option's flag and field
        (``--temperature (temperature): Input should be a finite number``), raised
        before any run directory exists."""
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            problems = [
                Problem(
                    "annotate options",
                    f"{option_flag(p.location)} ({p.location})"
                    if p.location in type(self).model_fields
                    else p.location,
                    p.message + (f", got {data[p.location]!r}" if p.location in data else ""),
                )
                for p in problems_from(exc, "annotate options")
            ]
            raise ValidationError(
                problems, hint="see `ptmcoder annotate --help` for each option's range"
            ) from None


def differing_fields(options: AnnotateOptions, stored: RunConfig) -> dict[str, tuple[Any, Any]]:
    """The answer-changing options the user set (``model_fields_set``) that differ from
    the run's snapshot: name -> (given, stored). Lists compare as sets."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in ANSWERING:
        if name not in options.model_fields_set:
            continue
        given, was = getattr(options, name), getattr(stored, name)
        if name in ("codebook", "corpus", "annotators", "train_raters") and not given:
            continue  # not given again: the run's own
        same = sorted(given) == sorted(was) if isinstance(given, list) else given == was
        if not same:
            out[name] = (given, was)
    return out


def resume_options(options: AnnotateOptions, stored: RunConfig) -> AnnotateOptions:
    """The options of a resumed session: the run's snapshot, with the operational
    settings the user set for this session. An answer-changing option set to a value
    other than the run's is a :class:`~ptmcoder.errors.ConfigError` naming every
    differing field (never silently merged)."""
    diff = differing_fields(options, stored)
    if diff:
        listed = "; ".join(
            f"{option_flag(name)} {given!r} differs from the run's {was!r}"
            for name, (given, was) in diff.items()
        )
        raise ConfigError(
            f"cannot resume with settings other than the run's: {listed}",
            hint="omit them when resuming (the run keeps its own), or start a new run",
        )
    merged = stored.model_dump(include=set(AnnotateOptions.model_fields))
    for name in OPERATIONAL:
        if name in options.model_fields_set or name in ("progress", "retry_errors"):
            value = getattr(options, name)
            if name in ("base_url", "rpm", "tpm") and value is None:
                continue
            merged[name] = value
    return AnnotateOptions(**merged)
