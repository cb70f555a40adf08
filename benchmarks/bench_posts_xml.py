"""Benchmark: import a large Stack Overflow ``Posts.xml`` and compare with a raw read.

Generates a Posts.xml of ``--size-gb`` GB (default 1.0) with the dump's schema
(questions and answers, HTML bodies with paragraphs, inline code, code blocks,
links and entities; accepted answers pointing at later answers) under
``benchmarks/_work/``, then measures

* a raw read of the file (8 MiB chunks, no parsing) and an expat parse that
  only counts ``<row>`` elements,
* ``ptmcoder.corpus.store.import_corpus`` on the file, in a child process so that
  its peak resident memory (``ru_maxrss``) is its own (and its workers' separately),

and prints the ratio import / expat parse per run, the worker processes the import
started (none when the machine has no idle core) and the peak memory.

    python benchmarks/bench_posts_xml.py            # 1 GB
    python benchmarks/bench_posts_xml.py --size-gb 0.05 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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
from ptmcoder.corpus.readers import posts_xml
from ptmcoder.corpus.store import import_corpus
used = []  # worker processes started (posts_xml.CpuSample decides; 0 on a busy box)
real = posts_xml._Workers
def workers(n):
    used.append(n)
    return real(n)
posts_xml._Workers = workers
t = time.perf_counter()
s = import_corpus([sys.argv[1]], "bench", replace=True)
out = {"seconds": time.perf_counter() - t, "units": s.units, "counts": s.counts,
       "skipped": s.skipped_count, "duplicates": s.duplicate_rows_dropped,
       "workers": sum(used),
       "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
       "worker_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
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
    ap.add_argument("--repeat", type=int, default=3, help="runs of parse and import")
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
    raw_read(path)  # warm the page cache so every timing reads from memory
    runs = []
    for _ in range(args.repeat):  # the reference and the import side by side, each run
        t_raw = raw_read(path)
        t_expat, rows = expat_count(path)
        with tempfile.TemporaryDirectory(dir=WORK) as home:
            imp = run_import(path, Path(home))
        load = os.getloadavg()[0]
        runs.append({"raw_read_s": t_raw, "expat_parse_s": t_expat, "import": imp, "load": load})
    mb = nbytes / 1e6
    ratios = [float(r["import"]["seconds"]) / r["expat_parse_s"] for r in runs]
    imp = runs[-1]["import"]
    results = {
        "file": str(path),
        "bytes": nbytes,
        "rows": rows,
        "generated": gen,
        "runs": len(runs),
        "raw_read_s": [round(r["raw_read_s"], 2) for r in runs],
        "expat_parse_s": [round(r["expat_parse_s"], 2) for r in runs],
        "import_s": [round(float(r["import"]["seconds"]), 2) for r in runs],
        "units": imp["units"],
        "counts": imp["counts"],
        "ratio_import_to_expat_parse": [round(x, 2) for x in ratios],
        "ratio_import_to_expat_parse_median": round(statistics.median(ratios), 2),
        "import_workers": [int(r["import"]["workers"]) for r in runs],
        "import_peak_rss_MB": round(max(int(r["import"]["maxrss_kb"]) for r in runs) / 1024, 1),
        "worker_peak_rss_MB": round(
            max(int(r["import"]["worker_maxrss_kb"]) for r in runs) / 1024, 1
        ),
        "load_average_1min": [round(r["load"], 2) for r in runs],
    }
    if not args.keep:
        path.unlink()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"Posts.xml: {mb:,.0f} MB, {rows:,} rows; imported {results['units']:,} questions"
            f" ({len(runs)} run(s) of each timing)"
        )
        for name in ("raw_read_s", "expat_parse_s", "import_s"):
            print(f"{name[:-2]:<12} " + ", ".join(f"{x:.2f}" for x in results[name]) + " s")
        shown = ", ".join(f"{x:.2f}" for x in results["ratio_import_to_expat_parse"])
        print(
            f"ratio import / expat parse x{results['ratio_import_to_expat_parse_median']}"
            f" median (runs: {shown}; target <= 2)"
        )
        print(
            "worker processes per run   "
            + ", ".join(map(str, results["import_workers"]))
            + " (started when another core is idle; see posts_xml.CpuSample)"
        )
        print(
            f"import peak RSS            {results['import_peak_rss_MB']} MB"
            f" (a worker's: {results['worker_peak_rss_MB']} MB)"
        )
        print("load average (1 min)       " + ", ".join(map(str, results["load_average_1min"])))
    return 0 if results["import_peak_rss_MB"] < 1024 else 1


if __name__ == "__main__":
    raise SystemExit(main())
