"""``map suggest --judge``: an LLM judge names each candidate pair's SKOS relation, end to end
against the local OpenAI-compatible server (tests/llm_server.py), never a mocked client."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from llm_server import LLMServer, Reply

from ptmcoder import crosswalk as cw
from ptmcoder.crosswalk import Status
from ptmcoder.crosswalk.judge import JudgeRelation, parse_judgement

FAKE_KEY = "sk-test-DO-NOT-LEAK-7171"
SUGGEST = ("map", "suggest", "tan2024", "zhao2021", "--embedder", "tfidf")
SUGGEST_OPTS = ("--threshold", "0.05", "--top-k", "2")


@pytest.mark.parametrize(
    ("text", "relation", "error"),
    [
        ('{"relation": "exact", "rationale": "Same  definition."}', "exact", None),
        ('{"relation": "Broad", "rationale": "B is wider."}', "broad", None),
        ('```json\n{"relation": "none", "rationale": "Unrelated."}\n```', "none", None),
        ('{"relation": "maybe", "rationale": "unsure"}', None, "'maybe' is not one of"),
        ('{"relation": "exact"', None, "malformed JSON"),
        ('["exact"]', None, "expected a JSON object"),
        ('{"rationale": "no relation"}', None, "no 'relation'"),
        ('{"relation": "close", "rationale": "  "}', None, "no 'rationale'"),
        ('{"relation": 3, "rationale": "x"}', None, "no 'relation'"),
    ],
)
def test_parse_judgement(text, relation, error):
    parsed = parse_judgement(text)
    if relation is None:
        assert isinstance(parsed, str) and error in parsed
    else:
        assert not isinstance(parsed, str)
        assert parsed.relation is JudgeRelation(relation)
        assert "  " not in parsed.rationale and parsed.rationale


def _pair(request: dict) -> tuple[str, str]:
    user = request["messages"][-1]["content"]
    ids = re.findall(r"^id: (\S+)$", user, flags=re.M)
    return ids[0], ids[1]


class Script:
    """Answers per pair of codes: what the judge says about pair k of the candidates."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.plan: dict[tuple[str, str], str] = {}
        kinds = ["exact", "maybe", "malformed", "none", "flaky"]
        for k, pair in enumerate(pairs):
            self.plan[pair] = kinds[k] if k < len(kinds) else "broad"
        self.failed_once: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> Reply:
        pair = _pair(request)
        kind = self.plan[pair]
        if kind == "malformed":
            return Reply.ok('{"relation": "exact", "rationale": ')
        if kind == "maybe":
            return Reply.ok(json.dumps({"relation": "maybe", "rationale": "hard to say"}))
        if kind == "flaky":
            with self.lock:
                first = pair not in self.failed_once
                self.failed_once.add(pair)
            if first:
                return Reply.error(500, retry_after=0)
            kind = "related"
        rationale = f"{pair[0]} vs {pair[1]}: judged {kind} from the definitions"
        return Reply.ok(json.dumps({"relation": kind, "rationale": rationale}))


