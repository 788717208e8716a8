//! Class-share forests on more than two classes: one tree per iteration for all classes, as
//! scikit-learn's random forests grow them, instead of one one-vs-rest tree per class.
//!
//! A leaf's value for class k is the m-estimate (W_k + λ·p_k) / (H + λ) of its class share
//! (W_k the weight of its class-k rows, H of all its rows, p_k the class prior, λ =
//! `lambda_l2`), which is the prior plus the Newton step -g_k / (H + λ) on squared error
//! from the prior with g_k = p_k·H − W_k. A split's gain is the sum over classes of each
//! class's squared-error gain Σ_k g_kL²/(H_L+λ) + g_kR²/(H_R+λ) − g_k²/(H+λ), the same
//! hessian for every class; at λ = 0 it is the weighted Gini decrease. So the histograms
//! only need, per bin, H and every W_k: one pass over the rows with two additions per row
//! and feature (`build_class_hist`), from which every class's gradient follows.
//!
//! A class histogram has K + 1 channels per bin: on 32 classes and 255 bins it is 33 times a
//! boosting histogram, most of it zeros in small leaves. Leaves with fewer rows than about two
//! per bin therefore keep no histogram: their split search sums each feature's occupied bins
//! straight from the rows (`Groups::from_rows`), which also keeps the memory of a deep tree
//! to a few histograms.
//!
//! The model stores K trees per iteration with the same structure and each class's leaf
//! values (and its part of each split's gain), so prediction, SHAP, ONNX export and the
//! model file are those of one tree per class.

use rayon::prelude::*;
use whet_data::rng::Rng;

use super::K_EPSILON;
use super::grow::{next_leaf, plan_leaf, record_split};
use super::histogram::{ClassRow, HistPool, add_bit, build_class_hist, class_stride, has_bit};
use super::partition::partition_rows;
use super::profile::{Phase, PhaseTimer};
use super::split::{Ctx, SplitInfo, default_left, extra_trees_bin, round_count, threshold_l1};
use super::tree::Tree;
use crate::binning::BinKind;

/// What the class trees of a fit share.
pub(super) struct ClassCtx<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    /// Class priors (the forest's initial scores).
    pub(super) prior: &'a [f64],
    stride: usize,
    pool: HistPool<f64>,
    /// Leaves with at least this many rows keep a histogram.
    pub(super) dense_rows: usize,
}

impl<'a> ClassCtx<'a> {
    pub(super) fn new(ctx: &'a Ctx<'a>, prior: &'a [f64]) -> ClassCtx<'a> {
        let stride = class_stride(prior.len());
        let b = ctx.binned;
        // A histogram costs its zeroing and scan (bins × channels); summing from rows costs
        // rows × features × channels: histograms pay from about two rows per bin.
        let dense_rows = (2 * b.hist_len).div_ceil(b.n_features.max(1)).max(1);
        ClassCtx {
            ctx,
            prior,
            stride,
            pool: HistPool::new(b.hist_len * stride),
            dense_rows,
        }
    }

    fn k(&self) -> usize {
        self.prior.len()
    }

    /// Σ_k g_k² / (H + l2) of channel sums `s` (weight, then each class's weight).
    #[inline]
    fn gain(&self, s: &[f64], l2: f64) -> f64 {
        let h = s[0];
        let l1 = self.ctx.p.lambda_l1;
        let mut sq = 0.0;
        for (p, w) in self.prior.iter().zip(&s[1..]) {
            let g = threshold_l1(p * h - w, l1);
            sq += g * g;
        }
        sq / (h + l2 + K_EPSILON)
    }

    /// Channel sums of `rows`.
    fn sums(&self, class_rows: &[ClassRow], rows: &[u32]) -> Vec<f64> {
        let mut s = vec![0.0; self.stride];
        for &r in rows {
            let ClassRow { class, weight } = class_rows[r as usize];
            let w = f64::from(weight);
            s[0] += w;
            s[1 + class as usize] += w;
        }
        s
    }

    fn hist(&self, class_rows: &[ClassRow], rows: &[u32], features: &[usize]) -> Vec<f64> {
        let _t = PhaseTimer::start(Phase::Histograms);
        build_class_hist(
            self.ctx.binned,
            class_rows,
            self.stride,
            rows,
            features,
            &self.pool,
        )
    }
}

/// One feature's occupied bins in a leaf, ascending, with their channel sums (`stride` each).
#[derive(Default)]
struct Groups {
    bins: Vec<u16>,
    sums: Vec<f64>,
}

impl Groups {
    fn clear(&mut self) {
        self.bins.clear();
        self.sums.clear();
    }

    fn fill_from_hist(&mut self, hist: &[f64], first: usize, n_bins: usize, stride: usize) {
        self.clear();
        for b in 0..n_bins {
            let e = (first + b) * stride;
            // Only additions of positive weights make a bin: a zero weight sum is an empty bin.
            if hist[e] != 0.0 {
                self.bins.push(b as u16);
                self.sums.extend_from_slice(&hist[e..e + stride]);
            }
        }
    }

