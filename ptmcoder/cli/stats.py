"""``ptmcoder stats``: the studies' analyses on any corpus or set of codes.

popularity, difficulty and proportion-test reproduce Tan et al. (SANER 2024)
RQ1-RQ2; distribution counts codes per codebook node (Tan RQ3, Banyongrakkul
RQ1); resolution reproduces Banyongrakkul et al. (2025) RQ2. Tables go to stdout,
progress to stderr, figures to ``--out`` as PNG, and ``--json`` prints the result.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
from rich.table import Table

from ptmcoder.console import fmt_ci, fmt_number, fmt_p, fmt_pct, make_console, print_json
from ptmcoder.errors import PtmcoderError
from ptmcoder.paths import workspace


@click.group()
def stats() -> None:
    """Run the studies' analyses: popularity, difficulty, code distribution and
    resolution time, with tests, effect sizes, tables, PNG figures and JSON."""


from ptmcoder.cli.sample import sample_size  # noqa: E402
from ptmcoder.cli.stats_inference import plan_gold, prevalence  # noqa: E402

stats.add_command(sample_size, "sample-size")
stats.add_command(prevalence, "prevalence")
stats.add_command(plan_gold, "plan-gold")


# -- shared options and rendering ------------------------------------------------


def _out_dir(out: str | None) -> Path:
    return Path(out) if out else workspace() / "reports" / "stats"


def _f(x: float | None, digits: int = 3) -> str:
    return fmt_number(x, digits, missing="-", thousands=True)


def _status(msg: str) -> None:
    make_console(stderr=True).print(msg, highlight=False)


def _rule(ptm_tags: str | None, ptm_column: str | None):
    from ptmcoder.stats.engine import ptm_rule

    tags = [t.strip() for t in ptm_tags.split(",") if t.strip()] if ptm_tags else None
    return ptm_rule(tags, ptm_column)


def _proportion_table(title: str, results) -> Table:
    """Two-proportion tests (one row per continuity correction), n and CI in the cells."""
    a, b = results[0].labels
    table = Table(title=title)
    for col in (
        "continuity correction",
        "chi2",
        "df",
        "p",
        f"{a} (n)",
        f"{b} (n)",
        f"risk difference ({results[0].confidence:.0%} CI)",
        "Cohen's h",
        "phi",
    ):
        table.add_column(col, justify="left" if col == "continuity correction" else "right")
    for r in results:
        table.add_row(
            "Yates" if r.correction else "none",
            _f(r.chi2, 3),
            str(r.df),
            fmt_p(r.p_value),
            f"{r.p1:.3f} ({r.n1:,})",
            f"{r.p2:.3f} ({r.n2:,})",
            f"{r.risk_difference:.3f} ({r.rd_ci_low:.3f}, {r.rd_ci_high:.3f})",
            _f(r.cohens_h),
            _f(r.phi, 4),
        )
    return table


def _summary_table(title: str, first: str, rows) -> Table:
    """n, mean, median, min and max of resolution days per group or theme."""
    table = Table(title=title)
    for col in (first, "n", "mean", "median", "min", "max"):
        table.add_column(col, justify="left" if col == first else "right")
    for s in rows:
        table.add_row(
            s.name, str(s.n), _f(s.mean, 1), _f(s.median, 1), _f(s.minimum, 0), _f(s.maximum, 0)
        )
    return table


def corpus_options(f):
    f = click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="DuckDB worker threads (default: all cores).",
    )(f)
    f = click.option(
        "--memory-limit",
        default="1GB",
        show_default=True,
        help="DuckDB memory cap; aggregations spill to disk past it.",
    )(f)
    f = click.option(
        "--since",
        default=None,
        help="Only units created on or after this date (Tan et al.: 2018-01-01).",
    )(f)
    f = click.option(
        "--ptm-column",
        default=None,
        help="A boolean column of the corpus that marks PTM-related units.",
    )(f)
    f = click.option(
        "--ptm-tags",
        default=None,
        help="Comma-separated tags; a unit is PTM-related if it has any "
        "(default: Tan et al.'s 18 tags, Table I).",
    )(f)
    f = click.option(
        "--corpus",
        "corpus_ref",
        required=True,
        help="Corpus name (corpora/NAME/units.parquet) or a .parquet path.",
    )(f)
    return f


def out_options(f):
    f = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)
    f = click.option(
        "--out",
        default=None,
        help="Directory for the PNG figures (default: <workspace>/reports/stats).",
    )(f)
    return f


def gold_options(f):
    """The annotator's codes and a gold sample that corrects them (PPI++)."""
    f = click.option(
        "--assume-random",
        is_flag=True,
        help="Take a gold file without a design as a uniform random sample (said in the output).",
    )(f)
    f = click.option(
        "--design",
        default=None,
        help="The gold sample's design: unit,inclusion_probability (ptmcoder sample gold).",
    )(f)
    f = click.option(
        "--gold",
        default=None,
        help="Human codes on a random sample (long table unit,code[,inclusion_probability]): "
        "per-code results corrected by PPI++ beside the naive ones.",
    )(f)
    f = click.option("--rater", default=None, help="Whose codes of --run to use.")(f)
    f = click.option(
        "--run",
        "run_ref",
        default=None,
        help="The annotator's codes: a run, or a long table unit,rater,code.",
    )(f)
    return f


