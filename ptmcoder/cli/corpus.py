"""``ptmcoder corpus``: import, list, describe and sample corpora of units."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ptmcoder.console import make_console, print_json
from ptmcoder.corpus.readers import FORMATS


def _say(console, text: str) -> None:
    """One status line, never wrapped mid-path and never read as markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


@click.group()
def corpus() -> None:
    """Import Stack Overflow and GitHub data into corpora of units and draw samples."""


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr and a ``(path, done, total)`` callback."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=make_console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def callback(path: str, done: int, total: int) -> None:
        if path not in tasks:
            tasks[path] = bar.add_task(Path(path).name, total=total)
        bar.update(tasks[path], completed=done)

    return bar, callback


@corpus.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Name of the corpus to create (corpora/NAME/).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default=None,
    help="Input format; detected from each file when not given.",
)
@click.option(
    "--map",
    "mapping",
    default=None,
    help="Column mapping for plain CSV: FIELD=COLUMN,... "
    "(e.g. title=Title,body=Body,created_at=Date,project=repo,tags=label).",
)
@click.option(
    "--platform",
    type=click.Choice(["github", "stackoverflow"]),
    default=None,
    help="Platform of plain-CSV rows (required with --map).",
)
@click.option(
    "--site",
    default=None,
    help="Stack Exchange site of Posts.xml, Data Explorer and API files: a host "
    "(beer.stackexchange.com) or short name (beer); ids become SITE:ID (so:ID for Stack "
    "Overflow). Default: from each record's link, else the file or folder name.",
)
@click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="On a malformed record: stop (nothing is written) or skip it and count it.",
)
@click.option("--replace", is_flag=True, help="Overwrite an existing corpus of that name.")
@click.option("--json", "as_json", is_flag=True, help="Print the import summary as JSON.")
@click.option("--no-progress", is_flag=True, help="Do not show a progress bar.")
def import_cmd(
    paths: tuple[str, ...],
    name: str,
    fmt: str | None,
    mapping: str | None,
    platform: str | None,
    site: str | None,
    on_error: str,
    replace: bool,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Import PATH... (Data Explorer CSV, Stack Exchange API JSON, Posts.xml, GitHub
    issues JSON/JSONL or mapped CSV) as corpus NAME, stored as Parquet."""
    from ptmcoder.corpus.readers.plain_csv import parse_mapping
    from ptmcoder.corpus.store import import_corpus

    parsed = parse_mapping(mapping) if mapping else None
    if parsed and fmt is None:
        fmt = "csv"
    bar, callback = _progress_bar(not no_progress and not as_json and sys.stderr.isatty())
    with bar or nullcontext():
        summary = import_corpus(
            paths,
            name,
            fmt=fmt,
            mapping=parsed,
            platform=platform,
            site=site,
            on_error=on_error,
            replace=replace,
            progress=callback,
        )
    if as_json:
        print_json(summary.to_dict())
        return
    _render_import(summary, name, make_console())


def _render_import(summary, name: str, out) -> None:
    table = Table(
        title=f"Imported corpus {name!r}: {summary.units:,} units in {summary.seconds:.1f} s"
    )
    for col in ("source", "format", "units read (n)", "skipped (n)", "non-UTF-8 bytes"):
        table.add_column(col, justify="left" if col in ("source", "format") else "right")
    for s in summary.sources:
        table.add_row(
            Path(s["path"]).name,
            s["format"],
            f"{s['units_read']:,}",
            f"{s['skipped']:,}",
            f"{s['non_utf8_bytes']:,}",
        )
    out.print(table)
    for platform_name, n in summary.by_platform.items():
        _say(out, f"{platform_name}: n={n:,}")
    if set(summary.by_site) - {"stackoverflow.com"}:  # another Stack Exchange site
        for host, n in sorted(summary.by_site.items()):
            _say(out, f"  site {host}: n={n:,}")
    for what, n in sorted(summary.counts.items()):
        _say(out, f"{what}: n={n:,}")
    _say(out, f"malformed records skipped: n={summary.skipped_count:,}")
    for e in summary.skipped[:20]:
        where = f"{e['file']}: {e['record']}" + (f", field {e['field']!r}" if e["field"] else "")
        _say(out, f"  - {where}: {e['reason']}")
    if summary.skipped_count > 20:
        _say(out, f"  ... {summary.skipped_count - 20:,} more in import.json")
    _say(
        out,
        f"duplicate ids: n={len(summary.duplicates):,} "
        f"(rows dropped, first occurrence kept: n={summary.duplicate_rows_dropped:,})",
    )
    for d in summary.duplicates[:10]:
        _say(out, f"  - {d['id']} x{d['occurrences']}: {', '.join(d['sources'])}")
    for w in summary.warnings:
        _say(out, f"warning: {w}")
    _say(out, f"written: {summary.path}")


@corpus.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the corpora in the workspace with their unit counts (a damaged corpus is
    named, with its path, on stderr; the others are listed)."""
    from ptmcoder.corpus.info import list_corpora

    listing = list_corpora()
    rows = listing["corpora"]
    err = make_console(stderr=True)
    for d in listing["damaged"]:
        _say(err, f"warning: corpus {d['name']!r} cannot be read ({d['path']}): {d['reason']}")
    if as_json:
        print_json(listing)
        return
    table = Table(title=f"Corpora (n={len(rows)})")
    table.add_column("name")
    table.add_column("units (n)", justify="right")
    table.add_column("samples")
    for r in rows:
        table.add_row(r["name"], f"{r['units']:,}", ", ".join(r["samples"]))
    make_console().print(table)


@corpus.command("info")
@click.argument("name")
@click.option(
    "--top", type=int, default=15, show_default=True, help="How many tags and projects to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def info_cmd(name: str, top: int, as_json: bool) -> None:
    """Show counts by platform, year, state, tag or label and project, and a
    missing-field report, for corpus NAME."""
    from ptmcoder.corpus.info import corpus_info

    info = corpus_info(name, top=top)
    if as_json:
        print_json(info)
        return
    _render_info(info, name, make_console())


def _render_info(info: dict, name: str, out) -> None:
    n = info["units"]
    _say(out, f"Corpus {name!r}: n={n:,} units ({info['path']})")

    def counts(title: str, data: dict[str, int], label: str) -> None:
        table = Table(title=title)
        table.add_column(label)
        table.add_column("n", justify="right")
        table.add_column("%", justify="right")
        for k, v in data.items():
            table.add_row(str(k), f"{v:,}", f"{100 * v / n:.1f}" if n else "-")
        out.print(table)

    counts(f"By platform (n={n:,})", info["by_platform"], "platform")
    counts(f"By year created (n={n:,})", info["by_year"], "year")
    if info["by_state"]:
        counts(f"By state (n={n:,})", info["by_state"], "state")
    counts(
        f"Top tags / labels ({info['tags']['distinct']:,} distinct; a unit may have several)",
        info["tags"]["top"],
        "tag",
    )
    counts(
        f"Top projects ({info['projects']['distinct']:,} distinct)",
        info["projects"]["top"],
        "project",
    )
    counts(f"Missing fields (n={n:,})", info["missing"], "field")
    imp = info.get("import", {})
    if imp:
        _say(
            out,
            f"import: malformed records skipped n={imp.get('skipped_count', 0):,}, "
            f"duplicate rows dropped n={imp.get('duplicate_rows_dropped', 0):,}, "
            f"non-UTF-8 bytes replaced n={imp.get('non_utf8_bytes', 0):,}",
        )
        for what, k in sorted((imp.get("counts") or {}).items()):
            _say(out, f"import: {what} n={k:,}")


@corpus.command("sample")
@click.argument("name")
@click.option(
    "--design",
    type=click.Choice(["tan", "banyongrakkul", "random", "cochran"]),
    required=True,
    help="tan: score filter, Cochran random sample plus high-score units; "
    "banyongrakkul: balanced PTM / non-PTM closed issues per project; random: --size "
    "units; cochran: Cochran's sample size for --confidence and --margin.",
)
@click.option("--size", type=click.IntRange(min=1), default=None, help="random: sample size.")
@click.option(
    "--sample-name", default=None, help="Name of the sample (default: the design and the seed)."
)
@click.option(
    "--out", "out_corpus", default=None, help="Also store the sample as a new corpus of this name."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--confidence",
    type=float,
    default=0.95,
    show_default=True,
    help="tan: confidence level of the random sample.",
)
@click.option(
    "--margin",
    type=float,
    default=0.05,
    show_default=True,
    help="tan: margin of error of the random sample.",
)
@click.option(
    "--score-min",
    type=int,
    default=1,
    show_default=True,
    help="tan: keep units with score >= this.",
)
@click.option(
    "--high-score",
    type=int,
    default=9,
    show_default=True,
    help="tan: add every unit with score >= this.",
)
@click.option(
    "--ptm-labels",
    default=None,
    help="banyongrakkul: units with any of these tags/labels are PTM-related.",
)
@click.option(
    "--ptm-ids",
    type=click.Path(dir_okay=False),
    default=None,
    help="banyongrakkul: file of PTM-related unit ids (one a line, or CSV with id).",
)
@click.option(
    "--ptm-column",
    default=None,
    help="banyongrakkul: a boolean corpus column marking PTM-related units.",
)
@click.option(
    "--project-column",
    default="project",
    show_default=True,
    help="banyongrakkul: the column naming each unit's project.",
)
@click.option(
    "--all-states", is_flag=True, help="banyongrakkul: use open issues too (default: closed only)."
)
@click.option("--replace", is_flag=True, help="Overwrite the --out corpus if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the sampling record as JSON.")
def sample_cmd(
    name: str,
    design: str,
    sample_name: str | None,
    out_corpus: str | None,
    seed: int,
    size: int | None,
    confidence: float,
    margin: float,
    score_min: int,
    high_score: int,
    ptm_labels: str | None,
    ptm_ids: str | None,
    ptm_column: str | None,
    project_column: str,
    all_states: bool,
    replace: bool,
    as_json: bool,
) -> None:
    """Draw a seeded, reproducible sample of corpus NAME and save it with a record
    of how it was drawn (corpora/NAME/samples/SAMPLE.parquet and .json)."""
    from ptmcoder.corpus.sampling import draw_sample

    drawn = draw_sample(
        name,
        design,
        sample_name=sample_name,
        out_corpus=out_corpus,
        seed=seed,
        size=size,
        confidence=confidence,
        margin=margin,
        score_min=score_min,
        high_score=high_score,
        ptm_labels=ptm_labels,
        ptm_ids=ptm_ids,
        group_column=ptm_column,
        project_column=project_column,
        all_states=all_states,
        replace=replace,
    )
    rec = drawn.record
    if as_json:
        extra = {"sample": drawn.name, "path": drawn.path, "record": drawn.record_path}
        print_json({**rec, **extra, "out": out_corpus})
        return
    _render_sample(drawn, design, confidence, margin, score_min, high_score)


def _render_sample(drawn, design, confidence, margin, score_min, high_score) -> None:
    rec, out_corpus = drawn.record, drawn.out_corpus
    out = make_console()
    if design == "tan":
        pop = rec["population"]
        _say(
            out,
            f"population: n={pop['units']:,} units, "
            f"n={pop['score_at_least_min']:,} with score >= {score_min}",
        )
        _say(
            out,
            f"random sample: n={rec['random_sample']:,} "
            f"({confidence:.0%} confidence, {margin:.0%} margin)",
        )
        _say(out, f"high-score (score >= {high_score}): n={rec['high_score']:,}")
        _say(out, f"overlap: n={rec['overlap']:,}")
        _say(out, f"sample: n={rec['total']:,}")
    elif design in ("random", "cochran"):
        _say(out, f"simple random sample (seed {rec['seed']}): n={len(drawn.units):,}")
    else:
        table = Table(
            title=f"Balanced sample per project (n={rec['total']:,}: "
            f"{rec['ptm_sampled']:,} PTM + {rec['non_ptm_sampled']:,} non-PTM, "
            f"{rec['projects_kept']} projects kept)"
        )
        for col in (
            "project",
            "PTM avail.",
            "non-PTM avail.",
            "PTM sampled",
            "non-PTM sampled",
            "kept",
        ):
            table.add_column(col, justify="left" if col == "project" else "right")
        for r in rec["per_project"]:
            table.add_row(
                str(r["project"]),
                str(r["ptm_available"]),
                str(r["non_ptm_available"]),
                str(r["ptm_sampled"]),
                str(r["non_ptm_sampled"]),
                "no" if r["dropped"] else "yes",
            )
        out.print(table)
    _say(
        out,
        f"written: {drawn.path} and {Path(drawn.record_path).name}"
        + (f"; corpus {out_corpus!r}" if out_corpus else ""),
    )
