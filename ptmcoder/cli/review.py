"""``ptmcoder review``: the review queue, in a full-screen app or from scripts.

``ptmcoder review [RUN]`` opens the Textual app; the subcommands are its twins
(``next``, ``decide``, ``accept``, ``reject``, ``skip``, ``undo``) and the queue's
outputs (``build``, ``status``, ``conflicts``, ``export``, ``new-codes``). Every
one calls the functions in :mod:`ptmcoder.review`.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ptmcoder.console import fmt_number, make_console, print_json, safe_text
from ptmcoder.errors import PtmcoderError

RUN_HELP = "Run id, prefix, 'latest' or run directory (default: latest)."


class ReviewGroup(click.Group):
    """A group whose first argument may be a run instead of a subcommand, so that
    ``ptmcoder review RUN`` opens the app while ``ptmcoder review build RUN`` builds."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {"--adjudicator"}
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in takes_value:
                i += 2
                continue
            if arg.startswith("-"):
                i += 1
                continue
            if arg not in self.commands:  # the first word is a run, not a command
                ctx.meta["review_run"] = arg
                args = args[:i] + args[i + 1 :]
            break
        return super().parse_args(ctx, args)


def _adjudicator_option(f):
    return click.option(
        "--adjudicator",
        default=None,
        help="Who decides (default $PTMCODER_ADJUDICATOR, else the login name).",
    )(f)


def _json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def _who(adjudicator: str | None) -> str:
    from ptmcoder.review import default_adjudicator

    return adjudicator or default_adjudicator()


@click.group(cls=ReviewGroup, invoke_without_command=True)
@click.option("--blind", is_flag=True, help="Hide other adjudicators' decisions.")
@_adjudicator_option
@click.pass_context
def review(ctx: click.Context, blind: bool, adjudicator: str | None) -> None:
    """Adjudicate the review queue of RUN (default: latest) in a full-screen app.

    Keys: a accept, x reject, space skip, backspace undo, 1-9 accept a rater's codes,
    c fix-and-accept (type codes, Tab completes), n no code fits (with a note),
    r change a mapping's relation, ? help, q quit; arrows/PgUp/PgDn scroll, Tab moves
    between panes; in a text box Enter saves, Escape cancels. Every decision is saved
    as it is made. The subcommands do the same from scripts."""
    if ctx.invoked_subcommand is not None:
        return
    from ptmcoder.review import open_queue
    from ptmcoder.review.app import ReviewApp

    queue = open_queue(ctx.meta.get("review_run", "latest"))
    try:
        ReviewApp(queue, adjudicator=_who(adjudicator), blind=blind).run()
    finally:
        queue.close()


# -- build -------------------------------------------------------------------------


