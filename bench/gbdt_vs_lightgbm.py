"""whet's GBDT against LightGBM on the same data, split, parameters and threads, in one run.

Usage (from the repo root, with the peers' python):
    ~/.cache/whet-peers/bin/python bench/gbdt_vs_lightgbm.py [--rounds 100,500] [--datasets higgs,reg,birthdays,...] [--reps 3]

For each dataset the features are prepared once by ../shared/peers/reference.py's loader (date
columns -> parts, text -> lengths), split 80/20 exactly as reference.py splits (seed 0, stratified
for classification), and written to bench/data/<name>_{train,test}.csv. Both tools then fit on
the train file with num_leaves 31, learning_rate 0.1, max_bin 255, 2 threads, and are scored on
the test file. Fit time includes binning for both (LightGBM's Dataset construction, whet's
BinnedData: `whet fit`'s `fit_seconds`); predict time is the batch prediction of the test file.
`higgs` is make_synthetic.py's 1M × 28 binary set, `reg` its 500k-row regression set with
categoricals; other names are ../shared/datasets files. With `--reps N` the tools alternate N
times and the times are medians (the metrics are the first run's; both tools are seeded).
`--drop COL,...` leaves columns out of both fits (LightGBM's frame loses them, whet gets
`--types COL=ignore`): e.g. an ID-like categorical (flights_late's tailnum).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "peers"))
import reference  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
WHET = os.path.join(ROOT, "target", "release", "whet")
THREADS = 2


def manifest():
    m = pd.read_csv(os.path.join(SHARED, "datasets", "MANIFEST.tsv"), sep="\t", keep_default_na=False)
    return {r["file"][:-4]: r for _, r in m.iterrows()}


def prepare(name, rows):
    """Writes train/test CSVs for `name`; returns (train, test, task, lgbm frames, y)."""
    from sklearn.model_selection import train_test_split
    train_csv = os.path.join(DATA, f"{name}_train.csv")
    test_csv = os.path.join(DATA, f"{name}_test.csv")
    if name == "higgs":
        src = os.path.join(DATA, "higgs_like_1m.csv")
        if not os.path.exists(src):
            subprocess.run([sys.executable, os.path.join(SHARED, "datasets", "make_synthetic.py"), "--out", DATA, "--which", "higgs"], check=True)
        df = pd.read_csv(src)
        y = df.pop("label").to_numpy().astype(np.int64)
        X, cat_cols, task = df, [], "binary"
    elif name == "reg":
        # make_synthetic.py's 500k-row regression set: numeric columns with missing values and
        # string categoricals (LightGBM gets them as pandas categories, whet reads them itself).
        src = os.path.join(DATA, "reg_mixed_500k.csv")
        if not os.path.exists(src):
            subprocess.run([sys.executable, os.path.join(SHARED, "datasets", "make_synthetic.py"), "--out", DATA, "--which", "reg"], check=True)
        df = pd.read_csv(src)
        y = df.pop("y").to_numpy().astype(np.float64)
        cat_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        X, task = df, "regression"
    else:
        m = rows[name]
        X, yraw, cat_cols = reference.load(os.path.join(SHARED, "datasets"), m)
        y, _ = reference.encode_target(yraw, m)
        task = m["task"]
    strat = y if task != "regression" else None
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=strat)
    if not (os.path.exists(train_csv) and os.path.exists(test_csv)):
        for frame, target, path in ((Xtr, ytr, train_csv), (Xte, yte, test_csv)):
            out = frame.copy()
            out["target__"] = target
            out.to_csv(path + ".tmp", index=False)
            os.replace(path + ".tmp", path)
    return train_csv, test_csv, task, Xtr, Xte, ytr, yte, cat_cols


def run_lightgbm(task, Xtr, Xte, ytr, yte, cat_cols, rounds):
    import lightgbm as lgb
    A, B = reference.lgbm_frame(Xtr, Xte, cat_cols)
    params = {"num_leaves": 31, "learning_rate": 0.1, "max_bin": 255, "num_threads": THREADS, "verbose": -1, "seed": 0}
    if task == "binary":
        params["objective"] = "binary"
    elif task == "multiclass":
        params.update(objective="multiclass", num_class=int(max(ytr.max(), yte.max()) + 1))
    else:
        params["objective"] = "regression"
    t = time.perf_counter()
    ds = lgb.Dataset(A, ytr, categorical_feature=cat_cols or "auto", free_raw_data=False)
    model = lgb.train(params, ds, num_boost_round=rounds)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    pred = model.predict(B, num_threads=THREADS)
    pred_s = time.perf_counter() - t
    return fit_s, pred_s, score(task, yte, pred)


def score(task, y, pred):
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
    if task == "binary":
        return ("roc_auc", roc_auc_score(y, pred))
    if task == "multiclass":
        return ("log_loss", log_loss(y, np.clip(pred, 1e-15, 1)))
    return ("rmse", float(np.sqrt(mean_squared_error(y, pred))))


def run_whet(task, train_csv, test_csv, rounds, drop=()):
    cmd = [WHET, "--threads", str(THREADS), "fit", train_csv, "--target", "target__", "--test", test_csv,
           "--json", "--quiet", "--task", task, "--text-buckets", "0",
           "-p", f"num_iterations={rounds}", "-p", "num_leaves=31", "-p", "learning_rate=0.1", "-p", "max_bin=255"]
    if drop:
        cmd += ["--types", ",".join(f"{c}=ignore" for c in drop)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    return r["fit_seconds"], r["test_predict_seconds"], (metric, r["test_metrics"][metric])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", default="100,500")
    ap.add_argument("--datasets", default="higgs,birthdays,flights_late,fertility_morekids")
    ap.add_argument("--reps", type=int, default=1, help="runs of each tool, alternating; times are medians")
    ap.add_argument("--drop", default="", help="columns left out of both fits, comma-separated")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    rows = manifest()
    print(f"# whet GBDT vs LightGBM — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {THREADS} threads")
    print("| data | rounds | metric | whet | LightGBM | diff | fit s whet | fit s LGBM | fit ratio | predict s whet | predict s LGBM | predict ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        train_csv, test_csv, task, Xtr, Xte, ytr, yte, cat_cols = prepare(name, rows)
        drop = [c for c in args.drop.split(",") if c and c in Xtr.columns]
        Xtr, Xte = Xtr.drop(columns=drop), Xte.drop(columns=drop)
        cat_cols = [c for c in cat_cols if c not in drop]
        for rounds in [int(r) for r in args.rounds.split(",")]:
            runs = []
            for _ in range(max(1, args.reps)):
                runs.append((run_whet(task, train_csv, test_csv, rounds, drop),
                             run_lightgbm(task, Xtr, Xte, ytr, yte, cat_cols, rounds)))
            med = lambda xs: float(np.median(xs))  # noqa: E731
            wf, wp = med([w[0] for w, _ in runs]), med([w[1] for w, _ in runs])
            lf, lp = med([lg[0] for _, lg in runs]), med([lg[1] for _, lg in runs])
            (metric, wm), (_, lm) = runs[0][0][2], runs[0][1][2]
            diff = wm - lm
            shown = f"{name} ({len(Xtr)}×{Xtr.shape[1]}{', without ' + ' '.join(drop) if drop else ''})"
            print(f"| {shown} | {rounds} | {metric} | {wm:.5f} | {lm:.5f} | {diff:+.5f} | "
                  f"{wf:.2f} | {lf:.2f} | {wf / lf:.2f} | {wp:.3f} | {lp:.3f} | {wp / lp:.2f} |", flush=True)


if __name__ == "__main__":
    main()
