"""Secrets out of every error text before it is stored, logged or printed.

An endpoint may echo the request's ``Authorization`` header (or the key itself) in
an error body; that text would otherwise land in ``annotations.jsonl``, in
``runs show`` and on the terminal. :func:`redact` replaces the values of the API-key
variables in the environment and anything shaped like a bearer token, an
``Authorization``/``api-key`` header value or an ``sk-...`` key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "[REDACTED]"
#: environment variables whose values are secrets (OPENAI_API_KEY, HF_TOKEN, ...)
_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
_MIN_SECRET = 6
_PATTERNS = [
    # Authorization: Bearer xxx / Basic xxx (header or JSON-ish "authorization": "...")
    re.compile(
        r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?"
        r"[^\s\"',;}]+"
    ),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"),
    # api-key: xxx, x-api-key=xxx, "api_key": "xxx", ?key=xxx
    re.compile(r"(?i)(\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}&]+"),
    # OpenAI-style keys
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
]


def _env_secrets() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if _SECRET_ENV.search(name) and len(value.strip()) >= _MIN_SECRET
    ]


def _mask(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g]
    if not groups:
        return MASK
    prefix = groups[0]
    if len(groups) > 1:  # a scheme after the header name: keep it
        return f"{prefix}{groups[1]} {MASK}"
    if prefix.lower() in ("bearer", "basic", "token"):
        return f"{prefix} {MASK}"
    return f"{prefix}{MASK}"


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """``text`` with every secret replaced by ``[REDACTED]``.

    >>> redact("HTTP 400: got header Authorization: Bearer abc.def-123")
    'HTTP 400: got header Authorization: Bearer [REDACTED]'
    """
    if not text:
        return text
    out = text
    for secret in sorted({*_env_secrets(), *secrets}, key=len, reverse=True):
        if secret and len(secret) >= _MIN_SECRET:
            out = out.replace(secret, MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(_mask, out)
    return out
