//! Paired tests of two models on the same rows: DeLong's test for a difference in ROC AUC,
//! McNemar's test for a difference in accuracy, and the paired t-test on per-row errors.

use serde::Serialize;

use crate::stats::{binomial_half_two_sided, chi2_1_sf, normal_two_sided, t_two_sided};

#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    pub name: String,
    /// What the statistic is, in words.
    pub statistic_name: String,
    pub statistic: f64,
    pub p_value: f64,
    /// Extra figures a reader needs to check the test (e.g. variances, discordant counts).
    pub detail: String,
}

/// Midranks (1-based; ties get the mean rank) of `x`.
fn midranks(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        let rank = 0.5 * (i + j - 1) as f64 + 1.0;
        for &k in &idx[i..j] {
            r[k] = rank;
        }
        i = j;
    }
    r
}

/// DeLong's AUCs and their covariance: (auc_a, auc_b, var_a, var_b, cov) for two score
/// vectors on the same 0/1 labels, by the fast midrank algorithm (Sun & Xu, 2014).
pub fn delong(y: &[f64], a: &[f64], b: &[f64]) -> Option<(f64, f64, f64, f64, f64)> {
    let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1.0).collect();
    let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] != 1.0).collect();
    let (m, n) = (pos.len(), neg.len());
    if m < 2 || n < 2 {
        return None;
    }
    let comps = |s: &[f64]| {
        let x: Vec<f64> = pos.iter().map(|&i| s[i]).collect();
        let z: Vec<f64> = neg.iter().map(|&i| s[i]).collect();
        let all: Vec<f64> = x.iter().chain(&z).copied().collect();
        let tx = midranks(&x);
        let tz = midranks(&z);
        let t = midranks(&all);
        let auc = (t[..m].iter().sum::<f64>() - m as f64 * (m as f64 + 1.0) / 2.0) / (m * n) as f64;
        // Structural components: v10 per positive, v01 per negative.
        let v10: Vec<f64> = (0..m).map(|i| (t[i] - tx[i]) / n as f64).collect();
        let v01: Vec<f64> = (0..n)
            .map(|j| 1.0 - (t[m + j] - tz[j]) / m as f64)
            .collect();
        (auc, v10, v01)
    };
    let (auc_a, a10, a01) = comps(a);
    let (auc_b, b10, b01) = comps(b);
    let cov = |u: &[f64], v: &[f64]| {
        let k = u.len() as f64;
        let mu = u.iter().sum::<f64>() / k;
        let mv = v.iter().sum::<f64>() / k;
        u.iter()
            .zip(v)
            .map(|(x, y)| (x - mu) * (y - mv))
            .sum::<f64>()
            / (k - 1.0)
    };
    let (m, n) = (m as f64, n as f64);
    let var_a = cov(&a10, &a10) / m + cov(&a01, &a01) / n;
    let var_b = cov(&b10, &b10) / m + cov(&b01, &b01) / n;
    let cov_ab = cov(&a10, &b10) / m + cov(&a01, &b01) / n;
    Some((auc_a, auc_b, var_a, var_b, cov_ab))
}

/// DeLong's test of AUC(b) − AUC(a) = 0.
pub fn delong_test(y: &[f64], a: &[f64], b: &[f64]) -> Option<TestResult> {
    let (auc_a, auc_b, var_a, var_b, cov) = delong(y, a, b)?;
    let var = var_a + var_b - 2.0 * cov;
    let z = if var > 0.0 {
        (auc_b - auc_a) / var.sqrt()
    } else if auc_a == auc_b {
        0.0
    } else {
        f64::INFINITY.copysign(auc_b - auc_a)
    };
    Some(TestResult {
        name: "DeLong".into(),
        statistic_name: "z of the ROC AUC difference".into(),
        statistic: z,
        p_value: if z.is_infinite() {
            0.0
        } else {
            normal_two_sided(z)
        },
        detail: format!(
            "AUC {auc_a:.4} vs {auc_b:.4}, variances {var_a:.3e} and {var_b:.3e}, covariance {cov:.3e}"
        ),
    })
}

