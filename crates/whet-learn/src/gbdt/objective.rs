//! Objectives: initial scores, gradients and hessians, and losses for boosting, plus the class
//! priors, probabilities and log loss of class-share forests.

use rayon::prelude::*;

use super::params::Objective;
use super::{K_EPSILON, LOSS_CHUNK_ROWS};
use crate::data::{Rows, TrainSet};

/// Each row's weight. Unit weights are not stored: at 10M rows a vector of ones would take
/// 80 MB, as much as the gradients. A product with 1.0 is exact, so both forms fit the same
/// model.
#[derive(Clone, Copy, Debug)]
pub(super) enum Weights<'a> {
    Unit,
    Rows(&'a [f64]),
}

impl Weights<'_> {
    #[inline]
    pub(super) fn of(self, row: usize) -> f64 {
        match self {
            Weights::Unit => 1.0,
            Weights::Rows(w) => w[row],
        }
    }
}

/// Gradient and hessian of the objective at `score` for each row of `rows`.
pub(super) struct ObjectiveState {
    pub(super) objective: Objective,
    pub(super) n_outputs: usize,
    pub(super) huber_delta: f64,
    pub(super) poisson_max_delta_step: f64,
}

impl ObjectiveState {
    pub(super) fn init_score(&self, data: &TrainSet, weights: Weights) -> Vec<f64> {
        let n = data.n_rows();
        let mut sw = 0.0;
        let mut swy = 0.0;
        for i in 0..n {
            let r = data.row(i);
            sw += weights.of(r);
            swy += weights.of(r) * data.y[r];
        }
        let mean = if sw > 0.0 { swy / sw } else { 0.0 };
        match self.objective {
            Objective::Binary => {
                let p = mean.clamp(1e-15, 1.0 - 1e-15);
                vec![(p / (1.0 - p)).ln()]
            }
            Objective::Multiclass => class_prior(data, weights, self.n_outputs)
                .iter()
                .map(|p| p.clamp(1e-15, 1.0).ln())
                .collect(),
            Objective::L2 | Objective::Huber => vec![mean],
            Objective::L1 => {
                let mut ys: Vec<(f64, f64)> = (0..n)
                    .map(|i| (data.y[data.row(i)], weights.of(data.row(i))))
                    .collect();
                vec![weighted_median(&mut ys)]
            }
            Objective::Poisson => vec![mean.max(1e-15).ln()],
        }
    }

    /// Fills gh[k][row] for every row in `rows`.
    #[inline]
    pub(super) fn grad_hess(&self, s: f64, t: f64, w: f64) -> [f32; 2] {
        let (gr, he) = match self.objective {
            Objective::Binary => {
                let p = 1.0 / (1.0 + (-s).exp());
                (p - t, (p * (1.0 - p)).max(1e-16))
            }
            Objective::L2 => (s - t, 1.0),
            Objective::L1 => ((s - t).signum(), 1.0),
            Objective::Huber => {
                let d = s - t;
                let g = if d.abs() <= self.huber_delta {
                    d
                } else {
                    self.huber_delta * d.signum()
                };
                (g, 1.0)
            }
            Objective::Poisson => (s.exp() - t, (s + self.poisson_max_delta_step).exp()),
            Objective::Multiclass => (0.0, 1.0),
        };
        [(gr * w) as f32, (he * w) as f32]
    }

