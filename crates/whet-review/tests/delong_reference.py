"""Reference DeLong figures for crates/whet-review/src/tests_paired.rs.

Computed straight from DeLong, DeLong & Clarke-Pearson (1988) with the O(m·n) kernel
psi(x, z) = 1 if x > z, 1/2 if equal, 0 otherwise: independent of the midrank algorithm the
Rust code uses. Provenance only; the Rust test hard-codes the numbers this prints.
    python3 crates/whet-review/tests/delong_reference.py
"""
from math import erfc, sqrt

y = [1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0]
a = [0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4, 0.3, 0.2, 0.6, 0.6]
b = [0.7, 0.9, 0.4, 0.5, 0.6, 0.3, 0.8, 0.2, 0.5, 0.1, 0.65, 0.35]


def psi(x, z):
    return 1.0 if x > z else (0.5 if x == z else 0.0)


def components(s):
    pos = [s[i] for i in range(len(y)) if y[i] == 1]
    neg = [s[i] for i in range(len(y)) if y[i] == 0]
    v10 = [sum(psi(x, z) for z in neg) / len(neg) for x in pos]
    v01 = [sum(psi(x, z) for x in pos) / len(pos) for z in neg]
    return sum(v10) / len(v10), v10, v01


def cov(u, v):
    mu, mv = sum(u) / len(u), sum(v) / len(v)
    return sum((p - mu) * (q - mv) for p, q in zip(u, v)) / (len(u) - 1)


auc_a, a10, a01 = components(a)
auc_b, b10, b01 = components(b)
m, n = len(a10), len(a01)
var_a = cov(a10, a10) / m + cov(a01, a01) / n
var_b = cov(b10, b10) / m + cov(b01, b01) / n
c = cov(a10, b10) / m + cov(a01, b01) / n
z = (auc_b - auc_a) / sqrt(var_a + var_b - 2 * c)
p = erfc(abs(z) / sqrt(2))
print(repr([auc_a, auc_b, var_a, var_b, c, p]))
