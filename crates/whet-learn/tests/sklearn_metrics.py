"""Reference values for crates/whet-learn/src/metrics.rs, computed with scikit-learn 1.9.1.

Provenance only: the Rust tests hard-code the numbers this prints; nothing runs this script.
    python=$(bash /work/shared/peers/setup.sh) && $python crates/whet-learn/tests/sklearn_metrics.py
"""

import warnings

import numpy as np
import sklearn
from sklearn import metrics as M

assert sklearn.__version__ == "1.9.1", sklearn.__version__
warnings.simplefilter("ignore")

# Binary: ties in the scores (0.1, 0.35, 0.4 x3, 0.8), one zero weight.
YB = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0]
SB = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.2, 0.9, 0.35, 0.1, 0.65, 0.8]
WB = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.25, 1.0, 2.0, 0.0, 1.0, 0.75]
# Probabilities for log loss with exact 0 and 1 (clipping decides the value).
PB = [0.0, 1.0, 0.35, 0.8, 0.4, 0.4, 1.0, 0.9, 0.35, 1.0, 0.65, 0.8]
CB = [int(s >= 0.5) for s in SB]

# A larger binary case with heavy ties: scores on a 0.1 grid.
YT = [int((i * 7) % 5 < 2) for i in range(40)]
ST = [round(((i * 13) % 11) / 10, 1) for i in range(40)]
WT = [0.5 + ((i * 3) % 4) * 0.5 for i in range(40)]

# Multiclass, k = 3, row-major probabilities, a zero probability on a true class.
YM = [0, 1, 2, 2, 1, 0, 1, 2, 0, 1]
PM = [
    [0.7, 0.2, 0.1],
    [0.1, 0.6, 0.3],
    [0.2, 0.2, 0.6],
    [0.3, 0.4, 0.3],
    [0.0, 1.0, 0.0],
    [0.5, 0.5, 0.0],
    [0.25, 0.25, 0.5],
    [0.1, 0.1, 0.8],
    [0.0, 0.0, 1.0],
    [0.3, 0.3, 0.4],
]
WM = [1.0, 0.5, 2.0, 1.0, 3.0, 0.0, 1.5, 1.0, 0.25, 2.0]
CM = [int(np.argmax(r)) for r in PM]

# Predictions naming a class that never occurs in y.
YX = [0, 0, 1, 1, 0, 1]
CX = [0, 2, 1, 0, 0, 2]
WX = [1.0, 2.0, 0.5, 1.0, 3.0, 1.5]

# Regression; one y == 0 (MAPE divides by eps there), one zero weight.
YR = [3.0, -0.5, 2.0, 7.0, 0.0, 1.5, 4.2, -2.0]
PR = [2.5, 0.0, 2.0, 8.0, 0.3, 1.0, 5.0, -1.0]
WR = [1.0, 2.0, 0.5, 1.0, 0.25, 3.0, 1.0, 0.0]
NZ = [i for i, v in enumerate(YR) if v != 0.0]


def show(name, call, value):
    print(f"// {call}")
    print(f"const {name}: f64 = {float(value)!r};")


def both(name, fn, call, *args, w=None, **kw):
    show(name, f"{call}", fn(*args, **kw))
    show(name + "_W", f"{call[:-1]}, sample_weight=w)", fn(*args, sample_weight=w, **kw))


print("// binary")
print("const YB =", YB, "\nconst SB =", SB, "\nconst WB =", WB, "\nconst PB =", PB, "\nconst CB =", CB)
both("ROC_B", M.roc_auc_score, "roc_auc_score(YB, SB)", YB, SB, w=WB)
both("AP_B", M.average_precision_score, "average_precision_score(YB, SB)", YB, SB, w=WB)
both("LOGLOSS_B", M.log_loss, "log_loss(YB, PB, labels=[0, 1])", YB, PB, w=WB, labels=[0, 1])
both("ACC_B", M.accuracy_score, "accuracy_score(YB, CB)", YB, CB, w=WB)
both("BACC_B", M.balanced_accuracy_score, "balanced_accuracy_score(YB, CB)", YB, CB, w=WB)
both("F1_B", M.f1_score, "f1_score(YB, CB)", YB, CB, w=WB)

print("// binary, many ties")
print("const YT =", YT, "\nconst ST =", ST, "\nconst WT =", WT)
both("ROC_T", M.roc_auc_score, "roc_auc_score(YT, ST)", YT, ST, w=WT)
both("AP_T", M.average_precision_score, "average_precision_score(YT, ST)", YT, ST, w=WT)

