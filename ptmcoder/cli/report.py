"""``ptmcoder report RUN``: render a pipeline run's report.md and report.html."""

from __future__ import annotations

import click

from ptmcoder.console import make_console, print_json


@click.command("report")
@click.argument("run_ref", metavar="RUN")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
def report(run_ref: str, out_dir: str | None, as_json: bool) -> None:
    """Write report.md and a self-contained report.html for RUN (a pipeline run id,
    directory or 'latest'), from its manifest and stage outputs only."""
    from pathlib import Path

    from ptmcoder.report import write_report
    from ptmcoder.runs import resolve_run

    run_dir = resolve_run(run_ref).path
    files = write_report(run_dir, Path(out_dir) if out_dir else None)
    if as_json:
        print_json({k: str(v) for k, v in files.items()})
        return
    out = make_console()
    out.print(f"report: {files['report_html']}")
    out.print(f"        {files['report_md']}")
