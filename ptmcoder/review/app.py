"""The review app: a full-screen Textual screen that shows one item at a time.

Every key calls the same function of :mod:`ptmcoder.review.actions` as its CLI
twin, and each decision is committed before the next item is shown, so quitting
or killing the app at any moment loses nothing decided.

Keys (Prodigy's habits plus): ``a`` accept, ``x`` reject, space skip, backspace
undo, ``1``..``9`` accept that rater's codes, ``c`` fix-and-accept (type codes,
Tab completes against the codebook), ``n`` no code fits (type a note), ``r``
change a mapping's relation, ``?`` help, ``q`` quit.
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
[b]Keys[/b]

  a          accept the proposal (consensus / gold / majority; a mapping's relation)
  x          reject the proposal (a mapping: reject the suggestion)
  space      skip: the item goes to the end of your queue
  backspace  undo your last decision or skip
  1 .. 9     accept that rater's codes
  c          fix-and-accept: type codes separated by commas (Tab completes)
  n          no code fits: type a note describing the missing code
  r          mapping items: change the relation (Tab completes a predicate)
  ?          this help
  q          quit (every decision is already saved)

In the input line: Enter saves, Escape cancels.
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
    HelpScreen > Static { width: 84; border: round $accent; padding: 1 2; background: $panel; }
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


class ReviewApp(App[None]):
    """One item at a time; see the module doc for the keys."""

    TITLE = "ptmcoder review"
    CSS = """
    #progress { dock: top; height: 1; background: $primary; color: $text; padding: 0 1; }
    #message { height: auto; color: $warning; padding: 0 1; }
    #entry { display: none; }
    #entry.visible { display: block; }
    """
    BINDINGS = [
        Binding("a", "accept", "accept"),
        Binding("x", "reject", "reject"),
        Binding("space", "skip", "skip"),
        Binding("backspace", "undo", "undo"),
        Binding("c", "fix", "fix codes"),
        Binding("n", "no_fit", "no code fits"),
        Binding("r", "relation", "relation", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("tab", "complete", "complete", show=False, priority=True),
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

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="progress")
        with VerticalScroll(id="main"):
            yield Static(id="reasons")
            yield Static(id="unit")
            yield Static(id="raters")
            yield Static(id="codes")
            yield Static(id="others")
        yield Static(id="message")
        yield EntryInput(id="entry")
        yield Footer()

    def on_mount(self) -> None:
        view = actions.overview(self.queue, self.adjudicator)
        self.item = view.item
        self.refresh_view(view)

    # -- rendering ---------------------------------------------------------------
    def refresh_view(self, view: actions.Overview | None = None) -> None:
        """Redraw; ``view``: the queue as read after the last action (read here if None),
        one read of items and decisions per key."""
        view = view or actions.overview(self.queue, self.adjudicator)
        p = view.progress
        reasons = ", ".join(f"{k} {v}" for k, v in p.left_by_reason.items()) or "-"
        self.query_one("#progress", Static).update(
            Text(
                f"{self.adjudicator}{' (blind)' if self.blind else ''} | run {self.queue.run.id}"
                f" | done {p.done} | left {p.left} of {p.total} | left by reason: {reasons}"
            )
        )
        self.query_one("#message", Static).update(_t(self.last_message))
        item = self.item
        if item is None:
            self.query_one("#reasons", Static).update(
                Text("The queue is done for you. Press backspace to undo, q to quit.", "bold")
            )
            for wid in ("#unit", "#raters", "#codes", "#others"):
                self.query_one(wid, Static).update("")
            return
        head = Text(f"item {item.id} ({item.kind})  ", "bold")
        for r in item.reasons:
            head.append(safe_text(f"[{r['reason']}] "), "bold red")
            head.append(safe_text(f"{r.get('detail', '')}  "))
        self.query_one("#reasons", Static).update(head)
        if item.kind == "mapping":
            self._render_mapping(item)
        else:
            self._render_unit(item)
        self._render_others(item, view.current)

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

        table = Table(title="raters", expand=True, show_lines=False)
        for col in ("#", "rater", "kind", "codes", "confidence", "rationale / evidence"):
            table.add_column(col, overflow="fold")
        for i, r in enumerate(raters, start=1):
            kind = r.get("kind", "annotator")
            details = r.get("details", [])
            conf = ", ".join(
                f"{d['code']} {d['confidence']:.2f}"
                for d in details
                if d.get("confidence") is not None
            )
            why = " | ".join(
                (d.get("rationale") or "")
                + (f" \u201c{d['evidence']}\u201d" if d.get("evidence") else "")
                for d in details
            )
            codes = ", ".join(r["codes"]) or (f"ERROR {r['error']}" if r.get("error") else "-")
            if r.get("error") and r.get("error_message"):
                why = (why + " " + r["error_message"]).strip()
            table.add_row(
                str(i) if i <= 9 else "",
                _t(r["name"], KIND_STYLE.get(kind, "")),
                _t(KIND_LABEL.get(kind, kind), KIND_STYLE.get(kind, "")),
                _t(codes),
                _t(conf),
                _t(why),
            )
        proposal = ", ".join(item.detail.get("proposal") or []) or "-"
        source = item.detail.get("proposal_source", "")
        self.query_one("#raters", Static).update(
            Group(table, _t(f"proposal (a accepts): {proposal} ({source})", "bold"))
        )
        in_play = sorted(
            {c for r in raters for c in r.get("codes", [])} | set(item.detail.get("proposal") or [])
        )
        self.query_one("#codes", Static).update(self._definitions(in_play))

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
        self.query_one("#unit", Static).update(Panel(text, title="crosswalk suggestion"))
        parts: list[RenderableType] = []
        for side in ("subject_id", "object_id"):
            book, code = self._lookup(str(m.get(side)))
            parts.append(_t(f"{side[:-3]}: {m.get(side)} (codebook {book.id})", "bold"))
            parts.append(self._definitions([code], book))
        self.query_one("#raters", Static).update(Group(*parts))
        self.query_one("#codes", Static).update("")

    def _render_others(self, item: Item, current: dict) -> None:
        widget = self.query_one("#others", Static)
        if self.blind:
            widget.update(Text("blind: other adjudicators' decisions are hidden", "dim"))
            return
        others = actions.others_decisions(self.queue, item, self.adjudicator, current)
        if not others:
            widget.update("")
            return
        text = Text("other adjudicators: ", "bold")
        for d in others:
            what = ", ".join(d.codes or []) or d.predicate or ""
            text.append(safe_text(f"{d.adjudicator}: {d.action} {what}; "))
        widget.update(text)

    # -- actions -----------------------------------------------------------------
    def _do(self, func, *args, **kwargs) -> None:
        """Run one action; on success move to the next item, on a user error show it."""
        if self.item is None:
            self.last_message = "nothing to decide: the queue is done"
            self.refresh_view()
            return
        try:
            decision = func(self.queue, self.item, *args, adjudicator=self.adjudicator, **kwargs)
        except PtmcoderError as exc:
            self.last_message = str(exc)
            self.bell()
        else:
            self.last_message = f"saved: item {decision.item_id} {decision.action}"
            view = actions.overview(self.queue, self.adjudicator)
            self.item = view.item
            self.refresh_view(view)
            return
        self.refresh_view()

    def action_accept(self) -> None:
        self._do(actions.accept)

    def action_reject(self) -> None:
        self._do(actions.reject)

    def action_skip(self) -> None:
        self._do(actions.skip)

    def action_rater(self, number: int) -> None:
        self._do(actions.accept, rater=str(number))

    def action_undo(self) -> None:
        try:
            _, withdrawn = actions.undo(self.queue, adjudicator=self.adjudicator)
        except PtmcoderError as exc:
            self.last_message = str(exc)
        else:
            self.last_message = f"undone: {withdrawn.action} on item {withdrawn.item_id}"
            self.item = self.queue.store.item(withdrawn.item_id)
        self.refresh_view()

    def _open_entry(self, mode: str, placeholder: str, words: list[str]) -> None:
        if self.item is None:
            return
        entry = self.query_one("#entry", EntryInput)
        entry.value = ""
        entry.words = list(words)
        entry.placeholder = placeholder
        entry.suggester = CodeSuggester(words) if words else None
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
        self._open_entry("codes", "codes, comma-separated (Tab completes; Enter saves)", words)

    def action_no_fit(self) -> None:
        self._open_entry("note", "no code fits: describe the missing code (Enter saves)", [])

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
        entry.remove_class("visible")
        self.mode = None
        self.set_focus(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        mode, value = self.mode, event.value
        self._close_entry()
        if mode == "codes":
            self._do(actions.decide, value.split(","))
        elif mode == "note":
            self._do(lambda q, i, **kw: actions.no_code_fits(q, i, value, **kw))
        elif mode == "relation":
            self._do(lambda q, i, **kw: actions.change_relation(q, i, value.strip(), **kw))

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
            self.last_message = "cancelled"
            self.refresh_view()
            event.stop()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while typing, letters and backspace belong to the input line
        if self.mode is not None and action != "complete":
            return False
        return True

    def action_complete(self) -> None:
        """Tab: complete the input line (whether or not it has the focus yet)."""
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
