use super::*;
use whet_data::prep::{Feature, FeatureData, Features, MISSING_CODE};

use crate::encode::{Encoder, MAX_LEVELS, MIN_MISSING_ROWS};

mod sklearn;
use sklearn::*;

fn num(name: &str, v: &[f32]) -> Feature {
    Feature {
        name: name.to_string(),
        data: FeatureData::Numeric(v.to_vec()),
    }
}

fn cat(name: &str, codes: &[u32], n_categories: u32) -> Feature {
    Feature {
        name: name.to_string(),
        data: FeatureData::Categorical {
            codes: codes.to_vec(),
            n_categories,
        },
    }
}

fn features(columns: Vec<Feature>) -> Features {
    let n_rows = match &columns[0].data {
        FeatureData::Numeric(v) => v.len(),
        FeatureData::Categorical { codes, .. } => codes.len(),
    };
    Features { n_rows, columns }
}

fn train<'a>(x: &'a Features, y: &'a [f64], task: Task) -> TrainSet<'a> {
    let n_classes = match task {
        Task::Regression => 1,
        Task::Binary => 2,
        Task::Multiclass => y.iter().fold(0.0f64, |a, &b| a.max(b)) as usize + 1,
    };
    TrainSet {
        x,
        y,
        weight: None,
        rows: None,
        task,
        n_classes,
    }
}

fn params(alpha: f64, l1_ratio: f64) -> LinearParams {
    LinearParams {
        alpha,
        l1_ratio,
        max_iter: 100_000,
        tol: 1e-12,
        cat_encoding: crate::encode::CatEncoding::OneHot,
    }
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "[{i}] got {g}, want {w} (±{tol})");
    }
}

/// Solves `a · x = b` (small, dense, well-conditioned) by Gaussian elimination.
fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, piv);
        b.swap(c, piv);
        let pivot_row = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / pivot_row[c];
            for (ark, ack) in a[r][c..].iter_mut().zip(&pivot_row[c..]) {
                *ark -= f * ack;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let s: f64 = (c + 1..n).map(|k| a[c][k] * x[k]).sum();
        x[c] = (b[c] - s) / a[c][c];
    }
    x
}

fn ols_data() -> (Features, Vec<f64>) {
    let x1: Vec<f32> = (0..12).map(|i| (i as f32) * 0.5 - 2.0).collect();
    let x2: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32).collect();
    let x3: Vec<f32> = (0..12).map(|i| ((i * i) % 7) as f32 - 3.0).collect();
    let y = (0..12)
        .map(|i| 1.0 + 2.0 * f64::from(x1[i]) - 3.0 * f64::from(x2[i]) + 0.5 * f64::from(x3[i]))
        .collect();
    (
        features(vec![num("x1", &x1), num("x2", &x2), num("x3", &x3)]),
        y,
    )
}

#[test]
fn ols_recovers_exact_coefficients() {
    let (x, y) = ols_data();
    let m = fit_linear(&train(&x, &y, Task::Regression), &params(0.0, 0.0)).unwrap();
    assert!(m.converged());
    // Predictions at the origin and unit vectors give the un-standardized coefficients.
    let probe = features(vec![
        num("x1", &[0.0, 1.0, 0.0, 0.0, 3.0]),
        num("x2", &[0.0, 0.0, 1.0, 0.0, -2.0]),
        num("x3", &[0.0, 0.0, 0.0, 1.0, 0.5]),
    ]);
    let p = m.predict(&probe).values;
    assert_close(
        &[p[0], p[1] - p[0], p[2] - p[0], p[3] - p[0], p[4]],
        &[1.0, 2.0, -3.0, 0.5, 1.0 + 6.0 + 6.0 + 0.25],
        1e-6,
    );
    // On the encoded scale a coefficient is the effect of one standard deviation.
    let sd1 = {
        let v: Vec<f64> = (0..12).map(|i| f64::from(i as f32 * 0.5 - 2.0)).collect();
        let m = v.iter().sum::<f64>() / 12.0;
        (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 12.0).sqrt()
    };
    let coefs = m.coefficients();
    assert_eq!(coefs[0].0, "x1");
    assert!((coefs[0].1 / sd1 - 2.0).abs() < 1e-6, "{coefs:?}");
}

