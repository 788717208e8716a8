"""`whet drift`'s false alarms and sensitivity.

False alarms: a shared dataset is split once (seeded) into a training part (80%, a fifth of it
the --valid rows whose predictions the reference profile keeps) and a held-out part (20%); one
model is fitted; then each of --resplits seeded random halves of the held-out part is compared
with the model's reference profile by `whet drift`. Rows drawn at random from the same data
have not drifted, so every "drift" verdict is a false alarm (goal: at most 5%).

Sensitivity: 10,000 synthetic training rows (five independent normal columns and a category),
a model, then 10,000 new rows drawn the same way with column x1 shifted by 0.2 standard
deviations (a drift every report should find) and 10,000 rows without the shift (none), for
--synthetic-seeds seeds each.

usage: python bench/drift_false_alarm.py --whet target/release/whet [--dataset mlc_churn]
       [--resplits 100] [--synthetic-seeds 20] [--work DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

DATASETS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


def drift(whet, model, data):
    """`whet drift --json`: (verdict, drifted columns); exit 3 is drift, 0 none."""
    p = run([whet, "drift", model, data, "--json", "--no-track", "--quiet"], ok=(0, 3))
    report = json.loads(p.stdout)
    assert report["drift"] == (p.returncode == 3), "exit code and report disagree"
    return report["drift"], report["drifted"], report


def false_alarms(args, work):
    manifest = pd.read_csv(os.path.join(DATASETS, "MANIFEST.tsv"), sep="\t")
    row = manifest[manifest.file == f"{args.dataset}.csv"].iloc[0]
    data = pd.read_csv(os.path.join(DATASETS, row.file), keep_default_na=False, dtype=str)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(data))
    n_hold = len(data) // 5
    hold = data.iloc[order[:n_hold]]
    rest = data.iloc[order[n_hold:]]
    n_valid = len(rest) // 5
    paths = {}
    for name, part in [("train", rest.iloc[n_valid:]), ("valid", rest.iloc[:n_valid])]:
        paths[name] = os.path.join(work, f"{args.dataset}.{name}.csv")
        part.to_csv(paths[name], index=False)
    model = os.path.join(work, f"{args.dataset}.whet")
    t0 = time.time()
    run([args.whet, "fit", paths["train"], "--target", row.target, "--valid", paths["valid"],
         "-p", "num_iterations=200", "--seed", "0", "--quiet", "--out", model])
    fit_s = time.time() - t0
    alarms = []
    columns_flagged = {}
    p_min = []
    sample = os.path.join(work, f"{args.dataset}.sample.csv")
    t0 = time.time()
    for s in range(args.resplits):
        r = np.random.default_rng(1000 + s)
        take = r.choice(len(hold), size=len(hold) // 2, replace=False)
        hold.iloc[np.sort(take)].to_csv(sample, index=False)
        verdict, drifted, report = drift(args.whet, model, sample)
        alarms.append(verdict)
        for c in drifted:
            columns_flagged[c] = columns_flagged.get(c, 0) + 1
        ps = [c["p_value"] for c in report["columns"] + report["predictions"]]
        ps += [c["missing_p_value"] for c in report["columns"] + report["predictions"]]
        p_min.append(min(ps) / report["test_level"] * report["thresholds"]["alpha"])
    drift_s = (time.time() - t0) / args.resplits
    tests = len(report["columns"]) + len(report["predictions"])
    print(f"## false alarms: {args.dataset} ({len(data)} rows; {len(rest) - n_valid} train, "
          f"{n_valid} valid, {n_hold} held out; {len(hold) // 2} rows per comparison)")
    print(f"fit: {fit_s:.1f} s; whet drift: {drift_s:.2f} s per comparison; "
          f"{tests} columns and outputs compared")
    print(f"false alarms: {sum(alarms)} / {len(alarms)} = {100 * sum(alarms) / len(alarms):.1f}%")
    print(f"columns flagged (times): {columns_flagged or 'none'}")
    # The family-wise p-value (Bonferroni) of the most extreme test of each comparison: below
    # alpha it is significant, whatever the effect floor then decides.
    p_min = np.array(p_min)
    print(f"Bonferroni-adjusted smallest p below 0.05 in {int((p_min < 0.05).sum())} / "
          f"{len(p_min)} comparisons (before the effect floors)")
    return sum(alarms) / len(alarms)


def synthetic(n, rng, shift=0.0):
    x = rng.normal(size=(n, 5))
    x[:, 0] += shift
    cat = rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    logit = x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2] + (cat == "a") * 0.5
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df = pd.DataFrame(x, columns=[f"x{i + 1}" for i in range(5)])
    df["group"] = cat
    df["label"] = y
    return df


def sensitivity(args, work):
    found, false = 0, 0
    ks_gaps = []
    for s in range(args.synthetic_seeds):
        rng = np.random.default_rng(5000 + s)
        train = os.path.join(work, "syn.train.csv")
        valid = os.path.join(work, "syn.valid.csv")
        synthetic(10_000, rng).to_csv(train, index=False)
        synthetic(2_000, rng).to_csv(valid, index=False)
        model = os.path.join(work, "syn.whet")
        run([args.whet, "fit", train, "--target", "label", "--valid", valid,
             "-p", "num_iterations=50", "--quiet", "--out", model])
        shifted = os.path.join(work, "syn.shifted.csv")
        same = os.path.join(work, "syn.same.csv")
        synthetic(10_000, rng, shift=0.2).drop(columns="label").to_csv(shifted, index=False)
        synthetic(10_000, rng).drop(columns="label").to_csv(same, index=False)
        verdict, drifted, report = drift(args.whet, model, shifted)
        found += verdict and "x1" in drifted
        ks_gaps.append(next(c["effect"] for c in report["columns"] if c["column"] == "x1"))
        verdict, _, _ = drift(args.whet, model, same)
        false += verdict
    n = args.synthetic_seeds
    print(f"## sensitivity: 10,000 synthetic rows, x1 shifted by 0.2 SD, {n} seeds")
    print(f"shift found (x1 named): {found} / {n}; KS gap of x1: "
          f"{np.min(ks_gaps):.3f}–{np.max(ks_gaps):.3f}")
    print(f"unshifted 10,000 rows flagged: {false} / {n}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--whet", default="target/release/whet")
    ap.add_argument("--dataset", default="mlc_churn")
    ap.add_argument("--resplits", type=int, default=100)
    ap.add_argument("--synthetic-seeds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work")
    args = ap.parse_args()
    args.whet = os.path.abspath(args.whet)
    os.environ.pop("WHET_STORE", None)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        rate = false_alarms(args, work)
        print()
        if args.synthetic_seeds:
            sensitivity(args, work)
    if rate > 0.05:
        print(f"\nFALSE-ALARM RATE {100 * rate:.1f}% IS ABOVE THE 5% GOAL")


if __name__ == "__main__":
    main()
