"""Boosting on many classes with few rows: `whet fit --learner gbdt` against LightGBM with the
same parameters, on the same split, in one run.

Usage (from the repo root, with the peers' python; bench/many_classes_speed.sh builds and runs it):
    ~/.cache/whet-peers/bin/python bench/many_classes_speed.py [--reps 3] [--datasets many32,digits]

Data: `many32` is `python3 bench/many_classes.py` (1,500 rows, 32 classes, 50 numeric and 8
categorical features, seed 0), made once under bench/data/; `digits` is
../shared/datasets/digits.csv (1,797 rows, 64 pixel counts, 10 classes). Each is split 80/20
stratified with seed 0 (the reference split of ../shared/peers/reference.py) and the two parts
written to CSV. Both tools fit 100 rounds, 31 leaves, learning rate 0.1, 255 bins,
min_data_in_leaf 20 on 2 threads; categorical columns are native on both sides (whet reads them
as categoricals, LightGBM gets pandas 'category' columns) with each tool's default categorical
parameters (whet's are LightGBM's). Fits alternate whet, LightGBM, whet, ...

Reported per dataset: the median fit time of each over the runs and their ratio, test log loss
of each (whet's from its `--json` report, printed to 10 digits so that a change in the model
shows), and whet's wall time for the whole command (CSV reading, preparation, binning, fit,
prediction and scoring). whet's `fit_seconds` is the boosting alone; its binning of these
1,500-row sets takes a few milliseconds. LightGBM's time is Dataset construction + train.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DATA = os.path.join(ROOT, "bench", "data", "many_classes")
# WHET_BIN runs another build (e.g. a copy made before a change).
WHET = os.environ.get("WHET_BIN", os.path.join(ROOT, "target", "release", "whet"))
THREADS = 2
PARAMS = {"num_iterations": 100, "num_leaves": 31, "learning_rate": 0.1, "max_bin": 255, "min_data_in_leaf": 20}


def dataset(name):
    """(frame, target column) of a benchmark set."""
    if name == "many32":
        path = os.path.join(DATA, "many32.csv")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "many_classes.py"), path + ".tmp"], check=True)
            os.replace(path + ".tmp", path)
        return pd.read_csv(path), "label"
    if name == "digits":
        return pd.read_csv(os.path.join(SHARED, "datasets", "digits.csv")), "digit"
    raise SystemExit(f"unknown dataset {name} (many32, digits)")


def split(name, df, target):
    from sklearn.model_selection import train_test_split
    y = df[target].astype(str)
    tr, te = train_test_split(df, test_size=0.2, random_state=0, stratify=y)
    paths = []
    for part, frame in (("train", tr), ("test", te)):
        p = os.path.join(DATA, f"{name}_{part}.csv")
        frame.to_csv(p + ".tmp", index=False)
        os.replace(p + ".tmp", p)
        paths.append(p)
    return tr, te, paths


def run_whet(train, test, target):
    cmd = [WHET, "fit", train, "--target", target, "--learner", "gbdt", "--test", test, "--json", "--quiet",
           "--threads", str(THREADS), "--seed", "0"]
    for k, v in PARAMS.items():
        cmd += ["-p", f"{k}={v}"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"whet fit failed: {' '.join(cmd)}\n{out.stderr}")
    doc = json.loads(out.stdout)
    return doc["fit_seconds"], wall, doc["test_metrics"]["log_loss"]


def run_lightgbm(tr, te, target):
    import lightgbm as lgb
    from sklearn.metrics import log_loss
    classes = sorted(tr[target].astype(str).unique())
    code = {c: i for i, c in enumerate(classes)}
    ytr = tr[target].astype(str).map(code).to_numpy()
    yte = te[target].astype(str).map(code).to_numpy()
    Xtr, Xte = tr.drop(columns=[target]), te.drop(columns=[target])
    cats = [c for c in Xtr.columns if not pd.api.types.is_numeric_dtype(Xtr[c])]
    for c in cats:
        dt = pd.CategoricalDtype(categories=sorted(Xtr[c].dropna().unique()))
        Xtr[c], Xte[c] = Xtr[c].astype(dt), Xte[c].astype(dt)
    params = dict(PARAMS, objective="multiclass", num_class=len(classes), num_threads=THREADS, verbose=-1, seed=0)
    rounds = params.pop("num_iterations")
    t = time.perf_counter()
    ds = lgb.Dataset(Xtr, ytr, categorical_feature=cats or "auto", params={"max_bin": PARAMS["max_bin"], "verbose": -1})
    model = lgb.train(params, ds, num_boost_round=rounds)
    fit_s = time.perf_counter() - t
    return fit_s, float(log_loss(yte, model.predict(Xte), labels=list(range(len(classes)))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--datasets", default="many32,digits")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    print(f"# whet gbdt vs LightGBM on many classes — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
          f"{THREADS} threads, {' '.join(f'{k}={v}' for k, v in PARAMS.items())}, median of {args.reps}")
    print("| dataset | train rows × features, classes | fit s whet (runs) | fit s LightGBM (runs) | ratio | "
          "whet command wall s | test log loss whet | test log loss LightGBM |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        df, target = dataset(name)
        tr, te, (train_csv, test_csv) = split(name, df, target)
        w_runs, walls, l_runs = [], [], []
        w_loss = l_loss = None
        for _ in range(args.reps):
            fs, wall, w_loss = run_whet(train_csv, test_csv, target)
            w_runs.append(fs)
            walls.append(wall)
            lf, l_loss = run_lightgbm(tr, te, target)
            l_runs.append(lf)
        wm, lm = statistics.median(w_runs), statistics.median(l_runs)
        runs = lambda v: ", ".join(f"{x:.3f}" for x in v)
        shape = f"{len(tr):,} × {df.shape[1] - 1}, {df[target].nunique()}"
        print(f"| {name} | {shape} | {wm:.3f} ({runs(w_runs)}) | {lm:.3f} ({runs(l_runs)}) | {wm / lm:.2f} | "
              f"{statistics.median(walls):.3f} | {w_loss:.10f} | {l_loss:.10f} |", flush=True)


if __name__ == "__main__":
    main()
