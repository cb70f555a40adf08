"""The run report and the run comparison: Markdown and self-contained HTML.

:func:`report_context` reads a pipeline run's manifest, stage records and stage
outputs (through :mod:`ptmcoder.pipeline.rundir` and :mod:`ptmcoder.runs`, nothing else), and every
number rendered comes from a field of those files; each table names the file it
comes from. :func:`write_report` renders ``report.md`` and ``report.html`` with
Jinja2 (autoescaping on for HTML); charts are PNG files beside ``report.md`` and
``data:`` URIs inside ``report.html``, which carries a Content-Security-Policy that
forbids any request, so opening it contacts no address.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ptmcoder.console import fmt_ci, fmt_number, fmt_p, fmt_pct
from ptmcoder.files import jsonable, write_json, write_text
from ptmcoder.inference.findings import findings_rows
from ptmcoder.pipeline.config import STAGES
from ptmcoder.pipeline.rundir import (
    read_cascade,
    read_stage_output,
    read_stage_record,
    route_audit,
)
from ptmcoder.report import charts, sections
from ptmcoder.runs import Run

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _fmt(value: Any, digits: int = 3) -> str:
    return fmt_number(value, digits, missing="–")


def _ci(low: Any, high: Any, digits: int = 3) -> str:
    return fmt_ci(low, high, digits, missing="")


def _pct(value: Any) -> str:
    return fmt_pct(value, missing="–")


def _pct_ci(low: Any, high: Any) -> str:
    if low is None or high is None:
        return ""
    return f"[{fmt_pct(low)}, {fmt_pct(high)}]"


def _value(value: Any) -> str:
    """A setting as a reader reads it: a list joined, a mapping as ``key: value``, an
    absolute path as its file name (reports are shared), a number formatted."""
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items()) if value else "(none)"
    if isinstance(value, str) and value.startswith("/") and " " not in value:
        return Path(value).name
    return _fmt(value)


def _pval(value: Any) -> str:
    return fmt_p(value, missing="–")


def _short(value: Any) -> str:
    text = str(value or "")
    return text.split(":", 1)[-1][:12] if text else "–"


def _env(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=_fmt, ci=_ci, pct=_pct, pctci=_pct_ci, val=_value, short=_short, pval=_pval
    )
    return env


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _annotate_summary(annotate: dict[str, Any] | None) -> dict[str, Any] | None:
    """The annotate stage's output; a rater of a run written before ``setting``
    existed says zero-shot or supervised from its old ``few_shot`` flag."""
    if annotate is None:
        return None
    for r in annotate.get("raters", []):
        r.setdefault("setting", "supervised" if r.get("few_shot") else "zero-shot")
    return annotate


def _stats_summary(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stats stage's output; a rater-vs-rater test written before paired tests
    existed (an independent chi-square with Cramér's V) is shown as what it was."""
    if stats is None:
        return None
    for t in stats.get("tests") or []:
        if "design" in t:
            continue
        t.update(
            design="independent (written before paired tests)",
            statistic=t.get("chi2"),
            df=t.get("dof"),
            n=f"{t.get('n_a')} vs {t.get('n_b')}",
            bhapkar=None,
            effect={
                "code": None,
                "value": t.get("cramers_v"),
                "ci_low": t.get("ci_low"),
                "ci_high": t.get("ci_high"),
            },
            warnings=[],
            mcnemar=None,
            p_value_monte_carlo=None,
        )
    return stats


