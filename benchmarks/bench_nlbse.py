"""NLBSE'24 issue-report classification: the embedded annotator trained on the human labels
of the train split, coding the test split through the real ``annotate`` path, against a
TF-IDF + logistic regression reference measured in the same run. Offline.

    python benchmarks/bench_nlbse.py [--annotator embedded|embedded:tfidf|embedded:minilm|
        embedded:finetune] [--learn-max-texts N] [--workspace DIR]
        [--zero-shot [--zero-shot-limit N]]

Steps: write the two CSV splits with ids ``tr0000``/``te0000`` and the train labels as a
long table keyed by those ids (the ids as the input gives them); ``ptmcoder corpus import``
both (ids become ``gh:owner/repo#tr0000``); ``ptmcoder annotate --codebook issue-type
--corpus nlbse_test --train train_labels.csv --train-corpus nlbse_train`` (NLBSE's
``feature`` reaches ``enhancement`` through the codebook's aliases). Prints macro F1 pooled,
the competition's figure (mean over the 5 repositories of each repository's macro F1),
per-class F1, units/s (wall clock, and per CPU second since the machine may be shared), and
the reference's figures and the ratios. Then the same command codes the test split again in
a new run: what was learned (fine-tuned models, embeddings) is cached in the workspace, so
that second figure is the speed of coding with an annotator already trained on these human
codes (process start to last record), and the codes must be the same. ``--workspace``
keeps the caches between runs (a fresh temporary workspace by default).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nlbse24_issue_classification"
)
CODES = ["bug", "question", "enhancement"]
NLBSE_TO_CODE = {"bug": "bug", "question": "question", "feature": "enhancement"}


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ptmcoder(*args: str, env: dict[str, str]) -> tuple[str, float, float]:
    """Run the real CLI; (stdout, wall seconds, CPU seconds)."""
    cpu0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ptmcoder", *args], env=env, capture_output=True, text=True
    )
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    if done.returncode != 0:
        sys.exit(f"ptmcoder {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    sys.stderr.write(done.stderr[-1500:])
    return done.stdout, wall, cpu


def scores(gold: list[str], predicted: list[list[str]], repos: list[str]) -> dict:
    from sklearn.metrics import f1_score, recall_score

    Y = np.array([[int(g == c) for c in CODES] for g in gold])
    P = np.array([[int(c in p) for c in CODES] for p in predicted])
    per_repo = {}
    for repo in sorted(set(repos)):
        mask = np.array([r == repo for r in repos])
        per_repo[repo] = float(f1_score(Y[mask], P[mask], average="macro", zero_division=0))
    return {
        "macro_f1": float(f1_score(Y, P, average="macro", zero_division=0)),
        "mean_repo_macro_f1": float(np.mean(list(per_repo.values()))),
        "per_class_f1": dict(
            zip(CODES, map(float, f1_score(Y, P, average=None, zero_division=0)), strict=True)
        ),
        "per_class_recall": dict(
            zip(CODES, map(float, recall_score(Y, P, average=None, zero_division=0)), strict=True)
        ),
        "per_repo_macro_f1": per_repo,
        "codes_per_unit": {
            int(k): int(v) for k, v in pd.Series(P.sum(axis=1)).value_counts().items()
        },
    }


def reference(train: pd.DataFrame, test: pd.DataFrame) -> tuple[list[list[str]], float, float]:
    """TF-IDF (word 1-2 grams) + multinomial logistic regression on title + body."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cpu0, t0 = time.process_time(), time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    X = vec.fit_transform(train.title + "\n" + train.body)
    model = LogisticRegression(max_iter=1000, C=10.0)
    model.fit(X, train.label.map(NLBSE_TO_CODE))
    pred = model.predict(vec.transform(test.title + "\n" + test.body))
    return [[p] for p in pred], time.perf_counter() - t0, time.process_time() - cpu0


