//! Prediction: raw scores in blocks of rows through the flat layout, the objective's link,
//! scoring binned rows, SHAP values and feature importance.

use rayon::prelude::*;
use whet_data::Task;
use whet_data::prep::{FeatureData, Features};

use super::flat::{BATCH_BLOCK, FlatCache};
use super::objective::shares_to_probabilities;
use super::params::{Boosting, Objective};
use super::tree::{DenseRow, code_to_f32};
use super::{FeatureImportance, GbdtModel};
use crate::binning::BinnedData;
use crate::data::Predictions;

/// Rows per parallel task when predicting binned rows.
const PREDICT_BLOCK: usize = 256;
/// Rows per parallel task when predicting from features; fewer rows in all run on the
/// caller's thread.
const PARALLEL_MIN_ROWS: usize = 4 * BATCH_BLOCK;

impl GbdtModel {
    pub fn n_iterations(&self) -> usize {
        self.trees.len() / self.n_outputs.max(1)
    }

    /// The model of its first `iterations` boosting rounds (all of them if it has fewer):
    /// what the same fit would have kept had it stopped there.
    pub fn truncated(&self, iterations: usize) -> GbdtModel {
        let keep = iterations.min(self.n_iterations());
        GbdtModel {
            boosting: self.boosting,
            objective: self.objective,
            task: self.task,
            n_classes: self.n_classes,
            n_outputs: self.n_outputs,
            init_score: self.init_score.clone(),
            trees: self.trees[..keep * self.n_outputs].to_vec(),
            feature_names: self.feature_names.clone(),
            mappers: self.mappers.clone(),
            best_iteration: Some(keep),
            params: self.params.clone(),
            train_loss: self.train_loss.iter().take(keep).copied().collect(),
            valid_loss: self.valid_loss.iter().take(keep).copied().collect(),
            class_shares: self.class_shares,
            flat: FlatCache::default(),
        }
    }

    fn max_codes(&self) -> Vec<u32> {
        self.mappers
            .iter()
            .map(|m| m.n_value_bins.saturating_sub(1))
            .collect()
    }

    /// Raw scores (log-odds, softmax inputs, log-mean for Poisson) for one dense row.
    #[inline]
    pub fn predict_raw_row(&self, row: &DenseRow, out: &mut [f64]) {
        out.copy_from_slice(&self.init_score);
        let k = self.n_outputs;
        let scale = if self.boosting == Boosting::Gbdt {
            1.0
        } else {
            1.0 / self.n_iterations().max(1) as f64
        };
        let mut sums = [0.0f64; 64];
        match self.flat.get(&self.trees, k).filter(|_| k <= 64) {
            Some(flat) => {
                flat.accumulate(row, &mut sums[..k]);
                for (o, s) in out.iter_mut().zip(&sums[..k]) {
                    *o += s * scale;
                }
            }
            None if k <= 64 => {
                // Tree by tree: the same sums in the same order.
                for (i, t) in self.trees.iter().enumerate() {
                    sums[i % k] += t.leaf_value[t.leaf_index(row)];
                }
                for (o, s) in out.iter_mut().zip(&sums[..k]) {
                    *o += s * scale;
                }
            }
            None => {
                for (i, t) in self.trees.iter().enumerate() {
                    out[i % k] += t.leaf_value[t.leaf_index(row)] * scale;
                }
            }
        }
    }

    /// Applies the objective's link to raw scores in place (and returns the output width).
    pub fn transform(&self, raw: &mut [f64]) {
        if self.class_shares {
            shares_to_probabilities(raw, self.n_outputs);
            return;
        }
        match self.objective {
            Objective::Binary => {
                for v in raw.iter_mut() {
                    *v = 1.0 / (1.0 + (-*v).exp());
                }
            }
            Objective::Multiclass => {
                for row in raw.chunks_mut(self.n_outputs) {
                    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    for v in row.iter_mut() {
                        *v /= sum;
                    }
                }
            }
            Objective::Poisson => {
                for v in raw.iter_mut() {
                    *v = v.exp();
                }
            }
            _ => {}
        }
    }

