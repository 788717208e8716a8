//! Curves and tables computed once on all rows: ROC and precision-recall curves, the
//! reliability diagram and its expected calibration error, the threshold table with the
//! F1-optimal and cost-optimal thresholds, the confusion matrix, and the regression plots'
//! points.

use serde::Serialize;
use whet_data::Task;

use crate::eval::Scored;

/// Bins of the reliability diagram and of the ECE.
pub const CALIBRATION_BINS: usize = 10;
/// Curves keep at most this many points for plotting (the first and last are always kept).
const MAX_CURVE_POINTS: usize = 400;

/// The confidence a calibration bin is about: p(class 1) for binary, the top class's
/// probability for multiclass; and whether that event happened.
pub(crate) fn confidence_and_outcome(s: &Scored, i: usize) -> (f64, f64) {
    let r = s.pred.row(i);
    match s.task {
        Task::Binary => (r[0], s.y[i]),
        _ => {
            let top = s.pred_class[i];
            (r[top], f64::from(u8::from(s.y[i] as usize == top)))
        }
    }
}

pub(crate) fn calibration_bin(p: f64) -> usize {
    ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1)
}

/// Expected calibration error over [`CALIBRATION_BINS`] equal-width bins:
/// `Σ_b |Σ_{i∈b} wᵢ (outcomeᵢ − confidenceᵢ)| / Σ wᵢ`. NaN for regression or no weight.
pub fn ece(s: &Scored, w: Option<&[f64]>) -> f64 {
    if s.task == Task::Regression {
        return f64::NAN;
    }
    let mut gap = [0.0; CALIBRATION_BINS];
    let mut total = 0.0;
    for i in 0..s.n_rows() {
        let wi = w.map_or(1.0, |w| w[i]);
        if wi == 0.0 {
            continue;
        }
        let (c, o) = confidence_and_outcome(s, i);
        if c.is_nan() {
            return f64::NAN;
        }
        gap[calibration_bin(c)] += wi * (o - c);
        total += wi;
    }
    if total == 0.0 {
        return f64::NAN;
    }
    gap.iter().map(|g| g.abs()).sum::<f64>() / total
}

#[derive(Clone, Debug, Serialize)]
pub struct CalibrationBin {
    pub lo: f64,
    pub hi: f64,
    pub rows: u64,
    pub mean_predicted: f64,
    pub observed: f64,
}

pub fn calibration_bins(s: &Scored) -> Vec<CalibrationBin> {
    let mut acc = [(0u64, 0.0, 0.0); CALIBRATION_BINS];
    for i in 0..s.n_rows() {
        let (c, o) = confidence_and_outcome(s, i);
        if c.is_nan() {
            continue;
        }
        let b = &mut acc[calibration_bin(c)];
        b.0 += 1;
        b.1 += c;
        b.2 += o;
    }
    acc.iter()
        .enumerate()
        .map(|(b, &(n, c, o))| CalibrationBin {
            lo: b as f64 / CALIBRATION_BINS as f64,
            hi: (b + 1) as f64 / CALIBRATION_BINS as f64,
            rows: n,
            mean_predicted: if n > 0 { c / n as f64 } else { f64::NAN },
            observed: if n > 0 { o / n as f64 } else { f64::NAN },
        })
        .collect()
}

/// Counts at one threshold (rows with score ≥ threshold are called positive).
#[derive(Clone, Debug, Serialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub cost: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BinaryCurves {
    /// (false positive rate, true positive rate), from (0, 0) to (1, 1).
    pub roc: Vec<(f64, f64)>,
    /// (recall, precision), from the highest threshold down.
    pub pr: Vec<(f64, f64)>,
    /// Share of positive rows: the precision of a random ranking.
    pub prevalence: f64,
    /// Fixed thresholds 0.1 … 0.9 plus the chosen and optimal ones, ascending.
    pub table: Vec<ThresholdRow>,
    pub f1_optimal: ThresholdRow,
    pub cost_optimal: ThresholdRow,
    pub cost_fp: f64,
    pub cost_fn: f64,
}

fn row_at(
    threshold: f64,
    tp: u64,
    fp: u64,
    pos: u64,
    neg: u64,
    cost_fp: f64,
    cost_fn: f64,
) -> ThresholdRow {
    let fn_ = pos - tp;
    let precision = if tp + fp > 0 {
        tp as f64 / (tp + fp) as f64
    } else {
        f64::NAN
    };
    let recall = if pos > 0 {
        tp as f64 / pos as f64
    } else {
        f64::NAN
    };
    let f1 = if 2 * tp + fp + fn_ > 0 {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    } else {
        f64::NAN
    };
    ThresholdRow {
        threshold,
        tp,
        fp,
        tn: neg - fp,
        fn_,
        precision,
        recall,
        f1,
        cost: cost_fp * fp as f64 + cost_fn * fn_ as f64,
    }
}

