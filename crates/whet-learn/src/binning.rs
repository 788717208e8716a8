//! Histogram bins: each feature's values mapped to small integers, once per dataset: at most
//! 256 per feature in one byte, but for a categorical feature with more than 255 levels, whose
//! levels each keep a bin of their own (as in LightGBM) in two bytes (a wide feature).
//!
//! The binned matrix is built once and shared read-only by every model fit on the dataset
//! (AutoML trials and cross-validation folds select rows by index; nothing is copied). Bins are
//! stored twice: row-major for histogram building (one row's bins are contiguous, so one pass
//! over a leaf's rows fills every feature's histogram) and column-major for partitioning rows
//! at a split (one feature, many rows). A wide feature's bins are a third copy, a column of
//! u16 (`BinnedData::wide`); its byte in the other two is 0 and nothing reads it: histograms
//! fill its entries from the wide column, and partitions and tree walks read that.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::prep::{Feature, FeatureData, Features, MISSING_CODE, PrepOptions};

use crate::data::Rows;
use crate::error::{LearnError, Result};

/// Rows sampled to choose bin boundaries (LightGBM's `bin_construct_sample_cnt` default).
pub const BIN_SAMPLE_ROWS: usize = 200_000;
pub const MAX_BIN_LIMIT: usize = 255;
/// Most bins of a wide categorical feature, its missing-value bin included: bins are u16, and
/// one value stays free for a marker.
pub const MAX_CATEGORY_BINS: usize = u16::MAX as usize;
/// `options` keeping every level of a categorical column that a wide feature's bins hold (up
/// to `MAX_CATEGORY_BINS - 1`), as `whet fit`'s tree learners do: LightGBM sees every level of a
/// column of pandas categories, and chooses which of them a split may send left.
pub fn keeping_every_level(options: PrepOptions) -> PrepOptions {
    PrepOptions {
        max_categories: MAX_CATEGORY_BINS - 1,
        ..options
    }
}

/// LightGBM's `min_data_in_bin` default: a numeric bin holds at least this many sampled rows
/// (but the last), and categories with fewer training rows lose their own bin (after the two
/// most frequent).
pub const MIN_DATA_IN_BIN: usize = 3;
/// Values within this of zero are zero to the binning (LightGBM's `kZeroThreshold`, a float).
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BinKind {
    /// Bin b holds values v with upper_bounds[b-1] < v <= upper_bounds[b]; the last bound is +inf.
    Numeric { upper_bounds: Vec<f64> },
    /// Bin = category code; codes at or beyond `n_value_bins - 1` share the last value bin.
    Categorical,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinMapper {
    pub kind: BinKind,
    /// Bins for values; the missing-value bin comes after them (index `n_value_bins`).
    pub n_value_bins: u32,
}

impl BinMapper {
    pub fn n_bins(&self) -> usize {
        self.n_value_bins as usize + 1
    }

    /// The missing-value bin of a feature of at most 256 bins (a wide feature's is
    /// [`Self::missing_index`]).
    pub fn missing_bin(&self) -> u8 {
        self.n_value_bins as u8
    }

    /// The missing-value bin, of any feature.
    pub fn missing_index(&self) -> usize {
        self.n_value_bins as usize
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, BinKind::Categorical)
    }

    /// A categorical feature of more than 256 bins, stored as u16 (see the module notes).
    pub fn is_wide(&self) -> bool {
        self.n_bins() > 256
    }

    #[inline]
    pub fn bin_numeric(&self, v: f32, upper_bounds: &[f64]) -> u8 {
        if v.is_nan() {
            return self.missing_bin();
        }
        let v = f64::from(v);
        upper_bounds.partition_point(|&b| b < v) as u8
    }

    #[inline]
    pub fn bin_code(&self, code: u32) -> u8 {
        self.bin_code_wide(code) as u8
    }

    /// [`Self::bin_code`] for a feature of any width.
    #[inline]
    pub fn bin_code_wide(&self, code: u32) -> u16 {
        if code == MISSING_CODE {
            self.n_value_bins as u16
        } else {
            code.min(self.n_value_bins - 1) as u16
        }
    }

    /// LightGBM's numeric binning (`BinMapper::FindBin` with its defaults), so that a tree
    /// with LightGBM's parameters sees the same candidate thresholds: zero gets a bin of its
    /// own (between ±`ZERO_THRESHOLD`), negative and positive values share the other bins in
    /// proportion to their rows, every bin but the last holds at least `min_data_in_bin`
    /// sampled rows (on small data this merges rare values, which keeps a threshold from
    /// isolating one or two rows), and when values are missing their bin is one of the
    /// `max_bin`.
    fn fit_numeric(
        values: &[f32],
        sample: Option<&[u32]>,
        max_bin: usize,
        min_data_in_bin: usize,
    ) -> BinMapper {
        let sample: Vec<f32> = match sample {
            Some(rows) => rows.iter().map(|&r| values[r as usize]).collect(),
            None => values.to_vec(),
        };
        let sampled = sample.len();
        let mut present: Vec<f32> = sample.into_iter().filter(|v| !v.is_nan()).collect();
        let value_bins = if present.len() < sampled {
            max_bin - 1
        } else {
            max_bin
        };
        sort_total_order(&mut present);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for v in &present {
            let v = f64::from(*v);
            match distinct.last_mut() {
                // -0.0 == 0.0: one value.
                Some((last, count)) if *last == v => *count += 1,
                _ => distinct.push((v, 1)),
            }
        }
        let upper_bounds = if distinct.is_empty() {
            vec![f64::INFINITY]
        } else {
            bounds_with_zero_as_one_bin(&distinct, value_bins, present.len(), min_data_in_bin)
        };
        BinMapper {
            n_value_bins: upper_bounds.len() as u32,
            kind: BinKind::Numeric { upper_bounds },
        }
    }

    /// A bin per category code. Up to 255 categories, at most `max_bin` bins (the codes past
    /// them share the last); beyond, every category a bin (a wide feature, up to
    /// `MAX_CATEGORY_BINS`), as LightGBM gives a bin to every category it keeps whatever
    /// `max_bin` says, for the split to choose which of them may go left.
    fn fit_categorical(n_categories: u32, max_bin: usize) -> BinMapper {
        let n_value_bins = if n_categories as usize > MAX_BIN_LIMIT {
            n_categories.min(MAX_CATEGORY_BINS as u32 - 1)
        } else {
            n_categories.clamp(1, max_bin as u32)
        };
        BinMapper {
            kind: BinKind::Categorical,
            n_value_bins,
        }
    }
}

