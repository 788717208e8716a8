"""`whet train` against the default models over several 80/20 splits of the same dataset.

Usage (from the repo root, with the peers' python; build target/release/whet first):
    ~/.cache/whet-peers/bin/python bench/defaults_over_splits.py --datasets pd_speech,mlc_churn \
        [--splits 5] [--budget 60] [--whet target/release/whet]

On a small dataset one 80/20 split decides a comparison by luck: pd_speech's test part is 51 rows,
where one row moves the AUC by up to 0.03. This script repeats automl_vs_flaml.py's comparison
against the defaults (LightGBM, HGB with native categoricals, RandomForest) on split seeds
0..S-1 (seed 0 is the benchmark's own split; the others are the same stratified 80/20 split with
another random_state), with the same whet command, budget and metric, and prints per split the
margins against each default, then per dataset their mean and standard error over the splits
(positive = whet better). A default whose mean margin is negative beyond one standard error is one
whet loses to in expectation, not by the luck of one split.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automl_vs_flaml as bench  # noqa: E402  (split, write_raw_split, run_whet, run_defaults, verdict)
from automl_vs_flaml import reference  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", required=True, help="comma list of manifest names")
    ap.add_argument("--splits", type=int, default=5, help="split seeds 0..S-1")
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--whet", default=os.path.join(bench.ROOT, "target", "release", "whet"))
    ap.add_argument("--data", default=os.path.join(bench.SHARED, "datasets"))
    args = ap.parse_args()
    man = bench.pd.read_csv(os.path.join(args.data, "MANIFEST.tsv"), sep="\t", dtype=str, keep_default_na=False)
    manifest = {m["file"][:-4]: m for _, m in man.iterrows()}
    os.makedirs(bench.OUT_DIR, exist_ok=True)
    print(f"budget {args.budget:g} s, split seeds 0..{args.splits - 1}, whet {args.whet}")
    print()
    print("| dataset | split | metric | whet | " + " | ".join(bench.DEFAULTS) + " | whet CV |")
    print("|---|---|---|---|" + "---|" * len(bench.DEFAULTS) + "---|")
    margins = {}
    for name in args.datasets.split(","):
        m = manifest[name]
        metric = bench.METRIC[m["task"]]
        for seed in range(args.splits):
            Xtr, Xte, ytr, yte, cat_cols, classes, y_ref, itr, ite = bench.split(args.data, m, seed)
            tag = name if seed == reference.SEED else f"{name}_split{seed}"
            train_csv, test_csv = bench.write_raw_split(args.data, m, tag, y_ref, itr, ite)
            scores, cv, _wall, err = bench.run_whet(args.whet, tag, m["target"], train_csv, test_csv, args.budget)
            if scores is None:
                print(f"| {name} | {seed} | {metric} | ERROR {err} |")
                continue
            w = float(scores[metric])
            defaults, derr = bench.run_defaults(m["task"], Xtr, Xte, ytr, yte, cat_cols, classes, args.budget)
            for d, v in defaults.items():
                margins.setdefault((name, metric, d), []).append(bench.verdict(metric, w, v)[0])
            cells = [name, str(seed), metric, f"{w:.4f}"] + [bench.fmt(defaults.get(d)) for d in bench.DEFAULTS]
            cells.append(bench.fmt(cv))
            print("| " + " | ".join(cells) + " |" + (f" defaults ERROR {derr}" if derr else ""), flush=True)
    print()
    print("Mean margin over the splits, whet minus the default (positive = whet better), ± standard error:")
    print()
    print("| dataset | metric | default | splits | mean margin | SE | splits whet ahead |")
    print("|---|---|---|---|---|---|---|")
    for (name, metric, d), ms in margins.items():
        ms = np.array(ms)
        se = ms.std(ddof=1) / np.sqrt(len(ms)) if len(ms) > 1 else float("nan")
        print(f"| {name} | {metric} | {d} | {len(ms)} | {ms.mean():+.4f} | {se:.4f} | {int((ms > 0).sum())} |")


if __name__ == "__main__":
    main()