#[test]
fn ridge_matches_closed_form() {
    let (mut x, mut y) = ols_data();
    // Plus a categorical feature whose one-hot columns cover every row (collinear with
    // the intercept: only the penalty decides between equivalent coefficients).
    let codes: Vec<u32> = (0..12).map(|i| (i % 3) as u32).collect();
    x.columns.push(cat("c", &codes, 4));
    for (i, v) in y.iter_mut().enumerate() {
        *v += [0.3, -0.2, 0.1, 0.0, -0.4, 0.25][i % 6] + [1.0, 0.0, -0.5][i % 3];
    }
    let n = 12.0;
    // Encoded columns, centered: standardized numerics, then one-hot c__0, c__1, c__2.
    let mut cols: Vec<Vec<f64>> = x.columns[..3]
        .iter()
        .map(|c| match &c.data {
            FeatureData::Numeric(v) => {
                let v: Vec<f64> = v.iter().map(|&a| f64::from(a)).collect();
                let m = v.iter().sum::<f64>() / n;
                let sd = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n).sqrt();
                v.iter().map(|a| (a - m) / sd).collect()
            }
            _ => unreachable!(),
        })
        .collect();
    for level in 0..3 {
        cols.push(
            codes
                .iter()
                .map(|&c| {
                    if c == level {
                        1.0 - 1.0 / 3.0
                    } else {
                        -1.0 / 3.0
                    }
                })
                .collect(),
        );
    }
    let ybar = y.iter().sum::<f64>() / n;
    for alpha in [0.7, 1e-3] {
        let m = fit_linear(&train(&x, &y, Task::Regression), &params(alpha, 0.0)).unwrap();
        assert!(m.converged());
        // (Xᵀ X / n + α I) β = Xᵀ (y − ȳ) / n on the centered encoded design.
        let a: Vec<Vec<f64>> = (0..6)
            .map(|j| {
                (0..6)
                    .map(|k| {
                        let dot: f64 = cols[j].iter().zip(&cols[k]).map(|(a, b)| a * b).sum();
                        dot / n + if j == k { alpha } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let b: Vec<f64> = (0..6)
            .map(|j| {
                cols[j]
                    .iter()
                    .zip(&y)
                    .map(|(a, y)| a * (y - ybar))
                    .sum::<f64>()
                    / n
            })
            .collect();
        let beta = solve_dense(a, b);
        let got: Vec<f64> = m.coefficients().iter().map(|c| c.1).collect();
        assert_eq!(m.encoder.names()[3..], ["c__0", "c__1", "c__2"]);
        assert_close(&got, &beta, 1e-9);
        let want: Vec<f64> = (0..12)
            .map(|i| ybar + (0..6).map(|j| beta[j] * cols[j][i]).sum::<f64>())
            .collect();
        assert_close(&m.predict(&x).values, &want, 1e-9);
    }
}

#[test]
fn elastic_net_matches_sklearn() {
    let x = features(vec![num("a1", E_A1), num("a2", E_A2), num("a3", E_A3)]);
    let m = fit_linear(&train(&x, E_Y, Task::Regression), &params(0.1, 0.5)).unwrap();
    assert!(m.converged());
    assert_close(&m.predict(&x).values, E_PRED, 1e-8);
    assert_eq!(m.coefficients()[2].1, 0.0);
    assert_close(&[m.coefficients()[0].1], &[1.60740548], 1e-7);
}

#[test]
fn lasso_zeroes_an_irrelevant_feature() {
    let n = 60;
    let x1: Vec<f32> = (0..n).map(|i| ((i * 13) % 17) as f32 / 4.0).collect();
    let x2: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32).collect();
    let noise: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % 9) as f32 - 4.0).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| 3.0 * f64::from(x1[i]) - f64::from(x2[i]) + 0.1 * ((i % 3) as f64 - 1.0))
        .collect();
    let x = features(vec![num("x1", &x1), num("x2", &x2), num("noise", &noise)]);
    let m = fit_linear(
        &train(&x, &y, Task::Regression),
        &LinearParams {
            alpha: 0.2,
            l1_ratio: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    let c = m.coefficients();
    assert_eq!(c[2], ("noise".to_string(), 0.0));
    assert!(c[0].1 > 1.0 && c[1].1 < -1.0, "{c:?}");
    // Ridge keeps it (small but non-zero).
    let r = fit_linear(&train(&x, &y, Task::Regression), &params(0.2, 0.0)).unwrap();
    assert!(r.coefficients()[2].1 != 0.0);
}

fn logistic_data() -> Features {
    features(vec![num("x1", L_X1), num("x2", L_X2), cat("c", L_CAT, 4)])
}

#[test]
fn logistic_matches_sklearn() {
    let x = logistic_data();
    let alpha = 1.0 / (0.5 * 24.0); // C = 0.5, n = 24
    let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.0)).unwrap();
    assert!(m.converged());
    let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["x1", "x2", "c__1", "c__0", "c__2"]);
    assert_close(&m.predict(&x).values, L_P, 1e-7);
    // Default tolerance is tight too.
    let d = fit_linear(
        &train(&x, L_Y, Task::Binary),
        &LinearParams {
            alpha,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d.converged());
    assert_close(&d.predict(&x).values, L_P, 1e-6);
}

/// Checks the optimality conditions of the penalized binary logistic objective.
fn assert_kkt(m: &LinearModel, x: &Features, y: &[f64], alpha: f64, l1_ratio: f64) {
    let n = y.len();
    let w = m.encoder.width();
    let p = m.predict(x).values;
    let mut grad = vec![0.0; w + 1];
    let mut row = vec![0.0; w];
    for i in 0..n {
        m.encoder.encode_row(x, i, &mut row);
        let r = (p[i] - y[i]) / n as f64;
        for j in 0..w {
            grad[j] += r * row[j];
        }
        grad[w] += r;
    }
    assert!(grad[w].abs() < 1e-8, "intercept gradient {}", grad[w]);
    let (l1, l2) = (alpha * l1_ratio, alpha * (1.0 - l1_ratio));
    for (j, (&b, gj)) in m.coef.iter().zip(&grad).enumerate() {
        let g = gj + l2 * b;
        if b == 0.0 {
            assert!(g.abs() <= l1 + 1e-8, "coordinate {j}: |{g}| > {l1}");
        } else {
            assert!((g + l1 * b.signum()).abs() < 1e-8, "coordinate {j}: {g}");
        }
    }
}