    /// The groups of feature `f` over `rows`, summed in `unsorted` in order of first
    /// appearance, then copied in bin order.
    fn fill_from_rows(
        &mut self,
        unsorted: &mut Groups,
        cc: &ClassCtx,
        class_rows: &[ClassRow],
        rows: &[u32],
        f: usize,
    ) {
        let binned = cc.ctx.binned;
        let (nf, stride) = (binned.n_features, cc.stride);
        let wide = binned.wide[f].as_deref();
        let (mut narrow_slot, mut wide_slot) = ([u16::MAX; 256], Vec::new());
        let slot: &mut [u16] = if wide.is_some() {
            wide_slot.resize(binned.mappers[f].n_bins(), u16::MAX);
            &mut wide_slot
        } else {
            &mut narrow_slot
        };
        unsorted.clear();
        for &r in rows {
            let r = r as usize;
            let b = match wide {
                Some(w) => usize::from(w[r]),
                None => usize::from(binned.rows[r * nf + f]),
            };
            if slot[b] == u16::MAX {
                slot[b] = unsorted.bins.len() as u16;
                unsorted.bins.push(b as u16);
                unsorted.sums.resize(unsorted.sums.len() + stride, 0.0);
            }
            let ClassRow { class, weight } = class_rows[r];
            let e = slot[b] as usize * stride;
            unsorted.sums[e] += f64::from(weight);
            unsorted.sums[e + 1 + class as usize] += f64::from(weight);
        }
        self.clear();
        for (b, &i) in slot.iter().enumerate().take(binned.mappers[f].n_bins()) {
            if i != u16::MAX {
                let i = i as usize;
                self.bins.push(b as u16);
                self.sums
                    .extend_from_slice(&unsorted.sums[i * stride..(i + 1) * stride]);
            }
        }
    }

    fn len(&self) -> usize {
        self.bins.len()
    }

    fn sum(&self, i: usize, stride: usize) -> &[f64] {
        &self.sums[i * stride..(i + 1) * stride]
    }
}

/// A categorical split of feature `f` sending `set` (indices into `g`) left, made only for a
/// split that is the best so far: its bit set in whole 256-bin blocks (`n_words` words), as
/// `Ctx::categorical_split` writes them.
fn left_set<'a>(
    g: &'a Groups,
    set: &'a [usize],
    f: usize,
    n_words: usize,
) -> impl FnOnce(f64, [f64; 3], [f64; 3]) -> SplitInfo + 'a {
    move |gain, l3, r3| {
        let mut bits = vec![0u64; n_words];
        for &i in set {
            add_bit(&mut bits, g.bins[i] as usize);
        }
        SplitInfo {
            feature: f,
            gain,
            threshold_bin: 0,
            // Missing values and categories outside the set go right.
            default_left: false,
            cat_bins: Some(bits),
            left: l3,
            right: r3,
            left_output: 0.0,
            right_output: 0.0,
        }
    }
}

/// Buffers of a feature's split search, reused from feature to feature.
#[derive(Default)]
struct Scratch {
    groups: Groups,
    unsorted: Groups,
    left: Vec<f64>,
    right: Vec<f64>,
    zeros: Vec<f64>,
    miss: Vec<f64>,
}

/// A leaf's split; its sides' sums are `[0, weight, rows]` (the children's channel sums are
/// summed from their rows once the split is made).
struct ClassSplit {
    info: SplitInfo,
}

/// The best split's running state while scanning one feature.
struct Scan<'c> {
    cc: &'c ClassCtx<'c>,
    total: &'c [f64],
    rows: f64,
    cnt_factor: f64,
    parent_gain: f64,
    right: Vec<f64>,
    best: Option<ClassSplit>,
}

impl<'c> Scan<'c> {
    fn new(cc: &'c ClassCtx<'c>, total: &'c [f64], rows: f64, mut right: Vec<f64>) -> Scan<'c> {
        right.resize(total.len(), 0.0);
        Scan {
            cc,
            total,
            rows,
            cnt_factor: if total[0] > 0.0 { rows / total[0] } else { 0.0 },
            parent_gain: cc.gain(total, cc.ctx.p.lambda_l2),
            right,
            best: None,
        }
    }

    fn count(&self, s: &[f64]) -> f64 {
        round_count(s[0] * self.cnt_factor)
    }

    /// Considers the split with left sums `left` (of `left_rows` estimated rows), children
    /// regularised by `l2`; `make` describes it when it is the best so far.
    fn consider(
        &mut self,
        left: &[f64],
        left_rows: f64,
        l2: f64,
        make: impl FnOnce(f64, [f64; 3], [f64; 3]) -> SplitInfo,
    ) {
        for ((r, t), l) in self.right.iter_mut().zip(self.total).zip(left) {
            *r = t - l;
        }
        let l3 = [0.0, left[0], left_rows];
        let r3 = [0.0, self.right[0], self.rows - left_rows];
        if !self.cc.ctx.valid_sides(&l3, &r3) {
            return;
        }
        let gain = self.cc.gain(left, l2) + self.cc.gain(&self.right, l2) - self.parent_gain;
        if gain > self.cc.ctx.p.min_gain_to_split
            && self.best.as_ref().is_none_or(|b| gain > b.info.gain)
        {
            self.best = Some(ClassSplit {
                info: make(gain, l3, r3),
            });
        }
    }
}

impl ClassCtx<'_> {
    fn split_for_feature(
        &self,
        f: usize,
        scratch: &mut Scratch,
        total: &[f64],
        rows: f64,
        rng: &mut Rng,
    ) -> Option<ClassSplit> {
        let mapper = &self.ctx.binned.mappers[f];
        let Scratch {
            groups,
            left,
            right,
            zeros,
            ..
        } = scratch;
        left.resize(self.stride, 0.0);
        zeros.resize(self.stride, 0.0);
        let mut scan = Scan::new(self, total, rows, std::mem::take(right));
        match mapper.kind {
            BinKind::Numeric { .. } => {
                let nv = mapper.n_value_bins as usize;
                self.numeric(f, groups, nv, &mut scan, left, zeros);
            }
            BinKind::Categorical => self.categorical(f, groups, &mut scan, left, rng),
        }
        *right = scan.right;
        scan.best
    }

