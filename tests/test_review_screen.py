"""The review screen as a person sees it (#28): what a decision needs fits 80x24 and
160x45, a text box keeps every key until Enter or Escape, a refused entry never
turns the next keys into hotkeys, and ``review next`` and ``review status`` agree on
what "decided" means. Driven with Textual's Pilot and, once, in a real terminal
under tmux; every assertion reads the rendered screen or the review database."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import debian_tool
from review_kit import FINAL, LABELS, install_run, make_run
from rich.console import Console

from ptmcoder.review import BuildOptions, actions, build_queue, open_queue, status
from ptmcoder.review.app import HelpScreen, ReviewApp
from ptmcoder.review.store import Action

REPO = Path(__file__).resolve().parents[1]
SIZES = [(80, 24), (160, 45)]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("review-screen-template"))


@pytest.fixture
def run_id(template, isolated_home):
    path = install_run(template, isolated_home)
    build_queue(path.name, BuildOptions(humans=str(LABELS), gold=str(FINAL), audit_size=3))
    return path.name


def screen_text(app) -> str:
    """The whole terminal as the person sees it, as plain text (what Textual's
    ``export_screenshot`` draws, without the SVG)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def drive(run_id, steps, *, size=(80, 24), adjudicator="ann"):
    """Open the app at ``size``; ``steps``: keys to press, or callables ``f(app)``
    whose results are returned in order (the screen read at that moment)."""

    async def main():
        queue = open_queue(run_id)
        app = ReviewApp(queue, adjudicator=adjudicator)
        seen = []
        try:
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                for step in steps:
                    if callable(step):
                        seen.append(step(app))
                    else:
                        await pilot.press(step)
                        await pilot.pause()
        finally:
            queue.close()
        return seen

    return asyncio.run(main())


def in_force(run_id: str, who: str = "ann"):
    with open_queue(run_id) as queue:
        return [d for d in queue.store.decisions(include_withdrawn=False) if d.adjudicator == who]


def all_rows(run_id: str):
    with open_queue(run_id) as queue:
        return queue.store.decisions(include_withdrawn=True)


def queue_items(run_id: str):
    with open_queue(run_id) as queue:
        return actions.pending(queue, "ann")


def _needs(item) -> list[str]:
    """What must be on screen to decide a unit item: each rater's name, its kind and
    its first code, and the proposal."""
    need = []
    for r in item.detail["raters"]:
        label = {"human": "HUMAN", "annotator": "ANNOTATOR", "gold": "GOLD"}[r["kind"]]
        need += [r["name"], label]
        need += r["codes"][:1] or ([f"ERROR {r['error']}"] if r.get("error") else [])
    proposal = ", ".join(item.detail["proposal"]) or "-"
    return [*need, f"proposal (a accepts): {proposal}"]


# -- what fits -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_item_shows_raters_humans_gold_and_proposal_without_scrolling(run_id, size):
    """Each item of the queue in turn (space skips to the next): the first screen of it
    shows every rater with its kind and codes (humans and the gold included) and the
    proposal; nothing is recorded but the skips."""
    items = queue_items(run_id)
    unit_items = [i for i in items if i.kind == "unit"]
    assert any(r["kind"] == "gold" for i in unit_items for r in i.detail["raters"])
    assert any(r["kind"] == "human" for i in unit_items for r in i.detail["raters"])
    steps: list = []
    for _ in items:
        steps += [lambda app: (app.item.id, screen_text(app)), "space"]
    shots = drive(run_id, steps, size=size)
    assert [item_id for item_id, _ in shots] == [i.id for i in items]
    for item, (_, shown) in zip(items, shots, strict=True):
        lines = shown.splitlines()
        assert len(lines) == size[1] and max(map(len, lines)) <= size[0]
        assert f"item {item.id} (unit)" in shown
        missing = [text for text in _needs(item) if text not in shown]
        assert not missing, f"item {item.id} at {size}: {missing} off-screen:\n{shown}"
    assert {d.action for d in in_force(run_id)} == {Action.SKIP}


def test_the_unit_rationale_and_definitions_are_reachable_by_keys(run_id):
    """At 80x24 the lower pane scrolls with the keys: End brings the last code's
    definition and the queue's counts on screen, Home the unit's title again, and
    PgDn steps down; no key of these records anything."""
    item = queue_items(run_id)[0]
    raters = item.detail["raters"]
    codes = sorted({c for r in raters for c in r["codes"]} | set(item.detail["proposal"]))
    title = item.detail["unit"]["title"][:40]
    rationale = next(d["rationale"] for r in raters for d in r.get("details", []))
    word = max((w for w in rationale.split() if len(w) < 20), key=len)
    pages = drive(run_id, [screen_text] + [k for _ in range(15) for k in ("pagedown", screen_text)])
    first, seen = pages[0], " ".join(pages)
    assert title in first and pages[1] != first
    assert f"{codes[-1]}: " not in first  # 80x24 cannot show it all at once
    # page by page, every code's definition, the annotators' reasons and the counts
    for code in codes:
        assert f"{code}: " in seen
    assert word in seen and "why the annotators coded it" in seen
    assert "queue: left by reason" in pages[-1] and title not in pages[-1]
    end, home = drive(run_id, ["end", screen_text, "home", screen_text])
    assert "queue: left by reason" in end and title not in end
    assert title in home
    # down moves by a line
    down = drive(run_id, [screen_text, "down", screen_text])
    assert down[0] != down[1]
    # tab moves the focus to the top pane and back, and records nothing either
    focus = drive(run_id, ["tab", lambda app: app.focused.id, "tab", lambda app: app.focused.id])
    assert focus == ["decide", "main"]
    assert all_rows(run_id) == []