def report_context(run_dir: Path) -> dict[str, Any]:
    """Everything the report shows, from the run's files only."""
    run_dir = Path(run_dir)
    manifest = Run(run_dir).manifest().model_dump(mode="json")
    stages = []
    for stage in STAGES:
        if stage == "report":  # this report's own stage: see `sessions` below
            continue
        rec = read_stage_record(run_dir, str(stage))
        stages.append(
            {
                "stage": str(stage),
                "status": (rec or {}).get("status", "not run"),
                "note": (rec or {}).get("note"),
                "input_hash": (rec or {}).get("input_hash"),
                "output_hash": (rec or {}).get("output_hash"),
                "seconds": (rec or {}).get("seconds"),
                "finished_at": (rec or {}).get("finished_at"),
            }
        )
    status = {s["stage"]: s for s in stages}
    # the stage writing this file: done once the file exists (its record follows it)
    stages.append(
        {
            "stage": "report",
            "status": "complete",
            "note": "this report (its stage record is written right after it)",
            "input_hash": None,
            "output_hash": None,
            "seconds": None,
            "finished_at": None,
        }
    )

    def out(stage: str) -> dict[str, Any] | None:
        return read_stage_output(run_dir, stage)

    agree = out("agree")
    if agree:
        agree["pairs"] = sections.annotate_pairs(agree.get("pairs") or [])
        agree["per_code"] = {
            k: sections.annotate_per_code(v) for k, v in (agree.get("per_code") or {}).items()
        }
    annotate = _annotate_summary(out("annotate"))
    stats = _stats_summary(out("stats"))
    dist_tables = []
    if stats:
        for rater, dist in stats.get("distributions", {}).items():
            level = next(iter(dist["levels"]), None)
            table = sections.share_table(dist, level) if level else None
            dist_tables.append({"rater": rater, **dist, "level": level, "table": table})
    taxonomies = []
    if stats:
        for book, dist in stats.get("taxonomies", {}).items():
            top = next(iter(dist["levels"])) if dist.get("levels") else None
            taxonomies.append(
                {
                    "codebook": book,
                    "role": dist.get("role"),
                    "level": top,
                    "rows": [r for r in dist["levels"].get(top, []) if r["units"]] if top else [],
                    "n_coded": dist.get("n_coded"),
                    "untranslated_share": dist.get("untranslated_share"),
                }
            )
    # the report stage's own session and record are still being written while it runs:
    # the report describes every other stage, so that writing it again gives the same file
    sessions = [s for s in manifest.get("stage_sessions", []) if s.get("stage") != "report"]
    study = manifest.get("study") or {}
    config = study.get("config") or {}
    raters = [str(r["rater"]) for r in (annotate or {}).get("raters", [])]
    return {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "run_path": f"{run_dir.parent.name}/{run_dir.name}",
        "manifest": manifest,
        "title": (config.get("report", {}) or {}).get("title") or f"Study {study.get('id')}",
        "study": config.get("study", {}),
        "stages": stages,
        "status": status,
        "import_": out("import"),
        "sample": out("sample"),
        "annotate": annotate,
        "raters": raters,
        "agree": agree,
        "ceiling": sections.human_ceiling(agree),
        "review": sections.review_section(
            out("review"), raters, list((agree or {}).get("humans") or []), run_dir
        ),
        "mapping": out("map"),
        "stats": stats,
        "findings": findings_rows((stats or {}).get("findings")),
        # the cascade's accounting, with the audit as the queue holds it now (decisions
        # made after the study ran count)
        "routing": sections.routing_section(read_cascade(run_dir), route_audit(run_dir)),
        "findings_note": ((stats or {}).get("findings") or {}).get("note"),
        "distributions": dist_tables,
        "taxonomies": taxonomies,
        "sessions": len(sessions),
        "unfinished_sessions": sum(1 for s in sessions if s.get("status") == "running"),
    }


def distribution_series(ctx: dict[str, Any]) -> tuple[list[str], dict[str, list[float]]]:
    """The units-per-code chart's data: every code of every rater's table (special
    codes such as ``unclear`` included) and, per rater, its units per code."""
    dists = [d for d in ctx.get("distributions") or [] if d.get("table")]
    codes = list(dict.fromkeys(r["id"] for d in dists for r in d["table"]["rows"]))
    series: dict[str, list[float]] = {
        d["rater"]: [
            next((r["units"] for r in d["table"]["rows"] if r["id"] == c), 0) for c in codes
        ]
        for d in dists
    }
    return codes, series


def _report_charts(ctx: dict[str, Any]) -> dict[str, bytes]:
    made: dict[str, bytes | None] = {}
    agree = ctx.get("agree") or {}
    pairs = [
        {**p, "label": f"{p['rater_a']} vs {p['rater_b']}"}
        for p in agree.get("pairs", [])
        if p.get("kind") != "human-human"
    ]
    bands = [
        {
            **c,
            "rows": [
                p["label"]
                for p in pairs
                if p["rater_a"] == name and p.get("kind") == "annotator-human"
            ],
            "label": "humans vs humans on the same units (95% CI; agree.json same_unit)",
        }
        for name, c in (ctx.get("ceiling") or {}).items()
    ]
    made["agreement"] = charts.interval_chart(
        pairs,
        label="label",
        value="cohen_kappa",
        low="cohen_kappa_ci_low",
        high="cohen_kappa_ci_high",
        title="Cohen's kappa with 95% bootstrap CI (agree/agree.json)",
        xlabel="Cohen's kappa",
        bands=bands,
    )
    curves = {
        name: {"bins": c.get("bins") or [], "ece": c.get("ece"), "n": c.get("n")}
        for name, c in (agree.get("calibration") or {}).items()
        if not c.get("degenerate")
    }
    if curves:
        n_bins = next(iter((agree.get("calibration") or {}).values())).get("n_bins") or 10
        made["reliability"] = charts.reliability(curves, n_bins=n_bins)
    codes, series = distribution_series(ctx)
    if codes:
        made["distribution"] = charts.grouped_bars(
            codes,
            series,
            title=f"Units per code, every code ({ctx['distributions'][0]['level']}; "
            "stats/stats.json)",
            ylabel="units",
        )
    for i, tax in enumerate(ctx.get("taxonomies") or []):
        made[f"taxonomy{i}"] = charts.hbars(
            [r["name"][:48] for r in tax["rows"]],
            [r["units"] for r in tax["rows"]],
            title=f"{tax['codebook']} ({tax['role']}), {tax['level']}: units",
            xlabel="units",
        )
    stats = ctx.get("stats") or {}
    stats_dir = Path(ctx["run_dir"]) / "stats"
    for analysis in ("popularity", "difficulty", "resolution"):
        for name in (stats.get(analysis) or {}).get("figures") or []:
            png = stats_dir / Path(name).name
            if png.is_file():  # drawn by the stats stage, as `ptmcoder stats` draws it
                made[f"stats_{png.stem}"] = png.read_bytes()
    return {k: v for k, v in made.items() if v is not None}