    /// Fills gh[k][row] for every row in `rows`: computed in parallel, stored in row order.
    pub(super) fn gradients(
        &self,
        y: &[f64],
        weights: Weights,
        score: &[f64],
        rows: Rows,
        gh: &mut [Vec<[f32; 2]>],
    ) {
        let k_out = self.n_outputs;
        match self.objective {
            Objective::Multiclass => {
                let factor = k_out as f64 / (k_out as f64 - 1.0);
                let values: Vec<[f32; 2]> = rows
                    .par_iter()
                    .flat_map_iter(|r| {
                        let r = r as usize;
                        let s = &score[r * k_out..(r + 1) * k_out];
                        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let exps: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                        let sum: f64 = exps.iter().sum();
                        let w = weights.of(r);
                        let label = y[r] as usize;
                        exps.into_iter().enumerate().map(move |(k, e)| {
                            let p = e / sum;
                            let t = if label == k { 1.0 } else { 0.0 };
                            [
                                ((p - t) * w) as f32,
                                (factor * p * (1.0 - p) * w).max(1e-16) as f32,
                            ]
                        })
                    })
                    .collect();
                for (i, r) in rows.iter().enumerate() {
                    for (k, g) in gh.iter_mut().enumerate() {
                        g[r as usize] = values[i * k_out + k];
                    }
                }
            }
            _ if rows.is_every(gh[0].len()) => {
                // Every row, in order (no subset of rows): written in place, without the
                // gathered copy and the scatter a subset needs.
                gh[0]
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(r, v)| *v = self.grad_hess(score[r], y[r], weights.of(r)));
            }
            _ => {
                let values: Vec<[f32; 2]> = rows
                    .par_iter()
                    .map(|r| {
                        let r = r as usize;
                        self.grad_hess(score[r], y[r], weights.of(r))
                    })
                    .collect();
                let g = &mut gh[0];
                for (r, v) in rows.iter().zip(values) {
                    g[r as usize] = v;
                }
            }
        }
    }

    /// Mean loss (weighted) over rows, on the objective's own scale.
    /// Weighted mean loss over `rows` (each mapped to a row index by `index`). Summed in
    /// fixed-size chunks, in parallel, then in chunk order: the result does not depend on the
    /// thread count.
    pub(super) fn loss<R: Sync>(
        &self,
        y: &[f64],
        weights: Weights,
        score: &[f64],
        rows: &[R],
        index: impl Fn(&R) -> usize + Sync,
    ) -> f64 {
        let parts: Vec<(f64, f64)> = rows
            .par_chunks(LOSS_CHUNK_ROWS)
            .map(|chunk| self.loss_sum(y, weights, score, chunk.iter().map(&index)))
            .collect();
        mean_of_parts(parts)
    }

    /// [`Self::loss`] over the rows of a training table: the same parts, so the same sum.
    pub(super) fn loss_of_rows(
        &self,
        y: &[f64],
        weights: Weights,
        score: &[f64],
        rows: Rows,
    ) -> f64 {
        let parts: Vec<(f64, f64)> = rows
            .par_chunks(LOSS_CHUNK_ROWS)
            .map(|chunk| self.loss_sum(y, weights, score, chunk.iter().map(|r| r as usize)))
            .collect();
        mean_of_parts(parts)
    }

    fn loss_sum(
        &self,
        y: &[f64],
        weights: Weights,
        score: &[f64],
        rows: impl Iterator<Item = usize>,
    ) -> (f64, f64) {
        let k_out = self.n_outputs;
        let (mut total, mut sw) = (0.0, 0.0);
        for r in rows {
            let w = weights.of(r);
            let t = y[r];
            let l = match self.objective {
                Objective::Binary => {
                    let p = (1.0 / (1.0 + (-score[r]).exp())).clamp(1e-15, 1.0 - 1e-15);
                    -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                }
                Objective::Multiclass => {
                    let s = &score[r * k_out..(r + 1) * k_out];
                    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = max + s.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                    lse - s[t as usize]
                }
                Objective::L2 => (score[r] - t).powi(2),
                Objective::L1 => (score[r] - t).abs(),
                Objective::Huber => {
                    let d = (score[r] - t).abs();
                    if d <= self.huber_delta {
                        0.5 * d * d
                    } else {
                        self.huber_delta * (d - 0.5 * self.huber_delta)
                    }
                }
                Objective::Poisson => score[r].exp() - t * score[r],
            };
            total += w * l;
            sw += w;
        }
        (total, sw)
    }
}

pub(super) fn weighted_median(values: &mut [(f64, f64)]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|v| v.1).sum();
    let mut acc = 0.0;
    for v in values.iter() {
        acc += v.1;
        if acc >= total / 2.0 {
            return v.0;
        }
    }
    values[values.len() - 1].0
}