# -- a text box keeps its keys -------------------------------------------------------------


def test_an_invalid_code_keeps_the_box_and_the_next_hotkeys_record_nothing(run_id):
    """#28: after an invalid code the next keys were taken as hotkeys, and 'n' + 'eric'
    recorded an unintended 'no code fits'. Now the box stays open with the text and
    the reason, every key goes into it, and nothing is recorded."""
    item = queue_items(run_id)[0]
    keys = ["c", *"eric", "enter", "n", "a", "x", "space", "1", "c", "q", "enter"]
    [(mode, value, focused, shown)] = drive(
        run_id,
        [
            *keys,
            lambda app: (
                app.mode,
                app.query_one("#entry").value,
                app.focused is app.query_one("#entry"),
                screen_text(app),
            ),
        ],
    )
    assert all_rows(run_id) == []
    assert (mode, value, focused) == ("codes", "ericnax 1cq", True)
    assert "not saved" in shown and "'ericnax 1cq' is not a code" in shown
    assert "Escape to cancel" in shown
    assert f"item {item.id} (unit)" in shown  # still the same item


def test_escape_cancels_then_hotkeys_act_again(run_id):
    """Escape closes the refused box without saving; then ? opens the help and a
    accepts (the app ignored a / ? / q until Tab)."""
    item = queue_items(run_id)[0]
    [after_escape, help_open] = drive(
        run_id,
        [
            "c",
            *"eric",
            "enter",
            "escape",
            lambda app: (app.mode, app.last_message),
            "question_mark",
            lambda app: isinstance(app.screen, HelpScreen),
            "z",
            "a",
        ],
    )
    assert after_escape == (None, "cancelled: nothing saved")
    assert help_open
    [d] = in_force(run_id)
    assert (d.item_id, d.action) == (item.id, Action.ACCEPT)


def test_a_refused_entry_can_be_fixed_in_the_box(run_id):
    """Backspace edits the kept text; the fixed codes are saved by Enter and the box
    closes."""
    item = queue_items(run_id)[0]
    keys = ["c", *"gen", "x", "enter", "backspace", "tab", "enter"]
    [mode] = drive(run_id, [*keys, lambda app: app.mode])
    assert mode is None
    [d] = in_force(run_id)
    assert (d.item_id, d.action, d.codes) == (item.id, Action.CODES, ["generic"])


def test_an_empty_note_is_refused_in_the_box(run_id):
    [mode] = drive(run_id, ["n", "enter", "a", lambda app: app.mode])
    assert mode == "note"
    assert all_rows(run_id) == []
    drive(run_id, ["n", *"a licence", "enter"])
    [d] = in_force(run_id)
    assert (d.action, d.note) == (Action.NO_FIT, "a licence")


def test_only_a_decision_key_records(run_id):
    """Enter, Escape, the scroll keys, Tab, an unbound letter and the help record
    nothing."""
    keys = ["enter", "escape", "up", "down", "pageup", "pagedown", "home", "end", "tab"]
    drive(run_id, [*keys, "tab", "z", "question_mark", "z", "enter"])
    assert all_rows(run_id) == []


# -- what "decided" means ------------------------------------------------------------------


def test_next_and_status_agree_on_what_decided_means(run_id, isolated_home):
    """ann decides an item: status counts it decided (by anyone) and says that each
    adjudicator decides independently, with what each has left; bob's next item is
    still that one, and next says ann decided it."""
    with open_queue(run_id) as queue:
        item = actions.next_item(queue, "ann")
        actions.accept(queue, item, adjudicator="ann")
        actions.skip(queue, actions.next_item(queue, "bob"), adjudicator="bob")
        total = len(queue.store.items())
        s = status(queue)
        assert s.by_state["decided"] == 1
        assert s.by_adjudicator == {
            "ann": {"decided": 1, "skipped": 0, "left": total - 1},
            "bob": {"decided": 0, "skipped": 1, "left": total},
        }
        assert any(
            "each adjudicator decides every item independently" in n
            and f"ann {total - 1}, bob {total}" in n
            for n in s.notes
        )
        assert s.to_json()["decided_means"] == actions.DECIDED_RULE
        # bob's queue: the item ann decided comes back after bob's skip went to the end
        assert [i.id for i in actions.pending(queue, "bob")][-1] == item.id
        assert item.id in [i.id for i in actions.pending(queue, "bob")]
        assert actions.next_item(queue, "ann").id != item.id
        [other] = actions.others_decisions(queue, item, "bob")
        assert "already decided by ann: accept" in actions.describe_others([other])

    from ptmcoder.cli import cli

    out = CliRunner().invoke(cli, ["review", "status", run_id], catch_exceptions=False)
    assert out.exit_code == 0
    assert "decided: by at least one adjudicator" in " ".join(out.output.split())

    # the screen says it too
    with open_queue(run_id) as queue:
        for _ in range(len(queue.store.items()) - 1):
            actions.skip(queue, actions.next_item(queue, "bob"), adjudicator="bob")
        assert actions.next_item(queue, "bob").id == item.id
    [shown] = drive(run_id, [screen_text], adjudicator="bob")
    assert f"item {item.id} (unit)" in shown
    assert "already decided by ann: accept" in " ".join(shown.split())