/// Sorts `values` as `sort_unstable_by(f32::total_cmp)` would (equal keys are equal bits, so
/// the result is the same), by their bits: a least-significant-digit radix sort in passes of
/// 11 bits, skipping a pass whose digit every value shares. Binning sorts up to 200,000 values
/// per feature; a comparison sort of that many took about 5 ms, this takes about 0.8 ms.
fn sort_total_order(values: &mut [f32]) {
    const RADIX_MIN: usize = 4096;
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    if values.len() < RADIX_MIN {
        values.sort_unstable_by(f32::total_cmp);
        return;
    }
    // Flipping the sign bit of positives and every bit of negatives orders the keys as
    // `total_cmp` orders the values.
    let key = |v: f32| {
        let b = v.to_bits();
        if b >> 31 == 1 { !b } else { b | 1 << 31 }
    };
    let value = |k: u32| f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k });
    let mut keys: Vec<u32> = values.iter().map(|&v| key(v)).collect();
    let mut spare = vec![0u32; keys.len()];
    let mut counts = [[0usize; BUCKETS]; 3];
    for &k in &keys {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[(k >> (BITS * pass as u32)) as usize & (BUCKETS - 1)] += 1;
        }
    }
    for (pass, c) in counts.iter_mut().enumerate() {
        if c.contains(&keys.len()) {
            continue;
        }
        let mut at = 0;
        for n in c.iter_mut() {
            (*n, at) = (at, at + *n);
        }
        let shift = BITS * pass as u32;
        for &k in &keys {
            let d = (k >> shift) as usize & (BUCKETS - 1);
            spare[c[d]] = k;
            c[d] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    for (v, &k) in values.iter_mut().zip(&keys) {
        *v = value(k);
    }
}

/// LightGBM's pseudo-random generator (`utils/random.h`: a 32-bit linear congruential one),
/// for the rows its binning samples.
struct LightGbmRandom(u32);

impl LightGbmRandom {
    fn step(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(214_013).wrapping_add(2_531_011);
        self.0
    }

    fn int16(&mut self) -> u32 {
        (self.step() >> 16) & 0x7FFF
    }

    fn int32(&mut self) -> u32 {
        self.step() & 0x7FFF_FFFF
    }

    /// `Random::Sample(n, k)`: k of the rows 0..n, ascending. When k is a large share of n,
    /// each row is kept with probability (still wanted) / (still left); otherwise Floyd's
    /// algorithm draws them.
    fn sample(&mut self, n: usize, k: usize) -> Vec<u32> {
        if k == 0 || k > n {
            return Vec::new();
        }
        if k == n {
            return (0..n as u32).collect();
        }
        if k > 1 && k as f64 > n as f64 / (k as f64).log2() {
            let mut kept = Vec::with_capacity(k);
            for i in 0..n {
                let p = (k - kept.len()) as f64 / (n - i) as f64;
                if f64::from(self.int16() as f32 / 32768.0) < p {
                    kept.push(i as u32);
                }
            }
            return kept;
        }
        let mut kept = std::collections::BTreeSet::new();
        for r in n - k..n {
            let v = self.int32() % (r as u32 + 1);
            if !kept.insert(v) {
                kept.insert(r as u32);
            }
        }
        kept.into_iter().collect()
    }
}

/// The rows LightGBM bins from when a dataset has more than `BIN_SAMPLE_ROWS` of them: its
/// sample for the data seed that its `seed` parameter derives (the first of the seeds
/// `Config::Set` draws from it), so that `whet fit --seed S` and LightGBM with `seed=S` cut
/// the same bins. None (every row) for smaller data.
pub fn bin_sample_rows(n_rows: usize, seed: u64) -> Option<Vec<u32>> {
    if n_rows <= BIN_SAMPLE_ROWS {
        return None;
    }
    // LightGBM reads `seed` as a C int; the generator takes its bits.
    let data_seed = LightGbmRandom(seed as u32).int16() % 32_767;
    Some(LightGbmRandom(data_seed).sample(n_rows, BIN_SAMPLE_ROWS))
}

/// LightGBM's bound between a value and the next: the midpoint, rounded one step up.
fn bound_between(a: f64, b: f64) -> f64 {
    next_up((a + b) / 2.0)
}

/// The next f64 above `x` (`f64::next_up`, which needs a newer Rust than the crate's minimum).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        x
    } else if x == 0.0 {
        f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        f64::from_bits(x.to_bits() - 1)
    }
}

