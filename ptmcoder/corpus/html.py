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
# runs of blanks other than a lone space (which would be replaced by itself)
_SPACES = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


_COMMON_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))


def _unescape(text: str) -> str:
    """``html.unescape``, with a fast path when every ``&`` starts one of the five
    entities the dump escapes with (``&amp;`` replaced last, so ``&amp;lt;`` stays
    ``&lt;`` as in ``html.unescape``)."""
    if "&" not in text:
        return text
    if text.count("&") != sum(text.count(e) for e, _ in _COMMON_ENTITIES):
        return _html.unescape(text)
    for entity, char in _COMMON_ENTITIES:
        text = text.replace(entity, char)
    return text


def html_to_text(body: str | None) -> str:
    """Convert one Stack Overflow HTML body to text (see the module docstring)."""
    if not body:
        return ""
    if "<" not in body and "&" not in body:
        return body.strip()
    blocks: list[str] = []

    def keep_block(m: re.Match[str]) -> str:
        code = _unescape(_TAG.sub("", _CODE_TAG.sub("", m.group(1))))
        blocks.append("```\n" + code.strip("\n") + "\n```")
        return f"\n\x00{len(blocks) - 1}\x00\n"

    text = _PRE.sub(keep_block, body)
    text = _INLINE_CODE.sub(lambda m: "`" + _TAG.sub("", m.group(1)) + "`", text)
    text = _LI_END.sub("", _LI.sub("\n- ", text))
    text = _IMG.sub("[image]", text)
    text = _BLOCK.sub("\n", text)
    text = _SPACES.sub(" ", _unescape(_TAG.sub("", text)))  # blank runs never cross a line
    lines = [line.strip() for line in text.split("\n")]
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    if blocks:
        text = _PLACEHOLDER.sub(lambda m: blocks[int(m.group(1))], text)
    return text