def _annotator_codes(run_ref: str, rater: str | None):
    from ptmcoder.inference.inputs import read_annotations

    inputs = read_annotations(run_ref, rater)
    codes = inputs.annotations
    if rater is not None and "rater" in codes.columns:
        codes = codes[codes["rater"] == rater]
        if codes.empty:
            raise PtmcoderError(f"{inputs.source}: no codes from rater {rater!r}")
    return codes, inputs


def _corrected_table(title: str, corrected, digits: int = 3) -> Table:
    """Per code: naive, humans-only and PPI++ estimates with 95% CIs and n, and the
    PPI++ difference from the rest."""
    t = Table(title=title)
    for col in ("code", "n gold", "n annotated", "naive", "humans", "PPI++", "PPI++ - rest"):
        t.add_column(col, justify="left" if col == "code" else "right")

    def cell(iv) -> str:
        return f"{_f(iv.estimate, digits)} {fmt_ci(iv.ci_low, iv.ci_high, digits, missing='-')}"

    for e, vs in zip(corrected.estimates, corrected.versus_rest, strict=True):
        t.add_row(
            e.code,
            f"{e.n_gold_code:,}/{e.n_gold:,}",
            f"{e.n_annotated_code:,}/{e.n_annotated:,}",
            cell(e.naive),
            cell(e.classical),
            cell(e.ppi),
            f"{cell(vs.ppi)} p {fmt_p(vs.p_value['ppi'])}",
        )
    t.caption = f"gold: {corrected.design}; {corrected.method['ppi']}"
    return t


# -- popularity ------------------------------------------------------------------


@stats.command()
@corpus_options
@click.option(
    "--scope",
    type=click.Choice(["ptm", "all"]),
    default="ptm",
    show_default=True,
    help="Count PTM-related units only (as Tan et al.) or every unit.",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="How many of the most frequent tags to follow per year.",
)
@out_options
def popularity(
    corpus_ref, ptm_tags, ptm_column, since, memory_limit, threads, scope, top_k, out, as_json
) -> None:
    """Questions per year and per tag per year (Tan et al. RQ1), with a line chart."""
    from ptmcoder.stats.engine import resolve_corpus
    from ptmcoder.stats.popularity import popularity as run

    path = resolve_corpus(corpus_ref)
    _status(f"popularity: scanning {path}")
    result = run(
        path,
        rule=_rule(ptm_tags, ptm_column),
        scope=scope,
        top_k=top_k,
        since=since,
        memory_limit=memory_limit,
        threads=threads,
    )
    (fig,) = result.draw_figures(_out_dir(out))
    if as_json:
        print_json(result.to_dict())
        return
    console = make_console()
    table = Table(title=f"Units per year ({scope}, n={result.n:,})")
    table.add_column("year", justify="right")
    table.add_column("n", justify="right")
    for tag, _ in result.top_tags:
        table.add_column(tag, justify="right")
    by_tag = {t: dict(rows) for t, rows in result.per_tag_year.items()}
    for year, n in result.per_year:
        table.add_row(
            str(year), f"{n:,}", *[f"{by_tag[t].get(year, 0):,}" for t, _ in result.top_tags]
        )
    console.print(table)
    console.print("top tags: " + ", ".join(f"{t} (n={n:,})" for t, n in result.top_tags))
    console.print(f"figure: {fig}")