#[test]
fn elastic_net_logistic_is_optimal_and_matches_sklearn_saga() {
    let x = logistic_data();
    let alpha = 1.0 / (0.5 * 24.0);
    let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.5)).unwrap();
    assert!(m.converged());
    assert_kkt(&m, &x, L_Y, alpha, 0.5);
    let zeros = m.coefficients().iter().filter(|c| c.1 == 0.0).count();
    assert_eq!(zeros, 2, "{:?}", m.coefficients());
    assert_close(&m.predict(&x).values, L_P_EN, 1e-8);
    let ridge = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.0)).unwrap();
    assert_kkt(&ridge, &x, L_Y, alpha, 0.0);
}

#[test]
fn multinomial_matches_sklearn_and_sums_to_one() {
    let x = features(vec![num("z1", M_Z1), num("z2", M_Z2)]);
    let m = fit_linear(&train(&x, M_Y, Task::Multiclass), &params(1.0 / 30.0, 0.0)).unwrap();
    assert!(m.converged());
    let p = m.predict(&x);
    assert_eq!((p.n_rows, p.n_outputs), (30, 3));
    assert_close(&p.values, M_P, 1e-7);
    for i in 0..30 {
        assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // With an L1 part the probabilities still sum to one.
    let l1 = fit_linear(&train(&x, M_Y, Task::Multiclass), &params(0.05, 0.7)).unwrap();
    let p = l1.predict(&x);
    for i in 0..30 {
        assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn multinomial_elastic_net_is_optimal() {
    let codes: Vec<u32> = (0..30).map(|i| (i % 4) as u32).collect();
    let x = features(vec![num("z1", M_Z1), num("z2", M_Z2), cat("c", &codes, 5)]);
    for (alpha, l1_ratio) in [(0.02, 0.5), (0.05, 1.0), (1e-3, 0.0)] {
        let m = fit_linear(&train(&x, M_Y, Task::Multiclass), &params(alpha, l1_ratio)).unwrap();
        assert!(m.converged());
        let w = m.encoder.width();
        let p = m.predict(&x);
        let (l1, l2) = (alpha * l1_ratio, alpha * (1.0 - l1_ratio));
        let mut row = vec![0.0; w];
        for k in 0..3 {
            let mut grad = vec![0.0; w + 1];
            for (i, &y) in M_Y.iter().enumerate() {
                m.encoder.encode_row(&x, i, &mut row);
                let r = (p.row(i)[k] - f64::from(u8::from(y == k as f64))) / 30.0;
                for (gj, xj) in grad.iter_mut().zip(&row) {
                    *gj += r * xj;
                }
                grad[w] += r;
            }
            assert!(
                grad[w].abs() < 1e-8,
                "class {k}: intercept gradient {}",
                grad[w]
            );
            let coef = &m.coef[k * w..(k + 1) * w];
            for (j, (&b, gj)) in coef.iter().zip(&grad).enumerate() {
                let g = gj + l2 * b;
                if b == 0.0 {
                    assert!(g.abs() <= l1 + 1e-8, "({k}, {j}): |{g}| > {l1}");
                } else {
                    assert!((g + l1 * b.signum()).abs() < 1e-8, "({k}, {j}): {g}");
                }
            }
        }
        if l1_ratio == 1.0 {
            assert!(m.coef.contains(&0.0), "{:?}", m.coef);
        }
    }
}

#[test]
fn separable_data_without_penalty_stays_finite() {
    let x = features(vec![num("x", &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])]);
    let y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let m = fit_linear(
        &train(&x, &y, Task::Binary),
        &LinearParams {
            alpha: 0.0,
            max_iter: 200,
            ..Default::default()
        },
    )
    .unwrap();
    let p = m.predict(&x).values;
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
    assert_eq!(m.predict(&x).classes(), [0, 0, 0, 1, 1, 1]);
    assert!(m.n_iter() <= 200);
}

#[test]
fn two_class_multinomial_equals_binary_with_half_the_ridge() {
    // With β₀ = −β₁ = β/2 at the optimum, α/2·(|β₀|² + |β₁|²) = (α/2)/2·|β|².
    let x = logistic_data();
    let alpha = 0.05;
    let mut multi = train(&x, L_Y, Task::Multiclass);
    multi.n_classes = 2;
    let m = fit_linear(&multi, &params(alpha, 0.0)).unwrap();
    let b = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha / 2.0, 0.0)).unwrap();
    let pm = m.predict(&x);
    let pb = b.predict(&x);
    let class1: Vec<f64> = (0..24).map(|i| pm.row(i)[1]).collect();
    assert_close(&class1, &pb.values, 1e-9);
}