fn thin<T: Copy>(points: Vec<T>) -> Vec<T> {
    if points.len() <= MAX_CURVE_POINTS {
        return points;
    }
    let step = points.len() as f64 / (MAX_CURVE_POINTS - 1) as f64;
    let mut out: Vec<T> = (0..MAX_CURVE_POINTS - 1)
        .map(|i| points[(i as f64 * step) as usize])
        .collect();
    if let Some(&last) = points.last() {
        out.push(last);
    }
    out
}

/// ROC and PR curves and the threshold table of a binary model. `threshold` is the one the
/// review uses; `cost_fp`/`cost_fn` price a false positive and a false negative.
pub fn binary_curves(s: &Scored, threshold: f64, cost_fp: f64, cost_fn: f64) -> BinaryCurves {
    let mut rows: Vec<(f64, bool)> = (0..s.n_rows())
        .map(|i| (s.pred.values[i], s.y[i] == 1.0))
        .collect();
    rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let pos = rows.iter().filter(|r| r.1).count() as u64;
    let neg = rows.len() as u64 - pos;
    // Every distinct score is a candidate threshold: (score, tp, fp) counting rows ≥ score.
    let mut steps: Vec<(f64, u64, u64)> = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (i, &(score, positive)) in rows.iter().enumerate() {
        if positive {
            tp += 1;
        } else {
            fp += 1;
        }
        if rows.get(i + 1).is_none_or(|n| n.0 != score) {
            steps.push((score, tp, fp));
        }
    }
    let rate = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    let mut roc = vec![(0.0, 0.0)];
    roc.extend(
        steps
            .iter()
            .map(|&(_, tp, fp)| (rate(fp, neg), rate(tp, pos))),
    );
    // The curve starts at recall 0 with the precision of the highest threshold, as drawn by
    // scikit-learn's PrecisionRecallDisplay.
    let mut pr: Vec<(f64, f64)> = steps
        .first()
        .map(|&(_, tp, fp)| (0.0, rate(tp, tp + fp)))
        .into_iter()
        .collect();
    pr.extend(
        steps
            .iter()
            .map(|&(_, tp, fp)| (rate(tp, pos), rate(tp, tp + fp))),
    );
    // Calling nothing positive is a candidate too (threshold above every score).
    let none = row_at(1.0 + f64::EPSILON, 0, 0, pos, neg, cost_fp, cost_fn);
    let candidates = steps
        .iter()
        .map(|&(t, tp, fp)| row_at(t, tp, fp, pos, neg, cost_fp, cost_fn));
    let mut f1_optimal = none.clone();
    let mut cost_optimal = none.clone();
    for r in candidates {
        if r.f1 > f1_optimal.f1 || f1_optimal.f1.is_nan() && !r.f1.is_nan() {
            f1_optimal = r.clone();
        }
        if r.cost < cost_optimal.cost {
            cost_optimal = r;
        }
    }
    let at = |t: f64| {
        // Rows with score ≥ t: the last step whose score is ≥ t.
        let k = steps.partition_point(|s| s.0 >= t);
        match k {
            0 => row_at(t, 0, 0, pos, neg, cost_fp, cost_fn),
            k => row_at(
                t,
                steps[k - 1].1,
                steps[k - 1].2,
                pos,
                neg,
                cost_fp,
                cost_fn,
            ),
        }
    };
    let mut thresholds: Vec<f64> = (1..10).map(|i| i as f64 / 10.0).collect();
    thresholds.push(threshold);
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let table = thresholds.into_iter().map(at).collect();
    BinaryCurves {
        roc: thin(roc),
        pr: thin(pr),
        prevalence: rate(pos, pos + neg),
        table,
        f1_optimal,
        cost_optimal,
        cost_fp,
        cost_fn,
    }
}

/// Rows by (true class, predicted class).
pub fn confusion_matrix(s: &Scored) -> Vec<Vec<u64>> {
    let k = s.n_classes();
    let mut m = vec![vec![0u64; k]; k];
    for (i, &p) in s.pred_class.iter().enumerate() {
        let t = s.y[i] as usize;
        if t < k && p < k {
            m[t][p] += 1;
        }
    }
    m
}

#[derive(Clone, Debug, Serialize)]
pub struct RegressionPlots {
    /// (predicted, actual) for at most 2,000 evenly spaced rows.
    pub points: Vec<(f64, f64)>,
    /// Residual (actual − predicted) histogram: bin edges and counts.
    pub residual_edges: Vec<f64>,
    pub residual_counts: Vec<u64>,
    pub residual_mean: f64,
    pub residual_std: f64,
}

