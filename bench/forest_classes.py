"""Multiclass forests: `whet fit --learner rf|et` of two builds (e.g. before and after a change)
against scikit-learn's RandomForestClassifier / ExtraTreesClassifier with comparable
parameters, on the same split, in one run; then `whet train --time 60s` of each build: trials
and learners completed.

Usage (from the repo root, with the peers' python; bench/forest_classes.sh runs it):
    ~/.cache/whet-peers/bin/python bench/forest_classes.py --whet BIN [--base BIN] [--reps 3]
        [--datasets many32,digits] [--train-time 60s]

Data and split: those of bench/many_classes_speed.py (many32: 1,500 rows, 32 classes; digits:
1,797 rows, 10 classes; 80/20 stratified, seed 0). whet runs its forest defaults (100 trees,
255 leaves, min_data_in_leaf 2, feature_fraction_bynode 0.6, lambda_l2 0; rf: a 63.2% sample
without replacement per tree; et: every row, a random threshold per feature) on 2 threads.
scikit-learn gets n_estimators=100, max_leaf_nodes=255, min_samples_leaf=2, max_features=0.6,
n_jobs=2 (rf: bootstrap, max_samples=0.632; et: no bootstrap), categorical columns as their
codes. Reported: median fit time (whet's `fit_seconds`, sklearn's `fit`) and test log loss
(sklearn's `log_loss`, which clips probabilities at 1e-15) and accuracy.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from many_classes_speed import DATA, dataset, split  # noqa: E402

THREADS = 2


def run_whet(whet, learner, train, test, target):
    cmd = [whet, "fit", train, "--target", target, "--learner", learner, "--test", test, "--json", "--quiet",
           "--threads", str(THREADS), "--seed", "0", "--store", os.path.join(DATA, "bench.db")]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"whet fit failed: {' '.join(cmd)}\n{out.stderr}")
    doc = json.loads(out.stdout)
    m = doc["test_metrics"]
    return doc["fit_seconds"], m["log_loss"], m["accuracy"]


def run_sklearn(learner, tr, te, target):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.metrics import accuracy_score, log_loss
    Xtr, Xte = tr.drop(columns=[target]).copy(), te.drop(columns=[target]).copy()
    for c in Xtr.columns:
        if not pd.api.types.is_numeric_dtype(Xtr[c]):
            dt = pd.CategoricalDtype(categories=sorted(Xtr[c].dropna().unique()))
            Xtr[c], Xte[c] = Xtr[c].astype(dt).cat.codes, Xte[c].astype(dt).cat.codes
    common = dict(n_estimators=100, max_leaf_nodes=255, min_samples_leaf=2, max_features=0.6,
                  n_jobs=THREADS, random_state=0)
    if learner == "rf":
        model = RandomForestClassifier(bootstrap=True, max_samples=0.632, **common)
    else:
        model = ExtraTreesClassifier(bootstrap=False, **common)
    ytr, yte = tr[target].astype(str), te[target].astype(str)
    t = time.perf_counter()
    model.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t
    proba = model.predict_proba(Xte)
    return fit_s, float(log_loss(yte, proba, labels=model.classes_)), float(accuracy_score(yte, model.predict(Xte)))


def run_train(whet, data_csv, test_csv, target, budget, label):
    out_dir = os.path.join(DATA, f"train_{label}")
    os.makedirs(out_dir, exist_ok=True)
    cmd = [whet, "train", data_csv, "--target", target, "--test", test_csv, "--time", budget, "--json", "--quiet",
           "--seed", "0",
           "--threads", str(THREADS), "--out", os.path.join(out_dir, "model.whet"),
           "--store", os.path.join(out_dir, "whet.db")]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"whet train failed: {' '.join(cmd)}\n{out.stderr}")
    return json.loads(out.stdout), wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--whet", required=True)
    ap.add_argument("--base", help="a second whet binary (e.g. built before the change)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--datasets", default="many32,digits")
    ap.add_argument("--train-time", default="60s", help="budget of `whet train` (none: skip)")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    builds = [("base", args.base)] if args.base else []
    builds.append(("whet", args.whet))
    print(f"# multiclass forests — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {THREADS} threads, "
          f"median of {args.reps}")
    print("| dataset | learner | tool | fit s (runs) | test log loss | test accuracy |")
    print("|---|---|---|---|---|---|")
    splits = {}
    for name in args.datasets.split(","):
        df, target = dataset(name)
        tr, te, (train_csv, test_csv) = split(name, df, target)
        splits[name] = (train_csv, test_csv, target)
        for learner in ("rf", "et"):
            rows = {label: [] for label, _ in builds}
            rows["sklearn"] = []
            for _ in range(args.reps):
                for label, binary in builds:
                    rows[label].append(run_whet(binary, learner, train_csv, test_csv, target))
                rows["sklearn"].append(run_sklearn(learner, tr, te, target))
            for label, runs in rows.items():
                times = [r[0] for r in runs]
                print(f"| {name} | {learner} | {label} | {statistics.median(times):.3f} "
                      f"({', '.join(f'{t:.3f}' for t in times)}) | {runs[-1][1]:.4f} | {runs[-1][2]:.4f} |",
                      flush=True)
    if args.train_time == "none":
        return
    print()
    print(f"# whet train --time {args.train_time} on the training part (its own 5-fold CV)")
    print("| dataset | build | trials completed / pruned / failed | best CV log loss per learner (completed) | "
          "CV log loss | test log loss | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name, (train_csv, test_csv, target) in splits.items():
        for label, binary in builds:
            doc, wall = run_train(binary, train_csv, test_csv, target, args.train_time, f"{name}_{label}")
            best = ", ".join(f"{k} {v:.4f}" for k, v in sorted(doc["best_per_learner"].items(), key=lambda kv: kv[1]))
            test = (doc.get("test_metrics") or {}).get("log_loss")
            print(f"| {name} | {label} | {doc['trials_completed']} / {doc['trials_pruned']} / {doc['trials_failed']} | "
                  f"{best} | {doc['cv_score']:.4f} | {test if test is None else f'{test:.4f}'} | {wall:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
