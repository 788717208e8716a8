"""`whet train` against FLAML AutoML on every dataset in ../shared/datasets (issue 4's benchmark).

Usage (from the repo root, with the peers' python; bench/automl_vs_flaml.sh builds whet and does this):
    ~/.cache/whet-peers/bin/python bench/automl_vs_flaml.py [--datasets iris,titanic] [--budget 60]
        [--whet target/release/whet] [--skip-flaml] [--data ../shared/datasets] [--out results.tsv]

Per dataset (MANIFEST order):
  split  exactly ../shared/peers/reference.py's: its load() and encode_target(), then
         train_test_split(test_size=0.2, random_state=0, stratify=y for classification). The same row
         indices select the ORIGINAL CSV rows (all columns as text, empty fields stay empty), written
         to bench/data/automl/<name>_{train,test}.csv for whet, which does its own feature handling.
  whet   `whet train <train.csv> --target T --time <budget>s --test <test.csv> --seed 0 --threads 2
         --json --quiet --out bench/data/automl/<name>.whet`, run in a temporary working directory
         with WHET_STORE unset; score = its reported test_metrics (roc_auc binary, log_loss
         multiclass, rmse regression). Wall time is measured around the whole subprocess.
  flaml  reference.py's own FLAML code path (reference.run_model("flaml", ...): AutoML(time_budget=
         <budget>, n_jobs=2, seed=0, metric roc_auc / log_loss / rmse) on reference.py's frame) and
         reference.metrics() on the test rows. Wall time is measured around fit, as reference.py does.

  defaults  reference.py's LightGBM defaults (pandas categoricals), sklearn HistGradientBoosting* defaults
         with native categorical features, and RandomForest (reference.run_model "lgbm", "hgb", "rf") on the
         same split; `--skip-defaults` leaves them out. whet is also judged against the best of the three
         (same tie margins, relative to that model's score): a user who tries two lines of sklearn after whet
         must not find a better model.

Margin is signed so that positive = whet better (AUC: whet - flaml; log loss, RMSE: flaml - whet).
Verdict: tie if |margin| <= 0.002 AUC, 0.01 log loss, or 0.5% of FLAML's RMSE; else win / loss.
Relative margin = margin / |FLAML score| (the "never more than 1% worse" goal is checked on it).
Within budget = whet's wall time <= budget * 1.05.

Rows are printed (markdown) and appended to a TSV under bench/data/automl/ as each dataset finishes.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

# FLAML's forests repeat this scikit-learn warning once per tree (160,000 lines a run), which
# buried the results table in the log; it says nothing about the scores. It is raised in
# joblib's worker processes, which take their filters from PYTHONWARNINGS.
SKLEARN_DELAYED = "`sklearn.utils.parallel.delayed` should be used"
os.environ["PYTHONWARNINGS"] = ",".join(
    w for w in (os.environ.get("PYTHONWARNINGS"), f"ignore:{SKLEARN_DELAYED}:UserWarning") if w
)
warnings.filterwarnings("ignore", message=SKLEARN_DELAYED.replace(".", r"\."))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "peers"))
import reference  # noqa: E402  (load, encode_target, run_model, metrics, SEED, N_JOBS)

OUT_DIR = os.path.join(ROOT, "bench", "data", "automl")
THREADS = 2
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
HIGHER_IS_BETTER = {"roc_auc": True, "log_loss": False, "rmse": False}
TIE = {"roc_auc": 0.002, "log_loss": 0.01}  # absolute; rmse: 0.5% of FLAML's RMSE
RMSE_TIE_REL = 0.005
BUDGET_SLACK = 1.05
DEFAULTS = ("lgbm", "hgb", "rf")
COLS = ["dataset", "task", "metric", "whet", "flaml", "margin", "rel_margin", "verdict", "whet_s", "flaml_s",
        "n_train", "n_test", "whet_cv", "flaml_best", "whet_error", "flaml_error",
        "lgbm", "hgb", "rf", "best_default", "default_margin", "default_rel_margin", "default_verdict",
        "default_error"]


def split(data_dir, m, seed):
    """reference.py's load, target encoding and split; returns its train/test frames and targets, the raw
    target as load() read it, and the row positions of the train and test parts."""
    from sklearn.model_selection import train_test_split
    X, y, cat_cols = reference.load(data_dir, m)
    yy, classes = reference.encode_target(y, m)
    pos = np.arange(len(X))
    # An extra array does not change the split: the permutation depends only on n, random_state and stratify.
    Xtr, Xte, ytr, yte, itr, ite = train_test_split(X, yy, pos, test_size=0.2, random_state=seed,
                                                    stratify=yy if m["task"] != "regression" else None)
    return Xtr, Xte, ytr, yte, cat_cols, classes, y, itr, ite


def write_raw_split(data_dir, m, name, y_ref, itr, ite):
    """The original CSV rows at the split positions, all columns kept as text (empty -> empty)."""
    raw = pd.read_csv(os.path.join(data_dir, m["file"]), dtype=str, keep_default_na=False, na_values=[""],
                      low_memory=False)
    # Same rows in the same order as reference.load() read them: the target must agree value by value.
    assert len(raw) == len(y_ref), (name, len(raw), len(y_ref))
    t = raw[m["target"]]
    if pd.api.types.is_numeric_dtype(y_ref):
        assert np.allclose(pd.to_numeric(t).to_numpy(np.float64), y_ref.to_numpy(np.float64), equal_nan=True), name
    else:
        assert (t.fillna("").to_numpy() == y_ref.fillna("").astype(str).to_numpy()).all(), name
    paths = []
    for part, idx in (("train", itr), ("test", ite)):
        p = os.path.join(OUT_DIR, f"{name}_{part}.csv")
        raw.iloc[idx].to_csv(p, index=False)
        paths.append(p)
    return paths


def run_whet(whet, name, target, train_csv, test_csv, budget):
    """Returns (score dict or None, cv_score, wall seconds, error text)."""
    model = os.path.join(OUT_DIR, f"{name}.whet")
    cmd = [whet, "train", train_csv, "--target", target, "--time", f"{budget:g}s", "--test", test_csv,
           "--seed", str(reference.SEED), "--threads", str(THREADS), "--json", "--quiet", "--out", model]
    env = {k: v for k, v in os.environ.items() if k != "WHET_STORE"}
    timeout = budget * 3 + 60
    with tempfile.TemporaryDirectory(prefix=f"whet-automl-{name}-") as cwd:
        t = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            return None, None, float("nan"), f"whet binary not found: {whet}"
        except subprocess.TimeoutExpired as e:
            return None, None, time.perf_counter() - t, f"killed after {e.timeout:g} s timeout"
        wall = time.perf_counter() - t
    if p.returncode != 0:
        first = " | ".join(l.strip() for l in p.stderr.strip().splitlines()[:3] if l.strip())
        return None, None, wall, f"exit {p.returncode}: {first}"[:300]
    try:
        doc = json.loads(p.stdout)
        # Kept beside the model: the final model's detail, notes and leaderboard explain a score.
        with open(os.path.join(OUT_DIR, f"{name}.report.json"), "w") as f:
            f.write(p.stdout)
        return doc["test_metrics"], doc.get("cv_score"), wall, ""
    except (ValueError, KeyError, TypeError) as e:
        return None, None, wall, f"bad JSON ({type(e).__name__}: {e}): {p.stdout[:120]!r}"[:300]


def run_flaml(task, Xtr, Xte, ytr, yte, cat_cols, classes, budget):
    """reference.py's FLAML path and metrics; returns (metrics dict, fit seconds, best estimator)."""
    n_classes = len(classes) if classes else None
    pred, fit_s, _pred_s, notes = reference.run_model("flaml", task, Xtr, Xte, ytr, cat_cols, n_classes, budget)
    return reference.metrics(task, yte, pred, n_classes), fit_s, notes.replace("best=", "")


