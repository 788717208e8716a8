"""Categorical split fidelity: `whet fit --learner gbdt` against LightGBM with identical parameters
on every shared dataset with categorical features, over the same cross-validation folds.

Usage (from the repo root, with the peers' python; `cargo build --release -p whet` first):
    ~/.cache/whet-peers/bin/python bench/categorical_fidelity.py \
        [--datasets cps1985_wages,sacramento] [--folds 5] [--repeats 3] [--max-rows 120000] \
        [-p num_iterations=100 -p num_leaves=31 ...] [--hgb]

Features come from ../shared/peers/reference.py's loader, the one every peer comparison uses:
date columns -> parts, text -> lengths, every non-numeric column a categorical. Each fold's train
and test rows are written to CSV; whet reads them with --types naming each column's kind (so both
tools see the same categorical columns), LightGBM gets the same frames with pandas 'category'
columns (levels from the train fold; unseen test levels -> missing) and, as a reference point,
with the categoricals as ordinal codes. Both get the same parameters (LightGBM names), 2 threads.

The table shows per dataset the mean test metric of each over the folds and the mean of the
per-fold differences whet - LightGBM with its standard error (sd of the k paired differences /
sqrt(k)); `within` is yes when |mean difference| <= 1 SE. With --repeats R the k-fold CV runs
with R fold seeds and the repeats' mean differences are averaged (see `pooled`); a single
5-fold CV flags about a third of datasets on which the two tools agree in expectation. The
metric is RMSE (regression) or log loss (classification): lower is better for both, so a
positive difference is whet worse.

--hgb adds scikit-learn's HistGradientBoosting with native categoricals (its defaults apart from
max_iter/learning_rate/max_leaf_nodes/min_samples_leaf taken from the parameters, no early
stopping) and whet with the categorical parameters of HGB_LIKE below (HGB keeps missing values
as a category that may go left; whet and LightGBM send them right).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "peers"))
import reference  # noqa: E402

WHET = os.path.join(ROOT, "target", "release", "whet")
WHET_BIN = [WHET]
THREADS = 2
DEFAULT_PARAMS = ["num_iterations=100", "num_leaves=31", "learning_rate=0.1", "min_data_in_leaf=20"]
# whet's categorical parameters that behave like scikit-learn's HistGradientBoosting: no
# categorical L2, no group minimum, sorted splits from 2 levels up, at most half the levels left.
HGB_LIKE = ["cat_l2=0", "cat_smooth=10", "min_data_per_group=1", "max_cat_to_onehot=1", "max_cat_threshold=128"]


def manifest():
    m = pd.read_csv(os.path.join(SHARED, "datasets", "MANIFEST.tsv"), sep="\t", keep_default_na=False)
    return {r["file"][:-4]: r for _, r in m.iterrows()}


def parse_params(pairs):
    out = {}
    for p in pairs:
        k, _, v = p.partition("=")
        out[k.strip()] = v.strip()
    return out


def lgb_value(v):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def folds(task, y, k, seed):
    from sklearn.model_selection import KFold, StratifiedKFold
    if task == "regression":
        return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y))))
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def metric(task, y, pred, n_classes):
    from sklearn.metrics import log_loss
    if task == "regression":
        return float(np.sqrt(np.mean((y - pred) ** 2)))
    if task == "binary":
        return float(log_loss(y, pred, labels=[0, 1]))
    return float(log_loss(y, pred, labels=list(range(n_classes))))


def run_whet(train_csv, test_csv, task, types, params, seed):
    cmd = [WHET_BIN[0], "fit", train_csv, "--target", "target__", "--task", task, "--learner", "gbdt",
           "--test", test_csv, "--json", "--quiet", "--threads", str(THREADS), "--seed", str(seed),
           "--text-buckets", "0"]
    if types:
        cmd += ["--types", types]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"whet fit failed: {' '.join(cmd)}\n{out.stderr}")
    doc = json.loads(out.stdout)
    name = "rmse" if task == "regression" else "log_loss"
    return doc["test_metrics"][name], secs


def lgb_params(task, params, n_classes):
    p = {k: lgb_value(v) for k, v in params.items()}
    p.update(verbose=-1, num_threads=THREADS, seed=0, deterministic=True)
    if task == "regression":
        p["objective"] = "regression"
    elif task == "binary":
        p["objective"] = "binary"
    else:
        p.update(objective="multiclass", num_class=n_classes)
    return p


def run_lightgbm(task, Xtr, Xte, ytr, yte, cat_cols, params, n_classes, ordinal):
    import lightgbm as lgb
    if ordinal:
        A, B, _, _ = reference.ordinal_arrays(Xtr, Xte, cat_cols)
        ds = lgb.Dataset(A, ytr, categorical_feature=[], free_raw_data=False)
    else:
        A, B = reference.lgbm_frame(Xtr, Xte, cat_cols)
        ds = lgb.Dataset(A, ytr, categorical_feature=cat_cols or "auto", free_raw_data=False)
    p = lgb_params(task, params, n_classes)
    rounds = int(p.pop("num_iterations", 100))
    model = lgb.train(p, ds, num_boost_round=rounds)
    return metric(task, yte, model.predict(B), n_classes)


def run_hgb(task, Xtr, Xte, ytr, yte, cat_cols, params, n_classes):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    A, B, names, ncat = reference.ordinal_arrays(Xtr, Xte, cat_cols)
    mask = [c in cat_cols and ncat.get(c, 0) <= 255 for c in names]
    kw = dict(max_iter=int(params.get("num_iterations", 100)), learning_rate=float(params.get("learning_rate", 0.1)),
              max_leaf_nodes=int(params.get("num_leaves", 31)), min_samples_leaf=int(params.get("min_data_in_leaf", 20)),
              early_stopping=False, random_state=0, categorical_features=mask if any(mask) else None)
    if task == "regression":
        m = HistGradientBoostingRegressor(**kw).fit(A, ytr)
        return metric(task, yte, m.predict(B), n_classes)
    m = HistGradientBoostingClassifier(**kw).fit(A, ytr)
    proba = reference.full_proba(m.classes_, m.predict_proba(B), n_classes)
    if task == "binary":
        proba = proba[:, 1]
    return metric(task, yte, proba, n_classes)


def mean_se(d):
    d = np.asarray(d, dtype=float)
    return d.mean(), (d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan"))


def pooled(repeat, d):
    """Mean paired difference over the repeats' folds, and its standard error: each repeat's
    k-fold mean has the usual SE (sd / sqrt(k)), and the repeats are averaged as independent
    estimates (SE = sqrt(sum SE_r^2) / R). Repeats reuse the same rows, so they are not
    independent and this SE is, if anything, too small: a stricter test than the estimate
    deserves. Also returns each repeat's (mean, SE)."""
    repeat, d = np.asarray(repeat), np.asarray(d, dtype=float)
    per = [mean_se(d[repeat == r]) for r in sorted(set(repeat.tolist()))]
    if len(per) == 1:
        return per[0][0], per[0][1], per
    means = np.array([m for m, _ in per])
    ses = np.array([e for _, e in per])
    return float(means.mean()), float(np.sqrt((ses ** 2).sum()) / len(per)), per


