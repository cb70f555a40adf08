"""Stack Overflow HTML bodies to clean text.

Code blocks (``<pre><code>``) are kept verbatim between ``` fences on their own
lines, inline ``<code>`` becomes `backticks`, block elements become line
breaks, list items start with ``- ``, images become ``[image]`` and every other
tag is dropped; entities are decoded. Regular expressions rather than a DOM
parser: the dump has tens of millions of bodies and this runs per body.

>>> html_to_text("<p>Load <code>bert</code>:</p><pre><code>x = 1 &lt; 2\\n</code></pre>")
'Load `bert`:\\n\\n```\\nx = 1 < 2\\n```'
"""

from __future__ import annotations

import html as _html
import re

# Every pattern starts with a literal ``<`` (the case-insensitive part is an inline
# group after it), so the regex engine jumps from one ``<`` to the next instead of trying
# each position; element contents are matched as runs of non-``<`` characters with a
# guard at each ``<`` (the same match as a lazy ``.*?`` up to the first closing tag,
# without a backtracking step per character).
_PRE = re.compile(r"<(?i:pre)\b[^>]*>([^<]*(?:<(?!/(?i:pre)\s*>)[^<]*)*)</(?i:pre)\s*>")
_CODE_TAG = re.compile(r"</?(?i:code)\b[^>]*>")
_INLINE_CODE = re.compile(r"<(?i:code)\b[^>]*>([^<]*(?:<(?!/(?i:code)\s*>)[^<]*)*)</(?i:code)\s*>")
_LI = re.compile(r"<(?i:li)\b[^>]*>")
_LI_END = re.compile(r"</(?i:li)\s*>")
_IMG = re.compile(r"<(?i:img)\b[^>]*>")
_BLOCK = re.compile(
    r"</?(?i:p|div|br|hr|h[1-6]|blockquote|ul|ol|tr|table|thead|tbody|dl|dt|dd)\b[^>]*>"
)
_TAG = re.compile(r"<[^>]+>")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
# runs of blanks other than a lone space (which would be replaced by itself)
_SPACES = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n\s*(?:\n\s*)*")
# an ``&`` that does not start one of the five entities the dump escapes with
_OTHER_ENTITY = re.compile(r"&(?!lt;|gt;|quot;|#39;|amp;)")
_COMMON_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))


def _unescape(text: str) -> str:
    """``html.unescape``, with a fast path when every ``&`` starts one of the five
    entities the dump escapes with (``&amp;`` replaced last, so ``&amp;lt;`` stays
    ``&lt;`` as in ``html.unescape``)."""
    if "&" not in text:
        return text
    if _OTHER_ENTITY.search(text):
        return _html.unescape(text)
    for entity, char in _COMMON_ENTITIES:
        if entity in text:
            text = text.replace(entity, char)
    return text


def _collapse_blanks(text: str) -> str:
    """``_SPACES.sub(" ", text)``; without tabs, CR, FF or VT that is collapsing runs
    of spaces, which ``str.replace`` does without visiting every character in Python's
    regex engine."""
    if "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        return _SPACES.sub(" ", text)
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def html_to_text(body: str | None) -> str:
    """Convert one Stack Overflow HTML body to text (see the module docstring)."""
    if not body:
        return ""
    if "\x00" in body:  # NUL marks the code-block placeholders; HTML parsers read it as U+FFFD
        body = body.replace("\x00", "\ufffd")
    if "<" not in body and "&" not in body:
        return body.strip()
    blocks: list[str] = []

    def keep_block(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.startswith("<code>") and code.endswith("</code>") and code.count("<") == 2:
            code = code[6:-7]  # the usual <pre><code>...</code></pre>: the two subs below
        elif "<" in code:
            code = _TAG.sub("", _CODE_TAG.sub("", code))
        code = _unescape(code)
        blocks.append("```\n" + code.strip("\n") + "\n```")
        return f"\n\x00{len(blocks) - 1}\x00\n"

    def inline(m: re.Match[str]) -> str:
        code = m.group(1)
        return "`" + (_TAG.sub("", code) if "<" in code else code) + "`"

    text = _PRE.sub(keep_block, body)
    text = _INLINE_CODE.sub(inline, text)
    text = _LI_END.sub("", _LI.sub("\n- ", text))
    text = _IMG.sub("[image]", text)
    text = _BLOCK.sub("\n", text)
    text = _collapse_blanks(_unescape(_TAG.sub("", text)))  # blank runs never cross a line
    lines = [line.strip() for line in text.split("\n")]
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    if blocks:
        text = _PLACEHOLDER.sub(lambda m: blocks[int(m.group(1))], text)
    return text
