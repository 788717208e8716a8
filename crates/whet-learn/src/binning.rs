//! Histogram bins: each feature's values mapped to at most 256 small integers, once per dataset.
//!
//! The binned matrix is built once and shared read-only by every model fit on the dataset
//! (AutoML trials and cross-validation folds select rows by index; nothing is copied). Bins are
//! stored twice: row-major for histogram building (one row's bins are contiguous, so one pass
//! over a leaf's rows fills every feature's histogram) and column-major for partitioning rows
//! at a split (one feature, many rows).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::prep::{FeatureData, Features, MISSING_CODE};

use crate::error::{LearnError, Result};

/// Rows sampled to choose bin boundaries (as LightGBM's bin_construct_sample_cnt).
pub const BIN_SAMPLE_ROWS: usize = 200_000;
pub const MAX_BIN_LIMIT: usize = 255;
/// Categories with fewer training rows lose their own bin (LightGBM's `min_data_in_bin`
/// default), after the two most frequent.
pub const CAT_MIN_DATA_IN_BIN: usize = 3;

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

    pub fn missing_bin(&self) -> u8 {
        self.n_value_bins as u8
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, BinKind::Categorical)
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
        if code == MISSING_CODE {
            self.missing_bin()
        } else {
            code.min(self.n_value_bins - 1) as u8
        }
    }

    fn fit_numeric(values: &[f32], max_bin: usize) -> BinMapper {
        let mut sample: Vec<f32> = if values.len() > BIN_SAMPLE_ROWS {
            // A fixed stride keeps bin boundaries deterministic without an RNG.
            let step = values.len() as f64 / BIN_SAMPLE_ROWS as f64;
            (0..BIN_SAMPLE_ROWS)
                .map(|i| values[(i as f64 * step) as usize])
                .filter(|v| !v.is_nan())
                .collect()
        } else {
            values.iter().copied().filter(|v| !v.is_nan()).collect()
        };
        sample.sort_unstable_by(f32::total_cmp);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for v in sample {
            let v = f64::from(v);
            match distinct.last_mut() {
                Some((last, count)) if *last == v => *count += 1,
                _ => distinct.push((v, 1)),
            }
        }
        let mut upper_bounds = Vec::new();
        if distinct.len() <= max_bin {
            for w in distinct.windows(2) {
                upper_bounds.push(midpoint(w[0].0, w[1].0));
            }
        } else {
            // Greedy equal-frequency cuts over distinct values: a value never straddles two bins,
            // and a very frequent value gets a bin of its own.
            let total: usize = distinct.iter().map(|d| d.1).sum();
            let mut remaining_total = total;
            let mut bins_left = max_bin;
            let mut acc = 0usize;
            for i in 0..distinct.len() - 1 {
                acc += distinct[i].1;
                let target = remaining_total as f64 / bins_left as f64;
                let next = distinct[i + 1].1;
                if bins_left > 1 && (acc as f64 >= target || (acc + next) as f64 > target * 1.5) {
                    upper_bounds.push(midpoint(distinct[i].0, distinct[i + 1].0));
                    remaining_total -= acc;
                    acc = 0;
                    bins_left -= 1;
                }
            }
        }
        upper_bounds.push(f64::INFINITY);
        BinMapper {
            n_value_bins: upper_bounds.len() as u32,
            kind: BinKind::Numeric { upper_bounds },
        }
    }

    fn fit_categorical(n_categories: u32, max_bin: usize) -> BinMapper {
        BinMapper {
            kind: BinKind::Categorical,
            n_value_bins: n_categories.clamp(1, max_bin as u32),
        }
    }
}

fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    // Guard against the midpoint rounding up to b for adjacent floats.
    if m >= b { a } else { m }
}

#[derive(Clone, Debug)]
pub struct BinnedData {
    pub n_rows: usize,
    pub n_features: usize,
    pub mappers: Vec<BinMapper>,
    /// Row-major: bins of row r are `rows[r * n_features..(r + 1) * n_features]`.
    pub rows: Vec<u8>,
    /// Column-major: `columns[f][r]`.
    pub columns: Vec<Vec<u8>>,
    /// Offsets of each feature's bins in a flat histogram.
    pub hist_offsets: Vec<usize>,
    pub hist_len: usize,
}

