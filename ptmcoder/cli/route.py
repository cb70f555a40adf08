"""``ptmcoder route``: accept the annotator's codes where they agree with the humans
with a guarantee, escalate the rest (:mod:`ptmcoder.review.routing`)."""

from __future__ import annotations

import click

from ptmcoder.console import fmt_number, fmt_p, make_console, print_json


@click.command("route")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--gold",
    required=True,
    help="Human codes of calibration units: a long table unit,rater,code (or unit,code).",
)
@click.option(
    "--target",
    type=float,
    default=0.90,
    show_default=True,
    help="Agreement with the humans the accepted units must reach.",
)
@click.option(
    "--delta",
    type=float,
    default=0.10,
    show_default=True,
    help="Allowed probability that the guarantee fails.",
)
@click.option("--rater", help="Whose codes to route (a study run's rater; required for a table).")
@click.option("--per-code", is_flag=True, help="A threshold per top code (Bonferroni over codes).")
@click.option(
    "--method",
    type=click.Choice(["binomial", "hoeffding-bentkus"]),
    default="binomial",
    show_default=True,
    help="The p-value of each threshold's test.",
)
@click.option(
    "--min-n",
    type=click.IntRange(min=1),
    help="Test only thresholds accepting at least this many calibration units "
    "(default: from target and delta).",
)
@click.option(
    "--allow-none",
    is_flag=True,
    help="When no threshold meets the target, record that nothing is accepted and exit 0.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the decision here instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def route(
    run_ref: str,
    gold: str,
    target: float,
    delta: float,
    rater: str | None,
    per_code: bool,
    method: str,
    min_n: int | None,
    allow_none: bool,
    out: str | None,
    as_json: bool,
) -> None:
    """Route RUN's units: find, from the gold's calibration units, the lowest confidence
    threshold at which the annotator's codes agree with the humans' at >= TARGET with
    probability >= 1 - DELTA (Learn-then-Test, fixed-sequence testing from the highest
    threshold down); accept the units at or above it, escalate the rest.

    RUN is a run (id, prefix, 'latest' or directory) or a long table
    unit,rater,code,confidence (with --rater). The decision is written to
    <run>/route/<rater>.json (or --out), which `review build RUN --route` reads. When no
    threshold meets the target nothing is accepted and the command exits 1 saying why,
    unless --allow-none."""
    from pathlib import Path

    from ptmcoder.review.routing import NoGuaranteeError, write_route
    from ptmcoder.review.routing import route as do_route

    decision, path = do_route(
        run_ref,
        gold,
        target=target,
        delta=delta,
        rater=rater,
        per_code=per_code,
        method=method,
        min_n=min_n,
    )
    if not decision.accepted and not allow_none:
        tested = [t for t in decision.tests if t["p_value"] is not None]
        best = max(tested, key=lambda t: t["guaranteed"], default=None)
        reach = (
            f"the highest level one threshold certifies is {best['guaranteed']:.3f} "
            f"(threshold {best['threshold']:g}, n={best['n']})"
            if best
            else "no threshold accepts enough calibration units to be tested"
        )
        raise NoGuaranteeError(
            f"no threshold guarantees agreement >= {target:g} with probability >= "
            f"{1 - delta:g} on the {decision.n_calibration} calibration units: {reach}; "
            "nothing accepted, no decision written",
            hint="lower --target, raise --delta, add calibration units, or pass "
            "--allow-none to record that every unit is escalated",
        )
    written = Path(out) if out else path
    if written is not None:
        write_route(decision, written)
    if as_json:
        print_json({**decision.to_json(), "written": str(written) if written else None})
        return
    _render(decision, written)


def _render(decision, written) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    con = make_console()
    con.print(
        f"route {decision.source}, rater {decision.rater}: {decision.n_units} units, "
        f"{decision.n_calibration} calibration units (gold); target {decision.target:g}, "
        f"delta {decision.delta:g}, {decision.method} p-values, {decision.mode}",
        markup=False,
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    for col in ("code", "threshold", "n", "agree", "observed", "guaranteed", "p", "coverage"):
        if col != "code" or decision.mode == "per-code":
            table.add_column(col, justify="left" if col == "code" else "right")
    table.add_column("test")
    last: tuple | None = None
    stopped: dict[str | None, int] = {}  # code -> rows below its stop, not shown
    for t in decision.tests:
        code = t.get("code")
        if t["p_value"] is None or (code, t["n"]) == last:
            continue  # passed over, or the same accepted set as the row above
        last = (code, t["n"])
        if code in stopped:
            stopped[code] += 1
            continue
        chosen = decision.thresholds.get(code) if code else decision.threshold
        status = "chosen" if t["threshold"] == chosen else "rejected" if t["rejected"] else "stop"
        if status == "stop":
            stopped[code] = 0
        row = [
            f"{t['threshold']:g}",
            str(t["n"]),
            str(t["k"]),
            fmt_number(t["observed"]),
            fmt_number(t["guaranteed"]),
            fmt_p(t["p_value"]),
            f"{fmt_number(t['coverage'])} ({t['run_accepted']}/{t['run_units']})",
            status,
        ]
        table.add_row(*([str(code)] if decision.mode == "per-code" else []), *row)
    con.print(table)
    for code, below in stopped.items():
        if below:
            where = f"code {code}: " if code else ""
            con.print(f"  {where}{below} lower threshold(s) below the stop, not tested")
    if decision.mode == "per-code":
        for code, c in decision.per_code.items():
            th = "none" if c["threshold"] is None else f"{c['threshold']:g}"
            con.print(
                f"  {code}: threshold {th}, accepted {c['accepted']} of {c['units']} units "
                f"(calibration: {c['calibration_agreeing']} of {c['calibration_accepted']} "
                f"accepted agree, n={c['calibration_n']})",
                markup=False,
                highlight=False,
            )
    elif decision.threshold is not None:
        con.print(f"chosen threshold {decision.threshold:g}", markup=False, highlight=False)
    con.print(decision.guarantee, markup=False, highlight=False)
    acc = decision.calibration_accepted
    if acc:
        con.print(
            f"observed on calibration: {decision.calibration_agreeing} of {acc} accepted "
            f"calibration units agree ({fmt_number(decision.calibration_agreeing / acc)}, "
            f"n={acc})",
            markup=False,
            highlight=False,
        )
    con.print(
        f"accepted {len(decision.accepted)}, escalated {len(decision.escalated)} "
        f"of {decision.n_units} units",
        markup=False,
        highlight=False,
    )
    for note in decision.notes:
        con.print(f"note: {note}", markup=False, highlight=False)
    if written is not None:
        con.print(f"decision: {written}", markup=False, highlight=False)
