"""Issue #25 item 11: an API key inside a *successful* answer (an endpoint or proxy
that echoes it in the completion text or any response field) reaches no file the
tool writes: annotations.jsonl, the response cache, the review database, the
.qdpx (and its entries), the batch output kept in the run directory.

The endpoint is a real HTTP server on 127.0.0.1 (tests/llm_server.py) that reads the
key from the request's ``Authorization`` header and puts it in the answer."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

from fakes import openai_annotate, unit_of, write_units
from llm_server import LLMServer, Reply

from ptmcoder.llm.base import ChatMessage, ChatRequest, Completion
from ptmcoder.llm.batch import BatchRunner
from ptmcoder.llm.cache import ResponseCache
from ptmcoder.llm.openai_client import OpenAIChatModel
from ptmcoder.llm.redact import MASK, redact_completion
from ptmcoder.llm.retry import RetryPolicy

KEY = "sk-echo-SECRET-7f3a9c2e41"


def echoing_server() -> LLMServer:
    """A server whose successful answers carry the caller's key in the rationale, the
    evidence, an extra JSON field, the ``model``, ``id`` and ``system_fingerprint``."""
    server = LLMServer()

    def responder(request: dict) -> Reply:
        auth = server.headers[-1].get("authorization", "") if server.headers else ""
        key = auth.removeprefix("Bearer ").strip() or KEY
        _, text = unit_of(request.get("messages", []))
        first = text.splitlines()[0] if text else ""
        content = json.dumps(
            {
                "codes": [
                    {
                        "code": "dl-fault",
                        "rationale": f"authorised with {key}; the post is a fault",
                        "evidence": first,
                        "confidence": 0.9,
                    }
                ],
                "none": False,
                "debug": {"api_key": key},
            }
        )
        body = {
            "id": f"chatcmpl-{key}",
            "object": "chat.completion",
            "created": 1,
            "model": f"gpt-4o-mini ({key})",
            "system_fingerprint": key,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        return Reply.raw(json.dumps(body).encode())

    server.responder = responder
    return server


def _hits(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` (and every entry of a zip) that holds ``needle``."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if needle in data:
            found.append(str(path))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found += [
                    f"{path}!{name}" for name in archive.namelist() if needle in archive.read(name)
                ]
    return found


def test_a_key_echoed_in_a_successful_answer_reaches_no_file(run_cli, isolated_home, tmp_path):
    units = write_units(isolated_home / "units.csv", 3)
    env = {"OPENAI_API_KEY": KEY}
    with echoing_server() as server:
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--run",
            "echo",
            "--no-progress",
            "--json",
            env=env,
        )
        assert server.headers and KEY in server.headers[0]["authorization"]
        # a second run answered from the cache (rows written under the rule)
        again = run_cli(
            *openai_annotate(units, server.base_url),
            "--run",
            "echo2",
            "--no-progress",
            "--json",
            env=env,
        )
    assert result.exit_code == 0, result.stderr
    assert again.exit_code == 0, again.stderr
    run_dir = Path(json.loads(result.stdout)["path"])
    records = [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["error_type"] is None for r in records)
    assert all(r["codes"][0]["code"] == "dl-fault" for r in records)  # the answer is kept
    assert all(MASK in r["codes"][0]["rationale"] for r in records)
    assert all(r["codes"][0]["evidence"].startswith("Keras model") for r in records)

    built = run_cli("review", "build", "echo", "--json", env=env)
    assert built.exit_code == 0, built.stderr
    shown = run_cli("review", "next", "echo", env=env)
    qdpx = isolated_home / "echo.qdpx"
    exported = run_cli("export", "echo", "-o", str(qdpx), env=env)
    assert exported.exit_code == 0, exported.stderr
    assert qdpx.is_file()
    shown_run = run_cli("runs", "show", "echo", "--json", env=env)

    cache_files = list(isolated_home.rglob("responses.sqlite*"))
    review_files = list(isolated_home.rglob("reviews/*.sqlite*"))
    assert cache_files and review_files  # the places the key could have been
    for text in (result.stdout, result.stderr, shown.stdout, shown_run.stdout, built.stdout):
        assert KEY not in text
    assert _hits(tmp_path, KEY.encode()) == []


def test_every_key_of_the_endpoint_is_taken_out_whatever_its_variable(monkeypatch, tmp_path):
    # a key variable whose name does not look like a secret (no API_KEY/TOKEN in it)
    monkeypatch.setenv("LOCAL_LLM_CRED", KEY)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with echoing_server() as server:
        model = OpenAIChatModel(
            "gpt-4o-mini",
            base_url=server.base_url,
            api_key_env="LOCAL_LLM_CRED",
            structured="json_object",
        )
        request = ChatRequest(
            model="gpt-4o-mini", messages=[ChatMessage(role="user", content="hi")]
        )
        completion = asyncio.run(model.complete(request))
    assert KEY not in completion.model_dump_json()
    assert MASK in completion.texts[0] and MASK in completion.model
    # the cache takes the endpoint's key out on the way in and on the way out
    from ptmcoder.llm.cache import CachedChatModel

    CachedChatModel(model, cache, "p", "h")
    leaked = Completion(texts=[f"x {KEY}"], model="m")
    cache.put("k", leaked)
    got = cache.get("k")
    cache.close()
    assert got is not None and got.texts == [f"x {MASK}"]
    assert _hits(tmp_path, KEY.encode()) == []


def test_the_batch_output_kept_in_the_run_directory_carries_no_key(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def responder(request: dict) -> Reply:
        return Reply.ok(json.dumps({"codes": [], "note": f"key {KEY}"}))

    with LLMServer(responder=responder, complete_after_polls=1) as server:
        model = OpenAIChatModel(
            "gpt-4o-mini",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=2, base=0.01, cap=0.02),
        )
        runner = BatchRunner(model, tmp_path, poll_interval=0.05, progress=io.StringIO())
        requests = {
            f"so-{i}": ChatRequest(
                model="gpt-4o-mini", messages=[ChatMessage(role="user", content=f"unit {i}")]
            )
            for i in range(2)
        }
        results = asyncio.run(runner.run(requests))
    assert all(isinstance(r, Completion) and MASK in r.texts[0] for r in results.values())
    assert (tmp_path / "batch_output.jsonl").is_file()
    assert _hits(tmp_path, KEY.encode()) == []


def test_redact_completion_leaves_a_clean_answer_alone():
    clean = Completion(texts=['{"codes": []}'], model="m", finish_reasons=["stop"])
    assert redact_completion(clean, [KEY]) is clean
    dirty = Completion(texts=[KEY], model=KEY, finish_reasons=[KEY])
    out = redact_completion(dirty, [KEY])
    assert out.texts == [MASK] and out.model == MASK and out.finish_reasons == [MASK]
