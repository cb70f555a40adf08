"""How well the injection flags separate instructions from data (issue #25 item 14).

Runs :func:`ptmcoder.annotate.injection.injection_reasons` on the labelled set
``tests/fixtures/injection/labelled.jsonl`` (built by ``injection_build_set.py``)
and prints, per split (dev, held-out, blind) and kind, n, the number flagged,
recall (injections) or the false-positive rate (ordinary posts) and precision
(each injection kind against the ordinary posts of the split), then the flag rate
on unlabelled real issues from ``/work/shared/data`` (all presumed ordinary).

    python benchmarks/injection_flags.py [--json] [--misses]

The measured numbers are in ``benchmarks/injection_flags.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ptmcoder.annotate.injection import injection_reasons

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "injection" / "labelled.jsonl"
DATA = ROOT.parent / "shared" / "data"
#: the code ids of codebooks/humbatova-screening.yaml (plain words and a distinctive one)
CODES = ["dl-fault", "generic", "false-positive", "unclear"]


def load(path: Path = LABELLED) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def measure(rows: list[dict], codes: list[str] = CODES) -> dict[str, dict]:
    """Per kind: n, flagged, and recall (injection kinds) or false-positive rate
    (ordinary), with precision of each injection kind against the ordinary rows;
    ``all`` pools the injection kinds."""
    flagged = [bool(injection_reasons(r["text"], codes)) for r in rows]
    out: dict[str, dict] = {}
    ordinary = [f for r, f in zip(rows, flagged, strict=True) if r["kind"] == "ordinary"]
    fp = sum(ordinary)
    kinds = sorted({r["kind"] for r in rows} - {"ordinary"})
    for kind in [*kinds, "all"]:
        hits = [
            f
            for r, f in zip(rows, flagged, strict=True)
            if r["label"] == "injection" and (kind == "all" or r["kind"] == kind)
        ]
        tp = sum(hits)
        out[kind] = {
            "n": len(hits),
            "flagged": tp,
            "recall": tp / len(hits) if hits else None,
            "precision": tp / (tp + fp) if tp + fp else None,
        }
    out["ordinary"] = {
        "n": len(ordinary),
        "flagged": fp,
        "false_positive_rate": fp / len(ordinary) if ordinary else None,
    }
    return out


def misses(rows: list[dict], codes: list[str] = CODES) -> list[dict]:
    """Rows the detector gets wrong, with the reasons it gave."""
    wrong = []
    for r in rows:
        reasons = injection_reasons(r["text"], codes)
        if bool(reasons) != (r["label"] == "injection"):
            wrong.append(
                {k: r.get(k) for k in ("id", "kind", "technique", "source")} | {"reasons": reasons}
            )
    return wrong


def unlabelled_real() -> dict[str, dict]:
    """Flag rates on real issues nobody labelled (presumed ordinary), per source."""
    out: dict[str, dict] = {}
    hf = DATA / "hf_datasets_github_issues" / "datasets_issues_slim.jsonl"
    if hf.is_file():
        issues = [json.loads(x) for x in hf.read_text(encoding="utf-8").splitlines()]
        texts = [f"{i['title']}\n{i['body'] or ''}" for i in issues]
        out["huggingface/datasets issues"] = _rate(texts)
    nlbse = DATA / "nlbse24_issue_classification" / "issues_test.csv"
    if nlbse.is_file():
        csv.field_size_limit(sys.maxsize)
        with nlbse.open(encoding="utf-8", newline="") as fh:
            texts = [f"{r['title']}\n{r['body']}" for r in csv.DictReader(fh)]
        out["NLBSE'24 issues_test.csv"] = _rate(texts)
    return out


def _rate(texts: list[str]) -> dict:
    flagged = sum(bool(injection_reasons(t, CODES)) for t in texts)
    return {"n": len(texts), "flagged": flagged, "rate": flagged / len(texts)}


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def report(rows: list[dict]) -> dict:
    splits = {
        name: [r for r in rows if r["split"] == name] for name in ("dev", "held-out", "blind")
    }
    splits["all"] = rows
    return {name: measure(part) for name, part in splits.items() if part}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--misses", action="store_true", help="list the rows it gets wrong")
    parser.add_argument("--no-unlabelled", action="store_true", help="skip the real issues")
    args = parser.parse_args(argv)
    rows = load()
    result: dict = {"labelled": report(rows)}
    if not args.no_unlabelled:
        result["unlabelled"] = unlabelled_real()
    if args.misses:
        result["misses"] = misses(rows)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"labelled set {LABELLED.relative_to(ROOT)} (n={len(rows)}), codes {CODES}")
    print(f"{'split':9} {'kind':9} {'n':>4} {'flagged':>7} {'recall':>7} {'prec.':>6} {'FPR':>6}")
    for split, kinds in result["labelled"].items():
        for kind, m in kinds.items():
            print(
                f"{split:9} {kind:9} {m['n']:>4} {m['flagged']:>7} {_fmt(m.get('recall')):>7} "
                f"{_fmt(m.get('precision')):>6} {_fmt(m.get('false_positive_rate')):>6}"
            )
    for source, m in result.get("unlabelled", {}).items():
        print(
            f"unlabelled real issues, {source}: {m['flagged']} of n={m['n']} flagged "
            f"({100 * m['rate']:.2f}%)"
        )
    for miss in result.get("misses", []):
        print("wrong:", json.dumps(miss, ensure_ascii=False))


if __name__ == "__main__":
    main()
