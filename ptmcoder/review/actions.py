"""What an adjudicator can do to an item: the functions behind every key of the
review app and every scriptable twin (``ptmcoder review next|decide|accept|...``).

Each action is one committed row in the queue's SQLite store
(:mod:`ptmcoder.review.store`), so an action that returned has been saved.
"""

from __future__ import annotations

import difflib
import getpass
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ptmcoder.errors import NotFoundError, Problem, PtmcoderError, ValidationError
from ptmcoder.review.store import DECIDING, Action, Decision, Item, ReviewStore, open_store
from ptmcoder.runs import Run, resolve_run, utcnow

#: SSSOM predicates a reviewer may choose for a mapping
PREDICATES = (
    "skos:exactMatch",
    "skos:closeMatch",
    "skos:broadMatch",
    "skos:narrowMatch",
    "skos:relatedMatch",
)


def default_adjudicator() -> str:
    """``$PTMCODER_ADJUDICATOR``, else the login name."""
    name = os.environ.get("PTMCODER_ADJUDICATOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no user database entry
        return "adjudicator"


@dataclass
class Queue:
    """A run's review queue: the run, its codebook and the store."""

    run: Run
    store: ReviewStore

    @property
    def path(self) -> Path:
        return self.store.path

    @cached_property
    def codebook(self):
        from ptmcoder.codebook import load_codebook

        config = self.run.coding_manifest().config.model_dump(mode="json")
        ref = config.get("codebook") or config.get("codebook_id")
        if not ref:
            raise NotFoundError(f"run {self.run.id}'s manifest names no codebook")
        return load_codebook(ref)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_queue(run_ref: str) -> Queue:
    """The queue of run ``run_ref`` (built with :func:`~ptmcoder.review.build.build_queue`)."""
    from ptmcoder.review.store import queue_path

    run = resolve_run(run_ref)
    path = queue_path(run)
    if not path.exists():
        raise NotFoundError(
            f"run {run.id} has no review queue yet",
            hint=f"build it: ptmcoder review build {run.id}",
        )
    return Queue(run=run, store=open_store(path))


#: the largest item number SQLite can hold (a signed 64-bit integer)
MAX_ITEM = 2**63 - 1


def get_item(queue: Queue, ref: str | int) -> Item:
    """An item by its number or, for unit items, by unit id."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit():
        # SQLite integers are 64-bit: a larger number cannot be an item (and would
        # overflow the query; past 4,300 digits int() itself refuses), so it is not found
        number = int(text) if len(text) <= 19 else MAX_ITEM + 1
        item = queue.store.item(number) if number <= MAX_ITEM else None
    else:
        item = queue.store.item_by_unit(text)
    if item is None:
        if len(text) > 60:
            text = text[:60] + "..."
        raise NotFoundError(
            f"no item {text!r} in the review queue of run {queue.run.id}",
            hint="`ptmcoder review next` or `ptmcoder review status` show the items",
        )
    return item


# -- reading the queue -----------------------------------------------------------


@dataclass
class Progress:
    done: int
    skipped: int
    left: int
    total: int
    left_by_reason: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def progress(queue: Queue, adjudicator: str) -> Progress:
    """This adjudicator's progress: items decided, skipped and left."""
    return _progress(queue.store.items(), queue.store.current(), adjudicator)


def _progress(items: list[Item], current: dict, adjudicator: str) -> Progress:
    done = skipped = 0
    left: dict[str, int] = {}
    for item in items:
        d = current.get((item.id, adjudicator))
        if d is not None and d.action in DECIDING:
            done += 1
            continue
        if d is not None and d.action is Action.SKIP:
            skipped += 1
        for name in item.reason_names:
            left[name] = left.get(name, 0) + 1
    return Progress(done, skipped, len(items) - done, len(items), dict(sorted(left.items())))


def pending(queue: Queue, adjudicator: str) -> list[Item]:
    """Items this adjudicator has not decided: unskipped ones by priority, then the
    skipped ones in the order they were skipped."""
    return _pending(queue.store.items(), queue.store.current(), adjudicator)


def _pending(items: list[Item], current: dict, adjudicator: str) -> list[Item]:
    fresh: list[Item] = []
    skipped: list[tuple[int, Item]] = []
    for item in items:
        d = current.get((item.id, adjudicator))
        if d is None:
            fresh.append(item)
        elif d.action is Action.SKIP:
            skipped.append((d.id, item))
    return fresh + [item for _, item in sorted(skipped, key=lambda x: x[0])]


#: what "decided" means, said by ``review status`` and the screen (one rule for both)
DECIDED_RULE = (
    "each adjudicator decides every item independently (so that their agreement can be "
    "measured): an item stays in an adjudicator's queue (`review next`, the screen) "
    "until that adjudicator decides it, whoever else has; `review status` counts an item "
    "decided when at least one adjudicator decided it, and says what is left for each"
)


def next_item(queue: Queue, adjudicator: str) -> Item | None:
    """The next item for this adjudicator (None when the queue is done): one this
    adjudicator has not decided, even when others have (:data:`DECIDED_RULE`;
    :func:`others_decisions` says who)."""
    items = pending(queue, adjudicator)
    return items[0] if items else None


def others_decisions(
    queue: Queue, item: Item, adjudicator: str, current: dict | None = None
) -> list[Decision]:
    """Decisions in force by other adjudicators on ``item`` (hidden with ``--blind``);
    ``current``: the store's decisions in force, when already read."""
    current = queue.store.current() if current is None else current
    return [
        d
        for (item_id, who), d in current.items()
        if item_id == item.id and who != adjudicator and d.action in DECIDING
    ]


def describe_others(others: list[Decision]) -> str:
    """One line saying who else decided an item and what, and that this adjudicator
    still decides it (it counts as decided in ``review status``)."""
    said = "; ".join(
        f"{d.adjudicator}: {d.action} {', '.join(d.codes or []) or d.predicate or ''}".rstrip()
        for d in others
    )
    why = "counted as decided in review status; you decide independently"
    return f"already decided by {said} ({why})"


def progress_by_adjudicator(
    items: list[Item], current: dict, adjudicators: list[str]
) -> dict[str, Progress]:
    """Each adjudicator's progress from one read of items and decisions."""
    return {who: _progress(items, current, who) for who in adjudicators}


@dataclass
class Overview:
    """What a screen shows after each action, from one read of items and decisions."""

    progress: Progress
    item: Item | None
    current: dict


def overview(queue: Queue, adjudicator: str) -> Overview:
    """Progress and next item of this adjudicator, reading the queue once (the review
    screen refreshes after every key)."""
    items, current = queue.store.items(), queue.store.current()
    left = _pending(items, current, adjudicator)
    return Overview(_progress(items, current, adjudicator), left[0] if left else None, current)


# -- validation --------------------------------------------------------------------


def validate_codes(queue: Queue, item: Item, codes: list[str]) -> list[str]:
    """The codes, stripped and de-duplicated in order; every one must be a code of
    the run's codebook (a located error with close matches otherwise)."""
    index = queue.codebook.index()
    clean: list[str] = []
    problems: list[Problem] = []
    for position, code in enumerate(codes, start=1):
        code = code.strip()
        if not code:
            continue
        if code not in index:
            close = difflib.get_close_matches(code, list(index), n=3, cutoff=0.5)
            problems.append(
                Problem(
                    "--codes",
                    f"item {item.id} ({item.unit_id or item.key}), code {position}",
                    f"{code!r} is not a code of codebook {queue.codebook.id!r}"
                    + (f"; did you mean {', '.join(close)}?" if close else ""),
                )
            )
        elif code not in clean:
            clean.append(code)
    if problems:
        raise ValidationError(
            problems, hint=f"`ptmcoder codebook show {queue.codebook.id}` lists the codes"
        )
    if not clean:
        raise PtmcoderError(
            f"item {item.id}: no codes given",
            hint="give --codes A,B, or use `review reject` / a no-code-fits note",
        )
    return clean


def _unit_item(item: Item, what: str) -> None:
    if item.kind != "unit":
        raise PtmcoderError(
            f"item {item.id} is a mapping item; {what} applies to unit items",
            hint="decide mappings with accept, reject or --predicate",
        )


# -- actions -----------------------------------------------------------------------


def decide(
    queue: Queue, item: Item, codes: list[str], *, adjudicator: str, note: str | None = None
) -> Decision:
    """Fix-and-accept: the adjudicator's own codes for a unit item."""
    _unit_item(item, "--codes")
    clean = validate_codes(queue, item, codes)
    return queue.store.record(
        item.id, adjudicator, Action.CODES, now=utcnow(), codes=clean, note=note
    )


def accept(
    queue: Queue,
    item: Item,
    *,
    adjudicator: str,
    rater: str | None = None,
    note: str | None = None,
) -> Decision:
    """Accept the item's proposal (a unit's consensus, gold or majority codes; a
    mapping's suggested relation), or one rater's codes with ``rater``."""
    if item.kind == "mapping":
        if rater:
            raise PtmcoderError(f"item {item.id} is a mapping item; --rater does not apply")
        return _decide_mapping(queue, item, Action.ACCEPT, adjudicator=adjudicator, note=note)
    if rater is None:
        codes = list(item.detail.get("proposal") or [])
        if not codes:
            raise PtmcoderError(
                f"item {item.id} has no proposal to accept (no rater gave codes)",
                hint="give the codes with `review decide ITEM --codes A,B`",
            )
        return queue.store.record(
            item.id, adjudicator, Action.ACCEPT, now=utcnow(), codes=codes, note=note
        )
    raters = item.detail.get("raters", [])
    match = [r for r in raters if r["name"] == rater]
    if (
        rater.isascii()
        and rater.isdigit()
        and not match
        and len(rater) < 4
        and 1 <= int(rater) <= len(raters)
    ):
        match = [raters[int(rater) - 1]]
    if not match:
        raise NotFoundError(
            f"item {item.id} has no rater {rater!r}",
            hint="raters: " + ", ".join(f"{i}={r['name']}" for i, r in enumerate(raters, 1)),
        )
    chosen = match[0]
    if chosen.get("error") or not chosen["codes"]:
        raise PtmcoderError(
            f"rater {chosen['name']} gave no codes for item {item.id}"
            + (f" ({chosen['error']} error)" if chosen.get("error") else ""),
            hint="choose another rater or give the codes with --codes",
        )
    return queue.store.record(
        item.id,
        adjudicator,
        Action.ACCEPT_RATER,
        now=utcnow(),
        codes=list(chosen["codes"]),
        rater=chosen["name"],
        note=note,
    )


def reject(queue: Queue, item: Item, *, adjudicator: str, note: str | None = None) -> Decision:
    """The proposal is wrong (a unit: no gold label from this item; a mapping: the
    suggestion is rejected in the crosswalk)."""
    if item.kind == "mapping":
        return _decide_mapping(queue, item, Action.REJECT, adjudicator=adjudicator, note=note)
    return queue.store.record(
        item.id, adjudicator, Action.REJECT, now=utcnow(), codes=[], note=note
    )


def no_code_fits(queue: Queue, item: Item, note: str, *, adjudicator: str) -> Decision:
    """No code of the codebook fits; ``note`` describes the candidate new code."""
    _unit_item(item, "no code fits")
    if not note or not note.strip():
        raise PtmcoderError(
            f"item {item.id}: 'no code fits' needs a note describing the missing code",
            hint="--note 'what the unit is about that no code covers'",
        )
    return queue.store.record(
        item.id, adjudicator, Action.NO_FIT, now=utcnow(), codes=[], note=note.strip()
    )


def change_relation(
    queue: Queue, item: Item, predicate: str, *, adjudicator: str, note: str | None = None
) -> Decision:
    """A mapping item with the right relation ``predicate``."""
    if item.kind != "mapping":
        raise PtmcoderError(f"item {item.id} is a unit item; --predicate applies to mappings")
    if predicate not in PREDICATES:
        raise PtmcoderError(
            f"unknown predicate {predicate!r}", hint="one of: " + ", ".join(PREDICATES)
        )
    return _decide_mapping(
        queue, item, Action.CHANGE_RELATION, adjudicator=adjudicator, note=note, predicate=predicate
    )


def skip(queue: Queue, item: Item, *, adjudicator: str) -> Decision:
    """Put the item at the end of this adjudicator's queue."""
    return queue.store.record(item.id, adjudicator, Action.SKIP, now=utcnow())


def undo(queue: Queue, *, adjudicator: str) -> tuple[Decision, Decision]:
    """Withdraw this adjudicator's latest decision or skip (kept in the store,
    marked withdrawn); the item is pending again, or back to what it replaced."""
    result = queue.store.undo_last(adjudicator, now=utcnow())
    if result is None:
        raise PtmcoderError(f"{adjudicator} has nothing to undo in run {queue.run.id}")
    return result


def _decide_mapping(
    queue: Queue,
    item: Item,
    action: Action,
    *,
    adjudicator: str,
    note: str | None,
    predicate: str | None = None,
) -> Decision:
    """Write the decision into the mapping set as a reviewed row (an atomic replace of
    the file), then record it in the queue: a file that cannot be written leaves the
    item undecided, never decided in the queue but missing from the crosswalk."""
    from ptmcoder.crosswalk import record_decision

    m = item.mapping or {}
    now = utcnow()
    verdict = {
        Action.ACCEPT: "accept",
        Action.REJECT: "reject",
        Action.CHANGE_RELATION: "change",
    }[action]
    record_decision(
        m["mapping_set"],
        m["subject_id"],
        m["object_id"],
        m["predicate"],
        verdict,
        reviewer=adjudicator,
        date=now[:10],
        new_predicate=predicate if action is Action.CHANGE_RELATION else None,
    )
    decision = queue.store.record(
        item.id,
        adjudicator,
        action,
        now=now,
        predicate=predicate or m.get("predicate"),
        note=note,
    )
    return decision
