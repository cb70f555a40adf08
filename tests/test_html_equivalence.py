"""html_to_text (rewritten for speed in issue #18) gives exactly the text of the
implementation it replaced, frozen below as the oracle, on the bench generator's
bodies, the bundled real Stack Overflow bodies, GitHub issue bodies and fuzzed HTML
made of the tags, entities, blanks and case-folding letters the patterns care about.
The one intended difference: a NUL is read as U+FFFD (it used to collide with the
code-block placeholders)."""

from __future__ import annotations

import html as _html
import json
import random
import re
import sys
from pathlib import Path
from xml.parsers import expat

from hypothesis import given, settings
from hypothesis import strategies as st

from ptmcoder import paths
from ptmcoder.corpus.html import html_to_text

REPO = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------- the oracle (before #18)
_PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre\s*>", re.S | re.I)
_CODE_TAG = re.compile(r"</?code\b[^>]*>", re.I)
_INLINE_CODE = re.compile(r"<code\b[^>]*>(.*?)</code\s*>", re.S | re.I)
_LI = re.compile(r"<li\b[^>]*>", re.I)
_LI_END = re.compile(r"</li\s*>", re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_BLOCK = re.compile(
    r"</?(?:p|div|br|hr|h[1-6]|blockquote|ul|ol|tr|table|thead|tbody|dl|dt|dd)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]+>")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_SPACES = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


def reference(body: str | None) -> str:
    if not body:
        return ""
    if "<" not in body and "&" not in body:
        return body.strip()
    blocks: list[str] = []

    def keep_block(m: re.Match[str]) -> str:
        code = _html.unescape(_TAG.sub("", _CODE_TAG.sub("", m.group(1))))
        blocks.append("```\n" + code.strip("\n") + "\n```")
        return f"\n\x00{len(blocks) - 1}\x00\n"

    text = _PRE.sub(keep_block, body)
    text = _INLINE_CODE.sub(lambda m: "`" + _TAG.sub("", m.group(1)) + "`", text)
    text = _LI_END.sub("", _LI.sub("\n- ", text))
    text = _IMG.sub("[image]", text)
    text = _BLOCK.sub("\n", text)
    text = _SPACES.sub(" ", _html.unescape(_TAG.sub("", text)))
    lines = [line.strip() for line in text.split("\n")]
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    if blocks:
        text = _PLACEHOLDER.sub(lambda m: blocks[int(m.group(1))], text)
    return text


# ----------------------------------------------------------------------------- inputs
FRAGMENTS = [
    "<pre>", "</pre>", "<PRE class='lang-py'>", "</pre >", "<pre", "<preformat>",
    "<code>", "</code>", "<CODE>", "</code\n>", "<Code x='1'>",
    "<li>", "</li>", "<LI>", "</li >", "<ul>", "</ul>", "<ol>", "<img src='a.png'>", "<IMG/>",
    "<p>", "</p>", "<br>", "<br/>", "<hr />", "<h1>", "</H6>", "<h7>", "<blockquote>",
    "<table>", "<tr>", "<dl>", "<dt>", "<dd>", "<a href='x'>", "</a>", "<b>", "<", ">",
    "&lt;", "&gt;", "&amp;", "&quot;", "&#39;", "&nbsp;", "&amp;lt;", "&#x41;", "&", "&lt",
    " ", "  ", "   ", "\t", "\r", "\r\n", "\n", "\n\n", "\x0b", "\x0c", "\xa0", "\u2028", "\x85",
    "\x00", "\x001\x00", "ı", "İ", "ſ", "\u212a", "<lı>", "<İmg>", "<blocKquote>",
    "<\u212aBD>", "x", "word", "bert", "`", "```",
]  # fmt: skip

BODIES = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)


@settings(max_examples=3000, deadline=None)
@given(BODIES)
def test_fuzzed_html_converts_exactly_as_before(body):
    # a NUL is now read as U+FFFD: before, NUL-digits-NUL in a body with a code block
    # was taken for a code-block placeholder (IndexError or the wrong block's text)
    assert html_to_text(body) == reference(body.replace("\x00", "\ufffd"))


def test_a_nul_in_a_body_is_not_taken_for_a_code_block():
    body = "\x001\x00 and \x000\x00<pre><code>x</code></pre>"
    assert html_to_text(body) == "\ufffd1\ufffd and \ufffd0\ufffd\n```\nx\n```"


def test_generated_real_and_issue_bodies_convert_exactly_as_before():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_posts_xml import _body
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rnd = random.Random(7)
    bodies = [_body(rnd) for _ in range(2000)]
    parser = expat.ParserCreate()
    parser.StartElementHandler = lambda tag, attrs: bodies.append(attrs.get("Body"))
    parser.ParseFile((paths.samples_dir() / "so_posts_sample.xml").open("rb"))
    with (paths.samples_dir() / "github_issues_sample.jsonl").open(encoding="utf-8") as fh:
        bodies += [json.loads(line).get("body") for line in fh if line.strip()]
    assert len(bodies) > 2100
    for body in bodies:
        assert html_to_text(body) == reference(body)
