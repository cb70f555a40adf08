"""The review queue: build reasons, the scriptable twins end to end through the CLI,
outputs (status, conflicts, export, new codes, codebook proposal) and mapping items."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from review_kit import (
    CROSSWALK,
    ERROR_UNIT_INDEX,
    FINAL,
    INJECTION_UNIT_INDEX,
    LABELS,
    N_UNITS,
    install_run,
    make_run,
    reviewed_rows,
    workspace_crosswalk,
)
from statsmodels.stats.proportion import proportion_confint

from ptmcoder.annotate.records import Annotation, CodeAssignment
from ptmcoder.codebook import load_codebook
from ptmcoder.corpus.units import load_units
from ptmcoder.errors import PtmcoderError
from ptmcoder.review import (
    BuildOptions,
    accept,
    build_queue,
    decide,
    export,
    get_item,
    next_item,
    open_queue,
    status,
)
from ptmcoder.review.build import Reason, add_mapping_items
from ptmcoder.runs import Run


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("review-template"))


@pytest.fixture
def run_path(template, isolated_home):
    return install_run(template, isolated_home)


def unit_ids() -> list[str]:
    return list(load_units("humbatova_so", limit=N_UNITS)["id"])


def reasons_of(queue) -> dict[str, list[str]]:
    return {i.unit_id: i.reason_names for i in queue.store.items() if i.kind == "unit"}


def test_build_reasons_priority_and_audit(run_path):
    # no confidence threshold here: the audit draws from units nobody questions, and
    # which units the offline annotator is unsure of changes with its scoring
    result = build_queue(
        run_path.name,
        BuildOptions(humans=str(LABELS), audit_size=5, agreement_below=-1.0, confidence_below=0.0),
    )
    ids = unit_ids()
    with open_queue(run_path.name) as queue:
        reasons = reasons_of(queue)
        items = queue.store.items()
        assert "annotator_error" in reasons[ids[ERROR_UNIT_INDEX]]
        assert "possible_injection" in reasons[ids[INJECTION_UNIT_INDEX]]
        # priority: the error row and the injection come before everything else
        assert items[0].unit_id == ids[ERROR_UNIT_INDEX]
        assert items[1].unit_id == ids[INJECTION_UNIT_INDEX]
        assert [i.priority for i in items] == sorted((i.priority for i in items), reverse=True)
        # disagreement is computed from the records and the human labels
        labels = pd.read_csv(LABELS, dtype=str)
        records = Run(run_path).records()
        for unit in ids:
            sets = {
                tuple(sorted(c["code"] for c in r["codes"]))
                for r in records
                if r["unit_id"] == unit and not r.get("error_type")
            }
            sets |= {
                tuple(sorted(g["code"].dropna()))
                for _, g in labels[labels["unit"] == unit].groupby("rater")
            }
            assert ("disagreement" in reasons.get(unit, [])) == (len(sets) > 1), unit
        audit = [i for i in items if "audit" in i.reason_names]
        # the audit draws from the units nobody questions (how many there are depends on
        # the offline annotator's codes): 5 of them, or all when there are fewer
        questioned = {i.unit_id for i in items if set(i.reason_names) - {"audit"}}
        unquestioned = N_UNITS - len(questioned)
        assert unquestioned >= 1, "the fixture needs a unit everyone agrees on"
        assert len(audit) == min(5, unquestioned)
        for item in audit:
            assert len({tuple(r["codes"]) for r in item.detail["raters"]}) == 1
            assert item.reason_names == ["audit"]
        # no confidence threshold in this build: nothing is queued for low confidence
        assert not [i for i in items if "low_confidence" in i.reason_names]
    assert result.by_reason.get("audit", 0) == len(audit)


def test_low_confidence_queues_the_units_with_a_code_under_the_threshold(run_path):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS), confidence_below=0.5))
    with open_queue(run_path.name) as queue:
        low = [i for i in queue.store.items() if "low_confidence" in i.reason_names]
    assert low, "the fixture's annotator gives some codes under 0.5"
    for item in low:
        confs = [
            d["confidence"]
            for r in item.detail["raters"]
            for d in r.get("details", [])
            if d["confidence"] is not None
        ]
        assert min(confs) < 0.5


def test_audit_sample_is_seeded(run_path, isolated_home):
    opts = dict(reasons=[Reason.AUDIT], audit_size=6, agreement_below=-1.0)
    build_queue(run_path.name, BuildOptions(seed=1, **opts))
    with open_queue(run_path.name) as q:
        first = sorted(i.unit_id for i in q.store.items())
    (isolated_home / "reviews" / f"{run_path.name}.sqlite").unlink()
    build_queue(run_path.name, BuildOptions(seed=1, **opts))
    with open_queue(run_path.name) as q:
        again = sorted(i.unit_id for i in q.store.items())
    (isolated_home / "reviews" / f"{run_path.name}.sqlite").unlink()
    build_queue(run_path.name, BuildOptions(seed=2, **opts))
    with open_queue(run_path.name) as q:
        other = sorted(i.unit_id for i in q.store.items())
    assert first == again and len(first) == 6
    assert other != first


def test_rebuild_adds_items_and_keeps_decisions(run_path):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS), agreement_below=-1.0))
    with open_queue(run_path.name) as queue:
        before = {i.key: i.id for i in queue.store.items()}
        item = next_item(queue, "ann")
        made = decide(queue, item, ["generic"], adjudicator="ann", note="first")
    # new annotations arrive: a record of a unit that was not coded before
    extra_unit = list(load_units("humbatova_so", limit=N_UNITS + 1)["id"])[-1]
    with Run(run_path) as run:
        run.append(
            Annotation(
                unit_id=extra_unit,
                annotator="embedded:tfidf",
                codes=[CodeAssignment(code="unclear", confidence=0.1)],
            )
        )
    result = build_queue(run_path.name, BuildOptions(humans=str(LABELS), agreement_below=-1.0))
    assert result.added >= 1
    with open_queue(run_path.name) as queue:
        after = {i.key: i.id for i in queue.store.items()}
        assert f"unit:{extra_unit}" in after
        assert all(after[k] == v for k, v in before.items())  # ids are stable
        kept = queue.store.current()[(item.id, "ann")]
        assert kept.id == made.id and kept.codes == ["generic"] and kept.note == "first"


def test_unknown_code_is_a_located_error(run_path, run_cli):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS)))
    res = run_cli("review", "decide", "1", "--codes", "generic,genric", "--run", run_path.name)
    assert res.exit_code == 2
    assert "--codes: item 1" in res.stderr and "code 2" in res.stderr
    assert "'genric' is not a code of codebook 'humbatova-screening'" in res.stderr
    assert "did you mean generic" in res.stderr
    with open_queue(run_path.name) as queue:
        assert queue.store.decisions() == []


def test_twins_end_to_end(run_path, run_cli, isolated_home):
    run = run_path.name
    res = run_cli("review", "build", run, "--humans", LABELS, "--audit-size", "4", "--json")
    assert res.exit_code == 0, res.stderr
    built = json.loads(res.stdout)
    assert built["items"] > 5 and built["added"] == built["items"]

    def nxt(who):
        r = run_cli("review", "next", run, "--adjudicator", who, "--json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    first = nxt("ann")
    assert first["progress"]["done"] == 0
    r = run_cli(
        "review",
        "decide",
        str(first["item"]),
        "--codes",
        "dl-fault",
        "--note",
        "clear",
        "--run",
        run,
        "--adjudicator",
        "ann",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    d1 = json.loads(r.stdout)
    assert d1["codes"] == ["dl-fault"] and d1["note"] == "clear" and d1["replaces"] is None

    second = nxt("ann")
    assert second["item"] != first["item"] and second["progress"]["done"] == 1
    rater_with_codes = next(i for i, r_ in enumerate(second["detail"]["raters"], 1) if r_["codes"])
    r = run_cli(
        "review",
        "accept",
        str(second["item"]),
        "--rater",
        str(rater_with_codes),
        "--run",
        run,
        "--adjudicator",
        "ann",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    d2 = json.loads(r.stdout)
    assert d2["action"] == "accept_rater"
    assert d2["codes"] == second["detail"]["raters"][rater_with_codes - 1]["codes"]

    third = nxt("ann")
    r = run_cli("review", "skip", run, "--adjudicator", "ann", "--json")
    assert json.loads(r.stdout)["item"] == third["item"]
    assert nxt("ann")["item"] != third["item"]
    r = run_cli("review", "undo", run, "--adjudicator", "ann", "--json")
    undone = json.loads(r.stdout)
    assert undone["action"] == "undo" and undone["withdrawn"]["action"] == "skip"
    assert nxt("ann")["item"] == third["item"]

    r = run_cli(
        "review", "reject", str(third["item"]), "--run", run, "--adjudicator", "ann", "--json"
    )
    assert json.loads(r.stdout)["action"] == "reject"
    # re-deciding replaces the decision in force and says so
    r = run_cli(
        "review",
        "decide",
        str(first["item"]),
        "--codes",
        "generic",
        "--run",
        run,
        "--adjudicator",
        "ann",
        "--json",
    )
    d4 = json.loads(r.stdout)
    assert d4["replaces"] == d1["decision"]

    # a second adjudicator decides the first item differently: a conflict
    r = run_cli("review", "next", run, "--adjudicator", "bob", "--json")
    assert json.loads(r.stdout)["item"] == first["item"]
    assert json.loads(r.stdout)["other_decisions"][0]["adjudicator"] == "ann"
    r = run_cli("review", "next", run, "--adjudicator", "bob", "--blind", "--json")
    assert "other_decisions" not in json.loads(r.stdout)
    run_cli(
        "review",
        "decide",
        str(first["item"]),
        "--codes",
        "unclear",
        "--run",
        run,
        "--adjudicator",
        "bob",
    )
    r = run_cli(
        "review",
        "decide",
        str(second["item"]),
        "--codes",
        ",".join(d2["codes"]),
        "--run",
        run,
        "--adjudicator",
        "bob",
    )
    assert r.exit_code == 0
    r = run_cli("review", "conflicts", run, "--json")
    conflicts = json.loads(r.stdout)
    assert [c["item"] for c in conflicts["conflicts"]] == [first["item"]]

    r = run_cli("review", "status", run, "--json")
    st = json.loads(r.stdout)
    assert st["by_state"]["decided"] == 3 and st["conflicts"] == 1
    assert st["adjudicators"] == {"ann": 3, "bob": 2}
    k = st["adjudicator_agreement"]
    assert k["metric"] == "cohen_kappa" and k["n"] == 2
    assert k["percent_agreement"] == pytest.approx(0.5)

    # export: the conflicting item is left out and named
    out = isolated_home / "gold.csv"
    r = run_cli("review", "export", run, "--format", "csv", "--out", out)
    assert r.exit_code == 0 and "1 item(s) left out" in r.stderr
    gold = pd.read_csv(out, dtype=str)
    assert set(gold["rater"]) == {"adjudicated"}
    assert set(gold["unit"]) == {second["unit_id"]}
    assert list(gold["code"]) == d2["codes"]
    assert set(gold["source_rater"]) == {d2["rater"]}
    # ... and agree --gold / stats distribution accept it
    # (the human labels, not the run: its flagged record needs the "flags" field that the
    # hardening branch adds to Annotation)
    r = run_cli("agree", LABELS, "--gold", out, "--json")
    assert r.exit_code == 0, r.stderr
    r = run_cli(
        "stats", "distribution", "--codebook", "humbatova-screening", "--labels", out, "--json"
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["n_records"] == 1
    r = run_cli("review", "export", run, "--format", "jsonl", "--adjudicator", "ann")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["unit"] for row in rows} == {first["unit_id"], second["unit_id"]}
    assert all(row["adjudicator"] == "ann" and row["run_id"] == run_path.name for row in rows)


def test_status_audit_estimate_matches_statsmodels(run_path):
    build_queue(
        run_path.name,
        BuildOptions(reasons=[Reason.AUDIT], audit_size=8, agreement_below=-1.0),
    )
    with open_queue(run_path.name) as queue:
        audit = [i for i in queue.store.items() if "audit" in i.reason_names]
        assert len(audit) == 8
        # 6 confirmed, 2 changed: the adjudicator found errors in what everyone agreed on
        for k, item in enumerate(audit[:8]):
            agreed = item.detail["proposal"]
            if k < 2:
                other = next(
                    c for c in load_codebook("humbatova-screening").index() if [c] != agreed
                )
                decide(queue, item, [other], adjudicator="ann")
            else:
                accept(queue, item, adjudicator="ann")
        st = status(queue, n_boot=0)
    low, high = proportion_confint(2, 8, alpha=0.05, method="wilson")
    assert st.audit.n == 8 and st.audit.errors == 2 and st.audit.rate == pytest.approx(0.25)
    assert st.audit.ci_low == pytest.approx(low) and st.audit.ci_high == pytest.approx(high)
    assert st.audit.population and st.audit.population >= 8


def test_status_text_prints_n_and_ci(run_path, run_cli):
    build_queue(
        run_path.name, BuildOptions(reasons=[Reason.AUDIT], audit_size=3, agreement_below=-1.0)
    )
    with open_queue(run_path.name) as queue:
        for item in queue.store.items():
            accept(queue, item, adjudicator="ann")
            accept(queue, item, adjudicator="bob")
    r = run_cli("review", "status", run_path.name)
    assert r.exit_code == 0, r.stderr
    assert "audit sample: 0 of n=3 audited units" in r.stdout
    assert "Wilson score interval" in r.stdout
    assert "adjudicators' agreement:" in r.stdout and "n=3 items" in r.stdout


def test_new_codes_and_codebook_proposal(run_path, run_cli, isolated_home):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS), agreement_below=-1.0))
    notes = [
        "question about model licence terms of a pretrained checkpoint",
        "licence of a pretrained model checkpoint unclear",
        "GPU driver installation on the cluster",
    ]
    with open_queue(run_path.name) as queue:
        items = queue.store.items()[:3]
        for item, note in zip(items, notes, strict=True):
            r = run_cli(
                "review",
                "decide",
                str(item.id),
                "--no-fit",
                "--note",
                note,
                "--run",
                run_path.name,
                "--adjudicator",
                "ann",
                "--json",
            )
            assert r.exit_code == 0, r.stderr
    r = run_cli("review", "new-codes", run_path.name, "--json")
    groups = json.loads(r.stdout)["groups"]
    assert [g["size"] for g in groups] == [2, 1]
    assert {n["note"] for n in groups[0]["notes"]} == set(notes[:2])
    r = run_cli(
        "codebook", "propose", "humbatova-screening", "--from-review", run_path.name, "--json"
    )
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["codebook_id"] == "humbatova-screening-v1.1"
    book = load_codebook(made["codebook_id"])  # found in the workspace, valid
    original = load_codebook("humbatova-screening")
    proposed = [n for n in book.nodes if n.id in made["proposed_codes"]]
    assert len(proposed) == 2
    assert {e.source.split(",")[0] for e in proposed[0].examples} == {
        f"review of run {run_path.name}"
    }
    assert set(original.index()) < set(book.index())
    assert made["hash"] != ""
    # no notes: a clear error, not a file
    r = run_cli("review", "undo", run_path.name, "--adjudicator", "ann")
    assert r.exit_code == 0


def test_no_fit_needs_a_note(run_path, run_cli):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS)))
    r = run_cli("review", "decide", "1", "--no-fit", "--run", run_path.name)
    assert r.exit_code == 1 and "needs a note" in r.stderr


def test_a_mapping_decision_that_cannot_reach_its_crosswalk_is_not_recorded(run_path):
    """The crosswalk file is written first: when it cannot be (here it does not exist),
    the item stays undecided in the queue instead of decided but lost from the file."""
    build_queue(run_path.name, BuildOptions(reasons=[Reason.AUDIT], audit_size=1))
    add_mapping_items(
        run_path.name,
        [
            {
                "subject_id": "tan2024:X",
                "object_id": "humbatova2020:Y",
                "predicate": "skos:closeMatch",
            }
        ],
        mapping_set="crosswalks/missing.sssom.tsv",
    )
    with open_queue(run_path.name) as queue:
        item = next(i for i in queue.store.items() if i.kind == "mapping")
        with pytest.raises(PtmcoderError):
            accept(queue, item, adjudicator="ann")
        assert queue.store.decisions() == []


def test_mapping_decisions_reach_the_crosswalk(run_path, run_cli, isolated_home):
    """Three suggestion rows of a real crosswalk (a workspace copy of a bundled one)
    are queued, accepted, changed and rejected in review, and the crosswalk file then
    holds each as a reviewed row with the adjudicator, as its one reader reads it."""
    from ptmcoder.crosswalk import load_mapping_set
    from ptmcoder.paths import bundled_dir

    target, suggestions = workspace_crosswalk(isolated_home)
    assert len(suggestions) == 3
    build_queue(run_path.name, BuildOptions(reasons=[Reason.AUDIT], audit_size=1))
    add_mapping_items(run_path.name, suggestions, mapping_set=str(target))
    with open_queue(run_path.name) as queue:
        maps = {i.mapping["subject_id"]: i.id for i in queue.store.items() if i.kind == "mapping"}
    run = run_path.name
    a, b, c = (s["subject_id"] for s in suggestions)
    r = run_cli("review", "accept", str(maps[a]), "--run", run, "--adjudicator", "ann")
    assert r.exit_code == 0, r.stderr
    r = run_cli(
        "review", "decide", str(maps[b]), "--predicate", "skos:broadMatch",
        "--run", run, "--adjudicator", "ann", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    r = run_cli("review", "reject", str(maps[c]), "--run", run, "--adjudicator", "ann")
    assert r.exit_code == 0, r.stderr
    r = run_cli("review", "decide", str(maps[c]), "--predicate", "skos:nonsense", "--run", run)
    assert r.exit_code == 1 and "unknown predicate" in r.stderr
    rows = reviewed_rows(target, "ann")
    pairs = [(s["subject_id"], s["object_id"]) for s in suggestions]
    assert set(rows) == set(pairs)
    accepted, changed, rejected = (rows[p] for p in pairs)
    assert accepted.predicate_id == suggestions[0]["predicate"] and not accepted.predicate_modifier
    assert changed.predicate_id == "skos:broadMatch"
    assert rejected.predicate_modifier == "Not"
    assert all(m.review_date for m in rows.values())
    bundled = load_mapping_set(bundled_dir("codebooks") / "crosswalks" / f"{CROSSWALK}.sssom.tsv")
    assert not any(m.reviewer_id == "reviewer:ann" for m in bundled.mappings)  # untouched


def test_decisions_are_append_only_with_provenance(run_path):
    build_queue(run_path.name, BuildOptions(humans=str(LABELS)))
    with open_queue(run_path.name) as queue:
        item = get_item(queue, 1)
        a = decide(queue, item, ["generic"], adjudicator="ann", note="n1")
        b = decide(queue, item, ["unclear"], adjudicator="ann")
        path = queue.path
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT id, adjudicator, decided_at, action, codes, note, replaces "
        "FROM decisions ORDER BY id"
    ).fetchall()
    assert rows[0][:2] == (a.id, "ann") and rows[0][5] == "n1" and rows[0][6] is None
    assert rows[1][0] == b.id and rows[1][6] == a.id and json.loads(rows[1][4]) == ["unclear"]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # item by unit id works as well as by number
    with open_queue(run_path.name) as queue:
        assert get_item(queue, item.unit_id).id == item.id


def test_export_feeds_agree_gold_library(run_path):
    from ptmcoder.agreement.io import read_gold

    build_queue(run_path.name, BuildOptions(gold=str(FINAL), humans=str(LABELS)))
    with open_queue(run_path.name) as queue:
        item = next(i for i in queue.store.items() if i.detail["proposal_source"] == "gold")
        accept(queue, item, adjudicator="ann")
        result = export(queue)
    gold_codes = [r["codes"] for r in item.detail["raters"] if r["kind"] == "gold"][0]
    assert sorted(result.table["code"]) == gold_codes
    path = run_path / "g.csv"
    result.table.to_csv(path, index=False)
    assert list(read_gold(path)["unit"]) == [item.unit_id] * len(gold_codes)


@pytest.mark.parametrize(
    "args",
    [
        ["review", "RUN", "--blind"],
        ["review", "--blind", "RUN"],
        ["review", "--adjudicator", "zed", "RUN"],
        ["review", "RUN", "--adjudicator", "zed"],
    ],
)
def test_bare_review_takes_the_run_anywhere(args, run_path, monkeypatch, run_cli):
    """`ptmcoder review RUN` opens the app (here: its constructor records the call)."""
    from ptmcoder.review import app as app_module

    opened = []

    class Recorder(app_module.ReviewApp):
        def run(self, *a, **kw):
            opened.append((self.queue.run.id, self.adjudicator, self.blind))

    monkeypatch.setattr(app_module, "ReviewApp", Recorder)
    build_queue(run_path.name, BuildOptions(reasons=[Reason.AUDIT], audit_size=1))
    res = run_cli(*[run_path.name if a == "RUN" else a for a in args])
    assert res.exit_code == 0, res.stderr
    [(run_id, who, blind)] = opened
    assert run_id == run_path.name
    assert blind == ("--blind" in args)
    from ptmcoder.review import default_adjudicator

    assert who == ("zed" if "zed" in args else default_adjudicator())


def test_bare_review_without_a_queue_says_how_to_build_it(run_path, run_cli):
    res = run_cli("review", run_path.name)
    assert res.exit_code == 1
    assert "has no review queue yet" in res.stderr and "review build" in res.stderr


def test_mapping_items_with_the_real_crosswalk_module(run_path, run_cli, isolated_home):
    """The real integration (runs once the crosswalk branch is merged): suggestions of a
    bundled mapping set become items, and a decision is written into the file."""
    crosswalk = pytest.importorskip("ptmcoder.crosswalk")
    import shutil

    from ptmcoder.paths import bundled_dir

    files = sorted((bundled_dir("codebooks") / "crosswalks").glob("*.sssom.tsv"))
    source = next(
        (
            f
            for f in files
            if any(m.status.value == "suggestion" for m in crosswalk.load_mapping_set(f).mappings)
        ),
        None,
    )
    if source is None:
        pytest.skip("no bundled mapping set has suggestion rows")
    target = isolated_home / "sets" / source.name
    target.parent.mkdir()
    shutil.copy(source, target)
    r = run_cli("review", "build", run_path.name, "--reason", "audit", "--audit-size", "0",
                "--mappings", target, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["by_reason"]["mapping"] >= 1
    with open_queue(run_path.name) as queue:
        item = next(i for i in queue.store.items() if i.kind == "mapping")
    new = (
        "skos:relatedMatch"
        if item.mapping["predicate"] != "skos:relatedMatch"
        else "skos:closeMatch"
    )
    r = run_cli("review", "decide", str(item.id), "--predicate", new, "--run", run_path.name,
                "--adjudicator", "ann", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    rows = [
        m
        for m in crosswalk.load_mapping_set(target).mappings
        if m.subject_id == item.mapping["subject_id"] and m.object_id == item.mapping["object_id"]
    ]
    assert any(m.reviewer_id == "reviewer:ann" and m.predicate_id == new for m in rows)


def test_the_audit_sample_carries_its_inclusion_probability_into_the_gold(run_path):
    """The audit is a seeded random draw from the units nobody questioned: each drawn
    unit's probability is written on its item and exported with the gold, so a
    design-weighted estimate can use it; a queued unit is no random sample (none)."""
    build_queue(
        run_path.name,
        BuildOptions(reasons=[Reason.AUDIT], audit_size=5, agreement_below=-1.0),
    )
    with open_queue(run_path.name) as queue:
        audit = [i for i in queue.store.items() if "audit" in i.reason_names]
        reason = audit[0].reasons[0]
        assert reason["population"] >= 5
        assert reason["inclusion_probability"] == pytest.approx(5 / reason["population"])
        for item in audit:
            accept(queue, item, adjudicator="ann")
        table = export(queue).table
    assert set(table["sample"]) == {"audit"}
    assert table["inclusion_probability"].tolist() == [
        pytest.approx(5 / reason["population"])
    ] * len(table)
