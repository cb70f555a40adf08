"""The review app driven headless with Textual's Pilot, one test per key, and once in
a real terminal under tmux."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import debian_tool
from review_kit import LABELS, install_run, make_run, reviewed_rows, workspace_crosswalk
from textual.widgets import Static

from ptmcoder.review import BuildOptions, build_queue, open_queue
from ptmcoder.review.app import HelpScreen, ReviewApp
from ptmcoder.review.build import add_mapping_items
from ptmcoder.review.store import Action

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("review-app-template"))


@pytest.fixture
def run_id(template, isolated_home):
    path = install_run(template, isolated_home)
    build_queue(path.name, BuildOptions(humans=str(LABELS), audit_size=3))
    return path.name


def drive(run_id: str, keys: list[str], *, adjudicator="ann", blind=False, inspect=None):
    """Open the app, press ``keys`` (each followed by a pause) and return what
    ``inspect(app)`` returns before quitting."""

    async def main():
        queue = open_queue(run_id)
        app = ReviewApp(queue, adjudicator=adjudicator, blind=blind)
        try:
            async with app.run_test(size=(150, 50)) as pilot:
                await pilot.pause()
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause()
                return inspect(app) if inspect else None
        finally:
            queue.close()

    return asyncio.run(main())


def in_force(run_id: str, who: str = "ann"):
    with open_queue(run_id) as queue:
        return [d for d in queue.store.decisions(include_withdrawn=False) if d.adjudicator == who]


def first_item(run_id: str, who: str = "ann"):
    from ptmcoder.review import next_item

    with open_queue(run_id) as queue:
        return next_item(queue, who)


def text_of(app, wid: str) -> str:
    """What a panel of the screen shows, as plain text."""
    from rich.console import Console

    content = app.query_one(wid, Static).content
    console = Console(width=150, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()


def test_a_accepts_the_proposal_and_moves_on(run_id):
    item = first_item(run_id)
    shown = drive(run_id, ["a"], inspect=lambda app: app.item.id)
    [d] = in_force(run_id)
    assert d.item_id == item.id and d.action is Action.ACCEPT
    assert d.codes == item.detail["proposal"]
    assert shown != item.id


def test_x_rejects(run_id):
    item = first_item(run_id)
    drive(run_id, ["x"])
    [d] = in_force(run_id)
    assert (d.item_id, d.action, d.codes) == (item.id, Action.REJECT, [])


def test_space_skips_and_backspace_undoes(run_id):
    item = first_item(run_id)
    after_skip = drive(run_id, ["space"], inspect=lambda app: app.item.id)
    [d] = in_force(run_id)
    assert d.action is Action.SKIP and d.item_id == item.id and after_skip != item.id
    back = drive(run_id, ["backspace"], inspect=lambda app: (app.item.id, app.last_message))
    assert back[0] == item.id and "undone" in back[1]
    assert in_force(run_id) == []


def test_digit_accepts_that_raters_codes(run_id):
    item = first_item(run_id)
    raters = item.detail["raters"]
    k = next(i for i, r in enumerate(raters, 1) if r["codes"])
    drive(run_id, [str(k)])
    [d] = in_force(run_id)
    assert d.action is Action.ACCEPT_RATER and d.rater == raters[k - 1]["name"]
    assert d.codes == raters[k - 1]["codes"]


def test_digit_without_such_rater_shows_an_error_and_saves_nothing(run_id):
    item = first_item(run_id)
    k = len(item.detail["raters"]) + 1
    message = drive(run_id, [str(k)], inspect=lambda app: app.last_message)
    assert f"has no rater '{k}'" in message
    assert in_force(run_id) == []


def test_c_types_codes_with_completion(run_id):
    item = first_item(run_id)
    keys = ["c", "d", "l", "-", "tab", "comma", "u", "n", "c", "tab", "enter"]
    drive(run_id, keys)
    [d] = in_force(run_id)
    assert d.item_id == item.id and d.action is Action.CODES
    assert d.codes == ["dl-fault", "unclear"]


def test_c_with_an_unknown_code_shows_the_located_error(run_id):
    msg = drive(run_id, ["c", *"nope", "enter"], inspect=lambda app: app.last_message)
    assert "'nope' is not a code of codebook 'humbatova-screening'" in msg
    assert in_force(run_id) == []


def test_escape_cancels_typing(run_id):
    state = drive(run_id, ["c", "g", "escape", "a"], inspect=lambda app: app.mode)
    assert state is None
    # letters typed went to the input line, 'a' after escape accepted
    [d] = in_force(run_id)
    assert d.action is Action.ACCEPT


def test_n_records_no_code_fits_with_a_note(run_id):
    drive(run_id, ["n", *"licence of a model", "enter"])
    [d] = in_force(run_id)
    assert d.action is Action.NO_FIT and d.note == "licence of a model"


def test_question_mark_opens_help_and_any_key_closes_it(run_id):
    seen = []
    drive(
        run_id,
        ["question_mark"],
        inspect=lambda app: seen.append(isinstance(app.screen, HelpScreen)),
    )
    closed = drive(run_id, ["question_mark", "z"], inspect=lambda app: type(app.screen).__name__)
    assert seen == [True] and closed != "HelpScreen"
    assert in_force(run_id) == []


def test_q_quits(run_id):
    async def main():
        queue = open_queue(run_id)
        app = ReviewApp(queue, adjudicator="ann")
        async with app.run_test() as pilot:
            await pilot.press("q")
            await pilot.pause()
            running = app.is_running
        queue.close()
        return running

    assert asyncio.run(main()) is False


def test_screen_shows_unit_raters_definitions_and_progress(run_id):
    def inspect(app):
        return {w: text_of(app, w) for w in ("#progress", "#unit", "#raters", "#codes")}

    shown = drive(run_id, [], inspect=inspect)
    item = first_item(run_id)
    assert "done 0" in shown["#progress"] and "left" in shown["#progress"]
    assert item.detail["unit"]["title"][:30] in shown["#unit"]
    assert "HUMAN" in shown["#raters"] and "ANNOTATOR" in shown["#raters"]
    for code in item.detail["proposal"]:
        assert code in shown["#codes"]
    assert "include:" in shown["#codes"] and "exclude:" in shown["#codes"]


def test_evidence_absent_from_text_is_marked(run_id):
    # the injection-flagged record quotes "not in the title" (see review_kit)
    with open_queue(run_id) as queue:
        item = next(i for i in queue.store.items() if "possible_injection" in i.reason_names)
        before = [i.id for i in queue.store.items()].index(item.id)
    keys = ["space"] * before
    shown = drive(run_id, keys, inspect=lambda app: (app.item.id, text_of(app, "#unit")))
    assert shown[0] == item.id
    assert "evidence NOT IN THE TEXT" in shown[1] and "not in the title" in shown[1]


def test_blind_hides_other_adjudicators(run_id):
    drive(run_id, ["a"], adjudicator="ann")
    seen = drive(run_id, [], adjudicator="bob", inspect=lambda app: text_of(app, "#others"))
    hidden = drive(
        run_id, [], adjudicator="bob", blind=True, inspect=lambda app: text_of(app, "#others")
    )
    assert "ann: accept" in seen
    assert "ann" not in hidden and "hidden" in hidden


def test_mapping_item_keys(run_id, isolated_home):
    path, suggestions = workspace_crosswalk(isolated_home)
    add_mapping_items(run_id, suggestions, mapping_set=str(path))
    with open_queue(run_id) as queue:
        order = [i.kind for i in queue.store.items()]
    skips = ["space"] * order.index("mapping")
    shown = drive(run_id, skips, inspect=lambda app: text_of(app, "#unit"))
    # both codes' definitions (in the lower pane; the suggestion itself is in the top one)
    assert suggestions[0]["subject_label"] in shown and suggestions[0]["object_label"] in shown
    # the skipped unit items went to the end of the queue: the mappings come next
    drive(run_id, ["a", "r", *"skos:broad", "tab", "enter", "x"])
    rows = reviewed_rows(path, "ann")
    accepted, changed, rejected = (rows[(s["subject_id"], s["object_id"])] for s in suggestions)
    assert accepted.predicate_id == suggestions[0]["predicate"] and not accepted.predicate_modifier
    assert changed.predicate_id == "skos:broadMatch"
    assert rejected.predicate_modifier == "Not"


# -- a real terminal ---------------------------------------------------------------------


def _tmux() -> str | None:
    return debian_tool("tmux", "tmux")


def test_review_app_in_a_real_terminal_under_tmux(run_id, isolated_home):
    tmux = _tmux()
    if tmux is None:
        pytest.skip("tmux is not installed and `apt-get install -y tmux` failed")
    session = f"ptmreview{os.getpid()}"
    socket = str(isolated_home / "tmux.sock")
    env_cmd = (
        f"cd {isolated_home} && env -u COLUMNS -u LINES PTMCODER_HOME={isolated_home} "
        f"PYTHONPATH={REPO} "
        f"{sys.executable} -m ptmcoder review {run_id} --adjudicator tm"
    )

    def tm(*args: str) -> str:
        out = subprocess.run([tmux, "-S", socket, *args], capture_output=True, text=True)
        return out.stdout

    def screen_until(text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = tm("capture-pane", "-t", session, "-p")
            if text in shown:
                return shown
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared; screen:\n{shown}")

    first = first_item(run_id, "tm")
    tm("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "150", "-y", "45", env_cmd)
    tm("set-option", "-t", session, "remain-on-exit", "on")  # keep a crash on screen
    try:
        screen_until("done 0")
        screen = screen_until("HUMAN")
        assert f"item {first.id} " in screen and "ANNOTATOR" in screen
        time.sleep(2.0)  # keys typed while Textual still sets up the terminal are dropped
        tm("send-keys", "-t", session, "a")
        screen = screen_until("done 1")
        assert f"saved: item {first.id} accept" in screen
        tm("send-keys", "-t", session, "?")
        screen_until("this help")
        tm("send-keys", "-t", session, "z")
        deadline = time.monotonic() + 20
        while "this help" in tm("capture-pane", "-t", session, "-p"):
            assert time.monotonic() < deadline, "the help screen did not close"
            time.sleep(0.3)
        tm("send-keys", "-t", session, "BSpace")
        screen_until("done 0")
        tm("send-keys", "-t", session, "c")
        tm("send-keys", "-t", session, "-l", "gen")
        tm("send-keys", "-t", session, "Tab", "Enter")
        screen_until("done 1")
        tm("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and session in tm("list-sessions"):
            time.sleep(0.3)
    finally:
        tm("kill-server")
    [d] = in_force(run_id, "tm")
    assert d.item_id == first.id and d.action is Action.CODES and d.codes == ["generic"]


def test_fast_typing_reaches_the_input_line(run_id):
    """Keys typed faster than the input line takes the focus still go into it, and Tab
    completes what was typed before it."""

    async def main():
        queue = open_queue(run_id)
        app = ReviewApp(queue, adjudicator="ann")
        async with app.run_test(size=(150, 50)) as pilot:
            await pilot.pause()
            await pilot.press("c", "u", "n", "tab", "enter")
            await pilot.pause()
        queue.close()

    asyncio.run(main())
    [d] = in_force(run_id)
    assert d.action is Action.CODES and d.codes == ["unclear"]


def test_each_key_reads_the_queue_once(run_id):
    """The screen refreshes after every key from one read of items and decisions (it
    read the whole queue five times per key)."""

    async def main():
        queue = open_queue(run_id)
        reads = {"items": 0, "current": 0}
        for name in reads:
            original = getattr(queue.store, name)

            def counted(*a, _original=original, _name=name, **kw):
                reads[_name] += 1
                return _original(*a, **kw)

            setattr(queue.store, name, counted)
        app = ReviewApp(queue, adjudicator="ann")
        try:
            async with app.run_test(size=(150, 50)) as pilot:
                await pilot.pause()
                before = dict(reads)
                first = app.item.id
                await pilot.press("a")
                await pilot.pause()
                return before, dict(reads), first, app.item.id
        finally:
            queue.close()

    before, after, first, second = asyncio.run(main())
    assert before == {"items": 1, "current": 1}  # the first screen
    assert second != first  # the key was taken and the next item shown
    assert after["items"] - before["items"] == 1
    assert after["current"] - before["current"] == 1
