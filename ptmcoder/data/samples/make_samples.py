"""Rebuild the bundled samples from the shared data folder (see ATTRIBUTION.md).

Run from the repository root: ``python ptmcoder/data/samples/make_samples.py
[--shared ../shared/data]``. Every file written here is derived from real,
public data; nothing is invented. Selection is deterministic (no randomness
without a fixed seed), so re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import functools
import html
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- humbatova


def _decode_lines(path: Path) -> str:
    """Decode a file line by line: UTF-8, else Mac Roman (a few SO_init lines were
    saved by a Mac spreadsheet, e.g. ``Can\\xd5t`` for ``Can’t``)."""
    out = []
    for line in path.read_bytes().splitlines(keepends=True):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("mac_roman"))
    return "".join(out)


def _norm(tag: object) -> str:
    if tag is None or (isinstance(tag, float) and tag != tag):
        return ""
    return " ".join(str(tag).lower().split())


@functools.cache
def _screening_aliases() -> dict[str, str]:
    """Normalised alias -> code, from the ``humbatova-screening`` codebook itself, so
    the sample's mapping and the codebook can never disagree."""
    from ptmcoder.codebook import load_codebook

    book = load_codebook("humbatova-screening")
    table: dict[str, str] = {}
    for node in [*book.nodes, *book.special]:
        for name in (node.id, node.name, *node.aliases):
            table[_norm(name)] = node.id
    return table


def screening_code(raw: object) -> tuple[str, str | None]:
    """Map a raw Humbatova tag to a ``humbatova-screening`` code.

    Returns ``(code, note)``: ``code`` is ``false-positive``, ``generic``,
    ``unclear`` (a special code), ``dl-fault`` or ``""`` (an empty tag or ``-``:
    no label); ``note`` explains a non-obvious mapping so it can be reported.
    A tag listed among a code's aliases in the codebook maps to that code; any
    other fault description is ``dl-fault``.
    """
    tag = _norm(raw)
    if tag in ("", "-", "nan"):
        return "", "empty"
    aliases = _screening_aliases()
    if tag in aliases:
        code = aliases[tag]
        plain = tag in (code.replace("-", " "), code)
        return code, None if plain else f"alias of {code} in the codebook"
    if "false positive" in tag or "(or fp" in tag or "generic?" in tag:
        return "dl-fault", "fault tag hedged with false positive/generic; coded dl-fault"
    return "dl-fault", None


