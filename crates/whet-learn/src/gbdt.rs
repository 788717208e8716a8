//! Histogram gradient-boosted trees, grown leaf-wise (best-first) as LightGBM grows them,
//! plus random-forest and extra-trees modes on the same engine.
//!
//! Determinism: histograms are summed over row parts whose number depends only on the row
//! count, in part order, so a model is bit-identical for a seed whatever the thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::{FeatureData, Features};
use whet_data::rng::Rng;

use crate::binning::{BinKind, BinMapper, BinnedData};
use crate::data::{Predictions, TrainSet};
use crate::error::{LearnError, Result};
use crate::flat::FlatCache;
use crate::params::{Boosting, ClassWeight, GbdtParams, Objective};
use crate::tree::{DenseRow, Node, Tree, code_to_f32};

const K_EPSILON: f64 = 1e-15;
const TRACK_LOSS_ROWS: usize = 100_000;
/// Rows per parallel chunk of loss sums and validation traversals; fixed, so sums are the
/// same whatever the thread count.
const LOSS_CHUNK_ROWS: usize = 8192;

/// (gradient, hessian) per bin. Row counts are not summed: like LightGBM, a bin's count is
/// estimated from its hessian share of the leaf, which is exact for unweighted L2.
type Hist = Vec<[f64; 2]>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtModel {
    pub boosting: Boosting,
    pub objective: Objective,
    pub task: Task,
    pub n_classes: usize,
    /// Trees per iteration: n_classes for multiclass, else 1.
    pub n_outputs: usize,
    pub init_score: Vec<f64>,
    /// Iteration-major: tree for iteration i, output k is trees[i * n_outputs + k]. Set by the
    /// fit or the model file; prediction compiles them once, on first use, into `flat`.
    pub trees: Vec<Tree>,
    pub feature_names: Vec<String>,
    pub mappers: Vec<BinMapper>,
    pub best_iteration: Option<usize>,
    pub params: GbdtParams,
    /// Training-loss history (one value per iteration), for diagnostics and tests.
    pub train_loss: Vec<f64>,
    pub valid_loss: Vec<f64>,
    /// A classification forest whose trees hold class shares (the fraction of each leaf's
    /// rows in the class) and whose prediction is their average, as a random forest votes:
    /// calibrated probabilities, where averaging boosting-style log-odds steps is not.
    #[serde(default)]
    pub class_shares: bool,
    #[serde(skip)]
    flat: FlatCache,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub splits: u64,
    pub gain: f64,
}

#[derive(Clone, Debug)]
struct SplitInfo {
    feature: usize,
    gain: f64,
    threshold_bin: u8,
    default_left: bool,
    cat_bins: Option<[u64; 4]>,
    left: [f64; 3],
    right: [f64; 3],
    left_output: f64,
    right_output: f64,
}

struct Leaf {
    begin: usize,
    end: usize,
    sum: [f64; 3],
    output: f64,
    depth: usize,
    min_out: f64,
    max_out: f64,
    hist: Option<Hist>,
    best: Option<SplitInfo>,
    /// Internal node whose child this leaf is, and whether it is the left child.
    parent: Option<(usize, bool)>,
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

struct Ctx<'a> {
    binned: &'a BinnedData,
    pool: HistPool,
    p: &'a GbdtParams,
    monotone: &'a [i8],
    has_monotone: bool,
    extra_trees: bool,
}

impl Ctx<'_> {
    #[inline]
    fn leaf_output(&self, g: f64, h: f64, l2: f64, min_out: f64, max_out: f64) -> f64 {
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
    fn best_split_for_feature(
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

/// Histogram buffers are recycled: fresh 100+ KB allocations would each cost page faults.
struct HistPool {
    len: usize,
    free: std::sync::Mutex<Vec<Hist>>,
}

impl HistPool {
    fn new(len: usize) -> HistPool {
        HistPool {
            len,
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn get(&self) -> Hist {
        let reused = self.free.lock().ok().and_then(|mut f| f.pop());
        match reused {
            Some(mut h) => {
                h.iter_mut().for_each(|e| *e = [0.0; 2]);
                h
            }
            None => vec![[0.0; 2]; self.len],
        }
    }

    fn put(&self, h: Hist) {
        if let Ok(mut f) = self.free.lock() {
            f.push(h);
        }
    }
}

/// Rows are summed in at most this many contiguous parts, a number fixed independently of the
/// thread count so the order of floating-point additions (and so the model) never depends on it.
const HIST_PARTS: usize = 8;
const MIN_PART_ROWS: usize = 4096;

/// Rows ahead to prefetch: a leaf's rows are scattered over the matrix, and without a hint each
/// row's bins and gradients are a cache miss the loop waits on.
const PREFETCH_AHEAD: usize = 16;

#[inline(always)]
fn prefetch<T>(data: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = data.get(index) {
        // SAFETY: a prefetch is only a hint; it never faults and reads nothing observable.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                (item as *const T).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, index);
}

fn fill_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    all_features: bool,
    hist: &mut Hist,
) {
    let nf = binned.n_features;
    let offsets = &binned.hist_offsets;
    for (i, &r) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(gh, ahead as usize);
            prefetch(&binned.rows, ahead as usize * nf);
        }
        let r = r as usize;
        let [g, h] = gh[r];
        let (g, h) = (f64::from(g), f64::from(h));
        let bins = &binned.rows[r * nf..(r + 1) * nf];
        if all_features {
            for (&off, &b) in offsets.iter().zip(bins) {
                let e = &mut hist[off + b as usize];
                e[0] += g;
                e[1] += h;
            }
        } else {
            for &f in features {
                let e = &mut hist[offsets[f] + bins[f] as usize];
                e[0] += g;
                e[1] += h;
            }
        }
    }
}

/// Sums (gradient, hessian, count) per bin over `rows`.
fn build_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    all_features: bool,
    pool: &HistPool,
) -> Hist {
    let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
    if parts == 1 {
        let mut total = pool.get();
        fill_hist(binned, gh, rows, features, all_features, &mut total);
        return total;
    }
    let part_len = rows.len().div_ceil(parts);
    let mut partials = rows
        .par_chunks(part_len)
        .map(|chunk| {
            let mut h = pool.get();
            fill_hist(binned, gh, chunk, features, all_features, &mut h);
            h
        })
        .collect::<Vec<Hist>>()
        .into_iter();
    let mut total = partials.next().unwrap_or_else(|| pool.get());
    for part in partials {
        for (t, p) in total.iter_mut().zip(&part) {
            t[0] += p[0];
            t[1] += p[1];
        }
        pool.put(part);
    }
    total
}

/// For every bin of the split feature, whether its rows go left: one table lookup per row
/// instead of branching on missing, numeric and categorical cases.
fn left_table(binned: &BinnedData, s: &SplitInfo) -> [bool; 256] {
    let missing = binned.mappers[s.feature].missing_bin();
    let mut table = [false; 256];
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = if b == missing as usize {
            s.default_left
        } else {
            match &s.cat_bins {
                Some(bits) => (bits[b >> 6] >> (b & 63)) & 1 == 1,
                None => b <= s.threshold_bin as usize,
            }
        };
    }
    table
}