/// LightGBM's `FindBinWithZeroAsOneBin` over sorted distinct values with their counts
/// (`total` rows): the negative values get `max_bin - 1` bins in proportion to their rows
/// (at least one), zero one bin, the positive values what is left.
fn bounds_with_zero_as_one_bin(
    distinct: &[(f64, usize)],
    max_bin: usize,
    total: usize,
    min_data_in_bin: usize,
) -> Vec<f64> {
    // The values are sorted: negatives, then zeros, then positives.
    let n_negative = distinct.partition_point(|d| d.0 <= -ZERO_THRESHOLD);
    let first_positive = distinct.partition_point(|d| d.0 <= ZERO_THRESHOLD);
    let rows = |part: &[(f64, usize)]| part.iter().map(|d| d.1).sum::<usize>();
    let negative_rows = rows(&distinct[..n_negative]);
    let zero_rows = rows(&distinct[n_negative..first_positive]);
    let positive_rows = total - negative_rows - zero_rows;
    let mut bounds = Vec::new();
    if n_negative > 0 && max_bin > 1 {
        let share = negative_rows as f64 / (total - zero_rows) as f64 * (max_bin - 1) as f64;
        bounds = greedy_bounds(
            &distinct[..n_negative],
            (share as usize).max(1),
            negative_rows,
            min_data_in_bin,
        );
        if let Some(last) = bounds.last_mut() {
            *last = -ZERO_THRESHOLD;
        }
    }
    let positive_bins = (max_bin - 1).saturating_sub(bounds.len());
    if first_positive < distinct.len() && positive_bins > 0 {
        bounds.push(ZERO_THRESHOLD);
        bounds.extend(greedy_bounds(
            &distinct[first_positive..],
            positive_bins,
            positive_rows,
            min_data_in_bin,
        ));
    } else {
        bounds.push(f64::INFINITY);
    }
    bounds
}

/// LightGBM's `GreedyFindBin`: with at most `max_bin` distinct values, a bound after each run
/// of values holding `min_data_in_bin` rows; otherwise equal-frequency bins (at most one per
/// `min_data_in_bin` rows) where a value with a bin's share of rows or more gets a bin of its
/// own and no value straddles two bins. The last bound is +inf.
fn greedy_bounds(
    distinct: &[(f64, usize)],
    max_bin: usize,
    total: usize,
    min_data_in_bin: usize,
) -> Vec<f64> {
    let n = distinct.len();
    let mut bounds: Vec<f64> = Vec::new();
    // LightGBM drops a bound equal (to one ulp) to the previous one.
    let push = |bounds: &mut Vec<f64>, b: f64| {
        if bounds.last().is_none_or(|&last| b > next_up(last)) {
            bounds.push(b);
            true
        } else {
            false
        }
    };
    if n <= max_bin {
        let mut in_bin = 0;
        for i in 0..n.saturating_sub(1) {
            in_bin += distinct[i].1;
            if in_bin >= min_data_in_bin
                && push(&mut bounds, bound_between(distinct[i].0, distinct[i + 1].0))
            {
                in_bin = 0;
            }
        }
    } else {
        let max_bin = max_bin.min(total / min_data_in_bin.max(1)).max(1);
        let mut mean_bin_size = total as f64 / max_bin as f64;
        let mut rest_bins = max_bin as i64;
        let mut rest_rows = total as i64;
        let big: Vec<bool> = distinct
            .iter()
            .map(|d| d.1 as f64 >= mean_bin_size)
            .collect();
        for (d, _) in distinct.iter().zip(&big).filter(|&(_, &b)| b) {
            rest_bins -= 1;
            rest_rows -= d.1 as i64;
        }
        mean_bin_size = rest_rows as f64 / rest_bins as f64;
        // Each bin's lowest and highest value.
        let mut lows = vec![distinct[0].0];
        let mut highs = Vec::new();
        let mut in_bin = 0;
        for i in 0..n - 1 {
            if !big[i] {
                rest_rows -= distinct[i].1 as i64;
            }
            in_bin += distinct[i].1;
            if big[i]
                || in_bin as f64 >= mean_bin_size
                || (big[i + 1] && in_bin as f64 >= (mean_bin_size * 0.5).max(1.0))
            {
                highs.push(distinct[i].0);
                lows.push(distinct[i + 1].0);
                if highs.len() >= max_bin - 1 {
                    break;
                }
                in_bin = 0;
                if !big[i] {
                    rest_bins -= 1;
                    mean_bin_size = rest_rows as f64 / rest_bins as f64;
                }
            }
        }
        for (high, next_low) in highs.iter().zip(&lows[1..]) {
            push(&mut bounds, bound_between(*high, *next_low));
        }
    }
    bounds.push(f64::INFINITY);
    bounds
}

