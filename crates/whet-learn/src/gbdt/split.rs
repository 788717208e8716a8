//! Split finding on a leaf's histogram: numeric thresholds with a learned missing direction,
//! LightGBM-style categorical splits (one-vs-rest and many-vs-many), L1/L2 regularised leaf
//! outputs and gains, monotone constraints, and extra-trees' random thresholds.

use whet_data::rng::Rng;

use super::K_EPSILON;
use super::grow::Leaf;
use super::histogram::HistPool;
use super::params::GbdtParams;
use crate::binning::{BinKind, BinMapper, BinnedData};

#[derive(Clone, Debug)]
pub(super) struct SplitInfo {
    pub(super) feature: usize,
    pub(super) gain: f64,
    pub(super) threshold_bin: u8,
    pub(super) default_left: bool,
    pub(super) cat_bins: Option<[u64; 4]>,
    pub(super) left: [f64; 3],
    pub(super) right: [f64; 3],
    pub(super) left_output: f64,
    pub(super) right_output: f64,
}

#[inline]
fn threshold_l1(g: f64, l1: f64) -> f64 {
    if l1 <= 0.0 {
        g
    } else {
        let r = g.abs() - l1;
        if r > 0.0 { r * g.signum() } else { 0.0 }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) binned: &'a BinnedData,
    pub(super) pool: HistPool,
    pub(super) p: &'a GbdtParams,
    pub(super) monotone: &'a [i8],
    pub(super) has_monotone: bool,
    pub(super) extra_trees: bool,
}