/// Rows per part when partitioning a large leaf in parallel.
const PARTITION_PART_ROWS: usize = 32_768;

/// Moves the rows going left to the front of `rows`, keeping order on both sides; returns how
/// many went left. Large leaves are split into parts handled in parallel and stitched back in
/// part order, so the result is the same as the sequential one.
fn partition_rows(
    binned: &BinnedData,
    split: &SplitInfo,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
) -> usize {
    let column = &binned.columns[split.feature];
    let goes_left = left_table(binned, split);
    let sequential = |rows: &mut [u32], scratch: &mut Vec<u32>| -> usize {
        scratch.clear();
        let mut n_left = 0;
        for i in 0..rows.len() {
            if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
                prefetch(column, ahead as usize);
            }
            let r = rows[i];
            if goes_left[column[r as usize] as usize] {
                rows[n_left] = r;
                n_left += 1;
            } else {
                scratch.push(r);
            }
        }
        rows[n_left..].copy_from_slice(scratch);
        n_left
    };
    if rows.len() < 2 * PARTITION_PART_ROWS {
        return sequential(rows, scratch);
    }
    let mut parts: Vec<(Vec<u32>, usize)> = rows
        .par_chunks_mut(PARTITION_PART_ROWS)
        .map(|part| {
            let mut local = Vec::with_capacity(part.len());
            let n_left = sequential(part, &mut local);
            (part.to_vec(), n_left)
        })
        .collect();
    let mut at = 0;
    for (part, n_left) in parts.iter() {
        rows[at..at + n_left].copy_from_slice(&part[..*n_left]);
        at += n_left;
    }
    let n_left = at;
    for (part, n_left) in parts.iter_mut() {
        let right = &part[*n_left..];
        rows[at..at + right.len()].copy_from_slice(right);
        at += right.len();
    }
    n_left
}

