"""The review app: a full-screen Textual screen that shows one item at a time.

Every key calls the same function of :mod:`ptmcoder.review.actions` as its CLI
twin, and each decision is committed before the next item is shown, so quitting
or killing the app at any moment loses nothing decided.

Keys (Prodigy's habits plus): ``a`` accept, ``x`` reject, space skip, backspace
undo, ``1``..``9`` accept that rater's codes, ``c`` fix-and-accept (type codes,
Tab completes against the codebook), ``n`` no code fits (type a note), ``r``
change a mapping's relation, ``?`` help, ``q`` quit.

The screen fits 80x24: a top pane holds what a decision needs (every rater's codes
with their confidence, the human raters, the gold, the proposal, other
adjudicators' decisions) and scrolls by itself when it is long; the pane below
holds the unit's text, each annotator's rationale and evidence, and the codes'
definitions. Arrows and PgUp/PgDn scroll a pane, Tab moves between the panes.

A text box (``c``, ``n``, ``r``) keeps every key until Enter saves or Escape
cancels: an entry that is refused (an unknown code, an empty note) leaves the box
open with its text and the reason above it, so nothing typed next is read as a
hotkey. A decision is recorded only by a decision key or by Enter in a box.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Footer, Input, Static

from ptmcoder.console import safe_text
from ptmcoder.errors import PtmcoderError
from ptmcoder.review import actions
from ptmcoder.review.actions import PREDICATES, Queue
from ptmcoder.review.store import Item

KIND_STYLE = {"human": "bold cyan", "annotator": "bold magenta", "gold": "bold green"}
KIND_LABEL = {"human": "HUMAN", "annotator": "ANNOTATOR", "gold": "GOLD"}

HELP = """\
[b]Keys[/b] (every decision is saved as it is made)
  a          accept the proposal (consensus, gold or majority; a mapping)
  x          reject the proposal (a mapping: reject the suggestion)
  space      skip: the item goes to the end of your queue
  backspace  undo your last decision or skip
  1 .. 9     accept that rater's codes
  c          fix-and-accept: type codes separated by commas (Tab completes)
  n          no code fits: type a note describing the missing code
  r          mapping items: change the relation (Tab completes a predicate)
  up/down, PgUp/PgDn  scroll the pane with the focus;  Tab  the other pane
  ?  this help      q  quit

