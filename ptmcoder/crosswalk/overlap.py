"""Coverage of one codebook by another through their crosswalk (per node: the share of
codes with a positive mapping, nodes a paper says are new), and its chart in the style of
Banyongrakkul et al. Fig. 4."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmcoder.crosswalk.io import load_codebook, load_mapping_set, set_files
from ptmcoder.crosswalk.model import Evidence, Mapping, Status
from ptmcoder.errors import NotFoundError, PtmcoderError


@dataclass
class NodeCoverage:
    id: str
    name: str
    level: str
    n_codes: int
    n_covered: int
    status: str  # overlap | new | contested | unmapped
    rows: list[Mapping]

    @property
    def share(self) -> float:
        return self.n_covered / self.n_codes if self.n_codes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "level": self.level,
            "codes": self.n_codes,
            "covered": self.n_covered,
            "share": round(self.share, 4),
            "status": self.status,
            "rows": [
                {
                    "record_id": m.record_id,
                    "subject_id": m.subject_id,
                    "predicate_id": m.predicate_id,
                    "object_id": m.object_id,
                    "status": m.status.value,
                    "comment": m.comment,
                }
                for m in self.rows
            ],
        }


@dataclass
class CoverageResult:
    a: str
    b: str
    evidence: Evidence
    levels: list[str]
    nodes: list[NodeCoverage]
    file: str

    def new(self) -> list[NodeCoverage]:
        return [n for n in self.nodes if n.status == "new"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.a,
            "target": self.b,
            "file": self.file,
            "evidence": self.evidence.value,
            "levels": self.levels,
            "statuses": {
                "overlap": "a code in the node has a positive mapping into the target",
                "new": "a stated or reviewed row says the node has no counterpart",
                "contested": "the texts pull two ways (stated NoTermFound and a positive pair)",
                "unmapped": "no row: the texts are silent",
            },
            "nodes": [n.to_dict() for n in self.nodes],
            "new": [n.id for n in self.new()],
        }


def coverage(
    a: str,
    b: str,
    level: str | None = None,
    reviewed_only: bool = False,
    include_suggestions: bool = False,
) -> CoverageResult:
    """For each node of A at ``level`` (every level above the leaves when None): the share of
    its leaf codes with a positive mapping into B, and a status naming the rows behind it.
    Counted rows: what papers state and reviewers decided (``reviewed_only``: decisions only;
    ``include_suggestions``: also suggestions and contested pairs)."""
    evidence = Evidence.from_flags(reviewed_only, include_suggestions)
    ms = load_mapping_set((a, b))
    book = load_codebook(a)
    index = book.index()
    if level is None:
        levels = book.levels[:-1] or book.levels
    else:
        book.level_index(level) if level not in ("leaf", "leaves") else None
        levels = [level]
    allowed = evidence.statuses
    by_subject: dict[str, list[Mapping]] = {}
    for m in ms.mappings:
        if m.subject_code:
            by_subject.setdefault(m.subject_code, []).append(m)
    nodes: list[NodeCoverage] = []
    for lvl in levels:
        for node in book.tree_nodes(lvl):
            subtree = [node.id] + [
                code
                for code, info in index.items()
                if node.id in info.ancestors and not info.special
            ]
            leaves = [c for c in subtree if index[c].node.is_leaf]
            up = [node.id, *index[node.id].ancestors]
            positive = [
                m
                for c in subtree
                for m in by_subject.get(c, [])
                if m.positive and m.status in allowed
            ]
            covered = {
                c
                for c in leaves
                if any(m.positive and m.status in allowed for m in by_subject.get(c, []))
            }
            nf_statuses = allowed | ({Status.CONTESTED} if Status.STATED in allowed else set())
            nf = [
                m
                for c in up
                for m in by_subject.get(c, [])
                if m.no_term and not m.negated and m.status in nf_statuses
            ]
            contested = [
                m for c in subtree for m in by_subject.get(c, []) if m.status is Status.CONTESTED
            ]
            if contested and nf:
                status = "contested"
            elif positive:
                status = "overlap"
            elif nf:
                status = "new"
            else:
                status = "unmapped"
            rows: list[Mapping] = []
            seen: set[int] = set()
            for m in [*positive, *nf, *contested]:
                if id(m) not in seen:
                    seen.add(id(m))
                    rows.append(m)
            nodes.append(
                NodeCoverage(node.id, node.name, lvl, len(leaves), len(covered), status, rows)
            )
    return CoverageResult(a, b, evidence, levels, nodes, str(ms.path))


def coverage_targets(a: str) -> list[str]:
    """Codebooks that have a crosswalk with A (either direction)."""
    out = []
    for x, y in sorted(set_files()):
        if x == a:
            out.append(y)
        elif y == a:
            out.append(x)
    return list(dict.fromkeys(out))


# Figure 4 of Banyongrakkul et al.: red Humbatova, blue Lai, yellow Tan, green Taraghi.
FIG4_COLOURS = {
    "humbatova2020": "#d62728",
    "lai": "#1f77b4",
    "tan2024": "#e6c619",
    "taraghi": "#2ca02c",
}


def coverage_figure(results: list[CoverageResult], level: str) -> Any:
    """The figure of :func:`coverage_chart`: per node of A, one bar per target taxonomy
    whose length is the share of the node's codes that overlap it (0-100%, the axis's
    range); the status of a node without overlap (new, contested, no row) is written in
    its label, never drawn as a bar. Labels sit right of the axes, the legend below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not results:
        raise PtmcoderError("no coverage to draw")
    nodes = [n for n in results[0].nodes if n.level == level]
    n_targets = len(results)
    height = max(3.0, 0.32 * len(nodes) * max(1, n_targets) + 1.6)
    fig, ax = plt.subplots(figsize=(9, height))
    bar_h = 0.8 / n_targets
    palette = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    handles = []
    label_at = ax.get_yaxis_transform()  # x in axes fractions, y in data
    for t, result in enumerate(results):
        by_id = {n.id: n for n in result.nodes if n.level == level}
        colour = FIG4_COLOURS.get(result.b, palette[t % len(palette)])
        for i, node in enumerate(nodes):
            cov = by_id[node.id]
            y = i + t * bar_h
            ax.barh(y, cov.share * 100, height=bar_h * 0.9, color=colour, gid="share")
            mark = {"new": "new", "contested": "contested", "unmapped": "no row"}.get(
                cov.status, ""
            )
            text = f"{result.b}: {cov.share:.0%} ({cov.n_covered} of {cov.n_codes}) {mark}"
            ax.text(1.01, y, text.strip(), transform=label_at, va="center", fontsize=7)
        handles.append(Patch(facecolor=colour, label=f"{result.b}: share of codes overlapping"))
    ax.set_yticks([i + bar_h * (n_targets - 1) / 2 for i in range(len(nodes))])
    ax.set_yticklabels([f"{n.name} ({n.n_codes})" for n in nodes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xticklabels([f"{x}%" for x in range(0, 101, 20)])
    ax.set_xlabel("share of the node's codes overlapping the target taxonomy")
    ax.set_title(f"{results[0].a}: overlap per {level} (evidence: {results[0].evidence.value})")
    ax.legend(
        handles=handles,
        title="labels: new = stated without counterpart; no row = the texts are silent",
        title_fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=2,
        fontsize=8,
    )
    return fig


def coverage_chart(results: list[CoverageResult], path: str | Path, level: str) -> Path:
    """A PNG in the style of Banyongrakkul et al. Fig. 4 (:func:`coverage_figure`),
    cropped to everything drawn (labels and legend included)."""
    import matplotlib.pyplot as plt

    fig = coverage_figure(results, level)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def coverage_many(
    a: str,
    targets: Sequence[str] | None = None,
    level: str | None = None,
    reviewed_only: bool = False,
    include_suggestions: bool = False,
) -> list[CoverageResult]:
    """:func:`coverage` of A into each target (default: every codebook with a crosswalk to A)."""
    targets = list(targets) if targets else coverage_targets(a)
    if not targets:
        raise NotFoundError(
            f"no crosswalk involves {a!r}", hint=f"start one with `ptmcoder map suggest {a} B`"
        )
    return [coverage(a, b, level, reviewed_only, include_suggestions) for b in targets]
