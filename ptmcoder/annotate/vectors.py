"""Unit texts as vectors, each text embedded once: TF-IDF and MiniLM pooled over chunks.

**MiniLM over the whole unit.** all-MiniLM-L6-v2 reads at most 256 word pieces,
while most issue bodies are longer. :func:`chunk_spans` cuts a text into
consecutive windows of ``chunk_tokens`` word pieces (cut at the tokenizer's
offsets, so every chunk is a verbatim substring) and :class:`ChunkEmbedder` embeds
every chunk and averages the chunk vectors, weighted by their length in word
pieces, into one unit vector. ``max_chunks`` bounds the cost of a very long unit
(the chunks then cover its first ``max_chunks * chunk_tokens`` word pieces; the
number of units cut is reported).

**Cached by content hash.** Unit vectors are kept in SQLite
(``<workspace>/cache/embeddings.sqlite``) keyed by the model, the chunking and the
SHA-256 of the text, so a text is embedded once per workspace, whatever run or
corpus it comes from.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class VectorCache:
    """``(space, sha256 of text) -> float32 vector`` in SQLite; survives crashes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (space TEXT, hash TEXT, dim INTEGER, "
            "vector BLOB, PRIMARY KEY (space, hash))"
        )
        self.db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, space: str, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT hash, vector FROM vectors WHERE space = ? AND hash IN ({marks})",
                [space, *part],
            )
            for h, blob in rows:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def present(self, space: str, hashes: list[str]) -> set[str]:
        """The hashes among ``hashes`` that have a vector in ``space`` (no vector read)."""
        out: set[str] = set()
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT hash FROM vectors WHERE space = ? AND hash IN ({marks})", [space, *part]
            )
            out.update(h for (h,) in rows)
        return out

    def put_many(self, space: str, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                [
                    (space, h, int(v.shape[0]), np.asarray(v, np.float32).tobytes())
                    for h, v in items.items()
                ],
            )

    def close(self) -> None:
        self.db.close()


def chunk_spans(
    text: str, tokenizer: Any, chunk_tokens: int, max_chunks: int
) -> tuple[list[tuple[int, int]], int, bool]:
    """Character spans of consecutive windows of ``chunk_tokens`` word pieces, their
    total word pieces, and whether ``max_chunks`` cut the text short."""
    enc = tokenizer(
        text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        truncation=False,
        verbose=False,
    )
    offsets = enc["offset_mapping"]
    if not offsets:
        return ([(0, len(text))] if text.strip() else []), 0, False
    spans = []
    for start in range(0, len(offsets), chunk_tokens):
        window = offsets[start : start + chunk_tokens]
        spans.append((window[0][0], window[-1][1]))
        if len(spans) == max_chunks:
            break
    cut = len(offsets) > max_chunks * chunk_tokens
    return spans, len(offsets), cut


class ChunkEmbedder:
    """MiniLM unit vectors pooled over chunks covering the unit (see module doc)."""

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        chunk_tokens: int = 250,
        max_chunks: int = 8,
        batch_size: int = 32,
        cache: VectorCache | None = None,
    ) -> None:
        self.model = model
        self.name = name
        self.chunk_tokens = chunk_tokens
        self.max_chunks = max_chunks
        self.batch_size = batch_size
        self.cache = cache
        self.memo: dict[str, np.ndarray] = {}
        self.stats = {"texts": 0, "embedded": 0, "chunks": 0, "cut": 0, "seconds": 0.0}

    @property
    def space(self) -> str:
        return f"{self.name}|chunks{self.chunk_tokens}x{self.max_chunks}|mean"

    def encode(
        self, texts: list[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """One L2-normalised vector per text; ``progress(chunks done, chunks)`` per batch."""
        hashes = [text_hash(t) for t in texts]
        self.stats["texts"] += len(texts)
        missing = [h for h in dict.fromkeys(hashes) if h not in self.memo]
        if missing and self.cache is not None:
            self.memo.update(self.cache.get_many(self.space, missing))
            self.cache.hits += sum(1 for h in missing if h in self.memo)
        by_hash = dict(zip(hashes, texts, strict=True))
        todo = [h for h in dict.fromkeys(hashes) if h not in self.memo]
        if todo:
            started = time.perf_counter()
            fresh = self._embed([by_hash[h] for h in todo], progress)
            self.stats["seconds"] += time.perf_counter() - started
            self.stats["embedded"] += len(todo)
            new = dict(zip(todo, fresh, strict=True))
            self.memo.update(new)
            if self.cache is not None:
                self.cache.misses += len(todo)
                self.cache.put_many(self.space, new)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.vstack([self.memo[h] for h in hashes]).astype(np.float32)

    def _embed(
        self, texts: list[str], progress: Callable[[int, int], None] | None
    ) -> list[np.ndarray]:
        tokenizer = self.model.tokenizer
        chunks: list[str] = []
        owner: list[int] = []
        weight: list[float] = []
        for i, text in enumerate(texts):
            spans, _, cut = chunk_spans(text, tokenizer, self.chunk_tokens, self.max_chunks)
            self.stats["cut"] += int(cut)
            if not spans:
                spans = [(0, len(text))]
            for a, b in spans:
                chunks.append(text[a:b] or " ")
                owner.append(i)
                weight.append(max(1.0, float(b - a)))
        self.stats["chunks"] += len(chunks)
        # longest first in batches of similar length: padding is what costs
        order = sorted(range(len(chunks)), key=lambda j: -len(chunks[j]))
        out = np.zeros((len(chunks), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            vecs = self.model.encode(
                [chunks[j] for j in idx],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            out[idx] = vecs
            if progress is not None:
                progress(min(start + self.batch_size, len(order)), len(order))
        pooled = np.zeros((len(texts), DIM), dtype=np.float32)
        np.add.at(pooled, owner, out * np.asarray(weight, dtype=np.float32)[:, None])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return list(pooled / norms)