#[test]
fn multiclass_with_a_class_absent_from_training() {
    let x = features(vec![num("z1", M_Z1), num("z2", M_Z2)]);
    // Classes 0 and 2 relabelled to 0 and 3 with n_classes = 4: classes 1.. are absent.
    let y: Vec<f64> = M_Y
        .iter()
        .map(|&c| if c == 2.0 { 3.0 } else { c })
        .collect();
    let mut set = train(&x, &y, Task::Multiclass);
    set.n_classes = 5;
    let m = fit_linear(&set, &params(1.0 / 30.0, 0.0)).unwrap();
    let p = m.predict(&x);
    assert_eq!(p.n_outputs, 5);
    for i in 0..30 {
        let r = p.row(i);
        assert_eq!((r[2], r[4]), (0.0, 0.0));
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    assert_close(&p.values[..1], &[M_P[0]], 1e-7);
}

#[test]
fn logistic_separates_separable_ish_data() {
    let n = 200;
    let x1: Vec<f32> = (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0)
        .collect();
    let x2: Vec<f32> = (0..n)
        .map(|i| ((i * 53) % 97) as f32 / 10.0 - 4.8)
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let flip = i % 23 == 0;
            let pos = x1[i] + 0.5 * x2[i] > 0.3;
            f64::from(u8::from(pos != flip))
        })
        .collect();
    let x = features(vec![num("x1", &x1), num("x2", &x2)]);
    let m = fit_linear(&train(&x, &y, Task::Binary), &LinearParams::default()).unwrap();
    assert!(m.converged(), "{} passes", m.n_iter());
    let p = m.predict(&x);
    let acc = p
        .classes()
        .iter()
        .zip(&y)
        .filter(|(c, y)| **c as f64 == **y)
        .count() as f64
        / n as f64;
    // scikit-learn LogisticRegression(C = 1 / (1e-4 · 200)) gets the same accuracy (9
    // flipped labels pull the boundary) and these coefficients.
    assert!((acc - 0.935).abs() < 1e-9, "accuracy {acc}");
    let c: Vec<f64> = m.coefficients().iter().map(|c| c.1).collect();
    assert_close(&c, &[3.40799288, 1.75322971], 1e-5);
}

#[test]
fn missing_values_and_unseen_categories() {
    let n = 40;
    let x1: Vec<f32> = (0..n)
        .map(|i| {
            if i % 7 == 2 {
                f32::NAN
            } else {
                (i % 10) as f32
            }
        })
        .collect();
    let codes: Vec<u32> = (0..n)
        .map(|i| {
            if i % 8 == 4 {
                MISSING_CODE
            } else {
                (i % 3) as u32
            }
        })
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| f64::from(u8::from((i % 10) + (i % 3) * 2 > 5)))
        .collect();
    let x = features(vec![num("x1", &x1), cat("c", &codes, 5)]);
    let m = fit_linear(&train(&x, &y, Task::Binary), &params(0.01, 0.0)).unwrap();
    let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
    // Levels by training frequency: codes 0 and 2 (12 rows each, ties by code), then 1
    // (11); 6 rows miss x1 and 5 miss c, enough for indicators.
    assert_eq!(
        names,
        ["x1", "x1__missing", "c__0", "c__2", "c__1", "c__missing"]
    );
    // Prediction rows: NaN, infinity, an unseen code (3), "other" (4), an out-of-range
    // code, a missing code.
    let probe = features(vec![
        num("x1", &[f32::NAN, f32::INFINITY, 3.0, 3.0, 3.0, 3.0]),
        cat("c", &[0, 1, 3, 4, 99, MISSING_CODE], 5),
    ]);
    let p = m.predict(&probe).values;
    assert!(
        p.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0),
        "{p:?}"
    );
    // Unseen codes are the all-zero baseline.
    assert_eq!(p[2], p[3]);
    assert_eq!(p[2], p[4]);
    // Missing numeric = mean + indicator.
    let mut row = vec![0.0; 6];
    m.encoder.encode_row(&probe, 0, &mut row);
    assert_eq!(&row[..2], &[0.0, 1.0]);
    assert_eq!(&row[2..], &[1.0, 0.0, 0.0, 0.0]);
    m.encoder.encode_row(&probe, 5, &mut row);
    assert_eq!(&row[2..], &[0.0, 0.0, 0.0, 1.0]);
    // A column of the wrong kind is treated as missing, and `check` reports it.
    let wrong = features(vec![num("x1", &[1.0]), num("c", &[1.0])]);
    assert!(m.predict(&wrong).values[0].is_finite());
    assert!(m.encoder().check(&wrong).is_err());
    assert!(m.encoder().check(&probe).is_ok());
}

