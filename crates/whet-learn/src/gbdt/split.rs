//! Split finding on a leaf's histogram: numeric thresholds with a learned missing direction,
//! LightGBM-style categorical splits (one-vs-rest and many-vs-many), L1/L2 regularised leaf
//! outputs and gains, monotone constraints, and extra-trees' random thresholds.

use whet_data::rng::Rng;

use super::K_EPSILON;
use super::grow::Leaf;
use super::histogram::{Hist, HistPool, add_bit, has_bit, set_bits};
use super::params::GbdtParams;
use crate::binning::{BinKind, BinMapper, BinnedData};

#[derive(Clone, Debug)]
pub(super) struct SplitInfo {
    pub(super) feature: usize,
    pub(super) gain: f64,
    pub(super) threshold_bin: u8,
    pub(super) default_left: bool,
    /// Categorical split: the bins that go left, as a bit set of whole 256-bin blocks.
    pub(super) cat_bins: Option<Vec<u64>>,
    pub(super) left: [f64; 3],
    pub(super) right: [f64; 3],
    pub(super) left_output: f64,
    pub(super) right_output: f64,
}

#[inline]
pub(super) fn threshold_l1(g: f64, l1: f64) -> f64 {
    if l1 <= 0.0 {
        g
    } else {
        let r = g.abs() - l1;
        if r > 0.0 { r * g.signum() } else { 0.0 }
    }
}

thread_local! {
    /// Scratch for [`Ctx::scan_thresholds`]: as arrays on the stack they were zeroed for
    /// every scan, 10 KB of stores per feature and leaf.
    static SCAN_BUFFERS: std::cell::RefCell<(Vec<[f64; 4]>, Vec<f64>)> =
        std::cell::RefCell::new((vec![[0.0; 4]; 256], vec![0.0; 256]));
}

thread_local! {
    /// The sorted categories of [`Ctx::categorical_split`], reused by each thread.
    static CATEGORY_ORDER: std::cell::Cell<Vec<(f64, usize)>> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// Where a numeric split sends missing values at prediction: the side the scan put the
/// leaf's missing rows on, or with none in the leaf the side with more rows.
#[inline]
pub(super) fn default_left(
    missing_rows: f64,
    missing_left: bool,
    left_rows: f64,
    right_rows: f64,
) -> bool {
    if missing_rows > 0.0 {
        missing_left
    } else {
        left_rows >= right_rows
    }
}

/// One of [`Ctx::scan_thresholds`]' two scans, over the bins in `order`: the scanned side's
/// running sums into `sums` (with the bin's own hessian last), every threshold's gain into
/// `gains`, then the first gain above `best_gain`. Returns that threshold's index in `order`
/// and raises `best_gain` to its gain. `limits`: `[min_data_in_leaf, min_sum_hessian_in_leaf]`.
///
/// No bin's count is negative (a subtraction's rounding residue rounds to zero), so the
/// scanned side's count only grows and the other side's only shrinks: the thresholds with
/// enough rows on both sides are one range, `lo..len`. The scan stops where the other side
/// gets too few rows, and gains are computed only inside the range (outside it they were
/// -inf). The gains pass has no branch on whether a threshold is allowed, so the compiler can
/// keep it in vector registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn scan_one_way<const TRUNC: bool>(
    h: &[[f64; 2]],
    order: impl Iterator<Item = u8>,
    sums: &mut [[f64; 4]],
    gains: &mut [f64],
    total: [f64; 3],
    cnt_factor: f64,
    limits: [f64; 2],
    gain_of: impl Fn(f64, f64) -> f64,
    parent_gain: f64,
    best_gain: &mut f64,
) -> Option<usize> {
    let [min_data, min_hess] = limits;
    let mut side = [0.0; 3];
    let mut len = 0;
    for (s, t) in sums.iter_mut().zip(order) {
        let b = &h[t as usize];
        side[0] += b[0];
        side[1] += b[1];
        side[2] += round_count_via::<TRUNC>(b[1] * cnt_factor);
        if total[2] - side[2] < min_data {
            break;
        }
        *s = [side[0], side[1], side[2], b[1]];
        len += 1;
    }
    let lo = sums[..len].partition_point(|s| s[2] < min_data);
    for (g, s) in gains[lo..len].iter_mut().zip(&sums[lo..len]) {
        let other = [total[0] - s[0], total[1] - s[1], total[2] - s[2]];
        // A bin without hessian holds no rows: the previous threshold's partition.
        let allowed = (s[3] != 0.0)
            & (s[2] >= min_data)
            & (other[2] >= min_data)
            & (s[1] >= min_hess)
            & (other[1] >= min_hess);
        let gain = gain_of(s[0], s[1]) + gain_of(other[0], other[1]) - parent_gain;
        *g = if allowed { gain } else { f64::NEG_INFINITY };
    }
    let mut best = None;
    for (j, &g) in gains[lo..len].iter().enumerate() {
        if g > *best_gain {
            *best_gain = g;
            best = Some(lo + j);
        }
    }
    best
}

/// Extra trees' random threshold bin for a leaf whose values lie in bins `lowest..=highest`:
/// drawn between them, as extra trees draw a threshold between a node's smallest and largest
/// value, so that every draw cuts the leaf's rows. (A draw over all of a feature's bins, as
/// LightGBM's `extra_trees` makes, often cuts off nothing: bins other leaves' values fill, the
/// empty zero bin of a positive feature.) With one value bin the threshold is that bin, which
/// can only part values from missing ones; None when no threshold is left of the last bin.
pub(super) fn extra_trees_bin(
    lowest: usize,
    highest: usize,
    nv: usize,
    rng: &mut Rng,
) -> Option<usize> {
    if lowest >= nv - 1 {
        None
    } else if highest > lowest {
        Some(lowest + rng.below((highest - lowest) as u64) as usize)
    } else {
        Some(lowest)
    }
}

/// `x.round()` without a libm call per histogram bin (it was 4% of a fit): below 2^52 the
/// truncation is exact, and so is the fraction `x - t`; other values take `round` itself.
#[inline]
pub(super) fn round_count(x: f64) -> f64 {
    round_count_via::<false>(x)
}

/// [`round_count`], truncating with `f64::trunc` when `TRUNC` (one instruction with SSE4.1,
/// as in the AVX2 scan, where it saved 8% of a 32-class fit; a library call without) or else
/// through an integer; the same value either way.
#[inline(always)]
fn round_count_via<const TRUNC: bool>(x: f64) -> f64 {
    if (0.0..4_503_599_627_370_496.0).contains(&x) {
        let t = if TRUNC { x.trunc() } else { (x as i64) as f64 };
        // Branch-free: whether the fraction reaches one half is a coin flip per bin.
        t + f64::from(u8::from(x - t >= 0.5))
    } else {
        x.round()
    }
}