/// Which copies of the bins a [`BinnedData`] keeps. Histograms read the row-major bytes (a
/// row's bins for every feature in one cache line); a leaf's partition reads its split
/// feature's bins, from a column when there is one (one cache line per 64 rows) and otherwise
/// from the rows (one line per row). `RowsOnly` halves the bins' memory for a slower partition
/// on large data (GBDT parameter `low_memory`); both give the same model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinLayout {
    RowsAndColumns,
    RowsOnly,
}

/// Rows binned at a time when the row-major bins are made.
const BIN_STRETCH_ROWS: usize = 4096;

/// The bins of feature `c` for rows `start..start + out.len()` into `out`. A feature's last
/// byte is its missing bin: mappers read from a model file could put a byte past their bins,
/// and such bytes become the missing bin, so that a byte stays an index into its feature's
/// bins. A wide feature's bytes are 0 (its bins are the u16 column).
fn bin_stretch(c: &Feature, m: &BinMapper, start: usize, out: &mut [u8]) {
    let last = (m.n_bins().min(256) - 1) as u8;
    let range = start..start + out.len();
    match (&c.data, &m.kind) {
        _ if m.is_wide() => out.fill(0),
        (FeatureData::Numeric(v), BinKind::Numeric { upper_bounds }) => {
            for (o, &v) in out.iter_mut().zip(&v[range]) {
                *o = m.bin_numeric(v, upper_bounds).min(last);
            }
        }
        (FeatureData::Categorical { codes, .. }, BinKind::Categorical) => {
            for (o, &c) in out.iter_mut().zip(&codes[range]) {
                *o = m.bin_code(c).min(last);
            }
        }
        // Mismatched kinds cannot come from one Prep; treat as missing.
        _ => out.fill(m.missing_bin()),
    }
}

#[derive(Clone, Debug)]
///
/// Every byte of feature `f` is below `mappers[f].n_bins()` (checked when the bins are made),
/// so a histogram's hot loop may index a feature's entries by its byte unchecked. The fields
/// are the crate's alone, so nothing outside can break that.
pub struct BinnedData {
    pub(crate) n_rows: usize,
    pub(crate) n_features: usize,
    pub(crate) mappers: Vec<BinMapper>,
    /// Row-major: bins of row r are `rows[r * n_features..(r + 1) * n_features]`.
    pub(crate) rows: Vec<u8>,
    /// Column-major: `columns[f][r]` (0 for a wide feature); empty with `BinLayout::RowsOnly`.
    pub(crate) columns: Vec<Vec<u8>>,
    /// A wide feature's bins (see the module notes): `wide[f][r]`; None for the others.
    pub(crate) wide: Vec<Option<Vec<u16>>>,
    /// Each feature's missing-value bin as its byte holds it (a wide feature's byte is 0,
    /// never its missing bin, and is not read).
    pub(crate) missing_bins: Vec<u8>,
    /// Whether a numeric feature has missing values in these rows (LightGBM's missing type
    /// NaN): its thresholds are then also scanned with missing values right in leaves that
    /// hold none, as LightGBM scans them (see `Ctx::scan_thresholds`).
    pub(crate) has_missing: Vec<bool>,
    /// Offsets of each feature's bins in a flat histogram.
    pub(crate) hist_offsets: Vec<usize>,
    pub(crate) hist_len: usize,
}

impl BinnedData {
    /// Fits bin mappers on `x` and bins it (bins drawn from the rows LightGBM samples for
    /// seed 0: see [`bin_sample_rows`]).
    pub fn fit(x: &Features, max_bin: usize) -> Result<BinnedData> {
        Self::fit_with(x, max_bin, MIN_DATA_IN_BIN, 0)
    }

    /// [`Self::fit`] with LightGBM's `min_data_in_bin` for numeric features (at least 1) and
    /// the seed whose sample of rows numeric bins are cut from (on more than
    /// `BIN_SAMPLE_ROWS` rows).
    pub fn fit_with(
        x: &Features,
        max_bin: usize,
        min_data_in_bin: usize,
        seed: u64,
    ) -> Result<BinnedData> {
        Self::fit_layout(x, max_bin, min_data_in_bin, seed, BinLayout::RowsAndColumns)
    }

