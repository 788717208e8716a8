"""whet's GBDT fit time against LightGBM's, same data, parameters and threads, in one run.

Usage (from the repo root, with the peers' python; bench/gbdt_speed.sh builds and runs it):
    ~/.cache/whet-peers/bin/python bench/gbdt_speed.py [--rows 160000,1000000] [--reps 3]

Training sets are the first N rows of the 1M × 28 synthetic binary set (make_synthetic.py
`--which higgs`, seed 0); the test set is 200k rows of the same generator with seed 7. Both
tools fit with 100 rounds, 31 leaves, learning rate 0.1, 255 bins, min_data_in_leaf 20, 2
threads, and their fits alternate. Fit time counts binning and boosting on both sides
(LightGBM: Dataset construction from a float32 array + train; whet: BinnedData::fit + fit_gbdt,
via the gbdt_speed example) and excludes reading the CSV. Reported: median of the runs, the
ratio, test AUC of both and their difference, and whet's single-row latency (100 trees).
`--rows 10000000` fits the whole 10M-row set of make_synthetic.py at `--scale 10` (made once).

Memory (Linux): each tool's peak resident memory during binning and the fit, less its resident
memory just before (the loaded data), the largest over the runs: the kernel's high-water mark is
reset through /proc/self/clear_refs before the Dataset is built (LightGBM) or the features are
binned (whet). The last column sets whet's against one binned matrix (rows × features bytes)
plus its gradient pairs (8 bytes a row).

A second table compares prediction on exactly the same trees: the example writes whet's fitted
model as a LightGBM text model with the test rows (WHET_LGBM_DIR), and bench/lgbm_predict.c
(built by gbdt_speed.sh, path in LGBM_PREDICT) times LightGBM's C API on them: batch
probabilities for the 200k test rows × 28 with 1 and 2 threads (whet: `GbdtModel::predict` on
the in-memory features; LightGBM: `LGBM_BoosterPredictForMat` on a row-major float32 matrix),
and single-row raw scores (whet: `predict_raw_row` on a dense f32 row; LightGBM:
`LGBM_BoosterPredictForMatSingleRowFast`), each the median over its runs; it also prints whet's
one-row `GbdtModel::predict` (a served request after prep) and the largest difference between
the two tools' raw scores.
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
DATA = os.path.join(ROOT, "bench", "data", "gbdt_speed")
# WHET_GBDT_SPEED_BIN runs another build of the example (e.g. a copy made before a change).
SPEED = os.environ.get("WHET_GBDT_SPEED_BIN", os.path.join(ROOT, "target", "release", "examples", "gbdt_speed"))
THREADS = 2
ROUNDS = 100
# `--rows 10000000` fits the whole of make_synthetic.py's set at `--scale 10` (seed 0).
TEN_MILLION = 10_000_000


def synthetic(name, scale, seed):
    """Path of make_synthetic.py's higgs-like set at `scale` and `seed`, made once."""
    out = os.path.join(DATA, name)
    path = os.path.join(out, "higgs_like_1m.csv")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(SHARED, "datasets", "make_synthetic.py"), "--out", out,
                        "--which", "higgs", "--scale", str(scale), "--seed", str(seed)], check=True)
    return path


def head(src, rows):
    """The first `rows` rows of `src` as their own CSV (whet reads files); all of them is `src`."""
    if rows == TEN_MILLION:
        return src
    path = os.path.join(DATA, f"train_{rows}.csv")
    if not os.path.exists(path):
        with open(src) as f, open(path + ".tmp", "w") as out:
            for i, line in enumerate(f):
                if i > rows:
                    break
                out.write(line)
        os.replace(path + ".tmp", path)
    return path


