"""Choosing few-shot examples for a unit from the human-coded units.

The examples are *similar* to the unit (cosine similarity of embeddings),
*diverse in labels* (the most similar unit of each distinct label set first,
then the next most similar), *shuffled per unit* (deterministically from the
seed and the unit id, so a rerun renders the same prompt and hits the cache)
and *never the unit itself* (same id, or the same text).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import numpy as np


def unit_rng(seed: int, unit_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{unit_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def select_examples(
    unit_id: str,
    unit_vector: np.ndarray,
    pool_ids: Sequence[str],
    pool_vectors: np.ndarray,
    pool_labels: Sequence[Sequence[str]],
    k: int,
    *,
    seed: int = 13,
    unit_text: str | None = None,
    pool_texts: Sequence[str] | None = None,
) -> list[int]:
    """Indices into the pool of up to ``k`` examples for one unit (see module doc)."""
    if k <= 0 or not len(pool_ids):
        return []
    sims = pool_vectors @ unit_vector
    order = np.argsort(-sims, kind="stable")
    candidates = []
    for idx in order:
        if pool_ids[idx] == unit_id:
            continue
        if unit_text is not None and pool_texts is not None and pool_texts[idx] == unit_text:
            continue
        candidates.append(int(idx))
    chosen: list[int] = []
    seen_labels: set[tuple[str, ...]] = set()
    for idx in candidates:  # first pass: one per distinct label set, most similar first
        key = tuple(sorted(pool_labels[idx]))
        if key not in seen_labels:
            seen_labels.add(key)
            chosen.append(idx)
        if len(chosen) == k:
            break
    for idx in candidates:  # then fill with the most similar remaining
        if len(chosen) == k:
            break
        if idx not in chosen:
            chosen.append(idx)
    unit_rng(seed, unit_id).shuffle(chosen)
    return chosen