# -- difficulty ------------------------------------------------------------------


@stats.command()
@corpus_options
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Per-tag rows for the most frequent PTM tags (Table II shows six).",
)
@click.option(
    "--tag", "tags", multiple=True, help="Report these tags instead of the top k (repeatable)."
)
@gold_options
@out_options
def difficulty(
    corpus_ref,
    ptm_tags,
    ptm_column,
    since,
    memory_limit,
    threads,
    top_k,
    tags,
    run_ref,
    rater,
    gold,
    design,
    assume_random,
    out,
    as_json,
) -> None:
    """%no acc with the proportion test, response time and PD of PTM-related units
    against the rest, per group and per tag (Tan et al. RQ2, Table II); with --run,
    %no acc per challenge category, corrected by --gold."""
    from ptmcoder.inference.outcomes import read_gold_sample
    from ptmcoder.stats.difficulty import difficulty as run
    from ptmcoder.stats.engine import resolve_corpus

    if gold and not run_ref:
        raise PtmcoderError("--gold corrects the annotator's categories: give them with --run")
    categories = _annotator_codes(run_ref, rater)[0] if run_ref else None
    gold_frame, gold_dsn = (
        read_gold_sample(gold, design=design, assume_random=assume_random) if gold else (None, None)
    )
    path = resolve_corpus(corpus_ref)
    _status(f"difficulty: scanning {path}")
    result = run(
        path,
        rule=_rule(ptm_tags, ptm_column),
        since=since,
        top_k=top_k,
        tags=list(tags) or None,
        memory_limit=memory_limit,
        threads=threads,
        categories=categories,
        gold=gold_frame,
        design=gold_dsn,
    )
    result.draw_figures(_out_dir(out))
    if not result.histogram:
        _status("no response-time figure: no question has an accepted answer with a date")
    if as_json:
        print_json(result.to_dict())
        return
    _render_difficulty(result)


def _render_difficulty(result) -> None:
    console = make_console()
    table = Table(title="Difficulty (Tan et al. Table II layout)")
    for col in (
        "group / tag",
        "n",
        "%no acc",
        "n answered",
        "RT mean (min)",
        "RT median (min)",
        "mean answers",
        "mean views",
        "PD",
    ):
        table.add_column(
            col, justify="left" if col == "group / tag" else "right", no_wrap=col == "group / tag"
        )
    for i, row in enumerate([*result.groups, *result.tags]):
        if i == len(result.groups) and result.tags:
            table.add_section()
        table.add_row(
            row.name,
            f"{row.n:,}",
            _f(row.pct_no_acc),
            f"{row.n_response:,}",
            _f(row.rt_mean_min, 0),
            _f(row.rt_median_min, 0),
            _f(row.mean_answers),
            _f(row.mean_views, 1),
            _f(row.pd, 4),
        )
    console.print(table)
    if result.tests:
        console.print(_proportion_table("Proportion test of %no acc, ptm vs non-ptm", result.tests))
        console.print(f"test: {result.tests[0].test}")
        for w in dict.fromkeys(w for t in result.tests for w in t.warnings):
            console.print(f"warning: {w}")
    else:
        console.print("proportion test: needs both PTM-related and other units")
    if result.accepted_without_time:
        console.print(
            f"response time: {result.accepted_without_time:,} accepted answers have no "
            "date (accepted_answer_at), so they are not in the response-time columns; "
            "the Data Explorer export needs a join with the answers for it"
        )
    if result.negative_response_times:
        console.print(
            f"excluded {result.negative_response_times:,} accepted answers dated "
            "before their question"
        )
    if result.categories is not None:
        cats = result.categories
        t = Table(title="%no acc by challenge category (the annotator's codes)")
        for col in ("category", "n", "no acc", "%no acc", "vs rest: chi2 (Yates)", "p"):
            t.add_column(col, justify="left" if col == "category" else "right")
        tests = {x.labels[0]: x for x in cats.tests}
        for row in cats.rows:
            x = tests.get(row.name)
            t.add_row(
                row.name,
                f"{row.n:,}",
                f"{row.no_acc:,}",
                _f(row.pct_no_acc),
                _f(x.chi2) if x else "-",
                fmt_p(x.p_value) if x else "-",
            )
        console.print(t)
        if cats.corrected is not None:
            console.print(_corrected_table("Share without an accepted answer", cats.corrected))
        for note in cats.notes:
            console.print(f"note: {note}")
    for fig in result.figures:
        console.print(f"figure: {fig}")