def run_whet(train, test, lgbm_dir):
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), WHET_ROW_REPS="5", WHET_LGBM_DIR=lgbm_dir)
    out = subprocess.run([SPEED, train, "label", str(ROUNDS), test], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def run_lightgbm_predict(lgbm_dir):
    import lightgbm
    lib = os.path.join(os.path.dirname(lightgbm.__file__), "lib", "lib_lightgbm.so")
    out = subprocess.run([os.environ["LGBM_PREDICT"], lib, lgbm_dir, "28", "5"], check=True,
                         capture_output=True, text=True, env=os.environ)
    return json.loads(out.stdout)


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return None


def reset_peak_mb():
    """Resets this process's peak resident memory to its current size and returns that size (MiB):
    the same measure the gbdt_speed example takes around whet's binning and fit."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_kb("VmRSS:") / 1024


def run_lightgbm(X, y, Xt, yt):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "max_bin": 255,
              "min_data_in_leaf": 20, "num_threads": THREADS, "verbose": -1, "seed": 0}
    before = reset_peak_mb()
    t = time.perf_counter()
    ds = lgb.Dataset(X, y, params={"max_bin": 255, "verbose": -1})
    model = lgb.train(params, ds, num_boost_round=ROUNDS)
    fit_s = time.perf_counter() - t
    peak = status_kb("VmHWM:") / 1024 - before
    del ds
    return fit_s, roc_auc_score(yt, model.predict(Xt, num_threads=THREADS)), peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="160000,1000000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    full = synthetic("train", 1.0, 0)
    ten_million = lambda: synthetic("train10m", 10.0, 0)
    test = synthetic("test", 0.2, 7)
    tdf = pd.read_csv(test)
    yt = tdf.pop("label").to_numpy()
    Xt = tdf.to_numpy(dtype=np.float32)
    print(f"# whet GBDT vs LightGBM fit — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
          f"{THREADS} threads, {ROUNDS} rounds, median of {args.reps}")
    print("| train rows × 28 | fit s whet (runs) | fit s LightGBM (runs) | ratio | test AUC whet | test AUC LightGBM | AUC diff | whet single row µs "
          "| fit peak MiB whet | LightGBM | ratio | whet / (binned + gradients) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    predict_rows = []
    for rows in [int(r) for r in args.rows.split(",")]:
        train = head(ten_million() if rows > 1_000_000 else full, rows)
        df = pd.read_csv(train)
        y = df.pop("label").to_numpy()
        X = df.to_numpy(dtype=np.float32)
        w_runs, l_runs, w_auc, l_auc, row_us = [], [], None, None, []
        w_mem, l_mem = [], []
        lgbm_dir = os.path.join(DATA, f"lgbm_{rows}")
        pred = {k: [] for k in ("w1", "l1", "w2", "l2", "wrow", "lrow", "wreq")}
        diff = 0.0
        for _ in range(args.reps):
            w = run_whet(train, test, lgbm_dir)
            lp = run_lightgbm_predict(lgbm_dir)
            for key, v in (("w1", w["batch_1t_seconds"]), ("l1", lp["batch_1t_seconds"]),
                           ("w2", w["batch_2t_seconds"]), ("l2", lp["batch_2t_seconds"]),
                           ("wrow", w["single_row_us"]), ("lrow", lp["single_row_us"]),
                           ("wreq", w["one_row_predict_us"])):
                pred[key].append(v)
            diff = max(diff, lp["max_abs_raw_diff_vs_whet"])
            w_runs.append(w["fit_seconds"])
            w_mem.append(w.get("fit_peak_mb", float("nan")))
            binned_mb, gradients_mb = w.get("binned_mb", float("nan")), w.get("gradients_mb", float("nan"))
            w_auc = w.get("test_auc", float("nan"))
            row_us.append(w["single_row_us"])
            lf, l_auc, lmem = run_lightgbm(X, y, Xt, yt)
            l_runs.append(lf)
            l_mem.append(lmem)
        wm, lm = statistics.median(w_runs), statistics.median(l_runs)
        runs = lambda v: ", ".join(f"{x:.2f}" for x in v)
        print(f"| {rows:,} | {wm:.2f} ({runs(w_runs)}) | {lm:.2f} ({runs(l_runs)}) | {wm / lm:.2f} | "
              f"{w_auc:.5f} | {l_auc:.5f} | {w_auc - l_auc:+.5f} | {statistics.median(row_us):.2f} | "
              f"{max(w_mem):,.0f} | {max(l_mem):,.0f} | {max(w_mem) / max(l_mem):.2f} | "
              f"{max(w_mem) / (binned_mb + gradients_mb):.2f} |", flush=True)
        predict_rows.append((rows, {k: statistics.median(v) for k, v in pred.items()}, diff))
    print()
    print(f"# Prediction on the same {ROUNDS} trees (whet's, written as a LightGBM model), 200,000 test rows × 28, "
          f"median of {args.reps} runs (each itself a median of 5)")
    print("| train rows | batch 1 thread s whet | LightGBM | ratio | batch 2 threads s whet | LightGBM | ratio "
          "| single row µs whet | LightGBM | ratio | whet one-row `predict` µs | max raw score diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rows, m, diff in predict_rows:
        print(f"| {rows:,} | {m['w1']:.3f} | {m['l1']:.3f} | {m['w1'] / m['l1']:.2f} | {m['w2']:.3f} | {m['l2']:.3f} "
              f"| {m['w2'] / m['l2']:.2f} | {m['wrow']:.2f} | {m['lrow']:.2f} | {m['wrow'] / m['lrow']:.2f} "
              f"| {m['wreq']:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