def run_defaults(task, Xtr, Xte, ytr, yte, cat_cols, classes, budget):
    """The three default models' test scores: ({name: metric value}, error text)."""
    n_classes = len(classes) if classes else None
    out, errors = {}, []
    for name in DEFAULTS:
        try:
            pred, _fit_s, _pred_s, _notes = reference.run_model(name, task, Xtr, Xte, ytr, cat_cols, n_classes, budget)
            out[name] = float(reference.metrics(task, yte, pred, n_classes)[METRIC[task]])
        except Exception as e:  # record and go on
            errors.append(f"{name}: {type(e).__name__}: {e}"[:150])
    return out, "; ".join(errors)


def verdict(metric, w, f):
    """(margin, relative margin, win/tie/loss); positive margin = whet better."""
    margin = (w - f) if HIGHER_IS_BETTER[metric] else (f - w)
    rel = margin / abs(f) if f else float("nan")
    tol = TIE[metric] if metric in TIE else RMSE_TIE_REL * abs(f)
    return margin, rel, ("tie" if abs(margin) <= tol else "win" if margin > 0 else "loss")


def fmt(v, spec=".4f"):
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def md_row(r):
    margin = "" if r["margin"] is None else f"{r['margin']:+.4f} ({r['rel_margin'] * 100:+.2f}%)"
    dmargin = "" if r["default_margin"] is None else f"{r['default_margin']:+.4f} ({r['default_rel_margin'] * 100:+.2f}%)"
    defaults = " / ".join(fmt(r[d]) for d in DEFAULTS)
    notes = "; ".join(x for x in (f"n={r['n_train']}/{r['n_test']}", f"FLAML best {r['flaml_best']}" if r["flaml_best"] else "",
                                  f"whet ERROR {r['whet_error']}" if r["whet_error"] else "",
                                  f"FLAML ERROR {r['flaml_error']}" if r["flaml_error"] else "") if x)
    if r["default_error"]:
        notes += f"; defaults ERROR {r['default_error']}"
    cells = [r["dataset"], r["task"], r["metric"], fmt(r["whet"]), fmt(r["flaml"]), margin, r["verdict"],
             defaults, r["best_default"], dmargin, r["default_verdict"],
             fmt(r["whet_s"], ".1f"), fmt(r["flaml_s"], ".1f"), notes.replace("|", "/")]
    return "| " + " | ".join(cells) + " |"