/// Grows one tree on `indices` (the rows in the bag) with gradients `gh`.
#[allow(clippy::too_many_arguments)]
fn grow_tree(
    ctx: &Ctx,
    gh: &[[f32; 2]],
    indices: &mut [u32],
    scratch: &mut Vec<u32>,
    tree_features: &[usize],
    rng: &mut Rng,
    leaf_of_range: &mut Vec<(usize, usize, usize)>,
) -> Tree {
    let p = ctx.p;
    let n_features = ctx.binned.n_features;
    let all_features = tree_features.len() == n_features;
    let root_hist = build_hist(
        ctx.binned,
        gh,
        indices,
        tree_features,
        all_features,
        &ctx.pool,
    );
    let mut sum = [0.0; 3];
    for &r in indices.iter() {
        let [g, h] = gh[r as usize];
        sum[0] += f64::from(g);
        sum[1] += f64::from(h);
    }
    sum[2] = indices.len() as f64;
    let root_out = ctx.leaf_output(
        sum[0],
        sum[1],
        p.lambda_l2,
        f64::NEG_INFINITY,
        f64::INFINITY,
    );
    let mut leaves = vec![Leaf {
        begin: 0,
        end: indices.len(),
        sum,
        output: root_out,
        depth: 0,
        min_out: f64::NEG_INFINITY,
        max_out: f64::INFINITY,
        hist: Some(root_hist),
        best: None,
        parent: None,
    }];
    let mut tree = Tree::leaf(0.0, 0.0, 0);
    tree.leaf_value.clear();
    tree.leaf_cover.clear();
    tree.leaf_count.clear();

    let find_best = |leaf: &Leaf, rng: &mut Rng| -> Option<SplitInfo> {
        if p.max_depth.is_some_and(|d| leaf.depth >= d) {
            return None;
        }
        if (leaf.end - leaf.begin) < 2 * p.min_data_in_leaf.max(1) {
            return None;
        }
        let hist = leaf.hist.as_ref()?;
        let node_features: Vec<usize> = if p.feature_fraction_bynode < 1.0 {
            let k = ((tree_features.len() as f64 * p.feature_fraction_bynode).ceil() as usize)
                .clamp(1, tree_features.len());
            let mut fs = tree_features.to_vec();
            rng.shuffle(&mut fs);
            fs.truncate(k);
            fs.sort_unstable();
            fs
        } else {
            tree_features.to_vec()
        };
        // One RNG stream per feature keeps extra-trees thresholds independent of thread order.
        let seeds: Vec<Rng> = node_features.iter().map(|&f| rng.fork(f as u64)).collect();
        let _ = rng.next_u64();
        let results: Vec<Option<SplitInfo>> =
            if node_features.len() >= 8 && leaf.end - leaf.begin >= 4096 {
                node_features
                    .par_iter()
                    .zip(seeds)
                    .map(|(&f, mut r)| ctx.best_split_for_feature(f, hist, leaf, &mut r))
                    .collect()
            } else {
                node_features
                    .iter()
                    .zip(seeds)
                    .map(|(&f, mut r)| ctx.best_split_for_feature(f, hist, leaf, &mut r))
                    .collect()
            };
        let mut best: Option<SplitInfo> = None;
        for s in results.into_iter().flatten() {
            if best.as_ref().is_none_or(|b| s.gain > b.gain) {
                best = Some(s);
            }
        }
        best
    };

    leaves[0].best = find_best(&leaves[0], rng);
    while leaves.len() < p.num_leaves {
        let Some((li, _)) = leaves
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.best.as_ref().map(|b| (i, b.gain)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        let Some(split) = leaves[li].best.take() else {
            break;
        };
        let (begin, end) = (leaves[li].begin, leaves[li].end);
        // Stable partition of the leaf's rows.
        let n_left = partition_rows(ctx.binned, &split, &mut indices[begin..end], scratch);
        let mid = begin + n_left;

        // Record the internal node.
        let node = tree.nodes.len();
        let mapper = &ctx.binned.mappers[split.feature];
        let cat_set = match split.cat_bins {
            Some(bits) => {
                tree.cat_sets.push(bits);
                tree.cat_sets.len() as i32 - 1
            }
            None => -1,
        };
        let new_leaf = leaves.len();
        tree.nodes.push(Node {
            threshold: match &mapper.kind {
                BinKind::Numeric { upper_bounds } => upper_bounds[split.threshold_bin as usize],
                BinKind::Categorical => 0.0,
            },
            feature: split.feature as u32,
            left: !(li as i32),
            right: !(new_leaf as i32),
            cat_set,
            threshold_bin: split.threshold_bin,
            default_left: split.default_left,
        });
        tree.split_gain.push(split.gain);
        tree.internal_cover.push(leaves[li].sum[1]);
        if let Some((parent, is_left)) = leaves[li].parent {
            if is_left {
                tree.nodes[parent].left = node as i32;
            } else {
                tree.nodes[parent].right = node as i32;
            }
        }

        // Child constraints (LightGBM's basic monotone method).
        let (min_out, max_out) = (leaves[li].min_out, leaves[li].max_out);
        let mono = ctx.monotone.get(split.feature).copied().unwrap_or(0);
        let midv = (split.left_output + split.right_output) / 2.0;
        let (l_bounds, r_bounds) = match mono {
            m if m > 0 && split.cat_bins.is_none() => {
                ((min_out, max_out.min(midv)), (min_out.max(midv), max_out))
            }
            m if m < 0 && split.cat_bins.is_none() => {
                ((min_out.max(midv), max_out), (min_out, max_out.min(midv)))
            }
            _ => ((min_out, max_out), (min_out, max_out)),
        };

        // Histograms: build the smaller child, subtract for the larger.
        let parent_hist = leaves[li].hist.take();
        let left_small = n_left <= (end - begin) - n_left;
        let small_rows = if left_small {
            &indices[begin..mid]
        } else {
            &indices[mid..end]
        };
        let small_hist = build_hist(
            ctx.binned,
            gh,
            small_rows,
            tree_features,
            all_features,
            &ctx.pool,
        );
        let large_hist = parent_hist.map(|mut ph| {
            for (a, b) in ph.iter_mut().zip(&small_hist) {
                a[0] -= b[0];
                a[1] -= b[1];
            }
            ph
        });
        let large_hist = match large_hist {
            Some(h) => Some(h),
            None => {
                // No parent histogram (it was released): build the larger side too.
                let large_rows = if left_small {
                    &indices[mid..end]
                } else {
                    &indices[begin..mid]
                };
                Some(build_hist(
                    ctx.binned,
                    gh,
                    large_rows,
                    tree_features,
                    all_features,
                    &ctx.pool,
                ))
            }
        };
        let (lh, rh) = if left_small {
            (Some(small_hist), large_hist)
        } else {
            (large_hist, Some(small_hist))
        };
        let depth = leaves[li].depth + 1;
        leaves[li] = Leaf {
            begin,
            end: mid,
            // Counts in the split were estimated; the partition knows them exactly.
            sum: [split.left[0], split.left[1], n_left as f64],
            output: split.left_output,
            depth,
            min_out: l_bounds.0,
            max_out: l_bounds.1,
            hist: lh,
            best: None,
            parent: Some((node, true)),
        };
        leaves.push(Leaf {
            begin: mid,
            end,
            sum: [split.right[0], split.right[1], (end - mid) as f64],
            output: split.right_output,
            depth,
            min_out: r_bounds.0,
            max_out: r_bounds.1,
            hist: rh,
            best: None,
            parent: Some((node, false)),
        });
        if leaves.len() < p.num_leaves {
            leaves[li].best = find_best(&leaves[li], rng);
            let last = leaves.len() - 1;
            leaves[last].best = find_best(&leaves[last], rng);
        }
        // Leaves that will not be split again give their histograms back.
        for i in [li, leaves.len() - 1] {
            if leaves[i].best.is_none()
                && let Some(h) = leaves[i].hist.take()
            {
                ctx.pool.put(h);
            }
        }
    }
    leaf_of_range.clear();
    for l in leaves.iter_mut() {
        if let Some(h) = l.hist.take() {
            ctx.pool.put(h);
        }
    }
    for (i, l) in leaves.iter().enumerate() {
        tree.leaf_value.push(l.output);
        tree.leaf_cover.push(l.sum[1]);
        tree.leaf_count.push(l.sum[2] as u32);
        leaf_of_range.push((l.begin, l.end, i));
    }
    tree
}

/// Gradient and hessian of the objective at `score` for each row of `rows`.
struct ObjectiveState {
    objective: Objective,
    n_outputs: usize,
    huber_delta: f64,
    poisson_max_delta_step: f64,
}

impl ObjectiveState {
    fn init_score(&self, data: &TrainSet, weights: &[f64]) -> Vec<f64> {
        let n = data.n_rows();
        let mut sw = 0.0;
        let mut swy = 0.0;
        for i in 0..n {
            let r = data.row(i);
            sw += weights[r];
            swy += weights[r] * data.y[r];
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
                    .map(|i| (data.y[data.row(i)], weights[data.row(i)]))
                    .collect();
                vec![weighted_median(&mut ys)]
            }
            Objective::Poisson => vec![mean.max(1e-15).ln()],
        }
    }

    /// Fills gh[k][row] for every row in `rows`.
    #[inline]
    fn grad_hess(&self, s: f64, t: f64, w: f64) -> [f32; 2] {
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
    fn gradients(
        &self,
        y: &[f64],
        weights: &[f64],
        score: &[f64],
        rows: &[u32],
        gh: &mut [Vec<[f32; 2]>],
    ) {
        let k_out = self.n_outputs;
        match self.objective {
            Objective::Multiclass => {
                let factor = k_out as f64 / (k_out as f64 - 1.0);
                let values: Vec<[f32; 2]> = rows
                    .par_iter()
                    .flat_map_iter(|&r| {
                        let r = r as usize;
                        let s = &score[r * k_out..(r + 1) * k_out];
                        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let exps: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                        let sum: f64 = exps.iter().sum();
                        let w = weights[r];
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
                for (i, &r) in rows.iter().enumerate() {
                    for (k, g) in gh.iter_mut().enumerate() {
                        g[r as usize] = values[i * k_out + k];
                    }
                }
            }
            _ => {
                let values: Vec<[f32; 2]> = rows
                    .par_iter()
                    .map(|&r| {
                        let r = r as usize;
                        self.grad_hess(score[r], y[r], weights[r])
                    })
                    .collect();
                let g = &mut gh[0];
                for (&r, v) in rows.iter().zip(values) {
                    g[r as usize] = v;
                }
            }
        }
    }

    /// Mean loss (weighted) over rows, on the objective's own scale.
    /// Weighted mean loss over `rows` (each mapped to a row index by `index`). Summed in
    /// fixed-size chunks, in parallel, then in chunk order: the result does not depend on the
    /// thread count.
    fn loss<R: Sync>(
        &self,
        y: &[f64],
        weights: &[f64],
        score: &[f64],
        rows: &[R],
        index: impl Fn(&R) -> usize + Sync,
    ) -> f64 {
        let parts: Vec<(f64, f64)> = rows
            .par_chunks(LOSS_CHUNK_ROWS)
            .map(|chunk| self.loss_sum(y, weights, score, chunk.iter().map(&index)))
            .collect();
        let (total, sw) = parts
            .into_iter()
            .fold((0.0, 0.0), |(t, w), (a, b)| (t + a, w + b));
        if sw > 0.0 { total / sw } else { f64::NAN }
    }

    fn loss_sum(
        &self,
        y: &[f64],
        weights: &[f64],
        score: &[f64],
        rows: impl Iterator<Item = usize>,
    ) -> (f64, f64) {
        let k_out = self.n_outputs;
        let (mut total, mut sw) = (0.0, 0.0);
        for r in rows {
            let w = weights[r];
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

fn weighted_median(values: &mut [(f64, f64)]) -> f64 {
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

fn sample_weights(data: &TrainSet, p: &GbdtParams) -> Result<Vec<f64>> {
    let n_all = data.x.n_rows;
    let mut w: Vec<f64> = match data.weight {
        Some(w) => w.to_vec(),
        None => vec![1.0; n_all],
    };
    if let Some(cw) = &p.class_weight {
        if !data.task.is_classification() {
            return Err(LearnError::param(
                "class_weight",
                "set",
                "only applies to classification",
                "remove class_weight for regression",
            ));
        }
        let k = data.n_classes;
        let per_class = match cw {
            ClassWeight::PerClass(v) => {
                if v.len() != k {
                    return Err(LearnError::param(
                        "class_weight",
                        format!("{v:?}"),
                        format!("needs {k} weights, one per class"),
                        "list them in class order",
                    ));
                }
                v.clone()
            }
            ClassWeight::Balanced => {
                let mut counts = vec![0.0; k];
                for i in 0..data.n_rows() {
                    counts[data.y[data.row(i)] as usize] += 1.0;
                }
                let n = data.n_rows() as f64;
                counts
                    .iter()
                    .map(|c| if *c > 0.0 { n / (k as f64 * c) } else { 0.0 })
                    .collect()
            }
        };
        for i in 0..data.n_rows() {
            let r = data.row(i);
            w[r] *= per_class[data.y[r] as usize];
        }
    }
    Ok(w)
}

/// Fits a GBDT (or forest) model. `binned` must be the binning of `data.x` (all rows);
/// `valid` pairs a validation set with its binning under the same mappers.
pub fn fit_gbdt(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    params: &GbdtParams,
) -> Result<GbdtModel> {
    fit_gbdt_until(data, binned, valid, params, None)
}

/// [`fit_gbdt`] that gives up with [`LearnError::Interrupted`] once `deadline` has passed
/// (checked between iterations), so a time budget can stop a long fit without waiting for it.
pub fn fit_gbdt_until(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
) -> Result<GbdtModel> {
    fit_gbdt_core(data, binned, valid, None, params, deadline).map(|(m, _)| m)
}

/// Boosting with early stopping followed on each of several groups of validation rows at
/// once, as if each group had its own fit: a group stops being followed `early_stopping_round`
/// rounds after its best, and the fit ends when every group has stopped. The model keeps
/// every tree it grew; the best iteration of each group is returned, so
/// [`GbdtModel::truncated`] gives exactly the model a fit validated on that group alone keeps.
/// Nested cross-validation uses this: one fit serves two outer folds.
pub fn fit_gbdt_stopping_on_each(
    data: &TrainSet,
    binned: &BinnedData,
    valid: (&TrainSet, &BinnedData),
    groups: &[Vec<usize>],
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
) -> Result<(GbdtModel, Vec<usize>)> {
    if params.boosting != Boosting::Gbdt || params.early_stopping_round == 0 {
        return Err(LearnError::param(
            "early_stopping_round",
            params.early_stopping_round.to_string(),
            "stopping on validation groups needs boosting with early stopping",
            "use boosting gbdt and a positive early_stopping_round",
        ));
    }
    fit_gbdt_core(data, binned, Some(valid), Some(groups), params, deadline)
}

/// Where early stopping stands on one validation group.
#[derive(Clone, Copy, Default)]
struct GroupStop {
    best: Option<(usize, f64)>,
    stopped: bool,
}

fn fit_gbdt_core(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    groups: Option<&[Vec<usize>]>,
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
) -> Result<(GbdtModel, Vec<usize>)> {
    params.validate()?;
    let objective = params
        .objective
        .unwrap_or(Objective::default_for(data.task));
    if !objective.fits(data.task) {
        return Err(LearnError::param(
            "objective",
            objective.name(),
            format!("does not fit a {} task", data.task.name()),
            "leave objective unset to choose it from the task",
        ));
    }
    if binned.n_rows != data.x.n_rows || binned.n_features != data.x.n_features() {
        return Err(LearnError::data(
            "binned data does not match the features",
            "bin the same Features the model is fitted on",
        ));
    }
    if !params.monotone_constraints.is_empty()
        && params.monotone_constraints.len() != binned.n_features
    {
        return Err(LearnError::param(
            "monotone_constraints",
            format!("{} entries", params.monotone_constraints.len()),
            format!("needs one entry per feature ({})", binned.n_features),
            "use 0 for unconstrained features",
        ));
    }
    let n = data.n_rows();
    if n == 0 {
        return Err(LearnError::data(
            "no training rows",
            "check the data and the row selection",
        ));
    }
    if objective == Objective::Poisson && (0..n).any(|i| data.y[data.row(i)] < 0.0) {
        return Err(LearnError::data(
            "poisson needs a non-negative target",
            "use regression (l2) or shift the target",
        ));
    }
    let n_outputs = if objective == Objective::Multiclass {
        data.n_classes.max(2)
    } else {
        1
    };
    let weights = sample_weights(data, params)?;
    let obj = ObjectiveState {
        objective,
        n_outputs,
        huber_delta: params.huber_delta,
        poisson_max_delta_step: params.poisson_max_delta_step,
    };
    let averaging = params.boosting != Boosting::Gbdt;
    let class_shares = averaging && matches!(objective, Objective::Binary | Objective::Multiclass);
    let init = if class_shares {
        class_prior(data, &weights, n_outputs)
    } else {
        obj.init_score(data, &weights)
    };
    let n_all = data.x.n_rows;
    let mut score = vec![0.0; n_all * n_outputs];
    for r in 0..n_all {
        score[r * n_outputs..(r + 1) * n_outputs].copy_from_slice(&init);
    }
    let valid_rows: Vec<usize> = valid
        .map(|(v, _)| (0..v.n_rows()).map(|i| v.row(i)).collect())
        .unwrap_or_default();
    // Boosting scores start at init; forest sums start at zero and are averaged onto init.
    let mut valid_score = valid.map(|(v, _)| {
        let mut s = vec![0.0; v.x.n_rows * n_outputs];
        if !averaging {
            for r in 0..v.x.n_rows {
                s[r * n_outputs..(r + 1) * n_outputs].copy_from_slice(&init);
            }
        }
        s
    });
    let mut forest_sum = if averaging {
        vec![0.0; n_all * n_outputs]
    } else {
        Vec::new()
    };
    let mut counted = vec![false; n_all];
    let valid_weights: Vec<f64> = valid
        .map(|(v, _)| (0..v.x.n_rows).map(|r| v.weight_of(r)).collect())
        .unwrap_or_default();

    let all_rows: Vec<u32> = (0..n).map(|i| data.row(i) as u32).collect();
    let mut gh: Vec<Vec<[f32; 2]>> = vec![vec![[0.0; 2]; n_all]; n_outputs];
    let rng = Rng::new(params.seed);
    let shrinkage = if averaging { 1.0 } else { params.learning_rate };
    let extra_trees = params.extra_trees || params.boosting == Boosting::Et;
    let has_monotone = params.monotone_constraints.iter().any(|&m| m != 0);
    let ctx = Ctx {
        binned,
        pool: HistPool::new(binned.hist_len),
        p: params,
        monotone: &params.monotone_constraints,
        has_monotone,
        extra_trees,
    };
    let missing_bins: Vec<u8> = binned.mappers.iter().map(BinMapper::missing_bin).collect();
    let bagging = params.bagging_fraction < 1.0;
    let bag_every = params.bagging_freq.max(1);
    let mut bag: Vec<u32> = all_rows.clone();
    let mut scratch = Vec::with_capacity(n);
    let mut ranges = Vec::new();
    let mut trees: Vec<Tree> = Vec::new();
    let mut train_loss = Vec::new();
    let mut valid_loss = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut group_stops = vec![GroupStop::default(); groups.map_or(0, <[_]>::len)];
    let mut bootstrap_counts: Vec<f32> = Vec::new();
    let all_features: Vec<usize> = (0..binned.n_features).collect();

    if class_shares {
        // Squared error on the class indicator from the class prior: a split's gain is the
        // class-variance (Gini) decrease, and prior + leaf value is the m-estimate
        // (Σt + λ·prior) / (n + λ) with λ = lambda_l2. λ = 0 gives the leaf's plain class
        // share; λ > 0 keeps small leaves off 0 and 1, which log loss punishes without limit
        // (Provost & Domingos 2003 on probability estimation trees).
        for (k, g) in gh.iter_mut().enumerate() {
            for &r in &all_rows {
                let r = r as usize;
                let t = if n_outputs == 1 {
                    data.y[r]
                } else {
                    f64::from(u8::from(data.y[r] as usize == k))
                };
                g[r] = [((init[k] - t) * weights[r]) as f32, weights[r] as f32];
            }
        }
    } else if averaging {
        // Forest trees all fit the gradients at the initial score.
        obj.gradients(data.y, &weights, &score, &all_rows, &mut gh);
    }
    for iter in 0..params.num_iterations {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(LearnError::Interrupted {
                done: iter,
                planned: params.num_iterations,
            });
        }
        if bagging && iter % bag_every == 0 {
            let k = ((n as f64 * params.bagging_fraction).round() as usize).clamp(1, n);
            let mut sampled = all_rows.clone();
            let mut bag_rng = rng.fork(0xBA6 + iter as u64);
            // Partial Fisher-Yates: the first k entries are a uniform sample without replacement.
            for i in 0..k {
                let j = i + bag_rng.below((n - i) as u64) as usize;
                sampled.swap(i, j);
            }
            sampled.truncate(k);
            sampled.sort_unstable();
            bag = sampled;
        }
        if !averaging {
            obj.gradients(data.y, &weights, &score, &all_rows, &mut gh);
        }
        let tree_features: Vec<usize> = if params.feature_fraction < 1.0 {
            let k = ((binned.n_features as f64 * params.feature_fraction).ceil() as usize)
                .clamp(1, binned.n_features);
            let mut fs = all_features.clone();
            rng.fork(0xFEA7 + iter as u64).shuffle(&mut fs);
            fs.truncate(k);
            fs.sort_unstable();
            fs
        } else {
            all_features.clone()
        };
        let mut iter_rng = rng.fork(iter as u64);
        for k in 0..n_outputs {
            let mut indices = bag.clone();
            let tree_gh: &[[f32; 2]] = if params.boosting == Boosting::Rf && !bagging {
                // Bootstrap by weights when no bagging sample is drawn.
                let mut brng = iter_rng.fork(0xB00 + k as u64);
                bootstrap_counts.clear();
                bootstrap_counts.resize(n_all, 0.0);
                for _ in 0..n {
                    let r = all_rows[brng.below(n as u64) as usize] as usize;
                    bootstrap_counts[r] += 1.0;
                }
                indices.retain(|&r| bootstrap_counts[r as usize] > 0.0);
                for &r in &indices {
                    let c = bootstrap_counts[r as usize];
                    let v = gh[k][r as usize];
                    gh[k][r as usize] = [v[0] * c, v[1] * c];
                }
                &gh[k]
            } else {
                &gh[k]
            };
            let mut tree = grow_tree(
                &ctx,
                tree_gh,
                &mut indices,
                &mut scratch,
                &tree_features,
                &mut iter_rng,
                &mut ranges,
            );
            if params.boosting == Boosting::Rf && !bagging {
                // Undo the bootstrap scaling for the next tree.
                for &r in &indices {
                    let c = bootstrap_counts[r as usize];
                    let v = gh[k][r as usize];
                    gh[k][r as usize] = [v[0] / c, v[1] / c];
                }
            }
            if objective == Objective::L1 {
                // Newton steps on |r| are ±1/n; the optimal constant per leaf is the median residual.
                for &(b, e, leaf) in &ranges {
                    let mut res: Vec<(f64, f64)> = indices[b..e]
                        .iter()
                        .map(|&r| {
                            let r = r as usize;
                            (data.y[r] - score[r], weights[r])
                        })
                        .collect();
                    tree.leaf_value[leaf] = weighted_median(&mut res);
                }
            }
            for v in tree.leaf_value.iter_mut() {
                *v *= shrinkage;
            }
            // In-bag rows by leaf range (one add per row), out-of-bag rows by traversal.
            let acc = if averaging {
                &mut forest_sum
            } else {
                &mut score
            };
            {
                for &(b, e, leaf) in &ranges {
                    let v = tree.leaf_value[leaf];
                    for &r in &indices[b..e] {
                        acc[r as usize * n_outputs + k] += v;
                    }
                }
                if indices.len() != n {
                    counted.iter_mut().for_each(|c| *c = false);
                    for &r in indices.iter() {
                        counted[r as usize] = true;
                    }
                    for &r in &all_rows {
                        let r = r as usize;
                        if !counted[r] {
                            let leaf = tree.leaf_index_binned(binned.row(r), &missing_bins);
                            acc[r * n_outputs + k] += tree.leaf_value[leaf];
                        }
                    }
                }
            }
            if let (Some((_, vb)), Some(vs)) = (valid, valid_score.as_mut()) {
                // Traversals in parallel, additions in row order: the same sums on any pool.
                let values: Vec<f64> = valid_rows
                    .par_chunks(LOSS_CHUNK_ROWS)
                    .flat_map_iter(|chunk| {
                        chunk.iter().map(|&r| {
                            tree.leaf_value[tree.leaf_index_binned(vb.row(r), &missing_bins)]
                        })
                    })
                    .collect();
                for (&r, v) in valid_rows.iter().zip(values) {
                    vs[r * n_outputs + k] += v;
                }
            }
            trees.push(tree);
        }
        // Forests predict init + mean of trees; boosting accumulates into the score directly.
        let t = (iter + 1) as f64;
        let averaged = |sum: &[f64]| -> Vec<f64> {
            sum.iter()
                .enumerate()
                .map(|(i, s)| init[i % n_outputs] + s / t)
                .collect()
        };
        // The training loss costs a log or exp per row: tracked every round on small data,
        // and for the final model always.
        if n <= TRACK_LOSS_ROWS || iter + 1 == params.num_iterations {
            let train_now = if averaging {
                averaged(&forest_sum)
            } else {
                Vec::new()
            };
            let train_scores: &[f64] = if averaging { &train_now } else { &score };
            train_loss.push(if class_shares {
                share_log_loss(
                    data.y,
                    &weights,
                    train_scores,
                    n_outputs,
                    all_rows.iter().map(|&r| r as usize),
                )
            } else {
                obj.loss(data.y, &weights, train_scores, &all_rows, |&r| r as usize)
            });
        }
        if let (Some((v, _)), Some(vs)) = (valid, valid_score.as_ref()) {
            let valid_now = if averaging { averaged(vs) } else { Vec::new() };
            let valid_scores: &[f64] = if averaging { &valid_now } else { vs };
            if let Some(groups) = groups {
                // Each group is followed on its own; a loss over all of them would go unused.
                let mut all_stopped = true;
                for (rows, stop) in groups.iter().zip(group_stops.iter_mut()) {
                    if stop.stopped {
                        continue;
                    }
                    let lg = obj.loss(v.y, &valid_weights, valid_scores, rows, |&r| r);
                    if stop.best.is_none_or(|(_, b)| lg < b - 1e-12) {
                        stop.best = Some((iter, lg));
                    }
                    match stop.best {
                        Some((bi, _)) if iter - bi >= params.early_stopping_round => {
                            stop.stopped = true;
                        }
                        _ => all_stopped = false,
                    }
                }
                if all_stopped {
                    break;
                }
                continue;
            }
            let l = if class_shares {
                share_log_loss(
                    v.y,
                    &valid_weights,
                    valid_scores,
                    n_outputs,
                    valid_rows.iter().copied(),
                )
            } else {
                obj.loss(v.y, &valid_weights, valid_scores, &valid_rows, |&r| r)
            };
            valid_loss.push(l);
            if best.is_none_or(|(_, b)| l < b - 1e-12) {
                best = Some((iter, l));
            }
            if params.early_stopping_round > 0
                && let Some((bi, _)) = best
                && iter - bi >= params.early_stopping_round
            {
                break;
            }
        }
    }
    let grown = trees.len() / n_outputs.max(1);
    let group_best: Vec<usize> = group_stops
        .iter()
        .map(|g| g.best.map_or(grown, |(bi, _)| bi + 1))
        .collect();
    let best_iteration = if params.early_stopping_round > 0 && groups.is_none() {
        best.map(|b| b.0 + 1)
    } else {
        None
    };
    if let Some(bi) = best_iteration {
        trees.truncate(bi * n_outputs);
    }
    let model = GbdtModel {
        boosting: params.boosting,
        objective,
        task: data.task,
        n_classes: data.n_classes,
        n_outputs,
        init_score: init,
        trees,
        feature_names: data.x.columns.iter().map(|c| c.name.clone()).collect(),
        mappers: binned.mappers.clone(),
        best_iteration,
        params: params.clone(),
        train_loss,
        valid_loss,
        class_shares,
        flat: FlatCache::default(),
    };
    Ok((model, group_best))
}

/// The weighted share of the positive class (binary) or of each class: where class-share
/// forests start, and what their leaves shrink toward.
fn class_prior(data: &TrainSet, weights: &[f64], n_outputs: usize) -> Vec<f64> {
    let mut shares = vec![0.0; n_outputs];
    let mut total = 0.0;
    for i in 0..data.n_rows() {
        let r = data.row(i);
        total += weights[r];
        if n_outputs == 1 {
            shares[0] += weights[r] * data.y[r];
        } else if let Some(s) = shares.get_mut(data.y[r] as usize) {
            *s += weights[r];
        }
    }
    for s in &mut shares {
        *s /= total.max(K_EPSILON);
    }
    shares
}

/// Class probabilities from averaged class shares: the binary share itself, or each class's
/// share of the row's total (uniform when no tree gave the row any class).
fn shares_to_probabilities(raw: &mut [f64], n_outputs: usize) {
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

/// Weighted mean log loss of averaged class shares (probabilities clamped away from 0 and 1).
fn share_log_loss(
    y: &[f64],
    weights: &[f64],
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
        total -= weights[r] * pt.clamp(1e-15, 1.0).ln();
        sw += weights[r];
    }
    if sw > 0.0 { total / sw } else { f64::NAN }
}

/// Rows per block when predicting: gathered into a row-major buffer once, then every tree runs.
const PREDICT_BLOCK: usize = 256;

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
        if k <= 64 {
            let flat = self.flat.get(&self.trees);
            // Trees changed after the first prediction (they are public): walk them directly.
            if flat.n_trees() == self.trees.len() {
                flat.accumulate(row, &mut sums[..k]);
            } else {
                for (i, t) in self.trees.iter().enumerate() {
                    sums[i % k] += t.leaf_value[t.leaf_index(row)];
                }
            }
            for (o, s) in out.iter_mut().zip(&sums[..k]) {
                *o += s * scale;
            }
        } else {
            for (i, t) in self.trees.iter().enumerate() {
                out[i % k] += t.leaf_value[t.leaf_index(row)] * scale;
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
        let mut out = vec![0.0; x.n_rows * k];
        out.par_chunks_mut(PREDICT_BLOCK * k)
            .enumerate()
            .for_each(|(block, out)| {
                let start = block * PREDICT_BLOCK;
                let rows = out.len() / k;
                let mut buf = vec![0f32; rows * nf];
                for (f, c) in x.columns.iter().enumerate() {
                    match &c.data {
                        FeatureData::Numeric(v) => {
                            for i in 0..rows {
                                buf[i * nf + f] = v[start + i];
                            }
                        }
                        FeatureData::Categorical { codes, .. } => {
                            for i in 0..rows {
                                buf[i * nf + f] = code_to_f32(codes[start + i]);
                            }
                        }
                    }
                }
                for i in 0..rows {
                    let row = DenseRow {
                        values: &buf[i * nf..(i + 1) * nf],
                        max_code: &max_codes,
                    };
                    self.predict_raw_row(&row, &mut out[i * k..(i + 1) * k]);
                }
            });
        out
    }

    /// Predictions for `rows` of data binned with this model's own mappers (cross-validation
    /// folds score their held-out rows this way, without gathering features).
    pub fn predict_binned_rows(&self, binned: &BinnedData, rows: &[u32]) -> Predictions {
        let k = self.n_outputs;
        let missing_bins: Vec<u8> = self.mappers.iter().map(BinMapper::missing_bin).collect();
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
                    let bins = binned.row(r as usize);
                    o.copy_from_slice(&self.init_score);
                    for (i, t) in self.trees.iter().enumerate() {
                        o[i % k] += t.leaf_value[t.leaf_index_binned(bins, &missing_bins)] * scale;
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
    use whet_data::prep::{Feature, MISSING_CODE};

    fn numeric_features(cols: Vec<Vec<f32>>) -> Features {
        Features {
            n_rows: cols[0].len(),
            columns: cols
                .into_iter()
                .enumerate()
                .map(|(i, v)| Feature {
                    name: format!("f{i}"),
                    data: FeatureData::Numeric(v),
                })
                .collect(),
        }
    }

    fn synthetic(n: usize, seed: u64) -> (Features, Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let mut cols: Vec<Vec<f32>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
        let mut yreg = Vec::with_capacity(n);
        let mut ybin = Vec::with_capacity(n);
        for _ in 0..n {
            let a = rng.next_f64() as f32;
            let b = rng.next_f64() as f32;
            let c = rng.next_f64() as f32;
            let d = if rng.next_f64() < 0.1 {
                f32::NAN
            } else {
                rng.next_f64() as f32
            };
            let z = 3.0 * f64::from(a) - 2.0 * f64::from(b) * f64::from(b)
                + if d.is_nan() { 1.0 } else { f64::from(d) }
                + 0.1 * rng.next_f64();
            cols[0].push(a);
            cols[1].push(b);
            cols[2].push(c);
            cols[3].push(d);
            yreg.push(z);
            ybin.push(if z > 1.0 { 1.0 } else { 0.0 });
        }
        (numeric_features(cols), yreg, ybin)
    }

    fn set<'a>(x: &'a Features, y: &'a [f64], task: Task, k: usize) -> TrainSet<'a> {
        TrainSet {
            x,
            y,
            weight: None,
            rows: None,
            task,
            n_classes: k,
        }
    }

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
    fn deterministic_and_thread_independent() {
        let (x, _, ybin) = synthetic(40_000, 5);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 10,
            bagging_fraction: 0.7,
            feature_fraction: 0.75,
            seed: 11,
            ..GbdtParams::default()
        };
        let fit = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p).unwrap())
        };
        let a = fit(1);
        let b = fit(2);
        let c = fit(2);
        assert_eq!(a, b);
        assert_eq!(b, c);
        let mut p2 = p.clone();
        p2.seed = 12;
        let d = fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p2).unwrap();
        assert_ne!(a.trees, d.trees);
    }

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
        let missing_bins: Vec<u8> = binned.mappers.iter().map(BinMapper::missing_bin).collect();
        for r in (0..3000).step_by(37) {
            let mut s = m.init_score[0];
            for t in &m.trees {
                s += t.leaf_value[t.leaf_index_binned(binned.row(r), &missing_bins)];
            }
            assert!((s - raw[r]).abs() < 1e-9, "row {r}: {s} vs {}", raw[r]);
        }
        // All-missing rows still predict a finite value.
        let nan = numeric_features(vec![vec![f32::NAN; 3]; 4]);
        assert!(m.predict_raw(&nan).iter().all(|v| v.is_finite()));
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

    #[test]
    fn stopping_on_each_group_matches_a_fit_validated_on_that_group_alone() {
        let (x, yreg, _) = synthetic(3000, 13);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..2000).collect();
        let a: Vec<u32> = (2000..2500).collect();
        let b: Vec<u32> = (2500..3000).collect();
        let both: Vec<u32> = (2000..3000).collect();
        let train = TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let p = GbdtParams {
            num_iterations: 2000,
            learning_rate: 0.3,
            bagging_fraction: 0.8,
            bagging_freq: 1,
            early_stopping_round: 10,
            ..GbdtParams::default()
        };
        let valid_both = TrainSet {
            rows: Some(&both),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let groups = vec![
            a.iter().map(|&r| r as usize).collect::<Vec<_>>(),
            b.iter().map(|&r| r as usize).collect(),
        ];
        let (m, best) =
            fit_gbdt_stopping_on_each(&train, &binned, (&valid_both, &binned), &groups, &p, None)
                .unwrap();
        assert_eq!(best.len(), 2);
        for (rows, &bi) in [&a, &b].into_iter().zip(&best) {
            let valid = TrainSet {
                rows: Some(rows),
                ..set(&x, &yreg, Task::Regression, 1)
            };
            let alone = fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap();
            assert_eq!(alone.best_iteration, Some(bi));
            assert!(m.n_iterations() >= bi + 10, "kept growing past both bests");
            assert_eq!(m.truncated(bi).trees, alone.trees);
        }
        // Forests and fits without early stopping are refused, not silently run.
        let rf = GbdtParams::for_mode(Boosting::Rf);
        assert!(
            fit_gbdt_stopping_on_each(&train, &binned, (&valid_both, &binned), &groups, &rf, None)
                .is_err()
        );
    }

    #[test]
    fn early_stopping_and_monotone() {
        let (x, yreg, _) = synthetic(3000, 13);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..2000).collect();
        let valid_rows: Vec<u32> = (2000..3000).collect();
        let train = TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let valid = TrainSet {
            rows: Some(&valid_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let p = GbdtParams {
            num_iterations: 2000,
            learning_rate: 0.3,
            early_stopping_round: 10,
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap();
        let bi = m.best_iteration.unwrap();
        assert!(bi < 2000 && m.trees.len() == bi, "{bi}");
        assert!(m.valid_loss.len() <= bi + 10);

        // Increasing in f0 and decreasing in f1 wherever the other features sit.
        let p = GbdtParams {
            num_iterations: 30,
            monotone_constraints: vec![1, -1, 0, 0],
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap();
        let grid: Vec<f32> = (0..50).map(|i| i as f32 / 49.0).collect();
        for fixed in [0.1f32, 0.5, 0.9] {
            let up = numeric_features(vec![
                grid.clone(),
                vec![fixed; 50],
                vec![fixed; 50],
                vec![fixed; 50],
            ]);
            let down = numeric_features(vec![
                vec![fixed; 50],
                grid.clone(),
                vec![fixed; 50],
                vec![fixed; 50],
            ]);
            let pu = m.predict_raw(&up);
            let pd = m.predict_raw(&down);
            assert!(pu.windows(2).all(|w| w[1] >= w[0] - 1e-12), "{pu:?}");
            assert!(pd.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{pd:?}");
        }
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

    #[test]
    fn forests_fit_well() {
        let (x, yreg, ybin) = synthetic(2000, 17);
        let binned = BinnedData::fit(&x, 255).unwrap();
        for mode in [Boosting::Rf, Boosting::Et] {
            let p = GbdtParams {
                num_iterations: 30,
                ..GbdtParams::for_mode(mode)
            };
            let m = fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p).unwrap();
            let pred = m.predict(&x);
            let auc = crate::metrics::roc_auc(&ybin, &pred.values, None);
            assert!(auc > 0.95, "{mode:?} auc {auc}");
            let m = fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap();
            let pred = m.predict(&x);
            let r2 = crate::metrics::r2(&yreg, &pred.values, None);
            assert!(r2 > 0.8, "{mode:?} r2 {r2}");
        }
    }
    #[test]
    fn classification_forests_average_class_shares() {
        // x = 0: three rows of class 0 and one of class 1; x = 1: two rows of class 2. One
        // extra tree, no sampling: its leaves are the two x values, each leaf's probabilities
        // are its class shares, and rows sum to one.
        let x = numeric_features(vec![vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0]]);
        let y = vec![0.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 1,
            min_data_in_leaf: 1,
            feature_fraction_bynode: 1.0,
            ..GbdtParams::for_mode(Boosting::Et)
        };
        let m = fit_gbdt(&set(&x, &y, Task::Multiclass, 3), &binned, None, &p).unwrap();
        assert!(m.class_shares);
        let pred = m.predict(&x);
        let expect = [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]];
        // Gradients are f32 residuals from the prior (1/6 is not exact in f32).
        let close = |pred: &Predictions, expect: [[f64; 3]; 2]| {
            for r in 0..6 {
                let want = expect[usize::from(r >= 4)];
                for (got, want) in pred.values[r * 3..r * 3 + 3].iter().zip(want) {
                    assert!((got - want).abs() < 1e-6, "{:?}", pred.values);
                }
            }
        };
        close(&pred, expect);
        // lambda_l2 = 2 shrinks each leaf toward the prior (1/2, 1/6, 1/3) as an m-estimate:
        // (count + 2 · prior) / (rows + 2), so no class is ever given exactly 0.
        let smooth = fit_gbdt(
            &set(&x, &y, Task::Multiclass, 3),
            &binned,
            None,
            &GbdtParams {
                lambda_l2: 2.0,
                ..p
            },
        )
        .unwrap();
        close(
            &smooth.predict(&x),
            [
                [4.0 / 6.0, 4.0 / 18.0, 2.0 / 18.0],
                [1.0 / 4.0, 1.0 / 12.0, 2.0 / 3.0],
            ],
        );
        // Binary: the share of positives; many trees keep the average inside [0, 1].
        let yb = vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let p = GbdtParams {
            num_iterations: 20,
            min_data_in_leaf: 1,
            ..GbdtParams::for_mode(Boosting::Rf)
        };
        let m = fit_gbdt(&set(&x, &yb, Task::Binary, 2), &binned, None, &p).unwrap();
        let pred = m.predict(&x);
        assert!(pred.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(pred.values[4] > pred.values[0], "{:?}", pred.values);
        // Boosting keeps log-odds steps.
        let g = fit_gbdt(
            &set(&x, &yb, Task::Binary, 2),
            &binned,
            None,
            &GbdtParams {
                num_iterations: 3,
                min_data_in_leaf: 1,
                ..GbdtParams::default()
            },
        )
        .unwrap();
        assert!(!g.class_shares);
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
}