/// The bins of `h` (at most 256) whose gradient or hessian sum is not +0.0, and `extra` (the
/// one bin extra-trees evaluates), as a bit set. A threshold scan may step over the other
/// bins: adding +0.0 to a sum changes none of its bits (no sum is -0.0: histograms start at
/// +0.0 and x - x is +0.0), and an empty bin repeats the previous threshold's partition. A
/// small leaf's histogram is mostly such bins, and the scan's additions are a dependency
/// chain, so skipping them is most of its cost; finding them is branch-free.
/// With `sparse` (a sparse histogram's occupied bins, see [`Hist`]) only those bins are read.
#[inline]
fn occupied_bins(h: &[[f64; 2]], extra: Option<usize>, sparse: Option<&[u64; 4]>) -> [u64; 4] {
    let mut bits = [0u64; 4];
    if let Some(candidates) = sparse {
        for t in set_bits(candidates).take_while(|&t| t < h.len()) {
            let b = h[t];
            bits[t >> 6] |= u64::from((b[0].to_bits() | b[1].to_bits()) != 0) << (t & 63);
        }
    } else {
        // A word at a time in a register: or-ing each bin into memory chains every bin's
        // store to the next one's load.
        for (word, chunk) in bits.iter_mut().zip(h.chunks(64)) {
            let mut w = 0u64;
            for (i, b) in chunk.iter().enumerate() {
                w |= u64::from((b[0].to_bits() | b[1].to_bits()) != 0) << i;
            }
            *word = w;
        }
    }
    if let Some(t) = extra.filter(|&t| t < 256) {
        add_bit(&mut bits, t);
    }
    bits
}

/// The categories a categorical split sends left: one, or the first `len` of the sorted
/// order (from its end when `reverse`).
#[derive(Clone, Copy)]
enum LeftCut {
    One(usize),
    Sorted { reverse: bool, len: usize },
}

