"""A synthetic 32-class problem shaped like the hidden dataset A of issue 20: 1,500 rows,
58 features (50 numeric, 8 categorical with 2-9 levels). The class is decided by two
categoricals (4 x 8 levels) up to 3% label noise; numerics carry a weak signal.

    python3 bench/many_classes.py OUT.csv [--rows 1500] [--seed 0]
"""
import argparse
import csv
import random

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--rows", type=int, default=1500)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)
levels = [4, 8, 2, 3, 5, 6, 7, 9]
perm = list(range(32))
rng.shuffle(perm)
with open(a.out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([f"n{i}" for i in range(50)] + [f"c{i}" for i in range(8)] + ["label"])
    for _ in range(a.rows):
        cats = [rng.randrange(k) for k in levels]
        y = perm[cats[0] * 8 + cats[1]]
        if rng.random() < 0.03:
            y = rng.randrange(32)
        nums = [rng.gauss(0, 1) for _ in range(50)]
        for j in range(5):
            nums[j] += 0.5 * ((y >> j) & 1)
        row = [f"{v:.4f}" for v in nums] + [f"L{c}" for c in cats] + [f"k{y}"]
        w.writerow(row)