#[test]
fn missing_indicators_need_enough_rows() {
    // x misses on MIN_MISSING_ROWS rows, z on one fewer; c misses on one row.
    let n = 30;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            if i < MIN_MISSING_ROWS {
                f32::NAN
            } else {
                i as f32
            }
        })
        .collect();
    let z: Vec<f32> = (0..n)
        .map(|i| {
            if i < MIN_MISSING_ROWS - 1 {
                f32::NAN
            } else {
                (i % 4) as f32
            }
        })
        .collect();
    let codes: Vec<u32> = (0..n)
        .map(|i| if i == 7 { MISSING_CODE } else { (i % 2) as u32 })
        .collect();
    let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
    let data = features(vec![num("x", &x), num("z", &z), cat("c", &codes, 3)]);
    let m = fit_linear(&train(&data, &y, Task::Binary), &params(0.01, 0.0)).unwrap();
    let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["x", "x__missing", "z", "c__0", "c__1"]);
    // Below the threshold, missing is the mean (0 after standardizing) and the baseline.
    let probe = features(vec![
        num("x", &[10.0]),
        num("z", &[f32::NAN]),
        cat("c", &[MISSING_CODE], 3),
    ]);
    let mut row = vec![f64::NAN; 5];
    m.encoder.encode_row(&probe, 0, &mut row);
    assert_eq!(&row[1..], &[0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn weight_two_equals_duplicated_rows() {
    let x = logistic_data();
    let dup: Vec<usize> = (0..24).chain([1, 5, 8, 13, 20]).collect();
    let mut weights = vec![1.0; 24];
    for &r in &dup[24..] {
        weights[r] = 2.0;
    }
    let xd = features(vec![
        num("x1", &dup.iter().map(|&i| L_X1[i]).collect::<Vec<_>>()),
        num("x2", &dup.iter().map(|&i| L_X2[i]).collect::<Vec<_>>()),
        cat("c", &dup.iter().map(|&i| L_CAT[i]).collect::<Vec<_>>(), 4),
    ]);
    let yd: Vec<f64> = dup.iter().map(|&i| L_Y[i]).collect();
    let ey: Vec<f64> = (0..24).map(|i| E_Y[i % 20] + i as f64 * 0.1).collect();
    let eyd: Vec<f64> = dup.iter().map(|&i| ey[i]).collect();
    let my: Vec<f64> = (0..24).map(|i| M_Y[i]).collect();
    let myd: Vec<f64> = dup.iter().map(|&i| my[i]).collect();
    for (task, y, ydup, l1) in [
        (Task::Binary, L_Y, &yd[..], 0.3),
        (Task::Regression, &ey[..], &eyd[..], 0.5),
        (Task::Multiclass, &my[..], &myd[..], 0.2),
    ] {
        let mut weighted = train(&x, y, task);
        weighted.weight = Some(&weights);
        let a = fit_linear(&weighted, &params(0.02, l1)).unwrap();
        let b = fit_linear(&train(&xd, ydup, task), &params(0.02, l1)).unwrap();
        assert_eq!(a.encoder, b.encoder.clone().with_names_of(&a.encoder));
        assert_close(&a.predict(&x).values, &b.predict(&x).values, 1e-9);
    }
}

#[test]
fn row_subset_equals_zero_weights() {
    let x = logistic_data();
    let rows: Vec<u32> = (0..24).filter(|i| i % 4 != 1).collect();
    let weights: Vec<f64> = (0..24)
        .map(|i| if i % 4 != 1 { 1.0 } else { 0.0 })
        .collect();
    let mut a = train(&x, L_Y, Task::Binary);
    a.rows = Some(&rows);
    let mut b = train(&x, L_Y, Task::Binary);
    b.weight = Some(&weights);
    let ma = fit_linear(&a, &params(0.05, 0.0)).unwrap();
    let mb = fit_linear(&b, &params(0.05, 0.0)).unwrap();
    assert_close(&ma.predict(&x).values, &mb.predict(&x).values, 1e-12);
}

#[test]
fn serde_round_trip_and_predict_row() {
    let x = logistic_data();
    let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(0.05, 0.2)).unwrap();
    // JSON keeps every number to within an ulp (serde_json parses floats approximately
    // without its float_roundtrip feature); MessagePack is exact.
    let json = serde_json::to_string(&m).unwrap();
    let back: LinearModel = serde_json::from_str(&json).unwrap();
    assert_eq!(back.encoder.names(), m.encoder.names());
    assert_close(&back.predict(&x).values, &m.predict(&x).values, 1e-14);
    let bytes = rmp_serde::to_vec(&m).unwrap();
    let back: LinearModel = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.predict(&x), m.predict(&x));
    let mut out = [0.0];
    back.predict_row(&x, 3, &mut out);
    assert_eq!(out[0], m.predict(&x).values[3]);
}

