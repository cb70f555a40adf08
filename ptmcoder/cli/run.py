"""``ptmcoder run STUDY.toml``: the whole study pipeline, rerunning only what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    out.print(render_outcomes(result))
    for line in summary_lines(result.run_dir):
        out.print(line, markup=False)
    out.print(
        f"annotator calls this session: {result.annotator_calls}; time {result.seconds:.1f} s"
    )
    if result.report_html:
        out.print(f"report: {result.report_html}")
        out.print(f"        {result.report_md}")


def summary_lines(run_dir: Path) -> list[str]:
    """A one-screen summary of a run, from its stage outputs (an interval that was not
    computed, e.g. with bootstrap = 0, is left out, never printed as zeros)."""
    from ptmcoder.console import fmt_ci, fmt_number
    from ptmcoder.pipeline.rundir import read_stage_output, read_stage_record
    from ptmcoder.runs import Run

    def _fmt(value: Any) -> str:
        return fmt_number(value, missing="–")

    def _ci(low: Any, high: Any) -> str:
        return fmt_ci(low, high, missing="")

    lines = []
    manifest = Run(run_dir).manifest()
    lines.append(f"study {manifest.study.id if manifest.study else None}  run {run_dir.name}")
    imp = read_stage_output(run_dir, "import") or {}
    sample = read_stage_output(run_dir, "sample") or {}
    lines.append(
        f"corpus: {imp.get('units')} units imported; sample {sample.get('design')}: "
        f"{sample.get('units')} units"
    )
    ann = read_stage_output(run_dir, "annotate") or {}
    for r in ann.get("raters", []):
        lines.append(
            f"rater {r['rater']}: {r['annotator']} ({r.get('setting', 'zero-shot')})"
            f", {r['records']} records, {r['errors']} errors"
        )
    agree = read_stage_output(run_dir, "agree") or {}
    for row in agree.get("pairs", []):
        if row.get("kind") in ("annotator-gold", "annotator-consensus"):
            k = row.get("cohen_kappa")
            ks = "undefined" if k is None else _fmt(k)
            ci = _ci(row.get("cohen_kappa_ci_low"), row.get("cohen_kappa_ci_high"))
            lines.append(f"kappa {row['rater_a']} vs {row['rater_b']}: {ks} {ci} n={row['n']}")
    for name, row in (agree.get("same_unit") or {}).get("summary", {}).items():
        a, h, d = row.get("annotator_vs_humans"), row.get("humans_vs_humans"), row.get("difference")
        if a is None or h is None or d is None:
            lines.append(f"same units, {name}: undefined ({row.get('triads_used')} triads)")
            continue
        lines.append(
            f"same units, {name}: kappa vs humans {_fmt(a)}, humans vs humans {_fmt(h)}, "
            f"difference {_fmt(d)} {_ci(row.get('ci_low'), row.get('ci_high'))} "
            f"({row['triads_used']} triads, n={row['n']}; "
            f"{row['triads_below_min_n']} under n={agree['same_unit']['min_n']} left out)"
        )
    for name, cal in (agree.get("calibration") or {}).items():
        if cal.get("ece") is not None:
            lines.append(
                f"calibration {name}: ECE {_fmt(cal['ece'])} "
                f"{_ci(cal.get('ece_ci_low'), cal.get('ece_ci_high'))}, "
                f"Brier {_fmt(cal['brier'])}, n={cal['n']}"
            )
    stats = read_stage_output(run_dir, "stats") or {}
    findings = stats.get("findings")
    if findings:
        from ptmcoder.inference.findings import findings_rows

        lines.append(
            "findings, each code's share of the units (95% CI): the annotator alone | "
            "the humans alone | both (PPI++)"
            + (f"; {findings['note']}" if findings.get("note") else "")
        )
        for row in findings_rows(findings):
            naive, hum, ppi = row["naive"], row["classical"], row["ppi"]
            census = f" | census {_fmt(row['census'])}" if row["census"] is not None else ""
            lines.append(
                f"  {row['rater']} {row['code']}: naive {_fmt(naive.get('estimate'))} "
                f"{_ci(naive.get('ci_low'), naive.get('ci_high'))} n={row['n_annotated']} | "
                f"humans {_fmt(hum.get('estimate'))} {_ci(hum.get('ci_low'), hum.get('ci_high'))}"
                f" n={row['n_gold']} | PPI++ {_fmt(ppi.get('estimate'))} "
                f"{_ci(ppi.get('ci_low'), ppi.get('ci_high'))}{census}"
                + (f"  <- {row['flag']}" if row["flag"] else "")
            )
    rv = read_stage_output(run_dir, "review") or {}
    audit = ((rv.get("status") or {}).get("audit")) or {}
    if rv:
        built = rv.get("build") or {}
        lines.append(
            f"review queue: {built.get('items')} items "
            + ", ".join(f"{k} {v}" for k, v in (built.get("by_reason") or {}).items())
            + (
                f"; audit sample {audit.get('sampled')} units, {audit.get('n')} reviewed"
                if audit
                else ""
            )
        )
    for stage in ("review", "map"):
        rec = read_stage_record(run_dir, stage) or {}
        if rec.get("status") != "complete":
            lines.append(f"{stage}: {rec.get('note') or 'not run'}")
    mapped = read_stage_output(run_dir, "map")
    if mapped:
        lines.append(
            f"map {mapped['source']} -> {mapped['target']}: {mapped['n_translated']} of "
            f"{mapped['n_input']} codings translated"
        )
    return lines
