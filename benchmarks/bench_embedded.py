"""Units per second of the embedded annotator on the bundled Humbatova sample
(477 SO titles), model load time measured separately. Offline.

    python benchmarks/bench_embedded.py [--embedder minilm|tfidf] [--fewshot]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--embedder", default="minilm", choices=["minilm", "tfidf"])
    p.add_argument("--codebook", default="humbatova-screening")
    p.add_argument("--fewshot", action="store_true", help="cross-fitted logistic regression")
    args = p.parse_args()

    from ptmcoder.annotate.embedded import EmbeddedAnnotator, make_embedder
    from ptmcoder.annotate.prompt import allowed_codes
    from ptmcoder.annotate.units import load_labels, load_units, unit_labels
    from ptmcoder.codebook import load_codebook

    book = load_codebook(args.codebook)
    units = load_units("humbatova_so").to_dict("records")
    t0 = time.perf_counter()
    embedder = make_embedder(args.embedder)
    load = time.perf_counter() - t0
    annotator = EmbeddedAnnotator(book, None, embedder)
    t1 = time.perf_counter()
    annotator.prepare(units)
    prep = time.perf_counter() - t1
    fit = 0.0
    if args.fewshot:
        labels = unit_labels(load_labels("humbatova_so"), allowed_codes(book, None))
        t2 = time.perf_counter()
        annotator.fit_fewshot(units, labels, units)
        fit = time.perf_counter() - t2
    t3 = time.perf_counter()
    records = list(annotator.annotate(units))
    run = time.perf_counter() - t3
    ok = sum(r.ok for r in records)
    print(f"embedder {embedder.name}; {os.cpu_count()} CPUs visible")
    print(
        f"model load: {load:.2f} s; code vectors: {prep:.2f} s"
        + (f"; few-shot fit (5 folds, incl. encoding): {fit:.2f} s" if args.fewshot else "")
    )
    print(
        f"annotate {len(records)} units ({ok} ok): {run:.2f} s = {len(records) / run:.1f} units/s"
    )
    if args.fewshot:
        print(
            f"few-shot out-of-fold top-1 accuracy: "
            f"{annotator.fewshot.stats['out_of_fold_top1_accuracy']}"
        )


if __name__ == "__main__":
    main()
