"""``ptmcoder runs``: list and inspect runs (made by ``annotate`` or by a study)."""

from __future__ import annotations

import os
import sys
from collections import Counter

import click
from rich.table import Table

from ptmcoder.console import make_console, print_json, safe_text


@click.group("runs")
def runs() -> None:
    """List and inspect runs (runs/<id>/ in the workspace), made by `ptmcoder annotate`
    or by a study (`ptmcoder run`, `ptmcoder demo`)."""


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def list_runs(as_json: bool) -> None:
    """List runs, oldest first: origin (annotate, or the study's id), codebook, raters,
    the settings that tell runs of one annotator apart, records, errors, a study's
    stages and status."""
    from ptmcoder.runlist import list_runs

    rows, notes = list_runs()
    err = make_console(stderr=True)
    for note in notes:
        err.print(f"[yellow]recovered:[/yellow] {note}")
    if as_json:
        print_json(rows)
        return
    # a listing of many columns: at least 140 wide when not on a terminal ($COLUMNS wider)
    console = make_console(width=None if sys.stdout.isatty() else max(140, _columns()))
    if not rows:
        console.print("no runs yet; start one with `ptmcoder annotate`")
        return
    columns = ("origin", "created", "codebook", "raters", "settings", "units", "records")
    table = Table()
    table.add_column("run", no_wrap=True)
    for col in (*columns, "errors", "stages", "status"):
        table.add_column(col)
    for r in rows:
        annotators = ", ".join(
            a if not m or m in a else f"{a} ({m})"
            for a, m in zip(r["annotators"], r["models"], strict=True)
        )
        stages = r["stages"]
        done = sum(1 for v in stages.values() if v in ("ran", "skipped"))
        table.add_row(
            r["run_id"],
            f"study {r['study']}" if r["study"] else (r["origin"] or ""),
            (r["created_at"] or "")[:16].replace("T", " "),
            (r["codebook"] or "") + (f" ({r['level']})" if r["level"] else ""),
            annotators,
            r["settings"] or "zero-shot",
            str(r["units"] or ""),
            str(r["records"]),
            str(r["errors"]),
            f"{done}/{len(stages)}" if stages else "",
            r["status"],
        )
    console.print(table)


@runs.command("show")
@click.argument("run_ref")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (with counts) as JSON.")
def show_run(run_ref: str, as_json: bool) -> None:
    """Show a run's manifest, counts per annotator and its error records."""
    from ptmcoder.runs import resolve_run, run_report

    report = run_report(resolve_run(run_ref))
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    render_report(report, make_console(width=120))


def render_report(r, console) -> None:
    """The text of ``runs show`` for a run of either origin."""
    from ptmcoder.runs import distinguishing_settings

    console.print(f"run {r.run_id}  ({r.status})")
    console.print(f"  path:      {r.path}")
    console.print(
        f"  created:   {r.created_at}  ptmcoder {r.ptmcoder_version}  commit {r.git_commit}"
    )
    if r.study is not None:
        console.print(f"  study:     {r.study.id}  file {r.study.file}  {r.study.sha256[:19]}")
        console.print(
            "  stages:    " + ", ".join(f"{k} {v}" for k, v in r.stages.items()), markup=False
        )
    else:
        config, cb, prompt = r.config, r.codebook, r.prompt
        console.print(
            f"  codebook:  {config.codebook_id} {config.codebook_version} "
            f"level {config.level}  {(cb.hash or '')[:19] if cb else ''}"
        )
        console.print(
            f"  prompt:    {prompt.id if prompt else None}  "
            f"{(prompt.sha256 or '')[:19] if prompt else ''}"
        )
        fingerprint = (r.corpus.fingerprint or "")[:19] if r.corpus else ""
        console.print(f"  corpus:    {config.corpus}  units {r.counts.units}  {fingerprint}")
        console.print(f"  settings:  {distinguishing_settings(config) or 'zero-shot'}")
        console.print(f"  cache:     {r.cache.hits} hits, {r.cache.misses} misses")
        unfinished = sum(1 for s in r.sessions if s.finished_at is None)
        console.print(
            f"  sessions:  {len(r.sessions)}"
            + (f" ({unfinished} ended without finishing: killed)" if unfinished else "")
        )
    superseded = (
        f", {r.superseded_records} earlier error records superseded by --retry-errors"
        if r.superseded_records
        else ""
    )
    console.print(f"  records:   {r.records} current, {len(r.error_records)} errors{superseded}")
    table = Table("rater", "annotator", "model", "method", "settings", "records", "errors")
    table.add_column("pending")
    for a in r.raters:
        table.add_row(
            a.name,
            a.annotator,
            str(a.model or ""),
            str(a.method or ""),
            a.settings,
            str(a.records),
            str(a.errors),
            "" if a.pending is None else str(a.pending),
        )
    console.print(table)
    if r.error_records:
        kinds = Counter(e.error_type for e in r.error_records)
        console.print(
            f"{len(r.error_records)} error records: "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        )
        for e in r.error_records[:20]:
            console.print(
                safe_text(f"  {e.unit_id} [{e.annotator}] {e.error_type}: {(e.error or '')[:120]}"),
                markup=False,
                highlight=False,
            )


def _columns() -> int:
    try:
        return int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        return 0