    /// Describes the numeric split at threshold bin `t` with `left_rows` rows on the left; the
    /// missing values' side is learned when there are any, else they follow the larger side.
    fn describe_numeric(
        f: usize,
        t: usize,
        miss_rows: f64,
        miss_left: bool,
        left_rows: f64,
    ) -> impl FnOnce(f64, [f64; 3], [f64; 3]) -> SplitInfo {
        move |gain, l3: [f64; 3], r3: [f64; 3]| SplitInfo {
            feature: f,
            gain,
            threshold_bin: t as u8,
            default_left: default_left(miss_rows, miss_left, left_rows, r3[2]),
            cat_bins: None,
            left: l3,
            right: r3,
            left_output: 0.0,
            right_output: 0.0,
        }
    }

    /// Thresholds between occupied value bins, missing values right, then left when there
    /// are any: `numeric_split`'s rules.
    fn numeric(
        &self,
        f: usize,
        g: &Groups,
        nv: usize,
        scan: &mut Scan,
        left: &mut [f64],
        zeros: &[f64],
    ) {
        if nv < 2 {
            return;
        }
        let stride = self.stride;
        let n_value = g.bins.iter().take_while(|&&b| (b as usize) < nv).count();
        let miss = if n_value < g.len() {
            g.sum(n_value, stride)
        } else {
            zeros
        };
        let miss_rows = scan.count(miss);
        let directions: &[bool] = if miss_rows > 0.0 {
            &[false, true]
        } else {
            &[false]
        };
        for &miss_left in directions {
            let mut left_rows = if miss_left { miss_rows } else { 0.0 };
            left.copy_from_slice(if miss_left { miss } else { zeros });
            for i in 0..n_value {
                let t = g.bins[i] as usize;
                if t >= nv - 1 {
                    break;
                }
                for (l, s) in left.iter_mut().zip(g.sum(i, stride)) {
                    *l += s;
                }
                left_rows += scan.count(g.sum(i, stride));
                let describe = Self::describe_numeric(f, t, miss_rows, miss_left, left_rows);
                scan.consider(left, left_rows, self.ctx.p.lambda_l2, describe);
            }
        }
    }

    /// Extra trees' numeric split: the one random threshold's sides summed straight from the
    /// histogram's bins up to it, or from the leaf's rows, without listing occupied bins (a
    /// pass over a small leaf's rows instead of over every class channel of its bins).
    #[allow(clippy::too_many_arguments)]
    fn extra_numeric(
        &self,
        f: usize,
        hist: Option<&[f64]>,
        class_rows: &[ClassRow],
        rows: &[u32],
        total: &[f64],
        scratch: &mut Scratch,
        rng: &mut Rng,
    ) -> Option<ClassSplit> {
        let binned = self.ctx.binned;
        let mapper = &binned.mappers[f];
        let nv = mapper.n_value_bins as usize;
        if nv < 2 {
            return None;
        }
        let stride = self.stride;
        // The leaf's lowest and highest value bins (channel 0 is the rows' weight).
        let (mut lowest, mut highest) = (usize::MAX, 0);
        match hist {
            Some(h) => {
                let off = binned.hist_offsets[f];
                for b in (0..nv).filter(|&b| h[(off + b) * stride] != 0.0) {
                    lowest = lowest.min(b);
                    highest = b;
                }
            }
            None => {
                let nf = binned.n_features;
                for &r in rows {
                    let b = binned.rows[r as usize * nf + f] as usize;
                    if b < nv {
                        lowest = lowest.min(b);
                        highest = highest.max(b);
                    }
                }
            }
        }
        if lowest == usize::MAX {
            return None;
        }
        let rb = extra_trees_bin(lowest, highest, nv, rng)?;
        let Scratch {
            left, right, miss, ..
        } = scratch;
        for v in [&mut *left, &mut *miss] {
            v.clear();
            v.resize(stride, 0.0);
        }
        match hist {
            Some(h) => {
                let off = binned.hist_offsets[f];
                for b in 0..=rb {
                    let e = (off + b) * stride;
                    for (l, v) in left.iter_mut().zip(&h[e..e + stride]) {
                        *l += v;
                    }
                }
                if nv < mapper.n_bins() {
                    let e = (off + nv) * stride;
                    miss.copy_from_slice(&h[e..e + stride]);
                }
            }
            None => {
                let nf = binned.n_features;
                for &r in rows {
                    let r = r as usize;
                    let b = binned.rows[r * nf + f] as usize;
                    let side = if b <= rb {
                        &mut *left
                    } else if b == nv {
                        &mut *miss
                    } else {
                        continue;
                    };
                    let ClassRow { class, weight } = class_rows[r];
                    side[0] += f64::from(weight);
                    side[1 + class as usize] += f64::from(weight);
                }
            }
        }
        let mut scan = Scan::new(self, total, rows.len() as f64, std::mem::take(right));
        let (left_rows, miss_rows) = (scan.count(left), scan.count(miss));
        let l2 = self.ctx.p.lambda_l2;
        let describe = Self::describe_numeric(f, rb, miss_rows, false, left_rows);
        scan.consider(left, left_rows, l2, describe);
        if miss_rows > 0.0 {
            for (l, m) in left.iter_mut().zip(miss.iter()) {
                *l += m;
            }
            let describe = Self::describe_numeric(f, rb, miss_rows, true, left_rows + miss_rows);
            scan.consider(left, left_rows + miss_rows, l2, describe);
        }
        *right = scan.right;
        scan.best
    }

