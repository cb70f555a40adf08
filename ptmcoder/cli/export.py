"""``ptmcoder export`` and ``ptmcoder import-codings``: REFI-QDA projects for NVivo,
ATLAS.ti, MAXQDA and QualCoder, and the codings made there back for ``agree``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ptmcoder.console import make_console, print_json


@click.command("export")
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["qdpx"]),
    default="qdpx",
    show_default=True,
    help="qdpx: a REFI-QDA project (project.qde and sources/ in a zip).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The archive to write (default: RUN_ID.qdpx in the current directory).",
)
@click.option(
    "--humans",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Human codes to include: a long table unit_id (or unit),rater,code.",
)
@click.option(
    "--gold",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Adjudicated codes to include as rater 'gold': a table unit_id (or unit),code.",
)
@click.option(
    "--corpus",
    default=None,
    help="Read the units from this corpus instead of the one the run names.",
)
@click.option(
    "--for",
    "target",
    type=click.Choice(["nvivo", "atlas", "maxqda", "qualcoder"]),
    default=None,
    help="The program that will read the project: sets the offset unit and line endings "
    "it counts (nvivo, atlas: UTF-16 units, lf; maxqda: UTF-16 units, crlf; qualcoder: "
    "code points, lf). NVivo and QualCoder are measured, ATLAS.ti and MAXQDA assumed.",
)
@click.option(
    "--offsets",
    type=click.Choice(["codepoints", "utf16"]),
    default=None,
    help="Count selection offsets in code points (the REFI-QDA specification, QualCoder) "
    "or UTF-16 code units (NVivo). Default: the --for program's, else codepoints.",
)
@click.option(
    "--line-endings",
    type=click.Choice(["lf", "crlf"]),
    default=None,
    help="Line endings of the source files (crlf for MAXQDA); offsets follow them. "
    "Default: the --for program's, else lf.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the export summary as JSON.")
def export(
    run: str,
    fmt: str,
    output: Path | None,
    humans: Path | None,
    gold: Path | None,
    corpus: str | None,
    target: str | None,
    offsets: str | None,
    line_endings: str | None,
    as_json: bool,
) -> None:
    """Export RUN (id, prefix, 'latest' or path) as a REFI-QDA project: the units as
    text sources, the codebook, and every annotator's, human coder's and the
    adjudicator's codings as coded selections with their rationales as notes.

    Without --for or --offsets, offsets count code points, as the specification says
    and QualCoder reads them; use --for nvivo (UTF-16 code units) for NVivo."""
    from ptmcoder.export.qdpx import export_project

    summary = export_project(
        run,
        output,
        humans=humans,
        gold=gold,
        corpus=corpus,
        line_endings=line_endings,
        offsets=offsets,
        target=target,
    )
    if as_json:
        print_json(summary.as_dict())
        return
    console = make_console()
    table = Table(title=f"{summary.path}: run {summary.run_id}, {summary.units} units")
    table.add_column("rater")
    table.add_column("role")
    table.add_column("codings", justify="right")
    for rater, info in summary.raters.items():
        table.add_row(rater, info["role"], str(info["codings"]))
    console.print(table)
    unit = "UTF-16 code units" if summary.offsets == "utf16" else "code points"
    console.print(
        f"offsets in {unit}, line endings {summary.line_endings}"
        + (f" (for {summary.target})" if summary.target else "")
    )
    console.print(
        f"codebook {summary.codebook_id}; {summary.evidence_spans} codings on the evidence "
        f"quote's span, {summary.whole_source} on the whole source; {summary.notes} notes; "
        f"{summary.failed_records} failed records"
    )
    err = make_console(stderr=True)
    stats = summary.text
    if stats.control_chars_removed or stats.line_endings_normalised:
        err.print(
            f"text: {stats.control_chars_removed} XML-illegal control characters removed, "
            f"{stats.line_endings_normalised} line endings normalised"
        )
    for reason, n in summary.skipped.items():
        err.print(f"skipped {n}: {reason}", markup=False)
    for warning in summary.warnings:
        err.print(f"[yellow]warning[/]: {warning}")


@click.command("import-codings")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--corpus",
    default=None,
    help="Match the project's sources to this corpus's units (by GUID, id or text).",
)
@click.option(
    "--codebook",
    default=None,
    help="Codebook id or YAML path whose codes the project's codes are matched to.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the long table unit,rater,code here (CSV); default stdout.",
)
@click.option(
    "--offsets",
    type=click.Choice(["codepoints", "utf16"]),
    default=None,
    help="Read selection offsets as code points or UTF-16 code units (NVivo). "
    "Default: detected from the selections and texts (printed).",
)
@click.option("--allow-empty", is_flag=True, help="Exit 0 even when no row is read (else exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print rows, counts and problems as JSON.")
def import_codings(
    file: Path,
    corpus: str | None,
    codebook: str | None,
    output: Path | None,
    offsets: str | None,
    allow_empty: bool,
    as_json: bool,
) -> None:
    """Read the codings of a REFI-QDA project (FILE.qdpx from NVivo, ATLAS.ti, MAXQDA,
    QualCoder or ptmcoder export) as a long table unit,rater,code for `ptmcoder agree`.

    Codes that match no codebook code, sources that match no unit and malformed XML
    are reported with the line and element of the project file. The unit of the
    selection offsets (code points or UTF-16 code units) is detected unless given
    with --offsets, and printed. A project that gives no row exits 1 with the reason."""
    from ptmcoder.export.codings import import_codings as read

    result = read(file, corpus=corpus, codebook=codebook, offsets=offsets)
    err = make_console(stderr=True)
    if not allow_empty and not len(result.table):
        for problem in result.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        result.require_rows()
    if output is not None:
        result.table.to_csv(output, index=False)
    if as_json:
        data = result.as_dict()
        data["rows"] = result.table.to_dict("records")
        print_json(data)
    elif output is None:
        result.table.to_csv(sys.stdout, index=False)
    matched = ", ".join(f"{n} by {how}" for how, n in result.matched.items()) or "none"
    err.print(
        f"{result.sources} text sources (matched: {matched}; "
        f"{result.unmatched_sources} unmatched), {result.codings} codings, "
        f"{len(result.table)} rows" + (f" written to {output}" if output else "")
    )
    err.print(result.offsets_text(), markup=False, highlight=False, soft_wrap=True)
    if result.non_guid_codes:
        err.print(f"{result.non_guid_codes} code id(s) are not GUIDs", markup=False)
    for problem in result.problems:
        err.print(f"  - {problem}", markup=False, highlight=False)