# -- a real terminal -----------------------------------------------------------------------


def test_invalid_code_then_hotkeys_in_a_real_terminal_records_nothing(run_id, isolated_home):
    """tmux at 80x24: the item's raters, gold and proposal are on screen; c, an invalid
    code, Enter, then letters that are hotkeys (n a x 1 q) and Enter: nothing is in the
    review database; Escape then q quits."""
    tmux = debian_tool("tmux", "tmux")
    if tmux is None:
        pytest.skip("tmux is not installed and `apt-get install -y tmux` failed")
    session = f"ptmscreen{os.getpid()}"
    socket = str(isolated_home / "tmux.sock")
    command = (
        f"cd {isolated_home} && env -u COLUMNS -u LINES PTMCODER_HOME={isolated_home} "
        f"PYTHONPATH={REPO} {sys.executable} -m ptmcoder review {run_id} --adjudicator tm"
    )

    def tm(*args: str) -> str:
        return subprocess.run([tmux, "-S", socket, *args], capture_output=True, text=True).stdout

    def screen_until(text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = tm("capture-pane", "-t", session, "-p")
            if text in shown:
                return shown
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared; screen:\n{shown}")

    with open_queue(run_id) as queue:
        first = actions.next_item(queue, "tm")
    tm("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    tm("set-option", "-t", session, "remain-on-exit", "on")  # keep a crash on screen
    try:
        screen = screen_until("proposal (a accepts)")
        for text in _needs(first):
            assert text in screen, f"{text!r} not on the 80x24 screen:\n{screen}"
        time.sleep(2.0)  # keys typed while Textual still sets up the terminal are dropped
        tm("send-keys", "-t", session, "c")
        tm("send-keys", "-t", session, "-l", "eric")
        tm("send-keys", "-t", session, "Enter")
        screen_until("not saved")
        tm("send-keys", "-t", session, "-l", "nax1q")
        tm("send-keys", "-t", session, "Space", "Enter")
        screen = screen_until("ericnax1q")
        assert "not saved" in screen and f"item {first.id} (unit)" in screen
        assert all_rows(run_id) == []
        tm("send-keys", "-t", session, "Escape")
        screen_until("cancelled: nothing saved")
        tm("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 20

        def dead() -> bool:  # remain-on-exit keeps the pane: ask whether its program ended
            return tm("display-message", "-p", "-t", session, "#{pane_dead}").strip() == "1"

        while time.monotonic() < deadline and not dead():
            time.sleep(0.3)
        assert dead(), "q did not quit after Escape"
    finally:
        tm("kill-server")
    assert all_rows(run_id) == []


def test_the_help_fits_80x24(run_id):
    [shown] = drive(run_id, ["question_mark", screen_text])
    for text in ("Keys (every decision", "backspace  undo", "Tab  the other pane", "q  quit"):
        assert text in shown
    assert "Press any key to close this help." in shown
    assert all_rows(run_id) == []


def test_many_raters_keep_the_proposal_on_screen_and_the_last_rater_reachable(
    template, isolated_home, tmp_path
):
    """An item with 14 raters overflows the top pane at 80x24: the proposal stays on the
    first screen (it comes before the raters), and Tab then End brings the last rater
    into view."""
    import pandas as pd

    path = install_run(template, isolated_home)
    unit = pd.read_csv(LABELS)["unit"].iloc[0]
    humans = tmp_path / "twelve.csv"
    rows = [(unit, f"H{i:02d}", "generic" if i % 2 else "dl-fault") for i in range(1, 13)]
    pd.DataFrame(rows, columns=["unit", "rater", "code"]).to_csv(humans, index=False)
    build_queue(path.name, BuildOptions(humans=str(humans), audit_size=0))
    with open_queue(path.name) as queue:
        target = queue.store.item_by_unit(unit)
        assert len(target.detail["raters"]) == 14  # two annotators (one an error row), 12 humans
        for item in actions.pending(queue, "ann"):
            if item.id != target.id:
                actions.skip(queue, item, adjudicator="ann")
    first, scrolled = drive(path.name, [screen_text, "tab", "end", screen_text])
    assert f"item {target.id} (unit)" in first
    assert "proposal (a accepts): " in first
    assert "H12" not in first  # the top pane holds 60% of the screen
    assert "H12" in scrolled and "HUMAN" in scrolled
    # the keys recorded nothing: the target has no decision, the rest only the skips
    assert all(d.action is Action.SKIP and d.item_id != target.id for d in in_force(path.name))