    /// `categorical_split`'s rules on many classes: one category against the rest below
    /// `max_cat_to_onehot`; otherwise the categories are ordered by one class's smoothed
    /// gradient g_k / (H + cat_smooth) at a time (every class in turn; one drawn at random for
    /// extra-trees), and each order is cut from either end under the same limits.
    fn categorical(&self, f: usize, g: &Groups, scan: &mut Scan, left: &mut [f64], rng: &mut Rng) {
        let p = self.ctx.p;
        let stride = self.stride;
        let kept = &self.ctx.cat_kept[f];
        let cats: Vec<usize> = (0..g.len())
            .filter(|&i| has_bit(kept, g.bins[i] as usize))
            .collect();
        let n_words = 4 * self.ctx.binned.mappers[f].n_bins().div_ceil(256);
        if cats.len() < p.max_cat_to_onehot {
            let random = (self.ctx.extra_trees && !cats.is_empty())
                .then(|| rng.below(cats.len() as u64) as usize);
            for (j, &i) in cats.iter().enumerate() {
                if random.is_some_and(|r| r != j) {
                    continue;
                }
                let s = g.sum(i, stride);
                scan.consider(s, scan.count(s), p.lambda_l2, left_set(g, &[i], f, n_words));
            }
            return;
        }
        let candidates: Vec<usize> = cats
            .into_iter()
            .filter(|&i| scan.count(g.sum(i, stride)) >= p.cat_smooth)
            .collect();
        let used = candidates.len();
        let max_left = p.max_cat_threshold.min(used.div_ceil(2)).min(used);
        if max_left == 0 {
            return;
        }
        let classes: Vec<usize> = if self.ctx.extra_trees {
            vec![rng.below(self.k() as u64) as usize]
        } else {
            (0..self.k()).collect()
        };
        let random_cut = if self.ctx.extra_trees && max_left > 1 {
            Some(rng.below(max_left as u64 - 1) as usize)
        } else if self.ctx.extra_trees {
            Some(0)
        } else {
            None
        };
        let l2 = p.lambda_l2 + p.cat_l2;
        let min_data = p.min_data_in_leaf as f64;
        let min_group = p.min_data_per_group as f64;
        let total_rows = scan.rows;
        let total_hess = scan.total[0];
        let mut set = Vec::with_capacity(max_left);
        for k in classes {
            let mut sorted: Vec<(f64, usize)> = candidates
                .iter()
                .map(|&i| {
                    let s = g.sum(i, stride);
                    ((self.prior[k] * s[0] - s[1 + k]) / (s[0] + p.cat_smooth), i)
                })
                .collect();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for reverse in [false, true] {
                set.clear();
                left.iter_mut().for_each(|v| *v = 0.0);
                let (mut left_rows, mut group) = (0.0, 0.0);
                for i in 0..max_left {
                    let c = if reverse {
                        sorted[used - 1 - i].1
                    } else {
                        sorted[i].1
                    };
                    set.push(c);
                    let s = g.sum(c, stride);
                    for (l, v) in left.iter_mut().zip(s) {
                        *l += v;
                    }
                    let n = scan.count(s);
                    left_rows += n;
                    group += n;
                    if left_rows < min_data || left[0] < p.min_sum_hessian_in_leaf {
                        continue;
                    }
                    let right_rows = total_rows - left_rows;
                    if right_rows < min_data
                        || right_rows < min_group
                        || total_hess - left[0] < p.min_sum_hessian_in_leaf
                    {
                        break;
                    }
                    // A cut is tried only once another min_data_per_group rows joined the left.
                    if group < min_group {
                        continue;
                    }
                    group = 0.0;
                    if random_cut.is_some_and(|r| r != i) {
                        continue;
                    }
                    scan.consider(left, left_rows, l2, left_set(g, &set, f, n_words));
                }
            }
        }
    }
}