impl BinnedData {
    /// Fits bin mappers on `x` and bins it.
    pub fn fit(x: &Features, max_bin: usize) -> Result<BinnedData> {
        if !(2..=MAX_BIN_LIMIT).contains(&max_bin) {
            return Err(LearnError::param(
                "max_bin",
                max_bin,
                "must be between 2 and 255",
                "bins are stored in one byte; use 255 for the finest resolution",
            ));
        }
        let mappers: Vec<BinMapper> = x
            .columns
            .par_iter()
            .map(|c| match &c.data {
                FeatureData::Numeric(v) => BinMapper::fit_numeric(v, max_bin),
                FeatureData::Categorical { n_categories, .. } => {
                    BinMapper::fit_categorical(*n_categories, max_bin)
                }
            })
            .collect();
        Ok(Self::with_mappers(x, mappers))
    }

    /// Bins `x` with mappers fitted elsewhere (validation data, new data).
    pub fn with_mappers(x: &Features, mappers: Vec<BinMapper>) -> BinnedData {
        let columns: Vec<Vec<u8>> = x
            .columns
            .par_iter()
            .zip(&mappers)
            .map(|(c, m)| match (&c.data, &m.kind) {
                (FeatureData::Numeric(v), BinKind::Numeric { upper_bounds }) => {
                    v.iter().map(|&v| m.bin_numeric(v, upper_bounds)).collect()
                }
                (FeatureData::Categorical { codes, .. }, BinKind::Categorical) => {
                    codes.iter().map(|&c| m.bin_code(c)).collect()
                }
                // Mismatched kinds cannot come from one Prep; treat as missing.
                _ => vec![m.missing_bin(); x.n_rows],
            })
            .collect();
        let n_features = columns.len();
        let n_rows = x.n_rows;
        let mut rows = vec![0u8; n_rows * n_features];
        if n_features > 0 {
            rows.par_chunks_mut(n_features * 4096)
                .enumerate()
                .for_each(|(chunk, out)| {
                    let start = chunk * 4096;
                    for (i, row) in out.chunks_mut(n_features).enumerate() {
                        for (f, col) in columns.iter().enumerate() {
                            row[f] = col[start + i];
                        }
                    }
                });
        }
        let mut hist_offsets = Vec::with_capacity(n_features);
        let mut hist_len = 0;
        for m in &mappers {
            hist_offsets.push(hist_len);
            hist_len += m.n_bins();
        }
        BinnedData {
            n_rows,
            n_features,
            mappers,
            rows,
            columns,
            hist_offsets,
            hist_len,
        }
    }

    /// Per feature, the category bins LightGBM would give a bin of their own when binning
    /// `rows` (its categorical `BinMapper::FindBin`): categories by falling row count, stopping
    /// at the first one with fewer than `CAT_MIN_DATA_IN_BIN` rows (the two most frequent are
    /// always kept) and, once the kept ones cover 99% of the non-missing rows, at `max_bin`
    /// bins counting one for missing values, which without missing values drops the rarest
    /// category. The others share the missing values' bin, which a split never puts on the
    /// left; so they go right, as missing and unseen values do. Numeric features get no bins.
    pub fn categorical_bins_kept(&self, rows: &[u32], max_bin: usize) -> Vec<[u64; 4]> {
        self.mappers
            .par_iter()
            .zip(&self.columns)
            .map(|(m, col)| {
                let mut kept = [0u64; 4];
                if !m.is_categorical() {
                    return kept;
                }
                let mut counts = vec![0usize; m.n_bins()];
                for &r in rows {
                    counts[col[r as usize] as usize] += 1;
                }
                let missing = counts[m.missing_bin() as usize];
                let nv = (m.n_value_bins as usize).min(256);
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
                    if counts[b] < CAT_MIN_DATA_IN_BIN && i > 1 {
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

    fn numeric(values: Vec<f32>) -> Features {
        Features {
            n_rows: values.len(),
            columns: vec![Feature {
                name: "x".into(),
                data: FeatureData::Numeric(values),
            }],
        }
    }

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let x = numeric(vec![3.0, 1.0, 2.0, 2.0, f32::NAN, 1.0]);
        let b = BinnedData::fit(&x, 255).unwrap();
        assert_eq!(b.mappers[0].n_value_bins, 3);
        assert_eq!(b.columns[0], vec![2, 0, 1, 1, 3, 0]);
        assert_eq!(b.row(4), &[3]);
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