@review.command("build")
@click.argument("run_ref", metavar="RUN")
@click.option("--gold", help="Adjudicated labels (unit,code or a long table) shown as rater gold.")
@click.option("--humans", help="Human codes: a long table unit (or unit_id),rater,code.")
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=click.Choice(
        [
            "annotator_error",
            "possible_injection",
            "disagreement",
            "low_confidence",
            "low_agreement_code",
            "audit",
        ]
    ),
    help="Queue only items for these reasons (repeatable; default all).",
)
@click.option(
    "--audit-size",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Units where everyone agreed sampled at random for an audit.",
)
@click.option("--seed", type=int, default=13, show_default=True, help="Seed of the audit sample.")
@click.option(
    "--confidence-below",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Queue codes an annotator assigned with less confidence than this.",
)
@click.option(
    "--agreement-below",
    type=float,
    default=0.4,
    show_default=True,
    help="Queue units carrying a code whose per-code kappa is below this.",
)
@click.option(
    "--mappings",
    "mapping_sets",
    multiple=True,
    help="Crosswalk mapping set(s) whose unreviewed suggestions become mapping items.",
)
@click.option(
    "--route",
    "use_route",
    is_flag=True,
    help="Queue only the units RUN's routing decision (ptmcoder route) escalated, "
    "and audit a sample of those it accepted.",
)
@click.option(
    "--route-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The same with this routing decision file.",
)
@_json_option
def build_cmd(
    run_ref,
    gold,
    humans,
    reasons,
    audit_size,
    seed,
    confidence_below,
    agreement_below,
    mapping_sets,
    use_route,
    route_file,
    as_json,
) -> None:
    """Fill the review queue of RUN; rebuilding adds new items and keeps every decision."""
    from ptmcoder.review.build import (
        BuildOptions,
        Reason,
        add_mapping_items,
        build_queue,
        mapping_suggestions,
    )

    options = BuildOptions(
        gold=gold,
        humans=humans,
        reasons=[Reason(r) for r in reasons] or None,
        audit_size=audit_size,
        seed=seed,
        confidence_below=confidence_below,
        agreement_below=agreement_below,
        route=route_file if route_file else "" if use_route else None,
    )
    for mset in mapping_sets:  # read them first: a bad file fails before any write
        mapping_suggestions(mset)
    result = build_queue(run_ref, options)
    for mset in mapping_sets:
        added, _ = add_mapping_items(result.run_id, mapping_suggestions(mset), mapping_set=mset)
        result.added += added
        result.by_reason["mapping"] = result.by_reason.get("mapping", 0) + added
        result.items += added
    if as_json:
        print_json(result.to_json())
    else:
        out = make_console()
        out.print(
            f"review queue of run {result.run_id}: {result.items} items "
            f"({result.added} new, {result.updated} with new reasons) from {result.units} units"
        )
        for reason, n in result.by_reason.items():
            out.print(f"  {reason}: {n}")
        if result.routing:
            r = result.routing
            out.print(
                f"  routing ({r['rater']}): {r['accepted']} accepted, {r['escalated']} "
                f"escalated; {r['guarantee']}",
                markup=False,
                highlight=False,
            )
        out.print(f"  {result.path}")
    err = make_console(stderr=True)
    for warning in result.warnings:
        err.print(f"[yellow]warning[/]: {escape(safe_text(warning))}", markup=True)


# -- the twins ---------------------------------------------------------------------


def _item_json(queue, item, adjudicator: str, blind: bool) -> dict:
    from ptmcoder.review.actions import DECIDED_RULE, others_decisions, progress

    data = item.to_json()
    if not blind:
        data["other_decisions"] = [d.to_json() for d in others_decisions(queue, item, adjudicator)]
    data["progress"] = progress(queue, adjudicator).to_json()
    data["decided_means"] = DECIDED_RULE
    return data


def _render_item(queue, item, adjudicator: str, blind: bool) -> None:
    """The item as text; everything that came from a post, a model or a file goes
    through :func:`safe_text` (no escape sequence reaches the terminal) and is
    printed without markup."""
    from ptmcoder.review.actions import describe_others, others_decisions, progress

    out = make_console()

    def say(text: str) -> None:
        out.print(safe_text(text), markup=False, highlight=False)

    p = progress(queue, adjudicator)
    say(f"item {item.id} ({item.kind}) [{p.done} done, {p.left} left]")
    say("reasons: " + "; ".join(f"{r['reason']} ({r.get('detail', '')})" for r in item.reasons))
    if item.kind == "mapping":
        m = item.mapping or {}
        say(f"{m.get('subject_id')} {m.get('predicate')} {m.get('object_id')}")
        return
    unit = item.detail.get("unit", {})
    say(f"{item.unit_id}: {unit.get('title', '')}")
    for i, r in enumerate(item.detail.get("raters", []), start=1):
        codes = ", ".join(r["codes"]) or (f"error: {r['error']}" if r.get("error") else "-")
        say(f"  {i}. {r['name']} [{r['kind']}]: {codes}")
    say("  proposal: " + (", ".join(item.detail.get("proposal") or []) or "-"))
    others = [] if blind else others_decisions(queue, item, adjudicator)
    if others:
        say("  " + describe_others(others))


