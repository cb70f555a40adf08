"""The SQLite response cache and CachedChatModel, against the local server."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from llm_server import LLMServer, Reply, respond_echo

from ptmcoder.llm.base import ChatMessage, ChatRequest, Completion
from ptmcoder.llm.cache import CachedChatModel, ResponseCache, cache_key
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.openai_client import OpenAIChatModel
from ptmcoder.llm.retry import RetryPolicy
from ptmcoder.store import connect, migrate

FAKE_KEY = "sk-fake-key-DO-NOT-STORE-4242"


def req(text="unit 1", **kw) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=[ChatMessage(role="user", content=text)], **kw)


@pytest.fixture
def server():
    with LLMServer(responder=respond_echo) as s:
        yield s


def cached_model(server, path, prompt_version="apply_codebook.v1", codebook_hash="abc"):
    inner = OpenAIChatModel(
        "gpt-4o-mini", base_url=server.base_url, retry=RetryPolicy(max_retries=0)
    )
    return CachedChatModel(inner, ResponseCache(path), prompt_version, codebook_hash)


def test_key_is_stable_and_sensitive_to_what_matters():
    base = cache_key(req(), prompt_version="v1", codebook_hash="h")
    assert base == cache_key(req(), prompt_version="v1", codebook_hash="h")
    assert len(base) == 64
    variants = [
        cache_key(req("unit 2"), prompt_version="v1", codebook_hash="h"),
        cache_key(req(temperature=0.7), prompt_version="v1", codebook_hash="h"),
        cache_key(req(n=3), prompt_version="v1", codebook_hash="h"),
        cache_key(req(seed=1), prompt_version="v1", codebook_hash="h"),
        cache_key(req(json_schema={"type": "object"}), prompt_version="v1", codebook_hash="h"),
        cache_key(req(), prompt_version="v2", codebook_hash="h"),
        cache_key(req(), prompt_version="v1", codebook_hash="h2"),
        cache_key(req(), prompt_version="v1", codebook_hash="h", namespace="openai:x"),
        cache_key(
            req().model_copy(update={"model": "gpt-4o"}), prompt_version="v1", codebook_hash="h"
        ),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_key_values_are_pinned():
    # keys of caches written before ptmcoder.files.canonical_json took over still match
    assert cache_key(req(), prompt_version="v1", codebook_hash="h") == (
        "37f9e2b945ad83cfb7df8886fc2193812429eb026d3ae5ac409ac604998dec86"
    )
    request = req("é ünït", temperature=0.7, json_schema={"type": "object", "b": [1, 2.5]})
    key = cache_key(
        request,
        prompt_version="v1",
        codebook_hash="h",
        namespace="openai:x",
        endpoint="http://A:80/v1/",
        options={"mode": "json_schema"},
    )
    assert key == "7ab3f312be2f6755316ae3ba935858f0fce1fd0b8422920f56cd176489a1c7b9"


def test_rerun_makes_no_calls(server, tmp_path):
    path = tmp_path / "cache.sqlite"

    async def work(model):
        return await asyncio.gather(*(model.complete(req(f"unit {i}")) for i in range(5)))

    first = asyncio.run(work(cached_model(server, path)))
    assert len(server.requests) == 5 and not any(c.from_cache for c in first)
    model = cached_model(server, path)  # a new process would open the file again
    second = asyncio.run(work(model))
    assert len(server.requests) == 5  # no new request
    assert all(c.from_cache for c in second)
    assert [c.texts for c in second] == [c.texts for c in first]
    assert model.cache.stats() == {"hits": 5, "misses": 0, "writes": 0}


def test_other_prompt_version_misses(server, tmp_path):
    path = tmp_path / "cache.sqlite"
    asyncio.run(cached_model(server, path).complete(req()))
    asyncio.run(cached_model(server, path, prompt_version="apply_codebook.v2").complete(req()))
    assert len(server.requests) == 2


def test_errors_are_not_cached(server, tmp_path):
    path = tmp_path / "cache.sqlite"
    server.enqueue(Reply.error(400))
    model = cached_model(server, path)
    with pytest.raises(LLMError):
        asyncio.run(model.complete(req()))
    assert len(model.cache) == 0
    completion = asyncio.run(model.complete(req()))
    assert completion.from_cache is False and len(server.requests) == 2
    assert len(model.cache) == 1
    with pytest.raises(TypeError):
        model.cache.put("k", LLMError("x", kind="server"))  # type: ignore[arg-type]


def test_identical_concurrent_requests_share_one_call(tmp_path):
    with LLMServer(latency=0.2) as server:
        model = cached_model(server, tmp_path / "c.sqlite")

        async def go():
            return await asyncio.gather(*(model.complete(req()) for _ in range(4)))

        results = asyncio.run(go())
    assert len(server.requests) == 1
    assert sum(not r.from_cache for r in results) == 1


def test_api_key_is_not_stored(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    path = tmp_path / "cache.sqlite"
    model = cached_model(server, path)
    asyncio.run(model.complete(req()))
    assert server.headers[0]["authorization"] == f"Bearer {FAKE_KEY}"  # it was used
    model.cache.close()
    for f in tmp_path.glob("cache.sqlite*"):  # the db, its WAL and shm
        assert FAKE_KEY.encode() not in f.read_bytes(), f


def test_round_trip_and_wal(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    c = Completion(
        texts=["a", "b"], model="m", input_tokens=3, output_tokens=4, finish_reasons=["stop", None]
    )
    cache.put("k1", c)
    got = cache.get("k1")
    assert got == c.model_copy(update={"from_cache": True})
    assert cache.get("nope") is None
    assert cache.stats() == {"hits": 1, "misses": 1, "writes": 1}
    mode = cache._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_migrations_are_append_only_and_applied_once(tmp_path):
    conn = connect(tmp_path / "m.sqlite")
    first = ["CREATE TABLE t (a INTEGER)"]
    assert migrate(conn, "demo", first) == 1
    assert migrate(conn, "demo", first) == 1  # idempotent
    assert migrate(conn, "demo", first + ["ALTER TABLE t ADD COLUMN b TEXT"]) == 2
    cols = [r[1] for r in conn.execute("PRAGMA table_info(t)")]
    assert cols == ["a", "b"]
    from ptmcoder.errors import ConfigError

    with pytest.raises(ConfigError, match="newer"):
        migrate(conn, "demo", first)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, "other", ["CREATE TABLE t (x)"])  # failing migration rolls back
    assert (
        conn.execute("SELECT version FROM schema_version WHERE component='other'").fetchone()
        is None
    )