    /// [`Self::fit_with`] keeping the bins in `layout`.
    pub fn fit_layout(
        x: &Features,
        max_bin: usize,
        min_data_in_bin: usize,
        seed: u64,
        layout: BinLayout,
    ) -> Result<BinnedData> {
        if min_data_in_bin == 0 {
            return Err(LearnError::param(
                "min_data_in_bin",
                min_data_in_bin,
                "must be at least 1",
                "1 lets every distinct value have a bin (up to max_bin); LightGBM's default is 3",
            ));
        }
        if !(2..=MAX_BIN_LIMIT).contains(&max_bin) {
            return Err(LearnError::param(
                "max_bin",
                max_bin,
                "must be between 2 and 255",
                "bins are stored in one byte; use 255 for the finest resolution",
            ));
        }
        let sample = bin_sample_rows(x.n_rows, seed);
        let mappers: Vec<BinMapper> = x
            .columns
            .par_iter()
            .map(|c| match &c.data {
                FeatureData::Numeric(v) => {
                    BinMapper::fit_numeric(v, sample.as_deref(), max_bin, min_data_in_bin)
                }
                FeatureData::Categorical { n_categories, .. } => {
                    BinMapper::fit_categorical(*n_categories, max_bin)
                }
            })
            .collect();
        Ok(Self::with_mappers_layout(x, mappers, layout))
    }

    /// Bins `x` with mappers fitted elsewhere (validation data, new data).
    pub fn with_mappers(x: &Features, mappers: Vec<BinMapper>) -> BinnedData {
        Self::with_mappers_layout(x, mappers, BinLayout::RowsAndColumns)
    }