/// McNemar's test on rows one model classifies correctly and the other not. Exact binomial
/// below 25 discordant rows, chi-square with continuity correction above.
pub fn mcnemar(correct_a: &[bool], correct_b: &[bool]) -> TestResult {
    let only_a = correct_a
        .iter()
        .zip(correct_b)
        .filter(|(a, b)| **a && !**b)
        .count() as u64;
    let only_b = correct_a
        .iter()
        .zip(correct_b)
        .filter(|(a, b)| !**a && **b)
        .count() as u64;
    let d = only_a + only_b;
    let (statistic, p, how) = if d < 25 {
        (
            only_b as f64,
            binomial_half_two_sided(only_b, d),
            "exact binomial",
        )
    } else {
        let x = ((only_a as f64 - only_b as f64).abs() - 1.0)
            .max(0.0)
            .powi(2)
            / d as f64;
        (x, chi2_1_sf(x), "chi-square, continuity-corrected")
    };
    TestResult {
        name: "McNemar".into(),
        statistic_name: if d < 25 {
            "rows only the challenger gets right".into()
        } else {
            "chi-square (1 df)".into()
        },
        statistic,
        p_value: p,
        detail: format!(
            "{only_a} rows only the champion gets right, {only_b} only the challenger ({how})"
        ),
    }
}

/// Paired t-test of mean(a − b) = 0 over rows (e.g. squared errors of two models).
pub fn paired_t(name: &str, a: &[f64], b: &[f64]) -> TestResult {
    let n = a.len().min(b.len());
    let d: Vec<f64> = (0..n).map(|i| a[i] - b[i]).collect();
    let mean = d.iter().sum::<f64>() / n.max(1) as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    let se = (var / n.max(1) as f64).sqrt();
    let t = if se > 0.0 {
        mean / se
    } else if mean == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(mean)
    };
    TestResult {
        name: format!("paired t-test on {name}"),
        statistic_name: "t".into(),
        statistic: t,
        p_value: if t.is_infinite() {
            0.0
        } else {
            t_two_sided(t, (n.max(2) - 1) as f64)
        },
        detail: format!("mean difference (champion − challenger) {mean:.4e} over {n} rows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delong_matches_an_independent_implementation() {
        // Reference: the pairwise (O(mn)) DeLong formulas evaluated in Python
        // (crates/whet-review/tests/delong_reference.py) on these vectors.
        let y = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let a = [0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4, 0.3, 0.2, 0.6, 0.6];
        let b = [0.7, 0.9, 0.4, 0.5, 0.6, 0.3, 0.8, 0.2, 0.5, 0.1, 0.65, 0.35];
        let (auc_a, auc_b, var_a, var_b, cov) = delong(&y, &a, &b).unwrap();
        let close = |g: f64, w: f64| assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        close(auc_a, DELONG_REF[0]);
        close(auc_b, DELONG_REF[1]);
        close(var_a, DELONG_REF[2]);
        close(var_b, DELONG_REF[3]);
        close(cov, DELONG_REF[4]);
        let t = delong_test(&y, &a, &b).unwrap();
        close(t.p_value, DELONG_REF[5]);
    }

    const DELONG_REF: [f64; 6] = [
        0.6666666666666666,
        0.9444444444444445,
        0.029166666666666667,
        0.004320987654320987,
        0.0023148148148148147,
        0.10201239869854835,
    ];

    #[test]
    fn mcnemar_exact_and_chi_square() {
        let a = [true, true, true, false, true, false, true, true];
        let b = [false, false, true, false, true, true, false, true];
        // only a: 3, only b: 1 → exact two-sided p of 1 in 4 = 2 · (1 + 4)/16 = 0.625.
        let t = mcnemar(&a, &b);
        assert!((t.p_value - 0.625).abs() < 1e-12, "{}", t.p_value);
        let a: Vec<bool> = (0..100).map(|i| i < 40).collect();
        let b: Vec<bool> = (0..100).map(|i| (10..60).contains(&i)).collect();
        // only a 10, only b 20: x = (|10 − 20| − 1)² / 30 = 2.7.
        let t = mcnemar(&a, &b);
        assert!((t.statistic - 2.7).abs() < 1e-12);
        assert!((t.p_value - chi2_1_sf(2.7)).abs() < 1e-15);
    }
}