In a text box every key is typed into it: Enter saves, Escape cancels.
A refused entry stays in the box, the reason above it, until you fix it or
press Escape. Nothing is recorded but by a decision key or Enter in a box.
Press any key to close this help."""


def complete(value: str, words: list[str]) -> str | None:
    """``value`` with its last comma-separated part completed to the first of
    ``words`` (sorted) that starts with it; None when nothing completes it."""
    head, sep, last = value.rpartition(",")
    stripped = last.lstrip()
    if not stripped:
        return None
    lead = last[: len(last) - len(stripped)]
    for word in sorted(words):
        if word.startswith(stripped) and word != stripped:
            return head + sep + lead + word
    return None


class CodeSuggester(Suggester):
    """Shows the completion of the last comma-separated part as a hint."""

    def __init__(self, words: list[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.words = sorted(words)

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, self.words)


class EntryInput(Input):
    """The input line: Tab completes the last part against the codebook (at once,
    not waiting for the hint, so that fast typists get the same result)."""

    words: list[str] = []

    def action_complete(self) -> None:
        done = complete(self.value, self.words)
        if done is not None:
            self.value = done
            self.cursor_position = len(done)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static {
        width: 84; max-width: 100%; max-height: 100%;
        border: round $accent; padding: 0 1; background: $panel;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help-text")

    closing = False

    def on_key(self, event) -> None:
        event.stop()
        if not self.closing:  # a second key may arrive before the screen is gone
            self.closing = True
            self.dismiss(None)


def _t(value: Any, style: str = "") -> Text:
    """Untrusted text (a post, a model's answer, a file) as a literal ``Text``: its
    control and escape sequences neutralised (:func:`~ptmcoder.console.safe_text`),
    and ``[bold]`` or ``[link=...]`` shown as written, never read as markup."""
    return Text(safe_text(value), style)


def _segments(body: str) -> list[tuple[bool, str]]:
    """The body split into (is_code, text) parts at ``` fences."""
    parts = re.split(r"```[^\n]*\n?", body or "")
    return [(i % 2 == 1, part) for i, part in enumerate(parts) if part.strip()]


def _highlight(text: Text, quotes: list[str]) -> None:
    for quote in quotes:
        pattern = r"\s+".join(re.escape(w) for w in quote.split())
        if pattern:
            text.highlight_regex(re.compile(pattern, re.IGNORECASE), "black on yellow")


def _found(quote: str, haystack: str) -> bool:
    words = quote.split()
    if not words:
        return True
    pattern = r"\s+".join(re.escape(w) for w in words)
    return re.search(pattern, haystack, re.IGNORECASE) is not None


#: actions a key may take while a text box is open: none of them records anything
WHILE_TYPING = frozenset({"complete", "scroll_pane"})


class ReviewApp(App[None]):
    """One item at a time; see the module doc for the keys and the layout."""

    TITLE = "ptmcoder review"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p would take footer space and act on items
    CSS = """
    #progress { dock: top; height: 1; background: $primary; color: $text; padding: 0 1; }
    #decide {
        height: auto; max-height: 60%; padding: 0 1;
        border-bottom: solid $primary;
    }
    #main { height: 1fr; padding: 0 1; }
    #message { height: auto; color: $warning; padding: 0 1; }
    #message.empty, #others.empty, #proposal.empty { display: none; }
    #entry { display: none; }
    #entry.visible { display: block; }
    #entry.refused { border: tall $error; }
    """
    BINDINGS = [
        Binding("a", "accept", "accept"),
        Binding("x", "reject", "reject"),
        Binding("space", "skip", "skip"),
        Binding("backspace", "undo", "undo"),
        Binding("c", "fix", "codes"),
        Binding("n", "no_fit", "no fit"),
        Binding("r", "relation", "relation", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("tab", "complete", "complete", show=False, priority=True),
        # a pane with the focus scrolls itself; these serve while the text box has it
        Binding("up", "scroll_pane('up')", "scroll", show=False),
        Binding("down", "scroll_pane('down')", "scroll", show=False),
        Binding("pageup", "scroll_pane('page_up')", "scroll", show=False),
        Binding("pagedown", "scroll_pane('page_down')", "scroll", show=False),
        *[Binding(str(k), f"rater({k})", f"rater {k}", show=False) for k in range(1, 10)],
    ]

    def __init__(self, queue: Queue, *, adjudicator: str, blind: bool = False) -> None:
        super().__init__()
        self.queue = queue
        self.adjudicator = adjudicator
        self.blind = blind
        self.item: Item | None = None
        self.mode: str | None = None  # "codes", "note" or "relation" while typing
        self.last_message = ""
        self._shown: int | None = None  # the item the panes are scrolled for
        self._view: actions.Overview | None = None  # the queue as last read

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="progress")
        with VerticalScroll(id="decide"):  # what a decision needs, first
            yield Static(id="reasons")
            yield Static(id="proposal")  # above the raters: on screen however many they are
            yield Static(id="others")
            yield Static(id="raters")
        with VerticalScroll(id="main"):  # the unit, the annotators' reasons, definitions
            yield Static(id="details")
            yield Static(id="unit")
            yield Static(id="evidence")
            yield Static(id="codes")
            yield Static(id="queue")
        yield Static(id="message")
        # a refused entry stays as typed, the cursor at its end: focus selects nothing,
        # so that the next key edits it rather than replacing it
        yield EntryInput(id="entry", select_on_focus=False)
        yield Footer()

    def on_resize(self) -> None:
        if self._view is not None:  # no read of the queue: only the bar depends on the width
            self._render_bar(self._view)

    def on_mount(self) -> None:
        view = actions.overview(self.queue, self.adjudicator)
        self.item = view.item
        self.refresh_view(view)
        self.query_one("#main", VerticalScroll).focus()

    # -- rendering ---------------------------------------------------------------
    def refresh_view(self, view: actions.Overview | None = None) -> None:
        """Redraw; ``view``: the queue as read after the last action (read here if None),
        one read of items and decisions per key."""
        view = view or actions.overview(self.queue, self.adjudicator)
        self._view = view
        self._render_bar(view)
        self._show("#message", _t(self.last_message))
        item = self.item
        if (item.id if item else None) != self._shown:  # a new item starts at the top
            self._shown = item.id if item else None
            for pane in ("#decide", "#main"):
                self.query_one(pane, VerticalScroll).scroll_home(animate=False)
        if item is None:
            self.query_one("#reasons", Static).update(
                Text("The queue is done for you. Press backspace to undo, q to quit.", "bold")
            )
            for wid in ("#raters", "#details", "#unit", "#evidence", "#codes"):
                self.query_one(wid, Static).update("")
            self._show("#others", Text())
            self._show("#proposal", Text())
            return
        head = Text(f"item {item.id} ({item.kind})", "bold")
        if item.unit_id:
            head.append(safe_text(f" {item.unit_id}"), "bold")
        head.append(safe_text(f"  {', '.join(item.reason_names)}"), "bold red")
        self.query_one("#reasons", Static).update(head)
        details = Text()
        for r in item.reasons:
            details.append(safe_text(f"[{r['reason']}] "), "bold red")
            details.append(safe_text(f"{r.get('detail', '')}\n"))
        self.query_one("#details", Static).update(details)
        if item.kind == "mapping":
            self._render_mapping(item)
        else:
            self._render_unit(item)
        self._render_others(item, view.current)

    def _render_bar(self, view: actions.Overview) -> None:
        """The progress bar: one line; the counts by reason join it when they fit."""
        p = view.progress
        reasons = ", ".join(f"{k} {v}" for k, v in p.left_by_reason.items()) or "-"
        bar = (
            f"{self.adjudicator}{' (blind)' if self.blind else ''} | run {self.queue.run.id}"
            f" | done {p.done} | left {p.left} of {p.total}"
        )
        by_reason = f"left by reason: {reasons}"
        fits = len(bar) + len(by_reason) + 5 <= self.size.width
        # a narrow screen keeps the bar to one line; the counts go below the unit
        self.query_one("#progress", Static).update(Text(f"{bar} | {by_reason}" if fits else bar))
        self.query_one("#queue", Static).update(Text("" if fits else f"queue: {by_reason}", "dim"))

    def _render_unit(self, item: Item) -> None:
        unit = item.detail.get("unit", {})
        raters = item.detail.get("raters", [])
        quotes = [d["evidence"] for r in raters for d in r.get("details", []) if d.get("evidence")]
        haystack = f"{unit.get('title', '')}\n{unit.get('body', '')}"
        parts: list[Any] = []
        title = _t(unit.get("title") or "(no title)", "bold")
        _highlight(title, quotes)
        parts.append(title)
        for is_code, segment in _segments(unit.get("body", "")):
            if is_code:
                parts.append(Panel(_t(segment.rstrip("\n")), title="code", border_style="dim"))
            else:
                text = _t(segment.strip())
                _highlight(text, quotes)
                parts.append(text)
        meta = Text()
        if unit.get("tags"):
            meta.append("tags: ", "dim").append(safe_text(", ".join(unit["tags"])) + "  ")
        if unit.get("url"):
            meta.append("link: ", "dim").append(safe_text(unit["url"]), "underline")
        parts.append(meta)
        for q in quotes:
            if not _found(q, haystack):
                parts.append(_t(f"evidence NOT IN THE TEXT: \u201c{q}\u201d", "bold red"))
        if not item.detail.get("unit_text_found", True):
            parts.append(Text("(the unit's text was not found in the corpus)", "red"))
        self.query_one("#unit", Static).update(
            Panel(Group(*parts), title=_t(item.unit_id), border_style="blue")
        )
        self._show("#proposal", self._proposal(item))
        self.query_one("#raters", Static).update(self._decision_table(raters))
        self.query_one("#evidence", Static).update(self._evidence_table(raters))
        in_play = sorted(
            {c for r in raters for c in r.get("codes", [])} | set(item.detail.get("proposal") or [])
        )
        self.query_one("#codes", Static).update(self._definitions(in_play))

    @staticmethod
    def _proposal(item: Item) -> Text:
        proposal = ", ".join(item.detail.get("proposal") or []) or "-"
        source = item.detail.get("proposal_source", "")
        line = _t(f"proposal (a accepts): {proposal}", "bold")
        if source:
            line.append(safe_text(f" ({source})"))
        return line

    @staticmethod
    def _decision_table(raters: list[dict]) -> Table:
        """Every rater in one line each (number, name, kind, codes with confidence):
        what a decision needs, compact enough for 80x24."""
        table = Table(box=None, expand=True, pad_edge=False, show_edge=False)
        table.add_column("#", no_wrap=True, width=1)
        table.add_column("rater", overflow="fold", ratio=2)
        table.add_column("kind", no_wrap=True)
        table.add_column("codes (confidence)", overflow="fold", ratio=5)
        for i, r in enumerate(raters, start=1):
            kind = r.get("kind", "annotator")
            confidence = {
                d["code"]: d["confidence"]
                for d in r.get("details", [])
                if d.get("confidence") is not None
            }
            codes = ", ".join(
                f"{c} ({confidence[c]:.2f})" if c in confidence else c for c in r["codes"]
            )
            if not codes:
                codes = f"ERROR {r['error']}" if r.get("error") else "-"
                if r.get("error_message"):
                    codes += f": {r['error_message']}"
            table.add_row(
                str(i) if i <= 9 else "",
                _t(r["name"], KIND_STYLE.get(kind, "")),
                _t(KIND_LABEL.get(kind, kind), KIND_STYLE.get(kind, "")),
                _t(codes),
            )
        return table

    @staticmethod
    def _evidence_table(raters: list[dict]) -> RenderableType:
        """Each annotator's code, confidence, rationale and evidence, in full."""
        rows = [(r, d) for r in raters for d in r.get("details", [])]
        errors = [r for r in raters if r.get("error")]
        if not rows and not errors:
            return Text("")
        table = Table(title="why the annotators coded it", expand=True, show_lines=True)
        for col in ("rater", "code", "conf.", "rationale / evidence"):
            table.add_column(col, overflow="fold")
        for r, d in rows:
            why = Text(safe_text(d.get("rationale") or ""))
            if d.get("evidence"):
                why.append(safe_text(f" \u201c{d['evidence']}\u201d"), "italic")
            conf = d.get("confidence")
            table.add_row(
                _t(r["name"], KIND_STYLE.get(r.get("kind", "annotator"), "")),
                _t(d.get("code") or ""),
                _t("" if conf is None else f"{conf:.2f}"),
                why,
            )
        for r in errors:
            table.add_row(
                _t(r["name"]), _t(f"ERROR {r['error']}"), "", _t(r.get("error_message") or "")
            )
        return table

    def _definitions(self, codes: list[str], book=None) -> Group:
        try:
            book = book or self.queue.codebook
            index = book.index()
        except PtmcoderError as exc:
            return Group(Text(f"codebook not available: {exc.message}", "red"))
        parts: list[Any] = []
        for code in codes:
            info = index.get(code)
            if info is None:
                parts.append(_t(f"{code}: not in codebook {book.id}", "red"))
                continue
            node = info.node
            where = (
                "special code (outside the tree)"
                if info.special
                else " > ".join((*info.ancestors, code)) + f"  (level {book.levels[info.depth]})"
            )
            body = Text()
            body.append(safe_text(f"{where}\n"), "dim")
            body.append(safe_text(node.definition.strip() + "\n"))
            for inc in node.include:
                body.append("  + include: ", "green").append(safe_text(inc + "\n"))
            for exc_ in node.exclude:
                body.append("  - exclude: ", "red").append(safe_text(exc_ + "\n"))
            parts.append(Panel(body, title=_t(f"{code}: {node.name}"), border_style="dim"))
        return Group(*parts)

    def _lookup(self, code_id: str):
        """A mapping side's codebook and code: ``book:code`` or a code of the run's codebook."""
        from ptmcoder.codebook import load_codebook

        if ":" in code_id:
            prefix, _, rest = code_id.partition(":")
            try:
                return load_codebook(prefix), rest
            except PtmcoderError:
                pass
        return self.queue.codebook, code_id

    def _render_mapping(self, item: Item) -> None:
        m = item.mapping or {}
        text = Text()
        text.append(safe_text(f"{m.get('subject_id')}  "), "bold cyan")
        text.append(safe_text(f"{m.get('predicate')}  "), "bold yellow")
        text.append(safe_text(f"{m.get('object_id')}\n"), "bold magenta")
        text.append(safe_text(f"mapping set: {m.get('mapping_set')}\n"), "dim")
        for key in ("confidence", "justification"):
            if item.detail.get(key) is not None:
                text.append(safe_text(f"{key}: {item.detail[key]}\n"))
        text.append("a accept | r change relation | x reject", "bold")
        self._show("#proposal", Text())
        self.query_one("#raters", Static).update(text)
        parts: list[RenderableType] = []
        for side in ("subject_id", "object_id"):
            book, code = self._lookup(str(m.get(side)))
            parts.append(_t(f"{side[:-3]}: {m.get(side)} (codebook {book.id})", "bold"))
            parts.append(self._definitions([code], book))
        self.query_one("#unit", Static).update(
            Panel(Group(*parts), title="crosswalk suggestion: both codes", border_style="blue")
        )
        self.query_one("#evidence", Static).update("")
        self.query_one("#codes", Static).update("")

    def _render_others(self, item: Item, current: dict) -> None:
        if self.blind:
            self._show("#others", Text("blind: other adjudicators' decisions are hidden", "dim"))
            return
        others = actions.others_decisions(self.queue, item, self.adjudicator, current)
        self._show("#others", _t(actions.describe_others(others), "bold") if others else Text())

    def _show(self, wid: str, text: Text) -> None:
        """A one-line panel that takes no line when it has nothing to say."""
        self.query_one(wid, Static).update(text)
        self.query_one(wid, Static).set_class(not text.plain, "empty")

    # -- actions -----------------------------------------------------------------
    def _save(self, func, *args, **kwargs) -> bool:
        """Run one action; on success show the next item, on a user error show why
        (and ring). True when the action was saved."""
        if self.item is None:
            self.last_message = "nothing to decide: the queue is done"
            self.refresh_view()
            return False
        try:
            decision = func(self.queue, self.item, *args, adjudicator=self.adjudicator, **kwargs)
        except PtmcoderError as exc:
            self.last_message = str(exc)
            self.bell()
            self.refresh_view()
            return False
        self.last_message = f"saved: item {decision.item_id} {decision.action}"
        view = actions.overview(self.queue, self.adjudicator)
        self.item = view.item
        self.refresh_view(view)
        return True

    def action_accept(self) -> None:
        self._save(actions.accept)

    def action_reject(self) -> None:
        self._save(actions.reject)

    def action_skip(self) -> None:
        self._save(actions.skip)

    def action_rater(self, number: int) -> None:
        self._save(actions.accept, rater=str(number))

    def action_undo(self) -> None:
        try:
            _, withdrawn = actions.undo(self.queue, adjudicator=self.adjudicator)
        except PtmcoderError as exc:
            self.last_message = str(exc)
        else:
            self.last_message = f"undone: {withdrawn.action} on item {withdrawn.item_id}"
            self.item = self.queue.store.item(withdrawn.item_id)
        self.refresh_view()

    def action_scroll_pane(self, how: str) -> None:
        """Scroll the pane with the focus, else (the text box has it) the lower pane."""
        focused = self.focused
        pane = (
            focused
            if isinstance(focused, VerticalScroll)
            else self.query_one("#main", VerticalScroll)
        )
        getattr(pane, f"action_{'scroll_' if how in ('up', 'down') else ''}{how}")()

    def _open_entry(self, mode: str, placeholder: str, words: list[str]) -> None:
        if self.item is None:
            return
        entry = self.query_one("#entry", EntryInput)
        entry.value = ""
        entry.words = list(words)
        entry.placeholder = placeholder
        entry.suggester = CodeSuggester(words) if words else None
        entry.remove_class("refused")
        entry.add_class("visible")
        self.mode = mode
        entry.focus()

    def action_fix(self) -> None:
        if self.item is not None and self.item.kind == "mapping":
            self.last_message = "mapping items: a accept, r change relation, x reject"
            self.refresh_view()
            return
        try:
            words = list(self.queue.codebook.index())
        except PtmcoderError as exc:
            self.last_message = str(exc)
            self.refresh_view()
            return
        self._open_entry(
            "codes", "codes, comma-separated (Tab completes; Enter saves, Escape cancels)", words
        )

    def action_no_fit(self) -> None:
        self._open_entry(
            "note", "no code fits: describe the missing code (Enter saves, Escape cancels)", []
        )

    def action_relation(self) -> None:
        if self.item is None or self.item.kind != "mapping":
            self.last_message = "r changes the relation of a mapping item"
            self.refresh_view()
            return
        self._open_entry(
            "relation", "relation, e.g. skos:broadMatch (Tab completes)", list(PREDICATES)
        )

    def _close_entry(self) -> None:
        entry = self.query_one("#entry", Input)
        entry.remove_class("visible", "refused")
        self.mode = None
        self.query_one("#main", VerticalScroll).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the text box: save, and close the box only when it was saved. A
        refused entry keeps the box open, with its text, so that the next keys are
        typed into it, never taken as hotkeys."""
        event.stop()
        mode, value = self.mode, event.value
        if mode is None:
            return
        if mode == "codes":
            saved = self._save(actions.decide, value.split(","))
        elif mode == "note":
            saved = self._save(lambda q, i, **kw: actions.no_code_fits(q, i, value, **kw))
        else:
            saved = self._save(
                lambda q, i, **kw: actions.change_relation(q, i, value.strip(), **kw)
            )
        entry = self.query_one("#entry", EntryInput)
        if saved or self.item is None:
            self._close_entry()
            return
        self.last_message = f"not saved: {self.last_message}\n(fix the entry, or Escape to cancel)"
        self._show("#message", _t(self.last_message))
        entry.add_class("refused")
        entry.focus()

    def on_key(self, event) -> None:
        entry = self.query_one("#entry", Input)
        if self.mode is not None and self.focused is not entry and event.key != "escape":
            # typed before the input line took the focus: the keys still belong to it
            if event.key == "enter":
                entry.focus()
                self.on_input_submitted(Input.Submitted(entry, entry.value))
            elif event.key == "backspace":
                entry.value = entry.value[:-1]
            elif event.is_printable and event.character:
                entry.insert_text_at_cursor(event.character)
            entry.focus()
            event.stop()
            return
        if self.mode is not None and event.key == "escape":
            self._close_entry()
            self.last_message = "cancelled: nothing saved"
            self.refresh_view()
            event.stop()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while typing, every key belongs to the text box: no hotkey acts
        if self.mode is not None and action not in WHILE_TYPING:
            return False
        return True

    def action_complete(self) -> None:
        """Tab: complete the input line (whether or not it has the focus yet), else
        move the focus to the other pane."""
        if self.mode is not None:
            entry = self.query_one("#entry", EntryInput)
            # behind the keys already queued for the input line, so "gen<Tab>" typed
            # fast completes "gen", not what the line held when Tab arrived
            entry.call_later(entry.action_complete)
            entry.focus()
        else:
            self.screen.focus_next()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