def build_humbatova(shared: Path) -> dict[str, object]:
    base = shared / "humbatova_dlfaults_taxonomy"
    rounds = pd.read_csv(base / "labelling_rounds_all_combined.csv", dtype=str)
    so = rounds[rounds["EntityType"].str.startswith("so-")].copy()
    so["qid"] = so["Link"].str.extract(r"questions/(\d+)", expand=False)
    titles: dict[str, str] = {}
    for f in sorted((base / "Manual_Labelling" / "SO_init").glob("*.csv")):
        init = pd.read_csv(io.StringIO(_decode_lines(f)), dtype=str)
        for link, title in zip(init["Link"], init["Title"], strict=True):
            m = re.search(r"questions/(\d+)", str(link))
            if m:
                titles.setdefault(m.group(1), str(title))
    n_rows = len(so)
    dup = so["qid"].duplicated(keep="first")
    n_dup = int(dup.sum())
    so = so[~dup]
    missing_title = sorted(set(so["qid"]) - set(titles))
    if missing_title:
        raise SystemExit(f"no title for SO questions {missing_title[:5]}...")

    unit_rows = []
    for _, r in so.iterrows():
        unit_rows.append(
            {
                "id": f"so:{r['qid']}",
                "url": f"https://stackoverflow.com/questions/{r['qid']}",
                "title": titles[r["qid"]],
                "framework": r["EntityType"].removeprefix("so-"),
                "round": int(r["round"]),
            }
        )
    pd.DataFrame(unit_rows).to_csv(HERE / "humbatova_so_titles.csv", index=False)

    notes: Counter[str] = Counter()
    odd: Counter[str] = Counter()
    labels, finals = [], []
    n_skipped_empty = 0
    for _, r in so.iterrows():
        unit = f"so:{r['qid']}"
        for i in range(1, 5):
            rater = r.get(f"Evaluator{i}")
            raw = r.get(f"Tag{i}")
            if not isinstance(rater, str) or not rater.strip():
                continue
            code, note = screening_code(raw)
            if note == "empty":
                n_skipped_empty += 1
                continue
            if note:
                notes[note] += 1
                odd[_norm(raw)] += 1
            labels.append(
                {"unit": unit, "rater": rater.strip(), "code": code, "raw_tag": _norm(raw)}
            )
        code, note = screening_code(r.get("Final Tag"))
        if note == "empty":
            notes["final tag '-' (no adjudicated tag): unit left out of the final file"] += 1
            continue
        if note:
            notes["final: " + note] += 1
            odd[_norm(r.get("Final Tag"))] += 1
        tax = _norm(r.get("Taxonomy Tag"))
        finals.append(
            {
                "unit": unit,
                "rater": "final",
                "code": code,
                "raw_tag": _norm(r.get("Final Tag")),
                "taxonomy_tag": "" if tax in ("", "-") else tax,
            }
        )
    pd.DataFrame(labels).to_csv(HERE / "humbatova_so_labels.csv", index=False)
    pd.DataFrame(finals).to_csv(HERE / "humbatova_so_final.csv", index=False)
    return {
        "so_rows": n_rows,
        "duplicate_question_rows": n_dup,
        "units": len(unit_rows),
        "labels": len(labels),
        "empty_rater_tags_skipped": n_skipped_empty,
        "finals": len(finals),
        "codes": dict(Counter(x["code"] or "(none)" for x in labels)),
        "final_codes": dict(Counter(x["code"] or "(none)" for x in finals)),
        "notes": dict(notes),
        "odd_values": dict(odd),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=HERE.parents[3] / "shared" / "data")
    parser.add_argument("--only", choices=["humbatova", "corpus"], default=None)
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    if args.only in (None, "humbatova"):
        report["humbatova"] = build_humbatova(args.shared)
    if args.only in (None, "corpus"):
        report.update(build_corpus_samples(args.shared))
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def build_corpus_samples(shared: Path) -> dict[str, object]:
    report: dict[str, object] = {}
    # Stack Overflow: Data Explorer CSV (real rows, preprocessed text) -----------------
    lda = shared / "dl_lda_so_hotquestions"
    frames = []
    for name in ("nlp", "cv", "speech"):
        df = pd.read_csv(lda / f"{name}-hotquestion.csv", dtype=str, keep_default_na=False)
        df = df.drop(columns=[c for c in df.columns if not c or c.startswith("Unnamed")])
        ptm = df["Tags"].str.contains("bert-language-model|huggingface-transformers")
        frames.append(pd.concat([df[ptm], df[~ptm].head(25)]))
    sede = pd.concat(frames).drop_duplicates("Id").reset_index(drop=True)
    sede.to_csv(HERE / "so_dataexplorer_sample.csv", index=False)
    report["so_dataexplorer_sample.csv"] = len(sede)

    # The same questions, converted to the dump's Posts.xml schema ---------------------
    def iso(value: str) -> str:
        return value.replace(" ", "T") + ".000" if value else ""

    cols = [
        "Id",
        "PostTypeId",
        "AcceptedAnswerId",
        "CreationDate",
        "Score",
        "ViewCount",
        "Body",
        "LastEditDate",
        "LastActivityDate",
        "Title",
        "Tags",
        "AnswerCount",
        "CommentCount",
        "FavoriteCount",
        "ClosedDate",
        "ContentLicense",
    ]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<posts>"]
    for _, r in sede.iterrows():
        attrs = []
        for c in cols:
            v = str(r.get(c, "") or "")
            if not v:
                continue
            if c in (
                "AcceptedAnswerId",
                "FavoriteCount",
                "Score",
                "ViewCount",
                "AnswerCount",
                "CommentCount",
                "PostTypeId",
                "Id",
            ):
                v = v.split(".")[0]
            if c.endswith("Date"):
                v = iso(v)
            if c == "Tags":
                v = "".join(f"<{t}>" for t in v.split())
            attrs.append(f"{c}={_quoteattr(v)}")
        lines.append("  <row " + " ".join(attrs) + " />")
    lines.append("</posts>")
    (HERE / "so_posts_sample.xml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report["so_posts_sample.xml"] = len(sede)

    # The same questions, converted to the Stack Exchange API's JSON shape -------------
    def epoch(value: str) -> int | None:
        if not value:
            return None
        return int(pd.Timestamp(value, tz="UTC").timestamp())

    def num(value: str) -> int | None:
        return int(float(value)) if value else None

    items = []
    for _, r in sede.iterrows():
        qid = num(r["Id"])
        item = {
            "tags": r["Tags"].split(),
            "is_answered": bool(r["AcceptedAnswerId"]),
            "view_count": num(r["ViewCount"]),
            "answer_count": num(r["AnswerCount"]),
            "comment_count": num(r["CommentCount"]),
            "score": num(r["Score"]),
            "creation_date": epoch(r["CreationDate"]),
            "question_id": qid,
            "link": f"https://stackoverflow.com/questions/{qid}",
            "title": html.escape(r["Title"]),
            "body": f"<p>{html.escape(r['Body'])}</p>",
        }
        if r["AcceptedAnswerId"]:
            item["accepted_answer_id"] = num(r["AcceptedAnswerId"])
        if r["ClosedDate"]:
            item["closed_date"] = epoch(r["ClosedDate"])
        items.append(item)
    api = {"items": items, "has_more": False, "quota_max": 300, "quota_remaining": 299}
    (HERE / "so_api_sample.json").write_text(
        json.dumps(api, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report["so_api_sample.json"] = len(items)

    # GitHub issues (JSONL), every 20th issue with a body of at most 3,000 chars ------
    out = []
    with open(
        shared / "hf_datasets_github_issues" / "datasets_issues_slim.jsonl", encoding="utf-8"
    ) as fh:
        for i, line in enumerate(fh):
            if i % 20:
                continue
            obj = json.loads(line)
            if len(obj.get("body") or "") <= 3000:
                out.append(json.dumps(obj, ensure_ascii=False))
    (HERE / "github_issues_sample.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    report["github_issues_sample.jsonl"] = len(out)

    # NLBSE'24 issues as plain CSV: the first 10 per (repo, label) of issues_test.csv --
    nl = pd.read_csv(
        shared / "nlbse24_issue_classification" / "issues_test.csv",
        dtype=str,
        keep_default_na=False,
    )
    nl = nl.groupby(["repo", "label"], sort=False).head(10).reset_index(drop=True)
    nl.to_csv(HERE / "nlbse_issues_sample.csv", index=False)
    report["nlbse_issues_sample.csv"] = len(nl)
    return report


def _quoteattr(value: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


if __name__ == "__main__":
    raise SystemExit(main())