def fmt(v):
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.2f}"
    if a >= 0.1:
        return f"{v:.4f}"
    return f"{v:.5f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="", help="comma-separated names (default: every dataset with categorical columns)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat the CV with fold seeds seed, seed+1, ... and pool the repeats (see below)")
    ap.add_argument("--max-rows", type=int, default=0, help="skip datasets with more rows (0: none skipped)")
    ap.add_argument("-p", "--param", action="append", default=None, help="KEY=VALUE for both tools (LightGBM names)")
    ap.add_argument("--no-ordinal", action="store_true", help="skip LightGBM on ordinal codes")
    ap.add_argument("--hgb", action="store_true", help="add HistGradientBoosting and whet with HGB-like categorical parameters")
    ap.add_argument("--json", help="also write the per-fold numbers to this file")
    ap.add_argument("--whet", default=WHET_BIN[0], help="the whet binary (default: target/release/whet)")
    args = ap.parse_args()
    WHET_BIN[0] = args.whet
    params = parse_params(args.param or DEFAULT_PARAMS)
    rows = manifest()
    names = [n for n in args.datasets.split(",") if n] or [
        n for n, r in rows.items() if int(r["categorical_features"] or 0) > 0]
    print(f"whet {WHET_BIN[0]}; parameters for both: {' '.join(f'{k}={v}' for k, v in params.items())}; "
          f"{args.folds}-fold CV (fold seeds {args.seed}..{args.seed + args.repeats - 1}, stratified for classification); "
          f"{THREADS} threads")
    if args.hgb:
        print(f"whet HGB-like adds: {' '.join(HGB_LIKE)}")
    print()
    head = "| dataset | rows | categoricals (max levels) | metric | whet | LightGBM | LightGBM ordinal | whet - LightGBM ± SE | % | within 1 SE |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if args.hgb:
        head += " HGB | whet HGB-like | whet HGB-like - HGB ± SE |"
        sep += "---|---|---|"
    if args.repeats > 1:
        head += " each repeat ± SE |"
        sep += "---|"
    print(head)
    print(sep, flush=True)
    record = {}
    with tempfile.TemporaryDirectory(prefix="whet-catfid-") as tmp:
        for name in names:
            m = rows[name]
            if args.max_rows and int(m["rows"]) > args.max_rows:
                print(f"| {name} | {int(m['rows']):,} | skipped (--max-rows {args.max_rows}) |", flush=True)
                continue
            X, yraw, cat_cols = reference.load(os.path.join(SHARED, "datasets"), m)
            if not cat_cols:
                continue
            y, classes = reference.encode_target(yraw, m)
            task = m["task"]
            n_classes = len(classes) if classes else 1
            types = ",".join(f"{c}={'categorical' if c in cat_cols else 'numeric'}" for c in X.columns)
            levels = max(X[c].nunique() for c in cat_cols)
            res = {"whet": [], "lgb": [], "ord": [], "hgb": [], "whet_hgb": [], "whet_s": [], "repeat": []}
            splits = [(rep, seed, i, tr, te) for rep, seed in enumerate(range(args.seed, args.seed + args.repeats))
                      for i, (tr, te) in enumerate(folds(task, y, args.folds, seed))]
            for rep, seed, i, tr, te in splits:
                Xtr, Xte = X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True)
                ytr, yte = y[tr], y[te]
                paths = []
                for frame, target, part in ((Xtr, ytr, "train"), (Xte, yte, "test")):
                    out = frame.copy()
                    out["target__"] = target
                    path = os.path.join(tmp, f"{name}_{i}_{part}.csv")
                    out.to_csv(path, index=False)
                    paths.append(path)
                w, secs = run_whet(paths[0], paths[1], task, types, params, seed)
                res["repeat"].append(rep)
                res["whet"].append(w)
                res["whet_s"].append(secs)
                res["lgb"].append(run_lightgbm(task, Xtr, Xte, ytr, yte, cat_cols, params, n_classes, False))
                if not args.no_ordinal:
                    res["ord"].append(run_lightgbm(task, Xtr, Xte, ytr, yte, cat_cols, params, n_classes, True))
                if args.hgb:
                    res["hgb"].append(run_hgb(task, Xtr, Xte, ytr, yte, cat_cols, params, n_classes))
                    res["whet_hgb"].append(run_whet(paths[0], paths[1], task, types, {**params, **parse_params(HGB_LIKE)}, seed)[0])
                for p in paths:
                    os.remove(p)
            d_mean, d_se, per_repeat = pooled(res["repeat"], np.array(res["whet"]) - np.array(res["lgb"]))
            lgb_mean = float(np.mean(res["lgb"]))
            within = "yes" if abs(d_mean) <= d_se else "no"
            ordinal = fmt(float(np.mean(res["ord"]))) if res["ord"] else "-"
            line = (f"| {name} | {len(y):,} | {len(cat_cols)} ({levels}) | {'rmse' if task == 'regression' else 'log_loss'} | "
                    f"{fmt(float(np.mean(res['whet'])))} | {fmt(lgb_mean)} | {ordinal} | "
                    f"{d_mean:+.4g} ± {d_se:.2g} | {100 * d_mean / lgb_mean:+.1f}% | {within} |")
            if args.repeats > 1:
                line += " " + ", ".join(f"{m:+.2g} ± {e:.2g}" for m, e in per_repeat) + " |"
            if args.hgb:
                h_mean, h_se, _ = pooled(res["repeat"], np.array(res["whet_hgb"]) - np.array(res["hgb"]))
                line += f" {fmt(float(np.mean(res['hgb'])))} | {fmt(float(np.mean(res['whet_hgb'])))} | {h_mean:+.4g} ± {h_se:.2g} |"
            print(line, flush=True)
            record[name] = res
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