    /// [`Self::with_mappers`] keeping the bins in `layout`. Without columns the row-major
    /// bins are made stretch by stretch of rows, so no column-major copy ever exists.
    pub fn with_mappers_layout(
        x: &Features,
        mappers: Vec<BinMapper>,
        layout: BinLayout,
    ) -> BinnedData {
        let wide: Vec<Option<Vec<u16>>> = x
            .columns
            .par_iter()
            .zip(&mappers)
            .map(|(c, m)| match &c.data {
                FeatureData::Categorical { codes, .. } if m.is_wide() => {
                    Some(codes.iter().map(|&c| m.bin_code_wide(c)).collect())
                }
                _ => None,
            })
            .collect();
        let n_features = x.columns.len();
        let n_rows = x.n_rows;
        let mut rows = vec![0u8; n_rows * n_features];
        let columns: Vec<Vec<u8>> = match layout {
            BinLayout::RowsAndColumns => {
                let columns: Vec<Vec<u8>> = x
                    .columns
                    .par_iter()
                    .zip(&mappers)
                    .map(|(c, m)| {
                        let mut column = vec![0u8; n_rows];
                        bin_stretch(c, m, 0, &mut column);
                        column
                    })
                    .collect();
                if n_features > 0 {
                    rows.par_chunks_mut(n_features * BIN_STRETCH_ROWS)
                        .enumerate()
                        .for_each(|(chunk, out)| {
                            let start = chunk * BIN_STRETCH_ROWS;
                            for (i, row) in out.chunks_mut(n_features).enumerate() {
                                for (f, col) in columns.iter().enumerate() {
                                    row[f] = col[start + i];
                                }
                            }
                        });
                }
                columns
            }
            BinLayout::RowsOnly => {
                if n_features > 0 {
                    rows.par_chunks_mut(n_features * BIN_STRETCH_ROWS)
                        .enumerate()
                        .for_each(|(chunk, out)| {
                            let start = chunk * BIN_STRETCH_ROWS;
                            let mut stretch = [0u8; BIN_STRETCH_ROWS];
                            let stretch = &mut stretch[..out.len() / n_features];
                            for (f, (c, m)) in x.columns.iter().zip(&mappers).enumerate() {
                                bin_stretch(c, m, start, stretch);
                                for (row, &b) in out.chunks_mut(n_features).zip(stretch.iter()) {
                                    row[f] = b;
                                }
                            }
                        });
                }
                Vec::new()
            }
        };
        let mut hist_offsets = Vec::with_capacity(n_features);
        let mut hist_len = 0;
        for m in &mappers {
            hist_offsets.push(hist_len);
            hist_len += m.n_bins();
        }
        let missing_bins = mappers
            .iter()
            .map(|m| {
                if m.is_wide() {
                    u8::MAX
                } else {
                    m.missing_bin()
                }
            })
            .collect();
        let has_missing = x
            .columns
            .par_iter()
            .map(|c| match &c.data {
                // A fold without an early exit vectorises; the chunks still stop at the
                // first one with a missing value.
                FeatureData::Numeric(v) => v
                    .chunks(4096)
                    .any(|c| c.iter().fold(false, |any, v| any | v.is_nan())),
                FeatureData::Categorical { .. } => false,
            })
            .collect();
        BinnedData {
            n_rows,
            n_features,
            missing_bins,
            has_missing,
            mappers,
            rows,
            columns,
            wide,
            hist_offsets,
            hist_len,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Each feature's bins.
    pub fn mappers(&self) -> &[BinMapper] {
        &self.mappers
    }

    /// Row `r`'s bin of feature `f`, of any width.
    #[inline]
    pub fn bin(&self, r: usize, f: usize) -> usize {
        match &self.wide[f] {
            Some(w) => usize::from(w[r]),
            None if self.columns.is_empty() => usize::from(self.rows[r * self.n_features + f]),
            None => usize::from(self.columns[f][r]),
        }
    }

    /// Per feature, the category bins LightGBM would give a bin of their own when binning
    /// `rows` (its categorical `BinMapper::FindBin`): categories by falling row count, stopping
    /// at the first one with fewer than `min_data_in_bin` rows (the two most frequent are
    /// always kept) and, once the kept ones cover 99% of the non-missing rows, at `max_bin`
    /// bins counting one for missing values, which without missing values drops the rarest
    /// category. The others share the missing values' bin, which a split never puts on the
    /// left; so they go right, as missing and unseen values do. Numeric features get no bins.
    /// Above `BIN_SAMPLE_ROWS` rows the counts are LightGBM's too: over the rows it samples
    /// for `seed` (see [`bin_sample_rows`]).
    pub fn categorical_bins_kept(
        &self,
        rows: Rows,
        max_bin: usize,
        min_data_in_bin: usize,
        seed: u64,
    ) -> Vec<Vec<u64>> {
        let sampled: Option<Vec<u32>> = bin_sample_rows(rows.len(), seed)
            .map(|sample| sample.iter().map(|&i| rows.at(i as usize)).collect());
        let rows = sampled.as_deref().map_or(rows, Rows::Listed);
        self.mappers
            .par_iter()
            .enumerate()
            .map(|(f, m)| {
                if !m.is_categorical() {
                    return Vec::new();
                }
                let mut kept = vec![0u64; m.n_bins().div_ceil(64)];
                let mut counts = vec![0usize; m.n_bins()];
                rows.for_each(|r| counts[self.bin(r as usize, f)] += 1);
                let missing = counts[m.missing_index()];
                let nv = m.n_value_bins as usize;
                let mut order: Vec<usize> = (0..nv).filter(|&b| counts[b] > 0).collect();
                order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
                // LightGBM rounds 99% of the count in single precision.
                let cut = ((rows.len() - missing) as f32 * 0.99f32 + 0.5).floor() as usize;
                let max_bins = (order.len() + usize::from(missing > 0)).min(max_bin);
                let (mut used, mut n_bins) = (0usize, 1usize);
                for (i, &b) in order.iter().enumerate() {
                    if used >= cut && n_bins >= max_bins {
                        break;
                    }
                    if counts[b] < min_data_in_bin && i > 1 {
                        break;
                    }
                    kept[b >> 6] |= 1 << (b & 63);
                    used += counts[b];
                    n_bins += 1;
                }
                kept
            })
            .collect()
    }

    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        &self.rows[r * self.n_features..(r + 1) * self.n_features]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::prep::Feature;

    /// The radix sort gives `total_cmp`'s order bit for bit: signed zeros, infinities,
    /// subnormals, repeats, values sharing their high bits (a skipped pass), below and above
    /// the size where it takes over from the comparison sort.
    #[test]
    fn radix_sort_is_total_cmp_order() {
        let mut rng = whet_data::rng::Rng::new(9);
        let special = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-42,
            -1e-42,
            f32::MAX,
        ];
        for (n, spread) in [
            (100, 1e6),
            (5000, 1e6),
            (50_000, 1e-3),
            (50_000, 1e30),
            (9000, 0.0),
        ] {
            let values: Vec<f32> = (0..n)
                .map(|_| match rng.below(20) {
                    0 => special[rng.below(special.len() as u64) as usize],
                    1 => 3.5,
                    _ => ((rng.next_f64() - 0.3) * spread) as f32,
                })
                .collect();
            let mut radix = values.clone();
            sort_total_order(&mut radix);
            let mut reference = values;
            reference.sort_unstable_by(f32::total_cmp);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&radix), bits(&reference), "{n} values spread {spread}");
        }
        // Positive values of one exponent: the top pass is skipped.
        let mut narrow: Vec<f32> = (0..6000).map(|i| 1.0 + (i % 977) as f32 / 1024.0).collect();
        let mut reference = narrow.clone();
        reference.sort_unstable_by(f32::total_cmp);
        sort_total_order(&mut narrow);
        assert_eq!(narrow, reference);
    }

    /// The row-major bins made stretch by stretch without columns are the bins made from the
    /// columns: numeric with missing values, categorical, and wide features, on a row count
    /// that leaves a short last stretch; `bin` reads either layout.
    #[test]
    fn rows_only_bins_are_the_transposed_columns() {
        let n = 2 * BIN_STRETCH_ROWS + 77;
        let mut rng = whet_data::rng::Rng::new(4);
        let numeric: Vec<f32> = (0..n)
            .map(|_| match rng.below(10) {
                0 => f32::NAN,
                _ => rng.next_f64() as f32,
            })
            .collect();
        let codes = |levels: u64, rng: &mut whet_data::rng::Rng| -> Vec<u32> {
            (0..n).map(|_| rng.below(levels) as u32).collect()
        };
        let (small, wide) = (codes(12, &mut rng), codes(700, &mut rng));
        let x = Features {
            n_rows: n,
            columns: vec![
                Feature {
                    name: "v".into(),
                    data: FeatureData::Numeric(numeric),
                },
                Feature {
                    name: "c".into(),
                    data: FeatureData::Categorical {
                        codes: small,
                        n_categories: 12,
                    },
                },
                Feature {
                    name: "w".into(),
                    data: FeatureData::Categorical {
                        codes: wide,
                        n_categories: 700,
                    },
                },
            ],
        };
        let both = BinnedData::fit_layout(&x, 255, 3, 0, BinLayout::RowsAndColumns).unwrap();
        let rows_only = BinnedData::fit_layout(&x, 255, 3, 0, BinLayout::RowsOnly).unwrap();
        assert!(both.mappers[2].is_wide() && !both.mappers[1].is_wide());
        assert!(rows_only.columns.is_empty());
        assert_eq!(rows_only.rows, both.rows);
        assert_eq!(rows_only.wide, both.wide);
        for r in [0, 1, BIN_STRETCH_ROWS - 1, BIN_STRETCH_ROWS, n - 1] {
            for f in 0..3 {
                assert_eq!(rows_only.bin(r, f), both.bin(r, f), "row {r}, feature {f}");
                if f < 2 {
                    assert_eq!(usize::from(both.columns[f][r]), both.bin(r, f));
                }
            }
        }
    }

    /// Mappers that claim fewer bins than their bounds give (as a crafted model file could)
    /// still make bytes below each feature's bin count, the invariant the histogram loop's
    /// unchecked additions rest on: the bytes past it become the missing bin.
    #[test]
    fn bytes_stay_below_the_bin_count_of_inconsistent_mappers() {
        let x = Features {
            n_rows: 1_000,
            columns: vec![Feature {
                name: "v".into(),
                data: FeatureData::Numeric((0..1_000).map(|i| i as f32).collect()),
            }],
        };
        let consistent = BinnedData::fit(&x, 255).unwrap();
        let mut mappers = consistent.mappers.clone();
        assert!(mappers[0].n_bins() > 100);
        mappers[0].n_value_bins = 3;
        let binned = BinnedData::with_mappers(&x, mappers);
        assert!(binned.columns[0].iter().all(|&b| b <= 3));
        assert!(binned.rows.iter().all(|&b| b <= 3));
        // Bytes 0..3 are as the bounds put them; every byte that would have been above is 3.
        for (&was, &now) in consistent.columns[0].iter().zip(&binned.columns[0]) {
            assert_eq!(now, was.min(3));
        }
    }

    /// LightGBM 4.7.0's own sample (`LGBM_SampleIndices` through its Python package): the
    /// first and last rows and the sum of the rows, for both of `Random::Sample`'s methods and
    /// for a seed given as `seed` and as `data_random_seed`.
    #[test]
    fn bin_sample_is_lightgbms() {
        let check = |rows: Vec<u32>, first: &[u32], last: &[u32], sum: u64| {
            assert_eq!(&rows[..first.len()], first);
            assert_eq!(&rows[rows.len() - last.len()..], last);
            assert_eq!(rows.iter().map(|&r| u64::from(r)).sum::<u64>(), sum);
            assert!(rows.windows(2).all(|w| w[0] < w[1]));
        };
        // data_random_seed=1, bin_construct_sample_cnt=10 of 1,000 rows (Floyd's draws).
        let ten = LightGbmRandom(1).sample(1000, 10);
        assert_eq!(ten, [35, 104, 245, 262, 497, 735, 924, 931, 945, 949]);
        // data_random_seed=1, 200,000 of 400,000 (a coin per row).
        check(
            LightGbmRandom(1).sample(400_000, BIN_SAMPLE_ROWS),
            &[0, 2, 5, 6, 10, 14, 15, 16],
            &[399_990, 399_991, 399_992, 399_999],
            40_048_800_332,
        );
        let of = |n, seed| bin_sample_rows(n, seed).unwrap();
        check(
            of(400_000, 0),
            &[0, 2, 4, 8, 10, 13, 14, 16],
            &[399_994, 399_996, 399_997, 399_998],
            39_989_989_873,
        );
        check(
            of(250_000, 7),
            &[0, 1, 4, 5, 6, 7, 8, 9],
            &[249_996, 249_997, 249_998, 249_999],
            25_003_272_858,
        );
        check(
            of(10_000_000, 0),
            &[22, 96, 103, 115, 166, 210, 226, 230],
            &[9_999_735, 9_999_739, 9_999_762, 9_999_939],
            1_005_982_020_496,
        );
        assert_eq!(of(400_000, 0).len(), BIN_SAMPLE_ROWS);
        assert!(bin_sample_rows(BIN_SAMPLE_ROWS, 0).is_none());
    }

    fn numeric(values: Vec<f32>) -> Features {
        Features {
            n_rows: values.len(),
            columns: vec![Feature {
                name: "x".into(),
                data: FeatureData::Numeric(values),
            }],
        }
    }

    fn bounds(b: &BinnedData) -> &[f64] {
        match &b.mappers[0].kind {
            BinKind::Numeric { upper_bounds } => upper_bounds,
            BinKind::Categorical => panic!("numeric feature binned as categorical"),
        }
    }

    // Known answers worked out by hand from LightGBM's `GreedyFindBin` and
    // `FindBinWithZeroAsOneBin`; bench/binning_vs_lightgbm.py checks the same code against
    // LightGBM itself on the shared datasets.
    #[test]
    fn rare_values_share_a_bin_and_zero_has_its_own() {
        // 1 and 2 have two rows each: a bound only once three rows are behind it. No zeros,
        // but the zero bin is there (empty), as in LightGBM.
        let x = numeric(vec![3.0, 1.0, 2.0, 2.0, f32::NAN, 1.0]);
        let b = BinnedData::fit(&x, 255).unwrap();
        assert_eq!(bounds(&b), &[ZERO_THRESHOLD, next_up(2.5), f64::INFINITY]);
        assert_eq!(b.columns[0], vec![2, 1, 1, 1, 3, 1]);
        assert_eq!(b.row(4), &[3]);
        // With min_data_in_bin 1 every distinct value has a bin.
        let b = BinnedData::fit_with(&x, 255, 1, 0).unwrap();
        assert_eq!(
            bounds(&b),
            &[ZERO_THRESHOLD, next_up(1.5), next_up(2.5), f64::INFINITY]
        );
        assert_eq!(b.columns[0], vec![3, 1, 2, 2, 4, 1]);
        assert!(BinnedData::fit_with(&x, 255, 0, 0).is_err());
    }

    #[test]
    fn negative_zero_and_positive_values_get_separate_bins() {
        let mut v = Vec::new();
        for (value, rows) in [
            (-2.0, 3),
            (-1.0, 3),
            (0.0, 2),
            (-0.0, 2),
            (1.0, 3),
            (2.0, 3),
        ] {
            v.extend(std::iter::repeat_n(value, rows));
        }
        let b = BinnedData::fit(&numeric(v), 255).unwrap();
        assert_eq!(
            bounds(&b),
            &[
                next_up(-1.5),
                -ZERO_THRESHOLD,
                ZERO_THRESHOLD,
                next_up(1.5),
                f64::INFINITY
            ]
        );
        assert_eq!(
            b.columns[0],
            [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4]
        );
    }

    #[test]
    fn more_values_than_bins_fill_bins_of_equal_rows_with_three_rows_each_at_least() {
        // 20 values once each and 15 bins for positive values: at most 20 / 3 = 6 bins of
        // about equal rows, the mean recomputed over what is left after each bin.
        let x = numeric((1..=20).map(|v| v as f32).collect());
        let b = BinnedData::fit(&x, 16).unwrap();
        let expected: Vec<f64> = [4.5, 8.5, 11.5, 14.5, 17.5]
            .iter()
            .map(|&b| next_up(b))
            .collect();
        assert_eq!(bounds(&b)[0], ZERO_THRESHOLD);
        assert_eq!(&bounds(&b)[1..6], &expected[..]);
        assert_eq!(bounds(&b)[6], f64::INFINITY);
        // Missing values take one of the max_bin bins: 2 bins then mean zero and the rest.
        let mut v: Vec<f32> = (1..=20).map(|v| v as f32).collect();
        v.push(f32::NAN);
        let b = BinnedData::fit(&numeric(v), 3).unwrap();
        assert_eq!(bounds(&b), &[ZERO_THRESHOLD, f64::INFINITY]);
        assert_eq!(b.mappers[0].n_bins(), 3);
    }

    #[test]
    fn many_values_respect_max_bin_and_order() {
        let values: Vec<f32> = (0..10_000).map(|i| ((i * 7919) % 10_000) as f32).collect();
        let x = numeric(values.clone());
        let b = BinnedData::fit(&x, 16).unwrap();
        let m = &b.mappers[0];
        assert!(
            m.n_value_bins <= 16 && m.n_value_bins >= 14,
            "{}",
            m.n_value_bins
        );
        // Bins are monotone in the value and roughly equally filled.
        let mut counts = vec![0usize; m.n_bins()];
        for (v, &bin) in values.iter().zip(&b.columns[0]) {
            counts[bin as usize] += 1;
            if let BinKind::Numeric { upper_bounds } = &m.kind {
                assert!(f64::from(*v) <= upper_bounds[bin as usize]);
                if bin > 0 {
                    assert!(f64::from(*v) > upper_bounds[bin as usize - 1]);
                }
            }
        }
        let max = counts[..m.n_value_bins as usize].iter().max().unwrap();
        assert!(*max <= 10_000 / 16 * 2, "{counts:?}");
    }

    #[test]
    fn categorical_codes_and_missing() {
        let x = Features {
            n_rows: 4,
            columns: vec![Feature {
                name: "c".into(),
                data: FeatureData::Categorical {
                    codes: vec![0, 2, MISSING_CODE, 1],
                    n_categories: 3,
                },
            }],
        };
        let b = BinnedData::fit(&x, 255).unwrap();
        assert_eq!(b.columns[0], vec![0, 2, 3, 1]);
        assert!(BinnedData::fit(&x, 1).is_err());
        assert!(BinnedData::fit(&x, 256).is_err());
    }
}