@review.command("next")
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option("--blind", is_flag=True, help="Hide other adjudicators' decisions.")
@_adjudicator_option
@_json_option
def next_cmd(run_ref, blind, adjudicator, as_json) -> None:
    """Show the next item this adjudicator has not decided."""
    from ptmcoder.review import next_item, open_queue

    who = _who(adjudicator)
    with open_queue(run_ref) as queue:
        item = next_item(queue, who)
        if item is None:
            if as_json:
                print_json({"item": None, "done": True})
            else:
                make_console().print(f"the review queue of run {queue.run.id} is done for {who}")
            return
        if as_json:
            print_json(_item_json(queue, item, who, blind))
        else:
            _render_item(queue, item, who, blind)


def _print_decision(decision, as_json: bool, extra: dict | None = None) -> None:
    data = decision.to_json() | (extra or {})
    if as_json:
        print_json(data)
        return
    what = ", ".join(decision.codes or []) or decision.predicate or ""
    make_console().print(
        safe_text(
            f"decision {decision.id}: item {decision.item_id} {decision.action} {what} "
            f"by {decision.adjudicator}"
        ),
        markup=False,
    )


@review.command("decide")
@click.argument("item_ref", metavar="ITEM")
@click.option("--codes", help="Comma-separated codes of the codebook (fix-and-accept).")
@click.option("--no-fit", is_flag=True, help="No code fits; --note describes the missing code.")
@click.option("--predicate", help="Mapping items: the right relation (e.g. skos:broadMatch).")
@click.option("--note", help="A note kept with the decision.")
@click.option("--run", "run_ref", default="latest", help=RUN_HELP)
@_adjudicator_option
@_json_option
def decide_cmd(item_ref, codes, no_fit, predicate, note, run_ref, adjudicator, as_json) -> None:
    """Decide ITEM (number or unit id): its codes, no code fits, or a mapping's relation."""
    from ptmcoder.review import actions

    given = sum(x is not None and x is not False for x in (codes, predicate, no_fit or None))
    if given != 1:
        raise PtmcoderError("give exactly one of --codes, --no-fit or --predicate")
    who = _who(adjudicator)
    with actions.open_queue(run_ref) as queue:
        item = actions.get_item(queue, item_ref)
        if codes is not None:
            decision = actions.decide(queue, item, codes.split(","), adjudicator=who, note=note)
        elif no_fit:
            decision = actions.no_code_fits(queue, item, note or "", adjudicator=who)
        else:
            decision = actions.change_relation(queue, item, predicate, adjudicator=who, note=note)
    _print_decision(decision, as_json)


@review.command("accept")
@click.argument("item_ref", metavar="ITEM")
@click.option("--rater", help="Accept this rater's codes (name, or its number 1-9).")
@click.option("--note", help="A note kept with the decision.")
@click.option("--run", "run_ref", default="latest", help=RUN_HELP)
@_adjudicator_option
@_json_option
def accept_cmd(item_ref, rater, note, run_ref, adjudicator, as_json) -> None:
    """Accept ITEM's proposal (consensus, gold or majority; a mapping's relation) or
    one rater's codes."""
    from ptmcoder.review import actions

    with actions.open_queue(run_ref) as queue:
        item = actions.get_item(queue, item_ref)
        decision = actions.accept(
            queue, item, adjudicator=_who(adjudicator), rater=rater, note=note
        )
    _print_decision(decision, as_json)


@review.command("reject")
@click.argument("item_ref", metavar="ITEM")
@click.option("--note", help="A note kept with the decision.")
@click.option("--run", "run_ref", default="latest", help=RUN_HELP)
@_adjudicator_option
@_json_option
def reject_cmd(item_ref, note, run_ref, adjudicator, as_json) -> None:
    """Reject ITEM's proposal (a mapping: reject the suggestion)."""
    from ptmcoder.review import actions

    with actions.open_queue(run_ref) as queue:
        item = actions.get_item(queue, item_ref)
        decision = actions.reject(queue, item, adjudicator=_who(adjudicator), note=note)
    _print_decision(decision, as_json)