struct ClassLeaf {
    begin: usize,
    end: usize,
    depth: usize,
    sums: Vec<f64>,
    hist: Option<Vec<f64>>,
    best: Option<ClassSplit>,
    parent: Option<(usize, bool)>,
}

/// Grows one tree for all classes on `indices` (the rows in the bag, weights in
/// `class_rows`) and returns it once per class, each with its class's leaf values.
#[allow(clippy::too_many_arguments)]
pub(super) fn grow_class_trees(
    cc: &ClassCtx,
    class_rows: &[ClassRow],
    indices: &mut [u32],
    scratch: &mut Vec<u32>,
    tree_features: &[usize],
    rng: &mut Rng,
    leaf_of_range: &mut Vec<(usize, usize, usize)>,
) -> Vec<Tree> {
    let ctx = cc.ctx;
    let p = ctx.p;
    let stride = cc.stride;
    let hist_of = |rows: &[u32]| -> Option<Vec<f64>> {
        (rows.len() >= cc.dense_rows).then(|| cc.hist(class_rows, rows, tree_features))
    };
    let mut leaves = vec![ClassLeaf {
        begin: 0,
        end: indices.len(),
        depth: 0,
        sums: cc.sums(class_rows, indices),
        hist: hist_of(indices),
        best: None,
        parent: None,
    }];
    let mut tree = Tree::leaf(0.0, 0.0, 0);
    tree.leaf_value.clear();
    tree.leaf_cover.clear();
    tree.leaf_count.clear();
    // Per internal node, each class's part of its gain (summing to the gain at cat_l2 = 0).
    let mut class_gains: Vec<f64> = Vec::new();

    let plan = |leaf: &ClassLeaf, rng: &mut Rng| {
        plan_leaf(ctx, tree_features, leaf.depth, leaf.end - leaf.begin, rng)
    };
    let search = |leaf: &ClassLeaf,
                  rows: &[u32],
                  plan: Option<(Vec<usize>, Vec<Rng>)>|
     -> Option<ClassSplit> {
        let (node_features, seeds) = plan?;
        let _t = PhaseTimer::start(Phase::Splits);
        let stream = |i: usize| seeds.get(i).cloned().unwrap_or_else(|| Rng::new(0));
        let one = |scratch: &mut Scratch, i: usize, f: usize| {
            if ctx.extra_trees && !ctx.binned.mappers[f].is_categorical() {
                let total = &leaf.sums;
                let hist = leaf.hist.as_deref();
                return cc.extra_numeric(f, hist, class_rows, rows, total, scratch, &mut stream(i));
            }
            let Scratch {
                groups, unsorted, ..
            } = scratch;
            match &leaf.hist {
                Some(h) => groups.fill_from_hist(
                    h,
                    ctx.binned.hist_offsets[f],
                    ctx.binned.mappers[f].n_bins(),
                    stride,
                ),
                None => groups.fill_from_rows(unsorted, cc, class_rows, rows, f),
            }
            cc.split_for_feature(f, scratch, &leaf.sums, rows.len() as f64, &mut stream(i))
        };
        let results: Vec<Option<ClassSplit>> = if node_features.len() >= 8 && rows.len() >= 1024 {
            node_features
                .par_iter()
                .enumerate()
                .map_init(Scratch::default, |scratch, (i, &f)| one(scratch, i, f))
                .collect()
        } else {
            let mut scratch = Scratch::default();
            node_features
                .iter()
                .enumerate()
                .map(|(i, &f)| one(&mut scratch, i, f))
                .collect()
        };
        let mut best: Option<ClassSplit> = None;
        for s in results.into_iter().flatten() {
            if best.as_ref().is_none_or(|b| s.info.gain > b.info.gain) {
                best = Some(s);
            }
        }
        best
    };

    let root_plan = plan(&leaves[0], rng);
    leaves[0].best = search(&leaves[0], indices, root_plan);
    while leaves.len() < p.num_leaves {
        let Some(li) = next_leaf(
            leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.best.as_ref().map(|b| (i, b.info.gain))),
        ) else {
            break;
        };
        let Some(split) = leaves[li].best.take() else {
            break;
        };
        let (begin, end) = (leaves[li].begin, leaves[li].end);
        let partition_time = PhaseTimer::start(Phase::Partition);
        let n_left = partition_rows(ctx.binned, &split.info, &mut indices[begin..end], scratch);
        drop(partition_time);
        let mid = begin + n_left;
        let new_leaf = leaves.len();
        let node = record_split(
            ctx,
            &mut tree,
            &split.info,
            li,
            new_leaf,
            leaves[li].parent,
            leaves[li].sums[0],
        );
        // Exact sums from the rows (a subtraction would leave residues with fractional weights).
        let left_sums = cc.sums(class_rows, &indices[begin..mid]);
        let right_sums = cc.sums(class_rows, &indices[mid..end]);
        let l2 = p.lambda_l2;
        let (sl, sr, sp) = (&left_sums, &right_sums, &leaves[li].sums);
        let (dl, dr, dp) = (
            sl[0] + l2 + K_EPSILON,
            sr[0] + l2 + K_EPSILON,
            sp[0] + l2 + K_EPSILON,
        );
        for (k, prior) in cc.prior.iter().enumerate() {
            let g = |s: &[f64]| threshold_l1(prior * s[0] - s[1 + k], p.lambda_l1);
            class_gains.push(g(sl).powi(2) / dl + g(sr).powi(2) / dr - g(sp).powi(2) / dp);
        }

        // Histograms for the children that keep one: the smaller built, the larger the
        // parent's minus it when both keep one, else built from its rows.
        let hist_time = PhaseTimer::start(Phase::Histograms);
        let parent_hist = leaves[li].hist.take();
        let left_small = n_left <= (end - begin) - n_left;
        let (small_rows, large_rows) = if left_small {
            (&indices[begin..mid], &indices[mid..end])
        } else {
            (&indices[mid..end], &indices[begin..mid])
        };
        let small_hist = hist_of(small_rows);
        let large_hist = match (&small_hist, parent_hist) {
            (Some(sh), Some(mut ph)) => {
                for (a, b) in ph.iter_mut().zip(sh) {
                    *a -= b;
                }
                Some(ph)
            }
            (_, ph) => {
                if let Some(ph) = ph {
                    cc.pool.put(ph);
                }
                hist_of(large_rows)
            }
        };
        let (lh, rh) = if left_small {
            (small_hist, large_hist)
        } else {
            (large_hist, small_hist)
        };
        drop(hist_time);
        let depth = leaves[li].depth + 1;
        leaves[li] = ClassLeaf {
            begin,
            end: mid,
            depth,
            sums: left_sums,
            hist: lh,
            best: None,
            parent: Some((node, true)),
        };
        leaves.push(ClassLeaf {
            begin: mid,
            end,
            depth,
            sums: right_sums,
            hist: rh,
            best: None,
            parent: Some((node, false)),
        });
        if leaves.len() < p.num_leaves {
            let last = leaves.len() - 1;
            let left_plan = plan(&leaves[li], rng);
            let right_plan = plan(&leaves[last], rng);
            let (left, right) = (&leaves[li], &leaves[last]);
            let (left_rows, right_rows) = (&indices[begin..mid], &indices[mid..end]);
            let (lb, rb) = rayon::join(
                || search(left, left_rows, left_plan),
                || search(right, right_rows, right_plan),
            );
            leaves[li].best = lb;
            leaves[last].best = rb;
        }
        for i in [li, leaves.len() - 1] {
            if leaves[i].best.is_none()
                && let Some(h) = leaves[i].hist.take()
            {
                cc.pool.put(h);
            }
        }
    }
    leaf_of_range.clear();
    for l in leaves.iter_mut() {
        if let Some(h) = l.hist.take() {
            cc.pool.put(h);
        }
    }
    for (i, l) in leaves.iter().enumerate() {
        tree.leaf_cover.push(l.sums[0]);
        tree.leaf_count.push((l.end - l.begin) as u32);
        leaf_of_range.push((l.begin, l.end, i));
    }
    let k = cc.k();
    let inf = f64::INFINITY;
    (0..k)
        .map(|c| {
            let mut t = tree.clone();
            t.leaf_value = leaves
                .iter()
                .map(|l| {
                    let g = cc.prior[c] * l.sums[0] - l.sums[1 + c];
                    ctx.leaf_output(g, l.sums[0], p.lambda_l2, -inf, inf)
                })
                .collect();
            t.split_gain = class_gains.iter().skip(c).step_by(k).copied().collect();
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};

    use crate::binning::BinnedData;
    use crate::gbdt::params::{Boosting, GbdtParams};
    use crate::gbdt::test_data::{numeric_features, set, synthetic};
    use crate::gbdt::{GbdtModel, fit_gbdt};

    fn ctx<'a>(binned: &'a BinnedData, p: &'a GbdtParams) -> Ctx<'a> {
        Ctx {
            binned,
            pool: HistPool::new(binned.hist_len),
            p,
            monotone: &[],
            has_monotone: false,
            extra_trees: p.extra_trees || p.boosting == Boosting::Et,
            cat_kept: binned.categorical_bins_kept(
                crate::data::Rows::span(0, binned.n_rows),
                p.max_bin,
                p.min_data_in_bin,
                p.seed,
            ),
        }
    }

    fn class_rows(y: &[usize]) -> Vec<ClassRow> {
        y.iter()
            .map(|&c| ClassRow {
                class: c as u32,
                weight: 1.0,
            })
            .collect()
    }

    /// Grows one tree on every row, without sampling.
    fn grow(
        binned: &BinnedData,
        y: &[usize],
        p: &GbdtParams,
        prior: &[f64],
        dense_rows: Option<usize>,
    ) -> (Vec<Tree>, Vec<u32>) {
        let c = ctx(binned, p);
        let mut cc = ClassCtx::new(&c, prior);
        if let Some(d) = dense_rows {
            cc.dense_rows = d;
        }
        let mut indices: Vec<u32> = (0..y.len() as u32).collect();
        let features: Vec<usize> = (0..binned.n_features).collect();
        let mut ranges = Vec::new();
        let trees = grow_class_trees(
            &cc,
            &class_rows(y),
            &mut indices,
            &mut Vec::new(),
            &features,
            &mut Rng::new(1),
            &mut ranges,
        );
        (trees, indices)
    }

    #[test]
    fn one_feature_separating_three_groups_gives_their_class_shares() {
        // x0 = 0: classes 0, 0, 0, 1; x0 = 1: 1, 1, 2, 2, 2, 2; x0 = 2: 2, 2. x1 is constant.
        let x0 = [0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 2., 2.];
        let y = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2];
        let x = numeric_features(vec![x0.to_vec(), vec![5.0; 12]]);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            min_data_in_leaf: 1,
            ..GbdtParams::for_mode(Boosting::Rf)
        };
        let prior = [3.0 / 12.0, 3.0 / 12.0, 6.0 / 12.0];
        let want = |v: f32| match v as i32 {
            0 => [0.75, 0.25, 0.0],
            1 => [0.0, 2.0 / 6.0, 4.0 / 6.0],
            _ => [0.0, 0.0, 1.0],
        };
        for dense_rows in [Some(1), Some(usize::MAX)] {
            let (trees, _) = grow(&binned, &y, &p, &prior, dense_rows);
            assert_eq!(trees.len(), 3);
            // One structure, three classes' values; three leaves: the groups.
            for t in &trees {
                assert_eq!(t.nodes, trees[0].nodes);
                assert_eq!(t.leaf_count, trees[0].leaf_count);
            }
            assert_eq!(trees[0].n_leaves(), 3);
            for (r, &v) in x0.iter().enumerate() {
                let mut sum = 0.0;
                for (k, t) in trees.iter().enumerate() {
                    let leaf = t.leaf_index_binned(&binned, r);
                    let share = prior[k] + t.leaf_value[leaf];
                    assert!((share - want(v)[k]).abs() < 1e-12, "row {r} class {k}");
                    sum += share;
                }
                assert!((sum - 1.0).abs() < 1e-12);
            }
            // Each class's part of the root's gain: (Σ_k parts) is the gain.
            let total: f64 = trees.iter().map(|t| t.split_gain[0]).sum();
            assert!(total > 0.0);
        }
    }

    /// The root split is the one of largest weighted Gini decrease, Σ_k W_kL²/n_L + W_kR²/n_R,
    /// over every feature and threshold (brute force). Classes of 100, 200, 150 and 150 rows:
    /// f0 isolates class 0 (270 = 100 + 85000/500), f1 cuts {0, 1} from {2, 3} (316.7 =
    /// 50000/300 + 45000/300), f2 and f3 are noise. Class 0's one-vs-rest tree would split
    /// on f0; all classes together split on f1.
    #[test]
    fn root_split_maximises_the_gini_decrease() {
        let mut rng = Rng::new(3);
        let n = 600;
        let y: Vec<usize> = (0..n)
            .map(|i| match i {
                0..100 => 0,
                100..300 => 1,
                300..450 => 2,
                _ => 3,
            })
            .collect();
        let mut draw = |lo: f64, hi: f64| (lo + rng.next_f64() * (hi - lo)).floor() as f32;
        let mut cols: Vec<Vec<f32>> = vec![Vec::new(); 4];
        for &c in &y {
            cols[0].push(if c == 0 {
                draw(0.0, 10.0)
            } else {
                draw(10.0, 30.0)
            });
            cols[1].push(if c <= 1 {
                draw(0.0, 15.0)
            } else {
                draw(15.0, 30.0)
            });
            cols[2].push(draw(0.0, 30.0));
            cols[3].push(draw(0.0, 30.0));
        }
        let x = numeric_features(cols.clone());
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_leaves: 2,
            min_data_in_leaf: 1,
            lambda_l2: 0.0,
            ..GbdtParams::for_mode(Boosting::Rf)
        };
        let mut prior = [0.0; 4];
        for &c in &y {
            prior[c] += 1.0 / n as f64;
        }
        let score = |left: &dyn Fn(usize) -> bool| {
            let (mut wl, mut wr) = ([0.0f64; 4], [0.0f64; 4]);
            for (i, &c) in y.iter().enumerate() {
                if left(i) { wl[c] += 1.0 } else { wr[c] += 1.0 }
            }
            let (nl, nr): (f64, f64) = (wl.iter().sum(), wr.iter().sum());
            if nl == 0.0 || nr == 0.0 {
                return f64::NEG_INFINITY;
            }
            wl.iter().map(|w| w * w / nl).sum::<f64>() + wr.iter().map(|w| w * w / nr).sum::<f64>()
        };
        let mut best = (f64::NEG_INFINITY, 0, 0.0);
        for (f, col) in cols.iter().enumerate() {
            for t in 0..30 {
                let s = score(&|i| col[i] <= t as f32);
                if s > best.0 + 1e-9 {
                    best = (s, f, t as f32);
                }
            }
        }
        assert_eq!(best.1, 1);
        assert!((best.0 - (50000.0 / 300.0 + 150.0)).abs() < 1e-9);
        for dense_rows in [Some(1), Some(usize::MAX)] {
            let (trees, _) = grow(&binned, &y, &p, &prior, dense_rows);
            let root = trees[0].nodes[0];
            assert_eq!(root.feature as usize, best.1);
            let f = best.1;
            let by_tree = score(&|i| f64::from(cols[f][i]) <= root.threshold);
            assert!((by_tree - best.0).abs() < 1e-9, "{by_tree} vs {}", best.0);
            // The gain is the same decrease from the prior's residuals (λ = 0).
            let parent: f64 = prior.iter().map(|q| q * q * n as f64).sum::<f64>();
            let parts: f64 = trees.iter().map(|t| t.split_gain[0]).sum();
            let from_counts = best.0 - parent;
            assert!(
                (parts - from_counts).abs() < 1e-6,
                "{parts} vs {from_counts}"
            );
        }
    }

    #[test]
    fn histograms_and_sums_from_rows_grow_the_same_trees() {
        // Numeric features with missing values and a categorical one with 12 levels, 5
        // classes; unit weights make every sum exact, so both ways agree bit for bit.
        let (x, yreg, _) = synthetic(2000, 41);
        let mut rng = Rng::new(2);
        let codes: Vec<u32> = (0..2000).map(|_| rng.below(12) as u32).collect();
        let y: Vec<usize> = yreg
            .iter()
            .zip(&codes)
            .map(|(v, &c)| ((v + 1.0).clamp(0.0, 2.9) as usize + (c as usize % 3)) % 5)
            .collect();
        let mut columns = x.columns.clone();
        columns.push(Feature {
            name: "cat".into(),
            data: FeatureData::Categorical {
                codes,
                n_categories: 12,
            },
        });
        let x = Features {
            n_rows: 2000,
            columns,
        };
        let binned = BinnedData::fit(&x, 255).unwrap();
        let mut prior = [0.0; 5];
        for &c in &y {
            prior[c] += 1.0 / 2000.0;
        }
        // Extra trees sum a random threshold's sides from the histogram or from the rows.
        for (mode, max_cat_to_onehot) in [
            (Boosting::Rf, 4),
            (Boosting::Rf, 13),
            (Boosting::Et, 4),
            (Boosting::Et, 13),
        ] {
            let p = GbdtParams {
                num_leaves: 40,
                min_data_in_leaf: 3,
                max_cat_to_onehot,
                min_data_per_group: 5,
                cat_smooth: 1.0,
                ..GbdtParams::for_mode(mode)
            };
            let (dense, di) = grow(&binned, &y, &p, &prior, Some(1));
            let (rows, ri) = grow(&binned, &y, &p, &prior, Some(usize::MAX));
            let (mixed, _) = grow(&binned, &y, &p, &prior, None);
            assert_eq!(dense, rows);
            assert_eq!(dense, mixed);
            assert_eq!(di, ri);
            assert!(dense[0].n_leaves() == 40);
            assert!(
                dense[0].nodes.iter().any(|n| n.cat_set >= 0),
                "a categorical split"
            );
        }
    }

    fn many_classes() -> (Features, Vec<f64>) {
        let (x, yreg, _) = synthetic(1500, 8);
        let y: Vec<f64> = yreg
            .iter()
            .map(|v| ((v + 1.0) * 2.0).clamp(0.0, 5.0).floor())
            .collect();
        (x, y)
    }

    #[test]
    fn multiclass_forests_grow_one_tree_for_all_classes_on_any_thread_count() {
        let (x, y) = many_classes();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..1200).collect();
        let valid_rows: Vec<u32> = (1200..1500).collect();
        let train = crate::data::TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &y, Task::Multiclass, 6)
        };
        let valid = crate::data::TrainSet {
            rows: Some(&valid_rows),
            ..set(&x, &y, Task::Multiclass, 6)
        };
        for p in [
            GbdtParams {
                num_iterations: 8,
                ..GbdtParams::for_mode(Boosting::Rf)
            },
            // Bootstrap by weights.
            GbdtParams {
                num_iterations: 8,
                bagging_fraction: 1.0,
                feature_fraction: 0.8,
                ..GbdtParams::for_mode(Boosting::Rf)
            },
            GbdtParams {
                num_iterations: 8,
                lambda_l2: 1.0,
                ..GbdtParams::for_mode(Boosting::Et)
            },
        ] {
            let fit = |threads: usize| -> GbdtModel {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap())
            };
            let one = fit(1);
            assert_eq!(one, fit(2), "{p:?}");
            assert_eq!(one, fit(3), "{p:?}");
            assert_eq!(one.trees.len(), 8 * 6);
            for round in one.trees.chunks(6) {
                assert!(round[0].n_leaves() > 20);
                assert!(round.iter().all(|t| t.nodes == round[0].nodes));
            }
            // Probabilities are shares: each row's sum to one.
            let pred = one.predict(&x);
            for row in pred.values.chunks(6) {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(row.iter().all(|v| (0.0..=1.0).contains(v)));
            }
            let acc = pred
                .classes()
                .iter()
                .zip(&y)
                .skip(1200)
                .filter(|(a, b)| **a as f64 == **b)
                .count() as f64
                / 300.0;
            assert!(acc > 0.6, "{acc}");
            assert!(
                one.valid_loss.last().is_some_and(|l| *l < 1.0),
                "{:?}",
                one.valid_loss
            );
        }
    }
}
