"""What the review queue produces: its status (with the audit sample's error
estimate and the adjudicators' agreement), the conflicts between adjudicators,
the adjudicated gold labels, the "no code fits" notes grouped by similarity and
a proposed new codebook version."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.errors import PtmcoderError
from ptmcoder.review.actions import DECIDED_RULE, Queue, progress_by_adjudicator
from ptmcoder.review.store import DECIDING, Action, Decision, Item

ADJUDICATED = "adjudicated"
EXPORT_COLUMNS = (
    "unit",
    "rater",
    "code",
    "item",
    "decision",
    "adjudicator",
    "decided_at",
    "action",
    "source_rater",
    "note",
    "reasons",
    "run_id",
    "sample",
    "inclusion_probability",
)


def _outcome(d: Decision) -> tuple:
    """What a decision says, for comparing adjudicators."""
    if d.action is Action.REJECT:
        return ("<reject>",)
    if d.action is Action.NO_FIT:
        return ("<no code fits>",)
    if d.action is Action.CHANGE_RELATION or (d.predicate and not d.codes):
        return (d.predicate or "",)
    return tuple(sorted(d.codes or []))


def decided(queue: Queue) -> dict[int, list[Decision]]:
    """item -> the deciding decisions in force, one per adjudicator."""
    out: dict[int, list[Decision]] = {}
    for (item_id, _), d in sorted(queue.store.current().items(), key=lambda kv: kv[1].id):
        if d.action in DECIDING:
            out.setdefault(item_id, []).append(d)
    return out


# -- status ------------------------------------------------------------------------


@dataclass
class AuditEstimate:
    """Share of audited (unquestioned) units whose agreed codes the adjudicator
    changed or rejected, with its Wilson score interval."""

    n: int
    errors: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    sampled: int
    population: int | None
    ci_method: str = "Wilson score interval, 95% (statsmodels proportion_confint)"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Status:
    run_id: str
    queue: str
    items: int
    by_state: dict[str, int]
    by_reason: dict[str, dict[str, int]]
    adjudicators: dict[str, int]
    audit: AuditEstimate
    adjudicator_agreement: dict[str, Any] | None
    conflicts: int
    notes: list[str] = field(default_factory=list)
    #: per adjudicator: items decided, skipped and left in their own queue
    by_adjudicator: dict[str, dict[str, int]] = field(default_factory=dict)
    #: what "decided" means in ``by_state`` and in each adjudicator's queue
    decided_means: str = DECIDED_RULE

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "queue": self.queue,
            "items": self.items,
            "by_state": self.by_state,
            "by_reason": self.by_reason,
            "adjudicators": self.adjudicators,
            "audit": self.audit.to_json(),
            "adjudicator_agreement": self.adjudicator_agreement,
            "conflicts": self.conflicts,
            "notes": self.notes,
            "by_adjudicator": self.by_adjudicator,
            "decided_means": self.decided_means,
        }


def wilson(errors: int, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (Wilson 1927), from statsmodels."""
    if n == 0:
        return None, None
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(errors, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def _audit_population(items: list[Item]) -> int | None:
    for item in items:
        for r in item.reasons:
            if r["reason"] == "audit":
                m = re.search(r"of (\d+) units", r.get("detail", ""))
                if m:
                    return int(m.group(1))
    return None


def audit_estimate(
    queue: Queue, items: list[Item], done: dict[int, list[Decision]]
) -> AuditEstimate:
    """An audited item is an error when its latest decision differs from the codes
    every rater agreed on (rejected, no code fits, or other codes)."""
    audited = [i for i in items if "audit" in i.reason_names]
    n = errors = 0
    for item in audited:
        ds = done.get(item.id)
        if not ds:
            continue
        n += 1
        latest = max(ds, key=lambda d: d.id)
        agreed = tuple(sorted(item.detail.get("proposal") or []))
        if _outcome(latest) != agreed:
            errors += 1
    low, high = wilson(errors, n)
    return AuditEstimate(
        n=n,
        errors=errors,
        rate=errors / n if n else None,
        ci_low=low,
        ci_high=high,
        sampled=len(audited),
        population=_audit_population(audited),
    )


def adjudicator_agreement(
    done: dict[int, list[Decision]], *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any] | None:
    """Agreement of the adjudicators on the items two or more of them decided
    (Cohen's kappa for two adjudicators, Fleiss' kappa for more; decisions compared
    as code sets, reject and no-code-fits as categories), from :mod:`ptmcoder.agreement`."""
    rows = []
    for item_id, ds in done.items():
        if len(ds) < 2:
            continue
        for d in ds:
            rows.append((str(item_id), d.adjudicator, "|".join(_outcome(d))))
    if not rows:
        return None
    from ptmcoder.agreement import agreement

    long = pd.DataFrame(rows, columns=["unit", "rater", "code"]).astype("string")
    n_adj = long["rater"].nunique()
    metric = "cohen_kappa" if n_adj == 2 else "fleiss_kappa"
    try:
        coef = agreement(long, metrics=[metric, "percent_agreement"], n_boot=n_boot, seed=seed)
    except PtmcoderError as exc:
        return {"metric": metric, "value": None, "n": long["unit"].nunique(), "note": exc.message}
    out = {"metric": metric, **coef[metric].to_json()}
    out["percent_agreement"] = coef["percent_agreement"].value
    out["adjudicators"] = sorted(long["rater"].unique())
    return out


def conflicts(queue: Queue) -> list[dict[str, Any]]:
    """Items where adjudicators' decisions in force differ."""
    out = []
    items = {i.id: i for i in queue.store.items()}
    for item_id, ds in sorted(decided(queue).items()):
        if len({_outcome(d) for d in ds}) > 1:
            item = items[item_id]
            out.append(
                {
                    "item": item_id,
                    "unit_id": item.unit_id,
                    "kind": item.kind,
                    "decisions": [
                        {
                            "adjudicator": d.adjudicator,
                            "action": str(d.action),
                            "outcome": list(_outcome(d)),
                            "decided_at": d.decided_at,
                            "note": d.note,
                        }
                        for d in ds
                    ],
                }
            )
    return out


def status(queue: Queue, *, n_boot: int = 1000, seed: int = 0) -> Status:
    """Counts by state and reason, per adjudicator, the audit estimate, the
    adjudicators' agreement and the number of conflicts. An item is ``decided`` in
    ``by_state`` when at least one adjudicator decided it, while it stays in the queue
    of every adjudicator who has not (:data:`~ptmcoder.review.actions.DECIDED_RULE`):
    ``by_adjudicator`` gives what each has decided, skipped and left, and a note says
    the rule whenever anyone has acted."""
    items = queue.store.items()
    done = decided(queue)
    current = queue.store.current()
    skipped_items = {item_id for (item_id, _), d in current.items() if d.action is Action.SKIP}
    by_state: Counter[str] = Counter()
    by_reason: dict[str, Counter[str]] = {}
    for item in items:
        state = (
            "decided" if item.id in done else "skipped" if item.id in skipped_items else "pending"
        )
        by_state[state] += 1
        for name in item.reason_names:
            by_reason.setdefault(name, Counter())[state] += 1
    adjudicators: Counter[str] = Counter(d.adjudicator for ds in done.values() for d in ds)
    n_conflicts = len(conflicts(queue))
    notes = []
    if n_conflicts:
        notes.append(
            f"{n_conflicts} item(s) decided differently by adjudicators (review conflicts)"
        )
    who = sorted({adjudicator for (_, adjudicator) in current})
    mine = progress_by_adjudicator(items, current, who)
    by_adjudicator = {
        w: {"decided": p.done, "skipped": p.skipped, "left": p.left} for w, p in mine.items()
    }
    if who:
        left = ", ".join(f"{w} {p.left}" for w, p in mine.items())
        notes.append(
            f"decided: by at least one adjudicator; {DECIDED_RULE.split(':')[0]}, so "
            f"`review next` shows an item until that adjudicator decides it "
            f"(left per adjudicator: {left})"
        )
    return Status(
        run_id=queue.run.id,
        queue=str(queue.path),
        items=len(items),
        by_state={k: by_state.get(k, 0) for k in ("pending", "skipped", "decided")},
        by_reason={k: dict(v) for k, v in sorted(by_reason.items())},
        adjudicators=dict(sorted(adjudicators.items())),
        audit=audit_estimate(queue, items, done),
        adjudicator_agreement=adjudicator_agreement(done, n_boot=n_boot, seed=seed),
        conflicts=n_conflicts,
        notes=notes,
        by_adjudicator=by_adjudicator,
    )


# -- export ------------------------------------------------------------------------


@dataclass
class Export:
    table: pd.DataFrame
    units: int
    conflicts: list[int]
    without_codes: int

    def to_records(self) -> list[dict[str, Any]]:
        return self.table.astype(object).where(self.table.notna(), None).to_dict("records")


def _design(item: Item) -> dict[str, Any]:
    """How the unit came to be adjudicated: ``sample`` is ``audit`` (a seeded random
    draw from the units nobody questioned, with its ``inclusion_probability``) or
    ``queue`` (chosen for a reason: disagreement, low confidence, ...; not a random
    sample, so no probability)."""
    for r in item.reasons:
        if r.get("reason") == "audit":
            return {"sample": "audit", "inclusion_probability": r.get("inclusion_probability")}
    return {"sample": "queue", "inclusion_probability": None}


def export(queue: Queue, *, adjudicator: str | None = None) -> Export:
    """The adjudicated gold labels as a long table ``unit, rater=adjudicated, code``
    with provenance columns (item, decision, adjudicator, time, action, the rater
    whose codes were accepted, note, reasons, run) and the unit's design: ``sample``
    (``audit`` or ``queue``) and, for the audit sample, its ``inclusion_probability``
    (:func:`_design`). Only decided unit items whose
    decision carries codes; items the adjudicators decided differently are left
    out and listed in ``conflicts`` (unless ``adjudicator`` picks whose decisions
    to export)."""
    items = {i.id: i for i in queue.store.items()}
    rows = []
    conflicted: list[int] = []
    without = 0
    for item_id, ds in sorted(decided(queue).items()):
        item = items[item_id]
        if item.kind != "unit":
            continue
        if adjudicator is not None:
            ds = [d for d in ds if d.adjudicator == adjudicator]
            if not ds:
                continue
        if len({_outcome(d) for d in ds}) > 1:
            conflicted.append(item_id)
            continue
        d = max(ds, key=lambda x: x.id)
        if not d.codes:
            without += 1
            continue
        for code in d.codes:
            rows.append(
                {
                    "unit": item.unit_id,
                    "rater": ADJUDICATED,
                    "code": code,
                    "item": item_id,
                    "decision": d.id,
                    "adjudicator": ",".join(sorted({x.adjudicator for x in ds})),
                    "decided_at": d.decided_at,
                    "action": str(d.action),
                    "source_rater": ",".join(sorted({x.rater for x in ds if x.rater})) or None,
                    "note": d.note,
                    "reasons": ";".join(item.reason_names),
                    "run_id": queue.run.id,
                    **_design(item),
                }
            )
    table = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    return Export(table, table["unit"].nunique(), conflicted, without)


def write_export(result: Export, path: str | Path | None, fmt: str) -> str:
    """The export as CSV or JSON lines; written to ``path`` or returned as text."""
    if fmt == "csv":
        text = result.table.to_csv(index=False)
    elif fmt == "jsonl":
        import json

        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.to_records())
    else:
        raise PtmcoderError(f"unknown export format {fmt!r}", hint="use csv or jsonl")
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# -- new codes -----------------------------------------------------------------------