    pub fn predict_raw(&self, x: &Features) -> Vec<f64> {
        let k = self.n_outputs;
        let nf = x.columns.len();
        let max_codes = self.max_codes();
        let flat = self
            .flat
            .get(&self.trees, k)
            .filter(|f| k <= 64 && f.n_features_read() <= nf);
        let scale = if self.boosting == Boosting::Gbdt {
            1.0
        } else {
            1.0 / self.n_iterations().max(1) as f64
        };
        let block_rows = BATCH_BLOCK.min(x.n_rows.max(1));
        let buffers = || (vec![0f32; block_rows * nf], vec![0f64; block_rows * k]);
        // One block of BATCH_BLOCK rows: gathered row-major into `buf`, then walked.
        let block = |(buf, sums): &mut (Vec<f32>, Vec<f64>), (block, out): (usize, &mut [f64])| {
            let start = block * BATCH_BLOCK;
            let rows = out.len() / k;
            let buf = &mut buf[..rows * nf];
            for (f, c) in x.columns.iter().enumerate() {
                match &c.data {
                    FeatureData::Numeric(v) => {
                        for (i, &v) in v[start..start + rows].iter().enumerate() {
                            buf[i * nf + f] = v;
                        }
                    }
                    FeatureData::Categorical { codes, .. } => {
                        for (i, &c) in codes[start..start + rows].iter().enumerate() {
                            buf[i * nf + f] = code_to_f32(c);
                        }
                    }
                }
            }
            let Some(flat) = flat else {
                for (i, o) in out.chunks_exact_mut(k).enumerate() {
                    let row = DenseRow {
                        values: &buf[i * nf..(i + 1) * nf],
                        max_code: &max_codes,
                    };
                    self.predict_raw_row(&row, o);
                }
                return;
            };
            let sums = &mut sums[..rows * k];
            sums.fill(0.0);
            flat.accumulate_block(buf, nf, &max_codes, sums);
            for (o, s) in out.chunks_exact_mut(k).zip(sums.chunks_exact(k)) {
                for ((o, init), s) in o.iter_mut().zip(&self.init_score).zip(s) {
                    *o = init + s * scale;
                }
            }
        };
        let mut out = vec![0.0; x.n_rows * k];
        if x.n_rows <= PARALLEL_MIN_ROWS {
            // A few blocks (a served request) run on the caller's thread: splitting them over
            // the pool costs more than walking the trees.
            let mut bufs = buffers();
            for b in out.chunks_mut(BATCH_BLOCK * k).enumerate() {
                block(&mut bufs, b);
            }
        } else {
            out.par_chunks_mut(BATCH_BLOCK * k)
                .enumerate()
                .with_min_len(PARALLEL_MIN_ROWS / BATCH_BLOCK)
                .for_each_init(buffers, block);
        }
        out
    }

    /// Predictions for `rows` of data binned with this model's own mappers (cross-validation
    /// folds score their held-out rows this way, without gathering features).
    pub fn predict_binned_rows(&self, binned: &BinnedData, rows: &[u32]) -> Predictions {
        let k = self.n_outputs;
        let scale = if self.boosting == Boosting::Gbdt {
            1.0
        } else {
            1.0 / self.n_iterations().max(1) as f64
        };
        let mut values = vec![0.0; rows.len() * k];
        values
            .par_chunks_mut(PREDICT_BLOCK * k)
            .zip(rows.par_chunks(PREDICT_BLOCK))
            .for_each(|(out, rows)| {
                for (o, &r) in out.chunks_exact_mut(k).zip(rows) {
                    o.copy_from_slice(&self.init_score);
                    for (i, t) in self.trees.iter().enumerate() {
                        let leaf = t.leaf_index_binned(binned, r as usize);
                        o[i % k] += t.leaf_value[leaf] * scale;
                    }
                }
            });
        self.transform(&mut values);
        Predictions {
            n_rows: rows.len(),
            n_outputs: self.output_width(),
            values: self.to_prediction_layout(values),
        }
    }