def summary(rows, budget, skip_flaml):
    n = len(rows)
    lines = []
    judged = [r for r in rows if r["default_verdict"]]
    if judged:
        losses = [r for r in judged if r["default_verdict"] == "loss"]
        lines.append(f"against the best default model (LightGBM, HGB, RF): wins/ties/losses "
                     f"{sum(r['default_verdict'] == 'win' for r in judged)}/{sum(r['default_verdict'] == 'tie' for r in judged)}/{len(losses)}"
                     f" of {len(judged)} (goal: no loss beyond the tie margin: {'met' if not losses else 'NOT met'})"
                     + (f"; lost on: {', '.join(r['dataset'] + ' ' + format(r['default_rel_margin'] * 100, '+.2f') + '% vs ' + r['best_default'] for r in losses)}" if losses else ""))
    if not skip_flaml:
        cnt = {v: sum(r["verdict"] == v for r in rows) for v in ("win", "tie", "loss")}
        unscored = n - sum(cnt.values())
        share = (cnt["win"] + cnt["tie"]) / n if n else float("nan")
        scored = [r for r in rows if r["rel_margin"] is not None]
        worst = min(scored, key=lambda r: r["rel_margin"]) if scored else None
        ws = (f"{worst['rel_margin'] * 100:+.2f}% ({worst['dataset']})" if worst else "n/a")
        ok = worst is not None and worst["rel_margin"] >= -0.01 and unscored == 0
        lines.append(f"wins/ties/losses: {cnt['win']}/{cnt['tie']}/{cnt['loss']}"
                     + (f" (+{unscored} not scored: errors count as neither win nor tie)" if unscored else "")
                     + f"; win-or-tie share {fmt(share * 100, '.0f')}% of {n} (goal >= 90%: {'met' if share >= 0.9 else 'NOT met'})"
                     + f"; worst relative margin {ws} (goal never worse than -1%: {'met' if ok else 'NOT met'})")
    limit = budget * BUDGET_SLACK
    # Runs that finished (a failure is usually fast and says nothing about the budget) or were killed.
    timed = [r for r in rows if r["whet_s"] is not None and not np.isnan(r["whet_s"])
             and (not r["whet_error"] or r["whet_error"].startswith("killed"))]
    over = [r for r in timed if r["whet_s"] > limit]
    failed = [r["dataset"] for r in rows if r["whet_error"]]
    if timed:
        slowest = max(timed, key=lambda r: r["whet_s"])
        lines.append(f"whet within budget + 5% ({limit:g} s) on every run: {'yes' if not over else 'NO'}"
                     + f"; max wall {slowest['whet_s']:.1f} s ({slowest['dataset']})"
                     + (f"; over: {', '.join(r['dataset'] + ' ' + format(r['whet_s'], '.1f') + ' s' for r in over)}" if over else ""))
    else:
        lines.append("whet within budget: n/a (no whet run finished)")
    if failed:
        lines.append(f"whet failed on {len(failed)}/{n}: {', '.join(failed)}")
    return lines