@dataclass
class NoteGroup:
    label: str
    notes: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "size": len(self.notes), "notes": self.notes}


def new_codes(queue: Queue, *, threshold: float = 0.25) -> list[NoteGroup]:
    """The "no code fits" notes in force, grouped by similarity: TF-IDF vectors of
    the notes (scikit-learn), linked when their cosine similarity is at least
    ``threshold``; a group is a connected component. Largest groups first; each is
    labelled by its most weighted terms."""
    items = {i.id: i for i in queue.store.items()}
    notes = []
    for item_id, ds in sorted(decided(queue).items()):
        for d in ds:
            if d.action is Action.NO_FIT and d.note:
                item = items[item_id]
                unit = item.detail.get("unit", {})
                notes.append(
                    {
                        "note": d.note,
                        "item": item_id,
                        "unit_id": item.unit_id,
                        "title": unit.get("title", ""),
                        "url": unit.get("url", ""),
                        "adjudicator": d.adjudicator,
                        "decided_at": d.decided_at,
                    }
                )
    if not notes:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    texts = [n["note"] for n in notes]
    try:
        vec = TfidfVectorizer(stop_words="english").fit(texts)
        matrix = vec.transform(texts)
        sim = cosine_similarity(matrix)
        terms = vec.get_feature_names_out()
    except ValueError:  # only stop words
        sim, terms, matrix = None, None, None
    parent = list(range(len(notes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if sim is not None:
        for i in range(len(notes)):
            for j in range(i + 1, len(notes)):
                if sim[i, j] >= threshold:
                    parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(notes)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        if matrix is not None:
            weights = matrix[members].sum(axis=0).A1
            top = [terms[k] for k in weights.argsort()[::-1][:3] if weights[k] > 0]
            label = " ".join(top) or notes[members[0]]["note"][:40]
        else:
            label = notes[members[0]]["note"][:40]
        out.append(NoteGroup(label, [notes[i] for i in members]))
    return sorted(out, key=lambda g: (-len(g.notes), g.label))


# -- codebook proposal -----------------------------------------------------------------


@dataclass
class Proposal:
    path: Path
    codebook_id: str
    version: str
    hash: str
    codes: list[str]


def _bump(version: str) -> str:
    parts = version.split(".")
    if parts and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return version + ".1"


def propose_codebook(
    codebook_ref: str, queue: Queue, *, out_dir: str | Path | None = None
) -> Proposal:
    """A new version of the codebook with one proposed code per group of "no code
    fits" notes (:func:`new_codes`): a top-level node (to be placed in the tree
    by the researchers), provenance ``reconstructed``, its notes as include
    criteria and its units as examples, and a note naming the run, items and
    adjudicators. Written to
    ``<workspace>/codebooks/<id>-v<version>.yaml`` (a new file and hash; the
    original is untouched)."""
    import yaml

    from ptmcoder.codebook import codebook_hash, load_codebook, parse_codebook
    from ptmcoder.paths import workspace

    book = load_codebook(codebook_ref)
    groups = new_codes(queue)
    if not groups:
        raise PtmcoderError(
            f"the review of run {queue.run.id} has no 'no code fits' notes to propose codes from",
            hint="mark items with 'no code fits' and a note (key n, or review decide --no-fit)",
        )
    version = _bump(book.version)
    new_id = f"{book.id}-v{version}"
    data = book.model_dump(mode="json", exclude_none=True)
    data["id"] = new_id
    data["version"] = version
    taken = set(book.index())
    proposed = []
    for k, group in enumerate(groups, start=1):
        slug = re.sub(r"[^a-z0-9]+", "-", group.label.lower()).strip("-") or "code"
        code_id = f"proposed-{slug}"
        while code_id in taken:
            code_id = f"proposed-{slug}-{k}"
        taken.add(code_id)
        proposed.append(code_id)
        data["nodes"].append(
            {
                "id": code_id,
                "name": f"Proposed: {group.label}",
                "definition": group.notes[0]["note"],
                "include": sorted({n["note"] for n in group.notes}),
                "examples": [
                    {
                        "description": n["title"] or n["unit_id"] or f"item {n['item']}",
                        **({"url": n["url"]} if n["url"] else {}),
                        "source": f"review of run {queue.run.id}, item {n['item']}, "
                        f"{n['adjudicator']} {n['decided_at']}",
                    }
                    for n in group.notes
                ],
                "provenance": "reconstructed",
            }
        )
    data.setdefault("notes", []).append(
        f"Version {version} proposed from the review of run {queue.run.id}: "
        f"{len(proposed)} candidate code(s) ({', '.join(proposed)}) from 'no code fits' notes "
        f"grouped by similarity; they are top-level nodes until placed in the tree. Based on "
        f"{book.id} {book.version} ({codebook_hash(book)})."
    )
    new_book = parse_codebook(data, f"proposal for {new_id}")
    directory = Path(out_dir) if out_dir else workspace() / "codebooks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{new_id}.yaml"
    if path.exists():
        raise PtmcoderError(f"{path} exists", hint="remove it or pass another --out directory")
    path.write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )
    return Proposal(path, new_id, version, codebook_hash(new_book), proposed)