print("// multiclass")
print("const YM =", YM, "\nconst PM =", PM, "\nconst WM =", WM, "\nconst CM =", CM)
both("LOGLOSS_M", M.log_loss, "log_loss(YM, PM, labels=[0, 1, 2])", YM, PM, w=WM, labels=[0, 1, 2])
both("ACC_M", M.accuracy_score, "accuracy_score(YM, CM)", YM, CM, w=WM)
both("BACC_M", M.balanced_accuracy_score, "balanced_accuracy_score(YM, CM)", YM, CM, w=WM)
both("F1_MACRO_M", M.f1_score, "f1_score(YM, CM, average='macro')", YM, CM, w=WM, average="macro")
print("const YX =", YX, "\nconst CX =", CX, "\nconst WX =", WX)
both("F1_MACRO_X", M.f1_score, "f1_score(YX, CX, average='macro')", YX, CX, w=WX, average="macro")
both("BACC_X", M.balanced_accuracy_score, "balanced_accuracy_score(YX, CX)", YX, CX, w=WX)

print("// regression")
print("const YR =", YR, "\nconst PR =", PR, "\nconst WR =", WR)
both("RMSE_R", M.root_mean_squared_error, "root_mean_squared_error(YR, PR)", YR, PR, w=WR)
both("MAE_R", M.mean_absolute_error, "mean_absolute_error(YR, PR)", YR, PR, w=WR)
both("R2_R", M.r2_score, "r2_score(YR, PR)", YR, PR, w=WR)
both("MAPE_R", M.mean_absolute_percentage_error, "mean_absolute_percentage_error(YR, PR)", YR, PR, w=WR)
yr, pr, wr = ([v[i] for i in NZ] for v in (YR, PR, WR))
print("// rows of YR, PR, WR where YR != 0:", NZ)
both("MAPE_NZ", M.mean_absolute_percentage_error, "mean_absolute_percentage_error(YR[NZ], PR[NZ])", yr, pr, w=wr)

print("// undefined cases and sklearn conventions whet does not follow")
show("ROC_ONE_CLASS", "roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9])  (nan, warning)", M.roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]))
show("AP_NO_POS", "average_precision_score([0, 0], [0.2, 0.9])  (whet: nan)", M.average_precision_score([0, 0], [0.2, 0.9]))
show("F1_NO_POS", "f1_score([0, 0], [0, 0], zero_division=np.nan)", M.f1_score([0, 0], [0, 0], zero_division=np.nan))
show("R2_CONST", "r2_score([1, 1], [1, 2], force_finite=False)", M.r2_score([1.0, 1.0], [1.0, 2.0], force_finite=False))
show("LOGLOSS_EPS", "log_loss([0], [[0.0, 1.0]], labels=[0, 1]) == -ln(finfo(float64).eps)", M.log_loss([0], [[0.0, 1.0]], labels=[0, 1]))
print("// -ln(1e-15) would be", -np.log(1e-15))
# A class that occurs only in zero-weight rows: its F1 is 0/0. whet leaves it out of the macro
# average (sklearn's zero_division=np.nan); sklearn's default counts it as 0.
show("F1_MACRO_ZW", "f1_score([0, 1, 2, 0], [0, 1, 2, 1], average='macro', sample_weight=[1, 1, 0, 1], zero_division=np.nan)",
     M.f1_score([0, 1, 2, 0], [0, 1, 2, 1], average="macro", sample_weight=[1, 1, 0, 1], zero_division=np.nan))
show("F1_MACRO_ZW_DEFAULT", "f1_score([0, 1, 2, 0], [0, 1, 2, 1], average='macro', sample_weight=[1, 1, 0, 1])  (whet differs)",
     M.f1_score([0, 1, 2, 0], [0, 1, 2, 1], average="macro", sample_weight=[1, 1, 0, 1]))

# Per-class scores, weighted F1 and the Brier score (whet-review's report metrics).
print("precision_recall_fscore_support(YB, CB, zero_division=nan) w=WB",
      [list(map(float, a)) for a in M.precision_recall_fscore_support(YB, CB, labels=[0, 1], sample_weight=WB, zero_division=np.nan)])
print("precision_recall_fscore_support(YX, CX, labels=[0,1,2], zero_division=nan)",
      [list(map(float, a)) for a in M.precision_recall_fscore_support(YX, CX, labels=[0, 1, 2], zero_division=np.nan)])
print("f1_score(YM, CM, average='weighted') / w=WM",
      M.f1_score(YM, CM, average="weighted"), M.f1_score(YM, CM, average="weighted", sample_weight=WM))
print("f1_score(YX, CX, average='weighted') / w=WX",
      M.f1_score(YX, CX, average="weighted"), M.f1_score(YX, CX, average="weighted", sample_weight=WX))
print("brier_score_loss(YB, PB) / w=WB",
      M.brier_score_loss(YB, PB), M.brier_score_loss(YB, PB, sample_weight=WB))