def append_tsv(path, r):
    with open(path, "a") as f:
        f.write("\t".join("" if r[c] is None else fmt(r[c], ".6g") if isinstance(r[c], float)
                          else str(r[c]).replace("\t", " ").replace("\n", " ") for c in COLS) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="all", help="comma list of manifest names (file without .csv); default all, MANIFEST order")
    ap.add_argument("--budget", type=float, default=60, help="seconds, for both whet (--time) and FLAML (time_budget)")
    ap.add_argument("--whet", default=os.path.join(ROOT, "target", "release", "whet"))
    ap.add_argument("--skip-flaml", action="store_true", help="only whet (quick checks)")
    ap.add_argument("--skip-defaults", action="store_true", help="leave out the LightGBM, HGB and RF defaults")
    ap.add_argument("--data", default=os.path.join(SHARED, "datasets"), help="folder with MANIFEST.tsv and the CSVs")
    ap.add_argument("--split-seed", type=int, default=reference.SEED,
                    help="random_state of the 80/20 split (default reference.py's); other values measure how much a "
                         "verdict owes to one split. Models and tools keep seed 0.")
    ap.add_argument("--out", default=None, help="results TSV (default bench/data/automl/results-<UTC time>.tsv)")
    a = ap.parse_args()
    whet = os.path.abspath(a.whet)
    os.makedirs(OUT_DIR, exist_ok=True)
    out = a.out or os.path.join(OUT_DIR, f"results-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tsv")

    import lightgbm
    import sklearn
    vers = f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, lightgbm {lightgbm.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    if not a.skip_flaml:
        import flaml
        vers += f", flaml {flaml.__version__}"
    print(vers)
    print(f"whet: {whet}" + (f" (built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(whet)))})" if os.path.exists(whet) else " (missing)"))
    print(f"budget {a.budget:g} s each, {THREADS} threads, seed {reference.SEED}, split seed {a.split_seed}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; TSV: {os.path.relpath(out, ROOT)}")
    print()

    man = pd.read_csv(os.path.join(a.data, "MANIFEST.tsv"), sep="\t", dtype=str, keep_default_na=False)
    names = [f[:-4] for f in man["file"]]
    want = names if a.datasets == "all" else a.datasets.split(",")
    unknown = [w for w in want if w not in names]
    if unknown:
        sys.exit(f"unknown dataset(s): {', '.join(unknown)} (known: {', '.join(names)})")

    print("| dataset | task | metric | whet | FLAML | whet margin | verdict | LightGBM / HGB / RF defaults | best default | whet margin vs it | verdict vs default | whet s | FLAML s | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    with open(out, "w") as f:
        f.write("\t".join(COLS) + "\n")
    rows = []
    for _, m in man.iterrows():
        name = m["file"][:-4]
        if name not in want:
            continue
        task, metric = m["task"], METRIC[m["task"]]
        tag = name if a.split_seed == reference.SEED else f"{name}_split{a.split_seed}"
        r = dict(dataset=name, task=task, metric=metric, whet=None, flaml=None, margin=None, rel_margin=None, verdict="",
                 whet_s=None, flaml_s=None, n_train="", n_test="", whet_cv=None, flaml_best="", whet_error="",
                 flaml_error="", lgbm=None, hgb=None, rf=None, best_default="", default_margin=None,
                 default_rel_margin=None, default_verdict="", default_error="")
        try:
            Xtr, Xte, ytr, yte, cat_cols, classes, y_raw, itr, ite = split(a.data, m, a.split_seed)
            train_csv, test_csv = write_raw_split(a.data, m, tag, y_raw, itr, ite)
            r["n_train"], r["n_test"] = len(Xtr), len(Xte)
        except Exception as e:  # neither tool can run without the split; record it and go on
            r["verdict"] = "error"
            r["whet_error"] = r["flaml_error"] = f"split: {type(e).__name__}: {e}"[:300]
            rows.append(r)
            print(md_row(r), flush=True)
            append_tsv(out, r)
            continue

        tm, r["whet_cv"], r["whet_s"], r["whet_error"] = run_whet(whet, tag, m["target"], train_csv, test_csv, a.budget)
        if tm is not None:
            if metric in tm and tm[metric] is not None:
                r["whet"] = float(tm[metric])
            else:
                r["whet_error"] = f"no {metric} in test_metrics: {sorted(tm)}"
        if not a.skip_flaml:
            try:
                fm, r["flaml_s"], r["flaml_best"] = run_flaml(task, Xtr, Xte, ytr, yte, cat_cols, classes, a.budget)
                r["flaml"] = float(fm[metric])
            except Exception as e:  # record and go on, as reference.py does
                r["flaml_error"] = f"{type(e).__name__}: {e}"[:300]
        if not a.skip_defaults:
            scores, r["default_error"] = run_defaults(task, Xtr, Xte, ytr, yte, cat_cols, classes, a.budget)
            r.update(scores)
            if scores:
                best = (max if HIGHER_IS_BETTER[metric] else min)(scores, key=scores.get)
                r["best_default"] = best
                if r["whet"] is not None:
                    r["default_margin"], r["default_rel_margin"], r["default_verdict"] = verdict(metric, r["whet"], scores[best])
        if r["whet"] is not None and r["flaml"] is not None:
            r["margin"], r["rel_margin"], r["verdict"] = verdict(metric, r["whet"], r["flaml"])
        elif not a.skip_flaml:
            r["verdict"] = "error"
        rows.append(r)
        print(md_row(r), flush=True)
        append_tsv(out, r)

    print()
    for line in summary(rows, a.budget, a.skip_flaml):
        print(line)
    print(f"TSV: {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
