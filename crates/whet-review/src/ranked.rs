//! Every binary metric of a bootstrap resample in one pass over the rows in score order.
//!
//! In descending score order the rows called positive at the threshold are a prefix, and so
//! is every calibration bin's range (the bins are equal-width ranges of p(1)), so the
//! confusion counts and the per-bin calibration gaps are running sums read at a few cut
//! positions, and ROC AUC and average precision integrate the same running sums at the end
//! of each run of tied scores. The pass is branch-free (a third of the rows are not drawn,
//! at random, which a branch would mispredict), the class counts are exact integers, and the
//! floating-point sums use two independent partial sums so consecutive rows do not wait on
//! each other.

use crate::curves::{CALIBRATION_BINS, calibration_bin};

/// The rows of a binary task in descending score order, with each row's share of every
/// metric.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ranked {
    /// The data row at each position.
    pub row: Vec<u32>,
    /// 1 for a positive, 0 for a negative.
    y: Vec<u8>,
    /// The log-loss term, the Brier term and outcome − p(1), per position.
    loss: Vec<f64>,
    brier: Vec<f64>,
    gap: Vec<f64>,
    /// 1 where the next position has another score (a threshold ends there), else 0.
    tie_end: Vec<u8>,
    /// Positions where a segment ends: the threshold cut and the calibration bins' edges,
    /// ascending, the last being the row count.
    cuts: Vec<usize>,
    /// The first position called negative (p(1) < threshold).
    threshold_cut: usize,
    /// Per calibration bin, its segment of positions `[start, end)`.
    bin_range: [(usize, usize); CALIBRATION_BINS],
}

/// The binary metrics of one resample, in `Scored::metric_defs` order.
pub(crate) type BinaryValues = [f64; 9];

impl Ranked {
    /// `order` lists the rows by descending score; `y` (0/1) and `p` (p(1)) are in data order.
    pub fn new(order: &[u32], y: &[f64], p: &[f64], threshold: f64) -> Ranked {
        let eps = f64::EPSILON;
        let n = order.len();
        let ys: Vec<u8> = order
            .iter()
            .map(|&r| u8::from(y[r as usize] == 1.0))
            .collect();
        let ps: Vec<f64> = order.iter().map(|&r| p[r as usize]).collect();
        let loss = ys
            .iter()
            .zip(&ps)
            .map(|(&y, &p)| {
                let q = if y == 1 { p } else { 1.0 - p };
                -q.clamp(eps, 1.0 - eps).ln()
            })
            .collect();
        let brier = ys
            .iter()
            .zip(&ps)
            .map(|(&y, &p)| (p - f64::from(y)).powi(2))
            .collect();
        let gap = ys
            .iter()
            .zip(&ps)
            .map(|(&y, &p)| f64::from(y) - p)
            .collect();
        let tie_end = (0..n)
            .map(|i| u8::from(ps.get(i + 1).is_none_or(|&next| next != ps[i])))
            .collect();
        let threshold_cut = ps.partition_point(|&v| v >= threshold);
        // Descending scores: bin 9 comes first; bin b ends where the bins below it start.
        let mut bin_range = [(0, 0); CALIBRATION_BINS];
        for (b, range) in bin_range.iter_mut().enumerate() {
            let start = ps.partition_point(|&v| calibration_bin(v) > b);
            let end = ps.partition_point(|&v| calibration_bin(v) >= b);
            *range = (start, end);
        }
        let mut cuts: Vec<usize> = bin_range
            .iter()
            .flat_map(|&(s, e)| [s, e])
            .chain([threshold_cut, n])
            .filter(|&c| c > 0)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Ranked {
            row: order.to_vec(),
            y: ys,
            loss,
            brier,
            gap,
            tie_end,
            cuts,
            threshold_cut,
            bin_range,
        }
    }