#[cfg(test)]
thread_local! {
    /// Tests turn the AVX2 split scan off on their thread to check the portable one.
    static PORTABLE_SCAN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the threshold scan runs its AVX2 build (see `Ctx::scan_thresholds_avx2`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn scan_uses_avx2() -> bool {
    #[cfg(test)]
    if PORTABLE_SCAN.with(std::cell::Cell::get) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

pub(super) struct Ctx<'a> {
    pub(super) binned: &'a BinnedData,
    pub(super) pool: HistPool,
    pub(super) p: &'a GbdtParams,
    pub(super) monotone: &'a [i8],
    pub(super) has_monotone: bool,
    pub(super) extra_trees: bool,
    /// Per feature, the category bins that may be split on (categorical features only).
    pub(super) cat_kept: Vec<Vec<u64>>,
}

/// Keeps `candidate` in `best` when its gain is larger: offered in feature order, the first
/// of equal gains stays, so sharded and unsharded searches choose the same split.
pub(super) fn keep_first_best(best: &mut Option<SplitInfo>, candidate: Option<SplitInfo>) {
    if let Some(s) = candidate
        && best.as_ref().is_none_or(|b| s.gain > b.gain)
    {
        *best = Some(s);
    }
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
    pub(super) fn valid_sides(&self, l: &[f64; 3], r: &[f64; 3]) -> bool {
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
        hist: &Hist,
        leaf: &Leaf,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let off = self.binned.hist_offsets[f];
        let h = &hist.entries[off..off + self.binned.mappers[f].n_bins()];
        self.best_split_of(f, h, hist.occupied(f), leaf, rng)
    }

    /// [`Self::best_split_for_feature`] from the feature's entries `h` and, in a sparse
    /// histogram, its occupied bins.
    #[inline]
    pub(super) fn best_split_of(
        &self,
        f: usize,
        h: &[[f64; 2]],
        occupied: Option<&[u64; 4]>,
        leaf: &Leaf,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let mapper = &self.binned.mappers[f];
        match mapper.kind {
            BinKind::Numeric { .. } => self.numeric_split(f, h, occupied, leaf, mapper, rng),
            // A categorical feature's entries are all sums, sparse histogram or not.
            BinKind::Categorical => self.categorical_split(f, h, leaf, rng),
        }
    }

    /// `sparse`: the occupied bins of a sparse histogram (see [`Hist`]); other entries of `h`
    /// are not sums and read as zero.
    fn numeric_split(
        &self,
        f: usize,
        h: &[[f64; 2]],
        sparse: Option<&[u64; 4]>,
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
        let count = |e: &[f64; 2]| round_count(e[1] * cnt_factor);
        let entry = |t: usize| {
            if sparse.is_none_or(|o| has_bit(o, t)) {
                h[t]
            } else {
                [0.0; 2]
            }
        };
        let missing = entry(nv);
        let miss = [missing[0], missing[1], count(&missing)];
        let l2 = self.p.lambda_l2;
        let parent_gain = self.leaf_gain(total[0], total[1], l2, leaf.min_out, leaf.max_out);
        let mono = self.monotone.get(f).copied().unwrap_or(0);
        let random_bin = if self.extra_trees {
            let values = occupied_bins(&h[..nv], None, sparse);
            let lowest = set_bits(&values).next()?;
            let highest = set_bits(&values).last()?;
            Some(extra_trees_bin(lowest, highest, nv, rng)?)
        } else {
            None
        };
        let scan_up = miss[2] > 0.0 || self.binned.has_missing[f];
        if random_bin.is_none() && !self.has_monotone && self.p.lambda_l1 <= 0.0 {
            return self.numeric_split_plain(f, h, sparse, leaf, nv, miss, scan_up);
        }
        let mut best: Option<SplitInfo> = None;
        let mut consider = |left: [f64; 3], right: [f64; 3], t: usize, miss_left: bool| {
            if !self.valid_sides(&left, &right) {
                return;
            }
            let lo = self.leaf_output(left[0], left[1], l2, leaf.min_out, leaf.max_out);
            let ro = self.leaf_output(right[0], right[1], l2, leaf.min_out, leaf.max_out);
            if (mono > 0 && lo > ro) || (mono < 0 && lo < ro) {
                return;
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
                    default_left: default_left(miss[2], miss_left, left[2], right[2]),
                    cat_bins: None,
                    left,
                    right,
                    left_output: lo,
                    right_output: ro,
                });
            }
        };
        // Extra trees evaluate one threshold, `rb`: the scan up reaches it at bin `rb`, the
        // scan down on adding bin `rb + 1` (at most the last value bin) to the right side.
        let mut occupied = occupied_bins(&h[..nv], random_bin, sparse);
        if let Some(rb) = random_bin {
            add_bit(&mut occupied, rb + 1);
        }
        let mut listed = [0u8; 256];
        let mut m = 0;
        for t in set_bits(&occupied) {
            listed[m] = t as u8;
            m += 1;
        }
        let listed = &listed[..m];
        // The scan down, missing values left (see `scan_thresholds`).
        let mut right = [0.0; 3];
        for &t in listed.iter().rev() {
            let t = usize::from(t);
            if t == 0 {
                break;
            }
            let b = &entry(t);
            right[0] += b[0];
            right[1] += b[1];
            right[2] += count(b);
            if random_bin.is_some_and(|rb| rb + 1 != t) {
                continue;
            }
            if b[1] == 0.0 && random_bin.is_none() {
                // Same partition as the previous threshold.
                continue;
            }
            let left = [
                total[0] - right[0],
                total[1] - right[1],
                total[2] - right[2],
            ];
            consider(left, right, t - 1, true);
        }
        // The scan up, missing values right, when the feature has any.
        if scan_up {
            let mut left = [0.0; 3];
            for &t in listed {
                let t = usize::from(t);
                let b = &entry(t);
                left[0] += b[0];
                left[1] += b[1];
                left[2] += count(b);
                if random_bin.is_some_and(|rb| rb != t) {
                    continue;
                }
                if b[1] == 0.0 && random_bin.is_none() {
                    continue;
                }
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                consider(left, right, t, false);
            }
        }
        best
    }

    /// [`Self::numeric_split`] without extra-trees, monotone constraints or L1, where a
    /// threshold's gain is a plain function of its left sums: the same sums, gains and choice,
    /// bit for bit, computed in three passes over the occupied bins (of the `nv - 1` that
    /// may end a left side) instead of one with a
    /// branch per bin. Running sums first (the additions in bin order, as before); then every
    /// threshold's gain, with no branch on whether it is allowed (a bin with rows but no
    /// hessian, a side below the minimums: such thresholds get -inf), which the compiler can
    /// keep in vector registers; then the first largest gain. A branch per bin was most of a
    /// small multiclass fit: on a leaf whose histogram came from a subtraction, which bins
    /// hold rounding residues and which exact zeros is a coin flip to a branch predictor.
    #[allow(clippy::too_many_arguments)]
    fn numeric_split_plain(
        &self,
        f: usize,
        h: &[[f64; 2]],
        sparse: Option<&[u64; 4]>,
        leaf: &Leaf,
        nv: usize,
        miss: [f64; 3],
        scan_up: bool,
    ) -> Option<SplitInfo> {
        let total = leaf.sum;
        let l2 = self.p.lambda_l2;
        // The occupied bins (see `occupied_bins`), listed without a branch: every bin is
        // written at the cursor, which moves on only past an occupied one.
        let mut bins = [0u8; 256];
        let mut m = 0;
        let mut list = |t: usize, b: &[f64; 2]| {
            bins[m] = t as u8;
            m += usize::from((b[0].to_bits() | b[1].to_bits()) != 0);
        };
        match sparse {
            // Only the candidates a sparse histogram marks: a small leaf's few bins.
            Some(o) => set_bits(o)
                .take_while(|&t| t < nv.min(256))
                .for_each(|t| list(t, &h[t])),
            None => h[..nv]
                .iter()
                .enumerate()
                .take(256)
                .for_each(|(t, b)| list(t, b)),
        }
        let bins = &bins[..m];
        SCAN_BUFFERS
            .with_borrow_mut(|(sums, gains)| {
                let (sums, gains) = (&mut sums[..m], &mut gains[..m]);
                #[cfg(target_arch = "x86_64")]
                if scan_uses_avx2() {
                    // SAFETY: the CPU has AVX2 (`scan_uses_avx2`).
                    return unsafe {
                        self.scan_thresholds_avx2(h, bins, sums, gains, leaf, scan_up)
                    };
                }
                self.scan_thresholds::<false>(h, bins, sums, gains, leaf, scan_up)
            })
            .map(|((threshold, gain), miss_left, left)| {
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                let (lo_out, hi_out) = (leaf.min_out, leaf.max_out);
                SplitInfo {
                    feature: f,
                    gain,
                    threshold_bin: threshold,
                    default_left: default_left(miss[2], miss_left, left[2], right[2]),
                    cat_bins: None,
                    left,
                    right,
                    left_output: self.leaf_output(left[0], left[1], l2, lo_out, hi_out),
                    right_output: self.leaf_output(right[0], right[1], l2, lo_out, hi_out),
                }
            })
    }

    /// [`Self::scan_thresholds`], compiled for AVX2 when the CPU has it. The gains pass is
    /// two divisions a threshold, and a many-class fit is mostly this scan: four f64 lanes
    /// instead of SSE2's two took a 32-class fit from 2.4–2.8 s to 1.9–2.3 s. The binary
    /// stays portable (x86-64 baseline); vector lanes round as scalar code does, and Rust
    /// never fuses a multiply and an add, so both paths give the same bits.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_thresholds_avx2(
        &self,
        h: &[[f64; 2]],
        bins: &[u8],
        sums: &mut [[f64; 4]],
        gains: &mut [f64],
        leaf: &Leaf,
        scan_up: bool,
    ) -> Option<((u8, f64), bool, [f64; 3])> {
        self.scan_thresholds::<true>(h, bins, sums, gains, leaf, scan_up)
    }

    /// The best threshold among the occupied value bins `bins` of `h` (ascending, the last
    /// value bin included): ((the threshold bin, its gain), whether missing values go left,
    /// the left sums). `sums` and `gains` (as long as `bins`) are scratch space, written before
    /// they are read. `TRUNC`: see [`round_count_via`].
    ///
    /// LightGBM's two scans (`FindBestThresholdSequentially`), in its order. First from the
    /// highest bin down, summing the right side, missing values left; then, when `scan_up`
    /// (the feature has missing values, LightGBM's missing type NaN, even where this leaf has
    /// none), from the lowest bin up, summing the left side, missing values right; a later
    /// threshold must be strictly better. The direction matters beyond ties: a side's
    /// row count is estimated per bin from hessians (`cnt_factor`) and summed on the side
    /// being scanned, the other side's is the leaf's rows less that, so the two scans admit
    /// different thresholds near `min_data_in_leaf`. Scanned down, a threshold lies just below
    /// an occupied bin (the highest of a run of empty bins), as LightGBM places it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn scan_thresholds<const TRUNC: bool>(
        &self,
        h: &[[f64; 2]],
        bins: &[u8],
        sums: &mut [[f64; 4]],
        gains: &mut [f64],
        leaf: &Leaf,
        scan_up: bool,
    ) -> Option<((u8, f64), bool, [f64; 3])> {
        let total = leaf.sum;
        let cnt_factor = if total[1] > 0.0 {
            total[2] / total[1]
        } else {
            0.0
        };
        let l2 = self.p.lambda_l2;
        let min_data = self.p.min_data_in_leaf.max(1) as f64;
        let min_hess = self.p.min_sum_hessian_in_leaf;
        let gain_of = |g: f64, h: f64| g * g / (h + l2 + K_EPSILON);
        let parent_gain = gain_of(total[0], total[1]);
        let mut best_gain = self.p.min_gain_to_split;
        let mut best: Option<(u8, bool, [f64; 3])> = None;
        let limits = [min_data, min_hess];
        // Down: the right side's sums, highest bin first. The scan stops before bin 0, whose
        // threshold (below it) would leave nothing left.
        let down = bins.iter().rev().copied().take_while(|&t| t != 0);
        if let Some(j) = scan_one_way::<TRUNC>(
            h,
            down,
            sums,
            gains,
            total,
            cnt_factor,
            limits,
            gain_of,
            parent_gain,
            &mut best_gain,
        ) {
            let s = sums[j];
            // The bin just added to the right side; the threshold is the bin below it.
            let t = bins[bins.len() - 1 - j];
            best = Some((
                t - 1,
                true,
                [total[0] - s[0], total[1] - s[1], total[2] - s[2]],
            ));
        }
        // Up: the left side's sums.
        if scan_up
            && let Some(j) = scan_one_way::<TRUNC>(
                h,
                bins.iter().copied(),
                sums,
                gains,
                total,
                cnt_factor,
                limits,
                gain_of,
                parent_gain,
                &mut best_gain,
            )
        {
            let s = sums[j];
            best = Some((bins[j], false, [s[0], s[1], s[2]]));
        }
        best.map(|(t, miss_left, left)| ((t, best_gain), miss_left, left))
    }

    /// LightGBM's categorical split. Only the feature's kept categories (see
    /// `categorical_bins_kept`) are candidates; missing values and the rest always go right.
    /// With at most `max_cat_to_onehot - 1` kept categories it tries each one against the rest
    /// (plain `lambda_l2`); otherwise it orders the categories with at least `cat_smooth` rows in
    /// the leaf by sum_gradient / (sum_hessian + cat_smooth) and cuts that order from either end,
    /// at most `min(max_cat_threshold, (n + 1) / 2)` categories on the left, with `cat_l2` added
    /// to `lambda_l2` in both children (the parent keeps plain `lambda_l2`, so the extra
    /// regularisation has to be earned by the split), at least `min_data_per_group` rows on the
    /// right and in every group of categories added to the left between two candidate cuts.
    fn categorical_split(
        &self,
        f: usize,
        h: &[[f64; 2]],
        leaf: &Leaf,
        rng: &mut Rng,
    ) -> Option<SplitInfo> {
        let kept = &self.cat_kept[f];
        let total = leaf.sum;
        let cnt_factor = if total[1] > 0.0 {
            total[2] / total[1]
        } else {
            0.0
        };
        let count = |e: &[f64; 2]| round_count(e[1] * cnt_factor);
        let parent_gain = self.leaf_gain(
            total[0],
            total[1],
            self.p.lambda_l2,
            leaf.min_out,
            leaf.max_out,
        );
        // A left set as a bit set of whole 256-bin blocks (see `Node::threshold_bin`).
        let bit_set = |cats: &mut dyn Iterator<Item = usize>| {
            let mut bits = vec![0u64; 4 * h.len().div_ceil(256)];
            cats.for_each(|c| add_bit(&mut bits, c));
            bits
        };
        // The kept categories in ascending order, without collecting them.
        let cats = || set_bits(kept).take_while(|&c| c < h.len());
        let n_cats = cats().count();
        // The best split so far, and which categories go left: candidate cuts are many, so
        // only the best one's set is written out.
        let mut best: Option<(SplitInfo, LeftCut)> = None;
        // `left` sums the left categories' entries from zero in the order they joined: the
        // scans below keep it as they go, so a cut costs no pass over its categories.
        let consider =
            |left: [f64; 3], cut: LeftCut, l2: f64, best: &mut Option<(SplitInfo, LeftCut)>| {
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                let lo = self.leaf_output(left[0], left[1], l2, leaf.min_out, leaf.max_out);
                let ro = self.leaf_output(right[0], right[1], l2, leaf.min_out, leaf.max_out);
                let gain = self.leaf_gain(left[0], left[1], l2, leaf.min_out, leaf.max_out)
                    + self.leaf_gain(right[0], right[1], l2, leaf.min_out, leaf.max_out)
                    - parent_gain;
                if gain > self.p.min_gain_to_split && best.as_ref().is_none_or(|b| gain > b.0.gain)
                {
                    let split = SplitInfo {
                        feature: f,
                        gain,
                        threshold_bin: 0,
                        // Missing values and categories outside the set go right.
                        default_left: false,
                        cat_bins: None,
                        left,
                        right,
                        left_output: lo,
                        right_output: ro,
                    };
                    *best = Some((split, cut));
                }
            };
        // LightGBM counts a bin for missing and rare values besides the kept categories.
        if n_cats < self.p.max_cat_to_onehot {
            let random = if self.extra_trees && n_cats > 0 {
                Some(rng.below(n_cats as u64) as usize)
            } else {
                None
            };
            for (i, c) in cats().enumerate() {
                if random.is_some_and(|r| r != i) {
                    continue;
                }
                let left = [h[c][0], h[c][1], count(&h[c])];
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                if self.valid_sides(&left, &right) {
                    let sums = [0.0 + left[0], 0.0 + left[1], 0.0 + left[2]];
                    consider(sums, LeftCut::One(c), self.p.lambda_l2, &mut best);
                }
            }
            return best.map(|(mut split, cut)| {
                if let LeftCut::One(c) = cut {
                    split.cat_bins = Some(bit_set(&mut std::iter::once(c)));
                }
                split
            });
        }
        // The buffer is the thread's, taken and given back: a fresh one per feature and leaf
        // was an allocation each, with the other per-leaf vectors 10% of a 12k-row fit.
        let mut sorted = CATEGORY_ORDER.take();
        sorted.clear();
        sorted.extend(
            cats()
                .filter(|&c| count(&h[c]) >= self.p.cat_smooth)
                .map(|c| (h[c][0] / (h[c][1] + self.p.cat_smooth), c)),
        );
        let used = sorted.len();
        let max_left = self.p.max_cat_threshold.min(used.div_ceil(2)).min(used);
        // Categories are distinct, so the order is total and an unstable sort gives it. The
        // scans read at most `max_left` from either end: with many more categories (a wide
        // feature's thousands) only the ends are put in order.
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if used > 4 * max_left {
            sorted.select_nth_unstable_by(max_left, order);
            sorted[..max_left].sort_unstable_by(order);
            sorted[max_left..].select_nth_unstable_by(used - 2 * max_left, order);
            sorted[used - max_left..].sort_unstable_by(order);
        } else {
            sorted.sort_unstable_by(order);
        }
        if max_left == 0 {
            CATEGORY_ORDER.set(sorted);
            return None;
        }
        let random_cut = if self.extra_trees && max_left > 1 {
            Some(rng.below(max_left as u64 - 1) as usize)
        } else if self.extra_trees {
            Some(0)
        } else {
            None
        };
        let l2 = self.p.lambda_l2 + self.p.cat_l2;
        let min_data = self.p.min_data_in_leaf as f64;
        let min_group = self.p.min_data_per_group as f64;
        for reverse in [false, true] {
            let (mut left_grad, mut left_count, mut left_hess, mut group) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..max_left {
                let c = if reverse {
                    sorted[used - 1 - i].1
                } else {
                    sorted[i].1
                };
                let n = count(&h[c]);
                left_grad += h[c][0];
                left_count += n;
                left_hess += h[c][1];
                group += n;
                if left_count < min_data || left_hess < self.p.min_sum_hessian_in_leaf {
                    continue;
                }
                let right_count = total[2] - left_count;
                if right_count < min_data
                    || right_count < min_group
                    || total[1] - left_hess < self.p.min_sum_hessian_in_leaf
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
                let cut = LeftCut::Sorted {
                    reverse,
                    len: i + 1,
                };
                consider([left_grad, left_hess, left_count], cut, l2, &mut best);
            }
        }
        let best = best.map(|(mut split, cut)| {
            let ends: &mut dyn Iterator<Item = usize> = match cut {
                LeftCut::One(c) => &mut std::iter::once(c),
                LeftCut::Sorted {
                    reverse: false,
                    len,
                } => &mut sorted[..len].iter().map(|s| s.1),
                LeftCut::Sorted { reverse: true, len } => {
                    &mut sorted[used - len..].iter().map(|s| s.1)
                }
            };
            split.cat_bins = Some(bit_set(ends));
            split
        });
        CATEGORY_ORDER.set(sorted);
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
    fn round_count_is_round() {
        let below_half = 0.5f64.next_down();
        for x in [
            0.0,
            below_half,
            0.5,
            1.5,
            2.5,
            7.499_999_999_999_999,
            1e6 + 0.5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            1e300,
            -0.5,
            -2.5,
            f64::INFINITY,
        ] {
            assert_eq!(round_count(x).to_bits(), x.round().to_bits(), "{x}");
        }
        assert!(round_count(f64::NAN).is_nan());
    }

    /// Runs the categorical split finder on a hand-made histogram of one categorical feature
    /// with unit hessians (L2 loss: hessian = row count): `g[c]`, `n[c]` per category, all of
    /// them kept unless `kept` says otherwise. Returns the left set and the gain.
    fn cat_split(
        g: &[f64],
        n: &[f64],
        kept: Option<&[usize]>,
        p: &GbdtParams,
    ) -> Option<(Vec<usize>, f64, SplitInfo)> {
        let x = Features {
            n_rows: 1,
            columns: vec![Feature {
                name: "c".into(),
                data: FeatureData::Categorical {
                    codes: vec![0],
                    n_categories: g.len() as u32,
                },
            }],
        };
        let binned = BinnedData::fit(&x, 255).unwrap();
        let mut bits = vec![0u64; (g.len() + 1).div_ceil(64)];
        for c in kept.map_or_else(|| (0..g.len()).collect(), |k| k.to_vec()) {
            add_bit(&mut bits, c);
        }
        let ctx = Ctx {
            binned: &binned,
            pool: HistPool::new(0),
            p,
            monotone: &[],
            has_monotone: false,
            extra_trees: false,
            cat_kept: vec![bits],
        };
        let mut h: Vec<[f64; 2]> = g.iter().zip(n).map(|(&g, &n)| [g, n]).collect();
        h.push([0.0, 0.0]); // missing values
        let leaf = Leaf {
            begin: 0,
            end: 0,
            sum: [g.iter().sum(), n.iter().sum(), n.iter().sum()],
            output: 0.0,
            depth: 0,
            min_out: f64::NEG_INFINITY,
            max_out: f64::INFINITY,
            hist: None,
            best: None,
            parent: None,
        };
        let s = ctx.categorical_split(0, &h, &leaf, &mut Rng::new(0))?;
        let bits = s.cat_bins.clone().unwrap();
        let set = (0..g.len()).filter(|&c| has_bit(&bits, c)).collect();
        Some((set, s.gain, s))
    }

    fn cat_params(min_data_per_group: usize) -> GbdtParams {
        GbdtParams {
            min_data_in_leaf: 1,
            min_data_per_group,
            ..GbdtParams::default()
        }
    }

    // Seven categories of 50 rows; sum_gradient / (50 + cat_smooth) orders them 0 5 2 6 4 3 1.
    const G7: [f64; 7] = [-50.0, 50.0, -25.0, 25.0, 5.0, -40.0, -10.0];
    const N7: [f64; 7] = [50.0; 7];

    #[test]
    fn sorted_categorical_split_known_answer() {
        // At most (7 + 1) / 2 = 4 categories go left. The best prefix is {0, 5, 2, 6}:
        // G = -45, H = 350; children with lambda_l2 + cat_l2 = 10, the parent with lambda_l2 = 0:
        // 125²/210 + 80²/160 - 45²/350 = 108.619...
        let (set, gain, s) = cat_split(&G7, &N7, None, &cat_params(1)).unwrap();
        assert_eq!(set, vec![0, 2, 5, 6]);
        assert!((gain - 108.619_047_619).abs() < 1e-6, "{gain}");
        assert!((s.left_output - 125.0 / 210.0).abs() < 1e-9);
        assert!((s.right_output + 80.0 / 160.0).abs() < 1e-9);
        assert!(!s.default_left);
        // lambda_l2 = 1 reaches the parent too: 125²/211 + 80²/161 - 45²/351.
        let p = GbdtParams {
            lambda_l2: 1.0,
            ..cat_params(1)
        };
        let (set, gain, _) = cat_split(&G7, &N7, None, &p).unwrap();
        assert_eq!(set, vec![0, 2, 5, 6]);
        let want = 125.0f64.powi(2) / 211.0 + 80.0f64.powi(2) / 161.0 - 45.0f64.powi(2) / 351.0;
        assert!((gain - want).abs() < 1e-9, "{gain} vs {want}");
    }

    #[test]
    fn max_cat_threshold_limits_the_left_side() {
        // One category from either end: {0} gains 50²/60 + 5²/310 - 45²/350 = 35.96,
        // {1} gains 50²/60 + 95²/310 - 45²/350 = 64.99.
        let p = GbdtParams {
            max_cat_threshold: 1,
            ..cat_params(1)
        };
        let (set, gain, _) = cat_split(&G7, &N7, None, &p).unwrap();
        assert_eq!(set, vec![1]);
        assert!((gain - 64.993_855_607).abs() < 1e-6, "{gain}");
    }

    #[test]
    fn a_wide_feature_splits_its_categories_past_255_and_orders_only_the_ends() {
        // 600 categories of 50 rows: ten past 255 pull down hard, the rest up a little, and a
        // few near the top of the order (which only a full sort would put in place) add noise
        // to the middle. At most 32 go left: the ten.
        let mut g = vec![1.0; 600];
        g[400..410].fill(-50.0);
        for (i, c) in [7, 99, 311, 599].into_iter().enumerate() {
            g[c] = 2.0 + i as f64;
        }
        let n = vec![50.0; 600];
        let (set, gain, s) = cat_split(&g, &n, None, &cat_params(1)).unwrap();
        assert_eq!(set, (400..410).collect::<Vec<_>>());
        assert_eq!(s.cat_bins.as_ref().map(Vec::len), Some(12));
        // Left: G = -500, H = 500; right: G = 590 + 10 = 600, H = 29,500; the children with
        // cat_l2 = 10, the parent plain: 500²/510 + 600²/29,510 - 100²/30,000.
        let want =
            500.0f64.powi(2) / 510.0 + 600.0f64.powi(2) / 29_510.0 - 100.0f64.powi(2) / 30_000.0;
        assert!((gain - want).abs() < 1e-6, "{gain} vs {want}");
    }

    #[test]
    fn min_data_per_group_spaces_the_cuts() {
        // With 120 rows per group a cut is tried only after three 50-row categories: {0, 5, 2}
        // or {1, 3, 4} (the complement of the unrestricted best, so the same gain).
        let (set, gain, _) = cat_split(&G7, &N7, None, &cat_params(120)).unwrap();
        assert_eq!(set, vec![1, 3, 4]);
        assert!((gain - 108.619_047_619).abs() < 1e-6, "{gain}");
        // The right side needs min_data_per_group rows too: none of 350 rows can give 400.
        assert!(cat_split(&G7, &N7, None, &cat_params(400)).is_none());
    }

    #[test]
    fn one_hot_below_max_cat_to_onehot() {
        let g = [-30.0, -30.0, 30.0, 30.0];
        let n = [50.0; 4];
        // Four categories and a bin for missing/rare values make 5 bins <= 5: one against the
        // rest, with plain lambda_l2: 30²/50 + 30²/150 = 24 (the first of four equal ones).
        let p = GbdtParams {
            max_cat_to_onehot: 5,
            ..cat_params(1)
        };
        let (set, gain, s) = cat_split(&g, &n, None, &p).unwrap();
        assert_eq!(set, vec![0]);
        assert!((gain - 24.0).abs() < 1e-9, "{gain}");
        assert!((s.left_output - 30.0 / 50.0).abs() < 1e-12);
        // 5 bins > 4 (the default): sorted, two a side, cat_l2 in the children: 2 * 60²/110.
        let (set, gain, _) = cat_split(&g, &n, None, &cat_params(1)).unwrap();
        assert_eq!(set, vec![0, 1]);
        assert!((gain - 2.0 * 3600.0 / 110.0).abs() < 1e-9, "{gain}");
    }

    #[test]
    fn small_and_dropped_categories_stay_right() {
        // Category 4 has 8 rows < cat_smooth = 10: it is not sorted and stays on the right.
        // {3, 2} from the top: 60²/110 + 80²/118 - 20²/208 = 85.04.
        let g = [-30.0, -30.0, 30.0, 30.0, -20.0];
        let n = [50.0, 50.0, 50.0, 50.0, 8.0];
        let (set, gain, _) = cat_split(&g, &n, None, &cat_params(1)).unwrap();
        assert_eq!(set, vec![2, 3]);
        assert!((gain - 85.041_483_94).abs() < 1e-6, "{gain}");
        // A category that lost its bin is never a candidate, however strong.
        let g = [-1.0, 1.0, 40.0];
        let n = [50.0, 50.0, 50.0];
        let p = cat_params(1);
        let (set, _, _) = cat_split(&g, &n, None, &p).unwrap();
        assert_eq!(set, vec![2]);
        let (set, _, _) = cat_split(&g, &n, Some(&[0, 1]), &p).unwrap();
        assert_eq!(set, vec![0]);
    }

    #[test]
    fn lightgbm_keeps_categories_by_frequency() {
        let kept_of = |codes: Vec<u32>, n_categories: u32| {
            let x = Features {
                n_rows: codes.len(),
                columns: vec![Feature {
                    name: "c".into(),
                    data: FeatureData::Categorical {
                        codes,
                        n_categories,
                    },
                }],
            };
            let b = BinnedData::fit(&x, 255).unwrap();
            let k = b
                .categorical_bins_kept(
                    crate::data::Rows::span(0, x.n_rows),
                    255,
                    crate::binning::MIN_DATA_IN_BIN,
                    0,
                )
                .swap_remove(0);
            (0..256usize)
                .filter(|&c| has_bit(&k, c))
                .collect::<Vec<_>>()
        };
        let rep = |counts: &[(u32, usize)]| -> Vec<u32> {
            counts
                .iter()
                .flat_map(|&(c, n)| std::iter::repeat_n(c, n))
                .collect()
        };
        // 500/300/195/5 rows, nothing missing: the first three cover 99.5% >= 99%, so the
        // rarest goes to the missing values' bin.
        assert_eq!(
            kept_of(rep(&[(0, 500), (1, 300), (2, 195), (3, 5)]), 5),
            vec![0, 1, 2]
        );
        // With missing values the bin count allows every category.
        let mut codes = rep(&[(0, 500), (1, 300), (2, 195), (3, 5)]);
        codes.push(MISSING_CODE);
        assert_eq!(kept_of(codes, 5), vec![0, 1, 2, 3]);
        // Below 3 rows a category loses its bin (and so do rarer ones), after the first two.
        let mut codes = rep(&[(3, 100), (1, 50), (0, 2), (2, 2)]);
        codes.push(MISSING_CODE);
        assert_eq!(kept_of(codes, 5), vec![1, 3]);
        let mut codes = rep(&[(0, 2), (1, 1)]);
        codes.push(MISSING_CODE);
        assert_eq!(kept_of(codes, 3), vec![0, 1]);
        // Above 200,000 rows the counts are over LightGBM's sample: category 3 has 4 rows, of
        // which only 2 are sampled, so it loses its bin; category 2 has its 3 rows sampled.
        let n = 250_000;
        let sample = crate::binning::bin_sample_rows(n, 0).unwrap();
        let mut in_sample = vec![false; n];
        for &r in &sample {
            in_sample[r as usize] = true;
        }
        let (yes, no): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| in_sample[r]);
        let mut codes: Vec<u32> = (0..n as u32).map(|r| r % 2).collect();
        for &r in &yes[..3] {
            codes[r] = 2;
        }
        for &r in yes[3..5].iter().chain(&no[..2]) {
            codes[r] = 3;
        }
        codes[no[2]] = MISSING_CODE;
        assert_eq!(kept_of(codes, 4), vec![0, 1, 2]);
    }

    #[test]
    fn occupied_bins_known_answer() {
        let mut h = vec![[0.0f64; 2]; 200];
        h[3] = [0.5, 0.0]; // a gradient without hessian still moves the left sums
        h[64] = [-0.0, 0.0]; // -0.0 would change a +0.0 sum's sign bit: not skipped
        h[130] = [0.0, 2.0];
        h[199] = [1.0, 1.0];
        let bits = occupied_bins(&h, None, None);
        assert_eq!(set_bits(&bits).collect::<Vec<_>>(), [3, 64, 130, 199]);
        let bits = occupied_bins(&h, Some(70), None);
        assert_eq!(set_bits(&bits).collect::<Vec<_>>(), [3, 64, 70, 130, 199]);
        // A sparse histogram's candidates: only those are read.
        let mut candidates = [0u64; 4];
        for t in [3, 5, 130] {
            add_bit(&mut candidates, t);
        }
        let bits = occupied_bins(&h, None, Some(&candidates));
        assert_eq!(set_bits(&bits).collect::<Vec<_>>(), [3, 130]);
        assert_eq!(set_bits(&[0; 4]).next(), None);
        assert_eq!(set_bits(&[0, 0, 0, 1 << 63]).collect::<Vec<_>>(), [255]);
    }

    /// The threshold scan over occupied bins finds, bit for bit, the split of the scan over
    /// every bin (LightGBM's loops, kept here as the reference), for a feature with missing
    /// values (scanned both ways in every leaf) and one without (down only, unless a leaf
    /// holds missing values).
    #[test]
    fn numeric_scan_skipping_empty_bins_is_the_full_scan() {
        check_scans_against_the_full_scan(true);
        check_scans_against_the_full_scan(false);
    }

    fn check_scans_against_the_full_scan(with_missing: bool) {
        let values = (0..1000).map(|v| v as f32);
        let x = crate::gbdt::test_data::numeric_features(vec![if with_missing {
            values.chain([f32::NAN]).collect()
        } else {
            values.collect()
        }]);
        let binned = BinnedData::fit(&x, 255).unwrap();
        assert_eq!(binned.has_missing, [with_missing]);
        let mapper = &binned.mappers[0];
        let nv = mapper.n_value_bins as usize;
        // Missing values take one of the 255 bins.
        assert_eq!(nv, if with_missing { 254 } else { 255 });
        let p = GbdtParams {
            min_data_in_leaf: 3,
            ..GbdtParams::default()
        };
        let ctx = Ctx {
            binned: &binned,
            pool: HistPool::new(0),
            p: &p,
            monotone: &[],
            has_monotone: false,
            extra_trees: false,
            cat_kept: vec![vec![0; 4]],
        };
        let mut rng = Rng::new(4);
        for case in 0..200 {
            // Sparse histograms (a small leaf's), with subtraction residuals: bins whose
            // hessian is zero but gradient not, and tiny values.
            let mut h = vec![[0.0f64; 2]; nv + 1];
            let mut candidates = [0u64; 4];
            let filled = 2 + rng.below(40) as usize;
            for i in 0..filled {
                let b = rng.below(nv as u64 + 1) as usize;
                add_bit(&mut candidates, b);
                if i % 4 == 0 {
                    // An empty bin a sparse histogram marks (its rows went to the sibling).
                    continue;
                }
                let g = (rng.next_f64() - 0.5) * 10f64.powi(rng.below(6) as i32 - 3);
                let he = match rng.below(5) {
                    0 => 0.0,
                    1 => 1e-17,
                    _ => rng.next_f64() * 3.0,
                };
                h[b] = [h[b][0] + g, h[b][1] + he];
            }
            let hess: f64 = h.iter().map(|e| e[1]).sum();
            let sum = [
                h.iter().map(|e| e[0]).sum(),
                hess,
                (hess * 10.0).round().max(1.0),
            ];
            let leaf = Leaf {
                begin: 0,
                end: sum[2] as usize,
                sum,
                output: 0.0,
                depth: 0,
                min_out: f64::NEG_INFINITY,
                max_out: f64::INFINITY,
                hist: None,
                best: None,
                parent: None,
            };
            let got = ctx.numeric_split(0, &h, None, &leaf, mapper, &mut rng.clone());
            // The portable scan gives the same bits as the AVX2 one (where the CPU has it).
            PORTABLE_SCAN.with(|p| p.set(true));
            let portable = ctx.numeric_split(0, &h, None, &leaf, mapper, &mut rng.clone());
            PORTABLE_SCAN.with(|p| p.set(false));
            let bits = |s: &Option<SplitInfo>| {
                s.as_ref().map(|s| {
                    (
                        s.gain.to_bits(),
                        s.threshold_bin,
                        s.default_left,
                        s.left.map(f64::to_bits),
                    )
                })
            };
            assert_eq!(
                bits(&portable),
                bits(&got),
                "case {case}: the portable scan"
            );
            // The same histogram made sparse: stale values outside its marked bins.
            let stale: Vec<[f64; 2]> = h
                .iter()
                .enumerate()
                .map(|(t, &e)| {
                    let marked = has_bit(&candidates, t);
                    if marked { e } else { [7.0, 3.0] }
                })
                .collect();
            let sparse = ctx.numeric_split(
                0,
                &stale,
                Some(&candidates),
                &leaf,
                mapper,
                &mut rng.clone(),
            );
            assert_eq!(
                sparse
                    .as_ref()
                    .map(|s| (s.gain.to_bits(), s.threshold_bin, s.default_left)),
                got.as_ref()
                    .map(|s| (s.gain.to_bits(), s.threshold_bin, s.default_left)),
                "case {case}: the sparse scan"
            );
            // The general scan (L1 here) reads a sparse histogram the same way.
            let l1 = GbdtParams {
                lambda_l1: 0.01,
                ..p.clone()
            };
            let ctx_l1 = Ctx {
                binned: &binned,
                pool: HistPool::new(0),
                p: &l1,
                monotone: &[],
                has_monotone: false,
                extra_trees: false,
                cat_kept: vec![vec![0; 4]],
            };
            let split = |h: &[[f64; 2]], o| {
                ctx_l1
                    .numeric_split(0, h, o, &leaf, mapper, &mut rng.clone())
                    .map(|s| (s.gain.to_bits(), s.threshold_bin, s.default_left))
            };
            assert_eq!(
                split(&stale, Some(&candidates)),
                split(&h, None),
                "case {case}: L1"
            );
            // The full scan over every bin, as LightGBM makes it (`FindBestThresholdSequentially`):
            // down from the highest value bin summing the right side, missing values left; then,
            // with missing values in the leaf, up from bin 0 summing the left side, missing values
            // right. A bin without hessian makes the previous threshold's partition: skipped.
            let cnt_factor = if sum[1] > 0.0 { sum[2] / sum[1] } else { 0.0 };
            let count = |e: &[f64; 2]| round_count(e[1] * cnt_factor);
            let miss = [h[nv][0], h[nv][1], count(&h[nv])];
            let full_scan = |ctx: &Ctx| {
                let l2 = ctx.p.lambda_l2;
                let inf = f64::INFINITY;
                let parent = ctx.leaf_gain(sum[0], sum[1], l2, -inf, inf);
                let mut want: Option<(f64, usize, bool, [f64; 3])> = None;
                let mut consider = |left: [f64; 3], right: [f64; 3], t: usize, miss_left: bool| {
                    if !ctx.valid_sides(&left, &right) {
                        return;
                    }
                    let gain = ctx.leaf_gain(left[0], left[1], l2, -inf, inf)
                        + ctx.leaf_gain(right[0], right[1], l2, -inf, inf)
                        - parent;
                    if gain > ctx.p.min_gain_to_split && want.is_none_or(|w| gain > w.0) {
                        want = Some((gain, t, miss_left, left));
                    }
                };
                let mut right = [0.0; 3];
                for t in (1..nv).rev() {
                    let b = &h[t];
                    right[0] += b[0];
                    right[1] += b[1];
                    right[2] += count(b);
                    if b[1] != 0.0 {
                        let left = [sum[0] - right[0], sum[1] - right[1], sum[2] - right[2]];
                        consider(left, right, t - 1, true);
                    }
                }
                if miss[2] > 0.0 || with_missing {
                    let mut left = [0.0; 3];
                    for (t, b) in h.iter().take(nv).enumerate() {
                        left[0] += b[0];
                        left[1] += b[1];
                        left[2] += count(b);
                        if b[1] != 0.0 {
                            let right = [sum[0] - left[0], sum[1] - left[1], sum[2] - left[2]];
                            consider(left, right, t, false);
                        }
                    }
                }
                want
            };
            // The general scan (L1) makes the same choice as the full scan with L1.
            assert_eq!(
                split(&h, None),
                full_scan(&ctx_l1).map(|(gain, t, miss_left, left)| (
                    gain.to_bits(),
                    t as u8,
                    default_left(miss[2], miss_left, left[2], sum[2] - left[2])
                )),
                "case {case} (missing values: {with_missing}): L1 against the full scan"
            );
            let want = full_scan(&ctx);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((gain, t, miss_left, left))) => {
                    assert_eq!(g.gain.to_bits(), gain.to_bits(), "case {case}");
                    assert_eq!(g.threshold_bin as usize, t, "case {case}");
                    assert_eq!(g.left.map(f64::to_bits), left.map(f64::to_bits));
                    if miss[2] > 0.0 {
                        assert_eq!(g.default_left, miss_left, "case {case}");
                    }
                }
                (g, w) => panic!("case {case}: {:?} vs {w:?}", g.map(|g| g.gain)),
            }
        }
    }

    #[test]
    fn extra_trees_draws_a_threshold_inside_the_leaf() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let t = extra_trees_bin(3, 9, 20, &mut rng).unwrap();
            assert!((3..9).contains(&t), "{t}");
        }
        assert_eq!(extra_trees_bin(4, 4, 20, &mut rng), Some(4));
        assert_eq!(extra_trees_bin(19, 19, 20, &mut rng), None);
        // A positive feature of three values has four bins: the empty zero bin, 1, 2 and 3. A
        // draw over every bin would pick the empty one for a third of the trees and leave them
        // stumps; the leaf-range draw splits every tree, in boosting (regression, binary) and
        // in the multiclass extra-trees forest's one tree for all classes.
        let v: Vec<f32> = (0..300).map(|i| (1 + i % 3) as f32).collect();
        let class: Vec<f64> = (0..300).map(|i| (i % 3) as f64).collect();
        let first: Vec<f64> = class.iter().map(|&c| f64::from(c == 0.0)).collect();
        let x = crate::gbdt::test_data::numeric_features(vec![v]);
        let binned = BinnedData::fit(&x, 255).unwrap();
        assert_eq!(binned.mappers[0].n_value_bins, 4);
        for (task, y, k, boosting) in [
            (Task::Regression, &class, 1, crate::gbdt::Boosting::Gbdt),
            (Task::Binary, &first, 2, crate::gbdt::Boosting::Gbdt),
            (Task::Multiclass, &class, 3, crate::gbdt::Boosting::Et),
        ] {
            let p = GbdtParams {
                boosting,
                num_iterations: 40,
                num_leaves: 2,
                min_data_in_leaf: 1,
                extra_trees: true,
                ..GbdtParams::default()
            };
            let m = fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap();
            let split = m.trees.iter().filter(|t| t.nodes.len() == 1).count();
            assert_eq!(
                split,
                m.trees.len(),
                "{task:?}: {split} of {} trees split",
                m.trees.len()
            );
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
        // Brute force: best SSE reduction over every feature and every candidate threshold (the
        // bin bounds, which hold at least three rows each but the last, as LightGBM's).
        let mean = yreg.iter().sum::<f64>() / yreg.len() as f64;
        let mut best = (f64::NEG_INFINITY, 0usize, 0.0f64);
        for (f, c) in x.columns.iter().enumerate() {
            let (FeatureData::Numeric(v), BinKind::Numeric { upper_bounds }) =
                (&c.data, &binned.mappers[f].kind)
            else {
                continue;
            };
            for &th in upper_bounds.iter().filter(|b| b.is_finite()) {
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