pub fn regression_plots(s: &Scored) -> RegressionPlots {
    let n = s.n_rows();
    let step = (n / 2000).max(1);
    let points = (0..n)
        .step_by(step)
        .map(|i| (s.pred.values[i], s.y[i]))
        .collect();
    let res: Vec<f64> = (0..n)
        .map(|i| s.y[i] - s.pred.values[i])
        .filter(|r| r.is_finite())
        .collect();
    let mean = res.iter().sum::<f64>() / res.len().max(1) as f64;
    let var = res.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
        / res.len().max(2).saturating_sub(1) as f64;
    // Bins over the 0.5%–99.5% range so a few huge residuals do not flatten the histogram;
    // the outer bins collect the rest.
    let mut sorted = res.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let lo = crate::stats::quantile_sorted(&sorted, 0.005);
    let hi = crate::stats::quantile_sorted(&sorted, 0.995);
    let bins = 30;
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let edges: Vec<f64> = (0..=bins)
        .map(|b| lo + (hi - lo) * b as f64 / bins as f64)
        .collect();
    let mut counts = vec![0u64; bins];
    for r in &res {
        let b = (((r - lo) / (hi - lo)) * bins as f64).floor();
        counts[(b.max(0.0) as usize).min(bins - 1)] += 1;
    }
    RegressionPlots {
        points,
        residual_edges: if res.is_empty() { Vec::new() } else { edges },
        residual_counts: if res.is_empty() { Vec::new() } else { counts },
        residual_mean: mean,
        residual_std: var.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_learn::Predictions;

    fn binary(y: &[f64], p: &[f64]) -> Scored {
        Scored::new(
            Task::Binary,
            vec!["0".into(), "1".into()],
            y.to_vec(),
            Predictions {
                n_rows: y.len(),
                n_outputs: 1,
                values: p.to_vec(),
            },
            0.5,
        )
    }

    #[test]
    fn roc_pr_and_thresholds_of_a_hand_case() {
        // Scores descending: 0.9(1) 0.8(0) 0.7(1) 0.3(0) 0.2(1) 0.1(0)
        let s = binary(
            &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            &[0.9, 0.8, 0.7, 0.3, 0.2, 0.1],
        );
        let c = binary_curves(&s, 0.5, 1.0, 5.0);
        let third = 1.0 / 3.0;
        let want_roc = [
            (0.0, 0.0),
            (0.0, third),
            (third, third),
            (third, 2.0 * third),
            (2.0 * third, 2.0 * third),
            (2.0 * third, 1.0),
            (1.0, 1.0),
        ];
        for (g, w) in c.roc.iter().zip(want_roc) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-12,
                "{g:?} vs {w:?}"
            );
        }
        // F1 by threshold: 0.9 → 0.5, 0.7 → 0.667, 0.2 → 0.75 (tp 3, fp 2), 0.1 → 0.667.
        assert_eq!(c.f1_optimal.threshold, 0.2);
        assert!((c.f1_optimal.f1 - 0.75).abs() < 1e-12);
        // A missed positive costs 5: calling everything ≥ 0.2 positive (fp 2, fn 0) costs 2.
        assert_eq!(c.cost_optimal.threshold, 0.2);
        assert_eq!(c.cost_optimal.cost, 2.0);
        let at_half = c.table.iter().find(|r| r.threshold == 0.5).unwrap();
        assert_eq!(
            (at_half.tp, at_half.fp, at_half.tn, at_half.fn_),
            (2, 1, 2, 1)
        );
    }

    #[test]
    fn ece_of_a_hand_case() {
        // Bin [0.8, 0.9): p 0.8, 0.8 with outcomes 1, 0 → gap |1 − 1.6| = 0.6.
        // Bin [0.2, 0.3): p 0.2, 0.2 with outcomes 0, 0 → gap 0.4. ECE = 1.0 / 4.
        let s = binary(&[1.0, 0.0, 0.0, 0.0], &[0.8, 0.8, 0.2, 0.2]);
        assert!((ece(&s, None) - 0.25).abs() < 1e-12);
        // Weight 0 on the second row: bin gaps 0.2 and 0.4 over total weight 3.
        assert!((ece(&s, Some(&[1.0, 0.0, 1.0, 1.0])) - 0.2).abs() < 1e-12);
        let bins = calibration_bins(&s);
        assert_eq!(bins[8].rows, 2);
        assert!((bins[8].observed - 0.5).abs() < 1e-12);
    }
}