#[test]
fn bad_params_and_data_are_errors() {
    let mut p = LinearParams::default();
    assert!(p.set("lambda", "0.5").unwrap());
    assert_eq!(p.alpha, 0.5);
    assert!(p.set("l1_ratio", "1").unwrap());
    assert!(p.set("max_iter", "50").unwrap());
    assert!(p.set("tol", "1e-8").unwrap());
    assert!(!p.set("depth", "3").unwrap());
    for (k, v) in [
        ("alpha", "-1"),
        ("alpha", "abc"),
        ("alpha", "inf"),
        ("l1_ratio", "1.5"),
        ("l1_ratio", "-0.1"),
        ("l1_ratio", "NaN"),
        ("max_iter", "0"),
        ("max_iter", "-3"),
        ("tol", "0"),
    ] {
        let err = p.set(k, v).unwrap_err().to_string();
        assert!(err.contains(k) && err.contains("hint"), "{err}");
    }
    assert_eq!(p.alpha, 0.5);
    let bad = LinearParams {
        alpha: -1.0,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let x = logistic_data();
    assert!(fit_linear(&train(&x, L_Y, Task::Binary), &bad).is_err());
    let ok = LinearParams::default();
    // One class only.
    let zeros = vec![0.0; 24];
    assert!(fit_linear(&train(&x, &zeros, Task::Binary), &ok).is_err());
    // Class index out of range, NaN target, bad weights, wrong lengths.
    let mut y = L_Y.to_vec();
    y[3] = 2.0;
    assert!(fit_linear(&train(&x, &y, Task::Binary), &ok).is_err());
    y[3] = f64::NAN;
    assert!(fit_linear(&train(&x, &y, Task::Regression), &ok).is_err());
    let w = vec![-1.0; 24];
    let mut s = train(&x, L_Y, Task::Binary);
    s.weight = Some(&w);
    assert!(fit_linear(&s, &ok).is_err());
    let w = vec![0.0; 24];
    s.weight = Some(&w);
    assert!(fit_linear(&s, &ok).is_err());
    assert!(fit_linear(&train(&x, &L_Y[..5], Task::Binary), &ok).is_err());
    let rows = [0u32, 99];
    let mut s = train(&x, L_Y, Task::Binary);
    s.rows = Some(&rows);
    assert!(fit_linear(&s, &ok).is_err());
}

#[test]
fn categorical_cap_keeps_the_most_frequent_codes() {
    // 100 codes, code c appears c+1 times for c < 100 (so the top 64 are 36..=99).
    let mut codes = Vec::new();
    for c in 0..100u32 {
        codes.extend(std::iter::repeat_n(c, c as usize + 1));
    }
    let y: Vec<f64> = (0..codes.len()).map(|i| (i % 5) as f64).collect();
    let x = features(vec![cat("k", &codes, 101)]);
    let e = Encoder::fit(&train(&x, &y, Task::Regression)).unwrap();
    assert_eq!(e.width(), MAX_LEVELS);
    assert_eq!(e.names()[0], "k__99");
    assert_eq!(e.names()[63], "k__36");
    let mut row = vec![0.0; e.width()];
    e.encode_row(&x, 0, &mut row); // code 0: beyond the cap
    assert!(row.iter().all(|&v| v == 0.0));
}

#[test]
fn constant_features_are_dropped() {
    let x = features(vec![
        num("k", &[2.5; 6]),
        num("m", &[f32::NAN; 6]),
        cat("one", &[1; 6], 3),
        num("x", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ]);
    let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.5];
    let m = fit_linear(&train(&x, &y, Task::Regression), &params(0.0, 0.0)).unwrap();
    assert_eq!(m.encoder.names(), ["x"]);
    assert!(m.predict(&x).values.iter().all(|v| v.is_finite()));
}

#[test]
fn shap_values_sum_to_the_linear_score_and_average_to_zero() {
    let x = logistic_data();
    let alpha = 1.0 / (0.5 * 24.0);
    let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.0)).unwrap();
    let phi = m.shap_values(&x);
    let nf = x.columns.len();
    let p = m.predict(&x).values;
    let mut mean = vec![0.0; nf];
    for r in 0..x.n_rows {
        let row = &phi[r * (nf + 1)..(r + 1) * (nf + 1)];
        let score: f64 = row.iter().sum();
        // The score is the log-odds of the predicted probability.
        assert!((score - (p[r] / (1.0 - p[r])).ln()).abs() < 1e-9, "row {r}");
        for f in 0..nf {
            mean[f] += row[f] / x.n_rows as f64;
        }
    }
    // Background = these rows: every feature's contributions average to zero.
    assert!(mean.iter().all(|m| m.abs() < 1e-12), "{mean:?}");
    // The categorical feature's one-hot columns land on feature 2, not elsewhere.
    assert!((0..x.n_rows).any(|r| phi[r * (nf + 1) + 2].abs() > 1e-6));
}

#[test]
fn rare_levels_get_no_column() {
    // 300 rows: level 0 on 290, level 1 on 6, level 2 on 4 (below MIN_LEVEL_ROWS), level 3 on
    // none; the bar is 5 rows from 250 training rows.
    let mut codes = vec![0u32; 290];
    codes.extend([1; 6]);
    codes.extend([2; 4]);
    let y: Vec<f64> = (0..codes.len()).map(|i| (i % 3) as f64).collect();
    let x = features(vec![cat("k", &codes, 5)]);
    let e = Encoder::fit(&train(&x, &y, Task::Regression)).unwrap();
    assert_eq!(e.names(), ["k__0", "k__1"]);
    // A rare level encodes as the baseline, like an unseen one.
    let mut row = vec![9.0; e.width()];
    e.encode_row(&x, 299, &mut row);
    assert_eq!(row, [0.0, 0.0]);
    // On 100 rows the bar is 2: a level on 4 rows keeps its column.
    let small = features(vec![cat("k", &codes[200..], 5)]);
    let e = Encoder::fit(&train(&small, &y[200..], Task::Regression)).unwrap();
    assert_eq!(e.names(), ["k__0", "k__1", "k__2"]);
}

#[test]
fn an_ensemble_clips_its_members_to_its_range_and_exports_the_clip() {
    use crate::model::{EnsembleMember, EnsembleModel, Predictor};
    // y = 10 x on x in [0, 1]; at x = 5 the line says 50.
    let xs: Vec<f32> = (0..20).map(|i| i as f32 / 19.0).collect();
    let y: Vec<f64> = xs.iter().map(|&v| 10.0 * f64::from(v)).collect();
    let x = features(vec![num("x", &xs)]);
    let m = fit_linear(&train(&x, &y, Task::Regression), &params(0.0, 0.0)).unwrap();
    let far = features(vec![num("x", &[5.0, 0.5])]);
    let member = |w| EnsembleMember {
        weight: w,
        label: "linear".into(),
        predictor: Predictor::Linear(m.clone()),
    };
    let mut e = EnsembleModel {
        members: vec![member(1.0), member(1.0)],
        clip: Some([-1.0, 11.0]),
    };
    let p = e.predict(&far).values;
    assert!((p[0] - 11.0).abs() < 1e-9, "{p:?}");
    assert!((p[1] - 5.0).abs() < 1e-6, "{p:?}");
    e.clip = None;
    assert!((e.predict(&far).values[0] - 50.0).abs() < 1e-4);
    // Without a clip the field is not written, so models without one encode as before.
    let bytes = rmp_serde::to_vec_named(&e).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("clip"));
    let back: EnsembleModel = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, e);
}

