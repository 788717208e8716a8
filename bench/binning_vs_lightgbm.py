"""whet's numeric bins against LightGBM's on the same values, for every shared dataset.

Usage (from the repo root, with the peers' python; builds nothing):
    cargo build --release -p whet-learn --example bin_bounds
    ~/.cache/whet-peers/bin/python bench/binning_vs_lightgbm.py [--datasets wine,titanic] [--max-rows N]
        [--bin-bounds PATH]

Features come from ../shared/peers/reference.py's loader (as in every peer comparison); only the
numeric ones are compared. Each dataset's rows (the first --max-rows of them, default all) are
written to a CSV as float32 values, the precision whet reads, and LightGBM gets the same float32
array. Above 200,000 rows both tools cut bins from a sample of 200,000: LightGBM's, drawn by its
generator for `seed=0`, which whet draws the same way. Two checks per feature:
- the number of bins: LightGBM's `Dataset.feature_num_bin` (with `feature_pre_filter` off)
  against whet's value bins, plus one when the column has missing values (both tools then give
  them a bin of their own);
- the thresholds of a LightGBM model grown to use many of them (255 leaves, one row per leaf,
  a random target, 20 rounds): each must be one of whet's bin bounds, bit for bit.
The script exits 1 when a check fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "peers"))
import reference  # noqa: E402

BIN_BOUNDS = os.path.join(ROOT, "target", "release", "examples", "bin_bounds")


def thresholds(model):
    """(feature index, threshold) of every numeric split in a LightGBM model."""
    out = []

    def walk(node):
        if "split_feature" in node:
            if node.get("decision_type") == "<=":
                out.append((node["split_feature"], float(node["threshold"])))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in model.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def main():
    import lightgbm as lgb
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="")
    ap.add_argument("--max-rows", type=int, default=0, help="first rows of each dataset (0: all)")
    ap.add_argument("--bin-bounds", default=BIN_BOUNDS, help="the bin_bounds example binary")
    ap.add_argument("--max-bin", type=int, default=255)
    args = ap.parse_args()
    man = pd.read_csv(os.path.join(SHARED, "datasets", "MANIFEST.tsv"), sep="\t", keep_default_na=False)
    wanted = [d for d in args.datasets.split(",") if d]
    failed = False
    print("| dataset | rows | numeric features | same bin count | LightGBM thresholds that are whet bounds |")
    print("|---|---|---|---|---|")
    for _, m in man.iterrows():
        name = m["file"][:-4]
        if wanted and name not in wanted:
            continue
        X, yraw, cat_cols = reference.load(os.path.join(SHARED, "datasets"), m)
        num = [c for c in X.columns if c not in cat_cols and pd.api.types.is_numeric_dtype(X[c])]
        if not num:
            continue
        X = X[num]
        if args.max_rows:
            X = X.head(args.max_rows)
        X = X.astype(np.float32)
        # Plain names: whet and LightGBM both keep them.
        X.columns = [f"f{i}" for i in range(len(num))]
        rng = np.random.default_rng(0)
        y = rng.normal(size=len(X))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "train.csv")
            frame = X.copy()
            frame["target__"] = y
            frame.to_csv(path, index=False)
            out = subprocess.run([args.bin_bounds, path, "target__", str(args.max_bin)], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"bin_bounds failed on {name}: {out.stderr}")
            whet = json.loads(out.stdout)
        params = dict(max_bin=args.max_bin, feature_pre_filter=False, verbose=-1, num_threads=2,
                      min_data_in_leaf=1, min_sum_hessian_in_leaf=0.0, num_leaves=255,
                      learning_rate=0.5, deterministic=True, seed=0)
        ds = lgb.Dataset(X.to_numpy(), y, params=params, free_raw_data=False).construct()
        same, compared, mismatches = 0, 0, []
        for i, col in enumerate(X.columns):
            if col not in whet:
                continue  # whet's prep made it something else (e.g. constant, dropped)
            compared += 1
            ours = len(whet[col]) + 1 + int(X[col].isna().any())
            theirs = ds.feature_num_bin(i)
            if ours == theirs:
                same += 1
            else:
                mismatches.append(f"{num[i]}: whet {ours}, LightGBM {theirs}")
        model = lgb.train(params, ds, num_boost_round=20)
        found = total = 0
        missing = []
        for f, t in thresholds(model):
            col = X.columns[f]
            if col not in whet:
                continue
            total += 1
            # LightGBM writes an infinite bound (the last value bin's) as 1e300.
            if t in set(whet[col]) or t >= 1e300:
                found += 1
            elif len(missing) < 3:
                missing.append(f"{num[f]} {t!r}")
        ok = same == compared and found == total
        failed |= not ok
        print(f"| {name} | {len(X):,} | {compared} | {same} | {found} / {total} |")
        for line in mismatches[:5] + missing:
            print(f"|  | | | {line} | |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
