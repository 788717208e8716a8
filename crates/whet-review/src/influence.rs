//! Normal intervals from each row's influence on a metric (the nonparametric delta method,
//! also called the infinitesimal jackknife), for slices with many rows.
//!
//! A metric is a function of the rows' weights; its influence values are the derivatives
//! `gᵢ = ∂metric/∂wᵢ` at weight 1, and its standard error is `√Σ (gᵢ − ḡ)²`: the first-order
//! spread of the metric over bootstrap resamples, computed in one pass instead of a thousand.
//! For ROC AUC the influence values are DeLong's structural components, so the interval is
//! DeLong's. Average precision and the ECE have no smooth influence (they are not
//! differentiable sums): those slices keep the bootstrap.

use whet_data::Task;

use crate::bootstrap::Estimate;
use crate::eval::Scored;
use crate::stats::normal_quantile;

/// Slices with at least this many rows get the normal interval of [`influence`]; smaller
/// slices the percentile bootstrap. At this size the two agree to a few percent of the
/// interval's width (`tests::influence_intervals_match_the_bootstrap`), and the bootstrap of
/// many large slices was most of a large review's time.
pub const MIN_ROWS: usize = 5000;

/// The metric `name` on the rows `rows` of `s`, with each row's influence (in the order of
/// `rows`). `rows` of a binary task must be in descending score order when `name` is
/// `roc_auc` (see `Scored::score_order`). None when the metric has no influence here or is
/// undefined on these rows.
pub fn influence(s: &Scored, name: &str, rows: &[u32]) -> Option<(f64, Vec<f64>)> {
    let n = rows.len();
    if n == 0 || !s.labels_valid() {
        return None;
    }
    let w = n as f64;
    let y = |i: usize| s.y[rows[i] as usize];
    let p = |i: usize| s.pred.values[rows[i] as usize];
    let pc = |i: usize| s.pred_class[rows[i] as usize];
    let eps = f64::EPSILON;
    let mean = |t: &dyn Fn(usize) -> f64| {
        let terms: Vec<f64> = (0..n).map(t).collect();
        let m = terms.iter().sum::<f64>() / w;
        let g = terms.iter().map(|t| (t - m) / w).collect();
        Some((m, g))
    };
    // a/b with a = Σ αᵢ and b = Σ βᵢ: gᵢ = (αᵢ − r βᵢ) / b.
    let ratio = |alpha: &dyn Fn(usize) -> f64, beta: &dyn Fn(usize) -> f64| {
        let (a, b): (Vec<f64>, Vec<f64>) = (0..n).map(|i| (alpha(i), beta(i))).unzip();
        let (sa, sb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
        if sb == 0.0 {
            return None;
        }
        let r = sa / sb;
        Some((r, a.iter().zip(&b).map(|(a, b)| (a - r * b) / sb).collect()))
    };
    let ind = |b: bool| f64::from(u8::from(b));
    match (s.task, name) {
        (Task::Binary, "roc_auc") => roc_auc(
            &(0..n).map(y).collect::<Vec<_>>(),
            &(0..n).map(p).collect::<Vec<_>>(),
        ),
        (Task::Binary, "log_loss") => mean(&|i| {
            let q = if y(i) == 1.0 { p(i) } else { 1.0 - p(i) };
            -q.clamp(eps, 1.0 - eps).ln()
        }),
        (Task::Multiclass, "log_loss") => mean(&|i| {
            let k = s.pred.n_outputs;
            -s.pred.values[rows[i] as usize * k + y(i) as usize]
                .clamp(eps, 1.0 - eps)
                .ln()
        }),
        (Task::Binary, "brier") => mean(&|i| (p(i) - y(i)).powi(2)),
        (Task::Binary | Task::Multiclass, "accuracy") => mean(&|i| ind(pc(i) as f64 == y(i))),
        (Task::Binary, "precision") => {
            ratio(&|i| ind(pc(i) == 1 && y(i) == 1.0), &|i| ind(pc(i) == 1))
        }
        (Task::Binary, "recall") => {
            ratio(&|i| ind(pc(i) == 1 && y(i) == 1.0), &|i| ind(y(i) == 1.0))
        }
        (Task::Binary, "f1") => f1_of_class(n, 1, &y, &pc),
        (Task::Multiclass, "f1_macro") => {
            let parts: Vec<(f64, Vec<f64>)> = (0..s.classes.len())
                .filter_map(|c| f1_of_class(n, c, &y, &pc))
                .collect();
            if parts.is_empty() {
                return None;
            }
            let k = parts.len() as f64;
            let value = parts.iter().map(|p| p.0).sum::<f64>() / k;
            let g = (0..n)
                .map(|i| parts.iter().map(|p| p.1[i]).sum::<f64>() / k)
                .collect();
            Some((value, g))
        }
        (Task::Multiclass, "f1_weighted") => {
            // Σ_c support_c·F1_c / n: a row moves its own class's support and every F1.
            let k = s.classes.len();
            let parts: Vec<Option<(f64, Vec<f64>)>> =
                (0..k).map(|c| f1_of_class(n, c, &y, &pc)).collect();
            let support: Vec<f64> = (0..k)
                .map(|c| (0..n).filter(|&i| y(i) as usize == c).count() as f64)
                .collect();
            let f1 = |c: usize| parts[c].as_ref().map_or(0.0, |p| p.0);
            let value = (0..k).map(|c| support[c] * f1(c)).sum::<f64>() / w;
            let g = (0..n)
                .map(|i| {
                    let through_f1: f64 = parts
                        .iter()
                        .enumerate()
                        .filter_map(|(c, p)| p.as_ref().map(|p| support[c] * p.1[i]))
                        .sum();
                    (f1(y(i) as usize) + through_f1 - value) / w
                })
                .collect();
            Some((value, g))
        }
        (Task::Multiclass, m) => {
            let (what, class) = m.strip_suffix(']')?.split_once('[')?;
            let c = s.classes.iter().position(|k| k == class)?;
            match what {
                "precision" => ratio(&|i| ind(pc(i) == c && y(i) as usize == c), &|i| {
                    ind(pc(i) == c)
                }),
                "recall" => ratio(&|i| ind(pc(i) == c && y(i) as usize == c), &|i| {
                    ind(y(i) as usize == c)
                }),
                "f1" => f1_of_class(n, c, &y, &pc),
                _ => None,
            }
        }
        (Task::Regression, "rmse") => {
            let (mse, g) = mean(&|i| (p(i) - y(i)).powi(2))?;
            let rmse = mse.sqrt();
            if rmse == 0.0 {
                return None;
            }
            Some((rmse, g.into_iter().map(|g| g / (2.0 * rmse)).collect()))
        }
        (Task::Regression, "mae") => mean(&|i| (p(i) - y(i)).abs()),
        (Task::Regression, "mape") => mean(&|i| (p(i) - y(i)).abs() / y(i).abs().max(eps)),
        (Task::Regression, "r2") => {
            // 1 − SSE/SST; the mean of y moves too, but SST is minimal in it, so only the
            // row's own squared deviation counts.
            let ybar = (0..n).map(y).sum::<f64>() / w;
            let e2: Vec<f64> = (0..n).map(|i| (p(i) - y(i)).powi(2)).collect();
            let d2: Vec<f64> = (0..n).map(|i| (y(i) - ybar).powi(2)).collect();
            let (sse, sst) = (e2.iter().sum::<f64>(), d2.iter().sum::<f64>());
            if sst <= 0.0 {
                return None;
            }
            let g = e2
                .iter()
                .zip(&d2)
                .map(|(e2, d2)| -(e2 / sst - sse * d2 / (sst * sst)))
                .collect();
            Some((1.0 - sse / sst, g))
        }
        _ => None,
    }
}

/// F1 of class `c` = Σ 2tpᵢ / Σ (predictedᵢ + actualᵢ), as a ratio of sums.
fn f1_of_class(
    n: usize,
    c: usize,
    y: &dyn Fn(usize) -> f64,
    pc: &dyn Fn(usize) -> usize,
) -> Option<(f64, Vec<f64>)> {
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let (actual, predicted) = (y(i) as usize == c, pc(i) == c);
        a.push(2.0 * f64::from(u8::from(actual && predicted)));
        b.push(f64::from(u8::from(actual)) + f64::from(u8::from(predicted)));
    }
    let (sa, sb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if sb == 0.0 {
        return None;
    }
    let r = sa / sb;
    Some((r, a.iter().zip(&b).map(|(a, b)| (a - r * b) / sb).collect()))
}

/// ROC AUC and its influence values from scores in descending order (ties allowed): a
/// positive's is (the share of negatives it outranks, ties half − AUC) / positives, a
/// negative's likewise with the positives that outrank it.
fn roc_auc(y: &[f64], p: &[f64]) -> Option<(f64, Vec<f64>)> {
    let n = y.len();
    if !p.is_sorted_by(|a, b| a >= b) {
        return None;
    }
    let pos_total = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let neg_total = n as f64 - pos_total;
    if pos_total == 0.0 || neg_total == 0.0 {
        return None;
    }
    // share[i]: for a positive, negatives below it (+ half the tied); for a negative,
    // positives above it (+ half the tied).
    let mut share = vec![0.0; n];
    let (mut pos_above, mut i) = (0.0, 0);
    let mut neg_above = 0.0;
    while i < n {
        let mut j = i;
        while j < n && p[j] == p[i] {
            j += 1;
        }
        let pos_here = y[i..j].iter().filter(|&&v| v == 1.0).count() as f64;
        let neg_here = (j - i) as f64 - pos_here;
        let neg_below = neg_total - neg_above - neg_here;
        for k in i..j {
            share[k] = if y[k] == 1.0 {
                (neg_below + 0.5 * neg_here) / neg_total
            } else {
                (pos_above + 0.5 * pos_here) / pos_total
            };
        }
        pos_above += pos_here;
        neg_above += neg_here;
        i = j;
    }
    let auc = y
        .iter()
        .zip(&share)
        .filter(|(y, _)| **y == 1.0)
        .map(|(_, s)| s)
        .sum::<f64>()
        / pos_total;
    let g = y
        .iter()
        .zip(&share)
        .map(|(&y, &s)| {
            if y == 1.0 {
                (s - auc) / pos_total
            } else {
                (s - auc) / neg_total
            }
        })
        .collect();
    Some((auc, g))
}

/// The standard error of a metric with influence values `g` on the rows `rows` of `s`:
/// centred within each class for classification, as the bootstrap is stratified by class.
pub fn standard_error(s: &Scored, rows: &[u32], g: &[f64]) -> f64 {
    let k = if s.task == Task::Regression {
        1
    } else {
        s.n_classes()
    };
    let group = |i: usize| {
        if k == 1 {
            0
        } else {
            (s.y[rows[i] as usize] as usize).min(k - 1)
        }
    };
    let (mut sum, mut count) = (vec![0.0; k], vec![0.0; k]);
    for (i, x) in g.iter().enumerate() {
        sum[group(i)] += x;
        count[group(i)] += 1.0;
    }
    g.iter()
        .enumerate()
        .map(|(i, x)| (x - sum[group(i)] / count[group(i)]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `value ± z·se` at `confidence`.
pub fn normal_interval(value: f64, se: f64, confidence: f64) -> Estimate {
    if !value.is_finite() || !se.is_finite() {
        return Estimate::point(value);
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    Estimate {
        value,
        lo: value - z * se,
        hi: value + z * se,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::{BootstrapSpec, Strata, replicate};
    use whet_data::rng::Rng;
    use whet_learn::Predictions;

    fn case(task: Task, n: usize, seed: u64) -> Scored {
        let mut rng = Rng::new(seed);
        let k = if task == Task::Multiclass { 3 } else { 2 };
        let classes: Vec<String> = match task {
            Task::Regression => vec![],
            _ => (0..k).map(|c| format!("c{c}")).collect(),
        };
        let mut y = Vec::with_capacity(n);
        let mut values = Vec::new();
        for _ in 0..n {
            let signal = rng.next_f64();
            match task {
                Task::Regression => {
                    let t = 1.0 + 10.0 * signal;
                    y.push(t);
                    values.push(t + 2.0 * (rng.next_f64() - 0.5));
                }
                Task::Binary => {
                    y.push(f64::from(u8::from(rng.next_f64() < signal)));
                    // Two decimals: many tied scores.
                    values.push(
                        ((0.2 + 0.6 * signal + 0.2 * (rng.next_f64() - 0.5)) * 100.0).round()
                            / 100.0,
                    );
                }
                Task::Multiclass => {
                    let c = ((signal * 3.0) as usize).min(2);
                    let c = if rng.next_f64() < 0.3 {
                        rng.below(3) as usize
                    } else {
                        c
                    };
                    y.push(c as f64);
                    let raw: Vec<f64> = (0..k)
                        .map(|j| rng.next_f64() + if j == c { 0.7 } else { 0.0 })
                        .collect();
                    let total: f64 = raw.iter().sum();
                    values.extend(raw.iter().map(|v| v / total));
                }
            }
        }
        Scored::new(
            task,
            classes,
            y,
            Predictions {
                n_rows: n,
                n_outputs: values.len() / n,
                values,
            },
            0.5,
        )
    }

    fn names(s: &Scored) -> Vec<String> {
        s.metric_defs()
            .into_iter()
            .map(|d| d.name)
            .filter(|n| n != "pr_auc" && n != "ece")
            .collect()
    }

    /// Each influence value is the derivative of the metric's definition
    /// (`whet_learn::metrics` through `Scored::values`) in that row's weight, and the value is
    /// the metric on those rows.
    #[test]
    fn influence_is_the_derivative_of_the_metric_definition() {
        for task in [Task::Binary, Task::Multiclass, Task::Regression] {
            let s = case(task, 300, 7);
            let all: Vec<u32> = match task {
                Task::Binary => s.score_order().to_vec(),
                _ => (0..300).collect(),
            };
            // A slice: every third row, kept in the order above.
            let rows: Vec<u32> = all.iter().copied().filter(|r| r % 3 != 1).collect();
            let sub = s.subset(&rows);
            for name in names(&s) {
                let (value, g) = influence(&s, &name, &rows)
                    .unwrap_or_else(|| panic!("{task:?} {name}: no influence"));
                let want = sub.value_of(&name).unwrap_or(f64::NAN);
                assert!(
                    (value - want).abs() < 1e-12,
                    "{task:?} {name}: {value} vs {want}"
                );
                let k = sub.metric_index(&name).unwrap_or(0);
                let h = 1e-6;
                for i in [0, 17, 101, rows.len() - 1] {
                    let mut w = vec![1.0; rows.len()];
                    w[i] = 1.0 + h;
                    let up = sub.values(Some(&w))[k];
                    w[i] = 1.0 - h;
                    let down = sub.values(Some(&w))[k];
                    let numeric = (up - down) / (2.0 * h);
                    assert!(
                        (numeric - g[i]).abs() < 1e-6 * numeric.abs().max(1e-3),
                        "{task:?} {name} row {i}: influence {} vs numeric {numeric}",
                        g[i]
                    );
                }
            }
        }
    }

    /// On a slice of a few thousand rows the influence standard error is the bootstrap's
    /// spread, metric by metric, and ROC AUC's is DeLong's.
    #[test]
    fn influence_intervals_match_the_bootstrap() {
        let spec = BootstrapSpec {
            resamples: 400,
            seed: 5,
            confidence: 0.95,
            ..Default::default()
        };
        for task in [Task::Binary, Task::Multiclass, Task::Regression] {
            let s = case(task, 3000, 11);
            let rows: Vec<u32> = match task {
                Task::Binary => s.score_order().to_vec(),
                _ => (0..3000).collect(),
            };
            let strata = Strata::by_class(&s.y, s.n_classes());
            let defs = s.metric_defs();
            let reps = replicate(&strata, &spec, defs.len(), |c| s.resample_values(c));
            for name in names(&s) {
                let (_, g) = influence(&s, &name, &rows).unwrap_or_else(|| panic!("{name}"));
                let se = standard_error(&s, &rows, &g);
                let k = s.metric_index(&name).unwrap_or(0);
                let r = &reps[k];
                let m = r.iter().sum::<f64>() / r.len() as f64;
                let sd =
                    (r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
                assert!(
                    (0.85..1.15).contains(&(se / sd)),
                    "{task:?} {name}: influence se {se} vs bootstrap sd {sd}"
                );
            }
            if task == Task::Binary {
                let (_, g) = influence(&s, "roc_auc", &rows).unwrap_or_default();
                let (_, _, var, _, _) =
                    crate::paired::delong(&s.y, &s.pred.values, &s.pred.values).unwrap_or_default();
                let se = standard_error(&s, &rows, &g);
                // DeLong divides by m − 1 and n − 1 where the influence divides by m and n.
                assert!((se * se / var - 1.0).abs() < 2e-3, "{} vs {var}", se * se);
            }
        }
    }
}