@review.command("skip")
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option("--item", "item_ref", help="Skip this item (default: the next one).")
@_adjudicator_option
@_json_option
def skip_cmd(run_ref, item_ref, adjudicator, as_json) -> None:
    """Skip the next item (or --item): it moves to the end of this adjudicator's queue."""
    from ptmcoder.review import actions

    who = _who(adjudicator)
    with actions.open_queue(run_ref) as queue:
        item = actions.get_item(queue, item_ref) if item_ref else actions.next_item(queue, who)
        if item is None:
            raise PtmcoderError(f"nothing to skip: the queue is done for {who}")
        decision = actions.skip(queue, item, adjudicator=who)
    _print_decision(decision, as_json)


@review.command("undo")
@click.argument("run_ref", metavar="RUN", default="latest")
@_adjudicator_option
@_json_option
def undo_cmd(run_ref, adjudicator, as_json) -> None:
    """Withdraw this adjudicator's latest decision or skip (it stays in the log)."""
    from ptmcoder.review import actions

    with actions.open_queue(run_ref) as queue:
        row, withdrawn = actions.undo(queue, adjudicator=_who(adjudicator))
    if as_json:
        print_json(row.to_json() | {"withdrawn": withdrawn.to_json()})
    else:
        make_console().print(
            safe_text(
                f"undone: decision {withdrawn.id} ({withdrawn.action}) on item {withdrawn.item_id}"
            ),
            markup=False,
        )


# -- outputs -----------------------------------------------------------------------


@review.command("status")
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed (kappa CI).")
@_json_option
def status_cmd(run_ref, seed, as_json) -> None:
    """Counts by reason and state, the audit sample's error estimate (Wilson CI) and
    the adjudicators' agreement (kappa with n and CI)."""
    from ptmcoder.review import open_queue, status

    with open_queue(run_ref) as queue:
        result = status(queue, seed=seed)
    if as_json:
        print_json(result.to_json())
        return
    out = make_console()
    table = Table(title=f"review queue of run {result.run_id} (n={result.items} items)")
    for col in ("reason", "pending", "skipped", "decided"):
        table.add_column(col, justify="left" if col == "reason" else "right")
    for reason, counts in result.by_reason.items():
        table.add_row(reason, *(str(counts.get(s, 0)) for s in ("pending", "skipped", "decided")))
    table.add_row(
        "all items", *(str(result.by_state[s]) for s in ("pending", "skipped", "decided"))
    )
    out.print(table)

    def num(x: float | None) -> str:
        return fmt_number(x, missing="-")

    a = result.audit
    if a.n:
        out.print(
            f"audit sample: {a.errors} of n={a.n} audited units changed by review, error rate "
            f"{num(a.rate)} (95% CI {num(a.ci_low)}-{num(a.ci_high)}, Wilson score interval)"
            + (f"; {a.population} units nobody questioned" if a.population else "")
        )
    else:
        out.print(f"audit sample: {a.sampled} units sampled, none decided yet (n=0)")
    k = result.adjudicator_agreement
    if k:
        out.print(
            f"adjudicators' agreement: {k['metric']} {num(k.get('value'))} "
            f"(95% CI {num(k.get('ci_low'))}-{num(k.get('ci_high'))}, {k.get('ci_method', '')}), "
            f"n={k.get('n')} items decided by 2+ adjudicators"
        )
    else:
        out.print("adjudicators' agreement: no item decided by two adjudicators (n=0)")
    for who, n in result.adjudicators.items():
        out.print(safe_text(f"  {who}: {n} decisions"), markup=False)
    for note in result.notes:
        out.print(safe_text(note), markup=False)