def _line(name: str, s: dict, units: int, wall: float, cpu: float) -> str:
    per = ", ".join(f"{c} {v:.3f}" for c, v in s["per_class_f1"].items())
    return (
        f"{name}: macro F1 {s['macro_f1']:.3f} (mean per-repo {s['mean_repo_macro_f1']:.3f}); "
        f"per class {per}; {units / wall:.1f} units/s wall, {units / cpu:.1f} units per CPU s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotator", default="embedded")
    p.add_argument(
        "--learn-max-texts", type=int, help="most distinct texts MiniLM may embed (auto mode)"
    )
    p.add_argument("--workspace", type=Path, help="keep corpora and the embedding cache here")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--zero-shot", action="store_true", help="also code zero-shot (slow)")
    p.add_argument("--zero-shot-limit", type=int, default=300, help="stratified sample size")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    train = pd.read_csv(args.data / "issues_train.csv", keep_default_na=False)
    test = pd.read_csv(args.data / "issues_test.csv", keep_default_na=False)
    train.insert(0, "id", [f"tr{i:04d}" for i in range(len(train))])
    test.insert(0, "id", [f"te{i:04d}" for i in range(len(test))])
    home = args.workspace or Path(tempfile.mkdtemp(prefix="bench_nlbse_"))
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PTMCODER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    train.to_csv(home / "train.csv", index=False)
    test.to_csv(home / "test.csv", index=False)
    labels = pd.DataFrame({"unit": train.id, "rater": "nlbse", "code": train.label})
    labels.to_csv(home / "train_labels.csv", index=False)
    mapping = "id=id,title=title,body=body,project=repo,created_at=created_at"
    for split in ("train", "test"):
        ptmcoder(
            "corpus", "import", str(home / f"{split}.csv"), "--name", f"nlbse_{split}",
            "--format", "csv", "--map", mapping, "--platform", "github", "--replace",
            "--no-progress", env=env,
        )  # fmt: skip
    run_id = f"nlbse-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [
        "annotate", "--codebook", "issue-type", "--corpus", "nlbse_test",
        "--annotator", args.annotator, "--train", str(home / "train_labels.csv"),
        "--train-corpus", "nlbse_train", "--run", run_id, "--no-progress", "--json",
    ]  # fmt: skip
    if args.learn_max_texts is not None:
        cmd += ["--learn-max-texts", str(args.learn_max_texts)]
    out, wall, cpu = ptmcoder(*cmd, env=env)
    run_dir = Path(json.loads(out)["path"])
    # the trained annotator coding the test split again in a new run: whatever was learned
    # (fine-tuned models, embeddings) is cached in the workspace, so this is the speed of
    # coding with an annotator already trained on these human codes
    recmd = [*cmd]
    recmd[recmd.index("--run") + 1] = run_id + "-again"
    reout, rewall, recpu = ptmcoder(*recmd, env=env)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ptmcoder.runs import Run

    records = {r["unit_id"]: r for r in Run(run_dir).records()}
    by_orig = {uid.rsplit("#", 1)[-1]: r for uid, r in records.items()}
    predicted = [[c["code"] for c in by_orig[i].get("codes") or []] for i in test.id]
    gold = list(test.label.map(NLBSE_TO_CODE))
    repos = list(test.repo)
    ours = scores(gold, predicted, repos)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    learner = manifest["annotators"][0].get("learner", {})
    again_dir = Path(json.loads(reout)["path"])
    again = {r["unit_id"]: r for r in Run(again_dir).records()}
    same = sum(
        [c["code"] for c in again[u].get("codes") or []]
        == [c["code"] for c in records[u].get("codes") or []]
        for u in records
    )

    ref_pred, ref_wall, ref_cpu = reference(train, test)
    ref = scores(gold, ref_pred, repos)
    n = n_units = len(test)
    result = {
        "ptmcoder": {**ours, "seconds_wall": wall, "seconds_cpu": cpu, "command": cmd},
        "trained_annotator_again": {
            "seconds_wall": rewall,
            "seconds_cpu": recpu,
            "units_per_second_wall": n_units / rewall,
            "same_codes": same,
            "units": len(records),
        },
        "finetune": learner.get("finetune"),
        "reference_tfidf_logreg": {**ref, "seconds_wall": ref_wall, "seconds_cpu": ref_cpu},
        "ratio_macro_f1": ours["macro_f1"] / ref["macro_f1"],
        "setfit_baseline_macro_f1": 0.824,
        "learner": {k: learner.get(k) for k in ("representation", "learner", "C", "decision")},
        "learner_cv_macro_f1": learner.get("cv", {}).get("macro_f1"),
        "representations_skipped": learner.get("representations_skipped"),
        "run": str(run_dir),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    if args.zero_shot:
        # a stratified sample (the test file is ordered by label): equal units per class
        per_class = max(1, args.zero_shot_limit // 3)
        sub = test.groupby("label", group_keys=False).sample(per_class, random_state=0)
        sub.to_csv(home / "test_sample.csv", index=False)
        ptmcoder(
            "corpus", "import", str(home / "test_sample.csv"), "--name", "nlbse_test_sample",
            "--format", "csv", "--map", mapping, "--platform", "github", "--replace",
            "--no-progress", env=env,
        )  # fmt: skip
        zcmd = [
            "annotate", "--codebook", "issue-type", "--corpus", "nlbse_test_sample",
            "--annotator", "embedded", "--run", run_id + "-zero", "--no-progress", "--json",
        ]  # fmt: skip
        zout, zwall, zcpu = ptmcoder(*zcmd, env=env)
        zrecords = {
            r["unit_id"].rsplit("#", 1)[-1]: r
            for r in Run(Path(json.loads(zout)["path"])).records()
        }
        zpred = [[c["code"] for c in zrecords[i].get("codes") or []] for i in sub.id]
        zs = scores(list(sub.label.map(NLBSE_TO_CODE)), zpred, list(sub.repo))
        result["zero_shot"] = {**zs, "units": len(sub), "seconds_wall": zwall, "seconds_cpu": zcpu}
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"NLBSE'24 test split, {n} issues; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(_line(f"ptmcoder {args.annotator} --train", ours, n, wall, cpu))
    print(
        f"  chosen by {learner.get('cv', {}).get('folds')}-fold CV: "
        f"{result['learner']} (CV macro F1 {result['learner_cv_macro_f1']}); "
        f"skipped: {result['representations_skipped'] or 'none'}"
    )
    print(f"  codes per unit: {ours['codes_per_unit']}")
    if learner.get("finetune"):
        ft = learner["finetune"]
        print(
            f"  fine-tuning: {ft['models']} ({ft['settings']['epochs']} epochs, "
            f"{ft['settings']['max_tokens']} word pieces), {ft['seconds']:.0f} s"
        )
    ag = result["trained_annotator_again"]
    print(
        f"  the trained annotator coding the {n} test issues again (new run, learned models "
        f"cached): {ag['units_per_second_wall']:.1f} units/s wall ({ag['seconds_wall']:.1f} s "
        f"from process start to last record, {n / ag['seconds_cpu']:.1f} units per CPU s); "
        f"same codes for {ag['same_codes']} of {ag['units']} units"
    )
    print(_line("reference TF-IDF + logistic regression", ref, n, ref_wall, ref_cpu))
    print(
        f"ratio macro F1 ptmcoder / reference: {result['ratio_macro_f1']:.3f}; "
        f"vs SetFit baseline 0.824: {ours['macro_f1'] - 0.824:+.3f}; "
        f"speed ratio (wall): {ref_wall / wall:.3f} of the reference's units/s"
    )
    if "zero_shot" in result:
        z = result["zero_shot"]
        rec = ", ".join(f"{c} {v:.3f}" for c, v in z["per_class_recall"].items())
        print(
            f"zero-shot on {z['units']} test issues ({z['units'] // 3} per class, seeded): "
            f"macro F1 {z['macro_f1']:.3f}; "
            f"recall {rec}; {z['units'] / z['seconds_wall']:.1f} units/s wall"
        )
    print(f"command: ptmcoder {' '.join(cmd)}")


if __name__ == "__main__":
    main()
