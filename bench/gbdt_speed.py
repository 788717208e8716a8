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


def synthetic(name, scale, seed):
    """Path of make_synthetic.py's higgs-like set at `scale` and `seed`, made once."""
    out = os.path.join(DATA, name)
    path = os.path.join(out, "higgs_like_1m.csv")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(SHARED, "datasets", "make_synthetic.py"), "--out", out,
                        "--which", "higgs", "--scale", str(scale), "--seed", str(seed)], check=True)
    return path


def head(src, rows):
    """The first `rows` rows of `src` as their own CSV (whet reads files)."""
    path = os.path.join(DATA, f"train_{rows}.csv")
    if not os.path.exists(path):
        with open(src) as f, open(path + ".tmp", "w") as out:
            for i, line in enumerate(f):
                if i > rows:
                    break
                out.write(line)
        os.replace(path + ".tmp", path)
    return path


def run_whet(train, test):
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), WHET_ROW_REPS="5")
    out = subprocess.run([SPEED, train, "label", str(ROUNDS), test], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def run_lightgbm(X, y, Xt, yt):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "max_bin": 255,
              "min_data_in_leaf": 20, "num_threads": THREADS, "verbose": -1, "seed": 0}
    t = time.perf_counter()
    ds = lgb.Dataset(X, y, params={"max_bin": 255, "verbose": -1})
    model = lgb.train(params, ds, num_boost_round=ROUNDS)
    fit_s = time.perf_counter() - t
    return fit_s, roc_auc_score(yt, model.predict(Xt, num_threads=THREADS))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="160000,1000000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    full = synthetic("train", 1.0, 0)
    test = synthetic("test", 0.2, 7)
    tdf = pd.read_csv(test)
    yt = tdf.pop("label").to_numpy()
    Xt = tdf.to_numpy(dtype=np.float32)
    print(f"# whet GBDT vs LightGBM fit — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
          f"{THREADS} threads, {ROUNDS} rounds, median of {args.reps}")
    print("| train rows × 28 | fit s whet (runs) | fit s LightGBM (runs) | ratio | test AUC whet | test AUC LightGBM | AUC diff | whet single row µs |")
    print("|---|---|---|---|---|---|---|---|")
    for rows in [int(r) for r in args.rows.split(",")]:
        train = head(full, rows)
        df = pd.read_csv(train)
        y = df.pop("label").to_numpy()
        X = df.to_numpy(dtype=np.float32)
        w_runs, l_runs, w_auc, l_auc, row_us = [], [], None, None, []
        for _ in range(args.reps):
            w = run_whet(train, test)
            w_runs.append(w["fit_seconds"])
            w_auc = w.get("test_auc", float("nan"))
            row_us.append(w["single_row_us"])
            lf, l_auc = run_lightgbm(X, y, Xt, yt)
            l_runs.append(lf)
        wm, lm = statistics.median(w_runs), statistics.median(l_runs)
        runs = lambda v: ", ".join(f"{x:.2f}" for x in v)
        print(f"| {rows:,} | {wm:.2f} ({runs(w_runs)}) | {lm:.2f} ({runs(l_runs)}) | {wm / lm:.2f} | "
              f"{w_auc:.5f} | {l_auc:.5f} | {w_auc - l_auc:+.5f} | {statistics.median(row_us):.2f} |", flush=True)


if __name__ == "__main__":
    main()
