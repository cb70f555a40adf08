"""A two-tier cascade in a study (#27 deliverables 2 and 3): the supervised embedded
annotator codes every unit, the LLM tier (an ``openai:`` rater pointed at the local
OpenAI-compatible server) codes only what the first tier escalated, each with a
Learn-then-Test threshold from the same calibration units; the review queue holds what
the last tier escalated plus an audit of the accepted units, and the report accounts
for each tier's guarantee, coverage, calls and cost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fakes import answer, unit_of
from llm_server import LLMServer, Reply

from ptmcoder.agreement.io import read_gold
from ptmcoder.errors import ValidationError
from ptmcoder.pipeline import load_study, run_study
from ptmcoder.pipeline.rundir import read_cascade, read_stage_output, route_audit
from ptmcoder.review.routing import read_route
from ptmcoder.runs import Run

REPO = Path(__file__).resolve().parents[1]
FINAL = REPO / "ptmcoder" / "data" / "samples" / "humbatova_so_final.csv"
N_UNITS = 200

STUDY = """
[study]
id = "cascade"

[import]
files = ["samples:humbatova_so_titles.csv"]
corpus = "cascade-corpus"
platform = "stackoverflow"
mapping = {{ id = "id", url = "url", title = "title" }}

[annotate]
codebook = "humbatova-screening"
limit = {limit}

[[annotate.raters]]
name = "embedded"
annotator = "embedded:tfidf"
train = "samples:humbatova_so_final.csv"
train_raters = ["final"]

[[annotate.raters]]
name = "llm"
annotator = "openai:gpt-4o-mini"
base_url = "{base_url}"
structured = "json_schema"
concurrency = 4

[agree]
gold = "samples:humbatova_so_final.csv"
bootstrap = 20

[review]
audit_size = 8

[route]
tiers = ["embedded", "llm"]
target = 0.8
delta = 0.2
"""


def gold_by_unit() -> dict[str, str]:
    gold = read_gold(FINAL)
    return dict(zip(gold["unit"].astype(str), gold["code"].astype(str), strict=True))


def responder_for(gold: dict[str, str]):
    """The LLM tier: right (the gold code, confidence 0.95) on three units in four,
    wrong (another code, confidence 0.3) on the fourth, by the unit id's digits."""

    def respond(request: dict) -> Reply:
        unit, _ = unit_of(request.get("messages", []))
        truth = gold.get(unit, "unclear")
        if int(re.sub(r"\D", "", unit) or 0) % 4 == 0:
            wrong = "generic" if truth != "generic" else "dl-fault"
            return Reply.ok(
                answer(wrong, confidence=0.3), usage={"prompt_tokens": 200, "completion_tokens": 30}
            )
        return Reply.ok(
            answer(truth, confidence=0.95), usage={"prompt_tokens": 200, "completion_tokens": 30}
        )

    return respond


def requested_units(server: LLMServer) -> list[str]:
    return [unit_of(r.get("messages", []))[0] for r in server.requests]


