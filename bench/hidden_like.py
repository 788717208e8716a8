"""Synthetic data shaped like issue 20's hidden datasets B and C, for the defaults check:
`whet train` must not lose to LightGBM's, HGB's or RF's defaults on such data either.

    python3 bench/hidden_like.py OUT_DIR [--seed 0]

writes OUT_DIR/cells32.csv, OUT_DIR/houses.csv, OUT_DIR/ordinal4.csv and OUT_DIR/MANIFEST.tsv (the columns
bench/automl_vs_flaml.py and ../shared/peers/reference.py read), so that

    ~/.cache/whet-peers/bin/python bench/automl_vs_flaml.py --data OUT_DIR --skip-flaml

scores whet and the three defaults on the reference 80/20 split.

cells32 (like A): 1,500 rows, 58 features (50 numeric, 8 categorical with 2-9 levels), 32
classes decided exactly by two categoricals (4 x 8 levels), no label noise: HGB's native
categorical splits classify it perfectly, as they did A. (bench/many_classes.py is the same
shape with 3% label noise and a weak numeric signal, for timing.)

houses (like B): 2,900 sales, 73 features (33 numeric, 40 categorical with 2-27 levels, most
of them with skewed level shares and no effect), a right-skewed price: log price is additive in
quality, living area, age, a neighbourhood (25 levels) and a few other categoricals, with
interactions, noise, missing values, and three partial sales of huge houses at low prices (a
linear member fitted on them extrapolates badly).

ordinal4 (like C): 3,500 rows, 7 features (2 categorical), 4 ordered classes with shares about
55/27/13/5, from a latent score cut at thresholds.
"""
import argparse
import csv
import math
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("out_dir")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)
os.makedirs(a.out_dir, exist_ok=True)


def skewed_level(k):
    """A level of k with Zipf-like shares (a few common levels, a tail of rare ones)."""
    weights = [1.0 / (i + 1) ** 1.3 for i in range(k)]
    return rng.choices(range(k), weights)[0]


def houses(path, n=2900):
    cat_levels = [25, 27, 16, 15, 9, 8, 8, 7, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4, 4,
                  3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 6, 9, 12, 10, 7]
    hood_effect = [rng.gauss(0, 0.25) for _ in range(25)]
    hood_quality = [rng.gauss(0, 1.2) for _ in range(25)]
    # Categoricals 1-5 carry effects (exterior, kitchen, basement, garage, sale condition).
    effects = {c: [rng.gauss(0, 0.08) for _ in range(cat_levels[c])] for c in range(1, 6)}
    names = [f"num{i}" for i in range(33)] + [f"cat{i}" for i in range(40)] + ["price"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for r in range(n):
            hood = skewed_level(25)
            cats = [hood] + [skewed_level(k) for k in cat_levels[1:]]
            quality = min(10, max(1, round(5.5 + 0.5 * hood_quality[hood] + rng.gauss(0, 1.3))))
            living = math.exp(rng.gauss(7.3, 0.33) + 0.05 * (quality - 5.5))
            lot = math.exp(rng.gauss(9.1, 0.5))
            year = int(min(2010, max(1872, rng.gauss(1972 - 4 * hood_quality[hood], 28))))
            remod = max(year, min(2010, year + int(abs(rng.gauss(0, 20)))))
            garage = min(4, max(0, round(rng.gauss(1.8 + 0.15 * (quality - 5.5), 0.8))))
            baths = max(1, round(living / 900 + rng.gauss(0, 0.5)))
            basement = max(0.0, rng.gauss(0.8, 0.4)) * living if rng.random() > 0.03 else 0.0
            log_price = (
                11.9
                + 0.09 * (quality - 5.5)
                + 0.55 * math.log(living / 1500)
                + 0.07 * math.log(lot / 9000)
                - 0.0025 * (2010 - year)
                + 0.001 * (remod - year)
                + 0.04 * garage
                + 0.00005 * basement
                + hood_effect[hood]
                + sum(effects[c][cats[c]] for c in effects)
                # Quality pays more in good neighbourhoods.
                + 0.02 * (quality - 5.5) * hood_quality[hood]
                + rng.gauss(0, 0.11)
            )
            if r < 3:  # partial sales of huge new houses
                living, quality, year, remod, log_price = 4800 + 200 * r, 10, 2008, 2008, 12.1
            nums = [living, lot, year, remod, garage, baths, basement, quality]
            nums += [living * rng.uniform(0.2, 0.6), lot * rng.uniform(0.01, 0.05)]
            nums += [rng.gauss(0, 1) for _ in range(33 - len(nums))]
            row = []
            for i, v in enumerate(nums):
                if i in (1, 6, 9) and rng.random() < 0.05:
                    row.append("")
                else:
                    row.append(f"{v:.4g}" if i >= 8 else (f"{v:.0f}" if i != 1 else f"{v:.1f}"))
            row += [f"L{c}" if rng.random() > 0.02 else "" for c in cats]
            row.append(f"{math.exp(log_price):.0f}")
            w.writerow(row)


def cells32(path, n=1500):
    levels = [4, 8, 2, 3, 5, 6, 7, 9]
    perm = list(range(32))
    rng.shuffle(perm)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"n{i}" for i in range(50)] + [f"c{i}" for i in range(8)] + ["label"])
        for _ in range(n):
            cats = [rng.randrange(k) for k in levels]
            y = perm[cats[0] * 8 + cats[1]]
            nums = [rng.gauss(0, 1) for _ in range(50)]
            w.writerow([f"{v:.4f}" for v in nums] + [f"L{c}" for c in cats] + [f"k{y}"])


