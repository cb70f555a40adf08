"""``ptmcoder run STUDY.toml``: the whole study pipeline, rerunning only what changed."""

from __future__ import annotations

import click

from ptmcoder.console import make_console, print_json


def render_outcomes(result) -> object:
    from rich.table import Table

    table = Table(title=f"Study {result.study}: run {result.run_dir.name}")
    for col in ("stage", "status", "seconds", "input hash", "note"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for o in result.outcomes:
        table.add_row(
            o.stage, o.status, f"{o.seconds:.2f}", o.input_hash.split(":")[-1][:12], o.note or ""
        )
    return table


@click.command("run")
@click.argument("study")
@click.option(
    "--from",
    "from_stage",
    help="Redo this stage and every later one (import, sample, annotate, agree, review, "
    "map, stats, report).",
)
@click.option("--force", "force", multiple=True, help="Redo this stage (repeatable).")
@click.option("--run", "run_ref", help="Run id or directory (default: the study's latest run).")
@click.option("--new", is_flag=True, help="Start a new run instead of updating the latest one.")
@click.option("--json", "as_json", is_flag=True, help="Print the stage outcomes as JSON.")
def run(
    study: str,
    from_stage: str | None,
    force: tuple[str, ...],
    run_ref: str | None,
    new: bool,
    as_json: bool,
) -> None:
    """Run STUDY (a TOML file, or a bundled study such as studies/demo.toml): import ->
    sample -> annotate -> agree -> review -> map -> stats -> report. A stage whose
    inputs and settings are unchanged since its last run is skipped."""
    from ptmcoder.pipeline import run_study

    err = make_console(stderr=True)
    result = run_study(
        study,
        run=run_ref,
        new=new,
        from_stage=from_stage,
        force=force,
        say=lambda m: err.print(f"[bold]{m}[/]"),
        stderr=err,
        progress=not as_json,
    )
    if as_json:
        print_json(result.to_dict())
        return
    render_result(result, make_console())


def render_result(result, out) -> None:
    """The stage table, the one-screen summary and where the report is (run and demo)."""
    from ptmcoder.pipeline import summary_lines

    out.print(render_outcomes(result))
    for line in summary_lines(result.run_dir):
        out.print(line)
    out.print(
        f"annotator calls this session: {result.annotator_calls}; time {result.seconds:.1f} s"
    )
    if result.report_html:
        out.print(f"report: {result.report_html}")
        out.print(f"        {result.report_md}")