impl Ctx<'_> {
    #[inline]
    pub(super) fn leaf_output(&self, g: f64, h: f64, l2: f64, min_out: f64, max_out: f64) -> f64 {
        let out = -threshold_l1(g, self.p.lambda_l1) / (h + l2 + K_EPSILON);
        out.clamp(min_out, max_out)
    }

    #[inline]
    fn gain_given_output(&self, g: f64, h: f64, l2: f64, out: f64) -> f64 {
        let sg = threshold_l1(g, self.p.lambda_l1);
        -(2.0 * sg * out + (h + l2) * out * out)
    }

    #[inline]
    fn leaf_gain(&self, g: f64, h: f64, l2: f64, min_out: f64, max_out: f64) -> f64 {
        if !self.has_monotone {
            let sg = threshold_l1(g, self.p.lambda_l1);
            return sg * sg / (h + l2 + K_EPSILON);
        }
        let out = self.leaf_output(g, h, l2, min_out, max_out);
        self.gain_given_output(g, h, l2, out)
    }

    #[inline]
    fn valid_sides(&self, l: &[f64; 3], r: &[f64; 3]) -> bool {
        let min_data = self.p.min_data_in_leaf.max(1) as f64;
        l[2] >= min_data
            && r[2] >= min_data
            && l[1] >= self.p.min_sum_hessian_in_leaf
            && r[1] >= self.p.min_sum_hessian_in_leaf
    }

    /// Best split of one feature, or None.
    pub(super) fn best_split_for_feature(
        &self,
        f: usize,
        hist: &[[f64; 2]],
        leaf: &Leaf,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let mapper = &self.binned.mappers[f];
        let off = self.binned.hist_offsets[f];
        let h = &hist[off..off + mapper.n_bins()];
        match mapper.kind {
            BinKind::Numeric { .. } => self.numeric_split(f, h, leaf, mapper, rng),
            BinKind::Categorical => self.categorical_split(f, h, leaf, mapper, rng),
        }
    }

    fn numeric_split(
        &self,
        f: usize,
        h: &[[f64; 2]],
        leaf: &Leaf,
        mapper: &BinMapper,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let nv = mapper.n_value_bins as usize;
        if nv < 2 {
            return None;
        }
        let total = leaf.sum;
        let cnt_factor = if total[1] > 0.0 {
            total[2] / total[1]
        } else {
            0.0
        };
        let count = |e: &[f64; 2]| (e[1] * cnt_factor).round();
        let miss = [h[nv][0], h[nv][1], count(&h[nv])];
        let l2 = self.p.lambda_l2;
        let parent_gain = self.leaf_gain(total[0], total[1], l2, leaf.min_out, leaf.max_out);
        let mono = self.monotone.get(f).copied().unwrap_or(0);
        let random_bin = if self.extra_trees {
            Some(rng.below(nv as u64 - 1) as usize)
        } else {
            None
        };
        let mut best: Option<SplitInfo> = None;
        // Missing values right (default_left false), then left when there are any.
        let directions: &[bool] = if miss[2] > 0.0 {
            &[false, true]
        } else {
            &[false]
        };
        for &miss_left in directions {
            let mut left = if miss_left { miss } else { [0.0; 3] };
            for (t, b) in h.iter().take(nv - 1).enumerate() {
                left[0] += b[0];
                left[1] += b[1];
                left[2] += count(b);
                if random_bin.is_some_and(|rb| rb != t) {
                    continue;
                }
                if b[1] == 0.0 && random_bin.is_none() {
                    // Same partition as the previous threshold.
                    continue;
                }
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                if !self.valid_sides(&left, &right) {
                    continue;
                }
                let lo = self.leaf_output(left[0], left[1], l2, leaf.min_out, leaf.max_out);
                let ro = self.leaf_output(right[0], right[1], l2, leaf.min_out, leaf.max_out);
                if (mono > 0 && lo > ro) || (mono < 0 && lo < ro) {
                    continue;
                }
                let gain = if self.has_monotone {
                    self.gain_given_output(left[0], left[1], l2, lo)
                        + self.gain_given_output(right[0], right[1], l2, ro)
                } else {
                    self.leaf_gain(left[0], left[1], l2, leaf.min_out, leaf.max_out)
                        + self.leaf_gain(right[0], right[1], l2, leaf.min_out, leaf.max_out)
                } - parent_gain;
                if gain > self.p.min_gain_to_split && best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(SplitInfo {
                        feature: f,
                        gain,
                        threshold_bin: t as u8,
                        default_left: if miss[2] > 0.0 {
                            miss_left
                        } else {
                            left[2] >= right[2]
                        },
                        cat_bins: None,
                        left,
                        right,
                        left_output: lo,
                        right_output: ro,
                    });
                }
            }
        }
        best
    }

    fn categorical_split(
        &self,
        f: usize,
        h: &[[f64; 2]],
        leaf: &Leaf,
        mapper: &BinMapper,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let nv = mapper.n_value_bins as usize;
        let total = leaf.sum;
        let cnt_factor = if total[1] > 0.0 {
            total[2] / total[1]
        } else {
            0.0
        };
        let count = |e: &[f64; 2]| (e[1] * cnt_factor).round();
        let l2 = self.p.lambda_l2 + self.p.cat_l2;
        let parent_gain = self.leaf_gain(total[0], total[1], l2, leaf.min_out, leaf.max_out);
        let mut best: Option<SplitInfo> = None;
        let consider = |set: &[usize], best: &mut Option<SplitInfo>| {
            let mut left = [0.0; 3];
            let mut bits = [0u64; 4];
            for &c in set {
                left[0] += h[c][0];
                left[1] += h[c][1];
                left[2] += count(&h[c]);
                bits[c >> 6] |= 1 << (c & 63);
            }
            let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
            if !self.valid_sides(&left, &right) {
                return;
            }
            let lo = self.leaf_output(left[0], left[1], l2, leaf.min_out, leaf.max_out);
            let ro = self.leaf_output(right[0], right[1], l2, leaf.min_out, leaf.max_out);
            let gain = self.leaf_gain(left[0], left[1], l2, leaf.min_out, leaf.max_out)
                + self.leaf_gain(right[0], right[1], l2, leaf.min_out, leaf.max_out)
                - parent_gain;
            if gain > self.p.min_gain_to_split && best.as_ref().is_none_or(|b| gain > b.gain) {
                *best = Some(SplitInfo {
                    feature: f,
                    gain,
                    threshold_bin: 0,
                    // Missing values and categories outside the set go right.
                    default_left: false,
                    cat_bins: Some(bits),
                    left,
                    right,
                    left_output: lo,
                    right_output: ro,
                });
            }
        };
        if nv <= self.p.max_cat_to_onehot {
            for (c, b) in h.iter().take(nv).enumerate() {
                if b[1] > 0.0 {
                    consider(&[c], &mut best);
                }
            }
            return best;
        }
        // LightGBM's many-vs-many split: order categories by their smoothed gradient ratio and
        // cut that order, from either end, keeping at most max_cat_threshold on the left.
        let mut cats: Vec<(f64, usize)> = (0..nv)
            .filter(|&c| count(&h[c]) >= self.p.min_data_per_group as f64)
            .map(|c| (h[c][0] / (h[c][1] + self.p.cat_smooth), c))
            .collect();
        if cats.len() < 2 {
            return None;
        }
        cats.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let max_left = self.p.max_cat_threshold.min(cats.len() - 1).max(1);
        let random_cut = if self.extra_trees {
            Some(rng.below(max_left as u64) as usize)
        } else {
            None
        };
        for reverse in [false, true] {
            let order: Vec<usize> = if reverse {
                cats.iter().rev().map(|c| c.1).collect()
            } else {
                cats.iter().map(|c| c.1).collect()
            };
            for k in 1..=max_left {
                if random_cut.is_some_and(|r| r + 1 != k) {
                    continue;
                }
                consider(&order[..k], &mut best);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features, MISSING_CODE};

    use crate::gbdt::test_data::{set, synthetic};
    use crate::gbdt::{GbdtParams, fit_gbdt};

    #[test]
    fn stump_matches_brute_force_split() {
        let (x, yreg, _) = synthetic(500, 3);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 1,
            num_leaves: 2,
            min_data_in_leaf: 1,
            learning_rate: 1.0,
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap();
        let t = &m.trees[0];
        // Brute force: best SSE reduction over every feature and every threshold between values.
        let mean = yreg.iter().sum::<f64>() / yreg.len() as f64;
        let mut best = (f64::NEG_INFINITY, 0usize, 0.0f64);
        for (f, c) in x.columns.iter().enumerate() {
            let FeatureData::Numeric(v) = &c.data else {
                continue;
            };
            let mut vals: Vec<f32> = v.iter().copied().filter(|v| !v.is_nan()).collect();
            vals.sort_by(f32::total_cmp);
            vals.dedup();
            for w in vals.windows(2) {
                let th = f64::from(w[0]);
                for miss_left in [false, true] {
                    let (mut gl, mut nl, mut gr, mut nr) = (0.0, 0.0, 0.0, 0.0);
                    for (xv, yv) in v.iter().zip(&yreg) {
                        let left = if xv.is_nan() {
                            miss_left
                        } else {
                            f64::from(*xv) <= th
                        };
                        let g = mean - yv;
                        if left {
                            gl += g;
                            nl += 1.0
                        } else {
                            gr += g;
                            nr += 1.0
                        }
                    }
                    if nl == 0.0 || nr == 0.0 {
                        continue;
                    }
                    let gain = gl * gl / nl + gr * gr / nr;
                    if gain > best.0 + 1e-9 {
                        best = (gain, f, th);
                    }
                }
            }
        }
        assert_eq!(t.nodes[0].feature as usize, best.1);
        // The tree's threshold lies between the same two training values.
        let FeatureData::Numeric(v) = &x.columns[best.1].data else {
            unreachable!()
        };
        let left_brute: usize = v
            .iter()
            .filter(|x| !x.is_nan() && f64::from(**x) <= best.2)
            .count();
        let left_tree: usize = v
            .iter()
            .filter(|x| !x.is_nan() && f64::from(**x) <= t.nodes[0].threshold)
            .count();
        assert_eq!(left_brute, left_tree);
    }

    #[test]
    fn categorical_splits_and_unseen_codes() {
        let n = 3000;
        let mut rng = Rng::new(9);
        let codes: Vec<u32> = (0..n).map(|_| rng.below(12) as u32).collect();
        let y: Vec<f64> = codes
            .iter()
            .map(|&c| {
                if [1, 4, 7, 9, 11].contains(&c) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let x = Features {
            n_rows: n,
            columns: vec![Feature {
                name: "c".into(),
                data: FeatureData::Categorical {
                    codes: codes.clone(),
                    n_categories: 13,
                },
            }],
        };
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 20,
            min_data_per_group: 10,
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&set(&x, &y, Task::Binary, 2), &binned, None, &p).unwrap();
        let pred = m.predict(&x);
        let acc = pred
            .classes()
            .iter()
            .zip(&y)
            .filter(|(p, t)| **p as f64 == **t)
            .count() as f64
            / n as f64;
        assert!(acc > 0.99, "{acc}");
        // One tree with several categories on one side: a many-vs-many split.
        assert!(
            m.trees[0]
                .cat_sets
                .iter()
                .any(|s| s.iter().map(|w| w.count_ones()).sum::<u32>() >= 2)
        );
        let unseen = Features {
            n_rows: 2,
            columns: vec![Feature {
                name: "c".into(),
                data: FeatureData::Categorical {
                    codes: vec![12, MISSING_CODE],
                    n_categories: 13,
                },
            }],
        };
        assert!(
            m.predict(&unseen)
                .values
                .iter()
                .all(|p| p.is_finite() && *p > 0.0 && *p < 1.0)
        );
    }
}