/// The weighted share of the positive class (binary) or of each class: where class-share
/// forests start, and what their leaves shrink toward.
pub(super) fn class_prior(data: &TrainSet, weights: Weights, n_outputs: usize) -> Vec<f64> {
    let mut shares = vec![0.0; n_outputs];
    let mut total = 0.0;
    for i in 0..data.n_rows() {
        let r = data.row(i);
        total += weights.of(r);
        if n_outputs == 1 {
            shares[0] += weights.of(r) * data.y[r];
        } else if let Some(s) = shares.get_mut(data.y[r] as usize) {
            *s += weights.of(r);
        }
    }
    for s in &mut shares {
        *s /= total.max(K_EPSILON);
    }
    shares
}

/// Class probabilities from averaged class shares: the binary share itself, or each class's
/// share of the row's total (uniform when no tree gave the row any class).
pub(super) fn shares_to_probabilities(raw: &mut [f64], n_outputs: usize) {
    if n_outputs == 1 {
        for v in raw.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        return;
    }
    for row in raw.chunks_mut(n_outputs) {
        let sum: f64 = row.iter().map(|v| v.max(0.0)).sum();
        for v in row.iter_mut() {
            *v = if sum > 0.0 {
                v.max(0.0) / sum
            } else {
                1.0 / n_outputs as f64
            };
        }
    }
}

/// The weighted mean from (loss sum, weight sum) parts, added in part order.
fn mean_of_parts(parts: Vec<(f64, f64)>) -> f64 {
    let (total, sw) = parts
        .into_iter()
        .fold((0.0, 0.0), |(t, w), (a, b)| (t + a, w + b));
    if sw > 0.0 { total / sw } else { f64::NAN }
}

/// Weighted mean log loss of averaged class shares (probabilities clamped away from 0 and 1).
pub(super) fn share_log_loss(
    y: &[f64],
    weights: Weights,
    scores: &[f64],
    n_outputs: usize,
    rows: impl Iterator<Item = usize>,
) -> f64 {
    let (mut total, mut sw) = (0.0, 0.0);
    let mut p = vec![0.0; n_outputs];
    for r in rows {
        p.copy_from_slice(&scores[r * n_outputs..(r + 1) * n_outputs]);
        shares_to_probabilities(&mut p, n_outputs);
        let pt = if n_outputs == 1 {
            if y[r] > 0.5 { p[0] } else { 1.0 - p[0] }
        } else {
            p[y[r] as usize]
        };
        total -= weights.of(r) * pt.clamp(1e-15, 1.0).ln();
        sw += weights.of(r);
    }
    if sw > 0.0 { total / sw } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::Task;

    use crate::binning::BinnedData;
    use crate::gbdt::test_data::{set, synthetic};
    use crate::gbdt::{GbdtParams, fit_gbdt};

    #[test]
    fn every_objective_lowers_training_loss() {
        let (x, yreg, ybin) = synthetic(2000, 1);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let ymulti: Vec<f64> = yreg
            .iter()
            .map(|v| {
                if *v < 0.5 {
                    0.0
                } else if *v < 1.5 {
                    1.0
                } else {
                    2.0
                }
            })
            .collect();
        let ycount: Vec<f64> = yreg.iter().map(|v| (v + 1.0).max(0.0).round()).collect();
        let cases: Vec<(Objective, &[f64], Task, usize)> = vec![
            (Objective::Binary, &ybin, Task::Binary, 2),
            (Objective::Multiclass, &ymulti, Task::Multiclass, 3),
            (Objective::L2, &yreg, Task::Regression, 1),
            (Objective::L1, &yreg, Task::Regression, 1),
            (Objective::Huber, &yreg, Task::Regression, 1),
            (Objective::Poisson, &ycount, Task::Regression, 1),
        ];
        for (obj, y, task, k) in cases {
            let p = GbdtParams {
                objective: Some(obj),
                num_iterations: 30,
                ..GbdtParams::default()
            };
            let m = fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap();
            let first = m.train_loss[0];
            let last = *m.train_loss.last().unwrap();
            assert!(last < first * 0.8, "{obj:?}: {first} -> {last}");
            for w in m.train_loss.windows(2) {
                assert!(
                    w[1] <= w[0] + 1e-9 || obj == Objective::L1,
                    "{obj:?} loss rose: {:?}",
                    m.train_loss
                );
            }
        }
    }
}
