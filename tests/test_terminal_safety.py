"""Issue #25 item 13: text from posts (and from a model's answer) is printed with its
control and escape sequences neutralised, and never read as rich markup: a post
cannot clear the screen, set the window title or style the review screen.
Item 12 (part): a huge item number is a located error, not a traceback."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from fakes import openai_annotate, unit_of
from llm_server import LLMServer, Reply
from textual.widgets import Static

from ptmcoder.console import safe_text
from ptmcoder.review import open_queue
from ptmcoder.review.app import ReviewApp

ESC_2J = "\x1b[2J"  # clear the screen
OSC_TITLE = "\x1b]0;pwned\x07"  # set the window title, BEL-terminated
OSC_TITLE_ST = "\x1b]2;owned\x1b\\"  # the same, ST-terminated
C1_CSI = "\x9b2J"  # CSI as one C1 control
C1_OSC = "\x9d0;c1 title\x9c"
BEL = "\x07"
MARKUP = "[bold red]loud[/bold red] [link=https://evil.example]click[/link]"
HOSTILE = f"Keras NaN {ESC_2J}{OSC_TITLE}{OSC_TITLE_ST}{C1_CSI}{C1_OSC}{BEL} {MARKUP}"
#: what must never reach the terminal
RAW = ("\x1b", "\x07", "\x9b", "\x9d", "\x9c", "\x08", "\u202e")


@pytest.mark.parametrize(
    "text,shown",
    [
        (ESC_2J, "\\x1b[2J"),
        (OSC_TITLE, "\\x1b]0;pwned\\x07"),
        (OSC_TITLE_ST, "\\x1b]2;owned\\x1b\\"),
        (C1_CSI, "\\x9b2J"),
        (C1_OSC, "\\x9d0;c1 title\\x9c"),
        (BEL, "\\x07"),
        ("back\x08\x08\x7f", "back\\x08\\x08\\x7f"),
        ("over\rwrite", "over\\x0dwrite"),
        ("abc\u202edcba", "abc\\u202edcba"),  # a bidi override (Trojan Source)
        ("line 1\r\nline 2\n\tindented", "line 1\nline 2\n\tindented"),
        ("plain [bold]text[/bold] ünïcödé 😀", "plain [bold]text[/bold] ünïcödé 😀"),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_text_neutralises_controls_and_keeps_newlines_and_tabs(text, shown):
    out = safe_text(text)
    assert out == shown
    assert not any(c in out for c in RAW)


def _responder(request: dict) -> Reply:
    _, text = unit_of(request.get("messages", []))
    answer = {
        "codes": [
            {
                "code": "dl-fault",
                "rationale": f"model says {MARKUP} {OSC_TITLE}",
                "evidence": text.splitlines()[0] if text else "",
                "confidence": 0.3,  # low: the unit is queued for review
            }
        ],
        "none": False,
    }
    return Reply.ok(json.dumps(answer))


@pytest.fixture
def hostile_run(run_cli, isolated_home) -> str:
    units = isolated_home / "units.jsonl"
    rows = [
        {"id": "u:0", "title": HOSTILE, "body": f"body {ESC_2J} text\n```\ncode {OSC_TITLE}\n```"},
        {"id": "u:1", "title": "An ordinary title", "body": "nothing here"},
    ]
    units.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with LLMServer(responder=_responder) as server:
        result = run_cli(
            *openai_annotate(units, server.base_url), "--run", "hostile", "--no-progress"
        )
    assert result.exit_code == 0, result.stderr
    built = run_cli("review", "build", "hostile")
    assert built.exit_code == 0, built.stderr
    with open_queue("hostile") as queue:
        titles = [i.detail.get("unit", {}).get("title", "") for i in queue.store.items()]
    assert any("\x1b" in t for t in titles), titles  # the raw sequences did reach the queue
    return "hostile"


def test_review_next_prints_no_escape_sequence(run_cli, hostile_run):
    seen = []
    for _ in range(2):
        shown = run_cli("review", "next", hostile_run, "--adjudicator", "ann")
        assert shown.exit_code == 0, shown.stderr
        seen.append(shown.stdout)
        run_cli("review", "skip", hostile_run, "--adjudicator", "ann")
    out = "".join(seen)
    assert "Keras NaN" in out
    assert not any(c in out for c in RAW), repr(out)
    assert "\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out  # shown, not obeyed
    assert MARKUP in " ".join(out.split())  # markup shown literally (lines may wrap)


def _screen_text(app, wid: str) -> str:
    from rich.console import Console

    content = app.query_one(wid, Static).content
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()


def test_the_review_screen_shows_post_text_literally(hostile_run):
    async def main() -> list[str]:
        queue = open_queue(hostile_run)
        app = ReviewApp(queue, adjudicator="ann")
        seen = []
        try:
            async with app.run_test(size=(200, 60)) as pilot:
                await pilot.pause()
                for _ in range(2):
                    seen.append(_screen_text(app, "#unit") + _screen_text(app, "#raters"))
                    await pilot.press("space")
                    await pilot.pause()
        finally:
            queue.close()
        return seen

    shown = " ".join("".join(asyncio.run(main())).split())
    assert "Keras NaN" in shown
    assert not any(c in shown for c in RAW), repr(shown)
    assert "[bold red]loud[/bold red]" in shown  # in the title and in the rationale
    assert shown.count("[link=https://evil.example]click[/link]") >= 2


@pytest.mark.parametrize(
    "ref",
    ["9" * 30, "9223372036854775808", "9" * 5000, "²", "١٢", "0", "+5"],
    ids=["30-digits", "2**63", "5000-digits", "superscript", "arabic-digits", "zero", "plus"],
)
@pytest.mark.parametrize("command", ["accept", "reject", "decide"])
def test_a_huge_or_strange_item_number_is_a_located_error(run_cli, hostile_run, ref, command):
    extra = ["--codes", "dl-fault"] if command == "decide" else []
    result = run_cli("review", command, ref, "--run", hostile_run, *extra)
    assert result.exit_code != 0 and result.exception is None, result.exception
    assert "no item" in result.stderr and hostile_run in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 2000  # the 5,000 digits are not echoed back


def test_a_huge_item_for_skip_and_a_huge_rater_number(run_cli, hostile_run):
    skip = run_cli("review", "skip", hostile_run, "--item", "9" * 40)
    assert skip.exit_code != 0 and skip.exception is None and "no item" in skip.stderr
    rater = run_cli("review", "accept", "1", "--run", hostile_run, "--rater", "9" * 5000)
    assert rater.exit_code != 0 and rater.exception is None, rater.exception
    assert "no rater" in rater.stderr


def test_the_jsonl_corpus_kept_the_raw_title(hostile_run):
    # the neutralising happens when printing, not in the data: --json keeps it exact
    with open_queue(hostile_run) as queue:
        item = next(i for i in queue.store.items() if i.unit_id == "u:0")
    assert item.detail["unit"]["title"].startswith("Keras NaN \x1b[2J")
    assert Path  # (typing helper kept for fixtures)