def test_judge_sets_predicates_and_rationales_end_to_end(run_cli, isolated_home):
    candidates = cw.suggest("tan2024", "zhao2021", 2, 0.05, embedder="tfidf")
    pairs = [(m.subject_id.split(":", 1)[1], m.object_id.split(":", 1)[1]) for m in candidates]
    assert len(pairs) >= 6, "the scenario needs every kind of answer"
    script = Script(pairs)
    env = {"OPENAI_API_KEY": FAKE_KEY}
    with LLMServer(responder=script) as server:
        judge = ("--judge", "openai:judge-model", "--base-url", server.base_url)
        dry = run_cli(*SUGGEST, *SUGGEST_OPTS, *judge, "--dry-run", "--json", env=env)
        assert dry.exit_code == 0, dry.stderr + repr(dry.exception)
        n_first = len(server.requests)
        # one call per pair, plus the retried 5xx
        assert n_first == len(pairs) + 1
        first = server.requests[0]
        assert first["model"] == "judge-model" and first["temperature"] == 0
        assert first["response_format"]["type"] == "json_schema"
        assert all(h.get("authorization") == f"Bearer {FAKE_KEY}" for h in server.headers)
        rows = {(r["subject_id"], r["object_id"]): r for r in json.loads(dry.stdout)["suggestions"]}
        assert json.loads(dry.stdout)["written"] is None
        # the same run again writes the file, answered from the response cache, except
        # the two unusable answers (malformed, out of the vocabulary), which are asked again
        result = run_cli(*SUGGEST, *SUGGEST_OPTS, *judge, "--json", env=env)
        assert result.exit_code == 0, result.stderr + repr(result.exception)
        assert len(server.requests) == n_first + 2
    data = json.loads(result.stdout)
    assert {(r["subject_id"], r["object_id"]): r for r in data["suggestions"]} == rows
    assert len(rows) == len(pairs)

    def row(k: int) -> dict:
        s, o = pairs[k]
        return rows[(f"tan2024:{s}", f"zhao2021:{o}")]

    exact = row(0)
    assert exact["predicate_id"] == "skos:exactMatch"
    assert exact["judge"]["relation"] == "exact" and exact["judge"]["model"] == "openai:judge-model"
    assert exact["comment"].startswith("LLM judge openai:judge-model (model output")
    assert exact["judge"]["rationale"] in exact["comment"]
    assert exact["author_id"] == "ptmcoder:llm-judge/openai:judge-model"
    assert exact["mapping_justification"] == "semapv:LexicalMatching"  # TF-IDF similarity
    assert 0.05 <= exact["similarity_score"] <= 1
    none = row(3)
    assert none["predicate_id"] == "skos:relatedMatch" and none["predicate_modifier"] == "Not"
    assert (
        row(4)["predicate_id"] == "skos:relatedMatch" and row(4)["judge"]["relation"] == "related"
    )
    assert row(5)["predicate_id"] == "skos:broadMatch"
    for k, reason in ((1, "'maybe' is not one of"), (2, "malformed JSON")):
        plain = row(k)
        assert reason in plain["judge"]["error"]
        assert plain["predicate_id"] == "skos:relatedMatch" and "predicate_modifier" not in plain
        assert plain["author_id"] == "ptmcoder:map-suggest"
        assert not plain["comment"].startswith("LLM judge")
    stderr = " ".join(result.stderr.split())
    assert "'maybe' is not one of" in stderr and "malformed JSON" in stderr
    assert "kept as a plain similarity suggestion" in stderr

    # the file: judged rows are still suggestions, waiting for a human
    written = Path(data["written"]["file"])
    ms = cw.load_mapping_set(written)
    by_pair = {(m.subject_id, m.object_id): m for m in ms.mappings}
    s0, o0 = pairs[0]
    judged = by_pair[(f"tan2024:{s0}", f"zhao2021:{o0}")]
    assert judged.predicate_id == "skos:exactMatch" and judged.status is Status.SUGGESTION
    assert judged.author_id == "ptmcoder:llm-judge/openai:judge-model"
    assert judged.comment.startswith("LLM judge openai:judge-model")
    assert judged.similarity_score == pytest.approx(exact["similarity_score"], abs=1e-4)
    pending = {(m.subject_id, m.object_id) for m in cw.pending_review(("tan2024", "zhao2021"))}
    assert {(f"tan2024:{s}", f"zhao2021:{o}") for s, o in pairs} <= pending
    # a human decision turns the judged suggestion into a reviewed row
    decided = cw.record_decision(
        ("tan2024", "zhao2021"), s0, o0, "skos:exactMatch", "accept", "ann", "2026-12-02"
    )
    assert decided.reviewer_id == "reviewer:ann"
    assert cw.load_mapping_set(written).mappings[-len(pairs)].status is Status.REVIEWED
    # the standard's own reader accepts the judged rows
    try:
        from sssom.parsers import parse_sssom_table
    except ImportError:
        parse_sssom_table = None
    if parse_sssom_table is not None:
        msdf = parse_sssom_table(str(written))
        assert len(msdf.df) == len(cw.load_mapping_set(written).mappings)
        assert "ptmcoder:llm-judge/openai:judge-model" in set(msdf.df["author_id"].astype(str))
    # the key is never written anywhere
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_judge_failures_leave_plain_suggestions(run_cli, isolated_home):
    with LLMServer(responder=lambda request: Reply.error(400)) as server:
        result = run_cli(
            *SUGGEST,
            *SUGGEST_OPTS,
            "--judge",
            "openai:judge-model",
            "--base-url",
            server.base_url,
            "--dry-run",
            "--json",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    rows = json.loads(result.stdout)["suggestions"]
    assert rows and all("call failed" in r["judge"]["error"] for r in rows)
    assert all(r["predicate_id"] == "skos:relatedMatch" for r in rows)
    assert "call failed" in result.stderr


def test_bad_judge_spec_is_a_clean_error(run_cli):
    result = run_cli(*SUGGEST, "--judge", "gpt-4o-mini", "--dry-run")
    assert result.exit_code != 0 and result.exception is None
    assert "unknown model spec" in result.stderr and "Traceback" not in result.stderr
