"""The options of ``ptmcoder annotate`` and the config snapshot a run keeps of them.

:class:`AnnotateOptions` is what the command (or a notebook) sets;
:class:`RunConfig` is the snapshot written to ``manifest.json`` as ``config``:
the options that change the answers, the operational ones, and the codebook's id,
version and hash. Both reject unknown keys. Resuming a run compares the options
a user *set* (``model_fields_set``) with the snapshot: an answer-changing option
that differs is refused, naming the field (:func:`resume_options`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ptmcoder.errors import ConfigError

#: the prompt a run uses unless ``prompt`` names another version
DEFAULT_PROMPT = "apply_codebook.v1"

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Answering(_Strict):
    """Options that change the answers: fixed for the life of a run."""

    codebook: str | None = None
    corpus: str | None = None
    annotators: list[str] = []
    level: str | None = None
    limit: int | None = None
    prompt: str = DEFAULT_PROMPT
    samples: int = 1
    temperature: float | None = None
    max_unit_tokens: int | None = 2000
    max_output_tokens: int | None = 1024
    #: output mode: auto (probe and fall back), json_schema, json_object, tools, none
    structured: Literal["auto", "json_schema", "json_object", "tools", "none"] = "auto"
    train: str | None = None
    train_raters: list[str] = []
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


class _Operational(_Strict):
    """Options that may change between the sessions of a run."""

    base_url: str | None = None
    #: requests in flight; None: 8, or 1 for a local endpoint (see docs/local-models.md)
    concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    timeout: float = 60.0
    max_retries: int = 6
    cache: bool = True


class AnnotateOptions(_Answering, _Operational):
    """Everything ``ptmcoder annotate`` can set; :class:`RunConfig` is its snapshot."""

    progress: bool = True
    #: on resume, take the error records out (to superseded.jsonl) and code those
    #: units again, asking the model afresh (not the cache)
    retry_errors: bool = False


class RunConfig(_Answering, _Operational):
    """The ``config`` of an annotate run's manifest: the options (without the
    per-session ``progress`` and ``retry_errors``) and the codebook they coded with.
    Never a key: only the name of the variable the key is read from."""

    codebook_id: str | None = None
    codebook_version: str | None = None
    codebook_hash: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


ANSWERING = tuple(_Answering.model_fields)


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
        flags = {"annotators": "annotator", "train_raters": "train-rater"}
        listed = "; ".join(
            f"--{flags.get(name, name.replace('_', '-'))} {given!r} differs from the run's {was!r}"
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
