"""The response cache: a rerun of the same work makes no model calls.

The key is the sha256 of canonical JSON (sorted keys, no whitespace) of
everything that determines the answer: the endpoint (normalised, without
credentials), the model (and the implementation that serves it), the messages,
every sampling and output parameter, the structured-output mode, the prompt
version and the codebook hash. Only successful completions are stored; errors
never are, and an answer the caller found unusable is removed
(:meth:`CachedChatModel.discard`). No API key, header or endpoint credential is
part of a key or a row: a completion has the endpoint's key (and every API-key
variable of the environment) taken out before it is stored, and again when it is
read back (a row written before that rule).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from ptmcoder.files import canonical_json
from ptmcoder.llm.base import ChatModel, ChatRequest, Completion
from ptmcoder.llm.redact import redact_completion
from ptmcoder.store import connect, migrate

#: bump when the meaning of a key changes (old rows then simply stop matching)
KEY_VERSION = 2

MIGRATIONS = [
    """
    CREATE TABLE responses (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        prompt_version TEXT,
        codebook_hash TEXT,
        completion TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX responses_model ON responses(model)
    """,
]


def normalise_endpoint(url: str | None) -> str | None:
    """An endpoint URL as one spelling: scheme and host lower case, default port and
    trailing slash dropped, and never user, password, query or fragment (so no
    credential can reach a cache key).

    >>> normalise_endpoint("HTTPS://user:k@API.example.com:443/v1/?key=x")
    'https://api.example.com/v1'
    """
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{path}"


def cache_key(
    request: ChatRequest,
    *,
    prompt_version: str,
    codebook_hash: str,
    namespace: str | None = None,
    endpoint: str | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    """sha256 hex of the canonical JSON of what determines the completion.

    ``namespace`` is the model implementation (e.g. ``openai:gpt-4o-mini`` or
    ``langchain:anthropic:claude-...``) and ``endpoint`` the server's URL
    (normalised by :func:`normalise_endpoint`), so that two providers or two
    servers serving a model of the same name do not share answers. ``options`` are
    client settings that change the request sent (e.g. the structured-output mode).
    Every field of the request is part of the key, so a new sampling parameter
    cannot be forgotten.
    """
    payload = {
        "v": KEY_VERSION,
        "namespace": namespace,
        "endpoint": normalise_endpoint(endpoint),
        "options": options or {},
        "request": request.model_dump(mode="json"),
        "prompt_version": prompt_version,
        "codebook_hash": codebook_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class ResponseCache:
    """Completions by key in a SQLite file (WAL), with hit/miss counters."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        migrate(self._conn, "response_cache", MIGRATIONS)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.writes = 0
        #: keys never stored (beside the environment's API-key variables): the
        #: endpoint's, set by :class:`CachedChatModel`
        self.secrets: list[str] = []

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT completion FROM responses WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        completion = redact_completion(Completion.model_validate_json(row[0]), self.secrets)
        return completion.model_copy(update={"from_cache": True})

    def put(
        self,
        key: str,
        completion: Completion,
        *,
        prompt_version: str | None = None,
        codebook_hash: str | None = None,
    ) -> None:
        if not isinstance(completion, Completion):
            raise TypeError("only completions are cached, never errors")
        completion = redact_completion(completion, self.secrets)
        data = completion.model_dump_json(exclude={"from_cache"})
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses(key, model, prompt_version, codebook_hash, "
                "completion, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, completion.model, prompt_version, codebook_hash, data, time.time()),
            )
            self.writes += 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM responses WHERE key = ?", (key,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def stats(self) -> dict[str, int]:
        """Counters for the run manifest."""
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CachedChatModel:
    """A :class:`ChatModel` that answers from the cache and stores new completions.

    Identical requests in flight at the same time share one call.
    """

    def __init__(
        self,
        inner: ChatModel,
        cache: ResponseCache,
        prompt_version: str,
        codebook_hash: str,
        *,
        refresh: bool = False,
    ) -> None:
        #: ask the model even when the cache has an answer (and store the new one):
        #: a retry of an unusable answer must not get the same cached answer back
        self.refresh = refresh
        self.inner = inner
        self.cache = cache
        self.prompt_version = prompt_version
        self.codebook_hash = codebook_hash
        self.name = inner.name
        secrets = getattr(inner, "secrets", None)
        if callable(secrets):
            cache.secrets = sorted({*cache.secrets, *secrets()})
        self._inflight: dict[str, asyncio.Future[Completion]] = {}

    def key(self, request: ChatRequest) -> str:
        structured = getattr(self.inner, "structured", None)
        return cache_key(
            request,
            prompt_version=self.prompt_version,
            codebook_hash=self.codebook_hash,
            namespace=self.inner.name,
            endpoint=getattr(self.inner, "base_url", None),
            options={"structured": structured} if structured is not None else None,
        )

    def discard(self, request: ChatRequest) -> None:
        """Forget the answer to ``request``: the caller could not use it (unparseable,
        unknown code), and a later run must ask the model again, not replay it."""
        self.cache.delete(self.key(request))

    async def complete(self, request: ChatRequest) -> Completion:
        key = self.key(request)
        hit = None if self.refresh else self.cache.get(key)
        if hit is not None:
            return hit
        if self.refresh:
            self.cache.misses += 1
        pending = self._inflight.get(key)
        if pending is not None:
            result = await asyncio.shield(pending)
            return result.model_copy(update={"from_cache": True})
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion = await self.inner.complete(request)
        except BaseException as exc:
            if not future.done():
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: nobody else may be waiting
                else:
                    future.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        self.cache.put(
            key, completion, prompt_version=self.prompt_version, codebook_hash=self.codebook_hash
        )
        future.set_result(completion)
        return completion