@review.command("conflicts")
@click.argument("run_ref", metavar="RUN", default="latest")
@_json_option
def conflicts_cmd(run_ref, as_json) -> None:
    """Items that adjudicators decided differently."""
    from ptmcoder.review import conflicts, open_queue

    with open_queue(run_ref) as queue:
        rows = conflicts(queue)
    if as_json:
        print_json({"conflicts": rows, "n": len(rows)})
        return
    table = Table(title=f"conflicts (n={len(rows)})")
    for col in ("item", "unit", "adjudicator", "decision"):
        table.add_column(col)
    for row in rows:
        for d in row["decisions"]:
            table.add_row(
                *(
                    Text(safe_text(x))
                    for x in (row["item"], row["unit_id"] or "", d["adjudicator"])
                ),
                Text(safe_text(" ".join(d["outcome"]))),
            )
    make_console().print(table)


@review.command("export")
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="csv (for agree --gold, stats distribution --labels) or jsonl.",
)
@click.option("--out", "out_path", help="Write to this file (default: stdout).")
@click.option("--adjudicator", help="Export only this adjudicator's decisions.")
def export_cmd(run_ref, fmt, out_path, adjudicator) -> None:
    """The adjudicated gold labels: a long table unit, rater=adjudicated, code with
    provenance (for `agree --gold`, `stats distribution --labels`)."""
    from ptmcoder.review import export, open_queue, write_export

    with open_queue(run_ref) as queue:
        result = export(queue, adjudicator=adjudicator)
    text = write_export(result, out_path, fmt)
    if out_path is None:
        sys.stdout.write(text)
    err = make_console(stderr=True)
    err.print(
        f"{result.units} adjudicated units, {len(result.table)} rows"
        + (f" -> {out_path}" if out_path else "")
    )
    if result.conflicts:
        err.print(
            f"[yellow]{len(result.conflicts)} item(s) left out: adjudicators disagree[/] "
            f"(items {', '.join(map(str, result.conflicts[:20]))}; see `review conflicts`)",
            markup=True,
        )
    if result.without_codes:
        err.print(
            f"{result.without_codes} decided item(s) have no codes (rejected or no code fits)"
        )


@review.command("new-codes")
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.25,
    show_default=True,
    help="Cosine similarity (TF-IDF) at which two notes join a group.",
)
@_json_option
def new_codes_cmd(run_ref, threshold, as_json) -> None:
    """The "no code fits" notes, grouped by similarity (candidate new codes)."""
    from ptmcoder.review import new_codes, open_queue

    with open_queue(run_ref) as queue:
        groups = new_codes(queue, threshold=threshold)
    if as_json:
        print_json(
            {"groups": [g.to_json() for g in groups], "n_notes": sum(len(g.notes) for g in groups)}
        )
        return
    out = make_console()
    out.print(f"{sum(len(g.notes) for g in groups)} 'no code fits' notes in {len(groups)} groups")
    for g in groups:
        out.print(safe_text(f"[{len(g.notes)}] {g.label}"), markup=False)
        for n in g.notes:
            out.print(safe_text(f"    item {n['item']} {n['unit_id']}: {n['note']}"), markup=False)


def propose_command(codebook_id: str, run_ref: str, out_dir: str | None, as_json: bool) -> None:
    """Body of ``ptmcoder codebook propose ID --from-review RUN``."""
    from ptmcoder.review import open_queue, propose_codebook

    with open_queue(run_ref) as queue:
        result = propose_codebook(codebook_id, queue, out_dir=out_dir)
    data = {
        "path": str(result.path),
        "codebook_id": result.codebook_id,
        "version": result.version,
        "hash": result.hash,
        "proposed_codes": result.codes,
    }
    if as_json:
        print_json(data)
        return
    out = make_console()
    out.print(f"codebook {result.codebook_id} (version {result.version}, {result.hash})")
    out.print(f"  proposed codes: {', '.join(result.codes)}")
    out.print(f"  {result.path}")
