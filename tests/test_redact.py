"""Regression tests for issue #10 item 6: no API key or bearer token in any stored,
logged or printed error text, even when the endpoint echoes the Authorization header."""

from __future__ import annotations

import json

import pytest
from fakes import openai_annotate, write_units
from llm_server import LLMServer

from ptmcoder.annotate.records import Annotation, ErrorType
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.redact import MASK, redact

FAKE_KEY = "sk-test-DO-NOT-LEAK-4242"


@pytest.mark.parametrize(
    "text,secret",
    [
        ("Authorization: Bearer abc.DEF-123_xyz", "abc.DEF-123_xyz"),
        ('{"authorization": "Bearer tok123456"}', "tok123456"),
        ("proxy said: bearer zzzzzzzzzz", "zzzzzzzzzz"),
        ("header api-key: 0123456789abcdef", "0123456789abcdef"),
        ("x-api-key=qwertyuiop& more", "qwertyuiop"),
        ("the key sk-proj-AbCdEf0123456789 is invalid", "sk-proj-AbCdEf0123456789"),
        ("Authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ],
)
def test_redact_patterns(text, secret):
    out = redact(text)
    assert secret not in out and MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "the model returned HTTP 400: context length exceeded",
        "Keras model returns NaN loss; token limit of the tokenizer",
        "",
        None,
    ],
)
def test_redact_leaves_ordinary_text(text):
    assert redact(text) == text


def test_the_environment_keys_are_redacted_whatever_their_shape(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plainsecretvalue")
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefgh")
    assert redact("echo plainsecretvalue and hf_abcdefgh") == f"echo {MASK} and {MASK}"
    assert "plainsecretvalue" not in str(LLMError("got plainsecretvalue", kind="client"))
    record = Annotation(
        unit_id="u", annotator="a", error_type=ErrorType.API, error="k=plainsecretvalue"
    )
    assert "plainsecretvalue" not in record.model_dump_json()


@pytest.mark.parametrize("status", [400, 422])
def test_an_endpoint_echoing_the_authorization_header_leaks_nothing(run_cli, isolated_home, status):
    units = write_units(isolated_home / "units.csv", 2)
    env = {"OPENAI_API_KEY": FAKE_KEY}
    with LLMServer(echo_authorization=status) as server:
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--run",
            "leak",
            "--no-progress",
            "--json",
            env=env,
        )
        assert server.headers and FAKE_KEY in server.headers[0]["authorization"]
    # every record is an error: no silent success (the records stay, for --retry-errors)
    assert result.exit_code == 1, result.stderr
    assert "every record" in result.stderr.lower() or "all 2" in result.stderr, result.stderr
    run_dir = isolated_home / "runs" / "leak"
    records = [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["error_type"] == "api" for r in records)
    assert all(MASK in r["error"] for r in records)
    shown = run_cli("runs", "show", "leak", env=env)
    shown_json = run_cli("runs", "show", "leak", "--json", env=env)
    for text in (result.stdout, result.stderr, shown.stdout, shown.stderr, shown_json.stdout):
        assert FAKE_KEY not in text
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_a_fatal_error_printed_by_the_cli_is_redacted(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 1)
    with LLMServer(echo_authorization=401) as server:
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--no-progress",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
    assert result.exit_code != 0 and result.exception is None
    assert "401" in result.stderr
    assert FAKE_KEY not in result.stderr + result.stdout
