"""Regression tests for issue #10: the response cache key covers the endpoint, and
unusable answers are never cached (a new run does not replay them)."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import answer, codes_responder, write_units
from llm_server import LLMServer, Reply

from ptmcoder.llm.base import ChatMessage, ChatRequest
from ptmcoder.llm.cache import cache_key, normalise_endpoint


def annotate(run_cli, units: Path, base_url: str, run: str):
    return run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        units,
        "--annotator",
        "openai:llama3",
        "--base-url",
        base_url,
        "--run",
        run,
        "--concurrency",
        "1",
        "--no-progress",
        "--json",
    )


def test_two_endpoints_serving_one_model_name_do_not_share_answers(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 3)
    with (
        LLMServer(responder=codes_responder) as a,
        LLMServer(responder=lambda r: Reply.ok(answer("generic"))) as b,
    ):
        first = annotate(run_cli, units, a.base_url, "onA")
        assert first.exit_code == 0, first.stderr
        assert len(a.requests) == 3
        second = annotate(run_cli, units, b.base_url, "onB")
        assert second.exit_code == 0, second.stderr
        assert len(b.requests) == 3, "B was never asked: answers came from A's cache"
        records = [
            json.loads(line)
            for line in (Path(json.loads(second.stdout)["path"]) / "annotations.jsonl")
            .read_text()
            .splitlines()
        ]
        assert {c["code"] for r in records for c in r["codes"]} == {"generic"}
        # the same endpoint spelled differently is the same cache entry
        again = annotate(run_cli, units, b.base_url.replace("127.0.0.1", "127.0.0.1") + "/", "B2")
        assert again.exit_code == 0, again.stderr
        assert len(b.requests) == 3


def test_endpoint_normalisation_and_credentials():
    assert normalise_endpoint("HTTP://Example.COM:80/v1/") == "http://example.com/v1"
    assert normalise_endpoint("https://example.com:443/v1") == "https://example.com/v1"
    assert normalise_endpoint("https://user:secret@example.com/v1?api-key=k") == (
        "https://example.com/v1"
    )
    assert normalise_endpoint(None) is None
    request = ChatRequest(model="m", messages=[ChatMessage(role="user", content="x")])
    a = cache_key(request, prompt_version="v", codebook_hash="h", endpoint="http://a:1/v1")
    b = cache_key(request, prompt_version="v", codebook_hash="h", endpoint="http://a:2/v1")
    assert a != b


def test_unusable_answers_are_not_cached(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 1)
    with LLMServer(responder=lambda r: Reply.ok("this is not JSON")) as server:
        # every record is an error: exit 1 (no silent success), the records kept
        first = annotate(run_cli, units, server.base_url, "r1")
        assert first.exit_code == 1 and "are errors" in first.stderr, first.stderr
        assert len(server.requests) == 2  # the answer and one repair
        second = annotate(run_cli, units, server.base_url, "r2")
        assert second.exit_code == 1, second.stderr
        assert len(server.requests) == 4, "a new run replayed the cached unusable answers"


def test_errors_are_not_cached(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 1)
    with LLMServer(responder=codes_responder) as server:
        server.enqueue(Reply.error(400))
        first = annotate(run_cli, units, server.base_url, "r1")
        assert first.exit_code == 1 and "are errors" in first.stderr, first.stderr
        second = annotate(run_cli, units, server.base_url, "r2")
        assert second.exit_code == 0, second.stderr
        assert len(server.requests) == 2
        path = Path(json.loads(second.stdout)["path"]) / "annotations.jsonl"
        assert json.loads(path.read_text().splitlines()[0])["codes"][0]["code"] == "dl-fault"