    /// ROC AUC, average precision, log loss, Brier, accuracy, precision, recall, F1 and ECE
    /// of the resample whose row counts (data row order) are `counts`.
    pub fn values(&self, counts: &[u8]) -> BinaryValues {
        let mut acc = Acc::default();
        // Running sums at each cut: (position, tp, fp, gap sum).
        let mut at_cut: Vec<(usize, u64, u64, f64)> = Vec::with_capacity(self.cuts.len() + 1);
        at_cut.push((0, 0, 0, 0.0));
        let mut start = 0;
        for &end in &self.cuts {
            self.segment(counts, start, end, &mut acc);
            at_cut.push((end, acc.tp, acc.fp, acc.gap.iter().sum()));
            start = end;
        }
        let sum_at = |pos: usize| {
            at_cut
                .iter()
                .find(|c| c.0 == pos)
                .map_or((0, 0, 0.0), |c| (c.1, c.2, c.3))
        };
        let (tp_total, fp_total) = (acc.tp, acc.fp);
        let weight = (tp_total + fp_total) as f64;
        if weight == 0.0 {
            return [f64::NAN; 9];
        }
        let (tp, fp, _) = sum_at(self.threshold_cut);
        let (tp, fp) = (tp as f64, fp as f64);
        let fn_ = tp_total as f64 - tp;
        let tn = fp_total as f64 - fp;
        let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
        let ece = self
            .bin_range
            .iter()
            .map(|&(s, e)| (sum_at(e).2 - sum_at(s).2).abs())
            .sum::<f64>()
            / weight;
        let (auc, ap) = if tp_total == 0 {
            (f64::NAN, f64::NAN)
        } else {
            let auc = if fp_total > 0 {
                acc.area as f64 * 0.5 / (tp_total as f64 * fp_total as f64)
            } else {
                f64::NAN
            };
            let ap = acc.ap.iter().sum::<f64>() / tp_total as f64;
            (auc, ap.max(0.0))
        };
        [
            auc,
            ap,
            acc.loss.iter().sum::<f64>() / weight,
            acc.brier.iter().sum::<f64>() / weight,
            (tp + tn) / weight,
            ratio(tp, tp + fp),
            ratio(tp, tp + fn_),
            ratio(2.0 * tp, 2.0 * tp + fp + fn_),
            ece,
        ]
    }

    fn segment(&self, counts: &[u8], start: usize, end: usize, acc: &mut Acc) {
        // Integer running sums (exact, one-cycle adds) and two partial sums of each float
        // sum in registers, so consecutive rows do not wait on each other's additions.
        let (mut tp, mut fp) = (acc.tp as i64, acc.fp as i64);
        let (mut tp_prev, mut fp_prev) = (acc.tp_prev as i64, acc.fp_prev as i64);
        let mut area = acc.area as i64;
        let (mut loss, mut brier, mut gap, mut ap) = (acc.loss, acc.brier, acc.gap, acc.ap);
        let row = &self.row[start..end];
        let y = &self.y[start..end];
        let tie_end = &self.tie_end[start..end];
        let (l, b, g) = (
            &self.loss[start..end],
            &self.brier[start..end],
            &self.gap[start..end],
        );
        // A macro, not a closure: the four calls per step must be inlined into the loop.
        macro_rules! step {
            ($i:expr, $lane:expr) => {{
                let (i, lane): (usize, usize) = ($i, $lane);
                let c = i64::from(counts[row[i] as usize]);
                let pos = i64::from(y[i]);
                tp += c * pos;
                fp += c - c * pos;
                let w = c as f64;
                loss[lane] += w * l[i];
                brier[lane] += w * b[i];
                gap[lane] += w * g[i];
                // At a run's end: the trapezoid under the ROC curve (twice its area, exactly)
                // and the precision at this threshold times the recall gained; 0 elsewhere.
                let end = i64::from(tie_end[i]);
                area += end * (fp - fp_prev) * (tp + tp_prev);
                let drawn = (tp + fp).max(1) as f64;
                ap[lane] += (end * (tp - tp_prev)) as f64 * (tp as f64 / drawn);
                let keep = end - 1; // all ones inside a run, 0 at its end
                tp_prev = (tp_prev & keep) | (tp & !keep);
                fp_prev = (fp_prev & keep) | (fp & !keep);
            }};
        }
        let n = row.len();
        let mut i = 0;
        while i + 4 <= n {
            step!(i, 0);
            step!(i + 1, 1);
            step!(i + 2, 0);
            step!(i + 3, 1);
            i += 4;
        }
        while i < n {
            step!(i, 0);
            i += 1;
        }
        (acc.tp, acc.fp, acc.tp_prev, acc.fp_prev, acc.area) = (
            tp as u64,
            fp as u64,
            tp_prev as u64,
            fp_prev as u64,
            area as u64,
        );
        (acc.loss, acc.brier, acc.gap, acc.ap) = (loss, brier, gap, ap);
    }
}

#[derive(Default)]
struct Acc {
    tp: u64,
    fp: u64,
    tp_prev: u64,
    fp_prev: u64,
    area: u64,
    ap: [f64; 2],
    loss: [f64; 2],
    brier: [f64; 2],
    gap: [f64; 2],
}
