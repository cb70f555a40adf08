"""``ptmcoder compare RUN_A [RUN_B]``: two runs, or two annotators of one run."""

from __future__ import annotations

import click

from ptmcoder.console import make_console, print_json


def render_compare(data: dict):
    from rich.table import Table

    from ptmcoder.console import fmt_ci, fmt_number

    def _fmt(v):
        return fmt_number(v, missing="–")

    def _ci(low, high):
        return fmt_ci(low, high, missing="")

    per_code = Table(
        title=f"A = {data['a']['label']}  B = {data['b']['label']}: kappa per code vs "
        f"reference (n = {data['agreement_per_code']['shared_units']} shared units)"
    )
    for col in ("code", "kappa A [95% CI]", "kappa B [95% CI]", "B - A [paired 95% CI]", ""):
        per_code.add_column(col, no_wrap=True)
    for r in data["agreement_per_code"]["rows"]:
        per_code.add_row(
            r["code"],
            f"{_fmt(r['kappa_a'])} {_ci(r['kappa_a_ci_low'], r['kappa_a_ci_high'])}",
            f"{_fmt(r['kappa_b'])} {_ci(r['kappa_b_ci_low'], r['kappa_b_ci_high'])}",
            f"{_fmt(r['difference'])} {_ci(r['difference_ci_low'], r['difference_ci_high'])}",
            r["verdict"],
        )
    trans = Table(
        title=f"Units whose codes changed: {len(data['changed_units'])} of {data['units_compared']}"
    )
    for col in ("A", "B", "units"):
        trans.add_column(col)
    for t in data["transitions"]:
        trans.add_row(t["from"], t["to"], str(t["units"]))
    return per_code, trans


@click.command("compare")
@click.argument("run_a")
@click.argument("run_b", required=False)
@click.option("--rater-a", help="Annotator of RUN_A (default: its first).")
@click.option("--rater-b", help="Annotator of RUN_B (default: its first; of RUN_A: its second).")
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples (over shared units) for the confidence intervals.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False),
    help="Reference labels (unit, code) for both sides; default: each study run's own.",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(
    run_a: str,
    run_b: str | None,
    rater_a: str | None,
    rater_b: str | None,
    n_boot: int,
    seed: int,
    gold: str | None,
    out_dir: str | None,
    as_json: bool,
) -> None:
    """Compare two runs (RUN_A RUN_B: `annotate` runs or study runs, in any mix), or two
    raters of one run (RUN_A alone): settings, per-code agreement with a paired
    bootstrap CI of the difference, changed units, cost and time, and the shift of the
    code distribution. Writes compare.md, compare.html and compare.json."""
    from pathlib import Path

    from ptmcoder.agreement.io import read_gold
    from ptmcoder.console import fmt_ci, fmt_number, fmt_p
    from ptmcoder.files import jsonable
    from ptmcoder.report import write_compare
    from ptmcoder.report.compare import compare as do_compare
    from ptmcoder.runs import resolve_run

    a = resolve_run(run_a).path
    b = resolve_run(run_b).path if run_b else None
    reference = read_gold(gold) if gold else None
    result = do_compare(
        a, b, rater_a=rater_a, rater_b=rater_b, n_boot=n_boot, seed=seed, gold=reference
    )
    if out_dir:
        target = Path(out_dir)
    elif b is None:
        target = a / "compare" / f"{result.a.rater}__{result.b.rater}"
    else:
        target = a / "compare" / f"{result.a.rater}__{b.name}_{result.b.rater}"
    files = write_compare(result, target)
    data = jsonable(result.to_dict())
    if as_json:
        print_json({**data, "files": {k: str(v) for k, v in files.items()}})
        return
    out = make_console()
    for table in render_compare(data):
        out.print(table)
    shift = data["distribution_shift"]
    effect = shift.get("effect") or {}
    out.print(
        f"distribution shift ({shift.get('design', '?')}): {shift['test']}, "
        f"statistic = {fmt_number(shift['statistic'], 2, missing='–')}, df = {shift['df']}, "
        f"p = {fmt_p(shift['p_value'], missing='–')}, n = {shift.get('n')}; "
        f"{shift.get('effect_size', 'effect size')}"
        f"{' (' + effect['code'] + ')' if effect.get('code') else ''} = "
        f"{fmt_number(effect.get('value'), missing='–')} "
        f"{fmt_ci(effect.get('ci_low'), effect.get('ci_high'), missing='')}"
    )
    for w in shift.get("warnings", []):
        out.print(f"  warning: {w}")
    for row in data["cost"]:
        out.print(
            f"{row['side']}: {row['records']} records, {row['errors']} errors, "
            f"cost {row['cost_usd']}, {row['seconds']} s"
        )
    out.print(f"settings that differ: {len(data['settings_differences'])}")
    out.print(f"compare: {files['compare_html']}")
    out.print(f"         {files['compare_md']}")