#[test]
fn target_encoding_is_smoothed_and_reads_only_the_training_rows() {
    use crate::encode::{CatEncoding, TARGET_SMOOTHING};
    // Level 0 on 20 rows with y = 10, level 1 on 20 with y = 0, levels 2-7 on 5 rows with
    // y = the level, level 8 on 2 rows with y = 10; then 10 validation rows of level 1 whose
    // targets must not matter. Code 9 is "other".
    let mut codes = vec![0u32; 20];
    codes.extend([1; 20]);
    let mut y = vec![10.0; 20];
    y.extend([0.0; 20]);
    for level in 2..8u32 {
        codes.extend([level; 5]);
        y.extend([f64::from(level); 5]);
    }
    codes.extend([8; 2]);
    y.extend([10.0; 2]);
    let n_train = codes.len();
    codes.extend([1; 10]);
    y.extend([1e6; 10]);
    let x = features(vec![cat("k", &codes, 10)]);
    let rows: Vec<u32> = (0..n_train as u32).collect();
    fn set<'a>(x: &'a Features, y: &'a [f64], rows: &'a [u32]) -> TrainSet<'a> {
        TrainSet {
            rows: Some(rows),
            ..train(x, y, Task::Regression)
        }
    }
    let e = Encoder::fit_with(&set(&x, &y, &rows), CatEncoding::Target).unwrap();
    assert_eq!(e.names(), ["k__target"]);
    let value = |e: &Encoder, x: &Features, row: usize| {
        let mut out = vec![0.0; 1];
        e.encode_row(x, row, &mut out);
        out[0]
    };
    // The raw encodings, shrunk toward the prior by TARGET_SMOOTHING pseudo-rows; the
    // encoder standardizes them, an affine map, so their ratios of differences survive.
    let prior = y[..n_train].iter().sum::<f64>() / n_train as f64;
    let raw = |n: f64, mean: f64| (n * mean + TARGET_SMOOTHING * prior) / (n + TARGET_SMOOTHING);
    let (r0, r1, r8) = (raw(20.0, 10.0), raw(20.0, 0.0), raw(2.0, 10.0));
    let (e0, e1, e8) = (
        value(&e, &x, 0),
        value(&e, &x, 20),
        value(&e, &x, n_train - 1),
    );
    assert!(((e8 - e1) / (e0 - e1) - (r8 - r1) / (r0 - r1)).abs() < 1e-12);
    // Standardized over the training rows: mean 0.
    let mean = (0..n_train).map(|r| value(&e, &x, r)).sum::<f64>() / n_train as f64;
    assert!(mean.abs() < 1e-12, "{mean}");
    // Rows outside the training rows change nothing, whatever their targets.
    let mut other = y.clone();
    other[n_train..].fill(-5.0);
    assert_eq!(
        Encoder::fit_with(&set(&x, &other, &rows), CatEncoding::Target).unwrap(),
        e
    );
    // A level never seen in training ("other") and a missing value get the prior.
    let unseen = features(vec![cat("k", &[9, MISSING_CODE], 10)]);
    let prior_enc = e1 + (e0 - e1) * (prior - r1) / (r0 - r1);
    assert!((value(&e, &unseen, 0) - prior_enc).abs() < 1e-9);
    assert!((value(&e, &unseen, 1) - prior_enc).abs() < 1e-9);
    // The training rows themselves are encoded from the other inner folds, so a row's own
    // target never reaches its encoding: row 3 (level 0) takes the smoothed mean of the
    // level-0 rows outside its inner fold, on the stored table's scale.
    let (e_t, t) = Encoder::fit_for_training(&set(&x, &y, &rows), CatEncoding::Target).unwrap();
    assert_eq!(e_t, e);
    let fold = crate::encode::inner_fold(3);
    let outside: Vec<usize> = (0..n_train)
        .filter(|&r| crate::encode::inner_fold(r) != fold)
        .collect();
    let prior_f = outside.iter().map(|&r| y[r]).sum::<f64>() / outside.len() as f64;
    let level0: Vec<usize> = outside.iter().copied().filter(|&r| codes[r] == 0).collect();
    let raw3 = (level0.iter().map(|&r| y[r]).sum::<f64>() + TARGET_SMOOTHING * prior_f)
        / (level0.len() as f64 + TARGET_SMOOTHING);
    let want = e1 + (e0 - e1) * (raw3 - r1) / (r0 - r1);
    let mut out = vec![0.0; 1];
    e.encode_row(&x, 3, &mut out);
    t.apply(3, &mut out);
    assert!((out[0] - want).abs() < 1e-9, "{} vs {want}", out[0]);
    assert!(level0.len() < 19 && !level0.contains(&3));
    // Rows the model is not fitted on keep the stored table's value.
    let mut out = vec![0.0; 1];
    e.encode_row(&x, n_train + 1, &mut out);
    t.apply(n_train + 1, &mut out);
    assert_eq!(out[0], value(&e, &x, n_train + 1));
}