    pub fn predict(&self, x: &Features) -> Predictions {
        let mut values = self.predict_raw(x);
        self.transform(&mut values);
        Predictions {
            n_rows: x.n_rows,
            n_outputs: self.output_width(),
            values: self.to_prediction_layout(values),
        }
    }

    /// A binary task fitted with the multiclass objective reports p(class 1) like any binary model.
    fn to_prediction_layout(&self, values: Vec<f64>) -> Vec<f64> {
        if self.task == Task::Binary && self.n_outputs == 2 {
            values.chunks(2).map(|r| r[1]).collect()
        } else {
            values
        }
    }

    pub fn output_width(&self) -> usize {
        if self.task == Task::Binary {
            1
        } else {
            self.n_outputs
        }
    }

    /// SHAP contributions, row-major `n_rows × n_outputs × (n_features + 1)`: one value per
    /// feature, then the expected value; each row's values sum to its raw score.
    pub fn shap_values(&self, x: &Features) -> Vec<f64> {
        let k = self.n_outputs;
        let nf = x.columns.len();
        let width = k * (nf + 1);
        let max_codes = self.max_codes();
        let scale = if self.boosting == Boosting::Gbdt {
            1.0
        } else {
            1.0 / self.n_iterations().max(1) as f64
        };
        let mut bias = self.init_score.clone();
        for (i, t) in self.trees.iter().enumerate() {
            bias[i % k] += scale * crate::shap::expected_value(t);
        }
        let mut out = vec![0.0; x.n_rows * width];
        out.par_chunks_mut(width).enumerate().for_each(|(r, phi)| {
            let values: Vec<f32> = x
                .columns
                .iter()
                .map(|c| match &c.data {
                    FeatureData::Numeric(v) => v[r],
                    FeatureData::Categorical { codes, .. } => code_to_f32(codes[r]),
                })
                .collect();
            let row = DenseRow {
                values: &values,
                max_code: &max_codes,
            };
            for (i, t) in self.trees.iter().enumerate() {
                let o = (i % k) * (nf + 1);
                crate::shap::tree_shap(t, &row, &mut phi[o..o + nf], scale);
            }
            for (o, b) in bias.iter().enumerate() {
                phi[o * (nf + 1) + nf] = *b;
            }
        });
        out
    }

