"""Units per second of the embedded annotator on the bundled Humbatova sample
(477 SO titles), model load time measured separately. Offline.

    python benchmarks/bench_embedded.py [--embedder minilm|tfidf]

(The supervised annotator, learning from human codes, is measured by bench_nlbse.py.)
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
    args = p.parse_args()

    from ptmcoder.annotate.embedded import EmbeddedAnnotator
    from ptmcoder.codebook import load_codebook
    from ptmcoder.corpus.units import load_units
    from ptmcoder.llm.embed import make_embedder

    book = load_codebook(args.codebook)
    units = load_units("humbatova_so").to_dict("records")
    t0 = time.perf_counter()
    embedder = make_embedder(args.embedder)
    load = time.perf_counter() - t0
    annotator = EmbeddedAnnotator(book, None, embedder)
    t1 = time.perf_counter()
    annotator.prepare(units)
    prep = time.perf_counter() - t1
    t3 = time.perf_counter()
    records = list(annotator.annotate(units))
    run = time.perf_counter() - t3
    ok = sum(r.ok for r in records)
    print(f"embedder {embedder.name}; {os.cpu_count()} CPUs visible")
    print(f"model load: {load:.2f} s; code vectors: {prep:.2f} s")
    print(
        f"annotate {len(records)} units ({ok} ok): {run:.2f} s = {len(records) / run:.1f} units/s"
    )


if __name__ == "__main__":
    main()
