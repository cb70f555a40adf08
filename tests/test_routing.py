"""Routing with a guarantee (ptmcoder.review.routing): the p-values against scipy and
closed forms, the fixed-sequence walk on hand-made cases, the per-code Bonferroni split,
a simulation that the guarantee holds, and `ptmcoder route` / `review build --route`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest

from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.cli import COMMANDS
from ptmcoder.review.routing import (
    agrees,
    binomial_p_value,
    hoeffding_bentkus_p_value,
    learn_then_test,
    learn_then_test_per_code,
    lower_bound,
    min_accepted,
    read_route,
    unit_codes_from_records,
)

# -- p-values and bounds -----------------------------------------------------------


@pytest.mark.parametrize("k,n,target", [(20, 20, 0.9), (45, 50, 0.8), (3, 10, 0.5), (0, 7, 0.3)])
def test_binomial_p_value_is_scipys_one_sided_exact_test(k, n, target):
    expected = binomtest(k, n, target, alternative="greater").pvalue
    assert binomial_p_value(k, n, target) == pytest.approx(expected, rel=1e-12)


def test_binomial_p_value_closed_form_and_empty():
    assert binomial_p_value(30, 30, 0.9) == pytest.approx(0.9**30)
    assert binomial_p_value(0, 0, 0.9) == 1.0


@pytest.mark.parametrize("k,n,delta", [(35, 37, 0.1), (90, 100, 0.05), (1, 3, 0.2)])
def test_lower_bound_is_the_one_sided_clopper_pearson_bound(k, n, delta):
    ci = binomtest(k, n, alternative="greater").proportion_ci(confidence_level=1 - delta)
    assert lower_bound(k, n, delta) == pytest.approx(ci.low, abs=1e-10)
    # and the test rejects just below it, not above
    assert binomial_p_value(k, n, ci.low - 1e-6) <= delta < binomial_p_value(k, n, ci.low + 1e-3)


def test_hoeffding_bentkus_is_valid_and_more_conservative_than_exact():
    for n in (10, 40, 200):
        for k in range(0, n + 1, max(1, n // 10)):
            hb = hoeffding_bentkus_p_value(k, n, 0.85)
            assert binomial_p_value(k, n, 0.85) <= hb + 1e-12 <= 1.0 + 1e-12
    # every loss agrees: Hoeffding's term is the closed form target ** n
    assert hoeffding_bentkus_p_value(25, 25, 0.9) == pytest.approx(0.9**25)
    # the Bentkus term, by hand: e * P(Binomial(n, 1 - target) <= ceil(n R))
    k, n, t = 88, 100, 0.8
    hoeffding = math.exp(-n * (0.12 * math.log(0.12 / 0.2) + 0.88 * math.log(0.88 / 0.8)))
    bentkus = math.e * binom.cdf(12, n, 0.2)
    assert hoeffding_bentkus_p_value(k, n, t) == pytest.approx(min(hoeffding, bentkus))
    hb_bound = lower_bound(88, 100, 0.1, "hoeffding-bentkus")
    assert hb_bound < lower_bound(88, 100, 0.1)
    assert hoeffding_bentkus_p_value(88, 100, hb_bound) <= 0.1 + 1e-9


def test_min_accepted_rule():
    m = min_accepted(0.9, 0.1)
    halfway = [binomial_p_value(math.ceil(n * 0.95 - 1e-9), n, 0.9) for n in range(m, 400)]
    assert max(halfway) <= 0.1
    assert binomial_p_value(math.ceil((m - 1) * 0.95 - 1e-9), m - 1, 0.9) > 0.1


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"k": 5, "n": 4}, "0 <= k <= n"),
        ({"k": 1.5, "n": 4}, "integers"),
        ({"target": 1.0}, "target must be in"),
    ],
)
def test_p_value_inputs_are_validated(bad, message):
    args = {"k": 2, "n": 4, "target": 0.5} | bad
    with pytest.raises(ValueError, match=message):
        binomial_p_value(**args)


# -- the walk ----------------------------------------------------------------------


def test_fixed_sequence_stops_at_the_first_failure():
    # 0.9: 80 of 80 agree; 0.8 adds 40 units of which 10 agree (stop);
    # 0.7 adds 600 agreeing units: cumulatively fine, but after the stop
    conf = [0.95] * 80 + [0.85] * 40 + [0.75] * 600
    agree = [True] * 80 + [True] * 10 + [False] * 30 + [True] * 600
    r = learn_then_test(conf, agree, target=0.9, delta=0.1, thresholds=[0.9, 0.8, 0.7])
    assert [(t.n, t.k, t.rejected) for t in r.tests] == [
        (80, 80, True),
        (120, 90, False),
        (720, 690, False),
    ]
    assert r.tests[2].p_value <= 0.1  # would pass alone: the sequence is what stops it
    assert r.threshold == 0.9


def test_thresholds_with_too_few_units_are_passed_over_not_a_stop():
    conf = [0.99] * 5 + [0.9] * 100
    agree = [False] * 5 + [True] * 100
    r = learn_then_test(conf, agree, target=0.9, delta=0.1, thresholds=[0.99, 0.9])
    assert r.tests[0].p_value is None and not r.tests[0].rejected
    assert r.threshold == 0.9
    # with a lower minimum the bad top stops the walk
    low = learn_then_test(conf, agree, target=0.9, delta=0.1, thresholds=[0.99, 0.9], min_n=5)
    assert low.threshold is None


def test_no_confidence_is_never_accepted_and_nothing_when_no_threshold():
    conf = [None] * 50 + [float("nan")] * 50
    r = learn_then_test(conf, [True] * 100, target=0.8, delta=0.1)
    assert r.threshold is None and all(t.n == 0 for t in r.tests)


@pytest.mark.parametrize(
    "conf,agree,message",
    [
        ([0.5, 0.6], [True], "one length"),
        ([1.5], [True], r"in \[0, 1\]"),
        ([0.5], [2], "booleans"),
    ],
)
def test_walk_inputs_are_validated(conf, agree, message):
    with pytest.raises(ValueError, match=message):
        learn_then_test(conf, agree, target=0.9, delta=0.1)


def test_per_code_is_each_codes_walk_at_delta_over_codes():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0.5, 1.0, 900)
    agree = rng.random(900) < conf
    top = rng.choice(["a", "b", "c"], 900)
    per = learn_then_test_per_code(conf, agree, top, target=0.85, delta=0.15)
    assert per.delta_per_code == pytest.approx(0.05)
    for code in "abc":
        alone = learn_then_test(
            conf[top == code], agree[top == code], target=0.85, delta=0.05
        ).threshold
        assert per.codes[code].threshold == alone
    assert any(t is not None for t in per.thresholds.values())


def test_agreement_is_code_set_equality():
    assert agrees(["a"], ["a"]) and agrees(["b", "a"], {"a", "b"})
    assert not agrees(["a"], ["a", "b"]) and not agrees(["a", "b"], ["a"])


# -- the guarantee, simulated ----------------------------------------------------------


def test_guarantee_holds_over_random_calibration_sets():
    """Calibrated scores: confidence ~ U(0.5, 1) and a unit agrees with probability equal
    to its confidence, so the population's agreement above threshold t is (1 + t) / 2
    exactly. Over 300 calibration draws of n = 300 the chosen threshold's agreement is
    >= target in >= 1 - delta of draws (binomial tolerance: 3 standard errors); the naive
    rule (the lowest threshold whose calibration agreement reaches the target) fails far
    more often."""
    target, delta, draws, n = 0.8, 0.1, 300, 300
    rng = np.random.default_rng(20260501)
    grid = np.round(np.arange(1.0, 0.49, -0.01), 2)
    ok = naive_ok = chosen_any = 0
    for _ in range(draws):
        conf = rng.uniform(0.5, 1.0, n)
        agree = rng.random(n) < conf
        r = learn_then_test(conf, agree, target=target, delta=delta, thresholds=grid)
        if r.threshold is None:
            ok += 1  # nothing accepted: no promise broken
        else:
            chosen_any += 1
            ok += (1 + r.threshold) / 2 >= target
        naive = [t for t in grid if (conf >= t).any() and agree[conf >= t].mean() >= target]
        naive_ok += (1 + min(naive)) / 2 >= target if naive else 1
    tolerance = 3 * math.sqrt(delta * (1 - delta) / draws)
    assert ok / draws >= 1 - delta - tolerance
    assert chosen_any > draws * 0.9  # it does accept something, most of the time
    assert naive_ok / draws < 1 - delta  # the correction is what keeps the promise


# -- the command and the queue -------------------------------------------------------


@pytest.fixture
def routed_run(tmp_path):
    """A run of 400 units with calibrated confidences (unit i: confidence c_i, code right
    with probability c_i), gold labels for 300 of them, one error row."""
    from ptmcoder.runs import create_run

    rng = np.random.default_rng(7)
    run = create_run(
        {"codebook": "issue-type", "corpus": "humbatova_so", "annotators": ["embedded"]},
        run_id="r-route",
    )
    gold = []
    with run:
        for i in range(400):
            uid = f"u{i:04d}"
            truth = ["bug", "question", "enhancement"][i % 3]
            if i == 399:
                error = Annotation(
                    unit_id=uid, annotator="embedded", error_type=ErrorType.API, error="x"
                )
                run.append(error)
            else:
                c = float(rng.uniform(0.5, 1.0))
                code = truth if rng.random() < c else "bug" if truth != "bug" else "question"
                run.append(
                    Annotation(
                        unit_id=uid,
                        annotator="embedded",
                        codes=[CodeAssignment(code=code, confidence=round(c, 4))],
                    )
                )
            if i < 300:
                gold.append({"unit": uid, "rater": "adjudicated", "code": truth})
    path = tmp_path / "gold.csv"
    pd.DataFrame(gold).to_csv(path, index=False)
    return run, path


@pytest.fixture
def cli_route(run_cli, monkeypatch):
    monkeypatch.setitem(COMMANDS, "route", "ptmcoder.cli.route:route")
    return run_cli


def test_route_command_json_and_decision_file(cli_route, routed_run):
    run, gold = routed_run
    res = cli_route("route", "r-route", "--gold", gold, "--target", "0.85", "--json")
    assert res.exit_code == 0, res.stderr + str(res.exception)
    data = json.loads(res.stdout)
    assert {"target", "delta", "threshold", "coverage", "accepted", "escalated", "per_code"} <= set(
        data
    )
    assert data["target"] == 0.85 and data["delta"] == 0.1
    ids = {f"u{i:04d}" for i in range(400)}
    assert set(data["accepted"]) | set(data["escalated"]) == ids
    assert not set(data["accepted"]) & set(data["escalated"])
    assert "u0399" in data["escalated"]  # the error row: no confidence
    records = unit_codes_from_records(run.records())
    t = data["threshold"]
    assert set(data["accepted"]) == {
        u for u, c in records.items() if c.confidence is not None and c.confidence >= t
    }
    assert data["coverage"] == pytest.approx(len(data["accepted"]) / 400)
    decision = read_route(run.path)
    assert decision.accepted == data["accepted"] and decision.threshold == t
    assert read_route(run.path / "route" / "embedded.json").escalated == data["escalated"]


def test_route_command_text_prints_thresholds_with_n(cli_route, routed_run):
    res = cli_route("route", "r-route", "--gold", routed_run[1], "--target", "0.85")
    assert res.exit_code == 0, res.stderr
    assert "chosen" in res.stdout and "300 calibration units" in res.stdout
    assert "agreement with humans >= 0.85 on accepted units with probability >= 0.9" in res.stdout


def test_route_without_a_guarantee_exits_non_zero_unless_allowed(cli_route, routed_run):
    run, gold = routed_run
    res = cli_route("route", "r-route", "--gold", gold, "--target", "0.99")
    assert res.exit_code == 1
    assert "no threshold guarantees agreement >= 0.99" in res.stderr
    assert not (run.path / "route").exists()
    res = cli_route(
        "route", "r-route", "--gold", gold, "--target", "0.99", "--allow-none", "--json"
    )
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["accepted"] == [] and len(data["escalated"]) == 400 and data["threshold"] is None


def test_route_a_long_table_needs_a_rater(cli_route, routed_run, tmp_path):
    run, gold = routed_run
    rows = [
        {"unit": u, "rater": "m", "code": c.top_code or "", "confidence": c.confidence}
        for u, c in unit_codes_from_records(run.records()).items()
    ]
    table = tmp_path / "codes.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    assert cli_route("route", table, "--gold", gold).exit_code != 0
    from_table = cli_route(
        "route", table, "--gold", gold, "--rater", "m", "--target", "0.85", "--json"
    )
    from_run = cli_route("route", "r-route", "--gold", gold, "--target", "0.85", "--json")
    a, b = json.loads(from_table.stdout), json.loads(from_run.stdout)
    assert (a["threshold"], a["accepted"]) == (b["threshold"], b["accepted"])
    assert a["written"] is None


def test_route_refuses_unequal_inclusion_probabilities(cli_route, routed_run, tmp_path):
    gold = pd.read_csv(routed_run[1])
    gold["inclusion_probability"] = [0.1, 0.5] * 150
    path = tmp_path / "weighted.csv"
    gold.to_csv(path, index=False)
    res = cli_route("route", "r-route", "--gold", path)
    assert res.exit_code != 0 and "unequal inclusion" in res.stderr


def test_per_code_route(cli_route, routed_run):
    res = cli_route(
        "route", "r-route", "--gold", routed_run[1], "--target", "0.8", "--per-code", "--json"
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["mode"] == "per-code" and data["delta_per_code"] == pytest.approx(0.1 / 3)
    records = unit_codes_from_records(routed_run[0].records())
    for u in data["accepted"]:
        th = data["thresholds"][records[u].top_code]
        assert th is not None and records[u].confidence >= th


def test_review_build_with_route_queues_escalated_and_audits_accepted(cli_route, routed_run):
    run, gold = routed_run
    assert cli_route("route", "r-route", "--gold", gold, "--target", "0.85").exit_code == 0
    res = cli_route("review", "build", "r-route", "--route", "--audit-size", "15", "--json")
    assert res.exit_code == 0, res.stderr
    decision = read_route(run.path)
    from ptmcoder.review import open_queue

    queue = open_queue("r-route")
    try:
        items = queue.store.items()
    finally:
        queue.close()
    escalated = {i.unit_id for i in items if "escalated" in i.reason_names}
    audited = [i for i in items if "audit" in i.reason_names]
    assert escalated == set(decision.escalated)
    assert {i.unit_id for i in items} == escalated | {i.unit_id for i in audited}
    assert len(audited) == 15 and {i.unit_id for i in audited} <= set(decision.accepted)
    reason = next(r for r in audited[0].reasons if r["reason"] == "audit")
    assert reason["stratum"] == "accepted" and reason["population"] == len(decision.accepted)
    assert reason["inclusion_probability"] == pytest.approx(15 / len(decision.accepted))
    esc = next(r for i in items for r in i.reasons if r["reason"] == "escalated")
    assert esc["threshold"] == decision.threshold and esc["target"] == 0.85
    assert json.loads(res.stdout)["routing"]["accepted"] == len(decision.accepted)


def test_the_modules_doctests():
    import doctest

    from ptmcoder.review import routing

    assert doctest.testmod(routing).failed == 0
