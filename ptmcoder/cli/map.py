"""``ptmcoder map``: crosswalks between codebooks (SSSOM mapping sets).

Each subcommand calls one function of :mod:`ptmcoder.crosswalk` and renders its result:
data on stdout (``--json`` for every listing), progress on stderr.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
from rich.markup import escape
from rich.table import Table

from ptmcoder.console import make_console, print_json
from ptmcoder.files import write_text

_EVIDENCE_HELP = (
    "Rows counted: what the papers state and reviewers decided; --reviewed-only keeps "
    "human decisions only, --with-suggestions adds suggestions and contested pairs."
)


@click.group("map")
def map_group() -> None:
    """Crosswalks between codebooks: SSSOM files in codebooks/crosswalks/<A>__<B>.sssom.tsv.

    Rows quote the paper sentence they come from; similarity suggestions wait for a human
    decision (ptmcoder review). The inverse direction of every file is derived."""


@map_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the crosswalks found (workspace first, then bundled) with their row statuses."""
    from ptmcoder.crosswalk import list_mapping_sets

    sets = list_mapping_sets()
    if as_json:
        print_json(sets)
        return
    table = Table("subject", "object", "rows", "status", "file")
    for s in sets:
        status = s.get("error") or ", ".join(f"{k} {v}" for k, v in sorted(s["status"].items()))
        table.add_row(s["subject"], s["object"], str(s.get("rows", "")), status, s["file"])
    make_console().print(table)


@map_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
def validate_cmd(files: tuple[str, ...], as_json: bool) -> None:
    """Check crosswalk files (default: all): codes exist in both codebooks, predicates and
    justifications are in the vocabulary, no pair is both exact and broad/narrow/related, and
    stated rows quote their sentence. Lists the rows waiting for review. Exit code 2 when a
    file has problems."""
    from ptmcoder.crosswalk import validate_mapping_sets

    reports = validate_mapping_sets(files or None)
    if as_json:
        print_json([r.to_dict() for r in reports])
    else:
        console = make_console()
        for r in reports:
            mark = "ok" if r.ok else f"{len(r.problems)} problem(s)"
            console.print(f"{r.file}: {r.rows} rows, {mark}, {len(r.needs_review)} to review")
            for p in r.problems:
                console.print(f"  - {p}")
    if any(not r.ok for r in reports):
        sys.exit(2)


@map_group.command("suggest")
@click.argument("a")
@click.argument("b")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Candidates per code, in each direction.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Minimum cosine similarity.",
)
@click.option("--level-a", help="Level of A to match (default: leaf codes).")
@click.option("--level-b", help="Level of B to match (default: leaf codes).")
@click.option(
    "--embedder",
    type=click.Choice(["auto", "minilm", "tfidf"]),
    default="auto",
    show_default=True,
    help="all-MiniLM-L6-v2 (offline) or TF-IDF.",
)
@click.option(
    "--judge",
    metavar="SPEC",
    help="An LLM judge (openai:MODEL or langchain:PROVIDER:MODEL) naming each candidate "
    "pair's SKOS relation with a rationale; the key comes from the environment only.",
)
@click.option("--base-url", help="OpenAI-compatible endpoint of the judge.")
@click.option("--dry-run", is_flag=True, help="Show the suggestions without writing them.")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
def suggest_cmd(
    a, b, top_k, threshold, level_a, level_b, embedder, judge, base_url, dry_run, as_json
) -> None:
    """Suggest skos:relatedMatch pairs between the codes of A and B from the similarity of
    their names, definitions, criteria and examples, and append them to the crosswalk as
    suggestion rows (with similarity_score) for a human to accept, change or reject.
    With --judge, an LLM sets each pair's predicate and gives its rationale (in comment)."""
    from ptmcoder.crosswalk import add_suggestions, suggest

    stderr = make_console(stderr=True)
    rows = suggest(
        a,
        b,
        top_k,
        threshold,
        level_a=level_a,
        level_b=level_b,
        embedder=embedder,
        warn=lambda msg: stderr.print(f"[yellow]warning:[/] {escape(msg)}"),
        judge=judge,
        base_url=base_url,
    )
    written = None
    if not dry_run and rows:
        path, added = add_suggestions(a, b, rows, dt.date.today().isoformat())
        written = {"file": str(path), "added": added}
        stderr.print(f"{added} suggestion row(s) written to {path}")
    if as_json:
        print_json({"suggestions": [m.to_dict() for m in rows], "written": written})
        return
    table = Table("score", f"{a}", f"{b}", *(["judge"] if judge else []))
    for m in rows:
        verdict = []
        if judge:
            j = m.judge or {}
            verdict = [j.get("relation") or f"error: {j.get('error', '')}"]
        table.add_row(
            f"{m.similarity_score:.3f}",
            f"{m.subject_label} ({m.subject_code})",
            f"{m.object_label} ({m.object_code})",
            *verdict,
        )
    make_console().print(table)


@map_group.command("coverage")
@click.argument("a")
@click.argument("b", required=False)
@click.option("--level", help="Level of A (default: every level above the leaf codes).")
@click.option("--reviewed-only", is_flag=True, help="Count human decisions only.")
@click.option(
    "--with-suggestions", is_flag=True, help="Also count suggestions and contested pairs."
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False),
    help="Write a PNG in the style of Banyongrakkul et al. Fig. 4.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the coverage as JSON.")
