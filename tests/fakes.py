"""Test doubles for the annotation tests.

- :class:`FakeChatModel`: a :class:`~ptmcoder.llm.base.ChatModel` answering from a
  queue of scripted replies (a text, a list of texts for ``n`` samples, or an
  exception to raise), then from a fallback function; it records every request.
- :func:`codes_responder`: a responder for ``tests/llm_server.py`` (in-process or
  ``--responder fakes:codes_responder``) that answers every unit with a valid
  ``dl-fault`` code and the unit's first line as evidence.
- :func:`posts_row`: one ``<row .../>`` element of a Stack Exchange dump.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ptmcoder.llm.base import ChatRequest, Completion

UNIT_RE = re.compile(r'<unit id="([^"]*)">\n(.*?)\n</unit>', re.DOTALL)


def answer(*codes: str, evidence: str = "", confidence: float = 0.8) -> str:
    """A well-formed answer assigning ``codes``."""
    return json.dumps(
        {
            "codes": [
                {
                    "code": c,
                    "rationale": f"fits {c}",
                    "evidence": evidence,
                    "confidence": confidence,
                }
                for c in codes
            ],
            "none": not codes,
        }
    )


def unit_of(messages: list[Any]) -> tuple[str, str]:
    """(unit id, unit text) from the last user message that holds a unit."""
    for message in reversed(messages):
        content = message["content"] if isinstance(message, dict) else message.content
        match = UNIT_RE.search(content)
        if match:
            return match.group(1), match.group(2)
    return "", ""


class FakeChatModel:
    """A scripted chat model; ``requests`` lists what it was asked."""

    def __init__(
        self,
        *replies: Any,
        fallback: Callable[[ChatRequest], Any] | None = None,
        name: str = "fake",
    ) -> None:
        self.name = name
        self.queue: deque[Any] = deque(replies)
        self.fallback = fallback or (lambda request: answer())
        self.requests: list[ChatRequest] = []

    def enqueue(self, *replies: Any) -> None:
        self.queue.extend(replies)

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        reply = self.queue.popleft() if self.queue else self.fallback(request)
        if isinstance(reply, BaseException):
            raise reply
        texts = [reply] if isinstance(reply, str) else list(reply)
        if len(texts) == 1 and request.n > 1:
            texts = texts * request.n
        return Completion(
            texts=texts,
            model=request.model,
            input_tokens=100,
            output_tokens=20 * len(texts),
            latency_s=0.01,
        )


def codes_responder(request: dict[str, Any]) -> Any:
    """LLMServer responder: ``dl-fault`` with the unit's first line as evidence."""
    import llm_server  # tests/ is on sys.path when the server runs

    _, text = unit_of(request.get("messages", []))
    first_line = text.splitlines()[0] if text else ""
    return llm_server.Reply.ok(answer("dl-fault", evidence=first_line, confidence=0.9))


def write_units(path: Path, n: int) -> Path:
    """A CSV corpus of ``n`` units ``u:0``.. with a title each (the LLM tests' corpus)."""
    rows = ["id,title"] + [
        f"u:{i},Keras model {i} returns NaN loss after epoch {i}" for i in range(n)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def read_records(run_dir: Path) -> list[dict]:
    """The raw JSON lines of a run's annotations.jsonl (what is on disk, for assertions)."""
    lines = (run_dir / "annotations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def openai_annotate(units, base_url=None) -> tuple:
    """``annotate`` arguments coding ``units`` with the Humbatova screening codebook
    through ``openai:gpt-4o-mini`` (at ``base_url``: a local test server)."""
    args = ("annotate", "--codebook", "humbatova-screening", "--corpus", units)
    args += ("--annotator", "openai:gpt-4o-mini")
    return args + (("--base-url", base_url) if base_url else ())


def posts_row(attrs: dict[str, str]) -> str:
    """``<row k="v" ... />`` with each value quoted, its unprintable characters dropped
    (XML 1.0 cannot carry most of them)."""
    printable = {k: "".join(c for c in v if c.isprintable()) for k, v in attrs.items()}
    return "<row " + " ".join(f"{k}={quoteattr(v)}" for k, v in printable.items()) + " />"


def debian_tool(binary: str, package: str, *names: str) -> str | None:
    """The path of a program from a Debian package, installed with ``apt-get install
    -y`` when missing (the tests run as root on Debian); None only when it cannot be
    had, so that the caller skips with that reason."""
    import shutil
    import subprocess

    def found() -> str | None:
        return next((p for p in map(shutil.which, (binary, *names)) if p), None)

    if found() is None:
        try:
            subprocess.run(
                ["apt-get", "install", "-y", package],
                capture_output=True,
                timeout=900,
                check=False,
                env={**__import__("os").environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        except (OSError, subprocess.SubprocessError):
            return None
    return found()