def write_report(run_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Render ``report.md`` and ``report.html`` (and the chart PNGs) into ``out_dir``
    (default ``runs/<id>/report/``); returns their paths."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = report_context(run_dir)
    pngs = _report_charts(ctx)
    files: dict[str, Path] = {}
    for name, data in pngs.items():
        path = out_dir / f"chart_{name}.png"
        path.write_bytes(data)
        files[f"chart_{name}"] = path
    md = (
        _env(False)
        .get_template("report.md.j2")
        .render(**ctx, charts={k: f"chart_{k}.png" for k in pngs})
    )
    html = (
        _env(True)
        .get_template("report.html.j2")
        .render(**ctx, charts={k: _data_uri(v) for k, v in pngs.items()}, csp=CSP)
    )
    write_text(out_dir / "report.md", md)
    write_text(out_dir / "report.html", html)
    files["report_md"] = out_dir / "report.md"
    files["report_html"] = out_dir / "report.html"
    return files


def _compare_charts(data: dict[str, Any]) -> dict[str, bytes]:
    made: dict[str, bytes | None] = {}
    rows = data["agreement_per_code"]["rows"]
    made["difference"] = charts.interval_chart(
        [{**r, "label": r["code"]} for r in rows],
        label="label",
        value="difference",
        low="difference_ci_low",
        high="difference_ci_high",
        title="kappa(B) - kappa(A) per code, paired bootstrap 95% CI",
    )
    shift = data["distribution_shift"]
    if shift.get("codes"):
        made["shift"] = charts.grouped_bars(
            shift["codes"],
            {data["a"]["label"]: shift["counts_a"], data["b"]["label"]: shift["counts_b"]},
            title="Code assignments of A and B",
            ylabel="assignments",
        )
    return {k: v for k, v in made.items() if v is not None}


#: changed units listed openly per transition; the rest of a group is folded
SHOWN_PER_TRANSITION = 20


def compare_decision(data: dict[str, Any]) -> dict[str, Any]:
    """What a reader of a comparison decides on, from ``compare.json``'s fields: how
    many units changed (a share with its Wilson interval), the codes whose kappa
    against the reference moved beyond chance (paired bootstrap CI excluding 0), the
    cost and time of each side, the distribution-shift test; and the changed units
    grouped by transition, largest first."""
    n, changed = data.get("units_compared") or 0, len(data.get("changed_units") or [])
    low, high = sections.wilson(changed, n)
    rows = data["agreement_per_code"]["rows"]
    moved = [r for r in rows if r.get("verdict") == "significant"]
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for u in data.get("changed_units") or []:
        by_pair.setdefault((u["a"], u["b"]), []).append(u)
    groups = [
        {
            "from": t["from"],
            "to": t["to"],
            "units": t["units"],
            "shown": by_pair.get((t["from"], t["to"]), [])[:SHOWN_PER_TRANSITION],
            "folded": by_pair.get((t["from"], t["to"]), [])[SHOWN_PER_TRANSITION:],
        }
        for t in data.get("transitions") or []
    ]
    cost = data.get("cost") or []
    return {
        "changed": changed,
        "compared": n,
        "share": changed / n if n else None,
        "share_low": low,
        "share_high": high,
        "codes": len(rows),
        "moved": moved,
        "undefined": [r["code"] for r in rows if r.get("verdict") == "undefined"],
        "cost": cost,
        "groups": groups,
        "shown_per_transition": SHOWN_PER_TRANSITION,
    }


def write_compare(result: Any, out_dir: Path) -> dict[str, Path]:
    """Render ``compare.md``, ``compare.html`` and ``compare.json`` of a
    :class:`~ptmcoder.report.compare.CompareResult` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = jsonable(result.to_dict())
    write_json(out_dir / "compare.json", data)
    pngs = _compare_charts(data)
    decision = compare_decision(data)
    files: dict[str, Path] = {"compare_json": out_dir / "compare.json"}
    for name, png in pngs.items():
        (out_dir / f"chart_{name}.png").write_bytes(png)
        files[f"chart_{name}"] = out_dir / f"chart_{name}.png"
    md = (
        _env(False)
        .get_template("compare.md.j2")
        .render(c=data, d=decision, charts={k: f"chart_{k}.png" for k in pngs})
    )
    html = (
        _env(True)
        .get_template("compare.html.j2")
        .render(c=data, d=decision, charts={k: _data_uri(v) for k, v in pngs.items()}, csp=CSP)
    )
    write_text(out_dir / "compare.md", md)
    write_text(out_dir / "compare.html", html)
    files["compare_md"] = out_dir / "compare.md"
    files["compare_html"] = out_dir / "compare.html"
    return files