def coverage_cmd(a, b, level, reviewed_only, with_suggestions, chart, as_json) -> None:
    """For each node of A: the share of its codes with a positive mapping into B (every
    taxonomy with a crosswalk to A when B is omitted), nodes a paper says are new, and the
    rows behind each status."""
    from ptmcoder.crosswalk import coverage_chart, coverage_many

    results = coverage_many(a, [b] if b else None, level, reviewed_only, with_suggestions)
    if chart:
        chart_level = level or results[0].levels[-1]
        path = coverage_chart(results, chart, chart_level)
        make_console(stderr=True).print(f"chart written to {path}")
    if as_json:
        data = [r.to_dict() for r in results]
        print_json(data[0] if b else data)
        return
    console = make_console()
    for result in results:
        for lvl in result.levels:
            table = Table(title=f"{result.a} -> {result.b} ({lvl}; evidence {result.evidence})")
            for col in ("node", "codes", "covered", "share", "", "status", "rows"):
                table.add_column(col)
            for n in result.nodes:
                if n.level != lvl:
                    continue
                bar = "#" * round(n.share * 20)
                table.add_row(
                    f"{n.name} ({n.id})",
                    str(n.n_codes),
                    str(n.n_covered),
                    f"{n.share:.0%}",
                    f"{bar:<20}",
                    n.status,
                    ", ".join(m.record_id.rsplit("/", 1)[-1] for m in n.rows),
                )
            console.print(table)


@map_group.command("translate")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--from", "source", required=True, help="Codebook of the input codes.")
@click.option("--to", "target", required=True, help="Codebook to translate into.")
@click.option(
    "--relations",
    default="exact,close,narrow",
    show_default=True,
    help="Relations of source to target code that translate: exact, close, narrow "
    "(source narrower: generalises), broad (source broader), related (overlap).",
)
@click.option("--level", help="Lift target codes to this level of the target codebook.")
@click.option("--source-level", help="Also show the input distribution at this source level.")
@click.option("--reviewed-only", is_flag=True, help="Use human decisions only.")
@click.option("--with-suggestions", is_flag=True, help="Also use suggestions and contested pairs.")
@click.option(
    "--code-column", default="code", show_default=True, help="Column of INPUT holding the codes."
)
@click.option(
    "--aliases",
    is_flag=True,
    help="Match free-text labels to source codes by id, name or alias first.",
)
@click.option("--rater", help="Translate only this rater's codings.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the translated long table here (default: CSV on stdout).",
)
@click.option(
    "--drop-empty", is_flag=True, help="Do not write input rows without a code (still counted)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def translate_cmd(
    input_path,
    source,
    target,
    relations,
    level,
    source_level,
    reviewed_only,
    with_suggestions,
    code_column,
    aliases,
    rater,
    output,
    drop_empty,
    as_json,
) -> None:
    """Translate codings (a long table unit,rater,code, or a run's annotations) from one
    codebook into another. Writes a long table unit,rater,code,source_code,relation,
    mapping_id that `agree` and `stats distribution` read; every code that could not be
    translated is listed with its count and reason."""
    from ptmcoder.crosswalk import translate_file

    result = translate_file(
        input_path,
        source,
        target,
        relations,
        level,
        with_suggestions,
        reviewed_only,
        code_column,
        aliases,
        source_level,
        rater,
    )
    out = result.table.rename(columns={"unit_id": "unit"})
    if drop_empty:
        out = out[out["code"].notna()]
    if output:
        write_text(output, out.to_csv(index=False))
    else:
        out.to_csv(sys.stdout, index=False)
    if as_json:
        data = result.to_dict()
        data["output"] = output
        (print_json if output else _json_to_stderr)(data)
        return
    render_translation(result, make_console(stderr=not output))


def _json_to_stderr(data) -> None:
    from ptmcoder.console import dumps_json

    sys.stderr.write(dumps_json(data) + "\n")


def render_translation(result, console) -> None:
    from ptmcoder.crosswalk import load_codebook

    d = result.to_dict()
    console.print(
        f"{result.source} -> {result.target}: {d['n_input']} codings in, "
        f"{d['n_translated']} translated, {d['n_untranslated']} untranslated "
        f"({d['untranslated_share']:.1%}); {d['n_output_rows']} output rows; "
        f"relations {','.join(result.relations)}; evidence {result.evidence}"
    )
    if d["untranslated"]:
        table = Table("untranslated code", "count", "reason", title="Not translated")
        for u in d["untranslated"]:
            table.add_row(u["code"], str(u["count"]), u["reason"])
        console.print(table)
    counts = result.source_level_counts or result.source_counts
    label = f"{result.source} ({result.source_level or 'codes'})"
    for book_id, title, data in (
        (result.source, label, counts),
        (result.target, f"{result.target} ({result.level or 'codes'})", result.target_counts),
    ):
        names = {code: info.node.name for code, info in load_codebook(book_id).index().items()}
        total = sum(data.values()) or 1
        table = Table(title, "name", "codings", "share", title=f"Distribution in {book_id}")
        for code, n in data.items():
            table.add_row(code, names.get(code, ""), str(n), f"{n / total:.1%}")
        console.print(table)
