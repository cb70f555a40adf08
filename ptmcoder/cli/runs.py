"""``ptmcoder runs``: list and inspect annotation runs."""

from __future__ import annotations

from collections import Counter

import click
from rich.table import Table

from ptmcoder.console import make_console, print_json


@click.group("runs")
def runs() -> None:
    """List and inspect annotation runs (runs/<id>/ in the workspace)."""


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def list_runs(as_json: bool) -> None:
    """List runs, oldest first: codebook, annotators, records, errors and status."""
    from ptmcoder.runs import Run, list_run_ids, run_summary, runs_dir

    rows = [run_summary(Run(runs_dir() / rid)) for rid in list_run_ids()]
    if as_json:
        print_json(rows)
        return
    console = make_console(width=120)
    if not rows:
        console.print("no runs yet; start one with `ptmcoder annotate`")
        return
    table = Table()
    table.add_column("run", no_wrap=True)
    for name in (
        "created",
        "codebook",
        "level",
        "annotators",
        "units",
        "records",
        "errors",
        "status",
    ):
        table.add_column(name)
    for r in rows:
        table.add_row(
            r["run_id"],
            (r["created_at"] or "")[:16].replace("T", " "),
            r["codebook"] or "",
            r["level"] or "",
            ", ".join(a for a in r["annotators"] if a),
            str(r["units"] or ""),
            str(r["records"]),
            str(r["errors"]),
            r["status"],
        )
    console.print(table)


@runs.command("show")
@click.argument("run_ref")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (with counts) as JSON.")
def show_run(run_ref: str, as_json: bool) -> None:
    """Show a run's manifest, counts per annotator and its error records."""
    from ptmcoder.runs import resolve_run

    run = resolve_run(run_ref)
    manifest = run.manifest()
    records = run.records()  # the current records: superseded ones are in superseded.jsonl
    errors = [r for r in records if r.get("error_type")]
    superseded = len(run.superseded())
    if as_json:
        print_json(
            {
                **manifest,
                "path": str(run.path),
                "records": len(records),
                "superseded_records": superseded,
                "error_records": [
                    {k: r.get(k) for k in ("unit_id", "annotator", "error_type", "error")}
                    for r in errors
                ],
            }
        )
        return
    console = make_console(width=120)
    config = manifest.get("config", {})
    cb = manifest.get("codebook", {})
    console.print(f"run {run.id}  ({manifest.get('status', 'unknown')})")
    console.print(f"  path:      {run.path}")
    console.print(
        f"  created:   {manifest.get('created_at')}  ptmcoder "
        f"{manifest.get('ptmcoder_version')}  commit {manifest.get('git_commit')}"
    )
    console.print(
        f"  codebook:  {config.get('codebook_id')} {config.get('codebook_version')} "
        f"level {config.get('level')}  {str(cb.get('hash', ''))[:19]}"
    )
    prompt = manifest.get("prompt", {})
    console.print(f"  prompt:    {prompt.get('id')}  {str(prompt.get('sha256', ''))[:19]}")
    console.print(
        f"  corpus:    {config.get('corpus')}  units {manifest.get('counts', {}).get('units')}"
    )
    cache = manifest.get("cache", {})
    console.print(f"  cache:     {cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses")
    console.print(f"  sessions:  {len(manifest.get('sessions', []))}")
    console.print(
        f"  records:   {len(records)} current, {len(errors)} errors"
        + (
            f", {superseded} earlier error records superseded by --retry-errors"
            if superseded
            else ""
        )
    )
    table = Table("annotator", "model", "method", "records", "errors", "pending")
    counts = manifest.get("counts", {}).get("by_annotator", {})
    for a in manifest.get("annotators", []):
        c = counts.get(a["name"], {})
        table.add_row(
            a["name"],
            str(a.get("model", "")),
            str(a.get("method", "")),
            str(c.get("records", "")),
            str(sum(c.get("errors", {}).values())),
            str(c.get("pending", "")),
        )
    console.print(table)
    if errors:
        kinds = Counter(r["error_type"] for r in errors)
        console.print(
            f"{len(errors)} error records: "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        )
        for r in errors[:20]:
            console.print(
                f"  {r['unit_id']} [{r['annotator']}] {r['error_type']}: "
                f"{(r.get('error') or '')[:120]}",
                markup=False,
            )
