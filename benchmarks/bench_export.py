"""Benchmark: REFI-QDA project export and codings import of a large run.

    python benchmarks/bench_export.py [--units 20000] [--annotators 3] [--body-chars 2000]

Builds a synthetic corpus (CSV) and run in a temporary workspace, exports it with
:func:`ptmcoder.export.qdpx.export_project` and reads it back with
:func:`ptmcoder.export.codings.import_codings`. Prints the time of each, the
traced peak memory of each (the export streams its XML and zip entries, so beyond loading the
corpus and the run's records its peak does not grow with the document), and as
reference the uncompressed size of ``project.qde`` plus ``sources/``, the ratio
peak / document size, and the peaks of the corpus reader and the run's record reader alone
(both hold their whole input).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--body-chars", type=int, default=2_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["PTMCODER_HOME"] = home
        from ptmcoder.annotate.records import Annotation, CodeAssignment
        from ptmcoder.codebook import codebook_hash, load_codebook
        from ptmcoder.export.codings import import_codings
        from ptmcoder.export.qdpx import export_project
        from ptmcoder.runs import create_run

        rng = np.random.default_rng(0)
        words = np.array("model tensor layer 🐛 训练 fine-tune error GPU shape loss".split())
        ids = [f"u{i}" for i in range(args.units)]
        bodies = [
            " ".join(rng.choice(words, args.body_chars // 6)) + "\r\n" for _ in range(args.units)
        ]
        corpus = Path(home) / "units.csv"
        pd.DataFrame({"id": ids, "title": [f"Question {i}" for i in ids], "body": bodies}).to_csv(
            corpus, index=False
        )
        book = load_codebook("issue-type")
        codes = [n.id for n in book.leaves()]
        run = create_run({"codebook": book.id, "corpus": str(corpus)}, run_id="bench")
        manifest = run.manifest()
        manifest["codebook"] = {"id": book.id, "hash": codebook_hash(book)}
        manifest["corpus"] = {"ref": str(corpus)}
        run.write_manifest(manifest)
        with open(run.annotations_path, "w", encoding="utf-8") as fh:
            for uid, body in zip(ids, bodies, strict=True):
                for a in range(args.annotators):
                    quote = body[10:40]
                    record = Annotation(
                        unit_id=uid,
                        annotator=f"annotator-{a}",
                        codes=[
                            CodeAssignment(
                                code=codes[int(rng.integers(len(codes)))],
                                evidence=quote,
                                rationale="synthetic",
                                confidence=0.5,
                            )
                        ],
                    )
                    fh.write(record.model_dump_json() + "\n")

        from ptmcoder.corpus.units import load_units

        tracemalloc.start()
        load_units(str(corpus))
        _, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        records = list(run.iter_annotations())
        _, records_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del records

        out = Path(home) / "bench.qdpx"
        tracemalloc.start()
        start = time.perf_counter()
        summary = export_project("bench", out)
        export_s = time.perf_counter() - start
        _, export_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        with zipfile.ZipFile(out) as zf:
            document = sum(info.file_size for info in zf.infolist())
            qde = zf.getinfo("project.qde").file_size

        tracemalloc.start()
        start = time.perf_counter()
        back = import_codings(out)
        import_s = time.perf_counter() - start
        _, import_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        mb = 1 << 20
        print(
            f"units {summary.units}, codings {summary.as_dict()['codings']}, "
            f"rows back {len(back.table)}"
        )
        print(
            f"corpus CSV {corpus.stat().st_size / mb:.1f} MB; loading it alone peaks at "
            f"{load_peak / mb:.1f} MB; reading the run's records alone peaks at "
            f"{records_peak / mb:.1f} MB (both readers are part of the export's peak)"
        )
        print(f"reference: archive content {document / mb:.1f} MB (project.qde {qde / mb:.1f} MB)")
        print(
            f"export {export_s:.1f}s, peak traced {export_peak / mb:.1f} MB, "
            f"ratio to archive content {export_peak / document:.2f}"
        )
        print(
            f"import {import_s:.1f}s, peak traced {import_peak / mb:.1f} MB, "
            f"ratio to archive content {import_peak / document:.2f}"
        )


if __name__ == "__main__":
    main()
