"""LightGBM's pred_contrib on a whet model's own trees (written by the shap_lightgbm example)
against whet's TreeSHAP values: prints the largest absolute differences.

Usage: python shap_vs_lightgbm.py OUTDIR   (OUTDIR as shap_lightgbm wrote it)
"""
import sys

import lightgbm as lgb
import numpy as np

out = sys.argv[1]
with open(f"{out}/model.txt") as f:
    booster = lgb.Booster(model_str=f.read())
x = np.loadtxt(f"{out}/features.csv", delimiter=",", ndmin=2)
whet = np.loadtxt(f"{out}/whet_shap.csv", delimiter=",", ndmin=2)
whet_raw = np.loadtxt(f"{out}/whet_raw.csv", ndmin=1)
contrib = booster.predict(x, pred_contrib=True)
raw = booster.predict(x, raw_score=True)
assert contrib.shape == whet.shape, (contrib.shape, whet.shape)
d = np.abs(contrib - whet)
print(
    f"rows {x.shape[0]}, features {x.shape[1]}, trees {booster.num_trees()}, lightgbm {lgb.__version__}\n"
    f"max |raw score difference| (same trees, both predictors): {np.max(np.abs(raw - whet_raw)):.3e}\n"
    f"max |SHAP difference| over every row and feature: {np.max(d[:, :-1]):.3e}\n"
    f"max |expected value difference|: {np.max(d[:, -1]):.3e}\n"
    f"max |SHAP| (scale): {np.max(np.abs(whet[:, :-1])):.3e}\n"
    f"max |whet's row sum - its raw score|: {np.max(np.abs(whet.sum(axis=1) - whet_raw)):.3e}"
)
ok = np.max(d) <= 1e-6
print("within 1e-6:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