def ordinal4(path, n=3500):
    region_effect = [rng.gauss(0, 0.6) for _ in range(6)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "x3", "x4", "x5", "region", "kind", "grade"])
        for _ in range(n):
            xs = [rng.gauss(0, 1) for _ in range(5)]
            region, kind = skewed_level(6), rng.randrange(3)
            score = (
                0.9 * xs[0]
                + 0.5 * math.tanh(2 * xs[1])
                + 0.4 * xs[2] * xs[3]
                + region_effect[region]
                + (0.5 if kind == 2 else 0.0)
                + rng.gauss(0, 0.8)
            )
            grade = sum(score > t for t in (0.3, 1.3, 2.3))
            w.writerow([f"{v:.4f}" for v in xs] + [f"r{region}", f"k{kind}", f"g{grade}"])


houses(os.path.join(a.out_dir, "houses.csv"))
ordinal4(os.path.join(a.out_dir, "ordinal4.csv"))
cells32(os.path.join(a.out_dir, "cells32.csv"))
header = ["file", "task", "target", "rows", "features", "numeric_features", "categorical_features",
          "date_features", "text_features", "missing_pct", "n_classes", "minority_class_pct",
          "positive_class", "date_columns", "text_columns", "source", "license", "notes", "size_mb"]
rows = [
    ["cells32.csv", "multiclass", "label", "1500", "58", "50", "8", "0", "0", "", "32", "", "", "", "",
     "bench/hidden_like.py", "generated", "shaped like issue 20's dataset A", ""],
    ["houses.csv", "regression", "price", "2900", "73", "33", "40", "0", "0", "", "", "", "", "", "",
     "bench/hidden_like.py", "generated", "shaped like issue 20's dataset B", ""],
    ["ordinal4.csv", "multiclass", "grade", "3500", "7", "5", "2", "0", "0", "", "4", "", "", "", "",
     "bench/hidden_like.py", "generated", "shaped like issue 20's dataset C", ""],
]
with open(os.path.join(a.out_dir, "MANIFEST.tsv"), "w", newline="") as f:
    w = csv.writer(f, delimiter="\t", lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