@pytest.fixture
def cascade_run(isolated_home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cascade")
    with LLMServer(responder=responder_for(gold_by_unit())) as server:
        study = isolated_home / "cascade.toml"
        study.write_text(STUDY.format(limit=N_UNITS, base_url=server.base_url), encoding="utf-8")
        result = run_study(study)
        yield study, result, server


def test_the_llm_tier_codes_only_what_the_embedded_tier_escalated(cascade_run):
    study, result, server = cascade_run
    summary = read_cascade(result.run_dir)
    first = read_route(result.run_dir / "annotate" / "route" / "embedded.json")
    assert first.n_units == N_UNITS
    assert first.threshold is not None and 0 < len(first.accepted) < N_UNITS
    # the server saw exactly the escalated units, each once; none the embedded tier accepted
    asked = requested_units(server)
    assert sorted(asked) == sorted(first.escalated)
    assert not set(asked) & set(first.accepted)
    llm_records = Run(result.run_dir / "annotate" / "llm").records()
    assert sorted(r["unit_id"] for r in llm_records) == sorted(first.escalated)
    # the LLM tier's own threshold, from its records of the calibration units that reached it
    second = read_route(result.run_dir / "annotate" / "route" / "llm.json")
    assert second.n_units == len(first.escalated)
    assert second.threshold is not None and second.threshold > 0.3
    assert second.delta == pytest.approx(0.1)  # delta / 2 tiers
    assert set(second.accepted) <= set(first.escalated)
    assert all(int(re.sub(r"\D", "", u)) % 4 == 0 for u in second.escalated)
    # accepted units keep their tier and threshold in the stage output
    accepted = summary["accepted_units"]
    assert set(accepted) == set(first.accepted) | set(second.accepted)
    assert {accepted[u]["tier"] for u in first.accepted} == {"embedded"}
    assert {accepted[u]["threshold"] for u in second.accepted} == {second.threshold}
    # calls saved against coding every unit with the LLM tier
    assert summary["saved"] == {
        "tier": "llm",
        "all_units": N_UNITS,
        "calls": len(first.escalated),
        "saved": len(first.accepted),
        "saved_share": len(first.accepted) / N_UNITS,
        "cost_saved_usd": pytest.approx(
            summary["tiers"][1]["cost_usd"] / len(first.escalated) * len(first.accepted)
        ),
    }
    assert summary["tiers"][1]["input_tokens"] == 200 * len(first.escalated)

    # the review queue: what the LLM tier escalated, and an audit of accepted units
    review = read_stage_output(result.run_dir, "review")
    routing = review["build"]["routing"]
    assert routing["accepted"] == len(accepted)
    assert routing["escalated"] == N_UNITS - len(accepted)
    from ptmcoder.review import open_queue

    queue = open_queue(str(result.run_dir))
    with queue.store as store:
        items = [i for i in store.items() if i.kind == "unit"]
    escalated = {i.unit_id for i in items if "escalated" in i.reason_names}
    audited = [i for i in items if "audit" in i.reason_names]
    assert escalated == set(second.escalated)
    assert len(audited) == 8 and {i.unit_id for i in audited} <= set(accepted)
    assert review["routing_audit"]["n"] == 0


def test_report_accounts_for_each_tier_and_a_rerun_makes_no_call(cascade_run, run_cli):
    study, result, server = cascade_run
    summary = read_cascade(result.run_dir)
    report = result.report_md.read_text(encoding="utf-8")
    section = report.split("## Routing", 1)[1].split("\n## ", 1)[0]
    first, second = summary["tiers"]
    for tier in (first, second):
        row = next(line for line in section.splitlines() if line.startswith(f"| {tier['tier']} "))
        assert f"{tier['coverage']:.3f}" in row
        assert f"{tier['accepted']} of {tier['reached']}" in row
        assert f"n={tier['n_calibration']}" in row
    assert "agreement with humans >= 0.8 with probability >= 0.9" in section  # each tier
    assert "agreement with humans >= 0.8 with probability >= 0.8" in section  # overall
    assert f"{summary['saved']['saved']} of {N_UNITS}" in section
    assert "no audited unit decided yet" in section
    html = result.report_html.read_text(encoding="utf-8")
    assert "<h2>Routing</h2>" in html

    # an audit decision: the realized agreement on audited accepted units
    from ptmcoder.review import decide, open_queue

    queue = open_queue(str(result.run_dir))
    with queue.store as store:
        item = next(i for i in store.items() if "audit" in i.reason_names)
        codes = summary_codes(result.run_dir, item.unit_id)
        decide(queue, item, codes, adjudicator="ana")
    audit = route_audit(result.run_dir)
    assert (audit["n"], audit["agreeing"], audit["rate"]) == (1, 1, 1.0)
    assert audit["ci_low"] == pytest.approx(0.2065, abs=1e-3)  # Wilson 95% of 1/1

    before = len(server.requests)
    again = run_study(study)
    assert again.annotator_calls == 0 and len(server.requests) == before
    assert {o.status for o in again.outcomes} == {"skipped"}


def summary_codes(run_dir: Path, unit: str) -> list[str]:
    cascade = json.loads((run_dir / "annotate" / "route" / "route.json").read_text())
    return cascade["accepted_units"][unit]["codes"]


def test_route_tiers_must_be_raters(tmp_path):
    study = tmp_path / "bad.toml"
    study.write_text(
        STUDY.format(limit=10, base_url="http://127.0.0.1:9").replace(
            'tiers = ["embedded", "llm"]', 'tiers = ["embedded", "gpt"]'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as err:
        load_study(study)
    assert "gpt is not a rater of [annotate]" in str(err.value.problems)


def test_the_modules_doctests():
    import doctest

    import ptmcoder.pipeline.cascade as cascade

    result = doctest.testmod(cascade)
    assert result.attempted >= 1 and result.failed == 0


def test_a_changed_target_reroutes_and_reasks_nothing_cached(cascade_run):
    study, result, server = cascade_run
    embedded = result.run_dir / "annotate" / "embedded" / "annotations.jsonl"
    before_records, before_requests = embedded.read_bytes(), len(server.requests)
    first = read_route(result.run_dir / "annotate" / "route" / "embedded.json")
    study.write_text(study.read_text().replace("target = 0.8", "target = 0.75"))
    again = run_study(study)
    status = {o.stage: o.status for o in again.outcomes}
    assert status["import"] == "skipped" and status["annotate"] == "ran"
    assert status["review"] == "ran" and status["report"] == "ran"
    assert embedded.read_bytes() == before_records  # the first tier's store is kept
    lower = read_route(result.run_dir / "annotate" / "route" / "embedded.json")
    assert lower.target == 0.75 and set(lower.escalated) < set(first.escalated)
    # the LLM tier now codes fewer units, every one answered before: from the cache
    llm = Run(result.run_dir / "annotate" / "llm").records()
    assert sorted(r["unit_id"] for r in llm) == sorted(lower.escalated)
    assert all(r["cached"] for r in llm) and len(server.requests) == before_requests
    assert "agreement with humans >= 0.75 with probability >= 0.9" in again.report_md.read_text()