# -- proportion-test -------------------------------------------------------------


@stats.command("proportion-test")
@click.option(
    "--counts",
    "counts",
    multiple=True,
    required=True,
    help="x/n for a group (give it twice), e.g. --counts 4357/5896 --counts 5780000/10000000.",
)
@click.option(
    "--labels",
    default="group 1,group 2",
    show_default=True,
    help="Comma-separated names of the two groups.",
)
@click.option(
    "--correction",
    type=click.Choice(["none", "yates", "both"]),
    default="both",
    show_default=True,
    help="Yates' continuity correction: off, on, or report both.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def proportion_test(counts, labels, correction, as_json) -> None:
    """Two-proportion chi-square test from counts alone (Tan et al.'s %no acc test)."""
    from ptmcoder.stats.proportion import parse_counts, two_proportion_test

    if len(counts) != 2:
        raise PtmcoderError(f"give --counts exactly twice, got {len(counts)}")
    names = tuple(s.strip() for s in labels.split(","))
    if len(names) != 2:
        raise PtmcoderError("--labels needs two comma-separated names")
    (x1, n1), (x2, n2) = parse_counts(counts[0]), parse_counts(counts[1])
    corrections = {"none": [False], "yates": [True], "both": [False, True]}[correction]
    results = [two_proportion_test(x1, n1, x2, n2, correction=c, labels=names) for c in corrections]
    if as_json:
        print_json({"proportion_tests": [r.to_dict() for r in results]})
        return
    console = make_console()
    console.print(_proportion_table("Two-proportion chi-square test", results))
    console.print(f"test: {results[0].test}")
    for w in dict.fromkeys(w for r in results for w in r.warnings):
        console.print(f"warning: {w}")


# -- distribution ----------------------------------------------------------------


@stats.command()
@click.option("--codebook", "codebook_ref", required=True, help="Codebook id or YAML path.")
@click.option(
    "--annotations",
    default=None,
    help="Run id, run directory or annotations.jsonl with codes per unit.",
)
@click.option(
    "--annotator", default=None, help="Which annotator's records to count when a run holds several."
)
@click.option(
    "--labels",
    default=None,
    help="Long table (CSV/Parquet/JSONL) unit,rater,code or unit,code (translated).",
)
@click.option("--rater", default=None, help="Which rater of --labels to count, e.g. final.")
@click.option(
    "--level", "levels", multiple=True, help="Only these levels (repeatable; default: every level)."
)
@out_options
def distribution(codebook_ref, annotations, annotator, labels, rater, levels, out, as_json) -> None:
    """Count and share of coded units for every codebook node at every level, with
    Banyongrakkul's (challenges, issue reports, codes) triple."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.distribution import coded_units, read_labels
    from ptmcoder.stats.distribution import distribution as run

    if (annotations is None) == (labels is None):
        raise PtmcoderError("give exactly one of --annotations or --labels")
    book = load_codebook(codebook_ref)
    coded = (
        coded_units(annotations, annotator=annotator)
        if annotations
        else read_labels(labels, rater=rater)
    )
    result = run(book, coded)
    status = make_console(stderr=True)
    if coded.note:
        status.print(f"note: {coded.note}", markup=False)
    if result.aliases_applied:
        listed = ", ".join(f"{k} ({n})" for k, n in result.aliases_applied.items())
        status.print(f"note: labels read through codebook {book.id}'s aliases: {listed}")
    if result.unknown_codes:
        listed = ", ".join(f"{c} ({n})" for c, n in sorted(result.unknown_codes.items()))
        status.print(f"note: codes not in codebook {book.id} count at no node: {listed}")
    if levels:
        unknown = [lvl for lvl in levels if lvl not in result.levels]
        if unknown:
            raise PtmcoderError(
                f"unknown level(s) {', '.join(unknown)}",
                hint=f"levels are: {', '.join(book.levels)}",
            )
        result.levels = {k: v for k, v in result.levels.items() if k in levels}
    result.draw_figures(_out_dir(out))
    if as_json:
        print_json(result.to_dict())
        return
    _render_distribution(result)


def _render_distribution(result) -> None:
    console = make_console()
    for level, rows in result.levels.items():
        table = Table(title=f"{result.codebook}: {level} (n coded units = {result.n_coded})")
        numeric = ("units", "share", "challenges", "share of codings", "codes")
        for col in ("id", "name", "parent", "units", "share", "challenges", "share of codings"):
            table.add_column(col, justify="right" if col in numeric else "left")
        table.add_column("codes", justify="right")
        for r in sorted(rows, key=lambda r: (-r.units, r.id)):
            table.add_row(
                r.id,
                r.name,
                r.parent or "",
                str(r.units),
                f"{100 * r.share:.1f}%" if not math.isnan(r.share) else "-",
                str(r.challenges),
                fmt_pct(r.share_of_codings, missing="-"),
                str(r.codes),
            )
        console.print(table)
    if result.special:
        table = Table(title=f"special codes (share of {result.n_records} units with a record)")
        for col in ("id", "name", "units", "share"):
            table.add_column(col)
        for r in result.special:
            table.add_row(
                r.id,
                r.name,
                str(r.units),
                f"{100 * r.share:.1f}%" if not math.isnan(r.share) else "-",
            )
        console.print(table)
    console.print(result.denominator)
    if result.n_failed:
        console.print(f"failed records not counted: {result.n_failed}")
    for fig in result.figures:
        console.print(f"figure: {fig}")


# -- resolution ------------------------------------------------------------------


@stats.command()
@click.option(
    "--corpus",
    "corpus_ref",
    required=True,
    help="GitHub corpus name or .parquet path (state, created_at, closed_at, project).",
)
@click.option(
    "--ptm-labels",
    default=None,
    help="Comma-separated GitHub labels; an issue with any of them is PTM-related.",
)
@click.option(
    "--ptm-column",
    default=None,
    help="A boolean column of the corpus that marks PTM-related issues.",
)
@click.option(
    "--ptm-ids",
    default=None,
    help="File of PTM-related unit ids (one per line, or CSV with a unit/id column).",
)
@click.option(
    "--themes",
    default=None,
    help="Long table unit,code (CSV/Parquet); codes lifted to themes by --codebook.",
)
@click.option(
    "--codebook",
    "codebook_ref",
    default=None,
    help="Codebook of the --themes codes (top level = theme, next = sub-theme).",
)
@click.option(
    "--issue-types",
    default=None,
    help="A corpus column, or a file unit,issue_type, for the independence test.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the balanced stratified sample.",
)
@click.option(
    "--yates/--no-yates",
    default=True,
    show_default=True,
    help="Yates' correction in the issue-type test (acts on 2x2 tables only).",
)
@gold_options
@out_options
def resolution(
    corpus_ref,
    ptm_labels,
    ptm_column,
    ptm_ids,
    themes,
    codebook_ref,
    issue_types,
    seed,
    yates,
    run_ref,
    rater,
    gold,
    design,
    assume_random,
    out,
    as_json,
) -> None:
    """Resolution time in days of PTM-related vs other issues (Banyongrakkul et al.
    RQ2): balanced sample, one-sided Mann-Whitney U, Kruskal-Wallis across themes,
    chi-square on issue types, effect sizes, box plots."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.engine import resolve_corpus
    from ptmcoder.stats.resolution import load_issues, read_gold_themes, read_themes, theme_table
    from ptmcoder.stats.resolution import resolution as run

    if themes and run_ref:
        raise PtmcoderError("give the themes once: --themes FILE or --run RUN")
    annotated = _annotator_codes(run_ref, rater) if run_ref else None
    if annotated is not None and not codebook_ref:
        codebook_ref = annotated[1].codebook
    if (themes or run_ref) and not codebook_ref:
        raise PtmcoderError("--themes needs --codebook to lift codes to themes")
    if gold and not (themes or run_ref):
        raise PtmcoderError("--gold corrects the annotator's themes: give --themes or --run")
    path = resolve_corpus(corpus_ref)
    labels = [t.strip() for t in ptm_labels.split(",") if t.strip()] if ptm_labels else None
    df, type_col = load_issues(
        path,
        ptm_labels=labels,
        ptm_column=ptm_column,
        ptm_ids=Path(ptm_ids) if ptm_ids else None,
        issue_types=issue_types,
    )
    theme_df = read_themes(Path(themes), load_codebook(codebook_ref)) if themes else None
    if annotated is not None:
        theme_df = theme_table(annotated[0], load_codebook(codebook_ref))
    gold_themes, gold_dsn = (
        read_gold_themes(
            Path(gold),
            load_codebook(codebook_ref),
            design=Path(design) if design else None,
            assume_random=assume_random,
        )
        if gold
        else (None, None)
    )
    _status(f"resolution: {len(df):,} units from {path}")
    result = run(
        df,
        source=str(path),
        themes=theme_df,
        issue_type_col=type_col,
        seed=seed,
        chi2_correction=yates,
        gold_themes=gold_themes,
        design=gold_dsn,
    )
    result.draw_figures(_out_dir(out))
    for note in result.notes:
        _status(f"note: {note}")
    if as_json:
        print_json(result.to_dict())
        return
    _render_resolution(result)


def _render_resolution(result) -> None:
    console = make_console()
    console.print(
        _summary_table(
            "Resolution time (days, same day = 0), balanced sample", "group", result.groups
        )
    )
    t = Table(title="Tests")
    for col in ("test", "statistic", "df", "p", "n per group", "effect size (95% CI)"):
        t.add_column(col)
    mw = result.mann_whitney
    c = mw.cliffs
    t.add_row(
        "Mann-Whitney U, one-sided (PTM > non-PTM)",
        f"U = {mw.u:,.1f}",
        "",
        fmt_p(mw.p_value),
        f"ptm {mw.n_x}, non-ptm {mw.n_y}",
        f"Cliff's d = {c.delta:.3f} ({c.ci_low:.3f}, {c.ci_high:.3f}), {c.magnitude}; "
        f"rank-biserial r = {mw.rank_biserial:.3f}",
    )
    if result.kruskal:
        k = result.kruskal
        t.add_row(
            "Kruskal-Wallis H across themes",
            f"H = {k.h:.3f}",
            str(k.df),
            fmt_p(k.p_value),
            ", ".join(f"{g} {n}" for g, n in k.n.items()),
            f"epsilon^2 = {k.epsilon_squared:.3f}",
        )
    if result.issue_types:
        it = result.issue_types
        t.add_row(
            "chi-square independence of issue types "
            f"({'Yates' if it.correction else 'no correction'})",
            f"chi2 = {it.chi2:.3f}",
            str(it.df),
            fmt_p(it.p_value),
            ", ".join(f"{g} {n}" for g, n in it.n.items()),
            f"Cramér's V = {it.cramers_v:.3f}",
        )
    console.print(t)
    for title, rows in (("Themes", result.themes), ("Sub-themes", result.sub_themes)):
        if rows:
            console.print(
                _summary_table(
                    f"{title}: resolution time of closed PTM-related issues (days)", "theme", rows
                )
            )
    if result.corrected is not None:
        console.print(
            _corrected_table("Themes: mean resolution days, corrected", result.corrected, 1)
        )
    console.print(
        f"closed issues: ptm {result.n_closed['ptm']}, non-ptm "
        f"{result.n_closed['non-ptm']}; sample seed {result.sample_record.get('seed')}"
    )
    for fig in result.figures:
        console.print(f"figure: {fig}")
