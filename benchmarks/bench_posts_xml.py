"""Benchmark: import a large Stack Overflow ``Posts.xml`` and compare with a raw read.

Generates a Posts.xml of ``--size-gb`` GB (default 1.0) with the dump's schema
(questions and answers, HTML bodies with paragraphs, inline code, code blocks,
links and entities; accepted answers pointing at later answers) under
``benchmarks/_work/``, then measures

* a raw read of the file (8 MiB chunks, no parsing) and an expat parse that
  only counts ``<row>`` elements,
* ``ptmcoder.corpus.store.import_corpus`` on the file, in a child process so that
  its peak resident memory (``ru_maxrss``) is its own,

and prints throughput, the ratio import / raw read and the peak memory.

    python benchmarks/bench_posts_xml.py            # 1 GB
    python benchmarks/bench_posts_xml.py --size-gb 0.05 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

WORK = Path(__file__).resolve().parent / "_work"

WORDS = (
    "model tensor load pretrained bert tokenizer layer weights checkpoint gpu memory "
    "training fine-tune dataset batch error version install import shape output input "
    "embedding transformer pipeline inference accuracy loss optimizer huggingface torch "
    "keras tensorflow onnx export quantize cuda device config"
).split()
TAGS = (
    "python pytorch tensorflow keras huggingface-transformers bert-language-model "
    "nlp deep-learning machine-learning onnx"
).split()


def _sentence(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def _body(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(2, 5)):
        parts.append(
            f"<p>{_sentence(rnd, rnd.randint(15, 60))} <code>{rnd.choice(WORDS)}()"
            f'</code> &amp; <a href="https://example.org/{rnd.randint(1, 999)}">'
            f"{rnd.choice(WORDS)}</a></p>\n"
        )
        if rnd.random() < 0.6:
            code = "\n".join(
                f"x_{i} = model.{rnd.choice(WORDS)}(x_{i - 1}) # &lt;{i}&gt;"
                for i in range(rnd.randint(3, 15))
            )
            parts.append(f"<pre><code>{code}\n</code></pre>\n")
    if rnd.random() < 0.3:
        parts.append(
            "<ul>\n" + "".join(f"<li>{_sentence(rnd, 8)}</li>\n" for _ in range(3)) + "</ul>\n"
        )
    return "".join(parts)


def generate(path: Path, size_bytes: int, seed: int = 1) -> dict[str, int]:
    """Write a Posts.xml of at least ``size_bytes``; returns row counts."""
    rnd = random.Random(seed)
    start = datetime(2018, 1, 1)
    post_id = 0
    questions = answers = 0
    open_questions: list[tuple[int, int]] = []  # (question id, accepted answer id to come)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        written = 0
        while written < size_bytes:
            post_id += 1
            created = (start + timedelta(minutes=post_id)).isoformat(timespec="milliseconds")
            if rnd.random() < 0.4 or not open_questions:
                questions += 1
                n_answers = rnd.randint(0, 3)
                accepted = ""
                if n_answers:
                    # the accepted answer gets an id a little later in the file
                    acc = post_id + rnd.randint(1, 50)
                    accepted = f' AcceptedAnswerId="{acc}"'
                    open_questions.append((post_id, acc))
                tags = "".join(f"&lt;{t}&gt;" for t in rnd.sample(TAGS, rnd.randint(1, 4)))
                closed = (
                    f' ClosedDate="{(start + timedelta(minutes=post_id + 600)).isoformat()}"'
                    if rnd.random() < 0.05
                    else ""
                )
                line = (
                    f'  <row Id="{post_id}" PostTypeId="1"{accepted} '
                    f'CreationDate="{created}" Score="{rnd.randint(-3, 40)}" '
                    f'ViewCount="{rnd.randint(10, 90000)}" Body={quoteattr(_body(rnd))} '
                    f'OwnerUserId="{rnd.randint(1, 10**6)}" '
                    f'LastActivityDate="{created}" Title={quoteattr(_sentence(rnd, 9))} '
                    f'Tags="{tags}" AnswerCount="{n_answers}" '
                    f'CommentCount="{rnd.randint(0, 9)}"{closed} '
                    f'ContentLicense="CC BY-SA 4.0" />\n'
                )
            else:
                answers += 1
                parent = rnd.choice(open_questions)[0]
                # ids reserved as accepted answers are written as answers when reached
                line = (
                    f'  <row Id="{post_id}" PostTypeId="2" ParentId="{parent}" '
                    f'CreationDate="{created}" Score="{rnd.randint(-1, 50)}" '
                    f'Body={quoteattr(_body(rnd))} OwnerUserId="{rnd.randint(1, 10**6)}" '
                    f'LastActivityDate="{created}" CommentCount="{rnd.randint(0, 5)}" '
                    f'ContentLicense="CC BY-SA 4.0" />\n'
                )
                if len(open_questions) > 200:
                    open_questions = open_questions[-100:]
            fh.write(line)
            written += len(line)
        fh.write("</posts>\n")
    return {"rows": post_id, "questions": questions, "answers": answers}


def raw_read(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(8 << 20):
            pass
    return time.perf_counter() - t


def expat_count(path: Path) -> tuple[float, int]:
    n = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal n
        if tag == "row":
            n += 1

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    t = time.perf_counter()
    with open(path, "rb") as fh:
        parser.ParseFile(fh)
    return time.perf_counter() - t, n


CHILD = """
import json, resource, sys, time
from ptmcoder.corpus.store import import_corpus
t = time.perf_counter()
s = import_corpus([sys.argv[1]], "bench", replace=True)
out = {"seconds": time.perf_counter() - t, "units": s.units, "counts": s.counts,
       "skipped": s.skipped_count, "duplicates": s.duplicate_rows_dropped,
       "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
print(json.dumps(out))
"""


def run_import(path: Path, home: Path) -> dict[str, object]:
    env = dict(os.environ, PTMCODER_HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"import failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of Posts.xml (GB, 1e9 B)")
    ap.add_argument("--keep", action="store_true", help="keep the generated file for reuse")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"Posts_{args.size_gb:g}GB.xml"
    size = int(args.size_gb * 1e9)
    gen: dict[str, object] = {}
    if not path.exists() or path.stat().st_size < size:
        t = time.perf_counter()
        gen = generate(path, size)
        gen["seconds"] = round(time.perf_counter() - t, 1)
        print(
            f"generated {path} ({path.stat().st_size / 1e9:.2f} GB, {gen['rows']:,} rows, "
            f"{gen['questions']:,} questions) in {gen['seconds']} s",
            file=sys.stderr,
        )
    nbytes = path.stat().st_size
    raw_read(path)  # warm the page cache so both timings read from memory
    t_raw = raw_read(path)
    t_expat, rows = expat_count(path)
    with tempfile.TemporaryDirectory(dir=WORK) as home:
        imp = run_import(path, Path(home))
    mb = nbytes / 1e6
    results = {
        "file": str(path),
        "bytes": nbytes,
        "rows": rows,
        "generated": gen,
        "runs": 1,
        "raw_read_s": round(t_raw, 2),
        "raw_read_MBps": round(mb / t_raw, 1),
        "expat_parse_s": round(t_expat, 2),
        "expat_parse_MBps": round(mb / t_expat, 1),
        "import_s": round(float(imp["seconds"]), 2),
        "import_MBps": round(mb / float(imp["seconds"]), 1),
        "units": imp["units"],
        "counts": imp["counts"],
        "ratio_import_to_raw_read": round(float(imp["seconds"]) / t_raw, 1),
        "ratio_import_to_expat_parse": round(float(imp["seconds"]) / t_expat, 2),
        "import_peak_rss_MB": round(int(imp["maxrss_kb"]) / 1024, 1),
    }
    if not args.keep:
        path.unlink()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"Posts.xml: {mb:,.0f} MB, {rows:,} rows; imported {results['units']:,} questions"
            f" (each timing: n=1 run)"
        )
        print(f"raw read      {t_raw:8.2f} s  {results['raw_read_MBps']:8.1f} MB/s")
        print(f"expat parse   {t_expat:8.2f} s  {results['expat_parse_MBps']:8.1f} MB/s")
        print(f"import        {imp['seconds']:8.2f} s  {results['import_MBps']:8.1f} MB/s")
        print(f"ratio import / raw read    {results['ratio_import_to_raw_read']}x")
        print(f"ratio import / expat parse {results['ratio_import_to_expat_parse']}x")
        print(f"import peak RSS            {results['import_peak_rss_MB']} MB")
    return 0 if results["import_peak_rss_MB"] < 1024 else 1


if __name__ == "__main__":
    raise SystemExit(main())