    /// Split counts and total gain per feature.
    pub fn feature_importance(&self) -> Vec<FeatureImportance> {
        let mut imp = vec![
            FeatureImportance {
                splits: 0,
                gain: 0.0
            };
            self.feature_names.len()
        ];
        for t in &self.trees {
            for (n, g) in t.nodes.iter().zip(&t.split_gain) {
                imp[n.feature as usize].splits += 1;
                imp[n.feature as usize].gain += g;
            }
        }
        imp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binning::BinMapper;
    use whet_data::prep::{Feature, MISSING_CODE};
    use whet_data::rng::Rng;

    use crate::binning::BinKind;
    use crate::gbdt::test_data::{numeric_features, set, synthetic};
    use crate::gbdt::tree::{Node, Tree};
    use crate::gbdt::{GbdtParams, fit_gbdt};

    #[test]
    fn predictions_match_binned_traversal_and_handle_missing() {
        let (x, yreg, _) = synthetic(3000, 7);
        let binned = BinnedData::fit(&x, 64).unwrap();
        let m = fit_gbdt(
            &set(&x, &yreg, Task::Regression, 1),
            &binned,
            None,
            &GbdtParams {
                num_iterations: 20,
                ..GbdtParams::default()
            },
        )
        .unwrap();
        let raw = m.predict_raw(&x);
        for r in (0..3000).step_by(37) {
            let mut s = m.init_score[0];
            for t in &m.trees {
                s += t.leaf_value[t.leaf_index_binned(&binned, r)];
            }
            assert!((s - raw[r]).abs() < 1e-9, "row {r}: {s} vs {}", raw[r]);
        }
        // All-missing rows still predict a finite value.
        let nan = numeric_features(vec![vec![f32::NAN; 3]; 4]);
        assert!(m.predict_raw(&nan).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn shap_values_sum_to_raw_prediction() {
        let (x, yreg, _) = synthetic(1500, 21);
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
        let cases = [
            (
                GbdtParams {
                    num_iterations: 15,
                    ..GbdtParams::default()
                },
                &yreg,
                Task::Regression,
                1,
            ),
            (
                GbdtParams {
                    num_iterations: 10,
                    ..GbdtParams::default()
                },
                &ymulti,
                Task::Multiclass,
                3,
            ),
            (
                GbdtParams {
                    num_iterations: 10,
                    ..GbdtParams::for_mode(Boosting::Rf)
                },
                &yreg,
                Task::Regression,
                1,
            ),
        ];
        for (p, y, task, k) in cases {
            let m = fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap();
            let raw = m.predict_raw(&x);
            let shap = m.shap_values(&x);
            let width = m.n_outputs * 5;
            for r in (0..1500).step_by(50) {
                for o in 0..m.n_outputs {
                    let s: f64 = shap[r * width + o * 5..r * width + o * 5 + 5].iter().sum();
                    assert!(
                        (s - raw[r * m.n_outputs + o]).abs() < 1e-6,
                        "row {r} output {o}: {s} vs {}",
                        raw[r * m.n_outputs + o]
                    );
                }
            }
        }
        // A feature the model never splits on gets zero attribution; the noise feature f2
        // gets far less than the signal feature f0.
        let m = fit_gbdt(
            &set(&x, &yreg, Task::Regression, 1),
            &binned,
            None,
            &GbdtParams {
                num_iterations: 20,
                ..GbdtParams::default()
            },
        )
        .unwrap();
        let shap = m.shap_values(&x);
        let mean_abs = |f: usize| (0..1500).map(|r| shap[r * 5 + f].abs()).sum::<f64>() / 1500.0;
        assert!(
            mean_abs(0) > 5.0 * mean_abs(2),
            "{} vs {}",
            mean_abs(0),
            mean_abs(2)
        );
    }

    /// The value function TreeSHAP's Shapley values are of (Lundberg et al.'s path-dependent
    /// conditional expectation): the tree's output when the features in `known` (bit mask)
    /// take the row's values, the others averaged over the children by their covers.
    fn expected_given(t: &crate::gbdt::tree::Tree, row: &DenseRow, known: u32, node: i32) -> f64 {
        if node < 0 {
            return t.leaf_value[!node as usize];
        }
        let i = node as usize;
        let n = &t.nodes[i];
        if known & (1 << n.feature) != 0 {
            let next = if t.goes_left(i, row) { n.left } else { n.right };
            return expected_given(t, row, known, next);
        }
        let cover = |c: i32| {
            if c < 0 {
                t.leaf_cover[!c as usize]
            } else {
                t.internal_cover[c as usize]
            }
        };
        let (l, r) = (cover(n.left), cover(n.right));
        (l * expected_given(t, row, known, n.left) + r * expected_given(t, row, known, n.right))
            / (l + r)
    }

    /// TreeSHAP against the definition: the Shapley values of `expected_given` by brute
    /// force over all 2⁴ feature subsets (an independent implementation, exponential in the
    /// features, so only for small models), for boosted trees (binary, multiclass) and a
    /// random forest, with missing values taking the default branch.
    #[test]
    fn tree_shap_equals_brute_force_shapley_values() {
        let (x, yreg, ybin) = synthetic(800, 5);
        let binned = BinnedData::fit(&x, 64).unwrap();
        let ymulti: Vec<f64> = yreg.iter().map(|v| (v.clamp(0.0, 2.9)).floor()).collect();
        let cases = [
            (
                GbdtParams {
                    num_iterations: 12,
                    ..GbdtParams::default()
                },
                &ybin,
                Task::Binary,
                2,
            ),
            (
                GbdtParams {
                    num_iterations: 6,
                    ..GbdtParams::default()
                },
                &ymulti,
                Task::Multiclass,
                3,
            ),
            (
                GbdtParams {
                    num_iterations: 6,
                    ..GbdtParams::for_mode(Boosting::Rf)
                },
                &yreg,
                Task::Regression,
                1,
            ),
        ];
        let nf = 4usize;
        let factorial = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        for (p, y, task, k) in cases {
            let m = fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap();
            let shap = m.shap_values(&x);
            let scale = if m.boosting == Boosting::Gbdt {
                1.0
            } else {
                1.0 / m.n_iterations().max(1) as f64
            };
            let outputs = m.n_outputs;
            let max_codes = m.max_codes();
            let mut splits = 0;
            for r in (0..800).step_by(37) {
                let values: Vec<f32> = x
                    .columns
                    .iter()
                    .map(|c| match &c.data {
                        FeatureData::Numeric(v) => v[r],
                        FeatureData::Categorical { codes, .. } => code_to_f32(codes[r]),
                    })
                    .collect();
                let row = DenseRow {
                    values: &values,
                    max_code: &max_codes,
                };
                let mut want = vec![0.0; outputs * nf];
                for (ti, t) in m.trees.iter().enumerate() {
                    if t.nodes.is_empty() {
                        continue;
                    }
                    splits += t.nodes.len();
                    let o = ti % outputs;
                    for f in 0..nf {
                        let others: Vec<u32> =
                            (0..1u32 << nf).filter(|s| s & (1 << f) == 0).collect();
                        for s in others {
                            let size = s.count_ones() as usize;
                            let weight = factorial(size) * factorial(nf - size - 1) / factorial(nf);
                            want[o * nf + f] += scale
                                * weight
                                * (expected_given(t, &row, s | (1 << f), 0)
                                    - expected_given(t, &row, s, 0));
                        }
                    }
                }
                for o in 0..outputs {
                    for f in 0..nf {
                        let got = shap[r * outputs * (nf + 1) + o * (nf + 1) + f];
                        assert!(
                            (got - want[o * nf + f]).abs() < 1e-9,
                            "{task:?} row {r} output {o} feature {f}: TreeSHAP {got} vs brute force {}",
                            want[o * nf + f]
                        );
                    }
                }
            }
            assert!(splits > 0, "{task:?}: no tree split");
        }
    }

    /// The tree-by-tree walk `predict_raw_row` used before the flat layout, kept as the reference.
    fn reference_raw_row(m: &GbdtModel, row: &DenseRow) -> Vec<f64> {
        let k = m.n_outputs;
        let scale = if m.boosting == Boosting::Gbdt {
            1.0
        } else {
            1.0 / m.n_iterations().max(1) as f64
        };
        let mut sums = vec![0.0; k];
        for (i, t) in m.trees.iter().enumerate() {
            sums[i % k] += t.leaf_value[t.leaf_index(row)];
        }
        let mut out = m.init_score.clone();
        for (o, s) in out.iter_mut().zip(&sums) {
            *o += s * scale;
        }
        out
    }

    #[test]
    fn flat_layout_predicts_bit_identically() {
        let (x, yreg, ybin) = synthetic(3000, 21);
        let mut rng = Rng::new(4);
        let codes: Vec<u32> = (0..x.n_rows)
            .map(|i| {
                if i % 23 == 0 {
                    MISSING_CODE
                } else {
                    rng.below(9) as u32
                }
            })
            .collect();
        let ycat: Vec<f64> = yreg
            .iter()
            .zip(&codes)
            .map(|(y, &c)| y + if [2, 3, 7].contains(&c) { 1.0 } else { 0.0 })
            .collect();
        let mut xcat = x.clone();
        xcat.columns.push(Feature {
            name: "c".into(),
            data: FeatureData::Categorical {
                codes,
                n_categories: 9,
            },
        });
        let ymulti: Vec<f64> = yreg.iter().map(|v| v.clamp(0.0, 2.0).floor()).collect();
        let params = |rounds, mode| GbdtParams {
            num_iterations: rounds,
            min_data_per_group: 10,
            ..GbdtParams::for_mode(mode)
        };
        let cases: Vec<(&Features, &[f64], Task, usize, GbdtParams)> = vec![
            (&x, &ybin, Task::Binary, 2, params(13, Boosting::Gbdt)),
            (&x, &yreg, Task::Regression, 1, params(30, Boosting::Gbdt)),
            (&x, &ymulti, Task::Multiclass, 3, params(7, Boosting::Gbdt)),
            (&x, &ybin, Task::Binary, 2, params(9, Boosting::Rf)),
            (&x, &yreg, Task::Regression, 1, params(11, Boosting::Et)),
            (
                &xcat,
                &ycat,
                Task::Regression,
                1,
                params(17, Boosting::Gbdt),
            ),
        ];
        for (x, y, task, k, p) in cases {
            let binned = BinnedData::fit(x, 255).unwrap();
            let m = fit_gbdt(&set(x, y, task, k), &binned, None, &p).unwrap();
            let nf = x.n_features();
            let max_codes = m.max_codes();
            // Training rows, then each feature swept over its bin boundaries, their f32
            // neighbours, and values no bin holds.
            let mut rows: Vec<Vec<f32>> = (0..x.n_rows)
                .step_by(7)
                .map(|r| {
                    x.columns
                        .iter()
                        .map(|c| match &c.data {
                            FeatureData::Numeric(v) => v[r],
                            FeatureData::Categorical { codes, .. } => code_to_f32(codes[r]),
                        })
                        .collect()
                })
                .collect();
            for (f, mapper) in m.mappers.iter().enumerate() {
                let mut probes = vec![
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -1.0,
                    0.0,
                    -0.0,
                    1e30,
                    300.0,
                ];
                if let BinKind::Numeric { upper_bounds } = &mapper.kind {
                    for &b in upper_bounds {
                        let v = b as f32;
                        probes.extend([
                            v,
                            f32::from_bits(v.to_bits().wrapping_add(1)),
                            f32::from_bits(v.to_bits().wrapping_sub(1)),
                        ]);
                    }
                } else {
                    probes.extend((0..12).map(|c| c as f32));
                }
                for (i, v) in probes.into_iter().enumerate() {
                    let mut row = rows[i % 50].clone();
                    row[f] = v;
                    rows.push(row);
                }
            }
            let mut out = vec![0.0; m.n_outputs];
            for values in &rows {
                assert_eq!(values.len(), nf);
                let row = DenseRow {
                    values,
                    max_code: &max_codes,
                };
                m.predict_raw_row(&row, &mut out);
                let want = reference_raw_row(&m, &row);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&out),
                    bits(&want),
                    "{:?} {task:?} row {values:?}",
                    p.boosting
                );
            }
        }
    }

    /// A value from the kinds that decide splits differently: NaN, infinities, signed zeros,
    /// huge and tiny values, a threshold's own f32 and its neighbours, ordinary values.
    fn probe_value(rng: &mut Rng, thresholds: &[f64]) -> f32 {
        let near = |rng: &mut Rng| {
            if thresholds.is_empty() {
                0.0
            } else {
                thresholds[rng.below(thresholds.len() as u64) as usize] as f32
            }
        };
        match rng.below(12) {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => 0.0,
            4 => -0.0,
            5 => f32::from_bits(1),
            6 => near(rng),
            7 => f32::from_bits(near(rng).to_bits().wrapping_add(1)),
            8 => f32::from_bits(near(rng).to_bits().wrapping_sub(1)),
            9 => (rng.next_f64() - 0.5) as f32 * 1e30,
            _ => ((rng.next_f64() - 0.5) * 8.0) as f32,
        }
    }

    /// A random tree over `nf` features (those in `categorical` split on category sets), grown
    /// pre-order so children follow their parents, as fitted trees are.
    fn random_tree(rng: &mut Rng, nf: usize, categorical: &[bool], max_leaves: usize) -> Tree {
        fn grow(
            rng: &mut Rng,
            t: &mut Tree,
            nf: usize,
            categorical: &[bool],
            leaves_left: &mut usize,
            depth: usize,
        ) -> i32 {
            if *leaves_left <= 1 || depth > 12 || rng.below(4) == 0 {
                t.leaf_value.push((rng.next_f64() - 0.5) * 2.0);
                t.leaf_cover.push(1.0);
                t.leaf_count.push(1);
                return !(t.leaf_value.len() as i32 - 1);
            }
            *leaves_left -= 1;
            let feature = rng.below(nf as u64) as usize;
            let at = t.nodes.len();
            // A set of one 256-bin block, or now and then of up to three (wide categoricals).
            let blocks = if rng.below(4) == 0 {
                1 + rng.below(3) as usize
            } else {
                1
            };
            let cat_set = if categorical[feature] {
                let first = t.cat_sets.len() as i32;
                for _ in 0..blocks {
                    let mut set = [0u64; 4];
                    for w in &mut set {
                        // Mostly small codes, now and then the high words too.
                        *w = if rng.below(3) == 0 { rng.next_u64() } else { 0 };
                    }
                    set[0] = rng.next_u64();
                    t.cat_sets.push(set);
                }
                first
            } else {
                -1
            };
            let threshold = match rng.below(10) {
                0 => f64::INFINITY,
                1 => f64::NEG_INFINITY,
                2 => 0.0,
                3 => -0.0,
                4 => 1e300,
                5 => f64::from(f32::MAX) * 1.5,
                _ => (rng.next_f64() - 0.5) * 6.0,
            };
            t.nodes.push(Node {
                threshold,
                feature: feature as u32,
                left: 0,
                right: 0,
                cat_set,
                threshold_bin: if cat_set >= 0 { blocks as u8 - 1 } else { 0 },
                default_left: rng.below(2) == 0,
            });
            t.split_gain.push(1.0);
            t.internal_cover.push(1.0);
            let left = grow(rng, t, nf, categorical, leaves_left, depth + 1);
            let right = grow(rng, t, nf, categorical, leaves_left, depth + 1);
            t.nodes[at].left = left;
            t.nodes[at].right = right;
            at as i32
        }
        let mut t = Tree {
            nodes: Vec::new(),
            cat_sets: Vec::new(),
            split_gain: Vec::new(),
            internal_cover: Vec::new(),
            leaf_value: Vec::new(),
            leaf_cover: Vec::new(),
            leaf_count: Vec::new(),
        };
        let mut leaves_left = 1 + rng.below(max_leaves as u64) as usize;
        grow(rng, &mut t, nf, categorical, &mut leaves_left, 0);
        t
    }

    /// The fast paths (single rows through the flat layout, batches tree group by tree group)
    /// against the tree-by-tree reference on random models and rows: numeric and categorical
    /// splits (category sets of one to three 256-bin blocks), default-left and default-right,
    /// NaN and infinite values and thresholds, codes missing, negative or past the largest bin, 1 to 3 outputs, boosting and forest scaling,
    /// batches of one row to several parallel tasks. Bit-identical raw scores.
    #[test]
    fn fast_paths_equal_reference_traversal_on_random_models() {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for case in 0..120u64 {
            let mut rng = Rng::new(1000 + case);
            let nf = 1 + rng.below(6) as usize;
            let categorical: Vec<bool> = (0..nf).map(|_| rng.below(3) == 0).collect();
            let k = 1 + rng.below(3) as usize;
            let n_trees = k * rng.below(30) as usize;
            let max_leaves = [1, 4, 31, 64][rng.below(4) as usize];
            let trees: Vec<Tree> = (0..n_trees)
                .map(|_| random_tree(&mut rng, nf, &categorical, max_leaves))
                .collect();
            let thresholds: Vec<f64> = trees
                .iter()
                .flat_map(|t| t.nodes.iter().map(|n| n.threshold))
                .collect();
            let mappers: Vec<BinMapper> = categorical
                .iter()
                .map(|&c| {
                    let most = if rng.below(3) == 0 { 1000 } else { 255 };
                    (c, most)
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(c, most)| BinMapper {
                    kind: if c {
                        BinKind::Categorical
                    } else {
                        BinKind::Numeric {
                            upper_bounds: vec![f64::INFINITY],
                        }
                    },
                    n_value_bins: 1 + rng.below(most) as u32,
                })
                .collect();
            let boosting = if rng.below(3) == 0 {
                Boosting::Rf
            } else {
                Boosting::Gbdt
            };
            let m = GbdtModel {
                boosting,
                objective: Objective::L2,
                task: Task::Regression,
                n_classes: 1,
                n_outputs: k,
                init_score: (0..k).map(|o| o as f64 * 0.3 - 0.1).collect(),
                trees,
                feature_names: (0..nf).map(|f| format!("f{f}")).collect(),
                mappers,
                best_iteration: None,
                params: GbdtParams::for_mode(boosting),
                train_loss: Vec::new(),
                valid_loss: Vec::new(),
                class_shares: false,
                flat: FlatCache::default(),
            };
            let n_rows = [1, 3, 64, 65, 700][rng.below(5) as usize];
            let columns: Vec<Feature> = categorical
                .iter()
                .enumerate()
                .map(|(f, &c)| Feature {
                    name: format!("f{f}"),
                    data: if c {
                        FeatureData::Categorical {
                            codes: (0..n_rows)
                                .map(|_| match rng.below(6) {
                                    0 => MISSING_CODE,
                                    1 => 200 + rng.below(100) as u32,
                                    2 => rng.below(1100) as u32,
                                    _ => rng.below(12) as u32,
                                })
                                .collect(),
                            n_categories: 12,
                        }
                    } else {
                        FeatureData::Numeric(
                            (0..n_rows)
                                .map(|_| probe_value(&mut rng, &thresholds))
                                .collect(),
                        )
                    },
                })
                .collect();
            let x = Features { n_rows, columns };
            let max_codes = m.max_codes();
            let batch = m.predict_raw(&x);
            let mut out = vec![0.0; k];
            for r in 0..n_rows {
                let values: Vec<f32> = x
                    .columns
                    .iter()
                    .map(|c| match &c.data {
                        FeatureData::Numeric(v) => v[r],
                        FeatureData::Categorical { codes, .. } => code_to_f32(codes[r]),
                    })
                    .collect();
                let row = DenseRow {
                    values: &values,
                    max_code: &max_codes,
                };
                let want = reference_raw_row(&m, &row);
                m.predict_raw_row(&row, &mut out);
                assert_eq!(bits(&out), bits(&want), "case {case} row {r}: {values:?}");
                assert_eq!(
                    bits(&batch[r * k..(r + 1) * k]),
                    bits(&want),
                    "case {case} row {r} (batch of {n_rows}): {values:?}"
                );
            }
            // Categorical rows given as raw values: negative and fractional codes.
            if categorical.iter().any(|&c| c) {
                let values: Vec<f32> = (0..nf).map(|f| [-1.0, 2.5, -0.0][f % 3]).collect();
                let row = DenseRow {
                    values: &values,
                    max_code: &max_codes,
                };
                m.predict_raw_row(&row, &mut out);
                assert_eq!(
                    bits(&out),
                    bits(&reference_raw_row(&m, &row)),
                    "case {case}"
                );
            }
        }
    }

    /// A model without splits reads no feature, so it predicts even rows without features.
    #[test]
    fn models_without_splits_predict_rows_without_features() {
        let m = GbdtModel {
            boosting: Boosting::Gbdt,
            objective: Objective::L2,
            task: Task::Regression,
            n_classes: 1,
            n_outputs: 1,
            init_score: vec![0.5],
            trees: vec![Tree::leaf(0.25, 1.0, 1), Tree::leaf(-1.0, 1.0, 1)],
            feature_names: Vec::new(),
            mappers: Vec::new(),
            best_iteration: None,
            params: GbdtParams::default(),
            train_loss: Vec::new(),
            valid_loss: Vec::new(),
            class_shares: false,
            flat: FlatCache::default(),
        };
        let x = Features {
            n_rows: 3,
            columns: Vec::new(),
        };
        assert_eq!(m.predict_raw(&x), vec![-0.25; 3]);
    }
}