#[test]
fn target_encoding_gives_a_share_per_class_and_ordinal_a_rank() {
    use crate::encode::{CatEncoding, LOOKUP_MIN_LEVELS};
    // Three classes, nine levels of 20 rows: level c is mostly class c % 3.
    let codes: Vec<u32> = (0..180).map(|i| (i % 9) as u32).collect();
    let y: Vec<f64> = (0..180)
        .map(|i| {
            let c = (i % 9) % 3;
            if i % 10 == 0 {
                ((c + 1) % 3) as f64
            } else {
                c as f64
            }
        })
        .collect();
    let x = features(vec![cat("k", &codes, 10)]);
    let e = Encoder::fit_with(&train(&x, &y, Task::Multiclass), CatEncoding::Target).unwrap();
    assert_eq!(e.names(), ["k__target_0", "k__target_1", "k__target_2"]);
    let mut row = vec![0.0; 3];
    e.encode_row(&x, 4, &mut row); // level 4: class 1
    assert!(row[1] > row[0] && row[1] > row[2], "{row:?}");
    // Ordinal: the code order, standardized; missing at the mean (0).
    let o = Encoder::fit_with(&train(&x, &y, Task::Multiclass), CatEncoding::Ordinal).unwrap();
    assert_eq!(o.names(), ["k__ordinal"]);
    let enc = |x: &Features, r: usize| {
        let mut out = vec![0.0; 1];
        o.encode_row(x, r, &mut out);
        out[0]
    };
    let (a, b, c) = (enc(&x, 3), enc(&x, 4), enc(&x, 5));
    assert!(a < b && b < c && ((b - a) - (c - b)).abs() < 1e-12 && b.abs() < 1e-12);
    let missing = features(vec![cat("k", &[MISSING_CODE], 10)]);
    assert!(enc(&missing, 0).abs() < 1e-12);
    // Fewer levels than LOOKUP_MIN_LEVELS stay one-hot.
    let few: Vec<u32> = codes.iter().map(|&c| c % 3).collect();
    let x3 = features(vec![cat("k", &few, 4)]);
    let e3 = Encoder::fit_with(&train(&x3, &y, Task::Multiclass), CatEncoding::Target).unwrap();
    assert!(LOOKUP_MIN_LEVELS > 3 && !e3.has_lookups() && e3.width() == 3);
    // The linear model classifies through the target encoding: 162 rows follow their level.
    let p = LinearParams {
        cat_encoding: CatEncoding::Target,
        ..LinearParams::default()
    };
    let m = fit_linear(&train(&x, &y, Task::Multiclass), &p).unwrap();
    let right = m
        .predict(&x)
        .classes()
        .iter()
        .zip(&y)
        .filter(|(c, y)| **c as f64 == **y)
        .count();
    assert_eq!(right, 162);
}

#[test]
fn sparse_and_dense_columns_give_the_same_model() {
    // Numeric features, one with missing values, and two categoricals whose one-hot levels
    // are sparse by default; fitted with every column dense, the default storage, and every
    // column sparse (implicitly centered), for each family, ridge and elastic net.
    let n = 400;
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let x1: Vec<f32> = (0..n).map(|_| (next() * 4.0 - 2.0) as f32).collect();
    let x2: Vec<f32> = (0..n)
        .map(|i| {
            if i % 11 == 3 {
                f32::NAN
            } else {
                (next() * 10.0 + 100.0) as f32
            }
        })
        .collect();
    let c1: Vec<u32> = (0..n).map(|_| (next() * 12.0) as u32).collect();
    let c2: Vec<u32> = (0..n).map(|_| (next() * next() * 30.0) as u32).collect();
    let x = features(vec![
        num("x1", &x1),
        num("x2", &x2),
        cat("c1", &c1, 12),
        cat("c2", &c2, 30),
    ]);
    let score = |i: usize| {
        f64::from(x1[i]) + 0.3 * f64::from(c1[i] % 4) - 0.2 * f64::from(c2[i] % 3) + next() - 0.5
    };
    let z: Vec<f64> = (0..n).map(score).collect();
    let targets = [
        (Task::Regression, z.clone()),
        (
            Task::Binary,
            z.iter().map(|&s| f64::from(u8::from(s > 0.3))).collect(),
        ),
        (
            Task::Multiclass,
            z.iter()
                .map(|&s| {
                    if s < -0.5 {
                        0.0
                    } else if s < 0.8 {
                        1.0
                    } else {
                        2.0
                    }
                })
                .collect(),
        ),
    ];
    for (task, y) in &targets {
        for (alpha, l1_ratio) in [(0.01, 0.0), (0.003, 0.5)] {
            let set = train(&x, y, *task);
            let p = params(alpha, l1_ratio);
            let fit = |share| fit_stored(&set, &p, None, share).unwrap();
            let dense = fit(usize::MAX);
            assert!(dense.converged, "{task:?}");
            for share in [SPARSE_SHARE, 1] {
                let other = fit(share);
                assert!(other.converged, "{task:?} {share}");
                // The same path in exact arithmetic, so about the same passes.
                assert!(
                    other.n_iter.abs_diff(dense.n_iter) <= 2,
                    "{task:?} {share}: {} vs {} passes",
                    other.n_iter,
                    dense.n_iter
                );
                assert_close(&other.coef, &dense.coef, 1e-7);
                assert_close(&other.intercept, &dense.intercept, 1e-7);
            }
        }
    }
}
