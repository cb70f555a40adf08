"""``ptmcoder stats prevalence`` and ``stats plan-gold``: code shares corrected for
annotation error with a human sample (prediction-powered inference), and how much
human coding a target interval width needs. Each command parses its options, calls
one function of :mod:`ptmcoder.inference.inputs` and renders the result."""

from __future__ import annotations

import click
from rich.table import Table

from ptmcoder.console import fmt_ci, fmt_number, make_console, print_json
from ptmcoder.errors import PtmcoderError

#: rows of group differences printed (all are in --json)
MAX_DIFFERENCES = 40


def _est(interval) -> str:  # type: ignore[no-untyped-def]
    if interval is None:
        return "-"
    return f"{fmt_number(interval.estimate, 3)} {fmt_ci(interval.ci_low, interval.ci_high)}"


def _common(f):  # type: ignore[no-untyped-def]
    for option in reversed(
        [
            click.argument("source", metavar="RUN"),
            click.option(
                "--design",
                default=None,
                help="The gold sample's design: unit,inclusion_probability "
                "(the gold_sample.csv of `ptmcoder sample gold`).",
            ),
            click.option(
                "--by",
                default=None,
                help="Split units by this field (a corpus field, or a column "
                "of the long table) and compare the groups.",
            ),
            click.option(
                "--rater",
                default=None,
                help="Whose codes to correct (needed when RUN has several).",
            ),
            click.option(
                "--assume-random",
                is_flag=True,
                help="Take a gold file without a design as a "
                "uniform random sample of the annotated units (the output says so).",
            ),
            click.option(
                "--level",
                default=None,
                help="Codebook level to count codes at (default: as coded).",
            ),
            click.option(
                "--codebook", default=None, help="Codebook for --level (default: the run's)."
            ),
            click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
        ]
    ):
        f = option(f)
    return f


@click.command("prevalence")
@_common
@click.option(
    "--gold",
    required=True,
    help="Human codes on a sample: a long table unit,rater,code "
    "(every row is the humans'), optionally with inclusion_probability.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=0.95,
    show_default=True,
    help="Confidence level of every interval.",
)
def prevalence(
    source, design, by, rater, assume_random, level, codebook, as_json, gold, confidence
) -> None:  # type: ignore[no-untyped-def]
    """The share of RUN's units carrying each code (per group with --by, and the
    differences between groups): the annotator alone (naive), the humans alone on
    the gold sample (classical), and both combined by prediction-powered inference
    (PPI++), each with its interval, n and the human codes the annotator was worth.
    RUN is a run, or a long table unit,rater,code."""
    from ptmcoder.inference.inputs import prevalence_from_files

    result = prevalence_from_files(
        source,
        gold,
        design=design,
        by=by,
        rater=rater,
        assume_random=assume_random,
        level=level,
        codebook=codebook,
        alpha=1 - confidence,
    )
    if not result.estimates:
        raise PtmcoderError("no estimate: no code in any group")
    if as_json:
        print_json(result.to_json())
        return
    console = make_console()
    level_pct = f"{confidence:.0%}"
    table = Table(
        title=f"share of units per code: rater {result.rater}, {result.n_annotated:,} annotated "
        f"units, {result.n_gold:,} gold units ({level_pct} CI)"
    )
    table.add_column("code")
    if result.by:
        table.add_column(result.by)
    for col in (
        "n gold",
        "n annotated",
        "naive: annotator only",
        "classical: humans only",
        "PPI++: both",
        "effective n",
    ):
        table.add_column(col, justify="right")
    table.add_column("note")
    for e in result.estimates:
        row = [e.code] + ([e.group] if result.by else [])
        row += [
            fmt_number(e.n_gold),
            fmt_number(e.n_annotated),
            _est(e.naive),
            _est(e.classical),
            _est(e.ppi),
            fmt_number(e.effective_n, 0, missing="-", thousands=True),
            e.note or "",
        ]
        table.add_row(*row)
    console.print(table)
    if result.differences:
        diff = Table(
            title=f"differences between groups of {result.by} (row group minus versus; "
            f"Var(a-b) = Var(a) + Var(b))"
        )
        for col in ("code", "group", "versus", "naive", "classical", "PPI++"):
            diff.add_column(col, justify="left" if col in ("code", "group", "versus") else "right")
        for d in result.differences[:MAX_DIFFERENCES]:
            diff.add_row(d.code, d.group, d.versus, _est(d.naive), _est(d.classical), _est(d.ppi))
        console.print(diff)
        if len(result.differences) > MAX_DIFFERENCES:
            console.print(f"{len(result.differences) - MAX_DIFFERENCES} more differences in --json")
    console.print(f"design: {result.design}", highlight=False)
    console.print(
        "methods: naive = annotator's codes on every unit (Wald; ignores annotation error); "
        "classical = humans on the gold only (Hajek-weighted Wald); PPI++ = power-tuned "
        "prediction-powered estimate (Angelopoulos et al. 2023); effective n = "
        "n gold x var(classical) / var(PPI++)",
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


@click.command("plan-gold")
@_common
@click.option(
    "--gold",
    default=None,
    help="Human codes already made (long table unit,rater,code); without it, give --accuracy.",
)
@click.option(
    "--width",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Target width of the widest 95% interval (e.g. 0.05).",
)
@click.option(
    "--accuracy",
    type=click.FloatRange(0.5, 1.0, min_open=True),
    default=None,
    help="With no gold yet: the annotator's assumed per-code accuracy.",
)
def plan_gold(
    source, design, by, rater, assume_random, level, codebook, as_json, gold, width, accuracy
) -> None:  # type: ignore[no-untyped-def]
    """How many more human codes bring the widest PPI++ interval of RUN's code shares
    (per group with --by) to --width, from the annotator-human agreement on the gold
    so far (or from an assumed --accuracy before any gold)."""
    from ptmcoder.inference.inputs import plan_gold_from_files

    plan = plan_gold_from_files(
        source,
        gold,
        width=width,
        accuracy=accuracy,
        design=design,
        by=by,
        rater=rater,
        assume_random=assume_random,
        level=level,
        codebook=codebook,
    )
    if as_json:
        print_json(plan.to_json())
        return
    console = make_console()
    table = Table(
        title=f"human codes for a 95% interval of width {fmt_number(width, 3)}: {plan.basis}"
    )
    table.add_column("code")
    if by:
        table.add_column(by)
    for col in (
        "n gold",
        "n annotated",
        "width now",
        "needed in group",
        "needed in total",
        "method",
    ):
        table.add_column(col, justify="right" if col != "method" else "left")
    for r in sorted(plan.rows, key=lambda r: -r.needed_total):
        row = [r.code] + ([r.group] if by else [])
        row += [
            fmt_number(r.n_gold),
            fmt_number(r.n_annotated),
            fmt_number(r.width_now, 3, missing="-"),
            fmt_number(r.needed_in_group),
            fmt_number(r.needed_total),
            r.method,
        ]
        table.add_row(*row)
    console.print(table)
    w = plan.widest
    console.print(
        f"widest: {w.code}"
        + (f" in {w.group}" if by else "")
        + f"; {plan.needed_total:,} gold units in total, "
        f"{plan.additional:,} more than the {plan.n_gold:,} coded",
        highlight=False,
    )
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
